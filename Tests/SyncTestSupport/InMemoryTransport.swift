public import HubStore
public import SyncCore

/// A transport that calls a hub store directly: for unit tests of the sync session and the
/// daemon, never for end-to-end tests (those use libcurl against a real server).
public final class InMemoryTransport: HubTransport {
    public let store: HubStore
    /// The bearer token it presents, as a centre's PC would.
    public let token: String
    /// Fails every request with this error while set, to simulate a line that is down.
    public let failure = LockedValue<TransportError?>(nil)
    public let requests = LockedValue(0)
    /// The `WIRSync-Schema` header it sends, as a replica of that version would; nil: the hub's own.
    public let schemaTag: String?

    public init(store: HubStore, token: String, schemaTag: String? = nil) {
        self.store = store
        self.token = token
        self.schemaTag = schemaTag
    }

    private func hub<T>(_ body: (Caller) async throws(HubError) -> T) async throws(TransportError) -> T {
        requests.update { $0 += 1 }
        if let error = failure.value { throw error }
        do throws(HubError) {
            guard var caller = try await store.authenticate(token: token) else {
                throw HubError.unauthorized("the token is unknown or revoked; ask HMSI for a new one")
            }
            caller.schemaVersion = try schemaTag.map { tag throws(HubError) in try store.servedVersion(of: tag) }
            return try await body(caller)
        } catch {
            throw .hub(status: error.status == 500 ? 400 : error.status, code: error.code, message: error.description)
        }
    }

    public func session(_ request: SessionRequest, origin: String) async throws(TransportError) -> SessionResponse {
        try await hub { caller throws(HubError) in try await store.session(caller: caller, origin: origin, request: request).response }
    }

    public func push(_ request: PushRequest) async throws(TransportError) -> PushResponse {
        try await hub { caller throws(HubError) in
            try await store.push(
                caller: caller, origin: request.after == nil ? nil : request.replicaID, request: request, skewBoundMillis: 300_000
            ).response
        }
    }

    public func pull(after cursor: Int64, limit: Int, origin: String?, delta: Bool) async throws(TransportError) -> PullResponse {
        let page = try await hub { caller throws(HubError) in
            try await store.pull(caller: caller, origin: origin, after: cursor, limit: limit, delta: delta)
        }
        do {
            return try page.decoded()
        } catch {
            throw .malformedResponse("\(error)")
        }
    }

    public func receipts(after seq: Int64, limit: Int, origin: String) async throws(TransportError) -> ReceiptsResponse {
        try await hub { caller throws(HubError) in try await store.receipts(caller: caller, origin: origin, after: seq, limit: limit) }
    }

    public func reoffer(_ request: ReofferRequest, origin: String) async throws(TransportError) -> ReofferResponse {
        try await hub { caller throws(HubError) in try await store.reoffer(caller: caller, origin: origin, request: request, skewBoundMillis: 300_000) }
    }

    public func rebuild(_ request: RebuildRequest, origin: String) async throws(TransportError) -> RebuildResponse {
        try await hub { caller throws(HubError) in try await store.rebuildConflicts(caller: caller, origin: origin, request: request) }
    }

    public func digest() async throws(TransportError) -> DigestResponse {
        try await hub { caller throws(HubError) in try await store.digest(node: caller.centre) }
    }

    public func erase(_ request: EraseRequest, origin: String) async throws(TransportError) -> Erasure {
        try await hub { caller throws(HubError) in
            try await store.erase(table: request.table, pk: request.pk, reason: request.reason, by: "\(caller.centre) (\(origin))", caller: caller)
        }
    }
}
