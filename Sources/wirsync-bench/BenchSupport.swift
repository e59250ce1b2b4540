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
///
/// Not spawned from this process: Linux counts in a program's `ru_maxrss` the peak of the
/// memory it was started from (`posix_spawn` shares the parent's memory until `exec`, and
/// `exec` records that memory's peak), so the bench's own memory, a million sample rows,
/// would be the figure. A small `python3` starts the program and reports its usage.
func runMeasuringPeakRSS(_ executable: String, _ arguments: [String]) throws -> (status: Int32, peakMiB: Double) {
    let helper = Process()
    helper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    helper.arguments = [
        "python3", "-c",
        """
        import os, sys
        pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
        _, status, usage = os.wait4(pid, 0)
        print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
        """,
        executable,
    ] + arguments
    let output = Pipe()
    helper.standardOutput = output
    try helper.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    helper.waitUntilExit()
    let words = text.split(whereSeparator: \.isWhitespace)
    guard helper.terminationStatus == 0, words.count == 2, let status = Int32(words[0]), let kib = Double(words[1]) else {
        throw BenchError("could not run \(executable) measuring its memory: \(text)")
    }
    // A signal shows as a negative exit code; report it as the shell does.
    return (status < 0 ? 128 - status : status, kib / 1024)
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

/// The machine's CPU time so far from `/proc/stat`, in ticks: busy (everything but idle and
/// iowait) and in all. Two readings give the share of the cores a run kept busy.
func cpuTicks() throws -> (busy: Double, total: Double) {
    let stat = try String(contentsOfFile: "/proc/stat", encoding: .utf8)
    guard let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { throw BenchError("no cpu line in /proc/stat") }
    let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard ticks.count >= 5 else { throw BenchError("a short cpu line in /proc/stat") }
    let total = ticks.reduce(0, +)
    return (total - ticks[3] - ticks[4], total)
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
