import Crypto
import Foundation
package import GRDB
package import SyncCore

/// A digest of each replicated table's rows in a scope, computed the same way by replica and
/// hub, so `wirsync verify` can compare them without sending the rows.
///
/// Rows are taken in primary-key order (binary collation) and fed to a `TableHasher`.
package enum Digest {
    /// - Parameter centre: the centre whose rows of centre-scoped tables count; nil for all.
    package static func tables(_ db: Database, schema: StoreSchema, centre: String?) throws -> [String: TableDigest] {
        try tables(SQLiteSession(db), schema: schema, centre: centre)
    }

    package static func tables(_ db: any SQLSession, schema: StoreSchema, centre: String?) throws -> [String: TableDigest] {
        var digests: [String: TableDigest] = [:]
        for table in schema.tables {
            let columns = table.columns.map(\.name).sorted()
            let names = ([table.primaryKey] + columns).map(quoted).joined(separator: ", ")
            let filter = table.scope == .centre && centre != nil ? " WHERE \(quoted(Node.centreColumn)) = ?" : ""
            // Read through SQLite's C API: GRDB's text reading stops at a NUL character, and
            // two texts that differ only after one must not digest alike.
            let rows = try db.prepare(
                "SELECT \(names) FROM \(quoted(table.name))\(filter) ORDER BY \(quoted(table.primaryKey))")
            var digest = TableHasher()
            let types = ["TEXT"] + columns.map { table.column(named: $0)?.type ?? "ANY" }
            try rows.run(filter.isEmpty ? [] : [Value(centre)]) { row in
                digest.add(types.enumerated().map { db.read(row.value(Int32($0.offset)), declared: $0.element) })
            }
            digests[table.name] = digest.finalize()
        }
        return digests
    }
}

/// The digest of one table: its rows fed in primary-key order (byte-wise), each value with its
/// storage class and length, so `1`, `1.0`, `'1'` and `X'31'` all hash differently. Any store
/// that feeds the same rows in the same order gets the same digest (SQLite's and PostgreSQL's).
package struct TableHasher {
    private var hasher = SHA256()
    private var count = 0

    package init() {}

    /// One row: its key, then its columns in name order.
    package mutating func add(_ row: [Value]) {
        for value in row { feed(value) }
        count += 1
    }

    package func finalize() -> TableDigest {
        TableDigest(rows: count, sha256: hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    private mutating func feed(_ value: Value) {
        func bytes(_ tag: UInt8, _ payload: some Sequence<UInt8>) {
            let payload = Array(payload)
            hasher.update(data: [tag])
            withUnsafeBytes(of: UInt64(payload.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: payload)
        }
        switch value {
        case .null: bytes(0, [])
        case .integer(let integer): withUnsafeBytes(of: integer.bigEndian) { bytes(1, $0) }
        case .real(let number): withUnsafeBytes(of: number.bitPattern.bigEndian) { bytes(2, $0) }
        case .text(let text): bytes(3, text.utf8)
        case .blob(let data): bytes(4, data)
        }
    }
}
