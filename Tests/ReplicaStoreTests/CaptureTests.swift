import Foundation
import GRDB
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Invariant 1 — capture: every committed write lands in the change log, from any tool", .timeLimit(.minutes(5)))
struct CaptureTests {
    let organisationColumns = ["centre_id", "name", "kind", "city", "contact_email", "founded_year", "logo"]

    @Test func theSQLite3ShellIsCapturedWithNoneOfOurCodeLoaded() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try sqlite3(replica.path, """
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('org-1', 'landkreis-kassel', 'Kulturbrücke', 'Verein');
            UPDATE organisations SET city = 'Kassel', founded_year = 1999 WHERE id = 'org-1';
            DELETE FROM organisations WHERE id = 'org-1';
            """)
        let changes = try capturedChanges(replica.path)
        #expect(changes.map(\.op) == ["insert", "update", "update", "delete"])
        #expect(changes.allSatisfy { $0.table == "organisations" && $0.pk == "org-1" })
        #expect(changes[0].columns == organisationColumns)
        #expect(Set(changes[1...2].map(\.columns)) == [["city"], ["founded_year"]], "one entry per changed column")
        #expect(changes[3].columns.isEmpty)
    }

    @Test func pythonsSQLiteModuleIsCaptured() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try pythonSQLite(replica.path, """
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification)
            VALUES ('v-1', 'landkreis-kassel', 'Laiendolmetschende', 'Olena', 'Kovalenko', 'de,uk,ru', 'Basisqualifizierung');
            UPDATE volunteers SET languages = 'de,uk' WHERE id = 'v-1';
            """)
        let changes = try capturedChanges(replica.path)
        #expect(changes.map(\.op) == ["insert", "update"])
        #expect(changes.last?.columns == ["languages"])
    }

    @Test func capturedChangesCarryTheValuesAsWritten() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try sqlite3(replica.path, """
            INSERT INTO organisations (id, centre_id, name, kind, logo) VALUES ('org-1', 'landkreis-kassel', 'Café International', 'Verein', X'00FF');
            UPDATE organisations SET founded_year = 9007199254740993 WHERE id = 'org-1';
            """)
        let batch = try replica.outgoing(limit: 10)
        #expect(batch.changes.count == 2)
        let insert = try #require(batch.changes.first)
        #expect(insert.op == .insert)
        #expect(insert.centre == kassel)
        #expect(insert.values["name"] == .text("Café International"))
        #expect(insert.values["logo"] == .blob(Data([0x00, 0xFF])))
        #expect(batch.changes.last?.values == ["founded_year": .integer(9_007_199_254_740_993)])
        let origin = try replica.status().origin
        #expect(origin.hasPrefix("\(kassel).") && Origin.isWellFormed(origin), "a replica is a node of its own: \(origin)")
        #expect(batch.changes.map(\.origin) == [origin, origin])
    }

    @Test func anUpdateOfOneColumnLogsOneColumnAndANoOpUpdateLogsNothing() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try sqlite3(replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('org-1', 'landkreis-kassel', 'A', 'Verein');")
        try sqlite3(replica.path, """
            UPDATE organisations SET name = 'B' WHERE id = 'org-1';
            UPDATE organisations SET name = 'B', kind = 'Verein' WHERE id = 'org-1';
            UPDATE organisations SET name = 'B', kind = 'Verband', city = NULL WHERE id = 'org-1';
            UPDATE organisations SET name = name;
            UPDATE organisations SET city = 'Kassel' WHERE id = 'nobody';
            """)
        let changes = try capturedChanges(replica.path)
        #expect(changes.count == 3)
        #expect(Set(changes.dropFirst().map(\.columns)) == [["name"], ["kind"]], "only the columns whose value changed")
    }

    @Test func aRolledBackTransactionLogsNothing() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try sqlite3(replica.path, """
            BEGIN;
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('org-1', 'landkreis-kassel', 'A', 'Verein');
            ROLLBACK;
            """)
        let writer = try openWriter(replica.path)
        struct Abandon: Error {}
        #expect(throws: Abandon.self) {
            try writer.write { db in
                try insert("organisations", pk: "org-2", values: organisation("B"), into: db)
                throw Abandon()
            }
        }
        #expect(try capturedChanges(replica.path).isEmpty)
        #expect(try count(replica.path, "organisations") == 0)
    }

    @Test func writesFromSeveralConnectionsAreAllCapturedInCommitOrder() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let first = try openWriter(replica.path)
        let second = try openWriter(replica.path)
        for index in 0..<20 {
            let writer = index.isMultiple(of: 2) ? first : second
            try writer.write { db in try insert("organisations", pk: "org-\(index)", values: organisation("O\(index)"), into: db) }
            if index.isMultiple(of: 5) {
                try sqlite3(replica.path, "UPDATE organisations SET city = 'Baunatal' WHERE id = 'org-\(index)';")
            }
        }
        let changes = try capturedChanges(replica.path)
        #expect(changes.filter { $0.op == "insert" }.map(\.pk) == (0..<20).map { "org-\($0)" })
        #expect(changes.count == 24)
        #expect(try replica.status().pending == 24)
    }

    @Test func aCentreReplicaRefusesAnotherCentresRowsAndReferenceData() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let foreign = try run("/usr/bin/sqlite3", [replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o', 'kassel', 'X', 'Verein');"])
        #expect(foreign.status != 0)
        #expect(foreign.stderr.contains("wirsync: organisations.centre_id must be landkreis-kassel on this replica (scope)"))
        let reference = try run("/usr/bin/sqlite3", [replica.path, "INSERT INTO funding_lines VALUES ('x', 'X', 'X', 0.5, NULL, 'test');"])
        #expect(reference.status != 0)
        #expect(reference.stderr.contains("funding_lines is reference data; only HMSI writes it (scope)"))
        #expect(try capturedChanges(replica.path).isEmpty)
        #expect(try count(replica.path, "organisations") == 0)
    }

    @Test func primaryKeysAndCentreNeverChange() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(Node.hmsi, in: directory)
        try sqlite3(replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o', 'kassel', 'X', 'Verein');")
        for sql in ["UPDATE organisations SET id = 'p';", "UPDATE organisations SET centre_id = 'fulda';"] {
            let result = try run("/usr/bin/sqlite3", [replica.path, sql])
            #expect(result.status != 0)
            #expect(result.stderr.contains("organisations.id and organisations.centre_id never change"))
        }
        #expect(try capturedChanges(replica.path).count == 1)
    }

    @Test func theHMSIReplicaWritesEverythingAndRecordsEachRowsCentre() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(Node.hmsi, in: directory)
        try sqlite3(replica.path, """
            INSERT INTO funding_lines VALUES ('neu', 'Neue Förderlinie', 'New line', 0.8, 10000, 'test');
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o1', 'kassel', 'X', 'Verein');
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o2', 'fulda', 'Y', 'Verein');
            DELETE FROM organisations WHERE id = 'o2';
            """)
        let batch = try replica.outgoing(limit: 10)
        #expect(batch.changes.map(\.centre) == [nil, "kassel", "fulda"])
        #expect(batch.changes.map(\.op) == [.insert, .insert, .delete])
        #expect(batch.changes.first?.values["max_share"] == .real(0.8))
    }
}
