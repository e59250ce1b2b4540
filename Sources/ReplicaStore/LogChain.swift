import Crypto
import Foundation
import GRDB
import SyncCore
import SyncStore

/// The hash chain over a replica's captured entries (docs/replicas-and-restores.md).
///
/// `chain(s) = SHA-256(chain(prev) ‖ seq ‖ table ‖ op ‖ column ‖ wall ‖ centre ‖ key)`,
/// truncated to 64 bits. Two files hold the same entries up to `s` exactly when their
/// chains at `s` are equal, so a restored copy finds where its history left the history
/// the hub acknowledged. It depends only on what the capture triggers wrote, so a copy
/// computes the same values as the file it was copied from.
enum LogChain {
    /// The chain of one entry after `previous`.
    static func next(
        after previous: Int64, seq: Int64, table: Int64, op: Int64, column: Int64?, wall: Int64, centre: String?, pk: String
    ) -> Int64 {
        var hasher = SHA256()
        for number in [previous, seq, table, op, column ?? -1, wall] {
            withUnsafeBytes(of: number.bigEndian) { hasher.update(bufferPointer: $0) }
        }
        hasher.update(data: Data((centre ?? "").utf8))
        hasher.update(data: [0])
        hasher.update(data: Data(pk.utf8))
        return hasher.finalize().withUnsafeBytes { bytes in
            Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
        }
    }

    /// Gives every entry that has none its chain, in log order, from the last chained one;
    /// returns the chain of the last entry (0 for an empty log).
    @discardableResult
    static func extend(_ db: Database) throws -> Int64 {
        var (last, previous) = try Row.fetchOne(
            db, sql: "SELECT seq, chain FROM sync_log WHERE chain IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).map { ($0["seq"] as Int64, $0["chain"] as Int64) } ?? (0, 0)
        let read = try RawStatement(
            db, sql: "SELECT seq, tbl, op, col, wall, centre, pk FROM sync_log WHERE seq > ? ORDER BY seq LIMIT 2000")
        let write = try RawStatement(db, sql: "UPDATE sync_log SET chain = ? WHERE seq = ?")
        while true {
            var entries: [(seq: Int64, chain: Int64)] = []
            try read.run([.integer(last)]) { row in
                previous = next(
                    after: previous, seq: row.integer(0), table: row.integer(1), op: row.integer(2), column: row.optionalInteger(3),
                    wall: row.integer(4), centre: row.optionalText(5), pk: row.text(6))
                entries.append((row.integer(0), previous))
            }
            guard let end = entries.last else { return previous }
            for entry in entries { try write.execute([.integer(entry.chain), .integer(entry.seq)]) }
            last = end.seq
        }
    }
}
