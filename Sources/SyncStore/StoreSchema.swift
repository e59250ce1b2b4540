package import GRDB
public import SyncCore

/// A replicated column as installed: its stable ordinal, declared type and nullability.
public struct ColumnSpec: Hashable, Sendable {
    /// Stable position of the column, recorded in the change log; never reused.
    public let ordinal: Int
    public let name: String
    /// Declared type, upper-cased (INTEGER, REAL, TEXT, BLOB, ANY).
    public let type: String
    public let notNull: Bool
    /// Only HMSI decides this column's value (the manifest's `hmsi_only`).
    public let hmsiOnly: Bool
    /// The schema version that added the column.
    public let since: Int
    /// The value of the column's DEFAULT, if it has one: what an insert of a replica that
    /// does not know the column leaves there.
    public let defaultValue: Value?
}

/// A replicated table as installed in a store.
public struct TableSpec: Hashable, Sendable {
    /// Local id of the table in this store (not sent on the wire).
    public let id: Int
    public let name: String
    public let scope: Scope
    public let primaryKey: String
    /// Every replicated column except the primary key, by ordinal.
    public let columns: [ColumnSpec]
    /// The same columns in name order, the order a change's values are written in JSON.
    public let columnsByName: [ColumnSpec]
    /// Positions in `columns`, by name and by ordinal: looked up for every value of every change.
    private let indexByName: [String: Int]
    private let indexByOrdinal: [Int: Int]
    /// Whether a column of this table is one only HMSI decides.
    public let hasHMSIOnlyColumns: Bool
    /// The tables the schema's foreign keys name, by column ordinal (single-column keys to a
    /// primary key): a centre may reference only rows of its own scope (docs/security.md).
    public let references: [Int: String]
    /// The schema version that added the table.
    public let since: Int

    init(id: Int, name: String, scope: Scope, primaryKey: String, columns: [ColumnSpec], references: [Int: String] = [:], since: Int = 1) {
        self.references = references
        self.since = since
        self.id = id
        self.name = name
        self.scope = scope
        self.primaryKey = primaryKey
        self.columns = columns.sorted { $0.ordinal < $1.ordinal }
        columnsByName = columns.sorted { $0.name < $1.name }
        indexByName = Dictionary(self.columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        indexByOrdinal = Dictionary(self.columns.enumerated().map { ($1.ordinal, $0) }, uniquingKeysWith: { first, _ in first })
        hasHMSIOnlyColumns = columns.contains(where: \.hmsiOnly)
    }

    public func column(named name: String) -> ColumnSpec? { indexByName[name].map { columns[$0] } }

    public func column(ordinal: Int) -> ColumnSpec? { indexByOrdinal[ordinal].map { columns[$0] } }

    /// The column that holds a row's centre, for centre-scoped tables.
    public var centreColumn: ColumnSpec? { scope == .centre ? column(named: Node.centreColumn) : nil }
}

/// The replicated tables of a store, as recorded in its `sync_tables` and `sync_columns`.
public struct StoreSchema: Hashable, Sendable {
    public let version: Int
    public let tables: [TableSpec]

    public func table(named name: String) -> TableSpec? { tables.first { $0.name == name } }

    public func table(id: Int) -> TableSpec? { tables.first { $0.id == id } }

