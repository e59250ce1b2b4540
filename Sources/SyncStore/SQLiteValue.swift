import Foundation
package import GRDB
package import SyncCore

extension Value {
    /// Reads a value as SQLite stored it.
    package init(_ databaseValue: DatabaseValue) {
        switch databaseValue.storage {
        case .null: self = .null
        case .int64(let integer): self = .integer(integer)
        case .double(let number): self = .real(number)
        case .string(let text): self = .text(text)
        case .blob(let bytes): self = .blob(bytes)
        }
    }

    package var databaseValue: DatabaseValue {
        switch self {
        case .null: .null
        case .integer(let integer): integer.databaseValue
        case .real(let number): number.databaseValue
        case .text(let text): text.databaseValue
        case .blob(let bytes): bytes.databaseValue
        }
    }
}

extension Value {
    /// An optional integer or text as a value: NULL when absent.
    package init(_ integer: Int64?) { self = integer.map(Value.integer) ?? .null }

    package init(_ text: String?) { self = text.map(Value.text) ?? .null }

    /// A stored value from a GRDB row, whole. GRDB's text reading stops at a NUL character,
    /// so a text is taken again from `<column>_bytes`, which the query selects as
    /// `CAST(<column> AS BLOB) AS <column>_bytes` (`Value.bytesColumn`).
    package init(_ row: Row, whole column: String) {
        let value = Value(row[column] as DatabaseValue)
        if case .text = value, let bytes = row[column + "_bytes"] as Data? {
            self = .text(String(decoding: bytes, as: UTF8.self))
        } else {
            self = value
        }
    }

    /// The result column `init(_:whole:)` reads besides `column` itself.
    package static func bytesColumn(_ column: String, of table: String? = nil) -> String {
        "CAST(\(table.map { "\($0)." } ?? "")\(column) AS BLOB) AS \(column)_bytes"
    }
}

/// `name` as a quoted SQL identifier.
package func quoted(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// `text` as a quoted SQL string literal.
package func literal(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
}
