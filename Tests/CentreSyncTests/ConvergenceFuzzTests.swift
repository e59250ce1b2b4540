import CentreSync
import Foundation
import GRDB
import HubStore
import ReplicaStore
import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// Invariants 2 and 4 under random work: five centres and HMSI write at random (inserts,
/// updates of random columns, deletes, re-inserts, concurrent edits of the same rows), through
/// an ordinary connection, the sqlite3 shell and Python, and sync in random orders, partly.
/// At the end everyone syncs twice; every replica must equal the hub, and every value that
/// lost a concurrent race must be in a conflict record, as an independent model of the
/// hub's rule, replayed over every push the hub received, predicts.
@Suite("Invariants 2 and 4 — convergence fuzz", .serialized, .timeLimit(.minutes(30)))
struct ConvergenceFuzzTests {
    static let centres = ["landkreis-kassel", "fulda", "wetteraukreis", "offenbach-am-main", "vogelsbergkreis"]

    @Test(arguments: chaosSeeds(short: 3, long: 200, stride: 7717))
    func fiveCentresAndHMSIConvergeAndEveryConcurrentLoserIsRecorded(seed: UInt64) async throws {
        try await run(seed: seed, compacting: false)
    }

    /// The same on a PostgreSQL hub, whose push reads a batch's versions ahead and writes them
    /// many to a statement (docs/postgres.md, "Why the push is slow").
    @Test(arguments: chaosSeeds(short: 2, long: 50, stride: 4243))
    func onPostgreSQLTooEveryConcurrentLoserIsRecorded(seed: UInt64) async throws {
        try await run(seed: seed, compacting: false, store: .postgres)
    }

    /// The same work while the hub compacts its log after every pull: pulls that send each row
    /// as its versions above the cursor must still bring every replica to the hub's state. (The
    /// model needs every entry the hub logged, so it is not replayed here.)
    @Test(arguments: chaosSeeds(short: 3, long: 100, stride: 111))
    func fiveCentresAndHMSIConvergeWhileTheHubCompacts(seed: UInt64) async throws {
        try await run(seed: seed, compacting: true)
    }

    private func run(seed: UInt64, compacting: Bool, store: StoreKind = .sqlite) async throws {
        let fixture = try await Fixture(store: store, holdHistory: !compacting)
        let recorder = PushRecorder()
        var random = SplitMix64(seed: seed)
        let nodes = Self.centres + [Node.hmsi]
        var ops = 0
        for (index, centre) in Self.centres.enumerated() {
            let data = SampleData(centre: centre, seed: seed &+ UInt64(index), scale: 20)
            ops += try FuzzWork.write(data.rows().map { FuzzWork.insertSQL($0.table, $0.pk, $0.values) }, to: fixture.replica(centre), using: &random)
        }
        var deleted: [String: [(table: String, pk: String)]] = [:]
        for round in 0..<(isLongChaosRun ? 14 : 8) {
            for centre in Self.centres {
                let statements = try FuzzWork.randomWork(centre: centre, replica: fixture.replica(centre), round: round, seed: seed, deleted: &deleted, using: &random)
                ops += try FuzzWork.write(statements, to: fixture.replica(centre), using: &random)
            }
            let hmsiWork = try FuzzWork.randomWork(centre: nil, replica: fixture.replica(Node.hmsi), round: round, seed: seed, deleted: &deleted, using: &random)
            ops += try FuzzWork.write(hmsiWork, to: fixture.replica(Node.hmsi), using: &random)
            for node in nodes.shuffled(using: &random) where Bool.random(using: &random) || round % 3 == 2 {
                // Sometimes the line breaks after a few requests: a partial sync.
                let budget = Int.random(in: 0..<6, using: &random) == 0 ? Int.random(in: 1...3, using: &random) : Int.max
                let transport = recorder.wrap(fixture.transport(node), node: node, requests: budget)
                _ = try? await SyncSession(replica: try fixture.replica(node), transport: transport, limits: SyncLimits(batchChanges: 25, pullLimit: 40)).run()
            }
        }
        for _ in 0..<2 {
            for node in nodes {
                _ = try await SyncSession(replica: try fixture.replica(node), transport: recorder.wrap(fixture.transport(node), node: node)).run()
            }
        }

        var converged = 1
        for node in nodes {
            let scope = node == Node.hmsi ? nil : node
            let replica = try fixture.replica(node)
            let same = try await snapshot(replica.path, versions: false, centre: scope) == snapshot(store: fixture.store, versions: false, centre: scope)
            let digest = try await fixture.store.digest(node: node).tables == replica.digest()
            #expect(same && digest, "seed \(seed): \(node) differs from the hub")
            if !(same && digest) { converged = 0 }
        }
        if compacting {
            reportChaos("convergence-compacting", ["seed": Int(truncatingIfNeeded: seed), "ops": ops, "converged": converged])
            return
        }
        let duplicated = try await duplicateApplications(store: fixture.store)
        #expect(duplicated == 0, "seed \(seed): changes applied twice")
        let check = try await HubModel(store: fixture.store).replay(recorder.pushes)
        #expect(check.missingConflicts.isEmpty, "seed \(seed): lost without a conflict record: \(check.missingConflicts.prefix(5))")
        #expect(check.unexpectedConflicts.isEmpty, "seed \(seed): conflict records the model does not predict: \(check.unexpectedConflicts.prefix(5))")
        #expect(check.wrongCells.isEmpty, "seed \(seed): cells whose final value differs from the model: \(check.wrongCells.prefix(5))")
        reportChaos("convergence", [
            "seed": Int(truncatingIfNeeded: seed), "ops": ops, "converged": converged, "lost": check.missingConflicts.count + check.wrongCells.count,
            "duplicated": duplicated, "conflicts": check.expected, "unexpected": check.unexpectedConflicts.count,
        ])
    }
}

