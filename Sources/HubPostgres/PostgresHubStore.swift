import Foundation
import GRDB
public import HubStore
import Logging
public import SyncCore
import SyncStore

/// The hub store on PostgreSQL (docs/postgres.md): the same `HubStore`, its rules written once,
/// on a `PostgresHubDatabase`.
///
/// The layout is SQLite's, translated (`PostgresLayout`): the engine's tables as the newest
/// layout step has them, and the schema's domain tables from its migrations. The replicated
/// tables' ids, ordinals and rules come from the schema's migrations run in an in-memory
/// SQLite, so both stores number them alike.
public enum PostgresHubStore {
    /// Creates the hub store in the empty database at `location` and loads every reference
    /// table's fixture rows, as `HubStore.create` does for a file.
    public static func create(
        location: PostgresLocation, password: String?, schema definition: SchemaDefinition, clock: any WallClock = SystemClock(),
        connections: Int = 8, fixtures: (String) throws -> [[String: Value]]?
    ) async throws(HubError) -> HubStore {
        let database = try open(location, password: password, connections: connections)
        do {
            let installed = try PostgresLayout.shadow(definition)
            let now = clock.nowMillis()
            let hubID = UUID().uuidString.lowercased()
            let storeSchema = try await database.write { db -> StoreSchema in
                guard try !PostgresLayout.exists(db) else { throw HubError.alreadyExists(path: location.description) }
                try PostgresLayout.createEngineTables(db)
                try PostgresLayout.install(definition.migrations, shadow: installed.tables, into: db)
                try db.execute(
                    sql: "INSERT INTO sync_hub_state (id, schema_name, schema_version, oldest_version, created_at, hub_id) VALUES (1, ?, ?, ?, ?, ?)",
                    arguments: [definition.name, definition.version, definition.oldestSupported, now, hubID])
                return installed.schema
            }
            let store = HubStore(
                path: location.description, schema: storeSchema, schemaName: definition.name, hubID: hubID,
                oldestVersion: definition.oldestSupported, database: database, clock: clock)
            try await store.loadFixtures(fixtures)
            return store
        } catch {
            try? database.close()
            throw HubStore.map(error, path: location.description)
        }
    }

    /// Opens the hub store in the database at `location`; creates nothing.
    ///
    /// - Parameter definition: the schema this wirsync-hub is built with: the store's version
    ///   of it gives the replicated tables, which must be the ones the store records.
    public static func open(
        location: PostgresLocation, password: String?, schema definition: SchemaDefinition, clock: any WallClock = SystemClock(),
        connections: Int = 8
    ) async throws(HubError) -> HubStore {
        let database = try open(location, password: password, connections: connections)
        do {
            let state = try await database.read { db -> (name: String, version: Int, oldest: Int, hubID: String)? in
                guard try PostgresLayout.exists(db) else { return nil }
                try PostgresLayout.checkCurrent(db)
                guard let row = try SQLRow.fetchOne(db, sql: "SELECT schema_name, schema_version, oldest_version, hub_id FROM sync_hub_state") else {
                    return nil
                }
                return (row["schema_name"], row["schema_version"], row["oldest_version"], row["hub_id"])
            }
            guard let state else {
                throw HubError.notAHub(path: location.description, reason: "the database holds no hub store (`wirsync-hub init --store` makes one)")
            }
            guard state.name == definition.name, state.version <= definition.version else {
                throw HubError.notAHub(
                    path: location.description,
                    reason: "it holds schema \(state.name)/\(state.version), and this wirsync-hub knows \(definition.name) up to version \(definition.version)")
            }
            let shadow = try PostgresLayout.shadow(try definition.at(version: state.version))
            try await database.read { db in try PostgresLayout.checkTables(db, against: shadow.tables) }
            return HubStore(
                path: location.description, schema: shadow.schema, schemaName: state.name, hubID: state.hubID,
                oldestVersion: min(state.oldest, state.version), database: database, clock: clock)
        } catch {
            try? database.close()
            throw HubStore.map(error, path: location.description)
        }
    }

