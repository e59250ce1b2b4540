import ArgumentParser
import HubStore
import SyncCore
import WIRSchema

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the hub store with the WIR schema and load the reference data.",
        discussion: """
            Creates the SQLite file (WAL mode) and loads the reference tables from the built-in \
            fixtures: the 33 centres and the funding lines. Centres receive them on their first \
            pull. Refuses a file that already exists.
            """
    )

    @OptionGroup var store: StoreOption
    @Flag(help: "A hub to rebuild from the replicas after the old one was lost: no reference data of its own; HMSI's replica brings it back.")
    var rebuild = false

    func run() async throws {
        do {
            let schema = try WIRSchema.definition()
            let hub = try await HubStore.create(path: store.path, schema: schema) { table in
                rebuild ? nil : try WIRSchema.fixtureRows(table: table)
            }
            let status = try await hub.status()
            print("Created hub store \(store.path) (schema \(hub.schemaTag)).")
            if rebuild {
                print("It holds nothing yet: every replica offers what it holds on its first sync with it (docs/recovery.md).")
                print("Next: give HMSI's replica a token first (`wirsync-hub centre add hmsi --db \(store.path)`), then every centre.")
                return
            }
            print("Loaded \(status.rows["centres"] ?? 0) centres and \(status.rows["funding_lines"] ?? 0) funding lines.")
            print("Next: give each centre a token with `wirsync-hub centre add ID --db \(store.path)`.")
        } catch {
            throw fail(error)
        }
    }
}
