import Foundation
import GRDB
public import SyncCore
public import SyncStore

/// The hub's store: one SQLite file (WAL) with the domain tables, the merged state of every
/// centre's rows, the hub log that centres pull, the conflict records, and the clients.
///
/// Centres push their captured changes (`push`); the hub merges them with the same rule
/// and applier as every replica, records every value that loses a concurrent race, and
/// appends what it applied to the hub log, from which each centre pulls what is in its
/// scope (`pull`). The hub's own writes (reference fixtures, kept losers) come from the
/// node `hub`.
public final class HubStore: Sendable {
    /// The hub's own node id: origin of the reference fixtures and of resolutions.
    public static let origin = Node.hub

    public let path: String
    public let schema: StoreSchema
    public let schemaName: String
    /// The identity of this hub, made when it was created: a hub rebuilt from scratch has
    /// another, and replicas tell by it (a hub restored from a backup keeps it).
    public let hubID: String
    /// The oldest schema version the hub serves beside its own (docs/schema-evolution.md).
    public let oldestVersion: Int
    /// The schema as each version it serves sees it, oldest first.
    let views: [Int: StoreSchema]
    let database: any HubDatabase
    let clock: any WallClock

    /// The schema the hub speaks, as in the `WIRSync-Schema` header: `wir/1`.
    public var schemaTag: String { Wire.schemaTag(name: schemaName, version: schema.version) }

    /// The versions the hub serves.
    public var servedVersions: ClosedRange<Int> { oldestVersion...schema.version }

    package init(
        path: String, schema: StoreSchema, schemaName: String, hubID: String, oldestVersion: Int, database: any HubDatabase, clock: any WallClock
    ) {
        self.path = path
        self.schema = schema
        self.schemaName = schemaName
        self.hubID = hubID
        self.oldestVersion = oldestVersion
        views = Dictionary(uniqueKeysWithValues: (oldestVersion...schema.version).map { ($0, schema.view(version: $0)) })
        self.database = database
        self.clock = clock
    }

    /// The schema as a replica of `version` sees it; nil for a version the hub does not serve.
    public func view(version: Int) -> StoreSchema? { views[version] }

    /// Checks a request's `WIRSync-Schema` header (`wir/1`) and returns its version, or says
    /// which side to update, to what.
    public func servedVersion(of tag: String) throws(HubError) -> Int {
        let parts = tag.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == schemaName, let version = Int(parts[1]) else {
            throw .schemaMismatch(
                code: "schema_mismatch", message: "the replica speaks schema \(tag), the hub \(schemaName) versions \(servedText)")
        }
        if version < oldestVersion {
            throw .schemaMismatch(
                code: "schema_too_old",
                message: "the replica's schema version \(version) is older than the hub serves (\(servedText)): install a wirsync "
                    + "of schema version \(oldestVersion) or newer on this PC and run `wirsync upgrade`")
        }
        if version > schema.version {
            throw .schemaMismatch(
                code: "schema_too_new",
                message: "the replica's schema version \(version) is newer than the hub's (\(servedText)): HMSI must upgrade "
                    + "wirsync-hub to schema version \(version) first (`wirsync-hub upgrade`)")
        }
        return version
    }

    private var servedText: String {
        oldestVersion == schema.version ? "\(schemaName)/\(oldestVersion)" : "\(schemaName)/\(oldestVersion) to \(schemaName)/\(schema.version)"
    }

    // MARK: Creating and opening

    /// Creates the hub store at `path` and loads every reference table's fixture rows as
    /// inserts from the node `hub`, so centres receive them on their first pull.
    ///
    /// - Parameter fixtures: the rows of a reference table's fixture, or nil if it has none.
    public static func create(
        path: String, schema definition: SchemaDefinition, clock: any WallClock = SystemClock(),
        fixtures: (String) throws -> [[String: Value]]?
    ) async throws(HubError) -> HubStore {
        guard !FileManager.default.fileExists(atPath: path) else { throw .alreadyExists(path: path) }
        do {
            let pool = try StoreConnection.openPool(path: path)
            let now = clock.nowMillis()
            try HubSQL.layout.upgrade(pool)
            try await pool.write { db in
                _ = try SchemaInstaller.migrate(db, to: definition, from: 0)
                try db.execute(
                    sql: "INSERT INTO sync_hub_state (id, schema_name, schema_version, oldest_version, created_at, hub_id) VALUES (1, ?, ?, ?, ?, ?)",
                    arguments: [definition.name, definition.version, definition.oldestSupported, now, UUID().uuidString.lowercased()])
            }
            try pool.close()
            let store = try open(path: path, clock: clock)
            try await store.loadFixtures(fixtures)
            return store
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            throw map(error, path: path)
        }
    }

    /// Loads the fixture rows of the reference tables that `since` or later added, as writes of the hub.
    package func loadFixtures(_ fixtures: (String) throws -> [[String: Value]]?, since: Int = 1) async throws {
        for table in schema.tables where table.scope == .reference && table.since >= since {
            guard let rows = try fixtures(table.name) else { continue }
            let changes = try rows.map { row in
                guard case .text(let pk)? = row[table.primaryKey] else {
                    throw HubError.badRequest(code: "invalid_fixture", message: "a \(table.name) fixture row has no \(table.primaryKey)")
                }
                return HubWrite(op: .insert, table: table.name, pk: pk, centre: nil, values: row.filter { $0.key != table.primaryKey })
            }
            try await writeAsHub(changes)
        }
    }

