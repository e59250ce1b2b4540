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
        let replicas = try runChecked(deployment.hubBinary, ["replica", "list", "--db", deployment.hubPath])
        #expect(replicas.split(separator: "\n").contains { $0.hasPrefix("\(kassel) ") }, "the upgraded replica kept its acknowledgement: \(replicas)")
        #expect(!replicas.contains("copy of"), "nothing forked")
    }
}
