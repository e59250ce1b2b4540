import Synchronization

/// A value shared between tasks behind a lock.
public final class LockedValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    public init(_ value: Value) { storage = Mutex(value) }

    public var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }

    public func update(_ change: (inout Value) -> Void) { storage.withLock { change(&$0) } }
}
