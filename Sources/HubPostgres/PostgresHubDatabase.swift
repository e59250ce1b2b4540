import Foundation
import GRDB
package import HubStore
import SyncCore
package import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
package import SyncStore

/// The hub's PostgreSQL database: a few connections, each transaction run on a thread of its
/// own pool (the engine's SQL waits for each statement; it never runs on an event loop or the
/// cooperative pool).
///
/// A write transaction takes the store lock first (`PostgresLocks`), held to its commit:
/// alone for a `.store` write, which runs after every other write of every hub process on the
/// database, as in SQLite; shared for a `.rows` write (a push, a pull's bookkeeping and
/// compaction), which runs beside the others, locking the scopes whose rows it writes and
/// numbering its log entries under the log lock, so that a pull never passes an entry that
/// commits later (docs/hub.md, "Several hub processes"). A read runs at REPEATABLE READ, one
/// snapshot, beside the writes. A transaction that loses a deadlock or a serialization race is
/// run again.
package final class PostgresHubDatabase: HubDatabase, @unchecked Sendable {
    /// What a transaction is.
    package enum Access {
        case read
        case write(WriteLock)
    }

    let location: PostgresLocation
    private let configuration: PostgresConnection.Configuration
    /// The threads every PostgreSQL store of this process runs its transactions on: each waits
    /// for its statements, so one thread is busy per transaction in flight.
    private static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()
    private let logger: Logger
    private let idle = NIOLockedValueBox([PostgresConnection]())
    private let connectionIDs = NIOLockedValueBox(0)
    private let maxIdle: Int

    /// - Parameter connections: the connections kept open for later transactions.
    package init(location: PostgresLocation, password: String?, connections: Int = 8, logger: Logger = Logger(label: "wirsync.postgres")) throws {
        self.location = location
        self.logger = logger
        maxIdle = max(1, connections)
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: password, database: location.database,
            tls: try Self.tls(location))
        configuration.options.connectTimeout = .seconds(10)
        self.configuration = configuration
    }

    private static func tls(_ location: PostgresLocation) throws -> PostgresConnection.Configuration.TLS {
        switch location.sslMode {
        case .disable:
            return .disable
        case .prefer, .require:
            // As libpq's `require`: encrypted, the certificate not checked.
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            let context = try NIOSSLContext(configuration: tls)
            return location.sslMode == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            if let root = location.sslRootCert { tls.trustRoots = .file(root) }
            return .require(try NIOSSLContext(configuration: tls))
        }
    }

    package func write<T: Sendable>(_ lock: WriteLock, _ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T {
        try await Self.threads.runIfActive { try self.transaction(.write(lock), body) }
    }

    package func read<T: Sendable>(_ body: @Sendable @escaping (any SQLSession) throws -> T) async throws -> T {
        try await Self.threads.runIfActive { try self.transaction(.read, body) }
    }

    /// Runs `body` in one transaction on a connection of this database, on the calling thread.
    package func transaction<T>(_ access: Access, _ body: (any SQLSession) throws -> T) throws -> T {
        let connection = try acquire()
        var healthy = true
        defer { release(connection, healthy: healthy) }
        var attempt = 0
        var savepoints = false
        while true {
            attempt += 1
            let session = PostgresSession(connection: connection, logger: logger, savepoints: savepoints)
            do {
                switch access {
                case .read:
                    try session.execute(sql: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                case .write(let lock):
                    try session.execute(sql: "BEGIN ISOLATION LEVEL READ COMMITTED")
                    let take = lock == .store ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared"
                    try session.execute(sql: "SELECT \(take)(?)", arguments: [PostgresLocks.store])
                }
                let result = try body(session)
                try session.execute(sql: "COMMIT")
                return result
            } catch {
                do {
                    try session.execute(sql: "ROLLBACK")
                } catch {
                    healthy = false
                }
                if let needed = error as? PostgresSavepointsNeeded {
                    guard healthy, !savepoints else { throw needed.failure }
                    logger.debug("a statement of a change failed: the write runs again, each change in a savepoint")
                    savepoints = true
                    continue
                }
                if error is PostgresRetry, attempt < 5, healthy { continue }
                if let retry = error as? PostgresRetry {
                    throw DatabaseError(resultCode: .SQLITE_BUSY, message: "PostgreSQL: \(retry.message)")
                }
                throw error
            }
        }
    }

    /// PostgreSQL leaves a deleted row's bytes in its page until the page is written again,
    /// even after a `VACUUM`: `VACUUM FULL` writes each table anew and truncates the old file.
    /// It copies a deleted row too while a transaction older than the delete runs anywhere
    /// in the cluster (seen: one in another database kept the erased row), so it first waits
    /// for those (`olderTransactionsEnded`). It locks the table while it runs, so it waits at
    /// most 30 s for readers to finish.
    package func clearDeleted(from tables: [String]) async throws -> Bool {
        try await Self.threads.runIfActive {
            let connection = try self.acquire()
            defer { self.release(connection, healthy: true) }
            let session = PostgresSession(connection: connection, logger: self.logger)
            guard try Self.olderTransactionsEnded(session, within: 30) else {
                self.logger.warning("the tables an erasure deleted from were not rewritten: a transaction older than the erasure ran for 30 s more")
                return false
            }
            try session.execute(sql: "SET lock_timeout = '30s'")
            defer { try? session.execute(sql: "RESET lock_timeout") }
            do {
                for table in tables { try session.execute(sql: "VACUUM FULL \(quoted(table))") }
                return true
            } catch let error as DatabaseError where error.message?.contains("55P03") == true {
                self.logger.warning("a table an erasure deleted from could not be rewritten: a reader held it", metadata: ["error": "\(error.message ?? "")"])
                return false
            }
        }
    }

    /// Waits, at most `seconds`, until no transaction of the cluster that began before this
    /// call still runs or still holds a snapshot from before it: no writer with an older id
    /// (`pg_current_snapshot`), no session with an older `backend_xmin` (`pg_stat_activity`,
    /// which shows both to every user). Returns whether that came.
    private static func olderTransactionsEnded(_ session: PostgresSession, within seconds: Double) throws -> Bool {
        guard let marker = try Int64.fetchOne(session, sql: "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint") else { return false }
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let ended = try Bool.fetchOne(
                session, sql: """
                    SELECT pg_snapshot_xmin(pg_current_snapshot()) >= ?1::text::xid8 AND NOT EXISTS (
                        SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xmin IS NOT NULL
                            AND age(backend_xmin) > age((?1 % 4294967296)::text::xid))
                    """, arguments: [marker])
            if ended == true { return true }
            if Date() > deadline { return false }
            usleep(50_000)
        }
    }

    /// Runs one statement outside any transaction (`CREATE DATABASE`, which cannot run in one).
    package func executeAlone(_ sql: String) async throws {
        try await Self.threads.runIfActive {
            let connection = try self.acquire()
            defer { self.release(connection, healthy: true) }
            try PostgresSession(connection: connection, logger: self.logger).execute(sql: sql)
        }
    }

    private func acquire() throws -> PostgresConnection {
        if let connection = idle.withLockedValue({ $0.popLast() }), !connection.isClosed { return connection }
        do {
            return try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: connectionIDs.withLockedValue { id in
                    id += 1
                    return id
                }, logger: logger
            ).wait()
        } catch let error as PSQLError {
            throw DatabaseError(
                resultCode: .SQLITE_CANTOPEN,
                message: "cannot connect to \(location): \(error.serverInfo?[.message] ?? Self.reason(error))")
        }
    }

    private static func reason(_ error: PSQLError) -> String {
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }

    private func release(_ connection: PostgresConnection, healthy: Bool) {
        guard healthy, !connection.isClosed else {
            Self.discard(connection)
            return
        }
        let kept = idle.withLockedValue { idle in
            guard idle.count < maxIdle else { return false }
            idle.append(connection)
            return true
        }
        if !kept { Self.discard(connection) }
    }

    /// A store dropped without `close` (a test's) closes its connections: each is kept until its close completes.
    deinit {
        for connection in idle.withLockedValue({ $0 }) {
            Self.discard(connection)
        }
    }

    /// Closes a connection no transaction will use again, keeping it until its close completes.
    private static func discard(_ connection: PostgresConnection) {
        (connection.close() as EventLoopFuture<Void>).whenComplete { _ in _ = connection }
    }

    package func close() throws {
        let connections = idle.withLockedValue { connections in
            defer { connections = [] }
            return connections
        }
        for connection in connections { try? (connection.close() as EventLoopFuture<Void>).wait() }
    }
}
