import Foundation
import GRDB
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 7 through an upgrade: a hub and replicas made by wirsync 1 (`Tests/Fixtures/v1`,
/// made by its binaries with data synced, a conflict mirrored and changes still pending)
/// are opened by this version in place.
@Suite("Invariant 7 — upgrade: files of wirsync 1 upgrade in place", .timeLimit(.minutes(3)))
struct UpgradeTests {
    let kassel = "landkreis-kassel"

    @Test func aReplicaAndAHubOfWirsync1UpgradeInPlaceKeepingDataAndPendingChanges() throws {
        let deployment = try Deployment()
        for file in [deployment.hubPath, deployment.hubPath + "-wal", deployment.hubPath + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
        try FileManager.default.copyItem(atPath: wirsync1Fixture("hub.sqlite"), toPath: deployment.hubPath)
        for node in [kassel, Node.hmsi] {
            try FileManager.default.copyItem(atPath: wirsync1Fixture("\(node).sqlite"), toPath: deployment.path(node))
            try FileManager.default.copyItem(atPath: wirsync1Fixture("\(node).token"), toPath: deployment.path(node) + ".token")
            chmod(deployment.path(node) + ".token", 0o600)
        }
        let before = try snapshot(deployment.path(kassel), versions: false)
        let pending = Int(try sqlite3(deployment.path(kassel), "SELECT count(*) FROM sync_log WHERE seq > (SELECT acked FROM sync_state);")
            .trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(pending == 14, "the fixture holds 14 changes not yet pushed")

        // The replica upgrades when this wirsync first opens it: data, pending changes and name kept.
        let status = try deployment.status(kassel)
        #expect(status["pending"] as? Int == pending)
        #expect(status["origin"] as? String == kassel, "a replica of wirsync 1 keeps its centre id as its name")
        #expect(try snapshot(deployment.path(kassel), versions: false) == before)

        try deployment.startHub()
        try holdHistory(hub: deployment.hubPath)
        let list = try runChecked(deployment.hubBinary, ["centre", "list", "--db", deployment.hubPath, "--json"])
        #expect(list.contains(#""node":"landkreis-kassel","open_conflicts":1,"token":"active""#), "\(list)")
        for node in [kassel, Node.hmsi, kassel] {
            let synced = try deployment.sync(node)
            #expect(synced.succeeded, "\(node): \(synced.stderr)")
            #expect(!synced.stdout.contains("Repaired"), "an upgrade is not a restore: \(synced.stdout)")
        }
        for node in [kassel, Node.hmsi] {
            #expect(try deployment.verify(node).succeeded, "\(node)")
            #expect(try deployment.status(node)["pending"] as? Int == 0)
        }
        #expect(try readRow(deployment.hubPath, "organisations", try #require(before.tables["organisations"]?.last?.first.flatMap {
            if case .text(let key) = $0 { key } else { nil }
        }))?["city"] == .text("Hofgeismar"), "a pending change of wirsync 1 reached the hub")
        #expect(try runChecked(deployment.wirsync, ["conflicts", "list", "--db", deployment.path(kassel)]).contains("Titel"), "the mirror is kept")
        #expect(try duplicateApplications(hub: deployment.hubPath) == 0)
        // The log of wirsync 1 kept every value it applied; upgraded, it keeps none, and one live entry per row.
        let hubSQL = { (sql: String) in try sqlite3(deployment.hubPath, sql).trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(try hubSQL("SELECT count(*) FROM sync_hub_log WHERE body IS NOT NULL;") == "0")
        #expect(try hubSQL("SELECT count(*) FROM (SELECT 1 FROM sync_hub_log WHERE op < 4 AND superseded IS NULL GROUP BY tbl, pk HAVING count(*) > 1);") == "0")
        let replicas = try runChecked(deployment.hubBinary, ["replica", "list", "--db", deployment.hubPath])
        #expect(replicas.split(separator: "\n").contains { $0.hasPrefix("\(kassel) ") }, "the upgraded replica kept its acknowledgement: \(replicas)")
        #expect(!replicas.contains("copy of"), "nothing forked")

        // The upgraded hub learned from its built-in manifest which columns only HMSI decides:
        // the replica of wirsync 1 was told nothing of it and lets a write of one through; the hub refuses it.
        let flag = "SELECT c.hmsi_only FROM sync_columns c JOIN sync_tables t ON t.id = c.tbl WHERE t.name = 'projects' AND c.name = 'approved_cents';"
        #expect(try sqlite3(deployment.hubPath, flag).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let project = try sqlite3(deployment.path(kassel), "SELECT id FROM projects ORDER BY id LIMIT 1;").trimmingCharacters(in: .whitespacesAndNewlines)
        let approved = try readRow(deployment.hubPath, "projects", project)?["approved_cents"]
        _ = try sqlite3(deployment.path(kassel), "UPDATE projects SET approved_cents = 7 WHERE id = '\(project)';")
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try deployment.status(kassel)["refused"] as? Int == 1)
        #expect(try readRow(deployment.hubPath, "projects", project)?["approved_cents"] == approved)
    }
}
