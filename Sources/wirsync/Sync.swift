import ArgumentParser
import CentreSync
import Foundation
import ReplicaStore
import SyncCore

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sync the replica with the hub now: push what was captured, pull what changed.",
        discussion: """
            Pushes every captured change in batches, then pulls until nothing more is waiting; \
            each batch is committed on its own, so an interrupted sync resumes where it stopped. \
            On a terminal it shows progress on standard error; it always ends with one summary line.

            Exit codes: 0 synced; 69 the hub is unreachable or the line stalled (nothing is lost, \
            try again later); 77 the token is wrong or revoked; 65 the hub refused the data (this \
            PC's clock is ahead, or the schema differs); 75 another sync of this replica is \
            running; 78 settings missing or unsafe; 1 anything else.
            """
    )

    @OptionGroup var replica: ReplicaOption
    @OptionGroup var hub: HubOptions
    @Flag(help: "Print the outcome as JSON.") var json = false

    struct Outcome: Encodable {
        var ok: Bool
        var centre: String
        var report: SyncReport?
        var error: String?
        var errorKind: String?
        var pending: Int?

        enum CodingKeys: String, CodingKey {
            case ok, centre, report, error, pending
            case errorKind = "error_kind"
        }
    }

    func run() async throws {
        let replica = try self.replica.open()
        let showProgress = !json && isatty(STDERR_FILENO) == 1
        do throws(SyncError) {
            let (settings, transport) = try hub.connect(replica)
            let lock = try SyncLock.acquire(replicaPath: replica.path)
            let report = try await SyncSession(
                replica: replica, transport: transport, limits: SyncLimits(batchChanges: settings.batchChanges)
            ).run { progress in
                guard showProgress else { return }
                let verb = switch progress.phase {
                case .push: "pushed"
                case .pull: "pulled"
                case .reoffer: "offered again to the restored hub"
                }
                let of = progress.total.map { " of \($0)" } ?? ""
                FileHandle.standardError.write(Data("\r\(verb) \(progress.changes)\(of) changes in \(progress.batches) batches…".utf8))
            }
            withExtendedLifetime(lock) {}
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json {
                try? printJSON(Outcome(ok: true, centre: replica.node, report: report, pending: try? replica.status().pending))
            } else {
                print(summary(report, node: replica.node, hub: settings.hubURL))
            }
        } catch {
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
            let pending = try? replica.status().pending
            if json {
                try? printJSON(Outcome(ok: false, centre: replica.node, error: error.description, errorKind: error.kind, pending: pending))
                throw ExitCode(error.exitCode)
            }
            throw fail(error, pending: pending)
        }
    }

    private func summary(_ report: SyncReport, node: String, hub: String) -> String {
        func changes(_ count: Int) -> String { count == 1 ? "1 change" : "\(count) changes" }
        var pushed = "pushed \(changes(report.pushed))"
        var notes: [String] = []
        if !report.refused.isEmpty { notes.append("\(report.refused.count) refused by the hub, see `wirsync conflicts list`") }
        if report.conflicts > 0 { notes.append("\(report.conflicts) conflict\(report.conflicts == 1 ? "" : "s") recorded") }
        if !notes.isEmpty { pushed += " (\(notes.joined(separator: ", ")))" }
        let records = report.conflictRecords > 0 ? " and \(report.conflictRecords) conflict record\(report.conflictRecords == 1 ? "" : "s")" : ""
        let seconds = String(format: "%.1f", Double(report.durationMillis) / 1000)
        let repaired = report.recovery.map { " Repaired first: \($0)." } ?? ""
        return "Synced \(node) with \(hub): \(pushed), pulled \(changes(report.pulled))\(records) in \(seconds) s.\(repaired)"
    }
}
