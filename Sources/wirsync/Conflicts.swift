import ArgumentParser
import Foundation
import ReplicaStore
import SyncCore

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what lost at the hub: conflict records about this centre's rows, and refused changes.",
        discussion: """
            The hub records every value that lost a concurrent edit and sends the records about \
            this centre's rows with each sync; HMSI resolves them at the hub. This shows the \
            copy kept here, and the changes the hub refused (e.g. out of scope).
            """,
        subcommands: [List.self, Show.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List conflict records and refused changes, newest first.")

        @OptionGroup var replica: ReplicaOption
        @Flag(help: "Only conflicts HMSI has not resolved.") var open = false
        @Flag(help: "Print JSON: {conflicts, refused}.") var json = false

        struct Listing: Encodable {
            var conflicts: [ConflictRecord]
            var refused: [RefusedChange]
        }

        func run() throws {
            let listing = try replica.read { Listing(conflicts: try $0.conflicts(openOnly: open), refused: try $0.refusals()) }
            if json { return try printJSON(listing) }
            if listing.conflicts.isEmpty { print("No conflicts\(open ? " open" : "").") }
            for record in listing.conflicts {
                let state = record.resolvedAt == nil ? "open" : "resolved, kept the \(record.kept ?? "?")"
                print("#\(record.id)  \(record.table) \(record.pk)\(record.column.map { ".\($0)" } ?? " (row)")  "
                    + "kept: \(show(record.winner.value)) by \(record.winner.origin), lost: \(show(record.loser.value)) by \(record.loser.origin)  [\(state)]")
            }
            if !listing.refused.isEmpty { print("Refused by the hub:") }
            for refusal in listing.refused {
                print("  change \(refusal.seq): \(refusal.op) \(refusal.table) \(refusal.pk): \(refusal.message)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one conflict record in full.")

        @Argument(help: "The conflict's id.") var id: Int64
        @OptionGroup var replica: ReplicaOption
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let record = try replica.read { try $0.conflicts().first { $0.id == id } }
            guard let record else {
                FileHandle.standardError.write(Data("wirsync: there is no conflict \(id) in this replica\n".utf8))
                throw ExitCode.failure
            }
            if json { return try printJSON(record) }
            print("Conflict \(record.id) about \(record.table) \(record.pk)\(record.column.map { ", column \($0)" } ?? ", the row itself")")
            print("  kept  \(show(record.winner.value))  by \(record.winner.origin)")
            print("  lost  \(show(record.loser.value))  by \(record.loser.origin)")
            print("  when  \(clockTime(HLC(millis: record.recordedAt)))")
            if let resolvedAt = record.resolvedAt {
                print("  resolved \(clockTime(HLC(millis: resolvedAt))) by \(record.resolvedBy ?? "?"): kept the \(record.kept ?? "?")")
            } else {
                print("  open: HMSI decides at the hub (wirsync-hub conflicts resolve \(record.id) --keep winner|loser)")
            }
        }
    }
}

private func show(_ value: Value) -> String {
    value == .null ? "deleted or NULL" : value.description
}
