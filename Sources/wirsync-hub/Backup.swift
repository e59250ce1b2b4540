import ArgumentParser
import CLISupport
import Foundation
import HubStore
import SyncCore
import SyncStore

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the hub store while the hub serves.",
        discussion: """
            The copy is one SQLite file, taken as of one moment (SQLite's VACUUM INTO, on a \
            connection of its own, so pushes go on meanwhile), written beside FILE and renamed over \
            it, readable by its owner only: it holds every centre's data. Put it back with \
            `wirsync-hub restore` (docs/recovery.md).
            """
    )

    @OptionGroup var store: StoreOption
    @Option(help: ArgumentHelp("Where to write the copy (replaced if it exists).", valueName: "file")) var to: String

    func run() async throws {
        let path = try store.path
        guard URL(fileURLWithPath: to).standardized.path != URL(fileURLWithPath: path).standardized.path else {
            throw ValidationError("--to names the hub store itself; give another file")
        }
        do {
            let size = try HubStore.backup(path: path, to: to)
            print("Backed up \(path) to \(to) (\(CLI.bytes(size))): the hub as of \(CLI.time(SystemClock().nowMillis())).")
            print("It holds every centre's data, personal data among it: keep it where only HMSI's operators can read it.")
        } catch {
            throw fail(error)
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a backup of the hub store back in place (stop `wirsync-hub serve` first).",
        discussion: """
            Refuses while the hub serves. Removes the store's WAL and shared-memory files, keeps \
            the store it replaces as <db>.before-restore, copies FILE in, and records the restore. \
            On its next sync every replica finds that the hub lost what came after the backup, \
            and offers it again; `wirsync-hub status` shows which replicas have re-synced since. \
            Tokens issued after the backup are unknown to the restored hub (issue them again), and \
            tokens revoked after it work again (revoke them again).
            """
    )

    @OptionGroup var store: StoreOption
    @Option(help: ArgumentHelp("The backup to put back (from `wirsync-hub backup`, or a copy of the stopped hub's file).", valueName: "file"))
    var from: String

    func run() async throws {
        let path = try store.path
        guard FileManager.default.fileExists(atPath: from) else { throw CLI.fail("wirsync-hub", "no backup at \(from): the file does not exist") }
        do {
            let lock = try serveLock(path)
            let (restored, kept) = try await HubStore.restore(path: path, from: from)
            withExtendedLifetime(lock) {}
            let status = try await restored.status()
            print("Restored \(path) from \(from): \(status.logEntries) log entries, \(status.conflictsTotal) conflict records.")
            if let kept { print("The store it replaced is kept as \(kept).") }
            print("Start the hub again; each replica offers what the restore took away on its next sync (`wirsync-hub status` shows who has).")
        } catch {
            throw fail(error)
        }
    }
}

/// Held by `serve` for its whole life: `restore` refuses to replace the store under a running hub.
func serveLock(_ path: String) throws -> FileLock {
    do {
        return try FileLock.acquire(path + ".serve.lock")
    } catch {
        switch error {
        case .held(let pid): throw CLI.fail("wirsync-hub", "the hub is serving \(path) (pid \(pid)); stop it first")
        case .cannotOpen(let reason): throw CLI.fail("wirsync-hub", "cannot open the lock file \(path).serve.lock: \(reason)")
        }
    }
}