    /// The schema as a replica of an older `version` knows it: the tables and columns that
    /// version had, with the same ids and ordinals (docs/schema-evolution.md). The schema
    /// itself for its own version or a newer one.
    public func view(version older: Int) -> StoreSchema {
        guard older < version else { return self }
        let tables = self.tables.filter { $0.since <= older }.map { table in
            TableSpec(
                id: table.id, name: table.name, scope: table.scope, primaryKey: table.primaryKey,
                columns: table.columns.filter { $0.since <= older },
                references: table.references.filter { ordinal, _ in table.column(ordinal: ordinal)!.since <= older }, since: table.since)
        }
        return StoreSchema(version: older, tables: tables)
    }
}

/// Installs a domain schema and the engine's shared `sync_*` tables into a store.
package enum SchemaInstaller {
    /// Tables shared by replica and hub: the replicated tables and columns, the nodes
    /// (origins), and the per-row and per-column versions the merge rule works on.
    package static let sharedTablesSQL = """
        CREATE TABLE sync_tables (
            id     INTEGER PRIMARY KEY,
            name   TEXT NOT NULL UNIQUE,
            scope  TEXT NOT NULL CHECK (scope IN ('centre', 'reference')),
            pk     TEXT NOT NULL
        ) STRICT;
        CREATE TABLE sync_columns (
            tbl      INTEGER NOT NULL REFERENCES sync_tables(id),
            ord      INTEGER NOT NULL,
            name     TEXT NOT NULL,
            type     TEXT NOT NULL,
            not_null INTEGER NOT NULL,
            retired  INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (tbl, ord)
        ) STRICT;
        CREATE TABLE sync_nodes (
            id    INTEGER PRIMARY KEY,
            name  TEXT NOT NULL UNIQUE
        ) STRICT;
        -- One row per replicated row: its deletion register and the base version of its columns.
        CREATE TABLE sync_rows (
            tbl        INTEGER NOT NULL,
            pk         TEXT NOT NULL,
            scope      TEXT,
            alive      INTEGER NOT NULL,
            reg_hlc    INTEGER,
            reg_node   INTEGER,
            reg_seq    INTEGER,
            base_hlc   INTEGER,
            base_node  INTEGER,
            base_seq   INTEGER,
            PRIMARY KEY (tbl, pk)
        ) STRICT, WITHOUT ROWID;
        -- Columns written after the row's base version; ghost holds the value while the row is deleted.
        CREATE TABLE sync_cols (
            tbl    INTEGER NOT NULL,
            pk     TEXT NOT NULL,
            col    INTEGER NOT NULL,
            hlc    INTEGER NOT NULL,
            node   INTEGER NOT NULL,
            seq    INTEGER,
            ghost  ANY,
            PRIMARY KEY (tbl, pk, col)
        ) STRICT, WITHOUT ROWID;
        """

    /// Engine layout step `v6-schema-versions`, shared: the schema version that added each
    /// replicated table and column (everything before it was version 1).
    package static let sinceSQL = """
        ALTER TABLE sync_tables ADD COLUMN since INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE sync_columns ADD COLUMN since INTEGER NOT NULL DEFAULT 1;
        """

    /// Runs the migrations after `installedVersion` one at a time, checks that each one after
    /// the first is one an offline fleet can live with (`MigrationRules`), and records the
    /// replicated tables after each, so every table and column knows the version that added it.
    package static func migrate(
        _ db: Database, to schema: SchemaDefinition, from installedVersion: Int
    ) throws -> StoreSchema {
        for migration in schema.migrations where migration.version > installedVersion {
            let before = migration.version > 1 ? try MigrationRules.Snapshot(db) : nil
            do {
                try db.execute(sql: migration.sql)
            } catch let error as DatabaseError {
                throw SchemaError.invalid("migration \(migration.version) failed: \(error.message ?? "\(error)")")
            }
            if let before {
                try MigrationRules.check(migration.version, before: before, after: try MigrationRules.Snapshot(db), schema: schema)
            }
            // The manifest describes the newest version: an earlier one may lack some of its tables and columns.
            let last = migration.version == schema.version && !schema.isEarlierVersion
            for table in schema.tables where try last || db.tableExists(table.name) {
                try record(table, in: db, since: migration.version, final: last)
            }
        }
        return try load(db, version: schema.version)
    }

    /// Records again what the manifest says of the tables of the installed schema version (a
    /// store made by an older wirsync learns the columns only HMSI decides); runs no
    /// migration. Does nothing for another schema or a newer version.
    package static func refresh(_ db: Database, from schema: SchemaDefinition, name: String, version: Int) throws {
        guard schema.name == name, version <= schema.version else { return }
        let final = version == schema.version
        for table in schema.tables where try final || db.tableExists(table.name) {
            try record(table, in: db, since: version, final: final)
        }
    }

    /// Records a table as it is now; a table or column not recorded yet was added by `since`.
    /// Before the `final` version a column the manifest names may not exist yet.
    private static func record(_ table: SchemaDefinition.Table, in db: Database, since: Int, final: Bool) throws {
        guard isSimpleIdentifier(table.name) else {
            throw SchemaError.invalid("table name \(table.name) must be a plain lower-case identifier")
        }
        let info = try Row.fetchAll(db, sql: "PRAGMA table_xinfo(\(quoted(table.name)))")
        guard !info.isEmpty else {
            throw SchemaError.invalid("the manifest lists \(table.name), but no migration creates it")
        }
        let keys = info.filter { ($0["pk"] as Int) > 0 }
        guard keys.count == 1, let key = keys.first, (key["type"] as String).uppercased() == "TEXT" else {
            throw SchemaError.invalid("\(table.name) needs a single TEXT primary key")
        }
        if let generated = info.first(where: { ($0["hidden"] as Int) != 0 }) {
            throw SchemaError.invalid("\(table.name).\(generated["name"] as String) is generated; replicated columns must be writable")
        }
        let keyName: String = key["name"]
        for name in table.hmsiOnly where final || info.contains(where: { ($0["name"] as String) == name }) {
            guard info.contains(where: { ($0["name"] as String) == name }), name != keyName, name != Node.centreColumn else {
                throw SchemaError.invalid("\(table.name) lists \(name) as hmsi_only, which is not one of its value columns")
            }
        }
        if table.scope == .centre {
            guard let centre = info.first(where: { ($0["name"] as String) == Node.centreColumn }),
                (centre["type"] as String).uppercased() == "TEXT", (centre["notnull"] as Int) == 1
            else {
                throw SchemaError.invalid("\(table.name) is centre-scoped and needs a TEXT NOT NULL \(Node.centreColumn)")
            }
        }

        let tableID: Int
        if let existing = try Row.fetchOne(db, sql: "SELECT id, scope FROM sync_tables WHERE name = ?", arguments: [table.name]) {
            guard (existing["scope"] as String) == table.scope.rawValue else {
                throw SchemaError.invalid(
                    "\(table.name) cannot change scope from \(existing["scope"] as String) to \(table.scope.rawValue): replicas of older "
                        + "versions would go on reading and writing it under the old rule. Two steps: add a new table with the new scope, "
                        + "and copy the rows at HMSI; the old table stays")
            }
            tableID = existing["id"]
        } else {
            try db.execute(
                sql: "INSERT INTO sync_tables (name, scope, pk, since) VALUES (?, ?, ?, ?)",
                arguments: [table.name, table.scope.rawValue, keyName, since])
            tableID = Int(db.lastInsertedRowID)
        }

        let recorded = try Row.fetchAll(db, sql: "SELECT ord, name FROM sync_columns WHERE tbl = ?", arguments: [tableID])
        var ordinals = Dictionary(uniqueKeysWithValues: recorded.map { (($0["name"] as String), ($0["ord"] as Int)) })
        var nextOrdinal = (recorded.map { $0["ord"] as Int }.max() ?? -1) + 1
        var current = Set<String>()
        for column in info where (column["pk"] as Int) == 0 {
            let name: String = column["name"]
            guard isSimpleIdentifier(name) else {
                throw SchemaError.invalid("column name \(table.name).\(name) must be a plain lower-case identifier")
            }
            current.insert(name)
            let type = (column["type"] as String).uppercased()
            let hmsiOnly = table.hmsiOnly.contains(name) ? 1 : 0
            guard ["INTEGER", "INT", "REAL", "TEXT", "BLOB", "ANY"].contains(type) else {
                throw SchemaError.invalid("\(table.name).\(name) has type \(type); use a STRICT type")
            }
            if let ordinal = ordinals[name] {
                try db.execute(
                    sql: "UPDATE sync_columns SET type = ?, not_null = ?, hmsi_only = ?, retired = 0 WHERE tbl = ? AND ord = ?",
                    arguments: [type, column["notnull"] as Int, hmsiOnly, tableID, ordinal])
            } else {
                try db.execute(
                    sql: "INSERT INTO sync_columns (tbl, ord, name, type, not_null, hmsi_only, since) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [tableID, nextOrdinal, name, type, column["notnull"] as Int, hmsiOnly, since])
                ordinals[name] = nextOrdinal
                nextOrdinal += 1
            }
        }
        for (name, ordinal) in ordinals where !current.contains(name) {
            try db.execute(sql: "UPDATE sync_columns SET retired = 1 WHERE tbl = ? AND ord = ?", arguments: [tableID, ordinal])
        }
    }

    /// Reads the replicated tables recorded in a store.
    package static func load(_ db: Database, version: Int) throws -> StoreSchema {
        let columns = try Row.fetchAll(
            db, sql: "SELECT tbl, ord, name, type, not_null, hmsi_only, since FROM sync_columns WHERE retired = 0 ORDER BY tbl, ord")
        let byTable = Dictionary(grouping: columns) { $0["tbl"] as Int }
        let tables = try Row.fetchAll(db, sql: "SELECT id, name, scope, pk, since FROM sync_tables ORDER BY id").map { row in
            let id: Int = row["id"]
            guard let scope = Scope(rawValue: row["scope"]) else {
                throw SchemaError.invalid("sync_tables has an unknown scope for \(row["name"] as String)")
            }
            var defaults: [String: Value] = [:]
            for column in try Row.fetchAll(
                db, sql: "SELECT name, dflt_value FROM pragma_table_xinfo(?) WHERE dflt_value IS NOT NULL", arguments: [row["name"] as String])
            {
                let value = try DatabaseValue.fetchOne(db, sql: "SELECT \(column["dflt_value"] as String)") ?? .null
                defaults[column["name"]] = Value(value)
            }
            let columns = (byTable[id] ?? []).map {
                ColumnSpec(
                    ordinal: $0["ord"], name: $0["name"], type: $0["type"], notNull: ($0["not_null"] as Int) != 0,
                    hmsiOnly: ($0["hmsi_only"] as Int) != 0, since: $0["since"], defaultValue: defaults[$0["name"]])
            }
            let ordinals = Dictionary(columns.map { ($0.name, $0.ordinal) }, uniquingKeysWith: { first, _ in first })
            var references: [Int: String] = [:]
            let keys = try Row.fetchAll(db, sql: "SELECT * FROM pragma_foreign_key_list(?)", arguments: [row["name"] as String])
            for key in Dictionary(grouping: keys, by: { $0["id"] as Int }).values where key.count == 1 {
                if let ordinal = ordinals[key[0]["from"]] { references[ordinal] = key[0]["table"] }
            }
            return TableSpec(
                id: id, name: row["name"], scope: scope, primaryKey: row["pk"], columns: columns, references: references,
                since: row["since"])
        }
        return StoreSchema(version: version, tables: tables)
    }

    private static func isSimpleIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == 95 || (97...122).contains(first) else { return false }
        return name.utf8.allSatisfy { $0 == 95 || (97...122).contains($0) || (48...57).contains($0) }
            && !name.hasPrefix("sync_")
    }
}
