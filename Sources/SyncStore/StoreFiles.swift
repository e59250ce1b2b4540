import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Consistent copies of a store while it is in use, and putting one back.
package enum StoreFiles {
    /// Writes a consistent copy of the store at `source` to `target` with `VACUUM INTO`, on a
    /// connection of its own, so writers go on meanwhile (WAL); the copy is written beside
    /// the target, synced to disk and renamed over it, readable by its owner only (it holds
    /// personal data). Returns its size in bytes.
    @discardableResult
    package static func backup(_ source: String, to target: String) throws -> Int64 {
        let partial = target + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            let queue = try StoreConnection.open(path: source, readonly: true)
            try queue.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [partial]) }
            try queue.close()
            try syncToDisk(partial)
            chmod(partial, 0o600)
            guard rename(partial, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            try syncToDisk(URL(fileURLWithPath: target).deletingLastPathComponent().path)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        return (try FileManager.default.attributesOfItem(atPath: target)[.size] as? Int64) ?? 0
    }

    /// Puts `backup` in place of the store at `path`, with the store's WAL and shared-memory
    /// files removed first: a stale WAL of the store replaced would otherwise be applied to
    /// the older file. The caller makes sure nothing has the store open.
    package static func restore(_ path: String, from backup: String) throws {
        let partial = path + ".restoring-\(getpid())"
        try? FileManager.default.removeItem(atPath: partial)
        try FileManager.default.copyItem(atPath: backup, toPath: partial)
        try syncToDisk(partial)
        chmod(partial, 0o600)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        guard rename(partial, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        try syncToDisk(URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    private static func syncToDisk(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}
