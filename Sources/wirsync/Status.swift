import ArgumentParser
import Foundation
import ReplicaStore
import SyncCore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the replica's centre, schema version, pending changes and hub cursor."
    )

    @OptionGroup var replica: ReplicaOption

    @Flag(name: .long, help: "Print JSON: centre, schema_version, pending, cursor, hub_url, hlc, replica_id.")
    var json = false

    func run() throws {
        let status: Replica.Status
        do {
            status = try Replica.open(path: replica.db).status()
        } catch {
            throw fail(error)
        }
        if json {
            try printJSON(status)
            return
        }
        let rows: [(String, String)] = [
            ("Replica", replica.db),
            ("Centre", status.centre),
            ("Schema", "version \(status.schemaVersion)"),
            ("Pending", status.pending == 1 ? "1 change not yet pushed" : "\(status.pending) changes not yet pushed"),
            ("Cursor", status.cursor == 0 ? "0 (nothing pulled from the hub yet)" : "\(status.cursor) (last hub sequence pulled)"),
            ("Hub", status.hubURL ?? "not set (give --hub to init)"),
            ("Clock", status.hlc == .zero ? "not started (no change has been given a clock yet)" : clockTime(status.hlc)),
        ]
        for (label, value) in rows {
            print(label.padding(toLength: 9, withPad: " ", startingAt: 0) + value)
        }
    }
}

/// An HLC as an operator reads it: its wall time in UTC, and the counter if it is not zero.
func clockTime(_ hlc: HLC) -> String {
    let date = Date(timeIntervalSince1970: Double(hlc.millis) / 1000)
    let text = date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    return hlc.counter == 0 ? text : "\(text) +\(hlc.counter)"
}
