import ArgumentParser
import Foundation
import HubStore
import SyncCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the hub: schema, log length, rows, conflicts, and centres that have not synced lately.")

    @OptionGroup var store: StoreOption
    @Option(help: "Name centres that have not synced for this many days.") var staleDays = 3
    @Flag(help: "Print JSON.") var json = false

    struct Report: Encodable {
        var status: HubStatus
        var stale: [String]
        enum CodingKeys: String, CodingKey { case status, stale = "not_synced_lately" }
    }

    func run() async throws {
        let hub = try await store.open()
        do {
            let status = try await hub.status()
            let cutoff = SystemClock().nowMillis() - Int64(staleDays) * 86_400_000
            let stale = try await hub.clients().filter { client in
                client.token == "active" && max(client.lastPushAt ?? 0, client.lastPullAt ?? 0) < cutoff
            }.map(\.node)
            if json { return try printJSON(Report(status: status, stale: stale)) }
            print("Hub store  \(hub.path) (schema \(status.schema))")
            let versions = status.versions
            let served = versions.oldest == versions.newest ? "version \(versions.newest)" : "versions \(versions.oldest) to \(versions.newest)"
            let running = versions.replicas.sorted { $0.key < $1.key }.map { version, names in
                "version \(version): \(names.count) (\(names.prefix(8).joined(separator: ", "))\(names.count > 8 ? ", …" : ""))"
            }
            print("Schema     serves \(served)" + (running.isEmpty ? "" : "; replicas on " + running.joined(separator: "; ")))
            print("Hub log    \(status.logEntries) entries, the last at \(status.logSeq)" + (LogSeq.millis(status.logSeq).map { " (\(timestamp($0)))" } ?? ""))
            let history = status.history
            print("History    one live entry per row; \(history.superseded) superseded entries await compaction"
                + (history.oldestAt.map { ", the oldest entry kept is from \(timestamp($0))" } ?? ""))
            if let slowest = history.slowest {
                print("           compaction holds at \(slowest.cursor), the cursor of \(slowest.origin) (\(slowest.centre), last contact "
                    + (slowest.lastContact.map(timestamp) ?? "never") + "); `wirsync-hub replica revoke` retires a replica gone for good")
            }
            let retention = history.retention
            print("Tombstones \(history.tombstones) deleted rows keep their key and deletion version, for \(retention.tombstoneDays) days "
                + "and until every provisioned replica pulled past them" + (history.erased > 0 ? "; \(history.erased) rows erased (`wirsync-hub audit`)" : ""))
            print("Retention  resolved conflict records are kept \(retention.resolvedConflictDays) days, at most \(retention.conflictRecordsMax); "
                + "`wirsync-hub retention` changes it")
            print("Rows       " + status.rows.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            print("Conflicts  \(status.conflictsOpen) open of \(status.conflictsTotal)")
            print("Quiet      " + (stale.isEmpty ? "every provisioned centre synced in the last \(staleDays) days"
                : "not synced for \(staleDays)+ days: " + stale.joined(separator: ", ")))
            if let restore = status.restore {
                print("Restore    \(timestamp(restore.at)): \(restore.detail)")
                let progress = restore.notYet.isEmpty
                    ? "every replica has re-synced since (\(restore.resynced.count))"
                    : "re-synced since: \(restore.resynced.count) of \(restore.resynced.count + restore.notYet.count); not yet: "
                        + restore.notYet.joined(separator: ", ")
                print("           \(progress)")
                if restore.conflictsRebuilt > 0 || restore.conflictsNotRebuilt > 0 {
                    print("           conflict records brought back from replicas: \(restore.conflictsRebuilt); lost and in no replica's mirror: \(restore.conflictsNotRebuilt)")
                }
            }
        } catch {
            throw fail(error)
        }
    }
}
