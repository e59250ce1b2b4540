import Foundation
import HubStore
import GRDB
import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 3 against a hostile world: processes killed with SIGKILL mid-sync, and a line
/// that drops, truncates, resets and stalls connections. A few rounds in `scripts/test`,
/// many in `scripts/chaos`.
@Suite("Chaos: kill -9 and network faults (invariant 3)", .timeLimit(.minutes(30)))
struct ChaosTests {
    private func sampleSQL(_ deployment: Deployment, centre: String, rows: Int, seed: UInt64) throws -> String {
        try runChecked(deployment.wirsync, ["sample", "--centre", centre, "--rows", String(rows), "--seed", String(seed)])
    }

    /// After the attacks: one clean sync; every captured change is at the hub, none twice,
    /// every file sound. Expects all three counts to be zero and returns them for the report.
    private func settle(_ deployment: Deployment, _ nodes: [String]) async throws -> (Int, Int, Int) {
        for _ in 0..<2 {
            for node in nodes {
                let result = try deployment.sync(node)
                #expect(result.succeeded, "\(node): \(result.stderr)")
            }
        }
        var lost = 0
        // A PostgreSQL store's soundness is the server's (its WAL); a SQLite file's is checked.
        var unsound = try deployment.store == .sqlite && !integrityOK(deployment.hubPath) ? 1 : 0
        let hub = try await deployment.openStore()
        for node in nodes {
            let scope = node == Node.hmsi ? nil : node
            let held = try await snapshot(store: hub, versions: false, centre: scope)
            if try snapshot(deployment.path(node), versions: false, centre: scope) != held { lost += 1 }
            if try !integrityOK(deployment.path(node)) { unsound += 1 }
            #expect(try runChecked(deployment.wirsync, ["status", "--db", deployment.path(node), "--json"]).contains("\"pending\":0"))
        }
        let duplicated = try await duplicateApplications(store: hub)
        try hub.close()
        #expect(lost == 0)
        #expect(duplicated == 0)
        #expect(unsound == 0)
        return (lost, duplicated, unsound)
    }

    /// A daemon that syncs every second in small batches and retries fast, so that kills
    /// land in the middle of syncs and recovery is quick.
    private func quickDaemon(_ deployment: Deployment, _ db: String, _ extra: [String] = []) throws -> BackgroundProcess {
        try BackgroundProcess(
            deployment.wirsync,
            ["daemon", "--db", db, "--interval", "1", "--retry-min", "0.1", "--retry-max", "0.5", "--batch-size", "20"] + extra)
    }

    @Test func killingTheDaemonMidSyncLosesAndDuplicatesNothing() async throws {
        let rounds = isLongChaosRun ? 100 : 3
        let deployment = try Deployment(holdHistory: true)
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        proxy.hurtAtRandom(rate: 1, faults: [.delay(milliseconds: 3)], seed: 1)  // a slow line, so kills land mid-sync
        var random = SplitMix64(seed: 2026)
        for round in 0..<rounds {
            try sqlite3(db, try sampleSQL(deployment, centre: "landkreis-kassel", rows: 150, seed: UInt64(round + 1)))
            try sqlite3(db, "UPDATE projects SET participants = participants + 1 WHERE rowid % 3 = \(round % 3);")
            let daemon = try quickDaemon(deployment, db, ["--hub", "http://127.0.0.1:\(proxy.port)"])
            pause(Double.random(in: 0.05...0.9, using: &random))
            daemon.stop(signal: SIGKILL)
        }
        let (lost, duplicated, unsound) = try await settle(deployment, ["landkreis-kassel"])
        reportChaos("crash-daemon", ["kills": rounds, "lost": lost, "duplicated": duplicated, "unsound": unsound])
    }

    @Test(arguments: StoreKind.tested)
    func killingTheHubMidSyncLosesAndDuplicatesNothing(store: StoreKind) async throws {
        let rounds = isLongChaosRun ? 100 : 3
        let deployment = try Deployment(store: store, holdHistory: true)
        try deployment.startHub()
        let port = deployment.hubPort
        let db = try deployment.centre("fulda")
        let daemon = try quickDaemon(deployment, db)
        var random = SplitMix64(seed: 4711)
        for round in 0..<rounds {
            try sqlite3(db, try sampleSQL(deployment, centre: "fulda", rows: 150, seed: UInt64(round + 100)))
            pause(Double.random(in: 0.05...0.6, using: &random))
            deployment.killHub()
            pause(Double.random(in: 0.0...0.3, using: &random))
            try deployment.startHub(port: port)
        }
        #expect(daemon.stop(signal: SIGTERM) == 0)
        let (lost, duplicated, unsound) = try await settle(deployment, ["fulda"])
        reportChaos(store == .sqlite ? "crash-hub" : "crash-hub-postgres", ["kills": rounds, "lost": lost, "duplicated": duplicated, "unsound": unsound])
    }

