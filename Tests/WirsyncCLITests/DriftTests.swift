import Foundation
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 7 through a tool that rebuilds or changes a replicated table: sqlite-utils, as
/// centre staff use it. The drift is found on the next `status` and `sync`, nothing is synced
/// while it lasts, and `wirsync repair` brings the table back and captures what was written
/// while capture was off, so it reaches the hub (docs/schema-evolution.md, "Drift").
@Suite("Invariant 7 — drift: a table rebuilt or changed by a tool is found, and repaired losing nothing", .timeLimit(.minutes(3)))
struct DriftTests {
    let kassel = "landkreis-kassel"

    private func sqliteUtils(_ arguments: [String]) throws {
        let result = try run("/usr/bin/sqlite-utils", arguments)
        guard result.succeeded else { throw CLIFailure(message: "sqlite-utils \(arguments): \(result.stderr)") }
    }

    struct CLIFailure: Error { var message: String }

    @Test func aRenamingRebuildStopsTheSyncAndRepairCapturesWhatWasWrittenMeanwhile() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        defer { deployment.stopHub() }
        let db = try deployment.centre(kassel)
        _ = try sqlite3(db, """
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone)
            VALUES ('v-1', '\(kassel)', 'Laiendolmetschende', 'Amina', 'Haddad', 'de,ar', 'keine', '0561 100');
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone)
            VALUES ('v-2', '\(kassel)', 'Integrationslotse', 'Oleh', 'Kovalenko', 'de,uk', 'keine', '0561 200');
            """)
        #expect(try deployment.sync(kassel).succeeded)

        // A rebuild that renames a column: every capture trigger of the table goes with the old table.
        try sqliteUtils(["transform", db, "volunteers", "--rename", "phone", "telefon"])
        _ = try sqlite3(db, """
            UPDATE volunteers SET telefon = '0561 999' WHERE id = 'v-1';
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification)
            VALUES ('v-3', '\(kassel)', 'Integrationslotse', 'Sara', 'Tesfaye', 'de,ti', 'Basisqualifizierung');
            DELETE FROM volunteers WHERE id = 'v-2';
            """)
        // sqlite-utils adds a column a tool wants: it would stay on this PC.
        try sqliteUtils(["add-column", db, "organisations", "notes", "text"])

        let status = try runChecked(deployment.wirsync, ["status", "--db", db])
        #expect(status.contains("Drift"), "\(status)")
        #expect(status.contains("volunteers: its"), "\(status)")
        #expect(status.contains("column notes added by hand"), "\(status)")
        let refused = try deployment.sync(kassel)
        #expect(!refused.succeeded)
        #expect(refused.stderr.split(separator: "\n").count == 1, "one line: \(refused.stderr)")
        #expect(refused.stderr.contains("replicated column phone missing") && refused.stderr.contains("wirsync repair"), "\(refused.stderr)")
        #expect(try readRow(deployment.hubPath, "volunteers", "v-3") == nil, "nothing is pushed while drift lasts")

        let repaired = try runChecked(deployment.wirsync, ["repair", "--db", db])
        #expect(repaired.contains("volunteers.telefon → phone"), "\(repaired)")
        #expect(repaired.contains("organisations.notes"), "\(repaired)")
        #expect(FileManager.default.fileExists(atPath: db + ".organisations.notes.csv"))
        #expect(try runChecked(deployment.wirsync, ["repair", "--db", db]).contains("nothing to repair"))

        #expect(try deployment.sync(kassel).succeeded)
        #expect(try readRow(deployment.hubPath, "volunteers", "v-1")?["phone"] == .text("0561 999"), "the write made while capture was off")
        #expect(try readRow(deployment.hubPath, "volunteers", "v-3")?["given_name"] == .text("Sara"))
        #expect(try readRow(deployment.hubPath, "volunteers", "v-2") == nil, "the delete made while capture was off")
        #expect(try deployment.verify(kassel).succeeded)

        // Capture works again: the next write is captured by the triggers themselves.
        _ = try sqlite3(db, "UPDATE volunteers SET languages = 'de,ar,fr' WHERE id = 'v-1';")
        #expect(try deployment.status(kassel)["pending"] as? Int == 1)
        #expect(try deployment.sync(kassel).succeeded)
        #expect(try readRow(deployment.hubPath, "volunteers", "v-1")?["languages"] == .text("de,ar,fr"))
    }

    @Test func aDroppedReplicatedColumnIsNotRepairedBlindly() throws {
        let deployment = try Deployment()
        let db = try deployment.centre(kassel)
        try sqliteUtils(["transform", db, "organisations", "--drop", "city"])
        let before = try sqlite3(db, "SELECT sql FROM sqlite_master ORDER BY name;")
        let refused = try run(deployment.wirsync, ["repair", "--db", db])
        #expect(!refused.succeeded)
        #expect(refused.stderr.contains("replicated column city missing") && refused.stderr.contains("put the column back"), "\(refused.stderr)")
        #expect(try sqlite3(db, "SELECT sql FROM sqlite_master ORDER BY name;") == before, "a refused repair changes nothing")
    }
}
