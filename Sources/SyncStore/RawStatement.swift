import CSQLiteShim
import Foundation
package import GRDB
package import SyncCore

/// A statement prepared once and run straight through SQLite's C API.
///
/// For the statements the engine runs for every change (a row's versions and current
/// values, the domain write, the version and log writes): there GRDB's `Row` copies, column
/// lookups by name and argument boxing cost about as much as SQLite's own work
/// (docs/benchmarks-method.md). Owned by one `Applier` or loop, used on its connection's
/// queue inside the caller's transaction; every run leaves the statement reset, so one that
/// failed (a constraint) can run again.
package final class RawStatement: SQLStatement {
    private let statement: Statement
    private let connection: OpaquePointer?

    package init(_ db: Database, sql: String) throws {
        statement = try db.makeStatement(sql: sql)
        connection = db.sqliteConnection
    }

    /// Runs the query with `arguments` bound in order and calls `row` for each result row.
    package func run(_ arguments: [Value], row: (any SQLColumns) throws -> Void) throws {
        let handle = statement.sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code = switch argument {
            case .null: sqlite3_bind_null(handle, index)
            case .integer(let integer): sqlite3_bind_int64(handle, index, integer)
            case .real(let number): sqlite3_bind_double(handle, index, number)
            // The length in bytes, not -1: a text may hold NUL characters.
            case .text(let text): sqlite3_bind_text(handle, index, text, Int32(text.utf8.count), transient)
            case .blob(let bytes):
                bytes.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), transient) }
            }
            guard code == SQLITE_OK else { throw error(code) }
        }
        while true {
            switch sqlite3_step(handle) {
            case SQLITE_ROW: try row(Columns(handle: handle))
            case SQLITE_DONE: return
            case let code: throw error(code)
            }
        }
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code), message: connection.map { String(cString: sqlite3_errmsg($0)) },
            sql: statement.sql)
    }

    /// The columns of the current result row, by position.
    package struct Columns: SQLColumns {
        let handle: OpaquePointer?

        package var count: Int32 { sqlite3_column_count(handle) }

        package func name(_ column: Int32) -> String { String(cString: sqlite3_column_name(handle, column)) }

        package func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

        package func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

        package func text(_ column: Int32) -> String {
            guard let bytes = sqlite3_column_text(handle, column) else { return "" }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
        }

        /// The column as SQLite stores it.
        package func value(_ column: Int32) -> Value {
            switch sqlite3_column_type(handle, column) {
            case SQLITE_INTEGER: return .integer(integer(column))
            case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
            case SQLITE_TEXT: return .text(text(column))
            case SQLITE_BLOB:
                let count = Int(sqlite3_column_bytes(handle, column))
                guard count > 0, let bytes = sqlite3_column_blob(handle, column) else { return .blob(Data()) }
                return .blob(Data(bytes: bytes, count: count))
            default: return .null
            }
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: SQLite copies a bound text or blob before `bind` returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
