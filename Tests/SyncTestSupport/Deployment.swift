import Foundation
import GRDB
import HubPostgres
public import HubStore
import SyncStore
import WIRSchema

/// A hub and centres as they are deployed: the built binaries, files in one directory,
/// tokens in `<replica>.token` (mode 600), HTTP over loopback.
public final class Deployment {
    public let directory: TemporaryDirectory
    public let wirsync = builtProduct("wirsync")
    public let hubBinary = builtProduct("wirsync-hub")
    public private(set) var hub: BackgroundProcess?
    public private(set) var hubPort = 0
    /// The hub's store: its SQLite file, or a database of the test process's PostgreSQL cluster.
    public let store: StoreKind
    /// `--store` of every `wirsync-hub` command: the file, or `postgres://…` (the password in PGPASSWORD).
    public let hubStore: String
    private let postgres: PostgresLocation?

    /// - Parameters:
    ///   - holdHistory: the hub compacts nothing (`holdHistory(hub:)`), for suites
    ///   whose oracle reads every entry it ever logged (`duplicateApplications`).
    ///   - initArguments: more arguments of `wirsync-hub init` (`--schema-version 1`).
    public init(store: StoreKind = .sqlite, holdHistory hold: Bool = false, initArguments: [String] = []) throws {
        directory = try TemporaryDirectory("wirsync-e2e")
        self.store = store
        switch store {
        case .sqlite:
            hubStore = directory.path("hub.db")
            postgres = nil
        case .postgres:
            let (location, password) = try TestHubs.newDatabase()
            setenv("PGPASSWORD", password, 1)
            hubStore = location.description
            postgres = location
        }
        try runChecked(hubBinary, ["init", "--store", hubStore] + initArguments)
        if hold {
            if let postgres {
                try psql(postgres, holdHistorySQL)
            } else {
                try holdHistory(hub: hubPath)
            }
        }
    }

    /// The directory of the PostgreSQL hub's files (nil for SQLite, whose file is in
    /// `directory`): its database's own directory in the cluster, `base/OID`, after a
    /// checkpoint has written every changed page there. The cluster's WAL, shared by every
    /// database of it, is not among them.
    public func postgresFiles() async throws -> String? {
        guard let postgres else { return nil }
        _ = try psql(postgres, "CHECKPOINT")
        let store = try await openStore()
        defer { try? store.close() }
        let oid = try await store.read { db in try Int64.fetchOne(db, sql: "SELECT oid::bigint FROM pg_database WHERE datname = current_database()") }
        return try TestHubs.cluster().directory.path("data/base/\(oid ?? 0)")
    }

    /// What autovacuum does on its own schedule, now: `ANALYZE` of the PostgreSQL hub's
    /// database, which samples column values into `pg_statistic` (nothing on SQLite).
    public func analyzeHub() throws {
        if let postgres { _ = try psql(postgres, "ANALYZE") }
    }

