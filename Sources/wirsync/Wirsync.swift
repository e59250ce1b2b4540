import ArgumentParser
import CLISupport
import Foundation
import ReplicaStore
import SyncCore
import WIRSchema

@main
struct Wirsync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirsync",
        abstract: "Keep a WIR-Vielfaltszentrum's local SQLite replica in sync with the HMSI hub.",
        discussion: """
            A centre's data lives in one SQLite file (the replica). Any tool may write it: \
            this program, the sqlite3 shell, a script, LibreOffice Base. Every write is \
            captured by SQL triggers into the replica's change log, ready to be sent to the hub.

            Start with `wirsync init --db centre.db --centre landkreis-kassel --hub https://…`,             put the centre's token into centre.db.token (chmod 600), then `wirsync sync --db centre.db`             or run `wirsync daemon --db centre.db` under systemd.
            """,
        subcommands: [Init.self, Upgrade.self, Sync.self, Repair.self, Status.self, Conflicts.self, Erase.self, Daemon.self, Verify.self, Backup.self, Restore.self, Sample.self]
    )
}

/// Prints `error` to standard error as wirsync's own words and exits non-zero.
func fail(_ error: any Error) -> ExitCode { CLI.fail("wirsync", String(describing: error)) }

func printJSON(_ value: some Encodable) throws { try CLI.printJSON(value) }

struct ReplicaOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The replica's SQLite file.", valueName: "file"))
    var db: String

    /// Opens the replica and runs `body` on it; any failure (a missing file, not a replica,
    /// an SQLite error) ends the command with its message.
    func read<T>(_ body: (Replica) throws -> T) throws -> T {
        do {
            return try body(try Replica.open(path: db))
        } catch {
            throw fail(error)
        }
    }

    func open() throws -> Replica { try read { $0 } }
}
