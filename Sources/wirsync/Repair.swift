import ArgumentParser
import ReplicaStore

struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring a replicated table back after a tool rebuilt or changed it, capturing what was written meanwhile.",
        discussion: """
            `wirsync sync`, `status` and the daemon check every replicated table against what the \
            engine installed, and sync nothing while one differs (docs/schema-evolution.md, \
            "Drift"). A table rebuild by a tool (sqlite-utils transform, DB Browser's Modify \
            Table) drops its capture triggers; a column added by hand would never be replicated. \
            `repair`, in one transaction: renames a replicated column back if a tool renamed it; \
            takes out a column added by hand, its values first written to <db>.<table>.<column>.csv; \
            installs the capture triggers again; and captures every row of such a table as it is \
            now (what changed while capture was off cannot be told afterwards), so the next sync \
            sends it. Stop the daemon first.
            """
    )

    @OptionGroup var replica: ReplicaOption

    func run() throws {
        do {
            let replica = try Replica.open(path: self.replica.db)
            let drift = try replica.drift()
            guard !drift.isEmpty else {
                print("Every replicated table of \(self.replica.db) is as the engine installed it; nothing to repair.")
                return
            }
            for found in drift { print("Found      \(found)") }
            let report = try replica.repair()
            for renamed in report.renamed { print("Renamed    \(renamed)") }
            for removed in report.removed { print("Removed    \(removed)") }
            if !report.tables.isEmpty {
                print("Capture    installed again on \(report.tables.joined(separator: ", ")); \(report.captured) changes captured for the next sync")
            }
        } catch {
            throw fail(error)
        }
    }
}
