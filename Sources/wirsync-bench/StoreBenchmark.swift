import ArgumentParser
import CurlTransport
import Foundation
import HubPostgres
import HubStore
import SampleData
import SyncCore
import SyncStore
import SyncTestSupport
import WIRSchema

/// The hub's two stores side by side, in one run (docs/postgres.md): SQLite, PostgreSQL with
/// one `wirsync-hub serve` process, and PostgreSQL with two, each on a hub of its own.
struct StoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Push, pull, many centres at once and the incremental sync on SQLite, PostgreSQL with one hub process and with two.",
        discussion: """
            For each of sqlite, postgres_1 and postgres_2 (suffixes of every figure):

              store_push_changes_per_s_S    one centre's sync of N captured inserts
              store_pull_changes_per_s_S    HMSI's sync that pulls them
              store_incremental_ms_S        one centre's sync after 10 updates
              store_centres_p99_ms_C_S      99th percentile of request times, C centres at once
              store_centres_retries_C_S     requests tried again after a transient failure (503, refused connection)
              store_centres_errors_C_S      requests that failed after the retries a daemon makes
              store_centres_changes_per_s_C_S
                                            changes applied per second of that run
              store_centres_cpu_busy_C_S    share of the machine's cores busy during that run
              store_push_vs_sqlite_S        push rate / SQLite's push rate
              store_push_vs_postgres_floor_S
                                            push rate / the PostgreSQL floor
              store_two_vs_one_process_33   changes per second with 33 centres, two hub processes / one

            The PostgreSQL floor (postgres_floor_rows_per_s) is the same rows inserted into plain
            PostgreSQL tables of the same columns, in transactions of one push batch (500 rows),
            multi-row inserts, nothing else. With two hub processes the centres alternate
            between them. The server runs with its defaults (synchronous_commit is printed).
            PostgreSQL is a throwaway cluster on loopback (the tests' own), fsync on.
            """
    )

    @Option(help: "Changes (rows inserted at the centre) for the push and pull rates.") var changes = 20_000
    @Option(help: "Changes each simulated centre pushes (a fifth of it with 1,000 centres).") var centreChanges = 100
    @Option(help: "How many simulated centres sync at once, comma-separated.") var counts = "33,1000"

    func run() async throws {
        let centre = "landkreis-kassel"
        let rows = Array(SampleData(centre: centre, seed: 2026, scale: changes).rows().prefix(changes))
        var pushRates: [String: Double] = [:]
        var throughput: [String: Double] = [:]
        let floor = try await postgresFloor(rows)
        figure("postgres_floor_rows_per_s", floor, digits: 0)
        for (name, store, processes) in [("sqlite", StoreKind.sqlite, 1), ("postgres_1", .postgres, 1), ("postgres_2", .postgres, 2)] {
            let deployment = try Deployment(store: store)
            try deployment.startHub()
            var hubs = [deployment.hubURL]
            var second: BackgroundProcess?
            if processes == 2 {
                let process = try BackgroundProcess(deployment.hubBinary, ["serve", "--store", deployment.hubStore, "--port", "0", "--log-level", "error"])
                let port = try process.waitForOutput { line in line.hasPrefix("wirsync-hub: serving") ? line.split(separator: ":").last.flatMap { Int($0) } : nil }
                hubs.append("http://127.0.0.1:\(port)")
                second = process
            }
            defer { second?.stop() }
            for node in [centre, Node.hmsi] { try deployment.centre(node) }
            try insert(rows, into: deployment.path(centre))
            let (_, pushSeconds) = try await Centre(deployment, centre, hubURL: hubs[0]).sync()
            let (_, pullSeconds) = try await Centre(deployment, Node.hmsi, hubURL: hubs[hubs.count - 1]).sync()
            pushRates[name] = Double(rows.count) / pushSeconds
            figure("store_push_changes_per_s_\(name)", Double(rows.count) / pushSeconds, digits: 0)
            figure("store_pull_changes_per_s_\(name)", Double(rows.count) / pullSeconds, digits: 0)
            try sqlite3(deployment.path(centre), "UPDATE projects SET participants = coalesce(participants, 0) + 1 WHERE rowid IN (SELECT rowid FROM projects LIMIT 10);")
            let (_, incremental) = try await Centre(deployment, centre, hubURL: hubs[0]).sync()
            figure("store_incremental_ms_\(name)", incremental * 1000, digits: 1)
            figure("store_push_vs_sqlite_\(name)", pushRates[name]! / pushRates["sqlite"]!, digits: 2)
            if store == .postgres { figure("store_push_vs_postgres_floor_\(name)", pushRates[name]! / floor, digits: 2) }
            throughput[name] = try await centres(deployment, hubs: hubs, suffix: name)
            if store == .postgres, processes == 1 {
                let setting = try await deployment.openStore().read { db in try String.fetchOne(db, sql: "SELECT current_setting('synchronous_commit')") }
                FileHandle.standardOutput.write(Data("postgres_synchronous_commit=\(setting ?? "?")\n".utf8))
            }
        }
        figure("store_two_vs_one_process_33", throughput["postgres_2"]! / throughput["postgres_1"]!, digits: 2)
    }

    /// 33 and then 1,000 simulated centres at once against the deployment's hub processes;
    /// returns the changes per second of the 33.
    private func centres(_ deployment: Deployment, hubs: [String], suffix: String) async throws -> Double {
        var thirtyThree = 0.0
        var tokens: [String: String] = [:]
        for centre in WIRSchema.centres where centre.id != "landkreis-kassel" {
            tokens[centre.id] = try runChecked(deployment.hubBinary, ["centre", "add", centre.id, "--store", deployment.hubStore])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let schemaTag = "wir/\(try WIRSchema.definition().version)"
        let nodes = tokens.keys.sorted()
        for count in counts.split(separator: ",").compactMap({ Int($0) }) {
            let changes = count > 100 ? max(1, centreChanges / 5) : centreChanges
            let start = ContinuousClock.now
            let ticks = try cpuTicks()
            let outcomes = await withTaskGroup(of: CentresBenchmark.Outcome.self) { group in
                for index in 0..<count {
                    let node = nodes[index % nodes.count]
                    let configuration = CurlConfiguration(hubURL: hubs[index % hubs.count], token: tokens[node]!, schemaTag: schemaTag)
                    group.addTask {
                        await CentresBenchmark.simulate(index: index + count * 10, node: node, configuration: configuration, changes: changes)
                    }
                }
                return await group.reduce(into: [CentresBenchmark.Outcome]()) { $0.append($1) }
            }
            let elapsed = seconds(since: start)
            let after = try cpuTicks()
            if let message = outcomes.compactMap(\.firstError).first { FileHandle.standardError.write(Data("first error: \(message)\n".utf8)) }
            if let message = outcomes.compactMap(\.firstRetry).first { FileHandle.standardError.write(Data("first retry: \(message)\n".utf8)) }
            figure("store_centres_p99_ms_\(count)_\(suffix)", percentile(outcomes.flatMap(\.latencies), 99) * 1000, digits: 1)
            figure("store_centres_errors_\(count)_\(suffix)", Double(outcomes.map(\.errors).reduce(0, +)), digits: 0)
            figure("store_centres_retries_\(count)_\(suffix)", Double(outcomes.map(\.retried).reduce(0, +)), digits: 0)
            let rate = Double(outcomes.map(\.applied).reduce(0, +)) / elapsed
            if count == 33 { thirtyThree = rate }
            figure("store_centres_changes_per_s_\(count)_\(suffix)", rate, digits: 0)
            // The centres, the hub processes and PostgreSQL share the machine: a share near 1
            // means a second hub process has no core to run on.
            figure("store_centres_cpu_busy_\(count)_\(suffix)", (after.busy - ticks.busy) / (after.total - ticks.total), digits: 2)
        }
        return thirtyThree
    }

    /// The same rows into plain PostgreSQL tables of the same columns, in push-sized transactions.
    private func postgresFloor(_ rows: [SampleData.Row]) async throws -> Double {
        let (location, password) = try TestHubs.newDatabase()
        let database = try PostgresHubDatabase(location: location, password: password, connections: 1)
        defer { try? database.close() }
        let tables = Dictionary(grouping: rows, by: \.table)
        try await database.write { db in
            for (table, rows) in tables {
                let columns = Set(rows.flatMap(\.values.keys)).sorted()
                let definitions = columns.map { column -> String in
                    let value = rows.lazy.compactMap { $0.values[column] }.first { $0 != .null } ?? .null
                    let type = switch value {
                    case .integer: "bigint"
                    case .real: "double precision"
                    default: "bytea"
                    }
                    return "\(quoted(column)) \(type)"
                }
                try db.execute(sql: "CREATE TABLE \(quoted(table)) (id bytea PRIMARY KEY, \(definitions.joined(separator: ", ")))")
            }
        }
        let start = ContinuousClock.now
        for batch in stride(from: 0, to: rows.count, by: 500).map({ rows[$0..<min($0 + 500, rows.count)] }) {
            try await database.write { db in
                for (table, rows) in Dictionary(grouping: batch, by: \.table) {
                    let columns = Set(rows.flatMap(\.values.keys)).sorted()
                    let row = "(" + Array(repeating: "?", count: columns.count + 1).joined(separator: ", ") + ")"
                    let values = rows.flatMap { row in [Value.text(row.pk)] + columns.map { row.values[$0] ?? .null } }
                    try db.execute(
                        sql: "INSERT INTO \(quoted(table)) (id, \(columns.map(quoted).joined(separator: ", "))) VALUES "
                            + Array(repeating: row, count: rows.count).joined(separator: ", "),
                        arguments: values)
                }
            }
        }
        return Double(rows.count) / seconds(since: start)
    }

    /// A figure, written at once (also into a pipe, where `print` would hold it back).
    private func figure(_ name: String, _ value: Double, digits: Int) {
        FileHandle.standardOutput.write(Data("\(name)=\(String(format: "%.\(digits)f", value))\n".utf8))
    }
}
