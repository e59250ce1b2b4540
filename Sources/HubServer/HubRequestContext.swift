public import Hummingbird
import HubStore
import Logging
import Synchronization

/// The request context of the hub's routes.
public struct HubRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller once its token is known: a refused request of a known centre is recorded
    /// in its activity (docs/console.md).
    let caller = KnownCaller()

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// The centre and replica a request came from, once authenticated.
final class KnownCaller: Sendable {
    private let value = Mutex<(centre: String, origin: String?)?>(nil)

    func set(centre: String, origin: String?) { value.withLock { $0 = (centre, origin) } }
    var known: (centre: String, origin: String?)? { value.withLock { $0 } }
}

extension HubStorage {
    /// Records what a sync request came to, for the console (docs/console.md). The request's
    /// answer does not depend on it: a failure to record is logged, not returned.
    func record(_ entry: ActivityEntry, logger: Logger) async {
        do {
            try await recordActivity(entry)
        } catch {
            logger.warning("activity not recorded", metadata: ["centre": "\(entry.centre)", "route": "\(entry.route)", "error": "\(error)"])
        }
    }
}
