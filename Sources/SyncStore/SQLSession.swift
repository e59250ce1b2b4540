import Foundation
package import GRDB
package import SyncCore

/// Which database a session speaks to: the engine's SQL is written for both, and the few
/// places where they differ ask (docs/postgres.md, "One engine, two databases").
package enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// A result row's columns by position, as a statement hands them over.
package protocol SQLColumns {
    var count: Int32 { get }
    func name(_ column: Int32) -> String
    func isNull(_ column: Int32) -> Bool
    func integer(_ column: Int32) -> Int64
    func text(_ column: Int32) -> String
    /// The column as the database stores it.
    func value(_ column: Int32) -> Value
}

extension SQLColumns {
    package func optionalInteger(_ column: Int32) -> Int64? { isNull(column) ? nil : integer(column) }
    package func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
}

/// A statement prepared once and run with its arguments bound in order.
package protocol SQLStatement: AnyObject {
    /// Runs the statement and calls `row` for each result row.
    func run(_ arguments: [Value], row: (any SQLColumns) throws -> Void) throws
}

extension SQLStatement {
    /// Runs the statement to its end.
    package func execute(_ arguments: [Value]) throws { try run(arguments) { _ in } }
}

/// One transaction's connection to the store, SQLite's or PostgreSQL's. The engine's SQL is
/// the part of SQL both speak: `?` parameters (PostgreSQL's session numbers them), upserts
/// with `ON CONFLICT`, `RETURNING`; where they differ, `dialect` says which it is.
///
/// Errors are GRDB's `DatabaseError`, whichever the database: a constraint that fails is
/// `SQLITE_CONSTRAINT` on both, so the engine tells a refused change the same way.
package protocol SQLSession: AnyObject {
    var dialect: SQLDialect { get }
    func prepare(_ sql: String) throws -> any SQLStatement
    /// Runs `sql`; without arguments it may hold several statements.
    func execute(sql: String, arguments: [Value]) throws
    /// The rows the last statement changed.
    var changesCount: Int { get }
    /// The rows every statement of the session changed.
    var totalChangesCount: Int { get }
    /// Runs `body` so that a statement of it that fails backs out alone, leaving the
    /// transaction usable: SQLite backs a statement out by itself, PostgreSQL needs a savepoint.
    func contained<T>(_ body: () throws -> T) throws -> T
    /// A value for a column that holds any type (`ANY`: a ghost, a conflict's values).
    func bindAny(_ value: Value) -> Value
    /// A value read from an `ANY` column.
    func readAny(_ value: Value) throws -> Value
    /// A value read from a domain column of declared type `type` (INTEGER, REAL, TEXT, BLOB).
    func read(_ value: Value, declared type: String) -> Value
}

extension SQLSession {
    /// The larger of two values: SQLite's scalar `max(a, b)`, PostgreSQL's `greatest(a, b)`.
    package var greatest: String { dialect == .postgres ? "greatest" : "max" }