    /// Upgrades the stopped hub store at `location` to `definition`'s version, as
    /// `HubStore.upgradeSchema` does a file: the new migrations, translated, the replicated
    /// tables recorded as that version has them, the versions it serves, and the fixtures of
    /// new reference tables. In one transaction: an upgrade that fails leaves the store as it was.
    /// Returns the version it was at.
    public static func upgradeSchema(
        location: PostgresLocation, password: String?, to definition: SchemaDefinition, clock: any WallClock = SystemClock(),
        fixtures: (String) throws -> [[String: Value]]?
    ) async throws(HubError) -> Int {
        let store = try await open(location: location, password: password, schema: definition, clock: clock, connections: 1)
        let installed = store.schema.version
        do {
            try HubStore.checkUpgrade(from: installed, to: definition)
            let shadow = try PostgresLayout.shadow(definition)
            try await store.write { db in
                try PostgresLayout.run(definition.migrations.filter { $0.version > installed }, into: db)
                try PostgresLayout.record(shadow.tables, into: db)
                try db.execute(
                    sql: "UPDATE sync_hub_state SET schema_version = ?, oldest_version = ?", arguments: [definition.version, definition.oldestSupported])
            }
            try store.close()
        } catch {
            try? store.close()
            throw HubStore.map(error, path: location.description)
        }
        let upgraded = try await open(location: location, password: password, schema: definition, clock: clock, connections: 1)
        defer { try? upgraded.close() }
        do {
            try await upgraded.loadFixtures(fixtures, since: installed + 1)
        } catch {
            throw HubStore.map(error, path: location.description)
        }
        return installed
    }

    private static func open(_ location: PostgresLocation, password: String?, connections: Int) throws(HubError) -> PostgresHubDatabase {
        do {
            return try PostgresHubDatabase(location: location, password: password, connections: connections)
        } catch {
            throw .notAHub(path: location.description, reason: "its TLS settings cannot be used: \(error)")
        }
    }
}

// MARK: Moving a hub from SQLite

/// What `copy` moved, table by table.
public struct StoreCopy: Sendable {
    public struct Table: Sendable {
        public var name: String
        public var rows: Int
        /// SHA-256 of the table's rows in key order, equal on both sides.
        public var sha256: String
    }

    public var tables: [Table]
}

extension PostgresHubStore {
    /// Copies a stopped SQLite hub into the empty database at `location`: every table, the
    /// engine's (data, versions, log with its numbers, conflicts, tokens as hashes, replicas
    /// with their acknowledgements and cursors, receipts, events, audit, console accounts) and
    /// the domain's, and the hub's identity, so that centres go on syncing with no change on
    /// their side and their restore detection finds nothing. In one PostgreSQL transaction, which
    /// commits only once every table's digest is the same on both sides.
    public static func copy(
        from source: HubStore, to location: PostgresLocation, password: String?, schema definition: SchemaDefinition,
        progress: @escaping @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws(HubError) -> StoreCopy {
        guard source.isSQLite else { throw .badRequest(code: "not_sqlite", message: "store copy moves a SQLite hub store") }
        let database = try open(location, password: password, connections: 1)
        defer { try? database.close() }
        do {
            let migrations = try definition.at(version: source.schema.version).migrations
            let tables = try await source.read { db in try PostgresLayout.copiedTables(db) }
            let copied = try await database.write { target -> StoreCopy in
                guard try !PostgresLayout.exists(target) else { throw HubError.alreadyExists(path: location.description) }
                try PostgresLayout.createEngineTables(target)
                try PostgresLayout.run(migrations, into: target)
                return try source.readNow { db in try PostgresLayout.copy(tables, from: db, to: target, progress: progress) }
            }
            return copied
        } catch {
            throw HubStore.map(error, path: location.description)
        }
    }
}