    /// 30 % of connections dropped mid-request or mid-response, cut short, reset, stalled or
    /// slowed: every centre keeps syncing until it gets through, and all converge with nothing
    /// lost or doubled.
    @Test func withThirtyPercentOfConnectionsHurtEverythingStillConverges() async throws {
        let rounds = isLongChaosRun ? 20 : 3
        let deployment = try Deployment(holdHistory: true)
        try deployment.startHub()
        let nodes = ["landkreis-kassel", "hanau", "werra-meissner-kreis", Node.hmsi]
        for node in nodes { try deployment.centre(node) }
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        proxy.hurtAtRandom(
            rate: 0.3,
            faults: [
                .dropResponse, .cutAnswer(after: 1), .cutAnswer(after: 2), .truncateResponse(bytes: 300), .truncateRequest(bytes: 200), .reset,
                .stall, .delay(milliseconds: 50),
            ],
            seed: 30)
        let line = "http://127.0.0.1:\(proxy.port)"
        var attempts = 0
        for round in 0..<rounds {
            for node in nodes where node != Node.hmsi {
                try sqlite3(deployment.path(node), try sampleSQL(deployment, centre: node, rows: 60, seed: UInt64(round * 10 + 1)))
                try sqlite3(deployment.path(node), "UPDATE organisations SET city = 'Runde \(round)' WHERE rowid % 2 = \(round % 2);")
            }
            if round > 0 {
                try sqlite3(deployment.path(Node.hmsi), "UPDATE projects SET status = 'bewilligt' WHERE rowid % 4 = \(round % 4);")
            }
            for node in nodes {
                var synced = false
                for _ in 0..<40 where !synced {
                    attempts += 1
                    synced = try deployment.sync(node, hub: line, ["--stall-timeout", "1", "--batch-size", "50"]).succeeded
                }
                #expect(synced, "\(node) never got through")
            }
        }
        let (lost, duplicated, _) = try await settle(deployment, nodes)
        for node in nodes {
            #expect(try run(deployment.wirsync, ["verify", "--db", deployment.path(node)]).succeeded, "\(node)")
        }
        #expect(proxy.hurtConnections > 0)
        reportChaos("faults", [
            "connections": proxy.connections, "hurt": proxy.hurtConnections, "sync_attempts": attempts, "lost": lost,
            "duplicated": duplicated,
        ])
    }

    /// While the hub is down, the daemon's retries thin out (exponential backoff with jitter)
    /// instead of hammering the line: count its connection attempts.
    @Test func theDaemonsRetryTrafficStaysBoundedWhileTheHubIsDown() throws {
        let deployment = try Deployment(holdHistory: true)
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        deployment.stopHub()
        let proxy = try FaultProxy(upstreamPort: try unusedPort())  // every connection finds no hub behind it
        defer { proxy.stop() }
        let seconds = isLongChaosRun ? 60.0 : 8.0
        let daemon = try BackgroundProcess(deployment.wirsync, [
            "daemon", "--db", db, "--hub", "http://127.0.0.1:\(proxy.port)", "--retry-min", "0.2", "--retry-max", "2",
        ])
        pause(seconds)
        #expect(daemon.stop(signal: SIGTERM) == 0)
        let attempts = proxy.connections
        let steady = Int(seconds / 0.2)
        #expect(attempts >= 3, "it keeps trying")
        #expect(attempts < steady / 2, "\(attempts) attempts in \(seconds) s; retrying every 0.2 s would be \(steady)")
        reportChaos("backoff", ["seconds": Int(seconds), "attempts": attempts, "without_backoff": steady])
    }
}

/// Sleeps the calling thread: the attacks time themselves in real seconds.
private func pause(_ seconds: Double) { Thread.sleep(forTimeInterval: seconds) }
