import Foundation
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing
import WIRSchema

/// Invariant 7 for schema changes: only a migration an offline fleet can live with is
/// installed (docs/schema-evolution.md, "Rules for a migration"); any other is refused when
/// the schema is installed, naming the rule and the two-step way, and nothing is changed.
@Suite("Invariant 7 — schema rules: only additive migrations are installed")
struct MigrationRulesTests {
    static let version1 = """
        CREATE TABLE notes (
            id        TEXT PRIMARY KEY NOT NULL,
            centre_id TEXT NOT NULL,
            body      TEXT,           -- the note itself
            kind      TEXT NOT NULL CHECK (kind IN ('a', 'b')),
            hours     INTEGER
        ) STRICT;
        """

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var migration: String
        /// nil: installed; else a phrase the refusal names.
        var refusal: String?
        var oldestSupported: Int = 1
        var scope: Scope = .centre
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "add a nullable column", migration: "ALTER TABLE notes ADD COLUMN tag TEXT;", refusal: nil),
        Case(name: "add a NOT NULL column with a default", migration: "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;", refusal: nil),
        Case(name: "add a table and an index", migration: """
            CREATE TABLE labels (id TEXT PRIMARY KEY NOT NULL, centre_id TEXT NOT NULL, label TEXT NOT NULL) STRICT;
            CREATE INDEX notes_kind ON notes(kind);
            """, refusal: nil),
        Case(name: "add a NOT NULL column without a default", migration: """
            CREATE TABLE notes_new (id TEXT PRIMARY KEY NOT NULL, centre_id TEXT NOT NULL, body TEXT,
                kind TEXT NOT NULL CHECK (kind IN ('a', 'b')), hours INTEGER, owner TEXT NOT NULL) STRICT;
            INSERT INTO notes_new SELECT *, '' FROM notes; DROP TABLE notes; ALTER TABLE notes_new RENAME TO notes;
            """, refusal: "NOT NULL without a default"),
        Case(name: "drop a column", migration: "ALTER TABLE notes DROP COLUMN hours;", refusal: "drops or renames notes.hours"),
        Case(name: "rename a column", migration: "ALTER TABLE notes RENAME COLUMN body TO text;", refusal: "drops or renames notes.body"),
        Case(name: "re-type a column", migration: rebuilt("hours REAL"), refusal: "changes the type of notes.hours"),
        Case(name: "narrow a CHECK", migration: rebuilt("kind TEXT NOT NULL CHECK (kind IN ('a'))"), refusal: "changes the definition of notes.kind"),
        Case(name: "add a CHECK", migration: rebuilt("hours INTEGER CHECK (hours > 0)"), refusal: "changes the definition of notes.hours"),
        Case(
            name: "widen a CHECK while version 1 is served", migration: rebuilt("kind TEXT NOT NULL CHECK (kind IN ('a', 'b', 'c'))"),
            refusal: "widens the CHECK of notes.kind (adds 'c')"),
        Case(
            name: "widen a CHECK once version 1 is not served", migration: rebuilt("kind TEXT NOT NULL CHECK (kind IN ('a', 'b', 'c'))"),
            refusal: nil, oldestSupported: 2),
        Case(name: "drop the table", migration: "DROP TABLE notes;", refusal: "drops or renames the table notes"),
        Case(name: "change the scope", migration: "CREATE INDEX notes_body ON notes(body);", refusal: "cannot change scope", scope: .reference),
    ]

    /// Migration 2 as a table rebuild (the only way SQLite changes a column) with one column's definition replaced.
    static func rebuilt(_ replacement: String) -> String {
        let name = String(replacement.prefix { $0 != " " })
        var columns = [
            "id TEXT PRIMARY KEY NOT NULL", "centre_id TEXT NOT NULL", "body TEXT", "kind TEXT NOT NULL CHECK (kind IN ('a', 'b'))", "hours INTEGER",
        ]
        columns = columns.map { $0.hasPrefix(name + " ") ? replacement : $0 }
        return """
            CREATE TABLE notes_new (\(columns.joined(separator: ", "))) STRICT;
            INSERT INTO notes_new SELECT * FROM notes; DROP TABLE notes; ALTER TABLE notes_new RENAME TO notes;
            """
    }

    /// The rows, the SQL of every table, index and trigger, and the engine's record of the columns.
    private func state(_ path: String) throws -> String {
        try sqlite3(path, "SELECT * FROM notes; SELECT type, name, sql FROM sqlite_master ORDER BY name; SELECT * FROM sync_columns;")
    }

    @Test(arguments: cases)
    func aMigrationIsInstalledOnlyIfTheRulesAllowIt(_ rule: Case) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("notes.db")
        let version1 = try SchemaDefinition(
            name: "notes", version: 1, tables: [.init(name: "notes", scope: .centre)], migrations: [.init(version: 1, sql: Self.version1)])
        _ = try Replica.initialise(path: path, node: kassel, hubURL: nil, schema: version1)
        try sqlite3(path, "INSERT INTO notes (id, centre_id, body, kind) VALUES ('n1', '\(kassel)', 'Elternabend', 'a');")
        let version2 = try SchemaDefinition(
            name: "notes", version: 2, oldestSupported: rule.oldestSupported, tables: [.init(name: "notes", scope: rule.scope)],
            migrations: [.init(version: 1, sql: Self.version1), .init(version: 2, sql: rule.migration)])
        let before = try state(path)

        // Upgrading a replica in place, and installing both versions into a new file, judge alike
        // (a new file has no scope to change).
        let fresh = rule.scope == .centre ? directory.path("fresh.db") : nil
        for target in [path] + (fresh.map { [$0] } ?? []) {
            if let refusal = rule.refusal {
                #expect {
                    try Replica.initialise(path: target, node: kassel, hubURL: nil, schema: version2)
                } throws: { error in
                    let message = "\(error)"
                    return message.contains(refusal) && (message.contains("Instead:") || message.contains("Two steps:"))
                }
            } else {
                _ = try Replica.initialise(path: target, node: kassel, hubURL: nil, schema: version2)
            }
        }
        if rule.refusal != nil {
            #expect(try state(path) == before, "a refused migration changes nothing")
            #expect(try Replica.open(path: path).schema.version == 1)
            if let fresh { #expect(!FileManager.default.fileExists(atPath: fresh), "a refused creation leaves no file") }
        } else {
            #expect(try Replica.open(path: path).schema.version == 2)
        }
    }

    @Test func theShippedSchemaFollowsTheRules() throws {
        let schema = try WIRSchema.definition()
        #expect(schema.version == 2 && schema.oldestSupported == 1)
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let projects = try #require(replica.schema.table(named: "projects"))
        #expect(projects.since == 1)
        #expect(projects.column(named: "foerderkennzeichen")?.since == 2)
        #expect(projects.column(named: "title")?.since == 1)
        #expect(replica.schema.table(named: "courses")?.since == 2)
        let version1 = replica.schema.view(version: 1)
        #expect(version1.table(named: "courses") == nil)
        #expect(version1.table(named: "projects")?.column(named: "foerderkennzeichen") == nil)
        #expect(version1.table(named: "projects")?.column(named: "title") != nil)
    }
}
