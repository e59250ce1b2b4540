import SyncCore
package import SyncStore

/// The locks by which hub writes on PostgreSQL share the store (docs/hub.md, "Several hub
/// processes"). All are transaction-level advisory locks, released at commit or rollback.
///
/// - The store lock: taken alone (exclusive) by a `.store` write, shared by a `.rows` write.
/// - A key lock for each scope a push writes rows of, and for its replica (`lock`), in one
///   order, so that two pushes of one replica, or two that touch rows of one centre, run one
///   after the other. Per scope, not per row: a push holds a handful of locks, however large
///   its batch (PostgreSQL keeps them in a table of `max_locks_per_transaction` slots per
///   connection).
/// - The log lock (`lockLog`), taken by a `.rows` write before it numbers its log entries
///   and held to its commit: entries are numbered from the last one committed and committed
///   before the next writer numbers its own, so a pull never passes one that commits later.
/// - The compaction lock (`tryLockCompaction`): a pull's compaction step runs only while no
///   other one does, and is skipped otherwise (the one running does the work).
///
/// On SQLite, whose one writer has the store to itself, each is nothing.
package enum PostgresLocks {
    /// The store lock's key: "WIRSYNC" in ASCII.
    package static let store: Int64 = 0x57_49_52_53_59_4E_43
    /// The log lock's key.
    static let log: Int64 = store + 1
    /// The compaction lock's key.
    static let compaction: Int64 = store + 2
    /// The high half of every key lock's key; the low half is a hash of the key.
    static let keyClass: Int64 = 0x5753 << 32

    /// Waits for the lock of every key (a handful: a replica, the scopes of one batch), in the
    /// order of their hashes. Two keys of the same hash share a lock, which only makes two
    /// writers wait that need not.
    static func lock(_ keys: Set<String>, db: any SQLSession) throws {
        guard db.dialect == .postgres, !keys.isEmpty else { return }
        let hashes = Set(keys.map(hash)).sorted().map { Value.integer(keyClass | Int64($0)) }
        try db.execute(
            sql: "SELECT count(pg_advisory_xact_lock(k)) FROM (VALUES \(placeholders(width: 1, count: hashes.count))) AS v (k)",
            arguments: hashes)
    }

    /// FNV-1a of the key's UTF-8, 32 bits: the same in every hub process.
    private static func hash(_ key: String) -> UInt32 {
        key.utf8.reduce(2_166_136_261) { ($0 ^ UInt32($1)) &* 16_777_619 }
    }

    /// Takes the compaction lock if no other transaction holds it: one compaction at a time,
    /// in every process (two at once would take the same rows' locks in their own orders).
    /// Always true on SQLite.
    static func tryLockCompaction(_ db: any SQLSession) throws -> Bool {
        guard db.dialect == .postgres else { return true }
        return try Bool.fetchOne(db, sql: "SELECT pg_try_advisory_xact_lock(?)", arguments: [compaction]) == true
    }

    /// Waits for the log lock.
    package static func lockLog(_ db: any SQLSession) throws {
        guard db.dialect == .postgres else { return }
        try db.execute(sql: "SELECT pg_advisory_xact_lock(?)", arguments: [log])
    }

    /// The key of a scope's rows, for `lock`: a centre's, or the reference data's (nil).
    static func key(scope centre: String?) -> String { centre.map { "scope \($0)" } ?? "reference" }

    /// The key of a centre's sync activity (`recordActivity`), for `lock`.
    static func key(activityOf centre: String) -> String { "activity \(centre)" }

    /// The key of a pushing replica, for `lock`: its acknowledgement.
    static func key(centre: String, replica: String) -> String { "replica \(centre) \(replica)" }
}
