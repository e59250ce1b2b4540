import Foundation
public import SyncCore

/// How a replicated value is kept in PostgreSQL so that it comes back exactly, type and bytes
/// (docs/postgres.md, "Values"): INTEGER as `bigint`, REAL as `double precision`, TEXT and
/// BLOB as `bytea` (PostgreSQL's `text` cannot hold NUL; `bytea` compares byte by byte, as
/// SQLite's BINARY collation does), ANY as a tagged `bytea`.
public enum PostgresValues {
    /// An ANY value as bytes: a tag (`n`, `i`, `r`, `t`, `b`), then 8 bytes big-endian for
    /// an integer or a real, or the text's UTF-8 or the blob's bytes.
    public static func tagged(_ value: Value) -> [UInt8] {
        func eight(_ bits: UInt64) -> [UInt8] { withUnsafeBytes(of: bits.bigEndian, Array.init) }
        switch value {
        case .null: return [UInt8(ascii: "n")]
        case .integer(let integer): return [UInt8(ascii: "i")] + eight(UInt64(bitPattern: integer))
        case .real(let real): return [UInt8(ascii: "r")] + eight(real.bitPattern)
        case .text(let text): return [UInt8(ascii: "t")] + Array(text.utf8)
        case .blob(let data): return [UInt8(ascii: "b")] + Array(data)
        }
    }

    public static func untagged(_ bytes: [UInt8]) throws(PostgresValueError) -> Value {
        guard let tag = bytes.first else { throw PostgresValueError(message: "an empty tagged value") }
        let payload = bytes.dropFirst()
        func eight() throws(PostgresValueError) -> UInt64 {
            guard payload.count == 8 else { throw PostgresValueError(message: "a tagged number of \(payload.count) bytes") }
            return payload.reduce(0) { $0 << 8 | UInt64($1) }
        }
        switch tag {
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "i"): return .integer(Int64(bitPattern: try eight()))
        case UInt8(ascii: "r"): return .real(Double(bitPattern: try eight()))
        case UInt8(ascii: "t"):
            guard let text = String(validating: payload, as: UTF8.self) else { throw PostgresValueError(message: "a tagged text that is not UTF-8") }
            return .text(text)
        case UInt8(ascii: "b"): return .blob(Data(payload))
        default: throw PostgresValueError(message: "an unknown value tag \(tag)")
        }
    }
}

public struct PostgresValueError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var description: String { message }
}
