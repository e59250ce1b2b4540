import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Makes sure only one sync of a replica runs at a time, across processes (the CLI and
/// the daemon): an exclusive `flock` on `<replica>.sync.lock`, which the kernel releases
/// when the process ends, however it ends.
public final class SyncLock: Sendable {
    private let descriptor: Int32
    public let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// Takes the lock, or fails at once with `.busy` naming the process that holds it.
    public static func acquire(replicaPath: String) throws(SyncError) -> SyncLock {
        let path = replicaPath + ".sync.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .settings("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            let holder = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw .busy("another sync of \(replicaPath) is running (pid \(holder)); wait for it to finish")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.utf8.count, 0)
        return SyncLock(descriptor: descriptor, path: path)
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