    /// A transaction in another database of the PostgreSQL hub's cluster (the ministry's other
    /// data), which holds a transaction id for `seconds`: running when this returns, and over
    /// once the function it returns has returned. Nothing on SQLite.
    public func holdTransactionElsewhere(seconds: Int) throws -> () -> Void {
        guard var other = postgres else { return {} }
        other.database = "postgres"
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        holder.arguments = ["-X", "-q"] + connection(other) + ["-c", "SELECT pg_current_xact_id(); SELECT pg_sleep(\(seconds))"]
        holder.standardOutput = FileHandle.nullDevice
        try holder.run()
        for _ in 0..<100 {
            let running = try psql(
                other, "SELECT 'holding' FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND query LIKE '%pg_sleep(%' AND pid <> pg_backend_pid()")
            if running.contains("holding") { return { holder.waitUntilExit() } }
            usleep(50_000)
        }
        holder.terminate()
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "the transaction in another database did not start"])
    }

    /// HMSI's backup of a PostgreSQL hub: `pg_dump --format=custom` into `file`, while it serves.
    public func dumpHub(to file: String) throws {
        guard let postgres else { preconditionFailure("dumpHub backs up a PostgreSQL hub") }
        try runChecked(TestHubs.cluster().program("pg_dump"), ["--format=custom", "--file", file] + connection(postgres))
    }

    /// A PostgreSQL hub put back from `dumpHub`'s file, the hub stopped: its database dropped,
    /// made anew and filled with `pg_restore`.
    public func restoreHub(from file: String) throws {
        guard let postgres else { preconditionFailure("restoreHub puts back a PostgreSQL hub") }
        var maintenance = postgres
        maintenance.database = "postgres"
        _ = try psql(maintenance, "DROP DATABASE \(postgres.database)")
        _ = try psql(maintenance, "CREATE DATABASE \(postgres.database)")
        try runChecked(TestHubs.cluster().program("pg_restore"), ["--exit-on-error", file] + connection(postgres))
    }

    private func connection(_ location: PostgresLocation) -> [String] {
        ["-h", location.host, "-p", String(location.port), "-U", location.user, "-d", location.database]
    }

    /// The SQLite hub's file (a SQLite deployment only).
    public var hubPath: String { directory.path("hub.db") }

    /// The hub's store, opened by this process beside the serving hub.
    public func openStore() async throws -> HubStore {
        guard let postgres else { return try HubStore.open(path: hubPath) }
        return try await PostgresHubStore.open(location: postgres, password: try postgres.password(), schema: WIRSchema.definition(), connections: 2)
    }
    public var hubURL: String { "http://127.0.0.1:\(hubPort)" }
    public func path(_ node: String) -> String { directory.path("\(node).db") }

    /// Starts the hub (on `port`, or any free port) and waits until it listens.
    public func startHub(port: Int = 0, logLevel: String = "warning", _ extra: [String] = []) throws {
        let process = try BackgroundProcess(hubBinary, ["serve", "--store", hubStore, "--port", String(port), "--log-level", logLevel] + extra)
        hubPort = try process.waitForOutput { line in line.hasPrefix("wirsync-hub: serving") ? line.split(separator: ":").last.flatMap { Int($0) } : nil }
        hub = process
    }

    public func stopHub() {
        hub?.stop()
        hub = nil
    }

    /// Kills the hub with SIGKILL: a power cut at HMSI.
    public func killHub() {
        hub?.stop(signal: SIGKILL)
        hub = nil
    }

    /// A replica for `node` with a token and the hub's URL.
    @discardableResult
    public func centre(_ node: String, schema: String? = nil, _ extra: [String] = []) throws -> String {
        try runChecked(wirsync, ["init", "--db", path(node), "--centre", node, "--hub", hubURL] + (schema.map { ["--schema", $0] } ?? []) + extra)
        let token = try runChecked(hubBinary, ["centre", "add", node, "--store", hubStore, "--rotate"])
        try token.write(toFile: path(node) + ".token", atomically: true, encoding: .utf8)
        chmod(path(node) + ".token", 0o600)
        return path(node)
    }

    /// A further replica of `centre` in `<file>.db`: a second PC, a laptop, a replacement.
    /// With `token`, its token file is a copy of that one (a PC given another PC's token);
    /// without, HMSI gives it a token of its own (`wirsync-hub replica add`).
    @discardableResult
    public func replica(_ file: String, of centre: String, token: String? = nil) throws -> String {
        try runChecked(wirsync, ["init", "--db", path(file), "--centre", centre, "--hub", hubURL])
        let secret = try token.map { try String(contentsOfFile: path($0) + ".token", encoding: .utf8) }
            ?? runChecked(hubBinary, ["replica", "add", centre, "--store", hubStore, "--label", file])
        try secret.write(toFile: path(file) + ".token", atomically: true, encoding: .utf8)
        chmod(path(file) + ".token", 0o600)
        return path(file)
    }

    /// `wirsync sync` of the replica in `<node>.db`, to the hub or to `hub` (e.g. a proxy).
    public func sync(_ node: String, hub: String? = nil, _ extra: [String] = []) throws -> ProcessResult {
        try run(wirsync, ["sync", "--db", path(node), "--hub", hub ?? hubURL] + extra)
    }

    /// `wirsync status --json` of the replica in `<node>.db`.
    public func status(_ node: String) throws -> [String: Any] {
        let text = try runChecked(wirsync, ["status", "--db", path(node), "--json"])
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// Whether `wirsync verify` finds the replica in `<node>.db` equal to the hub.
    public func verify(_ node: String) throws -> ProcessResult {
        try run(wirsync, ["verify", "--db", path(node), "--hub", hubURL])
    }

    /// What `wirsync sync --json` reported.
    public func syncJSON(_ node: String, hub: String? = nil, _ extra: [String] = []) throws -> (status: Int32, report: [String: Any]) {
        let result = try sync(node, hub: hub, ["--json"] + extra)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        return (result.status, json)
    }

    deinit { stopHub() }
}

extension ProcessResult {
    public var succeeded: Bool { status == 0 }
}
