import CSQLiteShim
import Glibc
package import GRDB

/// Opens the sync engine's own connection to a store.
///
/// Triggers are off on this connection: what the engine writes (remote changes, version
/// bookkeeping) is never captured as a local change. Foreign keys are off because the
/// merge applies rows independently, in whatever order they arrive.
package enum StoreConnection {
    /// The hub's page cache per connection. A large push touches the version tables and
    /// indexes all over; with SQLite's default 2 MiB the hub rereads their pages from the OS
    /// (docs/benchmarks-method.md). A centre's replica keeps the default: a centre PC's
    /// memory matters more there than the speed of a first full sync.
    package static let hubCacheKiB = 32 * 1024

    package static func open(path: String, readonly: Bool = false) throws -> DatabaseQueue {
        if !readonly { ownerOnly(path) }
        return try DatabaseQueue(path: path, configuration: configuration(readonly: readonly, hub: false))
    }

    /// A pool (one writer, concurrent readers) for the hub, which serves many centres at once.
    package static func openPool(path: String) throws -> DatabasePool {
        ownerOnly(path)
        let pool = try DatabasePool(path: path, configuration: configuration(readonly: false, hub: true))
        // The hub answers a push with what it has durably applied, and the centre then
        // drops those log entries: every commit is synced (FULL), so a power cut cannot
        // take it back. Set here because GRDB sets NORMAL on a pool's writer after
        // `prepareDatabase`.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    /// Stores hold personal data (docs/security.md): a new store file is created readable by
    /// its owner only, whatever the umask, and SQLite gives its WAL and shared-memory files the
    /// store's mode; an existing store, WAL or SHM file that group or others may read loses
    /// those bits.
    private static func ownerOnly(_ path: String) {
        let created = Glibc.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if created >= 0 { close(created) }
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            if stat(file, &info) == 0, info.st_mode & 0o077 != 0 { chmod(file, info.st_mode & 0o7700) }
        }
    }

    /// - Parameter hub: the hub's larger page cache and temporary files (statement journals
    ///   among them) in memory; each was measured faster with `scripts/bench`
    ///   (docs/benchmarks-method.md).
    private static func configuration(readonly: Bool, hub: Bool) -> Configuration {
        var configuration = Configuration()
        configuration.readonly = readonly
        configuration.foreignKeysEnabled = false
        configuration.busyMode = .timeout(30)
        configuration.label = "wirsync-engine"
        configuration.prepareDatabase { db in
            guard wirsync_set_triggers_enabled(db.sqliteConnection, 0) == 0 else {
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "could not turn triggers off on the engine connection")
            }
            // What SQLite frees (a deleted row's cell, a page) is overwritten with zeros, so an
            // erased value leaves no byte in the file (docs/history-and-erasure.md).
            try db.execute(sql: "PRAGMA secure_delete = ON")
            if !readonly {
                // Checkpoint every 32 MiB of WAL instead of 4 MiB: index pages that many
                // batches touch are copied back once, not once per few batches (the hub's
                // pushes; a replica's pulls, 40k: 38.8–41.2k → 44.5k changes/s). The WAL is
                // disk, not memory.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
            }
            if !readonly, !hub {
                // A replica's commits may roll back after a power cut, each transaction
                // whole: a lost acknowledgement is pushed again, a lost page pulled again.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            if hub {
                try db.execute(sql: "PRAGMA cache_size = -\(hubCacheKiB)")
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
        }
        return configuration
    }

    /// Moves the WAL into the file and truncates it, so no frame of an earlier page image (an
    /// erased value's) is left in it; a reader holding an old snapshot makes it wait and try
    /// again, up to `attempts` times. Returns whether the WAL is empty.
    @discardableResult
    package static func truncateWAL(_ writer: some DatabaseWriter, attempts: Int = 50) throws -> Bool {
        for attempt in 1...attempts {
            let busy = try writer.writeWithoutTransaction { db in
                try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)").map { $0[0] as Int } ?? 1
            }
            if busy == 0 { return true }
            if attempt < attempts { usleep(100_000) }
        }
        return false
    }
}
