import GRDB
package import SyncStore

/// The database under a `HubStore`: SQLite (one file, the default) or PostgreSQL
/// (`HubPostgres`). The store's rules are written once, against `SQLSession`; a database
/// only opens its transactions (docs/postgres.md, "One engine, two databases").
///
/// A write transaction has the store to itself as far as other writers go (`.store`): SQLite
/// has one writer, and PostgreSQL's takes the hub's store lock alone first. A push, and a
/// pull's bookkeeping and compaction, on PostgreSQL share the store with each other (`.rows`):
/// each locks the scopes whose rows it writes, and a push numbers its log entries under the
/// log lock, held to its commit (`PostgresLocks`). Either way the log's numbers commit in the
/// order they are handed out, and every rule that holds for one writer holds for any number of
/// hub processes. A read transaction sees one snapshot, and runs beside the writes.
package protocol HubDatabase: Sendable {
    func write<T: Sendable>(_ lock: WriteLock, _ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T
    func read<T: Sendable>(_ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T
    /// Leaves no earlier image of rows just deleted from `tables` (an erasure's) in the
    /// database's files; false if that had to wait (a reader held them), see `Erasure.walCleared`.
    func clearDeleted(from tables: [String]) async throws -> Bool
    /// Closes the database after a clean stop.
    func close() throws
}

extension HubDatabase {
    /// A write that has the store to itself.
    package func write<T: Sendable>(_ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T {
        try await write(.store, body)
    }
}

/// What a write transaction shares the store with (docs/hub.md, "Several hub processes").
package enum WriteLock: Sendable {
    /// No other write runs beside it.
    case store
    /// Other `.rows` writes run beside it: it takes the locks of its replica and of the scopes
    /// it writes rows of (`PostgresLocks.lock`), and the log lock before it numbers entries
    /// (`PostgresLocks.lockLog`).
    case rows
}

/// The hub's SQLite file, in WAL mode: one writer, so every write has the store to itself.
struct SQLiteHubDatabase: HubDatabase {
    let pool: DatabasePool

    func write<T: Sendable>(_ lock: WriteLock, _ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteSession(db)) }
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteSession(db)) }
    }

    /// `secure_delete` overwrote the deleted rows' bytes in the file: the WAL still holds the
    /// pages as they were, and is emptied.
    func clearDeleted(from tables: [String]) async throws -> Bool {
        try StoreConnection.truncateWAL(pool)
    }

    /// Moves everything in the WAL into the store file: after a clean stop the store is one
    /// file, which a plain copy takes whole.
    func close() throws {
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try pool.close()
    }
}

extension HubStore {
    /// The SQLite pool, for what only a SQLite hub does (its schema upgrade in place).
    var sqlitePool: DatabasePool {
        get throws(HubError) {
            guard let database = database as? SQLiteHubDatabase else {
                throw .badRequest(code: "not_sqlite", message: "\(path) is not an SQLite hub store")
            }
            return database.pool
        }
    }

    /// Whether the store is one SQLite file, which one process serves at a time.
    public var isSQLite: Bool { database is SQLiteHubDatabase }

    /// Reads a SQLite store on the calling thread, for a caller that is inside a transaction of
    /// another database (`store copy`).
    package func readNow<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try sqlitePool.read { db in try body(SQLiteSession(db)) }
    }
}
