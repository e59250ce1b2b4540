public import HubStore
public import SyncCore

/// A transport that calls a hub store directly: for unit tests of the sync session and the
/// daemon, never for end-to-end tests (those use libcurl against a real server).
public final class InMemoryTransport: HubTransport {
    public let store: HubStore
    public let node: String
    /// Fails every request with this error while set, to simulate a line that is down.
    public let failure = LockedValue<TransportError?>(nil)
    public let requests = LockedValue(0)

    public init(store: HubStore, node: String) {
        self.store = store
        self.node = node
    }

    private func begin() throws(TransportError) {
        requests.update { $0 += 1 }
        if let error = failure.value { throw error }
    }

    private func hub<T>(_ body: () async throws(HubError) -> T) async throws(TransportError) -> T {
        do {
            return try await body()
        } catch {
            throw .hub(status: 400, code: error.code, message: error.description)
        }
    }

    public func push(_ request: PushRequest) async throws(TransportError) -> PushResponse {
        try begin()
        return try await hub { () async throws(HubError) in
            try await store.push(node: node, request: request, skewBoundMillis: 300_000).response
        }
    }

    public func pull(after cursor: Int64, limit: Int) async throws(TransportError) -> PullResponse {
        try begin()
        let page = try await hub { () async throws(HubError) in try await store.pull(node: node, after: cursor, limit: limit) }
        do {
            return try page.decoded()
        } catch {
            throw .malformedResponse("\(error)")
        }
    }

    public func digest() async throws(TransportError) -> DigestResponse {
        try begin()
        return try await hub { () async throws(HubError) in try await store.digest(node: node) }
    }
}
