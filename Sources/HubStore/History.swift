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
    /// Deleted rows whose key and deletion version the hub still keeps.
    public var tombstones: Int
    /// Rows erased (`wirsync-hub audit` says by whom and why).
    public var erased: Int
    public var retention: Retention

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
        case entries, superseded, horizon, slowest, tombstones, erased, retention
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
    static func horizon(_ db: any SQLSession) throws -> (seq: Int64, slowest: LogHistory.SlowestReplica?) {
        if let row = try SQLRow.fetchOne(
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

    /// The lowest point every provisioned replica has pulled past, wirsync 1's included: those
    /// have no cursor of their own at the hub, only what their token was served. A token that
    /// was never served anything holds nothing to miss.
    static func tombstoneHorizon(_ db: any SQLSession, horizon: Int64) throws -> Int64 {
        let legacy = try Int64.fetchOne(
            db,
            sql: """
                SELECT min(t.served) FROM sync_tokens t
                WHERE t.revoked_at IS NULL AND t.served > 0 AND NOT EXISTS (SELECT 1 FROM sync_replicas r WHERE r.token = t.id)
                """)
        return legacy.map { min(horizon, $0 + 1) } ?? horizon
    }

    /// The query for the tombstones collected in a scope, when any were.
    static func collectedCheck(_ db: any SQLSession) throws -> (any SQLStatement)? {
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sync_hub_collected)") ?? false else { return nil }
        return try db.prepare("SELECT seq, hlc FROM sync_hub_collected WHERE scope = ?")
    }

    /// The record of an update that reached a row the hub no longer knows, in a scope whose
    /// tombstones were collected after what the writer had seen: its delete was collected. The
    /// winner is that delete, by the hub, at the newest clock collected in the scope. nil when
    /// the row is known, or the writer had seen every collected delete.
    func againstCollectedDelete(
        _ change: Change, collected: any SQLStatement, applier: Applier, db: any SQLSession
    ) throws -> NewConflict? {
        guard let table = schema.table(named: change.table) else { return nil }
        var deletion: (seq: Int64, hlc: Int64)?
        try collected.run([.text(change.centre ?? "")]) { row in deletion = (row.integer(0), row.integer(1)) }
        guard let deletion, deletion.seq > change.seen else { return nil }
        // Through the applier, which knows the versions of this batch it has not written yet.
        guard try !applier.storedRow(table: table, pk: change.pk, columns: false).exists else { return nil }
        return NewConflict(
            tableID: table.id, pk: change.pk, centre: change.centre, column: nil,
            winner: ConflictSide(value: .null, origin: Self.origin, hlc: HLC(rawValue: deletion.hlc)),
            loser: ConflictSide(value: try Self.rowValue(change.values), origin: change.origin, hlc: change.hlc))
    }

    /// What one compaction did.
    struct Compaction {
        var superseded = 0
        var tombstones = 0
        var conflictRecords = 0
    }

    /// Removes up to `limit` superseded entries below the horizon, thins the receipts below it,
    /// and remembers the horizon: a replica whose cursor lies below it and whose entry is gone
    /// was compacted past, not lost to a restore (`session`). Then collects the tombstones every
    /// provisioned replica has pulled past and that are older than `tombstone_days`, and drops
    /// the resolved conflict records the retention settings no longer keep. On PostgreSQL, where
    /// pulls compact beside each other, nothing if another compaction is running.
    @discardableResult
    static func compact(_ db: any SQLSession, limit: Int, now: Int64) throws -> Compaction {
        var done = Compaction()
        guard try PostgresLocks.tryLockCompaction(db) else { return done }
        let horizon = try horizon(db).seq
        let retention = try Retention.fetch(db)
        // The tombstones it may collect are read first and their scopes locked before it writes
        // anything: a push takes its locks before it writes, and the other order could deadlock.
        let aged = try agedTombstones(db, below: try tombstoneHorizon(db, horizon: horizon), olderThan: now - retention.tombstoneMillis, limit: limit)
        try db.execute(
            sql: """
                DELETE FROM sync_hub_log WHERE seq IN
                    (SELECT seq FROM sync_hub_log WHERE superseded IS NOT NULL AND seq < ? ORDER BY seq LIMIT ?)
                """,
            arguments: [horizon, limit])
        done.superseded = db.changesCount
        // A receipt of a batch every replica has pulled past keeps only its last entry's chain,
        // which covers the entries before it (a hash chain): a copy of the replica's file that
        // overlaps it is taken to have parted at its start (docs/history-and-erasure.md).
        try db.execute(sql: "UPDATE sync_receipts SET chains = substr(chains, -8) WHERE length(chains) > 8 AND hub_seq < ?", arguments: [horizon])
        try db.execute(sql: "UPDATE sync_hub_state SET compacted_below = \(db.greatest)(compacted_below, ?)", arguments: [horizon])
        done.tombstones = try collectTombstones(db, aged: aged)
        done.conflictRecords = try dropResolvedConflicts(db, retention: retention, below: horizon, now: now, limit: limit)
        return done
    }

    /// The live entries a compaction looks at for tombstones: in log order from
    /// `collected_through`, below `horizon`, up to the first one written after `cutoff`; and the
    /// point they reach. The scopes of those whose row is deleted are locked
    /// (`PostgresLocks`): a pull compacts beside pushes (`WriteLock.rows`).
    static func agedTombstones(_ db: any SQLSession, below horizon: Int64, olderThan cutoff: Int64, limit: Int) throws -> AgedEntries {
        let from = try Int64.fetchOne(db, sql: "SELECT collected_through FROM sync_hub_state")!
        // Read up to the first entry not old enough (usually the first one).
        var aged = AgedEntries(from: from, entries: [])
        let entries = try SQLRow.fetchAll(
            db,
            sql: """
                SELECT l.seq, l.tbl, l.pk, l.centre, l.at, r.alive, r.reg_hlc FROM sync_hub_log l
                LEFT JOIN sync_rows r ON r.tbl = l.tbl AND r.pk = l.pk
                WHERE l.seq > ? AND l.seq < ? AND l.superseded IS NULL AND l.op <> ?
                ORDER BY l.seq LIMIT ?
                """,
            arguments: [from, horizon, HubSQL.conflictOp, limit])
        for entry in entries {
            let at: Int64 = entry["at"]
            guard at < cutoff else { break }
            aged.entries.append(entry)
        }
        try PostgresLocks.lock(Set(aged.entries.filter { ($0["alive"] as Int64?) == 0 }.map { PostgresLocks.key(scope: $0["centre"]) }), db: db)
        return aged
    }

    struct AgedEntries {
        var from: Int64
        var entries: [SQLRow]
    }

    /// Collects the deleted rows among `aged` (their live entry, their register and versions,
    /// the values they keep). Each live entry is looked at once, in log order, once it has aged
    /// (`collected_through`). The highest entry collected per scope tells a replica that comes
    /// back from below it to re-sync (`session`). On PostgreSQL each row is read again under
    /// its scope's lock: a push may have written it again before the lock was taken.
    static func collectTombstones(_ db: any SQLSession, aged: AgedEntries) throws -> Int {
        let still = db.dialect == .sqlite ? nil : try db.prepare(
            "SELECT 1 FROM sync_hub_log l JOIN sync_rows r ON r.tbl = l.tbl AND r.pk = l.pk WHERE l.seq = ? AND l.superseded IS NULL AND r.alive = 0")
        var through = aged.from
        var collected = 0
        for entry in aged.entries {
            let alive: Int64? = entry["alive"]
            through = entry["seq"]
            guard alive == 0 else { continue }
            if let still {
                var found = false
                try still.run([.integer(through)]) { _ in found = true }
                guard found else { continue }
            }
            let (tbl, pk): (Int64, String) = (entry["tbl"], entry["pk"])
            try db.execute(sql: "DELETE FROM sync_hub_log WHERE seq = ?", arguments: [through])
            try db.execute(sql: "DELETE FROM sync_rows WHERE tbl = ? AND pk = ?", arguments: [tbl, pk])
            try db.execute(sql: "DELETE FROM sync_cols WHERE tbl = ? AND pk = ?", arguments: [tbl, pk])
            try db.execute(
                sql: """
                    INSERT INTO sync_hub_collected (scope, seq, hlc) VALUES (?, ?, ?)
                    ON CONFLICT (scope) DO UPDATE SET seq = \(db.greatest)(sync_hub_collected.seq, excluded.seq),
                        hlc = \(db.greatest)(sync_hub_collected.hlc, excluded.hlc)
                    """,
                arguments: [entry["centre"] as String? ?? "", through, entry["reg_hlc"] as Int64? ?? 0])
            collected += 1
        }
        if through > aged.from {
            try db.execute(sql: "UPDATE sync_hub_state SET collected_through = \(db.greatest)(collected_through, ?)", arguments: [through])
        }
        return collected
    }

    /// Drops resolved conflict records resolved longer ago than `resolved_conflict_days`, and
    /// the oldest resolved ones beyond `conflict_records_max`, with their announcements. Open
    /// records are never dropped: each is a decision HMSI still has to take.
    static func dropResolvedConflicts(_ db: any SQLSession, retention: Retention, below horizon: Int64, now: Int64, limit: Int) throws -> Int {
        // Only records every provisioned replica has pulled every announcement of: an entry at a
        // replica's cursor must stay, or its next session would take the hub for a restored one.
        let settled = """
            resolved_at IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM sync_hub_log l WHERE l.conflict = c.id AND l.op = \(HubSQL.conflictOp) AND l.seq >= ?)
            """
        // Counting the resolved records is a scan: only when more were ever made than are kept.
        let made = try Int.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM sync_conflicts")!
        let resolved = made <= retention.conflictRecordsMax
            ? 0 : try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NOT NULL")!
        let surplus = resolved - retention.conflictRecordsMax
        let ids = surplus <= 0 ? [] : try Int64.fetchAll(
            db, sql: "SELECT id FROM sync_conflicts c WHERE \(settled) ORDER BY resolved_at, id LIMIT ?", arguments: [horizon, min(limit, surplus)])
        let old = try Int64.fetchAll(
            db, sql: "SELECT id FROM sync_conflicts c WHERE \(settled) AND resolved_at < ? LIMIT ?",
            arguments: [horizon, now - retention.resolvedConflictMillis, limit])
        let dropped = Set(ids).union(old)
        for id in dropped {
            try db.execute(sql: "DELETE FROM sync_conflicts WHERE id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM sync_hub_log WHERE conflict = ? AND op = ?", arguments: [id, HubSQL.conflictOp])
        }
        return dropped.count
    }

    /// The log's size, its oldest entry and the replica that holds compaction back.
    static func history(_ db: any SQLSession) throws -> LogHistory {
        let counts = try SQLRow.fetchOne(
            db,
            sql: "SELECT count(*) AS entries, min(seq) AS oldest, (SELECT count(*) FROM sync_hub_log WHERE superseded IS NOT NULL) AS superseded FROM sync_hub_log")!
        let oldest: Int64? = counts["oldest"]
        let (horizon, slowest) = try Self.horizon(db)
        return LogHistory(
            entries: counts["entries"], superseded: counts["superseded"], oldestSeq: oldest,
            oldestAt: try oldest.flatMap { try Int64.fetchOne(db, sql: "SELECT at FROM sync_hub_log WHERE seq = ?", arguments: [$0]) },
            horizon: horizon, slowest: slowest,
            tombstones: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_rows WHERE alive = 0")!,
            erased: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_hub_erased")!, retention: try Retention.fetch(db))
    }
}

/// How long the hub keeps what it no longer needs for syncing (docs/history-and-erasure.md),
/// kept in the hub's file: `wirsync-hub retention` shows and sets it.
public struct Retention: Sendable, Hashable, Codable {
    /// A deleted row's key and deletion version are collected no earlier than this many days
    /// after the delete, and only once every provisioned replica has pulled past it.
    public var tombstoneDays: Int
    /// A resolved conflict record, with the losing value it keeps, goes this many days after it
    /// was resolved.
    public var resolvedConflictDays: Int
    /// Beyond this many resolved records, the oldest resolved ones go first.
    public var conflictRecordsMax: Int

    public static let defaults = Retention(tombstoneDays: 30, resolvedConflictDays: 365, conflictRecordsMax: 100_000)

    public init(tombstoneDays: Int, resolvedConflictDays: Int, conflictRecordsMax: Int) {
        self.tombstoneDays = tombstoneDays
        self.resolvedConflictDays = resolvedConflictDays
        self.conflictRecordsMax = conflictRecordsMax
    }

    var tombstoneMillis: Int64 { Int64(tombstoneDays) * 86_400_000 }
    var resolvedConflictMillis: Int64 { Int64(resolvedConflictDays) * 86_400_000 }

    static func fetch(_ db: any SQLSession) throws -> Retention {
        let row = try SQLRow.fetchOne(db, sql: "SELECT tombstone_days, resolved_conflict_days, conflict_records_max FROM sync_hub_state")!
        return Retention(tombstoneDays: row[0], resolvedConflictDays: row[1], conflictRecordsMax: row[2])
    }

    enum CodingKeys: String, CodingKey {
        case tombstoneDays = "tombstone_days"
        case resolvedConflictDays = "resolved_conflict_days"
        case conflictRecordsMax = "conflict_records_max"
    }
}

extension HubStore {
    public func retention() async throws(HubError) -> Retention {
        try await read { db in try Retention.fetch(db) }
    }

    /// Sets the retention; the next compaction (after a pull) applies it. Recorded in the audit.
    public func setRetention(_ retention: Retention, by actor: String) async throws(HubError) -> Retention {
        guard retention.tombstoneDays >= 0, retention.resolvedConflictDays >= 0, retention.conflictRecordsMax >= 0,
            retention.tombstoneDays <= 36_500, retention.resolvedConflictDays <= 36_500
        else {
            throw .badRequest(code: "invalid_retention", message: "retention days are 0 to 36500 and the record count is not negative")
        }
        let now = clock.nowMillis()
        return try await write { db in
            try db.execute(
                sql: "UPDATE sync_hub_state SET tombstone_days = ?, resolved_conflict_days = ?, conflict_records_max = ?",
                arguments: [retention.tombstoneDays, retention.resolvedConflictDays, retention.conflictRecordsMax])
            try Self.audit(
                db, at: now, actor: actor, action: "retention", table: nil, pk: nil, centre: nil,
                detail: "tombstone-days \(retention.tombstoneDays), resolved-conflict-days \(retention.resolvedConflictDays), "
                    + "conflict-records-max \(retention.conflictRecordsMax)")
            return try Retention.fetch(db)
        }
    }
}
