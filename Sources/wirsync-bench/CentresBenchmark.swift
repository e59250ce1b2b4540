import ArgumentParser
import CurlTransport
import Foundation
import SampleData
import SyncCore
import SyncTestSupport
import WIRSchema

/// Many centres syncing against one hub at once.
struct CentresBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "centres",
        abstract: "Many simulated centres syncing against one hub at the same time.",
        discussion: """
            Starts the wirsync-hub binary on loopback with a token for each of the 33 \
            Vielfaltszentren. Then --count simulated centres (replicas, spread over the 33 \
            centres) each push --changes generated changes in batches of 500 through libcurl \
            and pull until nothing is left, all at once. Every request's time is recorded, \
            from handing it to the transport to its decoded answer. Prints, for N = --count:

              hub_concurrent_centres_p99_ms_N    99th percentile of request times
              hub_concurrent_centres_errors_N    requests that failed, after the retries a daemon makes
              hub_concurrent_centres_shed_N      connections the hub shed beyond its limit (256), which a retry carried
              hub_concurrent_changes_per_s_N     changes applied per second of the whole run

            A request that fails for a reason a retry can help (the hub shed the connection, a
            timeout) is tried again after a random delay below 2, 4, 8 … seconds, up to 6
            times, as `wirsync daemon` does (which goes on, up to every 5 minutes).
            """
    )

    @Option(help: "Simulated centres syncing at once.") var count = 33
    @Option(help: "Changes each centre pushes.") var changes = 1_000

    func run() async throws {
        let deployment = try runningDeployment()
        var tokens: [String: String] = [:]
        for centre in WIRSchema.centres {
            tokens[centre.id] = try runChecked(deployment.hubBinary, ["centre", "add", centre.id, "--db", deployment.hubPath])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let schemaTag = "wir/\(try WIRSchema.definition().version)"
        let centres = WIRSchema.centres.map(\.id)
        let start = ContinuousClock.now
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for index in 0..<count {
                let node = centres[index % centres.count]
                let configuration = CurlConfiguration(hubURL: deployment.hubURL, token: tokens[node]!, schemaTag: schemaTag)
                group.addTask { await Self.simulate(index: index, node: node, configuration: configuration, changes: changes) }
            }
            return await group.reduce(into: [Outcome]()) { $0.append($1) }
        }
        let elapsed = seconds(since: start)
        let latencies = outcomes.flatMap(\.latencies)
        let errors = outcomes.map(\.errors).reduce(0, +)
        if let message = outcomes.compactMap(\.firstError).first { FileHandle.standardError.write(Data("first error: \(message)\n".utf8)) }
        report("hub_concurrent_centres_p99_ms_\(count)", percentile(latencies, 99) * 1000, digits: 1)
        report("hub_concurrent_centres_p50_ms_\(count)", percentile(latencies, 50) * 1000, digits: 1)
        report("hub_concurrent_centres_errors_\(count)", Double(errors), digits: 0)
        report("hub_concurrent_centres_shed_\(count)", Double(outcomes.map(\.retried).reduce(0, +)), digits: 0)
        report("hub_concurrent_changes_per_s_\(count)", Double(outcomes.map(\.applied).reduce(0, +)) / elapsed, digits: 0)
    }

    struct Outcome: Sendable {
        var latencies: [Double] = []
        var errors = 0
        var retried = 0
        var applied = 0
        var firstError: String?
        /// What the first request tried again had met.
        var firstRetry: String?
    }

    /// One simulated replica: its own connection, its own rows, a full sync.
    static func simulate(index: Int, node: String, configuration: CurlConfiguration, changes: Int) async -> Outcome {
        var outcome = Outcome()
        func timed<T>(_ body: () async throws(TransportError) -> T) async -> T? {
            for attempt in 0..<7 {
                let start = ContinuousClock.now
                do throws(TransportError) {
                    let result = try await body()
                    outcome.latencies.append(seconds(since: start))
                    return result
                } catch where error.isTransient && attempt < 6 {
                    outcome.retried += 1
                    outcome.firstRetry = outcome.firstRetry ?? "\(error)"
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 0..<(2000 << attempt))))
                } catch {
                    outcome.errors += 1
                    outcome.firstError = outcome.firstError ?? "\(error)"
                    return nil
                }
            }
            return nil
        }
        let transport: CurlTransport
        do {
            transport = try CurlTransport(configuration)
        } catch {
            return Outcome(errors: 1, firstError: "\(error)")
        }
        let data = SampleData(centre: node, seed: UInt64(10_000 + index), scale: changes)
        let rows = Array(data.rows().prefix(changes))
        var hlc = HLC.zero
        let batches = stride(from: 0, to: rows.count, by: 500).map { rows[$0..<min($0 + 500, rows.count)] }
        var seq: Int64 = 0
        for batch in batches {
            let request = PushRequest(
                replicaID: "bench-\(index)", lastSeq: seq + Int64(batch.count),
                changes: batch.map { row in
                    seq += 1
                    hlc = HLC.next(after: hlc, wallMillis: Int64(Date().timeIntervalSince1970 * 1000))
                    return Change(
                        seq: seq, table: row.table, pk: row.pk, op: .insert, centre: node, values: row.values, hlc: hlc, origin: node,
                        seen: 0)
                })
            guard let response = await timed({ () async throws(TransportError) in try await transport.push(request) }) else { return outcome }
            outcome.applied += response.applied
        }
        var cursor: Int64 = 0
        while let page = await timed({ () async throws(TransportError) in try await transport.pull(after: cursor, limit: 1000, origin: nil) }) {
            cursor = page.nextCursor
            if !page.more { break }
        }
        return outcome
    }
}
