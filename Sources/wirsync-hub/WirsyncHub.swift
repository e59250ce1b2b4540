import ArgumentParser
import CLISupport
import Foundation
import HubStore
import SyncCore
import WIRSchema

@main
struct WirsyncHub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirsync-hub",
        abstract: "Run and administer the HMSI hub that merges the WIR-Vielfaltszentren's data.",
        discussion: """
            The hub keeps the merged data of all 33 centres in one SQLite file. Centres push \
            their captured changes to it and pull what changed in their scope. It merges \
            column by column (last writer wins), refuses what a centre may not write, and \
            records every value that lost a concurrent write.

            Start with `wirsync-hub init --db hub.db`, give each centre a token with \
            `wirsync-hub centre add ID --db hub.db`, then `wirsync-hub serve --db hub.db`.
            Every option can also come from the environment: --db from WIRSYNC_HUB_DB, and so on.
            """,
        subcommands: [Init.self, Upgrade.self, Centre.self, Replica.self, Admin.self, Serve.self, Conflicts.self, Status.self, Erase.self, Audit.self, RetentionCommand.self, Backup.self, Restore.self]
    )
}

/// Prints `error` to standard error as the hub's own words; the caller exits non-zero.
func fail(_ error: any Error) -> ExitCode { CLI.fail("wirsync-hub", String(describing: error)) }

func printJSON(_ value: some Encodable) throws { try CLI.printJSON(value) }

/// Who does what an operator command does, for the audit: `--by`, else the login.
func operatorName(_ by: String?) -> String { by ?? ProcessInfo.processInfo.environment["USER"] ?? "hmsi" }

/// A moment as operators read it, in UTC.
func timestamp(_ millis: Int64?) -> String { millis.map { CLI.time($0) } ?? "never" }

/// The hub store option: `--db`, else `WIRSYNC_HUB_DB`.
struct StoreOption: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp("The hub's SQLite file (or WIRSYNC_HUB_DB).", valueName: "file"))
    var flag: String?

    var path: String { flag ?? ProcessInfo.processInfo.environment["WIRSYNC_HUB_DB"] ?? "" }

    func validate() throws {
        guard !path.isEmpty else { throw ValidationError("give the hub store with --db FILE or WIRSYNC_HUB_DB") }
    }

    func open() throws -> HubStore {
        do {
            return try HubStore.open(path: path, schema: WIRSchema.definition())
        } catch {
            throw fail(error)
        }
    }
}
