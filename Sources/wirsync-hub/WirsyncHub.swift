import ArgumentParser
import CLISupport
import Foundation
import HubPostgres
import HubStore
import SyncCore
import WIRSchema

@main
struct WirsyncHub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirsync-hub",
        abstract: "Run and administer the HMSI hub that merges the WIR-Vielfaltszentren's data.",
        discussion: """
            The hub keeps the merged data of all 33 centres in one SQLite file, or in \
            PostgreSQL (`--store postgres://USER@HOST:PORT/DB`). Centres push \
            their captured changes to it and pull what changed in their scope. It merges \
            column by column (last writer wins), refuses what a centre may not write, and \
            records every value that lost a concurrent write.

            Start with `wirsync-hub init --db hub.db`, give each centre a token with \
            `wirsync-hub centre add ID --db hub.db`, then `wirsync-hub serve --db hub.db`.
            Every option can also come from the environment: --store from WIRSYNC_HUB_STORE, --db \
            from WIRSYNC_HUB_DB, and so on.
            """,
        subcommands: [Init.self, Upgrade.self, Store.self, Centre.self, Replica.self, Admin.self, Serve.self, Conflicts.self, Status.self, Erase.self, Audit.self, RetentionCommand.self, Backup.self, Restore.self]
    )
}

/// Prints `error` to standard error as the hub's own words; the caller exits non-zero.
func fail(_ error: any Error) -> ExitCode { CLI.fail("wirsync-hub", String(describing: error)) }

func printJSON(_ value: some Encodable) throws { try CLI.printJSON(value) }

/// Who does what an operator command does, for the audit: `--by`, else the login.
func operatorName(_ by: String?) -> String { by ?? ProcessInfo.processInfo.environment["USER"] ?? "hmsi" }

/// A moment as operators read it, in UTC.
func timestamp(_ millis: Int64?) -> String { millis.map { CLI.time($0) } ?? "never" }

/// The hub store option: `--store` (a file, `sqlite:FILE`, or `postgres://USER@HOST:PORT/DB`),
/// or `--db FILE`; else `WIRSYNC_HUB_STORE`, else `WIRSYNC_HUB_DB`. A PostgreSQL password never
/// comes from a flag: PGPASSWORD, WIRSYNC_HUB_PG_PASSWORD_FILE, or ~/.pgpass (docs/postgres.md).
struct StoreOption: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help: ArgumentHelp(
            "The hub store: a SQLite file, sqlite:FILE, or postgres://USER@HOST:PORT/DB?sslmode=MODE (or WIRSYNC_HUB_STORE).",
            valueName: "store"))
    var store: String?

    @Option(name: .customLong("db"), help: ArgumentHelp("The hub's SQLite file, as --store FILE (or WIRSYNC_HUB_DB).", valueName: "file"))
    var flag: String?

    private var text: String {
        let environment = ProcessInfo.processInfo.environment
        return store ?? flag ?? environment["WIRSYNC_HUB_STORE"] ?? environment["WIRSYNC_HUB_DB"] ?? ""
    }

    /// Where the store is.
    var location: StoreLocation {
        get throws {
            do {
                return try StoreLocation(parsing: text)
            } catch {
                throw fail(error)
            }
        }
    }

    /// The SQLite file, for the commands only a SQLite store has (backup, restore, upgrade in place).
    var path: String {
        get throws {
            switch try location {
            case .sqlite(let path): return path
            case .postgres:
                throw CLI.fail(
                    "wirsync-hub",
                    "this command works on a SQLite store; a PostgreSQL store is backed up with pg_dump and restored with "
                        + "pg_restore (README, \"The hub on PostgreSQL\")")
            }
        }
    }

    func validate() throws {
        guard !text.isEmpty else { throw ValidationError("give the hub store with --store STORE (or --db FILE), or WIRSYNC_HUB_STORE") }
        _ = try location
    }

    func open() async throws -> HubStore {
        do {
            switch try location {
            case .sqlite(let path):
                return try HubStore.open(path: path, schema: WIRSchema.definition())
            case .postgres(let location):
                return try await PostgresHubStore.open(location: location, password: try location.password(), schema: WIRSchema.definition())
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}
