import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on a file beside a store, held for as long as this object lives,
/// with the holder's pid in the file. The kernel drops it when the process ends, however it
/// ends, so a crashed holder never leaves a stale lock.
package final class FileLock: Sendable {
    private let descriptor: Int32
    package let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    package enum Failure: Error {
        /// Another process holds it; its pid, as it wrote it.
        case held(by: String)
        case cannotOpen(String)
    }

    /// Takes the lock at once, or fails naming the process that holds it.
    package static func acquire(_ path: String) throws(Failure) -> FileLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen(String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            throw .held(by: count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.utf8.count, 0)
        return FileLock(descriptor: descriptor, path: path)
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
