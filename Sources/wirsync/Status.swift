import ArgumentParser
import CLISupport
import Foundation
import ReplicaStore
import SyncCore
import WIRSchema

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the replica's centre, schema version, pending changes and hub cursor."
    )

    @OptionGroup var replica: ReplicaOption

    @Flag(name: .long, help: "Print JSON: centre, origin, schema_version, pending, cursor, hub_url, hlc, last_recovery, ….")
    var json = false

    func run() throws {
        let status = try replica.read { try $0.status() }
        if json {
            try printJSON(status)
            return
        }
        var rows: [(String, String)] = [
            ("Replica", replica.db),
            ("Centre", status.centre),
            ("Origin", "\(status.origin) (this replica's name at the hub)"),
            ("Schema", "version \(status.schemaVersion)" + upgradeHint(status.schemaVersion)),
            ("Pending", status.pending == 1 ? "1 change not yet pushed" : "\(status.pending) changes not yet pushed"),
            ("Cursor", cursor(status.cursor)),
            ("Hub", status.hubURL ?? "not set (give --hub to init)"),
            ("Clock", status.hlc == .zero ? "not started (no change has been given a clock yet)" : clockTime(status.hlc)),
            ("Last sync", lastSync(status)),
            ("Conflicts", status.openConflicts == 0 ? "none open" : "\(status.openConflicts) open: see `wirsync conflicts list`"),
            ("Refused", status.refused == 0 ? "none" : "\(status.refused) changes the hub refused: see `wirsync conflicts list`"),
        ]
        if let recovery = status.lastRecovery {
            rows.append(("Recovery", "\(clockTime(HLC(millis: recovery.at))): \(recovery.message)"))
        }
        for (label, value) in rows {
            print(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value)
        }
        let drift = try replica.read { try $0.drift() }
        if !drift.isEmpty {
            print("Drift      capture is not intact, nothing is synced: " + drift.map(\.description).joined(separator: "; ")
                + "; run `wirsync repair --db \(replica.db)`")
        }
        if let offset = status.lastSync?.hubOffsetMillis, abs(offset) > 60_000 {
            let direction = offset < 0 ? "ahead of" : "behind"
            print("Warning    this PC's clock is \(duration(abs(offset))) \(direction) the hub's; set it right")
        }
    }

    private func cursor(_ seq: Int64) -> String {
        if seq == 0 { return "0 (nothing pulled from the hub yet)" }
        return "\(seq) (" + (LogSeq.millis(seq).map { "pulled the hub's log up to \(CLI.time($0, fractions: true))" } ?? "last hub sequence pulled") + ")"
    }

    private func lastSync(_ status: Replica.Status) -> String {
        guard let run = status.lastSync else { return "never" }
        let when = clockTime(HLC(millis: run.finishedAt))
        if run.ok {
            let offset = run.hubOffsetMillis.map { "; hub clock \(duration(abs($0))) \($0 >= 0 ? "ahead" : "behind")" } ?? ""
            return "\(when) ok: pushed \(run.pushed), pulled \(run.pulled), refused \(run.refused), conflicts \(run.conflicts)\(offset)"
        }
        let success = status.lastSuccessAt.map { "last success \(clockTime(HLC(millis: $0)))" } ?? "never succeeded"
        return "\(when) FAILED: \(run.error ?? "?") (\(success))"
    }
}

/// A span of milliseconds as people say it.
func duration(_ millis: Int64) -> String {
    switch millis {
    case ..<1000: "\(millis) ms"
    case ..<120_000: String(format: "%.1f s", Double(millis) / 1000)
    case ..<7_200_000: "\(millis / 60_000) minutes"
    case ..<172_800_000: "\(millis / 3_600_000) hours"
    default: "\(millis / 86_400_000) days"
    }
}

/// An HLC as an operator reads it: its wall time in UTC, and the counter if it is not zero.
func clockTime(_ hlc: HLC) -> String {
    let text = CLI.time(hlc.millis, fractions: true)
    return hlc.counter == 0 ? text : "\(text) +\(hlc.counter)"
}

/// What `status` adds when this wirsync brings a newer schema than the replica has.
private func upgradeHint(_ version: Int) -> String {
    guard let newest = try? WIRSchema.definition().version, newest > version else { return "" }
    return " (this wirsync has version \(newest): `wirsync upgrade` moves the replica on, offline, keeping everything)"
}
