import GRDB
import SyncCore

/// The points of the hub log a replica pulled through (`sync_checkpoints`), which a session
/// sends so that the hub can tell where its log and the replica's view of it part
/// (docs/replicas-and-restores.md, "Where the logs part"). At most
/// `SessionRequest.maxCheckpoints` are kept, spaced about geometrically back from the newest:
/// a hub is usually put back to a recent backup, sometimes to an old one.
enum Checkpoints {
    /// Keeps the cursor a pull committed as a checkpoint.
    static func record(_ position: LogPosition, db: Database) throws {
        guard position.seq > 0, let check = position.check else { return }
        try db.execute(sql: "INSERT OR REPLACE INTO sync_checkpoints (seq, fingerprint) VALUES (?, ?)", arguments: [position.seq, check.hex])
        var seqs = try Int64.fetchAll(db, sql: "SELECT seq FROM sync_checkpoints ORDER BY seq")
        while seqs.count > SessionRequest.maxCheckpoints {
            // Drop the inner point whose neighbours lie closest together, measured against how
            // far back from the newest it is: the newest and the oldest always stay.
            let newest = Double(seqs.last!)
            let drop = (1..<(seqs.count - 1)).min { a, b in
                let span = { (i: Int) in Double(seqs[i + 1] - seqs[i - 1]) / (newest - Double(seqs[i]) + 1) }
                return span(a) < span(b)
            }!
            try db.execute(sql: "DELETE FROM sync_checkpoints WHERE seq = ?", arguments: [seqs[drop]])
            seqs.remove(at: drop)
        }
    }

    /// Forgets the checkpoints beyond `seq`, where the cursor moved back to after a hub
    /// restore: what the replica pulled past it is not in the hub's history.
    static func forget(after seq: Int64, db: Database) throws {
        try db.execute(sql: "DELETE FROM sync_checkpoints WHERE seq > ?", arguments: [seq])
    }

    /// Every checkpoint, oldest first.
    static func all(db: Database) throws -> [LogPosition] {
        try Row.fetchAll(db, sql: "SELECT seq, fingerprint FROM sync_checkpoints ORDER BY seq").map {
            LogPosition(seq: $0["seq"], check: Fingerprint(hex: $0["fingerprint"]))
        }
    }
}
