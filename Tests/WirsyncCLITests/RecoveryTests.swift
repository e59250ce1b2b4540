import Foundation
import GRDB
import HubStore
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 7 (operations lose nothing) and invariants 2 and 3 through them: a replaced PC,
/// a second PC, a replica file restored from an older copy or used on two PCs at once, a
/// hub restored from an older backup. The built binaries against each other, with plain
/// file copies and the sqlite3 shell, as an operator does it.
@Suite("Invariant 7 — recovery: replaced PCs, restored replicas, restored hubs", .timeLimit(.minutes(5)))
struct RecoveryTests {
    let kassel = "landkreis-kassel"

    private func sample(_ deployment: Deployment, _ centre: String, rows: Int, seed: UInt64) throws -> String {
        try runChecked(deployment.wirsync, ["sample", "--centre", centre, "--rows", String(rows), "--seed", String(seed)])
    }

    /// Every replica equals the hub in its scope, value for value, and `verify` says so; no
    /// write was applied twice.
    private func expectConverged(_ deployment: Deployment, _ files: [(file: String, centre: String?)], _ context: String = "") throws {
        for (file, centre) in files {
            #expect(try snapshot(deployment.path(file), versions: false, centre: centre) == snapshot(deployment.hubPath, versions: false, centre: centre),
                "\(context) \(file) differs from the hub")
            let verify = try deployment.verify(file)
            #expect(verify.succeeded, "\(context) \(file): \(verify.stdout)\(verify.stderr)")
            #expect(try deployment.status(file)["pending"] as? Int == 0, "\(context) \(file) has changes left")
        }
        #expect(try duplicateApplications(hub: deployment.hubPath) == 0, "\(context) a write was applied twice")
    }

    /// The primary keys of a table in a file, in one centre's scope.
    private func keys(_ path: String, _ table: String, centre: String) throws -> Set<String> {
        Set(try DatabaseQueue(path: path).read { try String.fetchAll($0, sql: "SELECT id FROM \(table) WHERE centre_id = ?", arguments: [centre]) })
    }

    // MARK: Replicas are nodes, a centre is a scope

    /// The centre's PC died; a new one is set up with the centre's token. Its first sync
    /// brings back every row of the centre, page by page, and resumes after a broken line.
    @Test func aReplacementReplicaRestoresItsCentresRows() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let old = try deployment.centre(kassel)
        try sqlite3(old, try sample(deployment, kassel, rows: 1200, seed: 5))
        #expect(try deployment.sync(kassel).succeeded)
        let atHub = try snapshot(deployment.hubPath, versions: false, centre: kassel)
        try FileManager.default.removeItem(atPath: old)  // the disk is gone; the token was kept

        let fresh = try deployment.replica("kassel-neu", of: kassel, token: kassel)
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        proxy.hurt([.cutAnswer(after: 2)])  // the session and the first page arrive, the line breaks on the second
        let broken = try deployment.sync("kassel-neu", hub: "http://127.0.0.1:\(proxy.port)")
        #expect(broken.status == 69, "\(broken.stderr)")
        let halfway = try count(fresh, "projects") + count(fresh, "volunteers") + count(fresh, "organisations") + count(fresh, "deployments")
        #expect(halfway > 0, "the first page is kept")

        let (status, report) = try deployment.syncJSON("kassel-neu", hub: "http://127.0.0.1:\(proxy.port)")
        #expect(status == 0)
        let pulled = try #require((report["report"] as? [String: Any])?["pulled"] as? Int)
        #expect(pulled > 0 && pulled < 1200 + 42, "it resumed where the line broke: \(pulled)")
        #expect(try snapshot(fresh, versions: false, centre: kassel) == atHub, "every row of the centre is back")
        #expect(try deployment.verify("kassel-neu").succeeded)
    }

    /// Two PCs of one centre (the second with a copy of the first one's token): each
    /// receives the other's writes, and their concurrent edits of one field are merged and
    /// recorded like any two nodes'.
    @Test func twoReplicasOfOneCentreConvergeAndTheirRacesAreRecorded() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let office = try deployment.centre(kassel)
        try sqlite3(office, try sample(deployment, kassel, rows: 80, seed: 6))
        #expect(try deployment.sync(kassel).succeeded)
        let laptop = try deployment.replica("kassel-laptop", of: kassel, token: kassel)
        #expect(try deployment.sync("kassel-laptop").succeeded)
        #expect(try keys(laptop, "projects", centre: kassel) == keys(office, "projects", centre: kassel), "the laptop has the office's rows")

        // Both offline: the same title edited on both, and a new row on each.
        let project = try #require(try keys(office, "projects", centre: kassel).sorted().first)
        try sqlite3(office, """
            UPDATE projects SET title = 'Sprachcafé (Büro)' WHERE id = '\(project)';
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('vom-buero', '\(kassel)', 'Verein aus dem Büro', 'Verein');
            """)
        try sqlite3(laptop, """
            UPDATE projects SET title = 'Sprachcafé (Laptop)' WHERE id = '\(project)';
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('vom-laptop', '\(kassel)', 'Verein vom Laptop', 'Verein');
            """)
        for file in [kassel, "kassel-laptop", kassel] { #expect(try deployment.sync(file).succeeded, "\(file)") }
        try expectConverged(deployment, [(kassel, kassel), ("kassel-laptop", kassel)])
        #expect(try readRow(office, "organisations", "vom-laptop") != nil)
        #expect(try readRow(laptop, "organisations", "vom-buero") != nil)

        let origins = try [kassel, "kassel-laptop"].map { try deployment.status($0)["origin"] as? String ?? "" }
        #expect(origins[0] != origins[1], "each replica is a node of its own")
        let conflicts = try runChecked(deployment.hubBinary, ["conflicts", "list", "--db", deployment.hubPath])
        #expect(conflicts.contains("projects \(project).title"), "\(conflicts)")
        #expect(conflicts.contains("by \(origins[0])") && conflicts.contains("by \(origins[1])"), "\(conflicts)")
    }

    /// HMSI cuts off a stolen laptop; the centre's office PC, on its own token, goes on.
    @Test func aLostReplicaIsCutOffAndTheRestOfItsCentreGoesOn() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        try deployment.centre(kassel)
        try deployment.replica("kassel-laptop", of: kassel)
        for file in [kassel, "kassel-laptop"] { #expect(try deployment.sync(file).succeeded) }
        let listed = try runChecked(deployment.hubBinary, ["replica", "list", "--db", deployment.hubPath, "--centre", kassel, "--json"])
        let replicas = try #require(try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]])
        #expect(replicas.count == 2)
        let laptop = try #require(try deployment.status("kassel-laptop")["origin"] as? String)
        #expect(replicas.contains { $0["origin"] as? String == laptop && $0["token_label"] as? String == "kassel-laptop" })

        let revoked = try runChecked(deployment.hubBinary, ["replica", "revoke", laptop, "--db", deployment.hubPath])
        #expect(revoked.contains("cut off: \(laptop)."))
        let refused = try deployment.sync("kassel-laptop")
        #expect(refused.status == 77, "\(refused.stderr)")
        try sqlite3(deployment.path(kassel), "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('weiter', '\(kassel)', 'Es geht weiter', 'Verein');")
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try readRow(deployment.hubPath, "organisations", "weiter") != nil)
        let list = try runChecked(deployment.hubBinary, ["replica", "list", "--db", deployment.hubPath])
        #expect(list.split(separator: "\n").contains { $0.hasPrefix(laptop) && $0.contains("revoked") }, "\(list)")
    }

    // MARK: A replica restored from an older copy

    /// `sqlite3 k.db ".backup copy.db"`, more syncs, then the copy put back and written to:
    /// the next sync finds it, keeps the copy's new writes, brings back what it lacks, and
    /// applies nothing twice; `status` says what happened.
    @Test func aReplicaRestoredFromAnOlderCopyRecoversWithNothingLostOrDoubled() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre(kassel)
        try sqlite3(db, try sample(deployment, kassel, rows: 40, seed: 7))
        #expect(try deployment.sync(kassel).succeeded)
        let copy = deployment.directory.path("copy.db")
        try sqlite3(db, ".backup '\(copy)'")
        // Captured after the copy, half pushed before the PC broke.
        try sqlite3(db, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('nach-kopie', '\(kassel)', 'Nach der Kopie', 'Verein');")
        #expect(try deployment.sync(kassel).succeeded)
        let lostWithThePC = try deployment.status(kassel)["origin"] as? String

        // The PC is restored from last night's copy, and staff go on working.
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        try FileManager.default.copyItem(atPath: copy, toPath: db)
        try sqlite3(db, """
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('nach-restore', '\(kassel)', 'Nach dem Restore', 'Verein');
            UPDATE organisations SET city = 'Baunatal' WHERE id <> 'nach-restore';
            """)
        let synced = try deployment.sync(kassel)
        #expect(synced.succeeded, "\(synced.stderr)")
        #expect(synced.stdout.contains("older copy"), "\(synced.stdout)")
        #expect(try deployment.sync(kassel).succeeded)
        try expectConverged(deployment, [(kassel, kassel)])
        #expect(try readRow(db, "organisations", "nach-kopie") != nil, "what the hub had from after the copy came back")
        #expect(try readRow(deployment.hubPath, "organisations", "nach-restore") != nil, "the copy's new write reached the hub")
        let older = try #require(try keys(copy, "organisations", centre: kassel).sorted().first)
        #expect(try readRow(deployment.hubPath, "organisations", older)?["city"] == .text("Baunatal"), "the copy's new edit of an older row too")

        let status = try runChecked(deployment.wirsync, ["status", "--db", db])
        let recovery = try #require(status.split(separator: "\n").first { $0.hasPrefix("Recovery") }, "\(status)")
        #expect(recovery.contains("older copy of the replica \(lostWithThePC ?? "?")"))
        #expect(try deployment.status(kassel)["origin"] as? String != lostWithThePC, "it goes on under a new name")
    }

    /// The same replica file copied to a second PC, and both used at once: every write of
    /// each reaches the hub and the other, none twice.
    @Test func twoCopiesOfOneFileWritingAtOnceLoseNothing() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let first = try deployment.centre(kassel)
        try sqlite3(first, try sample(deployment, kassel, rows: 30, seed: 8))
        #expect(try deployment.sync(kassel).succeeded)
        let second = deployment.path("kassel-kopie")
        try sqlite3(first, ".backup '\(second)'")
        try FileManager.default.copyItem(atPath: first + ".token", toPath: second + ".token")

        for round in 0..<3 {
            try sqlite3(first, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('eins-\(round)', '\(kassel)', 'Erster PC \(round)', 'Verein');")
            try sqlite3(second, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('zwei-\(round)', '\(kassel)', 'Zweiter PC \(round)', 'Verein');")
            try sqlite3(second, "UPDATE projects SET participants = \(round + 10) WHERE rowid % 2 = 0;")
            for file in round % 2 == 0 ? [kassel, "kassel-kopie"] : ["kassel-kopie", kassel] {
                let result = try deployment.sync(file)
                #expect(result.succeeded, "round \(round), \(file): \(result.stderr)")
            }
        }
        for file in [kassel, "kassel-kopie"] { #expect(try deployment.sync(file).succeeded) }
        try expectConverged(deployment, [(kassel, kassel), ("kassel-kopie", kassel)])
        for round in 0..<3 {
            for key in ["eins-\(round)", "zwei-\(round)"] {
                #expect(try readRow(deployment.hubPath, "organisations", key) != nil, "\(key) reached the hub")
            }
        }
        let origins = try [kassel, "kassel-kopie"].map { try deployment.status($0)["origin"] as? String ?? "" }
        #expect(origins[0] != origins[1], "one of the copies went on as a replica of its own")
    }

    /// A copy of the Landkreis Kassel's file on a second PC pushes under the name both copies
    /// share; then the hub is restored from a backup older than that push, and only HMSI's
    /// replica still holds it. HMSI offers it again, under that shared name; the first PC,
    /// which never wrote it, must still pull it.
    @Test func whatOnlyAnotherCentreKeptOfACopysWritesReachesTheFirstPC() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        for node in [kassel, Node.hmsi] { try deployment.centre(node) }
        try sqlite3(deployment.path(kassel), try sample(deployment, kassel, rows: 20, seed: 12))
        for node in [kassel, Node.hmsi] { #expect(try deployment.sync(node).succeeded) }
        deployment.stopHub()
        let backup = deployment.directory.path("hub-backup.db")
        try FileManager.default.copyItem(atPath: deployment.hubPath, toPath: backup)
        try deployment.startHub(port: deployment.hubPort)

        let second = deployment.path("kassel-kopie")
        try sqlite3(deployment.path(kassel), ".backup '\(second)'")
        try FileManager.default.copyItem(atPath: deployment.path(kassel) + ".token", toPath: second + ".token")
        try sqlite3(second, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('von-der-kopie', '\(kassel)', 'Von der Kopie', 'Verein');")
        for node in ["kassel-kopie", Node.hmsi] { #expect(try deployment.sync(node).succeeded) }

        deployment.stopHub()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: deployment.hubPath + suffix) }
        try FileManager.default.copyItem(atPath: backup, toPath: deployment.hubPath)
        try deployment.startHub(port: deployment.hubPort)
        for node in [Node.hmsi, kassel, "kassel-kopie", kassel, "kassel-kopie", Node.hmsi] {
            let result = try deployment.sync(node)
            #expect(result.succeeded, "\(node): \(result.stderr)")
        }
        #expect(try readRow(deployment.path(kassel), "organisations", "von-der-kopie") != nil, "the first PC has the copy's row")
        try expectConverged(deployment, [(kassel, kassel), ("kassel-kopie", kassel), (Node.hmsi, nil)])
    }

    // MARK: The hub restored from an older backup

    /// The hub is restored from a backup taken before the centres' last syncs. With
    /// `grownPastTheCursor`, other centres push before the Landkreis Kassel syncs, so the
    /// restored log grows past its cursor again (a cursor check alone would see nothing).
    /// Every replica finds the restore, offers again what the hub lost, and all converge.
    @Test(arguments: [false, true])
    func aHubRestoreIsFoundAndNothingIsLost(grownPastTheCursor: Bool) throws {
        let deployment = try Deployment()
        try deployment.startHub()
        for node in [kassel, "fulda", Node.hmsi] { try deployment.centre(node) }
        try sqlite3(deployment.path(kassel), try sample(deployment, kassel, rows: 30, seed: 9))
        try sqlite3(deployment.path("fulda"), try sample(deployment, "fulda", rows: 30, seed: 10))
        for node in [kassel, "fulda", Node.hmsi] { #expect(try deployment.sync(node).succeeded) }

        // Last night's backup, a plain copy of the stopped hub's file.
        deployment.stopHub()
        let backup = deployment.directory.path("hub-backup.db")
        try FileManager.default.copyItem(atPath: deployment.hubPath, toPath: backup)
        try deployment.startHub(port: deployment.hubPort)

        // A day's work after it: new rows, and a conflict between HMSI and the centre.
        let project = try #require(try keys(deployment.path(kassel), "projects", centre: kassel).sorted().first)
        try sqlite3(deployment.path(Node.hmsi), "UPDATE projects SET title = 'Titel von HMSI' WHERE id = '\(project)';")
        try sqlite3(deployment.path(kassel), """
            UPDATE projects SET title = 'Titel des Zentrums' WHERE id = '\(project)';
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('nach-backup', '\(kassel)', 'Nach dem Backup', 'Verein');
            """)
        try sqlite3(deployment.path("fulda"), "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('fulda-neu', 'fulda', 'Fulda neu', 'Verein');")
        for node in [Node.hmsi, kassel, "fulda", Node.hmsi] { #expect(try deployment.sync(node).succeeded, "\(node)") }
        let conflictsBefore = try count(deployment.hubPath, "sync_conflicts")
        #expect(conflictsBefore == 1)

        // The hub's disk fails; it is restored from the backup.
        deployment.stopHub()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: deployment.hubPath + suffix) }
        try FileManager.default.copyItem(atPath: backup, toPath: deployment.hubPath)
        try deployment.startHub(port: deployment.hubPort)
        #expect(try readRow(deployment.hubPath, "organisations", "nach-backup") == nil, "the restore lost it")

        if grownPastTheCursor {
            try sqlite3(deployment.path("fulda"), try sample(deployment, "fulda", rows: 200, seed: 11))
            #expect(try deployment.sync("fulda").succeeded)
        }
        for node in [kassel, "fulda", Node.hmsi, kassel, "fulda"] {
            let result = try deployment.sync(node)
            #expect(result.succeeded, "\(node): \(result.stderr)")
        }
        try expectConverged(deployment, [(kassel, kassel), ("fulda", "fulda"), (Node.hmsi, nil)])
        #expect(try readRow(deployment.hubPath, "organisations", "nach-backup") != nil, "offered again by the Landkreis Kassel")
        #expect(try readRow(deployment.hubPath, "organisations", "fulda-neu") != nil, "offered again by Fulda")
        #expect(try readRow(deployment.hubPath, "projects", project)?["title"] == readRow(deployment.path(kassel), "projects", project)?["title"])
        #expect(try count(deployment.hubPath, "sync_conflicts") == conflictsBefore, "the lost conflict record is back, once")

        let status = try runChecked(deployment.hubBinary, ["status", "--db", deployment.hubPath])
        #expect(status.contains("restored from an older backup"), "\(status)")
        #expect(status.contains("every replica has re-synced"), "\(status)")
        #expect(status.contains("conflict records brought back from replicas: 1; lost and in no replica's mirror: 0"), "\(status)")
        let centreStatus = try runChecked(deployment.wirsync, ["status", "--db", deployment.path(kassel)])
        #expect(centreStatus.contains("the hub was restored from an older backup"), "\(centreStatus)")
    }

    /// The same on PostgreSQL, as its README runbook has it: last night's `pg_dump` taken while
    /// the hub serves, then the database dropped and `pg_restore`d. The restore detection finds
    /// it as it finds a file put back, and every replica offers again what the dump lacks.
    @Test func aPostgreSQLHubPutBackWithPgRestoreIsFoundAndNothingIsLost() async throws {
        let deployment = try Deployment(store: .postgres)
        try deployment.startHub()
        for node in [kassel, "fulda", Node.hmsi] { try deployment.centre(node) }
        try sqlite3(deployment.path(kassel), try sample(deployment, kassel, rows: 30, seed: 9))
        for node in [kassel, "fulda", Node.hmsi] { #expect(try deployment.sync(node).succeeded) }
        let dump = deployment.directory.path("hub.dump")
        try deployment.dumpHub(to: dump)

        try sqlite3(deployment.path(kassel), "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('nach-backup', '\(kassel)', 'Nach dem Backup', 'Verein');")
        try sqlite3(deployment.path("fulda"), "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('fulda-neu', 'fulda', 'Fulda neu', 'Verein');")
        for node in [kassel, "fulda", Node.hmsi] { #expect(try deployment.sync(node).succeeded, "\(node)") }

        deployment.stopHub()
        try deployment.restoreHub(from: dump)
        try deployment.startHub(port: deployment.hubPort)
        let store = try await deployment.openStore()
        defer { try? store.close() }
        #expect(try await readRow(store: store, "organisations", "nach-backup") == nil, "the restore lost it")

        for node in [kassel, "fulda", Node.hmsi, kassel, "fulda"] {
            let result = try deployment.sync(node)
            #expect(result.succeeded, "\(node): \(result.stderr)")
        }
        for (node, centre) in [(kassel, kassel), ("fulda", "fulda"), (Node.hmsi, nil)] {
            let hub = try await snapshot(store: store, versions: false, centre: centre)
            #expect(try snapshot(deployment.path(node), versions: false, centre: centre) == hub, "\(node) differs from the hub")
            #expect(try deployment.verify(node).succeeded, "\(node)")
        }
        #expect(try await readRow(store: store, "organisations", "nach-backup") != nil, "offered again by the Landkreis Kassel")
        #expect(try await readRow(store: store, "organisations", "fulda-neu") != nil, "offered again by Fulda")
        #expect(try await duplicateApplications(store: store) == 0, "a write was applied twice")
        let status = try runChecked(deployment.hubBinary, ["status", "--store", deployment.hubStore])
        #expect(status.contains("restored from an older backup"), "\(status)")
    }
}