/// Every push the hub received, in the order it received them.
final class PushRecorder: Sendable {
    struct Push: Sendable {
        var node: String
        var request: PushRequest
    }

    private let log = LockedValue<[Push]>([])
    private let offeredLog = LockedValue<[Change]>([])
    var pushes: [Push] { log.value }
    /// Every change offered again to a restored hub.
    var offered: [Change] { offeredLog.value }

    func wrap(_ inner: any HubTransport, node: String, requests: Int = .max) -> any HubTransport {
        Recording(inner: inner, node: node, recorder: self, budget: LockedValue(requests))
    }

    private struct Recording: HubTransport {
        let inner: any HubTransport
        let node: String
        let recorder: PushRecorder
        let budget: LockedValue<Int>

        func spend() throws(TransportError) {
            var allowed = false
            budget.update { if $0 > 0 { $0 -= 1; allowed = true } }
            guard allowed else { throw .interrupted(reason: "the line broke (test)", curlCode: 56) }
        }

        func push(_ request: PushRequest) async throws(TransportError) -> PushResponse {
            try spend()
            let response = try await inner.push(request)
            recorder.log.update { $0.append(Push(node: node, request: request)) }
            return response
        }

        func session(_ request: SessionRequest, origin: String) async throws(TransportError) -> SessionResponse {
            try spend()
            return try await inner.session(request, origin: origin)
        }

        func pull(after cursor: Int64, limit: Int, origin: String?, delta: Bool) async throws(TransportError) -> PullResponse {
            try spend()
            return try await inner.pull(after: cursor, limit: limit, origin: origin, delta: delta)
        }

        func receipts(after seq: Int64, limit: Int, origin: String) async throws(TransportError) -> ReceiptsResponse {
            try spend()
            return try await inner.receipts(after: seq, limit: limit, origin: origin)
        }

        func reoffer(_ request: ReofferRequest, origin: String) async throws(TransportError) -> ReofferResponse {
            try spend()
            let response = try await inner.reoffer(request, origin: origin)
            recorder.offeredLog.update { $0 += request.changes }
            return response
        }

        func rebuild(_ request: RebuildRequest, origin: String) async throws(TransportError) -> RebuildResponse {
            try spend()
            return try await inner.rebuild(request, origin: origin)
        }

        func digest() async throws(TransportError) -> DigestResponse { try await inner.digest() }

        func erase(_ request: EraseRequest, origin: String) async throws(TransportError) -> Erasure { try await inner.erase(request, origin: origin) }
    }
}
