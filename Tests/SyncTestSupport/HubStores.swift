import Foundation
import Synchronization
public import HubPostgres
public import HubStore
public import SyncCore
import SyncStore
import WIRSchema

/// The store a hub test runs on: every hub suite runs on both (docs/postgres.md, "Tests and CI").
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    public var description: String { rawValue }

    /// The stores the hub suites run on: both, unless `WIRSYNC_TEST_STORES` names some
    /// (`scripts/test` runs the suite once per store, so that a 2-core machine is not asked to
    /// run both at once).
    public static let tested: [StoreKind] = {
        guard let names = ProcessInfo.processInfo.environment["WIRSYNC_TEST_STORES"] else { return allCases }
        return names.split(separator: ",").map { name in
            guard let kind = StoreKind(rawValue: String(name)) else { fatalError("WIRSYNC_TEST_STORES names an unknown store \(name)") }
            return kind
        }
    }()
}

/// Hub stores for tests: a SQLite file in the test's directory, or a new database in the
/// PostgreSQL cluster of this test process, started on first use and stopped when it exits.
public enum TestHubs {
    private static let started = Mutex<PostgresCluster?>(nil)
    private static let databases = Mutex(0)

    /// The cluster, started on first use. A missing PostgreSQL fails the test that needs it,
    /// naming what is missing (`scripts/setup` installs it); it is never skipped.
    public static func cluster() throws -> PostgresCluster {
        try started.withLock { started in
            if let started { return started }
            let cluster = try PostgresCluster()
            started = cluster
            // The cluster stops with the process: `PostgresCluster` stops it when released.
            atexit { TestHubs.started.withLock { $0 = nil } }
            return cluster
        }
    }

    /// A new, empty database of the cluster, and where it is.
    /// A name no database of this test process has yet.
    private static func nextDatabaseName() -> String {
        let number = databases.withLock { count in
            count += 1
            return count
        }
        return "hub_\(number)_\(getpid())"
    }

    public static func newDatabase() throws -> (location: PostgresLocation, password: String) {
        let cluster = try cluster()
        let name = nextDatabaseName()
        try cluster.createDatabase(name)
        return (try PostgresLocation(url: cluster.url(name)), cluster.password)
    }

    /// The hub store every PostgreSQL test's database is copied from (`CREATE DATABASE …
    /// TEMPLATE`), made once per test run: much cheaper than making each store anew, and no
    /// program is spawned per test. With the maintenance database to copy it from.
    private static let template = Mutex<Task<(PostgresHubDatabase, String), any Error>?>(nil)

    private static func copyOfTemplate() async throws -> (location: PostgresLocation, password: String) {
        let task = try template.withLock { task in
            if let task { return task }
            let (location, password) = try newDatabase()
            let made = Task {
                let store = try await PostgresHubStore.create(location: location, password: password, schema: WIRSchema.definition(), connections: 1) {
                    try WIRSchema.fixtureRows(table: $0)
                }
                try store.close()
                var maintenance = location
                maintenance.database = "postgres"
                return (try PostgresHubDatabase(location: maintenance, password: password, connections: 2), location.database)
            }
            task = made
            return made
        }
        let (maintenance, template) = try await task.value
        let cluster = try cluster()
        let name = nextDatabaseName()
        try await maintenance.executeAlone("CREATE DATABASE \(name) TEMPLATE \(template)")
        return (try PostgresLocation(url: cluster.url(name)), cluster.password)
    }

    /// A hub store of `kind` with the WIR schema and its fixtures.
    public static func create(_ kind: StoreKind, in directory: TemporaryDirectory, clock: any WallClock = SystemClock()) async throws -> HubStore {
        switch kind {
        case .sqlite:
            return try await HubStore.create(path: directory.path("hub.db"), schema: WIRSchema.definition(), clock: clock) {
                try WIRSchema.fixtureRows(table: $0)
            }
        case .postgres:
            let (location, password) = try await copyOfTemplate()
            return try await PostgresHubStore.open(location: location, password: password, schema: WIRSchema.definition(), clock: clock, connections: 2)
        }
    }
}

/// `snapshot(_:)` of a hub store, whichever database holds it: its domain tables in
/// primary-key order, and with `versions` its row and column versions by node name.
public func snapshot(store: HubStore, tables: [String] = domainTables, versions: Bool = true, centre: String? = nil) async throws -> Snapshot {
    let schema = store.schema
    return try await store.read { db in
        var result: [String: [[Value]]] = [:]
        for name in tables {
            guard let table = schema.table(named: name) else { continue }
            let filter = centre != nil && table.scope == .centre ? " WHERE centre_id = ?" : ""
            let rows = try SQLRow.fetchAll(db, sql: "SELECT * FROM \(name)\(filter) ORDER BY id", arguments: filter.isEmpty ? [] : [centre])
            result[name] = rows.map { row in
                zip(row.names, row.values).map { column, value in
                    db.read(value, declared: column == table.primaryKey ? "TEXT" : table.column(named: column)?.type ?? "ANY")
                }
            }
        }
        if versions {
            let text = { (value: Value) in db.read(value, declared: "TEXT") }
            result["sync_rows"] = try SQLRow.fetchAll(db, sql: rowVersionsSQL).map { $0.values.map(text) }
            result["sync_cols"] = try SQLRow.fetchAll(db, sql: columnVersionsSQL).map { row in try row.values.dropLast().map(text) + [db.readAny(row.values.last!)] }
        }
        return Snapshot(tables: result)
    }
}

/// The rows of one of a hub store's tables, those that meet `condition` (SQL both stores take) if given.
public func count(store: HubStore, _ table: String, where condition: String? = nil) async throws -> Int {
    try await store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)" + (condition.map { " WHERE \($0)" } ?? "")) ?? 0 }
}

/// `holdHistory(hub:)` of a hub store, whichever database holds it.
public func holdHistory(store: HubStore) async throws {
    try await store.write { db in
        guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_replicas WHERE origin = 'test-witness.0'") == 0 else { return }
        try db.execute(sql: holdHistorySQL)
    }
}

/// `readRow(_:)` of a hub store: one domain row by key, every column but `id`.
public func readRow(store: HubStore, _ table: String, _ pk: String) async throws -> [String: Value]? {
    guard let spec = store.schema.table(named: table) else { return nil }
    return try await store.read { db in
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM \(table) WHERE id = ?", arguments: [pk]) else { return nil }
        var values: [String: Value] = [:]
        for (column, value) in zip(row.names, row.values) where column != "id" {
            values[column] = db.read(value, declared: spec.column(named: column)?.type ?? "ANY")
        }
        return values
    }
}

/// `duplicateApplications(hub:)` of a hub store, whichever database holds it.
public func duplicateApplications(store: HubStore) async throws -> Int {
    try await store.read { db in
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM (SELECT origin, hlc, tbl, pk FROM sync_hub_log WHERE op < 4 GROUP BY origin, hlc, tbl, pk HAVING count(*) > 1) AS twice
            """) ?? 0
    }
}

/// A complete organisations row of a centre.
public func organisationRow(_ centre: String, name: String = "Kulturverein") -> [String: Value] {
    ["centre_id": .text(centre), "name": .text(name), "kind": .text("Verein"), "city": .null, "contact_email": .null, "founded_year": .null, "logo": .null]
}
