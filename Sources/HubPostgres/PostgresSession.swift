import Foundation
import GRDB
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
package import SyncCore
package import SyncStore

/// The engine's SQL on one PostgreSQL connection, inside a transaction the database opened
/// (`PostgresHubDatabase`). It runs on a thread of the database's own pool, never on an event
/// loop or the cooperative pool, and waits for each statement: the engine's rules are written
/// once, synchronously, for both databases (docs/postgres.md, "One engine, two databases").
///
/// Values are kept as `PostgresValues` says: every text as `bytea` holding its UTF-8 (the
/// engine's own text columns too, so a text binds the same everywhere and orders byte by
/// byte), integers as `bigint`, reals as `double precision`, ANY as tagged `bytea`.
package final class PostgresSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logger
    private(set) package var changesCount = 0
    private(set) package var totalChangesCount = 0
    private var savepoints = 0
    /// Whether `contained` sets a savepoint; without, a failure in it aborts the transaction.
    private let containsWithSavepoints: Bool

    init(connection: PostgresConnection, logger: Logger, savepoints: Bool = true) {
        self.connection = connection
        self.logger = logger
        containsWithSavepoints = savepoints
    }

    package var dialect: SQLDialect { .postgres }

    package func prepare(_ sql: String) throws -> any SQLStatement {
        PostgresStatement(session: self, sql: Self.numbered(sql))
    }

    package func execute(sql: String, arguments: [Value]) throws {
        if arguments.isEmpty, sql.contains(";") {
            // Several statements (DDL), one by one: the extended protocol takes one at a time.
            for statement in Self.statements(sql) { try PostgresStatement(session: self, sql: statement).execute([]) }
        } else {
            try PostgresStatement(session: self, sql: Self.numbered(sql)).execute(arguments)
        }
    }

    /// Backs out what `body` wrote when it fails, and keeps the transaction going: in a
    /// savepoint, two statements more. In a session without savepoints (the first run of a
    /// write, `PostgresHubDatabase.transaction`), a failure of PostgreSQL's in `body` aborts the
    /// transaction instead, and the database runs it again with savepoints: a refused change is
    /// rare, and the savepoints cost a third of an insert's round trips.
    package func contained<T>(_ body: () throws -> T) throws -> T {
        guard containsWithSavepoints else {
            do {
                return try body()
            } catch let error as DatabaseError {
                throw PostgresSavepointsNeeded(failure: error)
            }
        }
        savepoints += 1
        let name = "wirsync_\(savepoints)"
        defer { savepoints -= 1 }
        try execute(sql: "SAVEPOINT \(name)")
        do {
            let result = try body()
            try execute(sql: "RELEASE SAVEPOINT \(name)")
            return result
        } catch {
            try execute(sql: "ROLLBACK TO SAVEPOINT \(name)")
            try execute(sql: "RELEASE SAVEPOINT \(name)")
            throw error
        }
    }

    package func bindAny(_ value: Value) -> Value { .blob(Data(PostgresValues.tagged(value))) }

    package func readAny(_ value: Value) throws -> Value {
        switch value {
        case .null: return .null
        case .blob(let bytes):
            do {
                return try PostgresValues.untagged(Array(bytes))
            } catch {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: error.description)
            }
        default: throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "an ANY column holds \(value)")
        }
    }

    package func read(_ value: Value, declared type: String) -> Value {
        if type == "TEXT", case .blob(let bytes) = value { return .text(String(decoding: bytes, as: UTF8.self)) }
        return value
    }

    /// Runs one statement and hands its rows, decoded, to `row`.
    fileprivate func run(_ sql: String, _ arguments: [Value], row: (any SQLColumns) throws -> Void) throws {
        let binds = arguments.map(Self.bind)
        let collected = NIOLockedValueBox((rows: [[Value]](), names: [String](), changed: 0))
        let future = connection.query(
            sql, binds,
            onMetadata: { metadata in
                if ["INSERT", "UPDATE", "DELETE"].contains(metadata.command) {
                    collected.withLockedValue { $0.changed = metadata.rows ?? 0 }
                }
            },
            onRow: { postgresRow in
                var values: [Value] = []
                var names: [String] = []
                for cell in postgresRow {
                    values.append(try Self.decode(cell))
                    names.append(cell.columnName)
                }
                collected.withLockedValue {
                    if $0.names.isEmpty { $0.names = names }
                    $0.rows.append(values)
                }
            })
        do {
            try wait(future)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
            // The statement, for the log: SQL carries no values, they are bound.
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: "\(error.message ?? "") (in \(sql.prefix(160)))")
        }
        let (rows, names, changed) = collected.withLockedValue { ($0.rows, $0.names, $0.changed) }
        changesCount = changed
        totalChangesCount += changed
        for values in rows { try row(PostgresColumns(names: names, values: values)) }
    }

    private func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        do {
            return try future.wait()
        } catch let error as PSQLError {
            throw Self.databaseError(state: error.serverInfo?[.sqlState], message: error.serverInfo?[.message] ?? "\(error)")
        } catch PostgresError.server(let error) {
            throw Self.databaseError(state: error.fields[.sqlState], message: error.fields[.message] ?? "\(error)")
        } catch let error as PostgresError {
            throw Self.databaseError(state: nil, message: error.description)
        }
    }

    /// A PostgreSQL error as the engine reads errors: a constraint is `SQLITE_CONSTRAINT`, so a
    /// refused change reads the same on both databases; a lost race for a lock is retried.
    static func databaseError(state: String?, message: String) -> any Error {
        guard let state else { return DatabaseError(resultCode: .SQLITE_IOERR, message: "PostgreSQL: \(message)") }
        if state == "40001" || state == "40P01" { return PostgresRetry(message: message) }
        if state.hasPrefix("23") { return DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: message) }
        return DatabaseError(resultCode: .SQLITE_ERROR, message: "PostgreSQL \(state): \(message)")
    }

    static func bind(_ value: Value) -> PostgresData {
        switch value {
        case .null: .null
        case .integer(let integer): PostgresData(int64: integer)
        case .real(let real): PostgresData(double: real)
        case .text(let text): PostgresData(type: .bytea, formatCode: .binary, value: ByteBuffer(string: text))
        case .blob(let bytes): PostgresData(type: .bytea, formatCode: .binary, value: ByteBuffer(bytes: bytes))
        }
    }

    static func decode(_ cell: PostgresCell) throws -> Value {
        guard let bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Data(bytes.readableBytesView))
        case .numeric:
            let number = try cell.decode(Decimal.self)
            let rounded = NSDecimalNumber(decimal: number)
            if number == Decimal(rounded.int64Value) { return .integer(rounded.int64Value) }
            return .real(rounded.doubleValue)
        default: return .text(try cell.decode(String.self))
        }
    }

    /// The statements of a script, split at each `;` outside literals and names.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == ";" {
                statements.append(current)
                current = ""
                continue
            }
            current.append(character)
        }
        statements.append(current)
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// SQLite's `?` and `?N` parameters as PostgreSQL's `$N`, outside literals and names.
    static func numbered(_ sql: String) -> String {
        if let cached = numberedCache.withLockedValue({ $0[sql] }) { return cached }
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var next = 0
        var quote: Character?
        var characters = sql.makeIterator()
        var pending = characters.next()
        while let character = pending {
            pending = characters.next()
            if let open = quote {
                result.append(character)
                if character == open { quote = nil }
                continue
            }
            switch character {
            case "'", "\"":
                quote = character
                result.append(character)
            case "?":
                var digits = ""
                while let digit = pending, digit.isASCII, digit.isNumber {
                    digits.append(digit)
                    pending = characters.next()
                }
                if digits.isEmpty {
                    next += 1
                    digits = String(next)
                }
                result += "$" + digits
            default:
                result.append(character)
            }
        }
        numberedCache.withLockedValue { $0[sql] = result }
        return result
    }

    private static let numberedCache = NIOLockedValueBox([String: String]())
}

