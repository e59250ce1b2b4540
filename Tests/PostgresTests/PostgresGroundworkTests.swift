import Foundation
import GRDB
import HubPostgres
import HubStore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SyncCore
import SyncStore
import SyncTestSupport
import Testing
import WIRSchema

let quiet: Logger = {
    var logger = Logger(label: "wirsync-postgres-test")
    logger.logLevel = .error
    return logger
}()

/// A client of `cluster`'s database `database`, running while `body` runs.
func withPostgres<T: Sendable>(
    _ cluster: PostgresCluster, database: String, password: String?, _ body: @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    let configuration = PostgresClient.Configuration(
        host: "127.0.0.1", port: cluster.port, username: cluster.user, password: password, database: database, tls: .disable)
    let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

@Suite("PostgreSQL store: where it is and its credentials")
struct StoreLocationTests {
    @Test func aPathOrSqliteSelectsSQLiteAndAPostgresURLSelectsPostgreSQL() throws {
        #expect(try StoreLocation(parsing: "/var/lib/wirsync/hub.db") == .sqlite(path: "/var/lib/wirsync/hub.db"))
        #expect(try StoreLocation(parsing: "sqlite:hub.db") == .sqlite(path: "hub.db"))
        guard case .postgres(let location) = try StoreLocation(parsing: "postgres://wirsync@db.hmsi.example:6543/wir") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(location.user == "wirsync" && location.host == "db.hmsi.example" && location.port == 6543 && location.database == "wir")
        #expect(location.sslMode == .require, "beyond loopback TLS is the default")
        guard case .postgres(let local) = try StoreLocation(parsing: "postgresql://hub@localhost/wir?sslmode=verify-full&sslrootcert=/etc/ca.pem") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(local.port == 5432 && local.sslMode == .verifyFull && local.sslRootCert == "/etc/ca.pem")
    }

    @Test(arguments: [
        ("postgres://wirsync:geheim@db/wir", "a password in the store's URL"),
        ("postgres://db/wir", "names no user"),
        ("postgres://wirsync@db/", "names no database"),
        ("postgres://wirsync@db/wir?sslmode=sometimes", "sslmode is one of disable, prefer, require, verify-full"),
        ("postgres://wirsync@db/wir?application=x", "application is not a setting"),
        ("mysql://wirsync@db/wir", "mysql:// is not a store"),
        ("sqlite:", "sqlite: needs a path"),
    ])
    func aBadStoreIsRefusedInOneLine(store: String, message: String) {
        #expect(throws: StoreLocationError.self) { try StoreLocation(parsing: store) }
        do {
            _ = try StoreLocation(parsing: store)
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
            #expect(!error.description.contains("geheim"), "the refusal does not repeat a password")
        }
    }

    @Test func thePasswordComesFromTheEnvironmentAFileOrPgpass() throws {
        let directory = try TemporaryDirectory("wirsync-pgpass")
        guard case .postgres(let location) = try StoreLocation(parsing: "postgres://hub@db.hmsi.example:5433/wir") else { return }
        let pgpass = directory.path("pgpass")
        try """
            # host:port:database:user:password
            db.hmsi.example:5432:wir:hub:falscher-port
            *:5433:wir:other:falscher-nutzer
            db.hmsi.example:5433:*:hub:mit\\:doppelpunkt\\\\und-backslash
            *:*:*:*:zu-spaet
            """.write(toFile: pgpass, atomically: true, encoding: .utf8)
        #expect(try location.password(environment: ["PGPASSFILE": pgpass]) == "mit:doppelpunkt\\und-backslash")
        #expect(try location.password(environment: ["PGPASSFILE": pgpass, "PGPASSWORD": "aus-der-umgebung"]) == "aus-der-umgebung")
        try "aus-der-datei\n".write(toFile: directory.path("password"), atomically: true, encoding: .utf8)
        #expect(try location.password(environment: ["WIRSYNC_HUB_PG_PASSWORD_FILE": directory.path("password"), "PGPASSFILE": pgpass]) == "aus-der-datei")
        #expect(try location.password(environment: ["HOME": directory.path("nowhere")]) == nil)
        #expect(throws: StoreLocationError.self) { try location.password(environment: ["WIRSYNC_HUB_PG_PASSWORD_FILE": directory.path("missing")]) }
    }
}

@Suite("PostgreSQL store: values, order and digests against SQLite", .serialized, .timeLimit(.minutes(3)))
struct PostgresValueTests {
    static let values: [(String, Value)] = [
        ("INTEGER", .integer(.max)), ("INTEGER", .integer(.min)), ("INTEGER", .integer(0)), ("INTEGER", .null),
        ("REAL", .real(0.1)), ("REAL", .real(-0.0)), ("REAL", .real(.greatestFiniteMagnitude)), ("REAL", .real(.leastNonzeroMagnitude)),
        ("TEXT", .text("a\u{0}b\u{0}")), ("TEXT", .text("Gießen – مرحبا – Привіт – 🙂")), ("TEXT", .text("")),
        ("BLOB", .blob(Data([0, 255, 0, 1]))), ("BLOB", .blob(Data())),
        ("ANY", .integer(-7)), ("ANY", .real(2.5)), ("ANY", .text("x\u{0}y")), ("ANY", .blob(Data([9]))), ("ANY", .null),
    ]

    /// Invariant 2 on PostgreSQL: every value comes back with its type and every byte, bound
    /// and read as the store's session binds and reads them.
    @Test func everyValueComesBackExactly() async throws {
        let (location, password) = try TestHubs.newDatabase()
        let database = try PostgresHubDatabase(location: location, password: password, connections: 1)
        defer { try? database.close() }
        let columns = ["INTEGER": "i", "REAL": "r", "TEXT": "t", "BLOB": "b", "ANY": "a"]
        let values = Self.values
        let back = try await database.write { db -> [Value] in
            try db.execute(sql: "CREATE TABLE v (n bigint PRIMARY KEY, i bigint, r double precision, t bytea, b bytea, a bytea)")
            for (index, (type, value)) in values.enumerated() {
                try db.execute(
                    sql: "INSERT INTO v (n, \(columns[type]!)) VALUES (?, ?)", arguments: [.integer(Int64(index)), type == "ANY" ? db.bindAny(value) : value])
            }
            return try values.enumerated().map { index, entry in
                let stored = try SQLRow.fetchOne(db, sql: "SELECT \(columns[entry.0]!) FROM v WHERE n = ?", arguments: [index])!.values[0]
                return entry.0 == "ANY" ? try db.readAny(stored) : db.read(stored, declared: entry.0)
            }
        }
        for ((type, value), got) in zip(values, back) {
            #expect(got == value, "\(type) \(value)")
            if case .real(let sent) = value, case .real(let read) = got { #expect(sent.bitPattern == read.bitPattern, "the bit pattern of \(sent)") }
        }
    }

    /// The password of `~/.pgpass` (here PGPASSFILE) opens the database over SCRAM; a wrong one does not.
    @Test func thePasswordFromPgpassOpensTheStoreAndAWrongOneDoesNot() async throws {
        let cluster = try PostgresCluster()
        try cluster.createDatabase("wir")
        guard case .postgres(let location) = try StoreLocation(parsing: cluster.url("wir")) else { return }
        let pgpass = cluster.directory.path("pgpass")
        try "127.0.0.1:\(cluster.port):wir:\(cluster.user):\(cluster.password)\n".write(toFile: pgpass, atomically: true, encoding: .utf8)
        let password = try location.password(environment: ["PGPASSFILE": pgpass])
        let version = try await withPostgres(cluster, database: location.database, password: password) { client in
            try await client.query("SELECT current_setting('server_version_num')::int").decode(Int.self).reduce(into: 0) { $0 = $1 }
        }
        #expect(version >= 150000)
        let wrong = PostgresConnection.Configuration(
            host: "127.0.0.1", port: cluster.port, username: cluster.user, password: "falsch", database: "wir", tls: .disable)
        await #expect(throws: PSQLError.self) {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: wrong, id: 1, logger: quiet
            ).get()
            try await connection.close()
        }
    }

    /// A value of another class is refused by a column of the store, as SQLite's STRICT tables
    /// refuse it, and a damaged ANY value is an error, not a guess.
    @Test func aValueOfAnotherClassIsRefusedAsStrictTablesRefuseIt() async throws {
        let (location, password) = try TestHubs.newDatabase()
        let database = try PostgresHubDatabase(location: location, password: password, connections: 1)
        defer { try? database.close() }
        try await database.write { db in try db.execute(sql: "CREATE TABLE v (n bigint PRIMARY KEY, i bigint)") }
        await #expect(throws: DatabaseError.self) {
            try await database.write { db in try db.execute(sql: "INSERT INTO v (n, i) VALUES (1, ?)", arguments: [Value.text("12")]) }
        }
        await #expect(throws: DatabaseError.self) {
            try await database.read { db in _ = try db.readAny(.blob(Data([UInt8(ascii: "i"), 1, 2]))) }
        }
    }

    /// The rows of a WIR hub, tricky keys and values included, copied into PostgreSQL: both
    /// stores order them alike and digest them alike, so `wirsync verify` agrees whichever the
    /// hub uses. The cluster sorts text the German way, which would not agree: `bytea` does.
    @Test func orderAndDigestsAgreeWithSQLite() async throws {
        let directory = try TemporaryDirectory("wirsync-pg-digest")
        let hub = try await HubStore.create(path: directory.path("hub.db"), schema: WIRSchema.definition(), clock: SystemClock()) {
            try WIRSchema.fixtureRows(table: $0)
        }
        let keys = ["Zebra", "apfel", "Äpfel", "äpfel", "10", "9", "a b", "a", "ab", "A", "é", "e\u{301}", "z-Ö"]
        var inserts = ""
        for (index, key) in keys.enumerated() {
            inserts += """
                INSERT INTO organisations (id, centre_id, name, kind, city, founded_year, logo) VALUES
                ('\(key)', '\(index % 2 == 0 ? "landkreis-kassel" : "fulda")', CAST(X'4e\(String(format: "%02x", index))00\(String(format: "%02x", index))' AS TEXT),
                 'Verein', \(index % 3 == 0 ? "NULL" : "'Kassel'"), \(1900 + index), X'00ff\(String(format: "%02x", index))');

                """
        }
        _ = try sqlite3(directory.path("hub.db"), inserts)
        let sqliteOrder = try sqlite3(directory.path("hub.db"), "SELECT hex(id) FROM organisations ORDER BY id").split(separator: "\n").map(String.init)
        let expected = try await hub.digest(node: Node.hmsi).tables
        let kassel = try await hub.digest(node: "landkreis-kassel").tables
        // Into PostgreSQL the way a ministry moves its hub: `store copy`, through the store's session.
        let (location, password) = try TestHubs.newDatabase()
        _ = try await PostgresHubStore.copy(from: hub, to: location, password: password, schema: WIRSchema.definition())
        let moved = try await PostgresHubStore.open(location: location, password: password, schema: WIRSchema.definition())
        let postgresOrder = try await moved.read { db in
            try String.fetchAll(db, sql: "SELECT upper(encode(id, 'hex')) FROM organisations ORDER BY id")
        }
        #expect(postgresOrder == sqliteOrder, "keys in the same order")
        // The same keys as `text` under the database's German collation come in another
        // order: a store that kept keys as text would digest differently from SQLite.
        let germanOrder = try await moved.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT upper(encode(convert_to(t, 'UTF8'), 'hex')) FROM (SELECT convert_from(id, 'UTF8') COLLATE \"default\" AS t FROM organisations) k ORDER BY t")
        }
        #expect(germanOrder != sqliteOrder, "the cluster's collation is not byte order")
        #expect(try await moved.digest(node: Node.hmsi).tables == expected)
        #expect(try await moved.digest(node: "landkreis-kassel").tables == kassel)
        #expect(expected["organisations"]?.rows == keys.count)
        try moved.close()
    }
}

