import GRDB
import SyncCore
import SyncStore

/// What the hub's log holds, for `wirsync-hub status` (docs/history-and-erasure.md).
public struct LogHistory: Sendable, Codable, Hashable {
    /// Entries in the log: live ones (one per row, and the conflict announcements) and
    /// superseded ones not yet compacted.
    public var entries: Int
    public var superseded: Int
    /// The oldest entry still kept, and when it was written.
    public var oldestSeq: Int64?
    public var oldestAt: Int64?
    /// Superseded entries below this sequence are gone: the lowest cursor of every replica
    /// still provisioned, when the hub last compacted.
    public var horizon: Int64
    /// The replica whose cursor is the horizon: the one that holds compaction back.
    public var slowest: SlowestReplica?

    public struct SlowestReplica: Sendable, Codable, Hashable {
        public var origin: String
        public var centre: String
        public var cursor: Int64
        /// Its last pull, or session if it never pulled (ms since the epoch).
        public var lastContact: Int64?

        enum CodingKeys: String, CodingKey {
            case origin, centre, cursor
            case lastContact = "last_contact"
        }
    }

    enum CodingKeys: String, CodingKey {
        case entries, superseded, horizon, slowest
        case oldestSeq = "oldest_seq"
        case oldestAt = "oldest_at"
    }
}

extension HubStore {
    /// Superseded entries a compaction removes at most in one go: one pull's write waits for
    /// it, so it stays short; the next pull goes on.
    static let compactionStep = 5_000

    /// The lowest cursor of every replica still provisioned (neither it nor its token
    /// revoked): every entry below it has been pulled by all of them. With no replica of
    /// protocol 2, the end of the log.
    static func horizon(_ db: Database) throws -> (seq: Int64, slowest: LogHistory.SlowestReplica?) {
        if let row = try Row.fetchOne(
            db,
            sql: """
                SELECT r.origin, r.centre, coalesce(r.cursor, 0) AS cursor, coalesce(r.last_pull_at, r.last_session_at) AS contact
                FROM sync_replicas r JOIN sync_tokens t ON t.id = r.token
                WHERE r.revoked_at IS NULL AND t.revoked_at IS NULL
                ORDER BY coalesce(r.cursor, 0), r.origin LIMIT 1
                """)
        {
            let cursor: Int64 = row["cursor"]
            return (cursor, LogHistory.SlowestReplica(origin: row["origin"], centre: row["centre"], cursor: cursor, lastContact: row["contact"]))
        }
        return (try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) + 1 FROM sync_hub_log")!, nil)
    }

    /// Removes up to `limit` superseded entries below the horizon, thins the receipts below it,
    /// and remembers the horizon:
    /// a replica whose cursor lies below it and whose entry is gone was compacted past, not
    /// lost to a restore (`session`). Returns how many entries went.
    @discardableResult
    static func compact(_ db: Database, limit: Int) throws -> Int {
        let horizon = try horizon(db).seq
        try db.execute(
            sql: """
                DELETE FROM sync_hub_log WHERE seq IN
                    (SELECT seq FROM sync_hub_log WHERE superseded IS NOT NULL AND seq < ? ORDER BY seq LIMIT ?)
                """,
            arguments: [horizon, limit])
        let removed = db.changesCount
        // A receipt of a batch every replica has pulled past keeps only its last entry's chain,
        // which covers the entries before it (a hash chain): a copy of the replica's file that
        // overlaps it is taken to have parted at its start (docs/history-and-erasure.md).
        try db.execute(sql: "UPDATE sync_receipts SET chains = substr(chains, -8) WHERE length(chains) > 8 AND hub_seq < ?", arguments: [horizon])
        try db.execute(sql: "UPDATE sync_hub_state SET compacted_below = max(compacted_below, ?)", arguments: [horizon])
        return removed
    }

    /// The log's size, its oldest entry and the replica that holds compaction back.
    static func history(_ db: Database) throws -> LogHistory {
        let counts = try Row.fetchOne(
            db,
            sql: "SELECT count(*) AS entries, min(seq) AS oldest, (SELECT count(*) FROM sync_hub_log WHERE superseded IS NOT NULL) AS superseded FROM sync_hub_log")!
        let oldest: Int64? = counts["oldest"]
        let (horizon, slowest) = try Self.horizon(db)
        return LogHistory(
            entries: counts["entries"], superseded: counts["superseded"], oldestSeq: oldest,
            oldestAt: try oldest.flatMap { try Int64.fetchOne(db, sql: "SELECT at FROM sync_hub_log WHERE seq = ?", arguments: [$0]) },
            horizon: horizon, slowest: slowest)
    }
}
