import Foundation
import HubPostgres
import HubServer
import HubStore
import Hummingbird
import Logging
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing
import WIRSchema

/// Moving a running ministry (docs/postgres.md, "Moving from SQLite"): a SQLite hub with data,
/// versions, conflicts, replicas, an erasure and a console account, copied to PostgreSQL.
@Suite("Invariant 7 — a hub moved from SQLite to PostgreSQL loses nothing", .timeLimit(.minutes(3)))
struct StoreCopyTests {
    @Test func everythingIsCopiedAndTheCentresSyncOnWithNoChangeOnTheirSide() async throws {
        let harness = try await HubHarness()
        let project = try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            try edit(harness.replica(kassel), "UPDATE projects SET title = 'Zentrum' WHERE id = '\(project)'", offset: 1_000)
            try edit(harness.replica(Node.hmsi), "UPDATE projects SET title = 'HMSI' WHERE id = '\(project)'", offset: 2_000)
            for node in [kassel, Node.hmsi, fulda] { try await client.sync(harness.replica(node), token: harness.token(node)) }
            return project
        }
        let store = harness.store
        let volunteer = try #require(try await store.read { db in
            try String.fetchOne(db, sql: "SELECT id FROM volunteers WHERE centre_id = ? ORDER BY id", arguments: [kassel])
        })
        _ = try await store.erase(table: "volunteers", pk: volunteer, reason: "Art. 17", by: "referentin", caller: Caller(centre: Node.hmsi, token: 0))
        _ = try await store.addConsoleAccount("referentin", reset: false)
        let before = try await snapshot(store: store)
        let conflicts = try await store.conflicts()
        let replicas = try await store.replicas(centre: nil)
        let audit = try await store.auditEntries(limit: 100)
        #expect(!conflicts.isEmpty && !audit.isEmpty)

        let (location, password) = try TestHubs.newDatabase()
        let copied = try await PostgresHubStore.copy(from: store, to: location, password: password, schema: WIRSchema.definition())
        #expect(copied.tables.contains { $0.name == "sync_hub_log" && $0.rows > 0 })
        await #expect(throws: HubError.self, "a second copy into the same database is refused") {
            _ = try await PostgresHubStore.copy(from: store, to: location, password: password, schema: WIRSchema.definition())
        }

        let moved = try await PostgresHubStore.open(location: location, password: password, schema: WIRSchema.definition(), clock: harness.clock)
        #expect(moved.hubID == store.hubID, "the same hub: no restore to detect")
        #expect(try await snapshot(store: moved) == before)
        #expect(try await moved.conflicts() == conflicts)
        #expect(try await moved.replicas(centre: nil) == replicas)
        #expect(try await moved.auditEntries(limit: 100) == audit)
        #expect(try await moved.consoleAccounts().map(\.name) == ["referentin"])
        #expect(try await moved.status().logEntries == (try await store.status().logEntries))

        // Kassel goes on with the moved hub, its replica unchanged: a session knows it already and finds nothing to
        // repair, its new edit arrives, and the replica and the hub agree.
        let api = HubAPI(store: moved, configuration: harness.configuration, clock: harness.clock, metrics: HubMetrics())
        try await api.application(logger: Logger(label: "test")).test(.router) { client in
            try edit(harness.replica(kassel), "UPDATE projects SET participants = 42 WHERE id = '\(project)'", offset: 3_000)
            let session = try await client.session(harness.replica(kassel), token: harness.token(kassel))
            #expect(!session.registered && session.cursorValid && session.divergedAfter == nil && session.mustFork == nil && session.rewind == nil, "\(session)")
            let pushed = try await client.sync(harness.replica(kassel), token: harness.token(kassel)).pushed
            #expect(pushed.map(\.applied).reduce(0, +) == 1)
        }
        #expect(try await readRow(store: moved, "projects", project)?["participants"] == .integer(42))
        let scoped = try await snapshot(store: moved, versions: false, centre: kassel)
        #expect(try snapshot(harness.replica(kassel).path, versions: false, centre: kassel) == scoped)
        try moved.close()
    }
}
