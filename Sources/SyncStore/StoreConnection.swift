import CSQLiteShim
package import GRDB

/// Opens the sync engine's own connection to a store.
///
/// Triggers are off on this connection: what the engine writes (remote changes, version
/// bookkeeping) is never captured as a local change. Foreign keys are off because the
/// merge applies rows independently, in whatever order they arrive.
package enum StoreConnection {
    /// The page cache of each engine connection, at most (SQLite's default is 2 MiB).
    package static let cacheKiB = 32 * 1024

    package static func open(path: String, readonly: Bool = false) throws -> DatabaseQueue {
        try DatabaseQueue(path: path, configuration: configuration(readonly: readonly))
    }

    /// A pool (one writer, concurrent readers) for the hub, which serves many centres at once.
    package static func openPool(path: String) throws -> DatabasePool {
        try DatabasePool(path: path, configuration: configuration(readonly: false))
    }

    private static func configuration(readonly: Bool) -> Configuration {
        var configuration = Configuration()
        configuration.readonly = readonly
        configuration.foreignKeysEnabled = false
        configuration.busyMode = .timeout(30)
        configuration.label = "wirsync-engine"
        configuration.prepareDatabase { db in
            guard wirsync_set_triggers_enabled(db.sqliteConnection, 0) == 0 else {
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "could not turn triggers off on the engine connection")
            }
            if !readonly {
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            // A large sync touches the version tables and indexes all over; with SQLite's
            // default 2 MiB cache it rereads their pages from the OS (docs/benchmarks-method.md).
            try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
        }
        return configuration
    }
}
