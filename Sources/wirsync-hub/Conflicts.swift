import ArgumentParser
import Foundation
import HubStore
import SyncCore

struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Review the values that lost a concurrent write race, and resolve them.",
        subcommands: [List.self, Show.self, Resolve.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List conflict records, newest first.")

        @OptionGroup var store: StoreOption
        @Option(help: "Only conflicts over this centre's rows.") var centre: String?
        @Flag(help: "Only conflicts not yet resolved.") var open = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let hub = try await store.open()
            let records: [ConflictRecord]
            do {
                records = try await hub.conflicts(centre: centre, openOnly: open)
            } catch {
                throw fail(error)
            }
            if json { return try printJSON(records) }
            if records.isEmpty { print("No conflicts\(open ? " open" : "")\(centre.map { " for \($0)" } ?? "").") }
            for record in records { print(summary(record)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one conflict record in full.")

        @Argument(help: "The conflict's id.") var id: Int64
        @OptionGroup var store: StoreOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let hub = try await store.open()
            do {
                let record = try await hub.conflict(id: id)
                if json { return try printJSON(record) }
                print(detail(record))
            } catch {
                throw fail(error)
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a conflict by keeping the winner or bringing the loser back.",
            discussion: """
                --keep winner leaves the data as it is and marks the record resolved. \
                --keep loser writes the losing value again as a new change from the hub, with a \
                fresh clock, so it reaches the centre on its next pull like any other change.
                """
        )

        @Argument(help: "The conflict's id.") var id: Int64
        @Option(help: "winner or loser.") var keep: KeepOption
        @Option(help: "Who resolves it (default: $USER).") var by: String?
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            let resolver = operatorName(by)
            do {
                let record = try await hub.resolve(id: id, keep: keep.value, by: resolver)
                print("Resolved conflict \(record.id): kept the \(keep.rawValue).")
                print(detail(record))
            } catch {
                throw fail(error)
            }
        }
    }
}

/// `--keep winner|loser`.
enum KeepOption: String, ExpressibleByArgument, CaseIterable {
    case winner, loser

    var value: HubStore.Keep { self == .winner ? .winner : .loser }
}

private func what(_ record: ConflictRecord) -> String {
    "\(record.table) \(record.pk)\(record.column.map { ".\($0)" } ?? " (row)")"
}

private func show(_ value: Value) -> String {
    value == .null ? "deleted or NULL" : value.description
}

private func summary(_ record: ConflictRecord) -> String {
    let state = record.resolvedAt == nil ? "open" : "resolved (kept \(record.kept ?? "?"))"
    return "#\(record.id)  \(timestamp(record.recordedAt))  \(record.centre ?? "reference")  \(what(record))  "
        + "won: \(show(record.winner.value)) by \(record.winner.origin), lost: \(show(record.loser.value)) by \(record.loser.origin)  [\(state)]"
}

private func detail(_ record: ConflictRecord) -> String {
    var lines = [
        "Conflict \(record.id)", "  row       \(what(record))", "  centre    \(record.centre ?? "reference data")",
        "  recorded  \(timestamp(record.recordedAt))",
        "  winner    \(show(record.winner.value))  by \(record.winner.origin) at \(record.winner.hlc)",
        "  loser     \(show(record.loser.value))  by \(record.loser.origin) at \(record.loser.hlc)",
    ]
    if let resolvedAt = record.resolvedAt {
        lines.append("  resolved  \(timestamp(resolvedAt)) by \(record.resolvedBy ?? "?"), kept the \(record.kept ?? "?")")
    } else {
        lines.append("  open      resolve with: wirsync-hub conflicts resolve \(record.id) --keep winner|loser")
    }
    return lines.joined(separator: "\n")
}
