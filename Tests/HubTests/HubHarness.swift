import CompressNIO
import Foundation
import HTTPTypes
import HubServer
import HubStore
import Hummingbird
import HummingbirdTesting
import Logging
import ReplicaStore
import SyncCore
import SyncTestSupport
import WIRSchema

let kassel = "landkreis-kassel"
let fulda = "fulda"

/// A hub on a temporary store, tokens for two centres and HMSI, and a replica for each.
final class HubHarness: Sendable {
    let directory: TemporaryDirectory
    let store: HubStore
    let clock: TestClock
    let metrics = HubMetrics()
    let tokens: [String: String]
    let replicas: [String: Replica]
    let configuration: HubServerConfiguration

    init(
        store kind: StoreKind = .sqlite, configuration: HubServerConfiguration = HubServerConfiguration(maxBodyBytes: 256 << 10, maxInflatedBytes: 1 << 20)
    ) async throws {
        directory = try TemporaryDirectory("wirsync-hub")
        clock = TestClock(millis: SystemClock().nowMillis())
        self.configuration = configuration
        store = try await TestHubs.create(kind, in: directory, clock: clock)
        var tokens: [String: String] = [:]
        var replicas: [String: Replica] = [:]
        for node in [kassel, fulda, Node.hmsi] {
            tokens[node] = try await store.addClient(node)
            replicas[node] = try makeReplica(node, in: directory)
        }
        self.tokens = tokens
        self.replicas = replicas
    }

    var api: HubAPI { HubAPI(store: store, configuration: configuration, clock: clock, metrics: metrics) }

    func application() throws -> some ApplicationProtocol {
        var logger = Logger(label: "wirsync-hub-test")
        logger.logLevel = .error
        return try api.application(logger: logger)
    }

    func replica(_ node: String) -> Replica { replicas[node]! }
    func token(_ node: String) -> String { tokens[node]! }
    var hubPath: String { store.path }

    /// A replica's rows in its scope, and the hub's rows in that scope: equal when converged.
    func scoped(_ node: String) async throws -> (replica: Snapshot, hub: Snapshot) {
        let centre = node == Node.hmsi ? nil : node
        return (
            try snapshot(replica(node).path, versions: false, centre: centre),
            try await snapshot(store: store, versions: false, centre: centre)
        )
    }

    /// The hub's domain rows, conflict records and log length: what bad input must not change.
    func hubState() async throws -> Snapshot {
        var state = try await snapshot(store: store)
        state.tables["sync_conflicts"] = [[.integer(Int64(try await count(store: store, "sync_conflicts")))]]
        state.tables["sync_hub_log"] = [[.integer(Int64(try await count(store: store, "sync_hub_log")))]]
        return state
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case unexpected(HTTPResponse.Status, String)
    var description: String {
        switch self {
        case .unexpected(let status, let body): "unexpected \(status): \(body)"
        }
    }
}

extension TestResponse {
    /// The body, inflated if the hub compressed it.
    var text: String {
        var body = self.body
        if headers[.contentEncoding] == "gzip", let inflated = try? body.decompress(with: .gzip()) {
            return String(buffer: inflated)
        }
        return String(buffer: body)
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard status == .ok else { throw HarnessError.unexpected(status, text) }
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    var error: ErrorBody? { try? JSONDecoder().decode(ErrorBody.self, from: Data(text.utf8)) }
}

extension TestClientProtocol {
    func push(
        body: ByteBuffer, token: String?, schema: String? = "wir/2", headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        headers[.contentType] = "application/json"
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let schema { headers[HTTPField.Name(Wire.schemaHeader)!] = schema }
        return try await execute(uri: "/v1/push", method: .post, headers: headers, body: body)
    }

    /// A push; protocol 2 (naming the replica in `WIRSync-Replica`) when the request says where it starts.
    func push(_ request: PushRequest, token: String?, gzip: Bool = false) async throws -> TestResponse {
        var body = ByteBuffer(bytes: try JSONEncoder().encode(request))
        var headers: HTTPFields = [:]
        if request.after != nil { headers[HTTPField.Name(Wire.replicaHeader)!] = request.replicaID }
        if gzip {
            body = try body.compress(with: .gzip())
            headers[.contentEncoding] = "gzip"
        }
        return try await push(body: body, token: token, headers: headers)
    }

    /// A pull; protocol 2 with an `origin`, protocol 1 (as wirsync 1 pulls) without.
    func pull(
        after: Int64, limit: Int? = nil, token: String?, origin: String? = nil, schema: String? = "wir/2", gzip: Bool = true
    ) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let schema { headers[HTTPField.Name(Wire.schemaHeader)!] = schema }
        if let origin { headers[HTTPField.Name(Wire.replicaHeader)!] = origin }
        if gzip { headers[.acceptEncoding] = "gzip" }
        let query = "after=\(after)" + (limit.map { "&limit=\($0)" } ?? "")
        return try await execute(uri: "/v1/pull?\(query)", method: .get, headers: headers)
    }

    /// A protocol-2 request with a JSON body, naming the replica `origin`.
    func v2(_ path: String, _ body: Data, origin: String, token: String) async throws -> TestResponse {
        try await execute(
            uri: path, method: .post,
            headers: [
                .authorization: "Bearer \(token)", HTTPField.Name(Wire.schemaHeader)!: "wir/2", HTTPField.Name(Wire.replicaHeader)!: origin,
                .contentType: "application/json",
            ],
            body: ByteBuffer(bytes: body))
    }

    /// The session a sync starts with (protocol 2): registers the replica on its first one.
    @discardableResult
    func session(_ replica: Replica, token: String) async throws -> SessionResponse {
        let state = try replica.sessionState()
        return try await v2("/v1/session", JSONEncoder().encode(state.request), origin: state.origin, token: token).decode(SessionResponse.self)
    }

    /// A session, then everything the replica captured pushed in batches, then pulls until
    /// nothing more is waiting: one sync, as a centre's daemon does it (without its repairs).
    @discardableResult
    func sync(_ replica: Replica, token: String, batch: Int = 50) async throws -> (pushed: [PushResponse], pulled: [PullResponse]) {
        try await session(replica, token: token)
        var pushed: [PushResponse] = []
        while try replica.status().pending > 0 {
            let request = try replica.pushRequest(limit: batch)
            let response = try await push(request, token: token).decode(PushResponse.self)
            guard response.ackedSeq >= request.lastSeq else { throw HarnessError.unexpected(.ok, "acked \(response.ackedSeq) < \(request.lastSeq)") }
            try replica.acknowledge(through: response.ackedSeq)
            pushed.append(response)
        }
        var pulled: [PullResponse] = []
        var cursor = try replica.status().cursor
        let origin = try replica.status().origin
        repeat {
            let response = try await pull(after: cursor, token: token, origin: origin).decode(PullResponse.self)
            try replica.applyRemote(response.changes, cursor: response.nextCursor, check: response.nextCheck)
            cursor = response.nextCursor
            pulled.append(response)
        } while pulled.last!.more
        return (pushed, pulled)
    }
}
