import ArgumentParser
import Foundation
import HubStore
import SyncCore

struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase a row and every stored copy of its values (DSGVO Art. 17).",
        discussion: """
            Stronger than a delete: the hub removes the row, the values deleted rows keep, the \
            values of its conflict records and its log entries, overwrites the freed pages and \
            empties its WAL. Every replica in the row's scope removes its own copies (its row, \
            stash and conflict mirror) on its next sync, and the hub refuses any later change of \
            the row, such as one from a replica put back from an old copy. An audit entry keeps \
            who erased which row, when and why, never the values (`wirsync-hub audit`).

            Backups made before the erasure still hold the row: after restoring one, erase the \
            row again (docs/history-and-erasure.md).
            """
    )

    @Argument(help: "The table, e.g. volunteers.") var table: String
    @Argument(help: "The row's key.") var id: String
    @Option(help: "Why, for the audit: a request's reference, never the person's data.") var reason: String
    @Option(help: "Who erases it (default: $USER).") var by: String?
    @OptionGroup var store: StoreOption

    func run() async throws {
        let hub = try store.open()
        let actor = by ?? ProcessInfo.processInfo.environment["USER"] ?? "hmsi"
        do {
            let erasure = try await hub.erase(table: table, pk: id, reason: reason, by: actor, caller: Caller(centre: Node.hmsi, token: 0))
            try hub.close()
            let records = erasure.conflicts == 0 ? "" : "; the values of \(erasure.conflicts) conflict record\(erasure.conflicts == 1 ? "" : "s") are gone too"
            print("Erased \(erasure.table) \(erasure.pk) at the hub (log entry \(erasure.seq))\(records).")
            print("Every replica of \(erasure.centre ?? "every centre") removes its copies on its next sync.")
        } catch {
            throw fail(error)
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show who did what to which row, and why (erasures), newest first; never a row's values.")

    @Option(help: "How many entries.") var limit = 100
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var store: StoreOption

    func run() async throws {
        let hub = try store.open()
        do {
            let entries = try await hub.auditEntries(limit: limit)
            if json { return try printJSON(entries) }
            if entries.isEmpty { print("The audit is empty.") }
            for entry in entries {
                let row = [entry.table, entry.pk].compactMap { $0 }.joined(separator: " ")
                print("\(timestamp(entry.at))  \(entry.action)  \(row)\(entry.centre.map { " (\($0))" } ?? "")  by \(entry.actor): \(entry.detail)")
            }
        } catch {
            throw fail(error)
        }
    }
}
