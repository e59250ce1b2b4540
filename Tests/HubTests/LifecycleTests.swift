import Foundation
import HubServer
import HubStore
import Hummingbird
import HummingbirdTesting
import Logging
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Hub lifecycle: restart, revocation, health and metrics", .timeLimit(.minutes(5)))
struct LifecycleTests {
    @Test func aHubRestartedOnTheSameFileServesTheSameState() async throws {
        let harness = try await HubHarness()
        try fill(harness.replica(kassel), centre: kassel, scale: 80, seed: 11)
        let before = try await harness.application().test(.live) { client in
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            return try await client.pull(after: 0, limit: 5000, token: harness.token(Node.hmsi)).decode(PullResponse.self)
        }
        let reopened = try HubStore.open(path: harness.hubPath, clock: harness.clock)
        let api = HubAPI(store: reopened, configuration: harness.configuration, clock: harness.clock)
        let after = try await api.application(logger: Logger(label: "restarted")).test(.live) { client in
            try await client.pull(after: 0, limit: 5000, token: harness.token(Node.hmsi)).decode(PullResponse.self)
        }
        #expect(after.changes == before.changes)
        #expect(after.nextCursor == before.nextCursor)
    }

    /// A hub store of wirsync 1 made before the pull index existed gets it when it is
    /// upgraded on open, and a centre's pull reads the same entries through it.
    @Test func openingAnOlderHubAddsThePullIndex() async throws {
        let directory = try TemporaryDirectory()
        let (intact, early) = (directory.path("intact.db"), directory.path("early.db"))
        for path in [intact, early] { try FileManager.default.copyItem(atPath: wirsync1Fixture("hub.sqlite"), toPath: path) }
        _ = try sqlite3(early, "DROP INDEX sync_hub_log_centre;")
        let caller = Caller(centre: kassel, token: 0)
        let before = try await HubStore.open(path: intact).pull(caller: caller, origin: nil, after: 0, limit: 5000).decoded()
        let after = try await HubStore.open(path: early).pull(caller: caller, origin: nil, after: 0, limit: 5000).decoded()
        #expect(try sqlite3(early, "SELECT count(*) FROM sqlite_master WHERE name = 'sync_hub_log_centre';")
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        // The reference rows, and Kassel's row HMSI retitled; Kassel's own title won, so the hub's
        // log holds Kassel's as the row's live entry, and a replica of wirsync 1 is not sent its own back.
        #expect(before.changes.count == 42 && before.conflicts.count == 1)
        #expect(after.changes == before.changes)
        #expect(after.nextCursor == before.nextCursor)
    }

    @Test func aRevokedTokenFailsFromTheNextRequestOnAndANewOneWorks() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            #expect(try await client.pull(after: 0, token: harness.token(fulda)).status == .ok)
            try await harness.store.revokeClient(fulda)
            let refused = try await client.pull(after: 0, token: harness.token(fulda))
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.wwwAuthenticate] != nil)
            let fresh = try await harness.store.addClient(fulda)
            #expect(try await client.pull(after: 0, token: fresh).status == .ok)
            #expect(try await client.pull(after: 0, token: harness.token(fulda)).status == .unauthorized)
        }
    }

    @Test func tokensAreStoredOnlyAsHashesAndUnknownCentresAreRefused() async throws {
        let harness = try await HubHarness()
        let files = try ["", "-wal"].map { try Data(contentsOf: URL(fileURLWithPath: harness.hubPath + $0)) }.reduce(Data(), +)
        let token = harness.token(kassel)
        #expect(files.range(of: Data(token.utf8)) == nil, "the token is nowhere in the hub's files")
        #expect(files.range(of: Data(token.split(separator: ".").last!.utf8)) == nil)
        #expect(files.range(of: Data(HubStoreHash.sha256Hex(token).utf8)) != nil, "its SHA-256 is")
        await #expect(throws: HubError.self) { try await harness.store.addClient("landkreis-atlantis") }
        await #expect(throws: HubError.self) { try await harness.store.addClient(kassel) }
        #expect(try await harness.store.clients().first { $0.node == kassel }?.token == "active")
    }

    @Test func healthAndMetricsReportWhatHappened() async throws {
        let harness = try await HubHarness()
        try fill(harness.replica(kassel), centre: kassel, scale: 30, seed: 12)
        try await harness.application().test(.router) { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(health.text.contains("\"status\":\"ok\""))
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            _ = try await client.pull(after: 0, token: "wrong")
            // Every centre's sync times are HMSI's to read, not the world's nor another centre's.
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            let asCentre = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(harness.token(fulda))"])
            #expect(asCentre.status == .forbidden && !asCentre.text.contains("landkreis-kassel"))
            let metrics = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(harness.token(Node.hmsi))"]).text
            #expect(metrics.contains(#"wirsync_hub_requests_total{route="/v1/push",method="POST",status="200"} 1"#))
            #expect(metrics.contains(#"wirsync_hub_requests_total{route="/v1/pull",method="GET",status="401"} 1"#))
            #expect(metrics.contains(#"wirsync_hub_requests_total{route="/metrics",method="GET",status="403"} 1"#))
            #expect(metrics.contains("wirsync_hub_changes_applied_total 30"))
            #expect(metrics.contains("wirsync_hub_changes_refused_total 0"))
            #expect(metrics.contains(#"wirsync_hub_last_sync_timestamp_seconds{centre="landkreis-kassel"}"#))
        }
    }
}

/// The hash the hub stores for a token, computed independently of the hub's code.
enum HubStoreHash {
    static func sha256Hex(_ text: String) -> String {
        let output = try? runChecked("/usr/bin/env", ["sha256sum"], input: text)
        return String(output?.prefix(64) ?? "")
    }
}
