public import Foundation

/// Who may read and write a table's rows (DESIGN.md, Scopes).
public enum Scope: String, Hashable, Sendable, Codable {
    /// Rows carry `centre_id`; only that centre and HMSI read and write them.
    case centre
    /// Written by HMSI only; every centre reads them.
    case reference
}

/// The identity of a node: a centre's slug, or `hmsi`, whose scope is everything.
public enum Node {
    public static let hmsi = "hmsi"
    /// The origin of the hub's own writes (fixtures, HMSI's resolutions).
    public static let hub = "hub"
    /// The column that places a row of a centre-scoped table in its centre's scope.
    public static let centreColumn = "centre_id"

    /// Whether `id` is a well-formed node id: a lower-case ASCII slug.
    public static func isWellFormed(_ id: String) -> Bool { isWellFormed(id.utf8[...]) }

    /// The same rule on bytes (a node id is ASCII, so bytes and characters count alike).
    static func isWellFormed(_ id: Substring.UTF8View) -> Bool {
        !id.isEmpty && id.count <= 64 && id.first != 45 && id.last != 45
            && id.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
    }
}

/// A versioned domain schema: the migrations that build it and the scope of every table.
///
/// Read from a directory laid out like the repository's `schema/`:
/// `manifest.json` (`{"name", "version", "tables": [{"name", "scope", "hmsi_only"?}]}`) and
/// `migrations/NNNN_*.sql`, one file per schema version. The engine is generic: which
/// tables are replicated, and how, comes from here and from the tables themselves.
public struct SchemaDefinition: Hashable, Sendable {
    public struct Table: Hashable, Sendable, Codable {
        public var name: String
        public var scope: Scope
        /// Columns only HMSI decides (`"hmsi_only"` in the manifest): a centre's write of one
        /// is refused like a write of reference data (docs/security.md).
        public var hmsiOnly: [String]

        public init(name: String, scope: Scope, hmsiOnly: [String] = []) {
            self.name = name
            self.scope = scope
            self.hmsiOnly = hmsiOnly
        }

        private enum CodingKeys: String, CodingKey {
            case name, scope
            case hmsiOnly = "hmsi_only"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            scope = try container.decode(Scope.self, forKey: .scope)
            hmsiOnly = try container.decodeIfPresent([String].self, forKey: .hmsiOnly) ?? []
        }
    }

    public struct Migration: Hashable, Sendable {
        public var version: Int
        public var sql: String

        public init(version: Int, sql: String) {
            self.version = version
            self.sql = sql
        }
    }

    public var name: String
    public var version: Int
    /// The oldest version a hub of this schema serves beside `version` (the manifest's
    /// `oldest_supported`; docs/schema-evolution.md).
    public var oldestSupported: Int
    public var tables: [Table]
    /// Made by `at(version:)` for an older version: the manifest's tables and columns that a
    /// later version adds are not there yet, and the installer passes them.
    public private(set) var isEarlierVersion = false
    /// Migrations 1...version, in order.
    public var migrations: [Migration]

    public init(name: String, version: Int, oldestSupported: Int? = nil, tables: [Table], migrations: [Migration]) throws(SchemaError) {
        self.name = name
        self.version = version
        self.oldestSupported = oldestSupported ?? version
        self.tables = tables
        self.migrations = migrations.sorted { $0.version < $1.version }
        guard self.migrations.map(\.version) == Array(1...max(version, 1)), version >= 1 else {
            throw .invalid("schema \(name) version \(version) needs migrations 1...\(version), found \(self.migrations.map(\.version))")
        }
        guard (1...version).contains(self.oldestSupported) else {
            throw .invalid("oldest_supported \(self.oldestSupported) must be a version from 1 to \(version)")
        }
        var seen = Set<String>()
        for table in tables where !seen.insert(table.name).inserted {
            throw .invalid("table \(table.name) is listed twice in the manifest")
        }
    }

    public func scope(of table: String) -> Scope? { tables.first { $0.name == table }?.scope }

    /// The same schema as it was at `version` (migrations 1...version), for a replica that is
    /// to start on an older version (`wirsync init --schema-version`). The manifest's tables
    /// are kept: the installer records a table once a migration has created it.
    public func at(version older: Int) throws(SchemaError) -> SchemaDefinition {
        guard (1...version).contains(older) else {
            throw .invalid("schema \(name) has versions 1 to \(version), not \(older)")
        }
        var earlier = try SchemaDefinition(
            name: name, version: older, oldestSupported: min(oldestSupported, older), tables: tables,
            migrations: migrations.filter { $0.version <= older })
        earlier.isEarlierVersion = older < version || isEarlierVersion
        return earlier
    }

    /// Reads a schema from files keyed by their path relative to the repository root
    /// (`schema/manifest.json`, `schema/migrations/0001_wir.sql`, …).
    public static func load(files: [String: String], root: String = "schema") throws(SchemaError) -> SchemaDefinition {
        struct Manifest: Decodable {
            var name: String
            var version: Int
            var oldest_supported: Int?
            var tables: [Table]
        }
        guard let manifestText = files["\(root)/manifest.json"] else {
            throw .invalid("no \(root)/manifest.json")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(manifestText.utf8))
        } catch {
            throw .invalid("\(root)/manifest.json: \(error)")
        }
        var migrations: [Migration] = []
        for (path, sql) in files where path.hasPrefix("\(root)/migrations/") && path.hasSuffix(".sql") {
            let file = path.dropFirst("\(root)/migrations/".count)
            guard let version = Int(file.prefix { $0.isNumber }) else {
                throw .invalid("\(path): a migration's file name starts with its version number")
            }
            migrations.append(Migration(version: version, sql: sql))
        }
        return try SchemaDefinition(
            name: manifest.name, version: manifest.version, oldestSupported: manifest.oldest_supported, tables: manifest.tables,
            migrations: migrations)
    }

    /// Reads a schema from a directory laid out like the repository's `schema/`.
    public static func load(directory: URL) throws(SchemaError) -> SchemaDefinition {
        var files: [String: String] = [:]
        let manager = FileManager.default
        let migrationsDirectory = directory.appendingPathComponent("migrations")
        do {
            files["schema/manifest.json"] = try String(
                contentsOf: directory.appendingPathComponent("manifest.json"), encoding: .utf8)
            for name in try manager.contentsOfDirectory(atPath: migrationsDirectory.path) where name.hasSuffix(".sql") {
                files["schema/migrations/\(name)"] = try String(
                    contentsOf: migrationsDirectory.appendingPathComponent(name), encoding: .utf8)
            }
        } catch {
            throw .invalid("cannot read schema directory \(directory.path): \(error.localizedDescription)")
        }
        return try load(files: files)
    }
}

public enum SchemaError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): "invalid schema: \(message)"
        }
    }
}
