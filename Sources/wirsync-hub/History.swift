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
        let hub = try await store.open()
        let actor = operatorName(by)
        do {
            let erasure = try await hub.erase(table: table, pk: id, reason: reason, by: actor, caller: Caller(centre: Node.hmsi, token: 0))
            let sqlite = hub.isSQLite
            try hub.close()
            let records = erasure.conflicts == 0 ? "" : "; the values of \(erasure.conflicts) conflict record\(erasure.conflicts == 1 ? "" : "s") are gone too"
            print("Erased \(erasure.table) \(erasure.pk) at the hub (log entry \(erasure.seq))\(records).")
            print("Every replica of \(erasure.centre ?? "every centre") removes its copies on its next sync.")
            if erasure.walCleared == false, sqlite {
                print("The hub's WAL was busy (the hub serves): it is emptied when the hub stops, or by `sqlite3 hub.db 'PRAGMA wal_checkpoint(TRUNCATE)'`.")
            } else if erasure.walCleared == false {
                print("A transaction older than the erasure ran on, so the tables are not rewritten yet: once it has ended, run `VACUUM FULL \(erasure.table), sync_cols, sync_conflicts` in psql.")
            }
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
        let hub = try await store.open()
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

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Show or set how long the hub keeps tombstones and resolved conflict records.",
        discussion: """
            Defaults: --tombstone-days 30, --resolved-conflict-days 365, --conflict-records-max 100000. \
            A deleted row's key and deletion version go once they are older than the tombstone days \
            and every provisioned replica has pulled past them; a replica that comes back later \
            re-syncs. A resolved conflict record goes after its days, and the oldest resolved ones \
            beyond the maximum first; open records always stay. Compaction after each pull applies \
            a change; it is written to the audit.
            """
    )

    @Option(help: "Days a tombstone is kept at least.") var tombstoneDays: Int?
    @Option(help: "Days a resolved conflict record is kept.") var resolvedConflictDays: Int?
    @Option(help: "Resolved conflict records kept at most.") var conflictRecordsMax: Int?
    @Option(help: "Who changes it (default: $USER).") var by: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var store: StoreOption

    func run() async throws {
        let hub = try await store.open()
        do {
            var retention = try await hub.retention()
            if tombstoneDays != nil || resolvedConflictDays != nil || conflictRecordsMax != nil {
                retention.tombstoneDays = tombstoneDays ?? retention.tombstoneDays
                retention.resolvedConflictDays = resolvedConflictDays ?? retention.resolvedConflictDays
                retention.conflictRecordsMax = conflictRecordsMax ?? retention.conflictRecordsMax
                retention = try await hub.setRetention(retention, by: operatorName(by))
            }
            if json { return try printJSON(retention) }
            print("tombstone-days \(retention.tombstoneDays), resolved-conflict-days \(retention.resolvedConflictDays), "
                + "conflict-records-max \(retention.conflictRecordsMax)")
        } catch {
            throw fail(error)
        }
    }
}