    package func execute(sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws {
        try execute(sql: sql, arguments: arguments.map(Value.init(bound:)))
    }

    /// Runs `sql(count)`, a statement of `count` rows of parameters (`placeholders`), for
    /// `rows`, 100 rows to a statement: one round trip for many on PostgreSQL.
    package func execute(rows: [[Value]], sql: (_ count: Int) -> String) throws {
        for start in stride(from: 0, to: rows.count, by: 100) {
            let chunk = rows[start..<min(start + 100, rows.count)]
            try execute(sql: sql(chunk.count), arguments: chunk.flatMap { $0 })
        }
    }

    package func rows(sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try prepare(sql).run(arguments.map(Value.init(bound:))) { columns in
            rows.append(SQLRow(names: (0..<columns.count).map(columns.name), values: (0..<columns.count).map(columns.value)))
        }
        return rows
    }
}

extension Value {
    /// An argument as a statement binds it.
    package init(bound argument: (any DatabaseValueConvertible)?) {
        self = Value(argument?.databaseValue ?? .null)
    }
}

/// A result row, read whole: by position or by column name, as GRDB's `Row` is.
package struct SQLRow: Sendable {
    package let names: [String]
    package let values: [Value]

    package init(names: [String], values: [Value]) {
        self.names = names
        self.values = values
    }

    package var count: Int { values.count }

    package func hasColumn(_ name: String) -> Bool { names.contains(name) }

    package func value(_ name: String) -> Value {
        guard let index = names.firstIndex(of: name) else { preconditionFailure("no column \(name) in the result") }
        return values[index]
    }

    package subscript<T: DatabaseValueConvertible>(_ index: Int) -> T? { T.fromDatabaseValue(values[index].databaseValue) }

    @_disfavoredOverload
    package subscript<T: DatabaseValueConvertible>(_ index: Int) -> T {
        guard let value = T.fromDatabaseValue(values[index].databaseValue) else { preconditionFailure("column \(index) is \(values[index])") }
        return value
    }

    package subscript<T: DatabaseValueConvertible>(_ name: String) -> T? { T.fromDatabaseValue(value(name).databaseValue) }

    @_disfavoredOverload
    package subscript<T: DatabaseValueConvertible>(_ name: String) -> T {
        guard let value = T.fromDatabaseValue(value(name).databaseValue) else { preconditionFailure("column \(name) is \(value(name))") }
        return value
    }

    package static func fetchAll(_ db: any SQLSession, sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws -> [SQLRow] {
        try db.rows(sql: sql, arguments: arguments)
    }

    package static func fetchOne(_ db: any SQLSession, sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws -> SQLRow? {
        try db.rows(sql: sql, arguments: arguments).first
    }
}

extension DatabaseValueConvertible {
    /// The first column of the first row; nil if there is none, or it is NULL.
    package static func fetchOne(_ db: any SQLSession, sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws -> Self? {
        try db.rows(sql: sql, arguments: arguments).first.flatMap { $0[0] }
    }

    /// The first column of every row, NULLs left out.
    package static func fetchAll(_ db: any SQLSession, sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws -> [Self] {
        try db.rows(sql: sql, arguments: arguments).compactMap { $0[0] }
    }
}

extension DatabaseValueConvertible where Self: Hashable {
    package static func fetchSet(_ db: any SQLSession, sql: String, arguments: [(any DatabaseValueConvertible)?] = []) throws -> Set<Self> {
        Set(try fetchAll(db, sql: sql, arguments: arguments))
    }
}

/// `count` rows of `width` parameters each, `(?, ?), (?, ?)`: a `VALUES` list, or with one
/// row an `IN` list.
package func placeholders(width: Int, count: Int) -> String {
    Array(repeating: "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")", count: count).joined(separator: ", ")
}

/// `row` with its integers at `indices`, hub sequences, passed through `renumber` (a push
/// numbers its log entries and versions only once it holds the hub's log lock).
package func renumbered(_ row: [Value], at indices: [Int], by renumber: (Int64) -> Int64) -> [Value] {
    var row = row
    for index in indices { if case .integer(let seq) = row[index] { row[index] = .integer(renumber(seq)) } }
    return row
}

/// A session on a SQLite connection, inside the transaction GRDB opened.
package final class SQLiteSession: SQLSession {
    package let db: Database

    package init(_ db: Database) { self.db = db }

    package var dialect: SQLDialect { .sqlite }

    package func prepare(_ sql: String) throws -> any SQLStatement { try RawStatement(db, sql: sql) }

    package func execute(sql: String, arguments: [Value]) throws {
        // Bound through SQLite's C API, which takes a text whole (GRDB's binding stops at a NUL).
        if arguments.isEmpty { try db.execute(sql: sql) } else { try RawStatement(db, sql: sql).execute(arguments) }
    }

    package var changesCount: Int { db.changesCount }
    package var totalChangesCount: Int { db.totalChangesCount }

    package func contained<T>(_ body: () throws -> T) throws -> T { try body() }
    package func bindAny(_ value: Value) -> Value { value }
    package func readAny(_ value: Value) throws -> Value { value }
    package func read(_ value: Value, declared type: String) -> Value { value }
}
