import Foundation
public import GRDB
public import HubPostgres
public import ReplicaStore
public import SyncCore
import Synchronization
import SyncStore
import WIRSchema

/// A wall clock a test moves by hand.
public final class TestClock: WallClock {
    private let millis: Mutex<Int64>

    public init(millis: Int64 = 1_790_000_000_000) { self.millis = Mutex(millis) }

    public func nowMillis() -> Int64 { millis.withLock { $0 } }

    public func set(_ value: Int64) { millis.withLock { $0 = value } }

    public func advance(by delta: Int64) { millis.withLock { $0 += delta } }
}

/// Creates a replica of the WIR schema for `node` in `directory`.
public func makeReplica(_ node: String, in directory: TemporaryDirectory, file: String? = nil) throws -> Replica {
    try Replica.initialise(
        path: directory.path(file ?? "\(node).db"), node: node, hubURL: nil, schema: WIRSchema.definition()
    ).0
}

/// An ordinary connection to a replica, as any application would open one: triggers on,
/// none of the engine's code involved.
///
/// With a `clock`, SQL's `julianday()` reads that clock instead of the system's, so a
/// test can move the wall time the capture triggers see.
public func openWriter(_ path: String, clock: TestClock? = nil) throws -> DatabaseQueue {
    var configuration = Configuration()
    configuration.foreignKeysEnabled = false
    configuration.busyMode = .timeout(10)
    if let clock {
        configuration.prepareDatabase { db in
            db.add(function: DatabaseFunction("julianday", argumentCount: 1, pure: false) { _ in
                Double(clock.nowMillis()) / 86_400_000.0 + 2_440_587.5
            })
        }
    }
    return try DatabaseQueue(path: path, configuration: configuration)
}

/// Inserts one generated row through an ordinary connection.
public func insert(_ table: String, pk: String, values: [String: Value], into db: Database) throws {
    let columns = ["id"] + values.keys.sorted()
    let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
    let arguments = [pk.databaseValue] + values.keys.sorted().map { values[$0]!.databaseValue }
    try db.execute(
        sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(marks))",
        arguments: StatementArguments(arguments))
}

/// Every row of some tables, value for value, with each value's storage class: two equal
/// snapshots hold the same bytes.
public struct Snapshot: Hashable, Sendable, CustomStringConvertible {
    public var tables: [String: [[Value]]]

