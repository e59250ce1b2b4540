import ArgumentParser
import CentreSync
import Foundation
import GRDB
import SampleData
import SyncCore
import SyncTestSupport

/// What history costs: a new replica's first sync and the hub's file, after many updates of
/// the same rows against after their inserts only, in the same run.
struct HistoryBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "A new replica's first sync and the hub's size after many updates, against after the inserts alone.",
        discussion: """
            A centre inserts --rows rows and syncs (the wirsync-hub binary on loopback, libcurl), \
            HMSI syncs; the hub's file is measured (stopped, so its WAL is checkpointed) and a new \
            replica of the centre makes its first sync. Then the centre updates every row, once \
            per round, and syncs after each round, with HMSI and that replica, until the hub has \
            applied --updates updates; the hub is measured again and a second new replica makes \
            its first sync. Prints:

              initial_sync_history_ratio   first sync after the updates / first sync after the inserts
              hub_bytes_history_ratio      hub file after the updates / after the inserts
              initial_sync_s_inserts, initial_sync_s_history, hub_mb_inserts, hub_mb_history
            """
    )

    @Option(help: "Rows the centre inserts.") var rows = 10_000
    @Option(help: "Updates the hub applies in all, in rounds of one update per row.") var updates = 1_000_000

    private var centre: String { "landkreis-kassel" }

    func run() async throws {
        let deployment = try runningDeployment([centre, Node.hmsi])
        let data = Array(SampleData(centre: centre, seed: 2026, scale: rows).rows().prefix(rows))
        try insert(data, into: deployment.path(centre))
        try await Centre(deployment, centre).sync()
        try await Centre(deployment, Node.hmsi).sync()

        let (insertsBytes, insertsSeconds) = try await measure(deployment, newReplica: "fresh-inserts")

        let writer = try DatabaseQueue(path: deployment.path(centre))
        let (kassel, hmsi, earlier) = (try Centre(deployment, centre), try Centre(deployment, Node.hmsi), try Centre(deployment, "fresh-inserts"))
        let rounds = max(1, updates / rows)
        for round in 1...rounds {
            try await writer.write { db in
                for table in SampleData.tables { try db.execute(sql: Self.update[table]!, arguments: [round]) }
            }
            let (report, _) = try await kassel.sync()
            guard report.applied == data.count else { throw BenchError("round \(round): the hub applied \(report.applied) of \(data.count) updates") }
            try await hmsi.sync()
            try await earlier.sync()
            if round % 10 == 0 { FileHandle.standardError.write(Data("history: round \(round) of \(rounds)\n".utf8)) }
        }

        let (historyBytes, historySeconds) = try await measure(deployment, newReplica: "fresh-history")
        report("initial_sync_s_inserts", insertsSeconds, digits: 3)
        report("initial_sync_s_history", historySeconds, digits: 3)
        report("initial_sync_history_ratio", historySeconds / insertsSeconds)
        report("hub_mb_inserts", Double(insertsBytes) / 1_048_576, digits: 1)
        report("hub_mb_history", Double(historyBytes) / 1_048_576, digits: 1)
        report("hub_bytes_history_ratio", Double(historyBytes) / Double(insertsBytes))
    }

    /// One update per row of each sample table, a value that differs every round.
    private static let update: [String: String] = [
        "organisations": "UPDATE organisations SET founded_year = 1900 + ?",
        "projects": "UPDATE projects SET participants = ?",
        "volunteers": "UPDATE volunteers SET phone = '0561 ' || ?",
        "deployments": "UPDATE deployments SET note = 'Runde ' || ?",
        "kiv_strategies": "UPDATE kiv_strategies SET population = ?",
        "courses": "UPDATE courses SET participants = ?",
    ]

    /// The hub's file size, stopped (its WAL checkpointed into the file), then the seconds of
    /// a first sync of a new replica of the centre against the hub started again.
    private func measure(_ deployment: Deployment, newReplica file: String) async throws -> (bytes: Int64, seconds: Double) {
        deployment.stopHub()
        var bytes: Int64 = 0
        for suffix in ["", "-wal"] {
            bytes += (try? FileManager.default.attributesOfItem(atPath: deployment.hubPath + suffix)[.size] as? Int64) ?? 0
        }
        try deployment.startHub()
        try deployment.replica(file, of: centre)
        let (report, seconds) = try await Centre(deployment, file).sync()
        guard report.pulled >= rows else { throw BenchError("a new replica pulled \(report.pulled) of \(rows) rows") }
        return (bytes, seconds)
    }
}
