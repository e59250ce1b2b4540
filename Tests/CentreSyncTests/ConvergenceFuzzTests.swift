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
@Suite("Invariants 2 and 4 — convergence fuzz", .timeLimit(.minutes(30)))
struct ConvergenceFuzzTests {
    static let centres = ["landkreis-kassel", "fulda", "wetteraukreis", "offenbach-am-main", "vogelsbergkreis"]

    @Test(arguments: chaosSeeds(short: 3, long: 200, stride: 7717))
    func fiveCentresAndHMSIConvergeAndEveryConcurrentLoserIsRecorded(seed: UInt64) async throws {
        let fixture = try await Fixture()
        let recorder = PushRecorder()
        var random = SplitMix64(seed: seed)
        let nodes = Self.centres + [Node.hmsi]
        var ops = 0
        for (index, centre) in Self.centres.enumerated() {
            let data = SampleData(centre: centre, seed: seed &+ UInt64(index), scale: 20)
            ops += try write(data.rows().map { insertSQL($0.table, $0.pk, $0.values) }, to: fixture.replica(centre), using: &random)
        }
        var deleted: [String: [(table: String, pk: String)]] = [:]
        for round in 0..<(isLongChaosRun ? 14 : 8) {
            for centre in Self.centres {
                let statements = try randomWork(centre: centre, replica: fixture.replica(centre), round: round, seed: seed, deleted: &deleted, using: &random)
                ops += try write(statements, to: fixture.replica(centre), using: &random)
            }
            let hmsiWork = try randomWork(centre: nil, replica: fixture.replica(Node.hmsi), round: round, seed: seed, deleted: &deleted, using: &random)
            ops += try write(hmsiWork, to: fixture.replica(Node.hmsi), using: &random)
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
            let same = try snapshot(replica.path, versions: false, centre: scope) == snapshot(fixture.store.path, versions: false, centre: scope)
            let digest = try await fixture.store.digest(node: node).tables == replica.digest()
            #expect(same && digest, "seed \(seed): \(node) differs from the hub")
            if !(same && digest) { converged = 0 }
        }
        let duplicated = try duplicateApplications(hub: fixture.store.path)
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

    // MARK: Work

    private func insertSQL(_ table: String, _ pk: String, _ values: [String: Value]) -> String {
        let columns = ["id"] + values.keys.sorted()
        let literals = [Value.text(pk)] + values.keys.sorted().map { values[$0]! }
        return "INSERT OR REPLACE INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(literals.map(\.description).joined(separator: ", ")));"
    }

    /// Runs the statements in one transaction through an ordinary connection, the sqlite3
    /// shell or Python, chosen at random; returns how many operations they were.
    private func write(_ statements: [String], to replica: Replica, using random: inout SplitMix64) throws -> Int {
        guard !statements.isEmpty else { return 0 }
        let script = "BEGIN;\n" + statements.joined(separator: "\n") + "\nCOMMIT;"
        switch Int.random(in: 0..<3, using: &random) {
        case 0: try openWriter(replica.path).writeWithoutTransaction { try $0.execute(sql: script) }
        case 1: try sqlite3(replica.path, script)
        default: try pythonSQLite(replica.path, script)
        }
        return statements.count
    }

    /// A round of a node's work on rows it can write: a centre its own, HMSI every centre's.
    private func randomWork(
        centre: String?, replica: Replica, round: Int, seed: UInt64, deleted: inout [String: [(table: String, pk: String)]],
        using random: inout SplitMix64
    ) throws -> [String] {
        let tables = ["projects", "organisations", "volunteers"]
        var statements: [String] = []
        for _ in 0..<(isLongChaosRun ? Int.random(in: 12...40, using: &random) : Int.random(in: 4...14, using: &random)) {
            let table = tables.randomElement(using: &random)!
            let ids = try DatabaseQueue(path: replica.path).read { db in
                try Row.fetchAll(db, sql: "SELECT id, centre_id FROM \(table) ORDER BY id").map { ($0["id"] as String, $0["centre_id"] as String) }
            }.filter { centre == nil || $0.1 == centre }
            let owner = centre ?? ids.randomElement(using: &random)?.1
            switch Int.random(in: 0..<10, using: &random) {
            case 0 where centre != nil:
                let data = SampleData(centre: centre!, seed: seed &* 31 &+ UInt64(round), scale: 200)
                let index = Int.random(in: 0..<data.count(of: table), using: &random)
                let row = data.row(table: table, index: index)
                statements.append(insertSQL(table, "\(row.pk)-\(round)", row.values.filter { $0.key != "organisation_id" }))
            case 1:
                guard let (id, owner) = ids.randomElement(using: &random) else { continue }
                statements.append("DELETE FROM \(table) WHERE id = '\(id)';")
                deleted[owner, default: []].append((table, id))
            case 2:
                guard let owner, let (table, id) = deleted[owner]?.randomElement(using: &random),
                    try DatabaseQueue(path: replica.path).read({ try !Bool.fetchOne($0, sql: "SELECT EXISTS (SELECT 1 FROM \(table) WHERE id = ?)", arguments: [id])! })
                else { continue }
                let row = SampleData(centre: owner, seed: seed, scale: 200).row(table: table, index: Int.random(in: 0..<5, using: &random))
                statements.append(insertSQL(table, id, row.values.filter { $0.key != "organisation_id" }))
            default:
                guard let (id, _) = ids.randomElement(using: &random) else { continue }
                let assignments = Self.editable[table]!.shuffled(using: &random).prefix(Int.random(in: 1...2, using: &random))
                    .map { "\($0.0) = \($0.1(&random).description)" }
                statements.append("UPDATE \(table) SET \(assignments.joined(separator: ", ")) WHERE id = '\(id)';")
            }
        }
        return statements
    }

    typealias Generator = @Sendable (inout SplitMix64) -> Value
    static let editable: [String: [(String, Generator)]] = [
        "projects": [
            ("title", { .text(["Sprachcafé", "Lotsenpool", "Elterntreff", "Theater der Vielfalt"].randomElement(using: &$0)! + " \(Int.random(in: 1...99, using: &$0))") }),
            ("status", { .text(["geplant", "beantragt", "bewilligt", "laufend"].randomElement(using: &$0)!) }),
            ("participants", { .integer(Int64.random(in: 1...500, using: &$0)) }),
            ("approved_cents", { Bool.random(using: &$0) ? .integer(Int64.random(in: 0...10_000_000, using: &$0)) : .null }),
        ],
        "organisations": [
            ("name", { .text(["Kulturbrücke", "Café Ümit", "Привіт e.V.", "مرحبا"].randomElement(using: &$0)! + " \(Int.random(in: 1...9, using: &$0))") }),
            ("city", { Bool.random(using: &$0) ? .text("Gießen") : .null }),
            ("founded_year", { .integer(Int64.random(in: 1950...2025, using: &$0)) }),
        ],
        "volunteers": [
            ("languages", { .text(["de,ar", "de,uk,ru", "de,tr", "de,fa,ps"].randomElement(using: &$0)!) }),
            ("active", { .integer(Int64.random(in: 0...1, using: &$0)) }),
            ("phone", { .text("+49 151 \(Int.random(in: 1_000_000...9_999_999, using: &$0))") }),
        ],
    ]
}

/// Every push the hub received, in the order it received them.
final class PushRecorder: Sendable {
    struct Push: Sendable {
        var node: String
        var request: PushRequest
    }

    private let log = LockedValue<[Push]>([])
    var pushes: [Push] { log.value }

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

        func pull(after cursor: Int64, limit: Int, origin: String?) async throws(TransportError) -> PullResponse {
            try spend()
            return try await inner.pull(after: cursor, limit: limit, origin: origin)
        }

        func receipts(after seq: Int64, limit: Int, origin: String) async throws(TransportError) -> ReceiptsResponse {
            try spend()
            return try await inner.receipts(after: seq, limit: limit, origin: origin)
        }

        func reoffer(_ request: ReofferRequest, origin: String) async throws(TransportError) -> ReofferResponse {
            try spend()
            return try await inner.reoffer(request, origin: origin)
        }

        func rebuild(_ request: RebuildRequest, origin: String) async throws(TransportError) -> RebuildResponse {
            try spend()
            return try await inner.rebuild(request, origin: origin)
        }

        func digest() async throws(TransportError) -> DigestResponse { try await inner.digest() }
    }
}
