import ArgumentParser
import CLISupport
import Foundation
import HubPostgres
import HubStore
import WIRSchema

struct Store: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move the hub's store to another database.",
        subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a stopped SQLite hub into an empty PostgreSQL database, and check it.",
            discussion: """
                Stop the hub first (the copy refuses a hub that serves). Copies every table (data, \
                versions, the log with its numbers, conflicts, token hashes, replicas with their \
                acknowledgements, receipts, events, audit, console accounts) and the hub's identity \
                in one PostgreSQL transaction, and commits only once every table's digest is equal \
                on both sides. Then serve with --store pointing at PostgreSQL: centres go on syncing \
                with no change on their side. The password comes from PGPASSWORD, \
                WIRSYNC_HUB_PG_PASSWORD_FILE or ~/.pgpass.
                """)

        @Option(help: ArgumentHelp("The SQLite hub store: FILE or sqlite:FILE.", valueName: "store")) var from: String
        @Option(help: ArgumentHelp("The empty PostgreSQL database: postgres://USER@HOST:PORT/DB.", valueName: "store")) var to: String

        func run() async throws {
            do {
                guard case .sqlite(let path) = try StoreLocation(parsing: from) else {
                    throw CLI.fail("wirsync-hub", "--from must be a SQLite hub store (FILE or sqlite:FILE)")
                }
                guard case .postgres(let location) = try StoreLocation(parsing: to) else {
                    throw CLI.fail("wirsync-hub", "--to must be a PostgreSQL database (postgres://USER@HOST:PORT/DB)")
                }
                let lock = try serveLock(path)
                let source = try HubStore.open(path: path, schema: WIRSchema.definition())
                let copied = try await PostgresHubStore.copy(
                    from: source, to: location, password: try location.password(), schema: WIRSchema.definition()
                ) { table, rows in
                    if rows > 0, rows % 20_000 == 0 { print("  \(table): \(rows) rows …") }
                }
                try source.close()
                withExtendedLifetime(lock) {}
                for table in copied.tables { print("  \(table.name): \(table.rows) rows, sha256 \(table.sha256.prefix(16))… equal") }
                print("Copied \(path) to \(location): \(copied.tables.count) tables, every digest equal.")
                print("Next: serve with `wirsync-hub serve --store \(location)`; keep \(path) until the centres have synced.")
            } catch let exit as ExitCode {
                throw exit
            } catch {
                throw fail(error)
            }
        }
    }
}
