import Foundation
import GRDB
import HubStore
import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// `wirsync` and `wirsync-hub`, the built binaries, against each other over loopback.
@Suite("End to end: wirsync and wirsync-hub", .timeLimit(.minutes(3)))
struct EndToEndTests {
    let centres = ["landkreis-kassel", "ruesselsheim-am-main"]

    /// Invariant 2: random writes by the sqlite3 shell on two centres and HMSI, several
    /// syncs in random orders; at the end `verify` says equal and the rows are equal.
    @Test(arguments: StoreKind.tested, testSeeds(default: 2, stride: 31))
    func twoCentresAndTheHubConvergeAfterRandomWritesBySQLite3(store: StoreKind, seed: UInt64) async throws {
        let deployment = try Deployment(store: store)
        try deployment.startHub()
        var random = SplitMix64(seed: seed)
        for node in centres + [Node.hmsi] { try deployment.centre(node) }
        for round in 0..<3 {
            for (index, node) in centres.enumerated() {
                try sqlite3(deployment.path(node), try randomWrites(node, path: deployment.path(node), round: round, seed: seed &+ UInt64(index), using: &random))
            }
            if round > 0 {
                try sqlite3(deployment.path(Node.hmsi), try randomWrites(nil, path: deployment.path(Node.hmsi), round: round, seed: seed, using: &random))
            }
            for node in (centres + [Node.hmsi]).shuffled(using: &random) {
                let result = try deployment.sync(node)
                #expect(result.succeeded, "seed \(seed): sync of \(node): \(result.stderr)")
            }
        }
        for _ in 0..<2 {
            for node in centres + [Node.hmsi] { _ = try deployment.sync(node) }
        }
        let hub = try await deployment.openStore()
        for node in centres + [Node.hmsi] {
            let verify = try run(deployment.wirsync, ["verify", "--db", deployment.path(node)])
            #expect(verify.succeeded, "seed \(seed): \(node): \(verify.stdout)\(verify.stderr)")
            let scope = node == Node.hmsi ? nil : node
            let held = try await snapshot(store: hub, versions: false, centre: scope)
            #expect(try snapshot(deployment.path(node), versions: false, centre: scope) == held, "seed \(seed) on \(store): \(node)")
        }
        try hub.close()
    }

    /// Several hub processes on one PostgreSQL database, behind no balancer but the centres'
    /// own choice: each sync goes to one of two `wirsync-hub serve` processes at random, and a
    /// push that one of them acknowledged is pushed again to the other (a retry through a
    /// load balancer). Every centre converges with the hub, and nothing is applied twice.
    @Test(arguments: testSeeds(default: 1, stride: 17))
    func twoHubProcessesOnOnePostgreSQLServeEveryCentreExactlyOnce(seed: UInt64) async throws {
        let deployment = try Deployment(store: .postgres, holdHistory: true)
        try deployment.startHub()
        let first = deployment.hubURL
        let second = try BackgroundProcess(deployment.hubBinary, ["serve", "--store", deployment.hubStore, "--port", "0", "--log-level", "warning"])
        defer { second.stop() }
        let port = try second.waitForOutput { line in line.hasPrefix("wirsync-hub: serving") ? line.split(separator: ":").last.flatMap { Int($0) } : nil }
        let hubs = [first, "http://127.0.0.1:\(port)"]
        var random = SplitMix64(seed: seed)
        for node in centres + [Node.hmsi] { try deployment.centre(node) }
        for round in 0..<3 {
            for (index, node) in centres.enumerated() {
                try sqlite3(deployment.path(node), try randomWrites(node, path: deployment.path(node), round: round, seed: seed &+ UInt64(index), using: &random))
            }
            // Both processes at once: every centre syncs with its own hub process concurrently.
            let results = try (centres + [Node.hmsi]).shuffled(using: &random).enumerated().map { offset, node in
                (node, try BackgroundProcess(deployment.wirsync, ["sync", "--db", deployment.path(node), "--hub", hubs[offset % 2]]))
            }.map { node, process in (node, process.wait()) }
            for (node, status) in results { #expect(status == 0, "seed \(seed): sync of \(node) in round \(round)") }
        }
        for hub in hubs + hubs {
            for node in centres + [Node.hmsi] {
                let result = try deployment.sync(node, hub: hub)
                #expect(result.succeeded, "seed \(seed): \(node): \(result.stderr)")
            }
        }
        let store = try await deployment.openStore()
        for node in centres + [Node.hmsi] {
            let scope = node == Node.hmsi ? nil : node
            let held = try await snapshot(store: store, versions: false, centre: scope)
            #expect(try snapshot(deployment.path(node), versions: false, centre: scope) == held, "seed \(seed): \(node)")
        }
        #expect(try await duplicateApplications(store: store) == 0, "seed \(seed): applied twice")
        try store.close()
    }

    /// Inserts of sample data, and updates and deletes of random existing rows.
    private func randomWrites(_ centre: String?, path: String, round: Int, seed: UInt64, using random: inout SplitMix64) throws -> String {
        var sql: [String] = ["BEGIN;"]
        if let centre {
            let data = SampleData(centre: centre, seed: seed &* 1000 &+ UInt64(round), scale: 40)
            for row in data.rows() {
                let columns = ["id"] + row.values.keys.sorted()
                let values = [Value.text(row.pk)] + row.values.keys.sorted().map { row.values[$0]! }
                sql.append("INSERT INTO \(row.table) (\(columns.joined(separator: ", "))) VALUES (\(values.map(\.description).joined(separator: ", ")));")
            }
        }
        let projects = try DatabaseQueue(path: path).read { try String.fetchAll($0, sql: "SELECT id FROM projects ORDER BY id") }
        for id in projects.shuffled(using: &random).prefix(6) {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: sql.append("DELETE FROM projects WHERE id = '\(id)';")
            case 1: sql.append("UPDATE projects SET status = 'laufend', participants = \(Int.random(in: 1...400, using: &random)) WHERE id = '\(id)';")
            case 2: sql.append("UPDATE projects SET title = title || ' (\(round))', requested_cents = \(Int.random(in: 0...99_999, using: &random)) WHERE id = '\(id)';")
            default: sql.append("UPDATE projects SET description = NULL WHERE id = '\(id)';")
            }
        }
        sql.append("COMMIT;")
        return sql.joined(separator: "\n")
    }

