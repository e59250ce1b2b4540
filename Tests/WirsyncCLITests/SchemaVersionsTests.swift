import Foundation
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 7 through a schema change rolled out to part of the fleet
/// (docs/schema-evolution.md): a version-2 hub serves a version-1 centre beside a version-2
/// one, the old centre never erases what it cannot see, and it upgrades offline with its
/// pending change kept. The built binaries over HTTP, as deployed.
@Suite("Invariant 7 — schema versions: a mixed fleet syncs, and a centre upgrades offline", .timeLimit(.minutes(4)))
struct SchemaVersionsTests {
    let kassel = "landkreis-kassel"
    let fulda = "fulda"

    private func columns(_ path: String, _ table: String) throws -> [String] {
        try sqlite3(path, "SELECT name FROM pragma_table_info('\(table)');").split(separator: "\n").map(String.init)
    }

    @Test func aVersion1CentreAndAVersion2CentreSyncThroughAVersion2HubAndTheOldOneUpgrades() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        defer { deployment.stopHub() }
        try deployment.centre(kassel, schema: nil, ["--schema-version", "1"])
        try deployment.centre(fulda)
        try deployment.centre(Node.hmsi)
        #expect(try deployment.status(kassel)["schema_version"] as? Int == 1)
        #expect(try !columns(deployment.path(kassel), "projects").contains("foerderkennzeichen"))
        #expect(try sqlite3(deployment.path(kassel), "SELECT count(*) FROM sqlite_master WHERE name = 'courses';") == "0\n")

        // Kassel (version 1) enters a project; HMSI (version 2) gives it its Förderkennzeichen.
        _ = try sqlite3(deployment.path(kassel), """
            INSERT INTO projects (id, centre_id, funding_line_id, title, status)
            VALUES ('p-1', '\(kassel)', 'integrationslotsen', 'Lotsenprojekt Hofgeismar', 'beantragt');
            """)
        for node in [kassel, Node.hmsi] { #expect(try deployment.sync(node).succeeded, "\(node)") }
        _ = try sqlite3(deployment.path(Node.hmsi), "UPDATE projects SET foerderkennzeichen = 'WIR-2026-0042', approved_cents = 1200000 WHERE id = 'p-1';")
        #expect(try deployment.sync(Node.hmsi).succeeded)
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try readRow(deployment.path(kassel), "projects", "p-1")?["approved_cents"] == .integer(1_200_000), "a column of version 1 HMSI set")

        // Kassel writes the project again whole (INSERT OR REPLACE: captured as an insert of a row the
        // hub holds) and enters another: its writes leave the column it does not know alone.
        _ = try sqlite3(deployment.path(kassel), """
            INSERT OR REPLACE INTO projects (id, centre_id, funding_line_id, title, status)
            VALUES ('p-1', '\(kassel)', 'integrationslotsen', 'Lotsenprojekt Hofgeismar 2026', 'beantragt');
            INSERT INTO projects (id, centre_id, funding_line_id, title, status)
            VALUES ('p-2', '\(kassel)', 'laiendolmetschende', 'Dolmetschpool Wolfhagen', 'geplant');
            """)
        // Fulda (version 2) enters a Deutschkurs.
        _ = try sqlite3(deployment.path(fulda), """
            INSERT INTO courses (id, centre_id, title, level, hours, participants, women_only)
            VALUES ('c-1', '\(fulda)', 'MitSprache – Deutsch4U, Frauenkurs', 'A2', 60, 12, 1);
            """)
        for node in [kassel, fulda, Node.hmsi] { #expect(try deployment.sync(node).succeeded, "\(node)") }
        let p1 = try #require(try readRow(deployment.hubPath, "projects", "p-1"))
        #expect(p1["title"] == .text("Lotsenprojekt Hofgeismar 2026"))
        #expect(p1["foerderkennzeichen"] == .text("WIR-2026-0042"), "a version-1 write never erases a column it does not know")
        #expect(try readRow(deployment.hubPath, "projects", "p-2")?["foerderkennzeichen"] == .null)
        #expect(try readRow(deployment.path(Node.hmsi), "courses", "c-1")?["level"] == .text("A2"))
        for node in [kassel, fulda, Node.hmsi] { #expect(try deployment.verify(node).succeeded, "\(node): verify over the tables its version knows") }

        let status = try runChecked(deployment.hubBinary, ["status", "--db", deployment.hubPath])
        #expect(status.contains("serves versions 1 to 2"), "\(status)")
        #expect(status.contains("version 1: 1 (\(kassel)"), "\(status)")
        #expect(status.contains("version 2: 2"), "\(status)")

        // Kassel goes offline, writes, and upgrades with the new wirsync: its pending change stays.
        _ = try sqlite3(deployment.path(kassel), "UPDATE projects SET participants = 14 WHERE id = 'p-2';")
        #expect(try deployment.status(kassel)["pending"] as? Int == 1)
        let upgrade = try runChecked(deployment.wirsync, ["upgrade", "--db", deployment.path(kassel)])
        #expect(upgrade.contains("from schema version 1 to 2"), "\(upgrade)")
        let upgraded = try deployment.status(kassel)
        #expect(upgraded["schema_version"] as? Int == 2)
        #expect(upgraded["pending"] as? Int == 1, "the change captured under version 1 is kept")
        #expect(try columns(deployment.path(kassel), "projects").contains("foerderkennzeichen"))

        #expect(try deployment.sync(kassel).succeeded)
        #expect(try readRow(deployment.path(kassel), "projects", "p-1")?["foerderkennzeichen"] == .text("WIR-2026-0042"),
                "the whole pull after the upgrade fills the new column")
        #expect(try readRow(deployment.hubPath, "projects", "p-2")?["participants"] == .integer(14))
        #expect(try deployment.status(kassel)["pending"] as? Int == 0)
        for node in [kassel, fulda, Node.hmsi] {
            #expect(try deployment.sync(node).succeeded)
            #expect(try deployment.verify(node).succeeded, "\(node)")
        }
        // Kassel, now on version 2, enters a course of its own; Fulda's stays in Fulda's scope.
        _ = try sqlite3(deployment.path(kassel), """
            INSERT INTO courses (id, centre_id, title, level, women_only) VALUES ('c-2', '\(kassel)', 'Deutschkurs B1', 'B1', 0);
            """)
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try readRow(deployment.hubPath, "courses", "c-2")?["level"] == .text("B1"))
        #expect(try readRow(deployment.path(kassel), "courses", "c-1") == nil, "a course stays in its centre's scope")
    }

    @Test(arguments: StoreKind.tested) func aHubOfVersion1RefusesAVersion2ReplicaSayingWhichSideToUpdate(store: StoreKind) throws {
        let deployment = try Deployment(store: store, initArguments: ["--schema-version", "1"])
        try deployment.startHub()
        defer { deployment.stopHub() }
        try deployment.centre(kassel)
        let refused = try deployment.sync(kassel)
        #expect(!refused.succeeded)
        #expect(refused.stderr.contains("newer than the hub's"), "\(refused.stderr)")
        #expect(refused.stderr.contains("wirsync-hub upgrade"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "one line, no stack trace: \(refused.stderr)")

        // HMSI upgrades the hub (stopped); the same replica then syncs.
        deployment.stopHub()
        let upgraded = try runChecked(deployment.hubBinary, ["upgrade", "--store", deployment.hubStore])
        #expect(upgraded.contains("from schema version 1 to 2"), "\(upgraded)")
        try deployment.startHub()
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try deployment.verify(kassel).succeeded)
    }
}