    /// Upgrades the hub's schema to `definition`'s newer version in place (`wirsync-hub
    /// upgrade`): runs the new migrations under the rules of docs/schema-evolution.md, records
    /// the window of versions it serves, and loads the fixtures of new reference tables.
    /// Returns the version the store had. Run while the hub is stopped.
    public static func upgradeSchema(
        path: String, to definition: SchemaDefinition, clock: any WallClock = SystemClock(),
        fixtures: (String) throws -> [[String: Value]]?
    ) async throws(HubError) -> Int {
        let store = try open(path: path, clock: clock)
        let installed = store.schema.version
        guard store.schemaName == definition.name else {
            throw .notAHub(path: path, reason: "its schema is \(store.schemaName), not \(definition.name)")
        }
        try checkUpgrade(from: installed, to: definition)
        do {
            try await store.sqlitePool.write { db in
                _ = try SchemaInstaller.migrate(db, to: definition, from: installed)
                try db.execute(
                    sql: "UPDATE sync_hub_state SET schema_version = ?, oldest_version = ?",
                    arguments: [definition.version, definition.oldestSupported])
            }
            try store.close()
            let upgraded = try open(path: path, clock: clock)
            try await upgraded.loadFixtures(fixtures, since: installed + 1)
            try upgraded.close()
            return installed
        } catch {
            throw map(error, path: path)
        }
    }

    /// Refuses an upgrade to a version the store already has, whichever database holds it.
    package static func checkUpgrade(from installed: Int, to definition: SchemaDefinition) throws(HubError) {
        guard installed < definition.version else {
            throw .badRequest(
                code: "nothing_to_upgrade",
                message: "the hub is at schema version \(installed), and this wirsync-hub has version \(definition.version): nothing to upgrade")
        }
    }

    /// Opens an existing hub store; creates nothing.
    ///
    /// - Parameter definition: the schema this wirsync-hub is built with; a store of the same
    ///   schema and version records again what its manifest says of the tables (a store made
    ///   by an older wirsync-hub learns the columns only HMSI decides).
    public static func open(path: String, clock: any WallClock = SystemClock(), schema definition: SchemaDefinition? = nil) throws(HubError) -> HubStore {
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path: path) }
        do {
            let pool = try StoreConnection.openPool(path: path)
            guard try pool.read({ db in try db.tableExists("sync_hub_state") }) else {
                throw HubError.notAHub(path: path, reason: "it has no sync_hub_state")
            }
            // A hub store of an older wirsync-hub is upgraded in place.
            let steps = try HubSQL.layout.upgrade(pool)
            if !steps.contains("v5-erasure") {
                // Pages freed before the hub ran with secure_delete (the log's values among them,
                // nulled by v4-history) may still hold values: rewritten once, without them.
                try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM") }
                try StoreConnection.truncateWAL(pool)
            }
            let (name, version, oldest, hubID) = try pool.read { db -> (String, Int, Int?, String) in
                guard let row = try SQLRow.fetchOne(SQLiteSession(db), sql: "SELECT schema_name, schema_version, oldest_version, hub_id FROM sync_hub_state") else {
                    throw HubError.notAHub(path: path, reason: "its sync_hub_state is empty")
                }
                return (row["schema_name"], row["schema_version"], row["oldest_version"], row["hub_id"])
            }
            if let definition {
                try pool.write { db in try SchemaInstaller.refresh(db, from: definition, name: name, version: version) }
            }
            let schema = try pool.read { db in try SchemaInstaller.load(db, version: version) }
            return HubStore(
                path: path, schema: schema, schemaName: name, hubID: hubID, oldestVersion: min(oldest ?? version, version),
                database: SQLiteHubDatabase(pool: pool), clock: clock)
        } catch {
            throw map(error, path: path)
        }
    }

    /// Moves everything in the WAL into the store file and closes it: after a clean stop the
    /// store is one file, which a plain copy takes whole.
    public func close() throws(HubError) {
        do {
            try database.close()
        } catch {
            throw Self.map(error, path: path)
        }
    }

    // MARK: Plumbing

    package func write<T: Sendable>(
        _ lock: WriteLock = .store, _ body: @Sendable @escaping (any SQLSession) throws -> T
    ) async throws(HubError) -> T {
        do {
            return try await database.write(lock, body)
        } catch {
            throw Self.map(error, path: path)
        }
    }

    package func read<T: Sendable>(_ body: @Sendable @escaping (any SQLSession) throws -> T) async throws(HubError) -> T {
        do {
            return try await database.read(body)
        } catch {
            throw Self.map(error, path: path)
        }
    }

    package static func map(_ error: any Error, path: String) -> HubError {
        switch error {
        case let error as HubError: error
        case let error as ApplyError: .apply(error)
        case let error as SchemaError: .notAHub(path: path, reason: error.description)
        case let error as LayoutError: .notAHub(path: path, reason: error.description)
        case let error as DatabaseError where error.resultCode == .SQLITE_NOTADB:
            .notAHub(path: path, reason: "it is not an SQLite database")
        case let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN:
            .sqlite("cannot open \(path): \(error.message ?? "unable to open database file")")
        case let error as DatabaseError: .sqlite(error.message ?? "\(error)")
        default: .sqlite("\(error)")
        }
    }

    /// The sequence of the next hub log entry: `max(last + 1, now_ms << 10)`, so that entries
    /// written after the hub was restored from a backup lie above every entry it lost
    /// (docs/replicas-and-restores.md).
    package static func nextSeq(_ db: any SQLSession, now: Int64) throws -> Int64 {
        let last = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log")!
        return max(last + 1, now << 10)
    }

    /// Column names by table id and ordinal, for conflict records.
    func table(id: Int) throws -> TableSpec {
        guard let table = schema.table(id: id) else { throw HubError.sqlite("no replicated table with id \(id)") }
        return table
    }
}
