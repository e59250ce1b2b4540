import Foundation
import GRDB
import SyncCore
import SyncTestSupport
import Testing

/// docs/recovery.md, procedure by procedure, with the commands it names (invariant 7).
@Suite("Invariant 7 — the recovery runbook (docs/recovery.md)", .timeLimit(.minutes(5)))
struct RunbookTests {
    let kassel = "landkreis-kassel"

    private func sample(_ deployment: Deployment, _ centre: String, rows: Int, seed: UInt64) throws -> String {
        try runChecked(deployment.wirsync, ["sample", "--centre", centre, "--rows", String(rows), "--seed", String(seed)])
    }

    private func expectConverged(_ deployment: Deployment, _ nodes: [String]) throws {
        for node in nodes {
            let scope = node == Node.hmsi ? nil : node
            #expect(try snapshot(deployment.path(node), versions: false, centre: scope) == snapshot(deployment.hubPath, versions: false, centre: scope),
                "\(node) differs from the hub")
            let verify = try deployment.verify(node)
            #expect(verify.succeeded, "\(node): \(verify.stdout)\(verify.stderr)")
        }
        #expect(try duplicateApplications(hub: deployment.hubPath) == 0)
    }

    private func daemon(_ deployment: Deployment, _ node: String) throws -> BackgroundProcess {
        try BackgroundProcess(deployment.wirsync, ["daemon", "--db", deployment.path(node), "--interval", "1", "--retry-min", "0.2", "--retry-max", "1"])
    }

    /// 0 and 1: a new PC with a token of its own gets the centre back; the old one is cut off.
    @Test func theRunbookReplacesACentrePC() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let old = try deployment.centre(kassel)
        try sqlite3(old, try sample(deployment, kassel, rows: 300, seed: 21))
        #expect(try deployment.sync(kassel).succeeded)
        let oldOrigin = try #require(try deployment.status(kassel)["origin"] as? String)

        let token = try runChecked(deployment.hubBinary, ["replica", "add", kassel, "--label", "Neuer Büro-PC", "--db", deployment.hubPath])
        let new = deployment.path("neu")
        try runChecked(deployment.wirsync, ["init", "--db", new, "--centre", kassel, "--hub", deployment.hubURL])
        try token.write(toFile: new + ".token", atomically: true, encoding: .utf8)
        chmod(new + ".token", 0o600)
        let first = try deployment.sync("neu")
        #expect(first.succeeded, "\(first.stderr)")
        #expect(first.stdout.contains("pulled 342 changes"), "\(first.stdout)")
        #expect(try snapshot(new, versions: false, centre: kassel) == snapshot(old, versions: false, centre: kassel))

        let listed = try runChecked(deployment.hubBinary, ["replica", "list", "--centre", kassel, "--db", deployment.hubPath])
        #expect(listed.contains(oldOrigin) && listed.contains("Neuer Büro-PC"), "\(listed)")
        try runChecked(deployment.hubBinary, ["replica", "revoke", oldOrigin, "--db", deployment.hubPath])
        #expect(try deployment.sync(kassel).status == 77, "the old PC is cut off")
        try sqlite3(new, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('neu', '\(kassel)', 'Vom neuen PC', 'Verein');")
        #expect(try deployment.sync("neu").succeeded, "the new one goes on")
        try expectConverged(deployment, ["neu"])
    }

    /// 0 and 2: a backup taken while the daemon runs, put back with `wirsync restore` after
    /// more work; the next sync repairs, and the daemon goes on.
    @Test func theRunbookRestoresAReplicaFromItsBackup() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre(kassel)
        try sqlite3(db, try sample(deployment, kassel, rows: 60, seed: 22))
        var running = try daemon(deployment, kassel)
        _ = try running.waitForOutput(inErrors: true) { $0.contains(" synced") && $0.contains("pushed=60") ? $0 : nil }
        let backup = deployment.directory.path("backup-kassel.db")
        let backedUp = try runChecked(deployment.wirsync, ["backup", "--db", db, "--to", backup])
        #expect(backedUp.contains("Backed up \(db) to \(backup)"), "\(backedUp)")
        var info = stat()
        #expect(stat(backup, &info) == 0 && info.st_mode & 0o777 == 0o600, "the backup is readable by its owner only")

        // More work after the backup, synced by the daemon; then the file must go back.
        try sqlite3(db, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('nach-backup', '\(kassel)', 'Nach dem Backup', 'Verein');")
        _ = try running.waitForOutput(inErrors: true) { $0.contains(" synced") && $0.contains("pushed=1") ? $0 : nil }
        let refused = try run(deployment.wirsync, ["restore", "--db", db, "--from", backup])
        #expect(refused.status == 75, "\(refused.stderr)")
        #expect(refused.stderr.contains("a daemon of \(db) is running (pid \(running.pid)); stop it first"), "\(refused.stderr)")
        #expect(running.stop(signal: SIGTERM) == 0)

        let restored = try runChecked(deployment.wirsync, ["restore", "--db", db, "--from", backup])
        #expect(restored.contains("kept as \(db).before-restore"), "\(restored)")
        try sqlite3(db, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('nach-restore', '\(kassel)', 'Nach dem Restore', 'Verein');")
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try runChecked(deployment.wirsync, ["status", "--db", db]).contains("an older copy of the replica"))
        running = try daemon(deployment, kassel)
        _ = try running.waitForOutput(inErrors: true) { $0.contains(" synced") ? $0 : nil }
        #expect(running.stop(signal: SIGTERM) == 0)
        try expectConverged(deployment, [kassel])
        for key in ["nach-backup", "nach-restore"] { #expect(try readRow(db, "organisations", key) != nil, "\(key)") }
    }

    /// 0 and 3: a backup taken while the hub serves, put back with `wirsync-hub restore`;
    /// every replica repairs on its next sync and `status` shows it.
    @Test func theRunbookRestoresTheHubFromItsBackup() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        for node in [kassel, "fulda", Node.hmsi] { try deployment.centre(node) }
        try sqlite3(deployment.path(kassel), try sample(deployment, kassel, rows: 40, seed: 23))
        for node in [kassel, Node.hmsi] { #expect(try deployment.sync(node).succeeded) }
        let backup = deployment.directory.path("backup-hub.db")
        #expect(try runChecked(deployment.hubBinary, ["backup", "--db", deployment.hubPath, "--to", backup]).contains("Backed up"))

        try sqlite3(deployment.path(kassel), "UPDATE projects SET participants = participants + 5;")
        try sqlite3(deployment.path("fulda"), try sample(deployment, "fulda", rows: 20, seed: 24))
        for node in [kassel, "fulda", Node.hmsi] { #expect(try deployment.sync(node).succeeded) }
        let beforeTheLoss = try snapshot(deployment.hubPath, versions: false)

        let refused = try run(deployment.hubBinary, ["restore", "--db", deployment.hubPath, "--from", backup])
        #expect(refused.status == 1 && refused.stderr.contains("the hub is serving"), "\(refused.stderr)")
        deployment.stopHub()
        let restored = try runChecked(deployment.hubBinary, ["restore", "--db", deployment.hubPath, "--from", backup])
        #expect(restored.contains("kept as \(deployment.hubPath).before-restore"), "\(restored)")
        try deployment.startHub(port: deployment.hubPort)
        let waiting = try runChecked(deployment.hubBinary, ["status", "--db", deployment.hubPath])
        #expect(waiting.contains("HMSI restored the hub from an older backup") && waiting.contains("not yet:"), "\(waiting)")

        for node in [kassel, "fulda", Node.hmsi, kassel, "fulda"] { #expect(try deployment.sync(node).succeeded, "\(node)") }
        try expectConverged(deployment, [kassel, "fulda", Node.hmsi])
        #expect(try snapshot(deployment.hubPath, versions: false) == beforeTheLoss, "the hub holds again what it held before the restore")
        #expect(try runChecked(deployment.hubBinary, ["status", "--db", deployment.hubPath]).contains("every replica has re-synced"))
    }

    /// 4: the hub is gone; a new one made with `init --rebuild` gets everything back from
    /// HMSI's replica and the centres', conflict records included.
    @Test func theRunbookRebuildsALostHubFromTheReplicas() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        for node in [kassel, "fulda", Node.hmsi] { try deployment.centre(node) }
        try sqlite3(deployment.path(kassel), try sample(deployment, kassel, rows: 50, seed: 25))
        try sqlite3(deployment.path("fulda"), try sample(deployment, "fulda", rows: 30, seed: 26))
        for node in [kassel, "fulda", Node.hmsi] { #expect(try deployment.sync(node).succeeded) }
        let project = try #require(try DatabaseQueue(path: deployment.path(kassel)).read {
            try String.fetchOne($0, sql: "SELECT id FROM projects ORDER BY id LIMIT 1")
        })
        try sqlite3(deployment.path(Node.hmsi), "UPDATE funding_lines SET max_share = 0.85 WHERE rowid = 1; UPDATE projects SET title = 'HMSI' WHERE id = '\(project)';")
        try sqlite3(deployment.path(kassel), "UPDATE projects SET title = 'Zentrum' WHERE id = '\(project)'; DELETE FROM volunteers WHERE rowid = 1;")
        for node in [Node.hmsi, kassel, Node.hmsi, "fulda"] { #expect(try deployment.sync(node).succeeded) }
        let lost = try snapshot(deployment.hubPath, versions: false)
        let conflicts = try count(deployment.hubPath, "sync_conflicts")
        #expect(conflicts == 1)

        deployment.stopHub()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: deployment.hubPath + suffix) }
        let made = try runChecked(deployment.hubBinary, ["init", "--rebuild", "--db", deployment.hubPath])
        #expect(made.contains("It holds nothing yet"), "\(made)")
        #expect(try count(deployment.hubPath, "centres") == 0)
        func provision(_ node: String) throws {
            let token = try runChecked(deployment.hubBinary, ["centre", "add", node, "--db", deployment.hubPath])
            try token.write(toFile: deployment.path(node) + ".token", atomically: true, encoding: .utf8)
            chmod(deployment.path(node) + ".token", 0o600)
        }
        let early = try run(deployment.hubBinary, ["centre", "add", kassel, "--db", deployment.hubPath])
        #expect(early.status == 1 && early.stderr.contains("sync HMSI's replica first"), "\(early.stderr)")
        try provision(Node.hmsi)
        try deployment.startHub(port: deployment.hubPort)
        #expect(try deployment.sync(Node.hmsi).succeeded, "HMSI's replica brings back the reference data")
        for node in [kassel, "fulda"] { try provision(node) }
        for node in [kassel, "fulda", Node.hmsi, kassel, "fulda"] {
            let result = try deployment.sync(node)
            #expect(result.succeeded, "\(node): \(result.stderr)")
        }
        try expectConverged(deployment, [kassel, "fulda", Node.hmsi])
        #expect(try snapshot(deployment.hubPath, versions: false) == lost, "the rebuilt hub holds what the lost one held")
        let records = try runChecked(deployment.hubBinary, ["conflicts", "list", "--db", deployment.hubPath])
        #expect(try count(deployment.hubPath, "sync_conflicts") == conflicts, "its conflict record came back from a mirror: \(records)")
        #expect(try runChecked(deployment.wirsync, ["status", "--db", deployment.path(kassel)]).contains("the hub is a new one"))
    }
}
