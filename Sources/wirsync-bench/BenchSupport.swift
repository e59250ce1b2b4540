import CentreSync
import CurlTransport
import Foundation
import GRDB
import ReplicaStore
import SampleData
import SyncCore
import SyncStore
import SyncTestSupport

/// Writes generated rows the way an outside tool does (the sqlite3 shell: foreign keys
/// off), in one transaction, one prepared statement per table.
func insert(_ rows: some Sequence<SampleData.Row>, into path: String) throws {
    var configuration = Configuration()
    configuration.foreignKeysEnabled = false
    let writer = try DatabaseQueue(path: path, configuration: configuration)
    try writer.write { db in
        var statements: [String: (Statement, [String])] = [:]
        for row in rows {
            if statements[row.table] == nil {
                let (sql, columns) = insertSQL(for: row)
                statements[row.table] = (try db.makeStatement(sql: sql), columns)
            }
            let (statement, columns) = statements[row.table]!
            try statement.execute(
                arguments: StatementArguments([row.pk.databaseValue] + columns.map { (row.values[$0] ?? .null).databaseValue }))
        }
    }
}

/// The INSERT of a generated row into its table, the primary key first, and the value
/// columns in the order it binds them.
func insertSQL(for row: SampleData.Row) -> (sql: String, columns: [String]) {
    let columns = row.values.keys.sorted()
    let marks = Array(repeating: "?", count: columns.count + 1).joined(separator: ", ")
    return ("INSERT INTO \(row.table) (id, \(columns.joined(separator: ", "))) VALUES (\(marks))", columns)
}

/// An SQLite file with the replica's domain tables and indexes, and nothing else: no
/// triggers, no engine tables. The baseline a sync is compared with. `tables` of the
/// store at `other` are copied too.
func plainCopy(ofTablesIn replicaPath: String, at path: String, alsoFrom other: String? = nil, tables: [String] = []) throws {
    func definitions(in path: String, of tables: [String]) throws -> [String] {
        try DatabaseQueue(path: path).read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT sql FROM sqlite_master
                    WHERE type IN ('table', 'index') AND sql IS NOT NULL AND tbl_name IN (\(tables.map { "'\($0)'" }.joined(separator: ", ")))
                    ORDER BY type DESC
                    """)
        }
    }
    let definitions = try definitions(in: replicaPath, of: SampleData.tables) + (other.map { try definitions(in: $0, of: tables) } ?? [])
    let plain = try DatabaseQueue(path: path)
    try plain.write { db in
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        for sql in definitions { try db.execute(sql: sql.replacingOccurrences(of: "REFERENCES centres(id)", with: "")) }
    }
}

/// A deployment with its hub running (stopped when the deployment is released), and a
/// replica with a token for each of `nodes`.
func runningDeployment(_ nodes: [String] = []) throws -> Deployment {
    let deployment = try Deployment()
    try deployment.startHub()
    for node in nodes { try deployment.centre(node) }
    return deployment
}

/// An in-process sync of one replica of a deployment, over libcurl, as the daemon runs it:
/// one transport (one kept-alive connection) for every sync.
struct Centre {
    let replica: Replica
    let transport: CurlTransport
    let session: SyncSession

    init(_ deployment: Deployment, _ node: String, hubURL: String? = nil) throws {
        let path = deployment.path(node)
        replica = try Replica.open(path: path)
        let token = try String(contentsOfFile: path + ".token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        transport = try CurlTransport(CurlConfiguration(hubURL: hubURL ?? deployment.hubURL, token: token, schemaTag: replica.schemaTag))
        session = SyncSession(replica: replica, transport: transport)
    }

    /// One sync; fails loudly, since a benchmark of a failing sync measures nothing.
    @discardableResult
    func sync() async throws -> (report: SyncReport, seconds: Double) {
        let start = ContinuousClock.now
        let report = try await session.run()
        return (report, seconds(since: start))
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Runs a program to its end and returns its exit status and its peak resident set
/// size in MiB, as the kernel accounted it (`wait4`'s `ru_maxrss`).
func runMeasuringPeakRSS(_ executable: String, _ arguments: [String]) throws -> (status: Int32, peakMiB: Double) {
    var pid: pid_t = 0
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw BenchError("could not start \(executable): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid else { throw BenchError("lost track of \(executable)") }
    let exited = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exited, Double(usage.ru_maxrss) / 1024)
}

/// A memory figure of a running process in MiB from `/proc/<pid>/status`: `VmRSS` (all
/// resident pages, shared library code included) or `RssAnon` (its own heap and stacks).
func memoryMiB(pid: Int32, field: String = "VmRSS") throws -> Double {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
        let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
    else { throw BenchError("no \(field) for process \(pid)") }
    return kib / 1024
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The p-th percentile (0…100) of some samples, nearest rank.
func percentile(_ samples: [Double], _ p: Double) -> Double {
    guard !samples.isEmpty else { return .nan }
    let sorted = samples.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