/// A transaction that lost a race for a lock (a deadlock or a serialization failure): the
/// database runs it again.
struct PostgresRetry: Error {
    var message: String
}

/// A statement failed in a `contained` body run without its savepoint: the transaction is
/// aborted, and the database runs it again with savepoints.
struct PostgresSavepointsNeeded: Error {
    var failure: DatabaseError
}

/// A statement of a `PostgresSession`: its SQL numbered once, run through the extended protocol.
private final class PostgresStatement: SQLStatement {
    let session: PostgresSession
    let sql: String

    init(session: PostgresSession, sql: String) {
        self.session = session
        self.sql = sql
    }

    func run(_ arguments: [Value], row: (any SQLColumns) throws -> Void) throws {
        try session.run(sql, arguments, row: row)
    }
}

private struct PostgresColumns: SQLColumns {
    let names: [String]
    let values: [Value]

    var count: Int32 { Int32(values.count) }
    func name(_ column: Int32) -> String { names[Int(column)] }
    func isNull(_ column: Int32) -> Bool { values[Int(column)] == .null }

    func integer(_ column: Int32) -> Int64 {
        switch values[Int(column)] {
        case .integer(let integer): integer
        case .real(let real): Int64(real)
        case .text(let text): Int64(text) ?? 0
        case .blob(let bytes): Int64(String(decoding: bytes, as: UTF8.self)) ?? 0
        case .null: 0
        }
    }

    func text(_ column: Int32) -> String {
        switch values[Int(column)] {
        case .text(let text): text
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .integer(let integer): String(integer)
        case .real(let real): String(real)
        case .null: ""
        }
    }

    func value(_ column: Int32) -> Value { values[Int(column)] }
}
