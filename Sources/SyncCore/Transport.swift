public import Foundation

/// The centre's connection to the hub. `CurlTransport` speaks HTTP with libcurl; tests have
/// an in-memory one that calls a hub store directly.
///
/// `origin` names the replica (protocol 2, the `WIRSync-Replica` header); nil speaks
/// protocol 1, as wirsync 1 did. A push is protocol 2 when its request says where it starts
/// (`after`); it then names the replica by `replicaID`.
public protocol HubTransport: Sendable {
    func session(_ request: SessionRequest, origin: String) async throws(TransportError) -> SessionResponse
    func push(_ request: PushRequest) async throws(TransportError) -> PushResponse
    /// The body a push of a request sends, from its JSON (`request.json()`). Made before
    /// the push, so that the work (compressing) runs while the previous push is at the hub.
    func body(json: Data) -> PushBody
    /// The same push, with its body made beforehand by `body(json:)`.
    func push(_ request: PushRequest, body: PushBody) async throws(TransportError) -> PushResponse
    /// - Parameter delta: the replica holds every version at or below `cursor` (it pulled the
    ///   log to its end once since its cursor was last 0): the hub may send each row as its
    ///   versions above the cursor, instead of whole.
    func pull(after cursor: Int64, limit: Int, origin: String?, delta: Bool) async throws(TransportError) -> PullResponse
    func receipts(after seq: Int64, limit: Int, origin: String) async throws(TransportError) -> ReceiptsResponse
    func reoffer(_ request: ReofferRequest, origin: String) async throws(TransportError) -> ReofferResponse
    func rebuild(_ request: RebuildRequest, origin: String) async throws(TransportError) -> RebuildResponse
    func digest() async throws(TransportError) -> DigestResponse
    /// Asks the hub to erase one of the centre's rows (`POST /v1/erase`).
    func erase(_ request: EraseRequest, origin: String) async throws(TransportError) -> Erasure
}

extension HubTransport {
    public func body(json: Data) -> PushBody { PushBody(bytes: json) }

    /// A pull of whole rows, which every replica can take.
    public func pull(after cursor: Int64, limit: Int, origin: String?) async throws(TransportError) -> PullResponse {
        try await pull(after: cursor, limit: limit, origin: origin, delta: false)
    }

    public func push(_ request: PushRequest, body: PushBody) async throws(TransportError) -> PushResponse {
        try await push(request)
    }
}

/// A push's body as a transport sends it: the JSON, or its compressed bytes.
public struct PushBody: Sendable {
    public var bytes: Data
    /// Its `Content-Encoding`; nil when `bytes` is the JSON itself.
    public var contentEncoding: String?

    public init(bytes: Data, contentEncoding: String? = nil) {
        self.bytes = bytes
        self.contentEncoding = contentEncoding
    }
}

/// Why a request to the hub failed, worded for an operator.
public enum TransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No connection: the hub is down, the line is down, or the name does not resolve.
    case unreachable(reason: String, curlCode: Int)
    /// The connection stalled or took too long (connect timeout, low-speed abort, overall timeout).
    case timeout(reason: String, curlCode: Int)
    /// The connection broke mid-request or mid-response.
    case interrupted(reason: String, curlCode: Int)
    /// The hub's certificate could not be verified.
    case tls(reason: String, curlCode: Int)
    /// Any other libcurl failure.
    case curl(reason: String, curlCode: Int)
    /// The hub answered with an error: its status, code and message.
    case hub(status: Int, code: String, message: String)
    /// The hub's answer could not be read.
    case malformedResponse(String)

    /// Whether trying again later can help (the line, not the request, was the problem). An
    /// unreadable answer counts: on a bad line it is most often one cut short.
    public var isTransient: Bool {
        switch self {
        case .unreachable, .timeout, .interrupted, .malformedResponse: true
        case .hub(let status, _, _): status >= 500 || status == 429
        case .tls, .curl: false
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let reason, let code): "hub unreachable: \(reason) (curl \(code))"
        case .timeout(let reason, let code): "hub too slow or line stalled: \(reason) (curl \(code))"
        case .interrupted(let reason, let code): "connection to the hub broke: \(reason) (curl \(code))"
        case .tls(let reason, let code): "cannot verify the hub's certificate: \(reason) (curl \(code))"
        case .curl(let reason, let code): "request to the hub failed: \(reason) (curl \(code))"
        case .hub(let status, _, let message): "the hub refused (\(status)): \(message)"
        case .malformedResponse(let reason): "unreadable answer from the hub: \(reason)"
        }
    }
}
