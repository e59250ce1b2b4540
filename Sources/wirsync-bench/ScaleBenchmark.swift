import ArgumentParser
import CentreSync
import Foundation
import GRDB
import SampleData
import SyncCore
import SyncTestSupport

/// How sync cost and memory grow with the data: the same small sync and the same full pull
/// against a small and a large deployment, in the same run.
struct ScaleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Incremental sync time and pull memory at a small and a large size; idle daemon memory.",
        discussion: """
            Builds two deployments (the wirsync-hub binary on loopback, a centre, HMSI): one \
            with --small rows, one with --large. In each, the centre captures and pushes its \
            rows, then HMSI pulls them all with the wirsync binary, whose peak RSS is taken \
            from the kernel (wait4). Then the centre changes 10 rows and syncs, in process \
            through libcurl as the daemon does, --runs times. Prints:

              incremental_sync_ms_small, incremental_sync_ms_large   median sync of 10 changes
              incremental_ratio                                       large / small
              pull_small_peak_rss_mb, pull_large_peak_rss_mb          `wirsync sync` pulling everything
              pull_peak_rss_ratio                                     large / small (flat is 1)
              daemon_rss_idle_mb, daemon_anon_idle_mb                 `wirsync daemon` after its first sync:
                                                                      all resident pages; its own memory only
              daemon_rss_floor_mb                                     wirsync-bench-floor: the Swift runtime,
                                                                      Foundation, libcurl and SQLite loaded
                                                                      and initialised, nothing of WIR-Sync
              daemon_rss_over_floor_mb                                idle daemon - floor
              setup_push_changes_per_s_large, setup_pull_changes_per_s_large
            """
    )

    @Option(help: "Rows in the small deployment.") var small = 1_000
    @Option(help: "Rows in the large deployment.") var large = 1_000_000
    @Option(help: "Incremental syncs per size; the median is reported.") var runs = 7

    private var centre: String { "landkreis-kassel" }

    func run() async throws {
        var incremental: [String: Double] = [:]
        var peak: [String: Double] = [:]
        for (label, size) in [("small", small), ("large", large)] {
            let deployment = try runningDeployment([centre, Node.hmsi])
            try insert(SampleData(centre: centre, seed: 2026, scale: size).rows().prefix(size), into: deployment.path(centre))
            let kassel = try Centre(deployment, centre)
            let (pushed, pushSeconds) = try await kassel.sync()

            let start = ContinuousClock.now
            let (status, peakMiB) = try runMeasuringPeakRSS(
                deployment.wirsync, ["sync", "--db", deployment.path(Node.hmsi), "--hub", deployment.hubURL])
            let pullSeconds = seconds(since: start)
            guard status == 0 else { throw BenchError("HMSI's sync failed with status \(status)") }
            peak[label] = peakMiB
            report("pull_\(label)_peak_rss_mb", peakMiB, digits: 1)
            if label == "large" {
                report("setup_push_changes_per_s_large", Double(pushed.applied) / pushSeconds, digits: 0)
                report("setup_pull_changes_per_s_large", Double(size) / pullSeconds, digits: 0)
            }

            incremental[label] = try await incrementalSync(kassel, deployment: deployment) * 1000
            report("incremental_sync_ms_\(label)", incremental[label]!, digits: 1)
            if label == "small" { try daemonIdle(deployment) }
        }
        report("incremental_ratio", incremental["large"]! / incremental["small"]!)
        report("pull_peak_rss_ratio", peak["large"]! / peak["small"]!)
    }

    /// The median time of a sync carrying 10 changed rows.
    private func incrementalSync(_ kassel: Centre, deployment: Deployment) async throws -> Double {
        let writer = try DatabaseQueue(path: deployment.path(centre))
        let projects = try await writer.read { db in try String.fetchAll(db, sql: "SELECT id FROM projects ORDER BY id LIMIT 10") }
        guard projects.count == 10 else { throw BenchError("the deployment has fewer than 10 projects") }
        var times: [Double] = []
        for _ in 0..<runs {
            try await writer.write { db in
                for pk in projects { try db.execute(sql: "UPDATE projects SET participants = participants + 1 WHERE id = ?", arguments: [pk]) }
            }
            let (report, seconds) = try await kassel.sync()
            guard report.applied == projects.count else { throw BenchError("an incremental sync applied \(report.applied) changes") }
            times.append(seconds)
        }
        return median(times)
    }

    /// The resident memory of a daemon that has synced once and waits for the next round,
    /// and of a process holding only the libraries it cannot do without (the floor).
    private func daemonIdle(_ deployment: Deployment) throws {
        let daemon = try BackgroundProcess(deployment.wirsync, ["daemon", "--db", deployment.path(centre), "--interval", "600"])
        defer { daemon.stop() }
        _ = try daemon.waitForOutput(inErrors: true) { $0.contains("synced") ? true : nil }
        let floor = try BackgroundProcess(builtProduct("wirsync-bench-floor"), [])
        defer { floor.stop() }
        _ = try floor.waitForOutput { $0.hasPrefix("ready") ? true : nil }
        Thread.sleep(forTimeInterval: 2)
        let idle = try memoryMiB(pid: daemon.pid), floorMiB = try memoryMiB(pid: floor.pid)
        report("daemon_rss_idle_mb", idle, digits: 1)
        report("daemon_anon_idle_mb", try memoryMiB(pid: daemon.pid, field: "RssAnon"), digits: 1)
        report("daemon_rss_floor_mb", floorMiB, digits: 1)
        report("daemon_rss_over_floor_mb", idle - floorMiB, digits: 1)
    }
}