@Suite("PostgreSQL store: several hub processes", .serialized, .timeLimit(.minutes(3)))
struct PostgresConcurrencyTests {
    /// The trap of several writers (docs/hub.md, "Several hub processes"): writer A numbers its
    /// entry first and commits last, writer B (another hub process) numbers and commits in
    /// between, and a replica pulls meanwhile. B waits for A, so the pull never passes A's
    /// entry: for writes that have the store to themselves, on the store lock; for writes
    /// beside others (a push), on the log lock, which they take before they number. Seen to
    /// fail with either lock taken out: B numbers from the same last entry as A, and its insert
    /// collides with A's (or, numbered by a sequence, commits 11 before 10 and the pull passes
    /// 10 for good).
    @Test(arguments: [WriteLock.store, .rows])
    func aPullNeverPassesAnEntryThatCommitsLater(lock: WriteLock) async throws {
        let (location, password) = try TestHubs.newDatabase()
        let store = try await PostgresHubStore.create(location: location, password: password, schema: WIRSchema.definition(), connections: 2) { _ in nil }
        try store.close()
        // Two hub processes: two databases of connections on the one store.
        let first = try PostgresHubDatabase(location: location, password: password, connections: 2)
        let second = try PostgresHubDatabase(location: location, password: password, connections: 2)
        defer {
            try? first.close()
            try? second.close()
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        @Sendable func append(_ db: any SQLSession, _ writer: String) throws {
            if lock == .rows { try PostgresLocks.lockLog(db) }
            let seq = try HubStore.nextSeq(db, now: now)
            try db.execute(sql: "INSERT INTO sync_hub_log (seq, tbl, pk, op, origin, at) VALUES (?, 1, ?, 1, 1, 0)", arguments: [seq, writer])
        }
        let aHasNumber = DispatchSemaphore(value: 0), releaseA = DispatchSemaphore(value: 0), aDone = DispatchSemaphore(value: 0)
        let bDone = DispatchSemaphore(value: 0)
        let failures = LockedValue([String]())
        Thread.detachNewThread {
            do {
                try first.transaction(.write(lock)) { db in
                    try append(db, "A")
                    aHasNumber.signal()
                    releaseA.wait()
                }
            } catch { failures.update { $0.append("A: \(error)") } }
            aDone.signal()
        }
        aHasNumber.wait()
        Thread.detachNewThread {
            do {
                try second.transaction(.write(lock)) { db in try append(db, "B") }
            } catch { failures.update { $0.append("B: \(error)") } }
            bDone.signal()
        }
        try await Task.sleep(for: .milliseconds(300))  // B waits for the lock, or (without it) has committed

        // A replica pulls in between, then again after both committed.
        var cursor: Int64 = 0
        var delivered: [String] = []
        func pull() throws {
            let rows = try second.transaction(.read) { db in
                try SQLRow.fetchAll(db, sql: "SELECT seq, pk FROM sync_hub_log WHERE seq > ? ORDER BY seq", arguments: [cursor])
            }
            for row in rows {
                delivered.append(row["pk"])
                cursor = row["seq"]
            }
        }
        try pull()
        releaseA.signal()
        aDone.wait()
        bDone.wait()
        try pull()
        #expect(failures.value.isEmpty, "\(failures.value)")
        #expect(delivered == ["A", "B"], "every entry delivered once, in the order of its number")
    }
    /// A pull compacts beside pushes (docs/hub.md, "Several hub processes"): it reads the
    /// tombstones it may collect, then waits for their scopes' locks. A push of that scope may
    /// be merging meanwhile and write a deleted row again; the compaction must read the row
    /// again under the lock and leave it. Here the push is held inside its merge by another
    /// transaction that inserts the same key first and then rolls back. Seen to fail without
    /// the second read: the compaction took the row's register, versions and entry, and the
    /// row stood in its table without them.
    @Test func aCompactionLeavesARowThatAPushWritesAgainMeanwhile() async throws {
        let (location, password) = try TestHubs.newDatabase()
        let store = try await PostgresHubStore.create(location: location, password: password, schema: WIRSchema.definition(), connections: 2) {
            try WIRSchema.fixtureRows(table: $0)
        }
        let blocker = try PostgresHubDatabase(location: location, password: password, connections: 1)
        defer {
            try? store.close()
            try? blocker.close()
        }
        let centre = "landkreis-kassel", pk = "org-back"
        let caller = try #require(try await store.authenticate(token: try await store.addClient(centre)))
        let base = SystemClock().nowMillis() - 60_000
        @Sendable func push(_ op: Change.Op, seq: Int64) async throws {
            let change = Change(
                seq: seq, table: "organisations", pk: pk, op: op, centre: centre, values: op == .delete ? [:] : organisationRow(centre),
                hlc: HLC(millis: base + seq * 10), origin: centre, seen: 0)
            let outcome = try await store.push(
                caller: caller, origin: nil, request: PushRequest(replicaID: "r", lastSeq: seq, changes: [change]), skewBoundMillis: 60_000)
            #expect(outcome.response.applied == 1)
        }
        @Sendable func pullToTheEnd() async throws {
            var cursor: Int64 = 0
            while true {
                let page = try await store.pull(caller: caller, origin: nil, after: cursor, limit: 1000)
                cursor = page.nextCursor
                if !page.more { break }
            }
        }
        try await push(.insert, seq: 1)
        try await push(.delete, seq: 2)
        try await pullToTheEnd()
        #expect(try await count(store: store, "sync_rows", where: "pk = 'org-back' AND alive = 0") == 1, "a tombstone, kept for now")
        _ = try await store.setRetention(Retention(tombstoneDays: 0, resolvedConflictDays: 90, conflictRecordsMax: 10_000), by: "test")
        try await Task.sleep(for: .milliseconds(20))

        struct RollBack: Error {}
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? blocker.transaction(.write(.rows)) { db in
                try db.execute(
                    sql: "INSERT INTO organisations (id, centre_id, name, kind) VALUES (?, ?, ?, ?)",
                    arguments: [Value.text(pk), .text(centre), .text("Platzhalter"), .text("Verein")])
                held.signal()
                release.wait()
                throw RollBack()
            }
            done.signal()
        }
        held.wait()
        let writeAgain = Task { try await push(.insert, seq: 3) }  // waits inside its merge, holding its scope
        try await Task.sleep(for: .milliseconds(300))
        let compact = Task { try await pullToTheEnd() }  // reads the tombstone, waits for the scope
        try await Task.sleep(for: .milliseconds(300))
        release.signal()
        done.wait()
        try await writeAgain.value
        try await compact.value
        #expect(try await count(store: store, "organisations", where: "id = 'org-back'") == 1)
        #expect(
            try await count(store: store, "sync_rows", where: "pk = 'org-back' AND alive = 1 AND base_hlc IS NOT NULL") == 1,
            "the row written again keeps its register and versions")
        #expect(try await count(store: store, "sync_hub_log", where: "pk = 'org-back' AND superseded IS NULL AND op < 4") == 1, "and its live entry")
    }
    /// Many pulls at once, as 1,000 centres make them, each followed by a compaction step, with
    /// receipts to thin: the compactions run one at a time (the compaction lock), so none of
    /// them deadlocks with another. Seen to fail without that lock (the benchmark's 1,000
    /// centres stalled on compactions that deadlocked over the same receipts, over and over;
    /// here PostgreSQL counted the deadlocks).
    @Test func pullsAtOnceCompactOneAtATimeWithoutDeadlocks() async throws {
        let (location, password) = try TestHubs.newDatabase()
        let store = try await PostgresHubStore.create(location: location, password: password, schema: WIRSchema.definition(), connections: 8) {
            try WIRSchema.fixtureRows(table: $0)
        }
        defer { try? store.close() }
        let centres = WIRSchema.centres.prefix(24).map(\.id)
        var callers: [Caller] = []
        for centre in centres { callers.append(try #require(try await store.authenticate(token: try await store.addClient(centre)))) }
        for round in 0..<3 {
            // Receipts of batches every replica has pulled past, each with the chains of 500 entries.
            try await store.write { db in
                for (index, centre) in centres.enumerated() {
                    try db.execute(
                        sql: "INSERT INTO sync_receipts (origin, last_seq, after_seq, hub_seq, chains) VALUES (?, ?, ?, 1, ?)",
                        arguments: [Value.text("\(centre).r\(index)"), .integer(Int64(round * 1000 + 500)), .integer(Int64(round * 1000)), .blob(Data(count: 4000))])
                }
            }
            let pulls = callers
            try await withThrowingTaskGroup { group in
                for caller in pulls + pulls {
                    group.addTask { _ = try await store.pull(caller: caller, origin: nil, after: 0, limit: 100) }
                }
                try await group.waitForAll()
            }
        }
        let deadlocks = try await store.read { db in
            try Int64.fetchOne(db, sql: "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()") ?? -1
        }
        #expect(deadlocks == 0, "PostgreSQL counted \(deadlocks) deadlocks")
    }
}