    @Test func withTheHubDownSyncFailsFastWithTheCauseLosesNothingAndALaterSyncSucceeds() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        deployment.stopHub()
        try sqlite3(db, try runChecked(deployment.wirsync, ["sample", "--centre", "landkreis-kassel", "--rows", "50"]))
        let start = ContinuousClock.now
        let failed = try deployment.sync("landkreis-kassel")
        #expect(ContinuousClock.now - start < .seconds(5), "fails fast")
        #expect(failed.status == 69)
        #expect(failed.stderr == "wirsync: sync failed: hub unreachable: Connection refused (curl 7); nothing is lost: 50 changes wait for the next sync\n")
        let status = try runChecked(deployment.wirsync, ["status", "--db", db])
        #expect(status.contains("FAILED: hub unreachable"))

        try deployment.startHub()
        let synced = try deployment.sync("landkreis-kassel")
        #expect(synced.succeeded, "\(synced.stderr)")
        #expect(synced.stdout.hasPrefix("Synced landkreis-kassel with \(deployment.hubURL): pushed 50 changes, pulled 42 changes"))
    }

    @Test func theDaemonBacksOffWhileTheHubIsDownAndRecovers() throws {
        let deployment = try Deployment()
        let port = try unusedPort()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        deployment.stopHub()
        let daemon = try BackgroundProcess(deployment.wirsync, [
            "daemon", "--db", db, "--hub", "http://127.0.0.1:\(port)", "--interval", "1", "--retry-min", "0.2", "--retry-max", "1",
        ])
        _ = try daemon.waitForOutput(inErrors: true) { line in
            daemon.standardError.components(separatedBy: "sync failed").count > 4 ? line : nil
        }
        #expect(daemon.standardError.contains("kind=unreachable"))
        #expect(daemon.standardError.contains("failures_in_a_row=3"))

        try deployment.startHub(port: port)
        _ = try daemon.waitForOutput(inErrors: true) { $0.contains(" synced") ? $0 : nil }
        try sqlite3(db, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('frisch', 'landkreis-kassel', 'Neu im Netz', 'Verein');")
        _ = try daemon.waitForOutput(inErrors: true) { $0.contains(" synced") && $0.contains("pushed=1") ? $0 : nil }
        #expect(try readRow(deployment.hubPath, "organisations", "frisch") != nil)
        #expect(daemon.stop(signal: SIGTERM) == 0)
        #expect(daemon.standardError.contains("daemon stopped"))
    }

    /// Invariant 3: the hub applied a batch but the answer never reached the centre. The next
    /// session shows that the hub holds exactly these entries (their chains): they are taken
    /// as acknowledged, not sent again, and nothing is applied twice.
    @Test func aLostResponseIsRetriedWithoutApplyingAnythingTwice() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        try sqlite3(db, try runChecked(deployment.wirsync, ["sample", "--centre", "landkreis-kassel", "--rows", "80"]))
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        proxy.hurt([.cutAnswer(after: 1)])  // the session's answer arrives, the push's does not
        let lost = try deployment.sync("landkreis-kassel", hub: "http://127.0.0.1:\(proxy.port)")
        #expect(lost.status == 69, "\(lost.stderr)")
        #expect(lost.stderr.hasSuffix("nothing is lost: 80 changes wait for the next sync\n"), "\(lost.stderr)")
        #expect(try count(deployment.hubPath, "organisations") == 4, "the hub did apply the batch")
        let logAfterLoss = try count(deployment.hubPath, "sync_hub_log")

        let (status, report) = try deployment.syncJSON("landkreis-kassel", hub: "http://127.0.0.1:\(proxy.port)")
        #expect(status == 0)
        let details = try #require(report["report"] as? [String: Any])
        #expect(details["pushed"] as? Int == 0, "nothing sent again")
        #expect(details["recovery"] == nil, "no repair: the file was not copied")
        #expect(report["pending"] as? Int == 0)
        #expect(try count(deployment.hubPath, "sync_hub_log") == logAfterLoss, "nothing applied twice")
        #expect(proxy.hurtConnections == 1)
    }

    @Test func aStalledLineIsAbortedAndTheNextSyncGoesThrough() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        try sqlite3(db, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o', 'landkreis-kassel', 'O', 'Verein');")
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        proxy.hurt([.stall])
        let start = ContinuousClock.now
        let stalled = try deployment.sync("landkreis-kassel", hub: "http://127.0.0.1:\(proxy.port)", ["--stall-timeout", "1"])
        #expect(stalled.status == 69)
        #expect(stalled.stderr.contains("line stalled"))
        #expect(ContinuousClock.now - start < .seconds(15))
        let retried = try deployment.sync("landkreis-kassel", hub: "http://127.0.0.1:\(proxy.port)", ["--stall-timeout", "1"])
        #expect(retried.succeeded, "\(retried.stderr)")
    }

    @Test func aWrongTokenAClockAheadAndASchemaMismatchFailWithTheirCauseAndChangeNothing() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        // A wrong token.
        let kassel = try deployment.centre("landkreis-kassel")
        try sqlite3(kassel, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o', 'landkreis-kassel', 'O', 'Verein');")
        try "wir1.landkreis-kassel.falsch".write(toFile: kassel + ".token", atomically: true, encoding: .utf8)
        chmod(kassel + ".token", 0o600)
        let before = try snapshot(kassel, versions: false)
        let unauthorized = try deployment.sync("landkreis-kassel")
        #expect(unauthorized.status == 77)
        #expect(unauthorized.stderr.contains("the hub refused (401): the token is unknown or revoked"))
        #expect(try snapshot(kassel, versions: false) == before)
        #expect(try runChecked(deployment.wirsync, ["status", "--db", kassel, "--json"]).contains("\"pending\":1"))

        // A PC whose clock runs a day ahead.
        let fulda = try deployment.centre("fulda")
        try DatabaseQueue(path: fulda).write { _ in }
        let ahead = try openWriter(fulda, clock: TestClock(millis: SystemClock().nowMillis() + 86_400_000))
        try ahead.write { db in try db.execute(sql: "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('f', 'fulda', 'F', 'Verein')") }
        let aheadBefore = try snapshot(fulda, versions: false)
        let refused = try deployment.sync("fulda")
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("the centre's clock is ahead"))
        #expect(refused.stderr.contains("set the clock of this PC right"))
        #expect(try snapshot(fulda, versions: false) == aheadBefore)
        #expect(try readRow(deployment.hubPath, "organisations", "f") == nil)
        #expect(try runChecked(deployment.wirsync, ["status", "--db", fulda]).contains("FAILED: the hub refused (422)"))

        // A replica on a newer schema than the hub's.
        let schema = try newerSchema(in: deployment.directory)
        let giessen = try deployment.centre("giessen", schema: schema)
        let mismatch = try deployment.sync("giessen")
        #expect(mismatch.status == 65)
        #expect(mismatch.stderr.contains("the replica's schema version 3 is newer than the hub's (wir/1 to wir/2)"), "\(mismatch.stderr)")
        #expect(try runChecked(deployment.wirsync, ["status", "--db", giessen, "--json"]).contains("\"cursor\":0"))
    }

    /// The repository's schema plus a migration 3 that adds a column.
    private func newerSchema(in directory: TemporaryDirectory) throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schema")
        let target = directory.url.appendingPathComponent("schema-v3")
        try FileManager.default.copyItem(at: source, to: target)
        try "ALTER TABLE projects ADD COLUMN website TEXT;".write(
            to: target.appendingPathComponent("migrations/0003_website.sql"), atomically: true, encoding: .utf8)
        let manifest = target.appendingPathComponent("manifest.json")
        try String(contentsOf: manifest, encoding: .utf8).replacingOccurrences(of: "\"version\": 2", with: "\"version\": 3")
            .write(to: manifest, atomically: true, encoding: .utf8)
        return target.path
    }

    @Test func twoSyncsOfOneReplicaNeverRunAtOnce() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        try sqlite3(db, try runChecked(deployment.wirsync, ["sample", "--centre", "landkreis-kassel", "--rows", "400"]))
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        proxy.hurt([.delay(milliseconds: 400), .delay(milliseconds: 400)])
        let arguments = ["sync", "--db", db, "--hub", "http://127.0.0.1:\(proxy.port)", "--batch-size", "100"]
        let first = try BackgroundProcess(deployment.wirsync, arguments)
        Thread.sleep(forTimeInterval: 0.3)
        let second = try run(deployment.wirsync, arguments)
        let firstStatus = first.stop(signal: 0, timeout: .seconds(60))
        #expect(firstStatus == 0, "\(first.standardError)")
        #expect(second.status == 75)
        #expect(second.stderr.contains("another sync of \(db) is running (pid \(first.pid))"))
        #expect(try count(deployment.hubPath, "sync_hub_log") == 42 + 400, "every change applied once")
    }
}
