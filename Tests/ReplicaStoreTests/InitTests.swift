import Foundation
import GRDB
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing
import WIRSchema

@Suite("Creating, opening and migrating a replica", .timeLimit(.minutes(5)))
struct InitTests {
    @Test func initCreatesAWALReplicaWithSchemaTriggersAndIdentity() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let (mode, triggers, tables) = try DatabaseQueue(path: replica.path).read { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync%'"),
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sync_%' ORDER BY name")
            )
        }
        #expect(mode == "wal")
        let expected = replica.schema.tables.map { table in
            table.scope == .reference ? 3 : 3 + table.columns.count - 1
        }.reduce(0, +)
        #expect(triggers == expected, "reference: 3 refusals; centre: key, insert, delete and one update trigger per column but centre_id")
        #expect(tables == (domainTables + ["grdb_migrations"]).sorted(), "domain tables, sync_*, and GRDB's record of the engine's layout steps")
        let status = try replica.status()
        #expect(status.centre == kassel)
        #expect(status.schemaVersion == 2)
        #expect(status.pending == 0)
        #expect(status.cursor == 0)
    }

    @Test func initRefusesAnExistingReplica() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        #expect {
            try Replica.initialise(path: replica.path, node: kassel, hubURL: nil, schema: try WIRSchema.definition())
        } throws: { error in
            guard case ReplicaError.alreadyInitialised = error else { return false }
            return true
        }
        #expect {
            try Replica.initialise(path: replica.path, node: "kassel", hubURL: nil, schema: try WIRSchema.definition())
        } throws: { error in
            guard case ReplicaError.belongsToOtherNode = error else { return false }
            return true
        }
    }

    @Test(arguments: ["plain SQLite database", "text file"])
    func initAndOpenRefuseAFileThatIsNotAReplicaAndLeaveItAlone(kind: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("other.db")
        if kind == "text file" {
            try "Einsatzliste\n".write(toFile: path, atomically: true, encoding: .utf8)
        } else {
            try sqlite3(path, "CREATE TABLE kontakte (name TEXT); INSERT INTO kontakte VALUES ('Ayşe');")
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: ReplicaError.self) {
            try Replica.initialise(path: path, node: kassel, hubURL: nil, schema: try WIRSchema.definition())
        }
        #expect(throws: ReplicaError.self) { try Replica.open(path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func openingAMissingFileCreatesNothing() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("missing.db")
        #expect {
            try Replica.open(path: path)
        } throws: { error in
            guard case ReplicaError.notFound = error else { return false }
            return true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
    }

    @Test func aNewerSchemaMigratesTheReplicaAndKeepsDataAndPendingChanges() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("notes.db")
        let version1 = try notesSchema(version: 1)
        _ = try Replica.initialise(path: path, node: kassel, hubURL: nil, schema: version1)
        try sqlite3(path, "INSERT INTO notes (id, centre_id, body) VALUES ('n1', 'landkreis-kassel', 'Erste Notiz');")

        let (replica, outcome) = try Replica.initialise(path: path, node: kassel, hubURL: "https://hub.example", schema: notesSchema(version: 2))
        #expect(outcome == .migrated(from: 1))
        #expect(try replica.status().schemaVersion == 2)
        #expect(try replica.status().hubURL == "https://hub.example")
        #expect(try readRow(path, "notes", "n1")?["body"] == .text("Erste Notiz"))

        try sqlite3(path, """
            UPDATE notes SET tag = 'wichtig' WHERE id = 'n1';
            INSERT INTO labels (id, centre_id, label) VALUES ('l1', 'landkreis-kassel', 'Ehrenamt');
            """)
        #expect(try capturedChanges(path) == [
            CapturedChange(table: "notes", pk: "n1", op: "insert", columns: ["centre_id", "body", "tag"]),
            CapturedChange(table: "notes", pk: "n1", op: "update", columns: ["tag"]),
            CapturedChange(table: "labels", pk: "l1", op: "insert", columns: ["centre_id", "label"]),
        ])
        #expect {
            try Replica.initialise(path: path, node: kassel, hubURL: nil, schema: version1)
        } throws: { error in
            guard case ReplicaError.newerSchema = error else { return false }
            return true
        }
    }

    @Test func aFailedCreationLeavesNoFileBehind() throws {
        let directory = try TemporaryDirectory()
        let broken = try SchemaDefinition(
            name: "broken", version: 1, tables: [.init(name: "missing", scope: .centre)],
            migrations: [.init(version: 1, sql: "CREATE TABLE other (id TEXT PRIMARY KEY) STRICT;")])
        #expect(throws: ReplicaError.self) {
            try Replica.initialise(path: directory.path("broken.db"), node: kassel, hubURL: nil, schema: broken)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
    }

    /// A small schema in two versions: v2 adds a column and a table.
    private func notesSchema(version: Int) throws -> SchemaDefinition {
        var migrations = [SchemaDefinition.Migration(version: 1, sql: """
            CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, centre_id TEXT NOT NULL, body TEXT) STRICT;
            """)]
        var tables = [SchemaDefinition.Table(name: "notes", scope: .centre)]
        if version >= 2 {
            migrations.append(.init(version: 2, sql: """
                ALTER TABLE notes ADD COLUMN tag TEXT;
                CREATE TABLE labels (id TEXT PRIMARY KEY NOT NULL, centre_id TEXT NOT NULL, label TEXT NOT NULL) STRICT;
                """))
            tables.append(.init(name: "labels", scope: .centre))
        }
        return try SchemaDefinition(name: "notes", version: version, tables: tables, migrations: migrations)
    }
}
