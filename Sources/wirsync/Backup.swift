import ArgumentParser
import CLISupport
import CentreSync
import Foundation
import ReplicaStore
import SyncCore

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the replica while tools and the daemon go on using it.",
        discussion: """
            The copy is one SQLite file, taken as of one moment (SQLite's VACUUM INTO, on a \
            connection of its own), written beside FILE and renamed over it, readable by its owner \
            only: it holds the centre's personal data. The token is not in it; keep the token file \
            apart. Put a copy back with `wirsync restore`: the next sync then brings back what \
            the hub has that the copy lacks (docs/recovery.md).
            """
    )

    @OptionGroup var replica: ReplicaOption
    @Option(help: ArgumentHelp("Where to write the copy (replaced if it exists).", valueName: "file")) var to: String

    func run() throws {
        let opened = try replica.open()
        let target = URL(fileURLWithPath: to).standardized.path
        guard ![opened.path, opened.path + "-wal", opened.path + "-shm"].contains(where: { URL(fileURLWithPath: $0).standardized.path == target })
        else { throw fail(ReplicaError.sqlite(message: "--to names the replica itself; give another file")) }
        do {
            let status = try opened.status()
            let size = try opened.backup(to: target)
            print("Backed up \(opened.path) to \(target) (\(CLI.bytes(size))): the replica as of \(CLI.time(SystemClock().nowMillis())), "
                + "with its \(status.pending == 1 ? "1 change" : "\(status.pending) changes") not yet pushed.")
            print("It holds personal data: keep it where only HMSI's and the centre's operators can read it.")
        } catch {
            throw fail(error)
        }
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a backup of the replica back in place (stop the daemon first).",
        discussion: """
            Refuses while a daemon or a sync of the replica runs. Removes the replica's WAL and \
            shared-memory files (a WAL left of the newer file must not be applied to the older \
            one), keeps the file it replaces as <db>.before-restore, and copies FILE in. The next \
            sync finds that the replica is an older copy: it keeps what was written in the copy \
            since, takes back from the hub what the copy lacks, and goes on under a new name.
            """
    )

    @OptionGroup var replica: ReplicaOption
    @Option(help: ArgumentHelp("The backup to put back (from `wirsync backup`, or any copy of the replica).", valueName: "file"))
    var from: String

    func run() throws {
        guard FileManager.default.fileExists(atPath: from) else { throw CLI.fail("wirsync", "no backup at \(from): the file does not exist") }
        do {
            let backup = try Replica.describe(path: from)
            // The file replaced may be the damaged one; when it can still be read, it must be the same centre's.
            if let current = try? Replica.describe(path: replica.db) {
                guard current.centre == backup.centre else {
                    throw ReplicaError.belongsToOtherNode(path: from, node: backup.centre, requested: current.centre)
                }
            }
            let locks = try (SyncLock.daemon(replicaPath: replica.db), SyncLock.acquire(replicaPath: replica.db))
            let kept = try Replica.restore(path: replica.db, from: from)
            withExtendedLifetime(locks) {}
            print("Restored \(replica.db) from \(from) (the replica of \(backup.centre) as its copy holds it).")
            if let kept { print("The file it replaced is kept as \(kept).") }
            print("The next `wirsync sync` brings back what the hub has that the copy lacks; then start the daemon again.")
        } catch let error as SyncError {
            throw CLI.fail("wirsync", error.description, code: error.exitCode)
        } catch {
            throw fail(error)
        }
    }
}
