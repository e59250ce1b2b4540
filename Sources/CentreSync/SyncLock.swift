import SyncStore

/// Makes sure only one sync of a replica runs at a time, across processes (the CLI and
/// the daemon): an exclusive `flock` on `<replica>.sync.lock`, which the kernel releases
/// when the process ends, however it ends.
public final class SyncLock: Sendable {
    private let lock: FileLock
    public var path: String { lock.path }

    private init(_ lock: FileLock) { self.lock = lock }

    /// Takes the lock, or fails at once with `.busy` naming the process that holds it.
    public static func acquire(replicaPath: String) throws(SyncError) -> SyncLock {
        try SyncLock(take(replicaPath + ".sync.lock", busy: "another sync of \(replicaPath) is running", then: "wait for it to finish"))
    }

    /// Held by a running daemon for its whole life: a restore of the replica's file waits for it to stop.
    public static func daemon(replicaPath: String) throws(SyncError) -> SyncLock {
        try SyncLock(take(replicaPath + ".daemon.lock", busy: "a daemon of \(replicaPath) is running", then: "stop it first"))
    }

    private static func take(_ path: String, busy: String, then advice: String) throws(SyncError) -> FileLock {
        do {
            return try FileLock.acquire(path)
        } catch {
            switch error {
            case .held(let pid): throw .busy("\(busy) (pid \(pid)); \(advice)")
            case .cannotOpen(let reason): throw .settings("cannot open the lock file \(path): \(reason)")
            }
        }
    }
}
