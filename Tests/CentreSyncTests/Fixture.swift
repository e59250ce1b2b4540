import Foundation
import GRDB
import HubStore
import ReplicaStore
import SampleData
import SyncCore
import SyncTestSupport
import WIRSchema

let kassel = "landkreis-kassel"
let fulda = "fulda"

/// A hub store, a token for every centre and HMSI, and replicas with in-memory transports to it.
struct Fixture {
    let directory: TemporaryDirectory
    let store: HubStore
    let tokens: [String: String]

    /// - Parameters:
    ///   - store: the hub's database; the history and erasure suites run on both (`StoreKind.tested`).
    ///   - holdHistory: the hub compacts nothing (`holdHistory(hub:)`), for tests that
    ///   read every entry it ever logged.
    init(store kind: StoreKind = .sqlite, holdHistory hold: Bool = false) async throws {
        directory = try TemporaryDirectory("wirsync-sync")
        store = try await TestHubs.create(kind, in: directory)
        if hold { try await holdHistory(store: store) }
        var tokens: [String: String] = [:]
        for node in WIRSchema.centres.map(\.id) + [Node.hmsi] { tokens[node] = try await store.addClient(node) }
        self.tokens = tokens
    }

    func replica(_ node: String) throws -> Replica {
        if FileManager.default.fileExists(atPath: directory.path("\(node).db")) {
            return try Replica.open(path: directory.path("\(node).db"))
        }
        return try makeReplica(node, in: directory)
    }

    /// A transport with the token of `node` (a centre, or HMSI).
    func transport(_ node: String) -> InMemoryTransport { InMemoryTransport(store: store, token: tokens[node]!) }

    func fill(_ node: String, scale: Int, seed: UInt64) throws {
        let writer = try openWriter(try replica(node).path)
        try writer.write { db in
            for row in SampleData(centre: node, seed: seed, scale: scale).rows() {
                try insert(row.table, pk: row.pk, values: row.values, into: db)
            }
        }
    }
}

/// A test transport around another, changing only how it pushes: pulls and digests go
/// straight through.
protocol PushWrappingTransport: HubTransport {
    var inner: any HubTransport { get }
}

extension PushWrappingTransport {
    func session(_ request: SessionRequest, origin: String) async throws(TransportError) -> SessionResponse {
        try await inner.session(request, origin: origin)
    }

    func pull(after cursor: Int64, limit: Int, origin: String?, delta: Bool) async throws(TransportError) -> PullResponse {
        try await inner.pull(after: cursor, limit: limit, origin: origin, delta: delta)
    }

    func receipts(after seq: Int64, limit: Int, origin: String) async throws(TransportError) -> ReceiptsResponse {
        try await inner.receipts(after: seq, limit: limit, origin: origin)
    }

    func reoffer(_ request: ReofferRequest, origin: String) async throws(TransportError) -> ReofferResponse {
        try await inner.reoffer(request, origin: origin)
    }

    func rebuild(_ request: RebuildRequest, origin: String) async throws(TransportError) -> RebuildResponse {
        try await inner.rebuild(request, origin: origin)
    }

    func digest() async throws(TransportError) -> DigestResponse { try await inner.digest() }

    func erase(_ request: EraseRequest, origin: String) async throws(TransportError) -> Erasure { try await inner.erase(request, origin: origin) }
}

/// A transport that lets `pushes` pushes and `sessions` sessions through, then fails them
/// like a line that went down.
final class FlakyTransport: PushWrappingTransport {
    let inner: any HubTransport
    private let pushes: LockedValue<Int>
    private let sessions: LockedValue<Int>

    init(_ inner: any HubTransport, pushes: Int = .max, sessions: Int = .max) {
        self.inner = inner
        self.pushes = LockedValue(pushes)
        self.sessions = LockedValue(sessions)
    }

    private static func spend(_ budget: LockedValue<Int>) throws(TransportError) {
        var allowed = false
        budget.update { if $0 > 0 { $0 -= 1; allowed = true } }
        guard allowed else { throw .interrupted(reason: "Connection reset by peer", curlCode: 56) }
    }

    func session(_ request: SessionRequest, origin: String) async throws(TransportError) -> SessionResponse {
        try Self.spend(sessions)
        return try await inner.session(request, origin: origin)
    }

    func push(_ request: PushRequest) async throws(TransportError) -> PushResponse {
        try Self.spend(pushes)
        return try await inner.push(request)
    }
}

/// A transport that takes its time over every push and records the pushes and how many
/// were at the hub at once.
final class SlowRecordingTransport: PushWrappingTransport {
    let inner: any HubTransport
    let pushes = LockedValue<[PushRequest]>([])
    let mostInFlight = LockedValue(0)
    private let inFlight = LockedValue(0)

    init(_ inner: any HubTransport) { self.inner = inner }

    func push(_ request: PushRequest) async throws(TransportError) -> PushResponse {
        var now = 0
        inFlight.update { $0 += 1; now = $0 }
        mostInFlight.update { $0 = max($0, now) }
        defer { inFlight.update { $0 -= 1 } }
        pushes.update { $0.append(request) }
        try? await Task.sleep(for: .milliseconds(20))
        return try await inner.push(request)
    }
}
