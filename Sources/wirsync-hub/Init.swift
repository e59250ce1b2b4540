import ArgumentParser
import HubPostgres
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
    @Option(name: .long, help: ArgumentHelp("Create the store at this older schema version (default: the newest).", valueName: "n"))
    var schemaVersion: Int?

    func run() async throws {
        do {
            let schema = try schemaVersion.map { try WIRSchema.definition().at(version: $0) } ?? WIRSchema.definition()
            let fixtures = { (table: String) in rebuild ? nil : try WIRSchema.fixtureRows(table: table) }
            let hub: HubStore
            switch try store.location {
            case .sqlite(let path): hub = try await HubStore.create(path: path, schema: schema, fixtures: fixtures)
            case .postgres(let location):
                hub = try await PostgresHubStore.create(location: location, password: try location.password(), schema: schema, fixtures: fixtures)
            }
            let status = try await hub.status()
            try hub.close()
            print("Created hub store \(hub.path) (schema \(hub.schemaTag); serves replicas of versions \(hub.servedVersions.lowerBound) to \(hub.servedVersions.upperBound)).")
            if rebuild {
                print("It holds nothing yet: every replica offers what it holds on its first sync with it (docs/recovery.md).")
                print("Next: give HMSI's replica a token first (`wirsync-hub centre add hmsi --store \(hub.path)`), then every centre.")
                return
            }
            print("Loaded \(status.rows["centres"] ?? 0) centres and \(status.rows["funding_lines"] ?? 0) funding lines.")
            print("Next: give each centre a token with `wirsync-hub centre add ID --store \(hub.path)`.")
        } catch {
            throw fail(error)
        }
    }
}

struct Upgrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upgrade the hub store to the schema version of this wirsync-hub, keeping everything.",
        discussion: """
            Stop the hub first (every `serve` process, on PostgreSQL), and back it up \
            (`wirsync-hub backup`, or `pg_dump`). Runs the schema's new \
            migrations, which must be ones an offline fleet can live with (docs/schema-evolution.md), \
            records the versions the hub serves from now on (the manifest's oldest_supported up to \
            the new version) and loads the fixtures of new reference tables. Centres on an older \
            version keep syncing; each upgrades with its own `wirsync upgrade`.
            """
    )

    @OptionGroup var store: StoreOption
    @Option(name: .long, help: ArgumentHelp("Upgrade to this version instead of the newest.", valueName: "n"))
    var schemaVersion: Int?

    func run() async throws {
        do {
            let schema = try schemaVersion.map { try WIRSchema.definition().at(version: $0) } ?? WIRSchema.definition()
            let fixtures = { (table: String) in try WIRSchema.fixtureRows(table: table) }
            let location = try store.location
            let (from, name) = switch location {
            case .sqlite(let path): (try await HubStore.upgradeSchema(path: path, to: schema, fixtures: fixtures), path)
            case .postgres(let database):
                (try await PostgresHubStore.upgradeSchema(location: database, password: try database.password(), to: schema, fixtures: fixtures), database.description)
            }
            print("Upgraded hub store \(name) from schema version \(from) to \(schema.version).")
            print("It serves replicas of versions \(schema.oldestSupported) to \(schema.version); `wirsync-hub status` lists which replica runs which.")
        } catch {
            throw fail(error)
        }
    }
}
