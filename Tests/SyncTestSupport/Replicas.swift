import Foundation
public import GRDB
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

/// Every row of the given tables, as SQL literals in primary-key order: equal text means
/// equal values of equal types.
public func dump(_ path: String, tables: [String]) throws -> String {
    try DatabaseQueue(path: path).read { db in
        try tables.map { table in
            let columns = try db.columns(in: table).map(\.name)
            let keys = try db.primaryKey(table).columns
            let select = columns.map { "quote(\"\($0)\")" }.joined(separator: " || '|' || ")
            let rows = try String.fetchAll(db, sql: "SELECT \(select) FROM \(table) ORDER BY \(keys.joined(separator: ", "))")
            return "## \(table)\n" + rows.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

/// The WIR domain tables.
public let domainTables = ["centres", "funding_lines", "organisations", "projects", "volunteers", "deployments", "kiv_strategies"]

/// One row of the readable change log view.
public struct CapturedChange: Hashable, Sendable {
    public var table: String
    public var pk: String
    public var op: String
    public var columns: [String]
}

/// The pending entries of a replica's change log, in order, as `sync_changes` shows them.
public func capturedChanges(_ path: String) throws -> [CapturedChange] {
    try DatabaseQueue(path: path).read { db in
        try Row.fetchAll(db, sql: "SELECT \"table\", pk, op, columns FROM sync_changes ORDER BY seq").map {
            CapturedChange(
                table: $0["table"], pk: $0["pk"], op: $0["op"],
                columns: ($0["columns"] as String?)?.split(separator: ",").map(String.init) ?? [])
        }
    }
}