    public var description: String {
        tables.keys.sorted().map { table in
            "## \(table)\n" + tables[table]!.map { $0.map(\.description).joined(separator: " | ") }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

/// Reads the domain tables, in primary-key order, and the engine's row and column
/// versions, with node names instead of the store's local node ids.
///
/// With `centre`, only what is in that centre's scope: its own rows of centre-scoped
/// tables (those with `centre_id`) and every row of the others.
public func snapshot(_ path: String, tables: [String] = domainTables, versions: Bool = true, centre: String? = nil) throws -> Snapshot {
    let centreTables: Set<String> = ["organisations", "projects", "volunteers", "deployments", "kiv_strategies", "courses"]
    var queries = tables.map { table in
        let filter = centre.flatMap { centreTables.contains(table) ? " WHERE centre_id = '\($0)'" : nil } ?? ""
        return (table, "SELECT * FROM \(table)\(filter) ORDER BY id")
    }
    if versions {
        queries.append(("sync_rows", rowVersionsSQL))
        queries.append(("sync_cols", columnVersionsSQL))
    }
    return try readOnly(path).read { db in
        var result: [String: [[Value]]] = [:]
        // A file of schema version 1 has no table of version 2.
        for (name, sql) in queries where try !domainTables.contains(name) || db.tableExists(name) {
            result[name] = try Row.fetchAll(db, sql: sql).map { row in row.databaseValues.map(Value.init) }
        }
        return Snapshot(tables: result)
    }
}

/// A snapshot's row versions, with node names instead of a store's local node ids.
let rowVersionsSQL = """
    SELECT t.name, r.pk, r.scope, r.alive, r.reg_hlc, rn.name, r.base_hlc, bn.name
    FROM sync_rows r JOIN sync_tables t ON t.id = r.tbl
    LEFT JOIN sync_nodes rn ON rn.id = r.reg_node LEFT JOIN sync_nodes bn ON bn.id = r.base_node
    ORDER BY t.name, r.pk
    """

/// A snapshot's column versions and ghosts, the same way.
let columnVersionsSQL = """
    SELECT t.name, c.pk, c.col, c.hlc, n.name, c.ghost
    FROM sync_cols c JOIN sync_tables t ON t.id = c.tbl JOIN sync_nodes n ON n.id = c.node
    ORDER BY t.name, c.pk, c.col
    """

/// The WIR domain tables (schema version 2).
public let domainTables = ["centres", "funding_lines", "organisations", "projects", "volunteers", "deployments", "kiv_strategies", "courses"]

/// One row of the readable change log view.
public struct CapturedChange: Hashable, Sendable {
    public var table: String
    public var pk: String
    public var op: String
    public var columns: [String]

    public init(table: String, pk: String, op: String, columns: [String]) {
        self.table = table
        self.pk = pk
        self.op = op
        self.columns = columns
    }
}

/// The pending entries of a replica's change log, in order, as `sync_changes` shows them.
public func capturedChanges(_ path: String) throws -> [CapturedChange] {
    try readOnly(path).read { db in
        try Row.fetchAll(db, sql: "SELECT \"table\", pk, op, columns FROM sync_changes ORDER BY seq").map {
            CapturedChange(
                table: $0["table"], pk: $0["pk"], op: $0["op"],
                columns: ($0["columns"] as String?)?.split(separator: ",").map(String.init) ?? [])
        }
    }
}

private func readOnly(_ path: String) throws -> DatabaseQueue {
    var configuration = Configuration()
    configuration.readonly = true
    return try DatabaseQueue(path: path, configuration: configuration)
}

/// One row of a domain table by primary key, every column but `id`; nil if it is not there.
public func readRow(_ path: String, _ table: String, _ pk: String) throws -> [String: Value]? {
    try readOnly(path).read { db in
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM \(table) WHERE id = ?", arguments: [pk]) else { return nil }
        var values: [String: Value] = [:]
        for column in row.columnNames where column != "id" { values[column] = Value(row[column] as DatabaseValue) }
        return values
    }
}

/// The clocks the fold gave the change log's entries, in log order (nil: not folded yet).
public func logClocks(_ path: String) throws -> [HLC?] {
    try readOnly(path).read { db in
        try Int64?.fetchAll(db, sql: "SELECT hlc FROM sync_log ORDER BY seq").map { $0.map(HLC.init(rawValue:)) }
    }
}

/// How many rows a table has.
public func count(_ path: String, _ table: String) throws -> Int {
    try readOnly(path).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
}

/// Registers a replica that never pulls (a PC in a cupboard, for tests only), with a token of
/// its own that nobody holds, so that the hub compacts nothing of its log: `duplicateApplications`
/// and the fuzzes' model of the hub read every entry the hub ever logged
/// (docs/history-and-erasure.md).
public func holdHistory(hub path: String) throws {
    try DatabaseQueue(path: path).write { db in
        guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_replicas WHERE origin = 'test-witness.0'") == 0 else { return }
        try db.execute(sql: holdHistorySQL)
    }
}

/// The witness of `holdHistory`, as SQL both stores take. Of no centre, so that no
/// `centre add --rotate` or `replica revoke` of a real one touches it.
public let holdHistorySQL = """
    INSERT INTO sync_tokens (centre, token_sha256, label, created_at) VALUES ('test-witness', 'test-witness', 'test witness', 0);
    INSERT INTO sync_replicas (origin, centre, token, created_at, cursor)
        SELECT 'test-witness.0', 'test-witness', id, 0, 0 FROM sync_tokens WHERE token_sha256 = 'test-witness';
    """

/// Runs `sql` on a PostgreSQL store with `psql` (the password in PGPASSWORD), as an operator would.
@discardableResult
public func psql(_ location: PostgresLocation, _ sql: String) throws -> String {
    try runChecked(
        "/usr/bin/psql",
        ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", location.host, "-p", String(location.port), "-U", location.user, "-d", location.database, "-c", sql])
}

/// How many versions the hub applied more than once (same origin, clock and row). Whole only
/// in a hub whose history `holdHistory` kept (the fuzzes, the chaos suite): in one that
/// compacted, a duplicate among the superseded entries it removed is no longer seen. (The
/// recovery suites compact: a witness that never syncs would keep a restore open for good.)
public func duplicateApplications(hub path: String) throws -> Int {
    try readOnly(path).read { db in
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM (SELECT origin, hlc, tbl, pk FROM sync_hub_log WHERE op < 4 GROUP BY origin, hlc, tbl, pk HAVING count(*) > 1)
            """) ?? 0
    }
}

/// Whether SQLite finds the file sound (`PRAGMA integrity_check`).
public func integrityOK(_ path: String) throws -> Bool {
    try readOnly(path).read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok" }
}
