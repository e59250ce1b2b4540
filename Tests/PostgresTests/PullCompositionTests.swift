import Foundation
import HubStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("PostgreSQL store: a pull composes what SQLite's does", .timeLimit(.minutes(3)))
struct PullCompositionTests {
    /// The same writes on a SQLite and a PostgreSQL hub: inserts, later updates by HMSI and by
    /// the centre, deletes, over more rows than one read-ahead window (docs/postgres.md, "The
    /// set-based pull"). Every pull page, HMSI's and the centre's (which leaves out its own
    /// versions and sends inserts whole), must carry the same changes, value for value and
    /// version for version; only the log's numbers differ. Seen to fail with the read-ahead
    /// taking every row for a plain insert (a row updated since travelled as its insert, with
    /// the update's values under the insert's version).
    @Test func everyPullPageOnPostgreSQLCarriesWhatSQLiteSends() async throws {
        let base = SystemClock().nowMillis() - 3_600_000
        var pages: [StoreKind: [String]] = [:]
        for kind in [StoreKind.sqlite, .postgres] {
            let directory = try TemporaryDirectory()
            let store = try await TestHubs.create(kind, in: directory)
            let centre = "landkreis-kassel"
            let kassel = try #require(try await store.authenticate(token: try await store.addClient(centre)))
            let hmsi = try #require(try await store.authenticate(token: try await store.addClient(Node.hmsi)))
            var seqs: [String: Int64] = [:]
            func push(_ caller: Caller, _ changes: [(Change.Op, String, [String: Value], Int64)]) async throws {
                let node = caller.centre
                let batch = changes.map { op, pk, values, millis in
                    seqs[node, default: 0] += 1
                    return Change(
                        seq: seqs[node]!, table: "organisations", pk: pk, op: op, centre: centre, values: values, hlc: HLC(millis: base + millis),
                        origin: node, seen: 0)
                }
                let outcome = try await store.push(
                    caller: caller, origin: nil, request: PushRequest(replicaID: "r-\(node)", lastSeq: seqs[node]!, changes: batch),
                    skewBoundMillis: 60_000)
                #expect(outcome.response.refused.isEmpty)
            }
            let pks = (0..<150).map { String(format: "org-%03d", $0) }
            try await push(kassel, pks.enumerated().map { index, pk in
                let row: [String: Value] = [
                    "centre_id": .text(centre), "name": .text("Verein \(index)"), "kind": .text("Verein"), "city": .text("Kassel"),
                    "contact_email": .null, "founded_year": .integer(Int64(1950 + index)), "logo": index % 11 == 0 ? .blob(Data([0, 1, 2, UInt8(index)])) : .null,
                ]
                return (.insert, pk, row, Int64(index))
            })
            try await push(hmsi, pks.enumerated().filter { $0.offset % 3 == 0 }.map { (.update, $0.element, ["name": .text("Umbenannt \($0.offset)")], 1_000) })
            try await push(kassel, pks.enumerated().filter { $0.offset % 7 == 0 }.map { (.update, $0.element, ["city": .text("Baunatal")], 2_000) })
            try await push(kassel, pks.enumerated().filter { $0.offset % 10 == 5 }.map { (.delete, $0.element, [:], 3_000) })

            var lines: [String] = []
            for caller in [hmsi, kassel] {
                var cursor: Int64 = 0
                while true {
                    let page = try await store.pull(caller: caller, origin: nil, after: cursor, limit: 100)
                    // The fixtures' rows carry the time each store was made; the writes above are compared.
                    for entry in page.changes where entry.change.table == "organisations" {
                        let change = entry.change
                        lines.append("\(caller.centre) \(change.table) \(change.pk) \(change.op) \(change.hlc.rawValue) \(change.origin) \(entry.valuesJSON)")
                    }
                    cursor = page.nextCursor
                    if !page.more { break }
                }
            }
            pages[kind] = lines
            try store.close()
        }
        let (sqlite, postgres) = (pages[.sqlite]!, pages[.postgres]!)
        #expect(sqlite.count > 150, "every row, and the updates of some")
        #expect(postgres.count == sqlite.count)
        for (index, (expected, got)) in zip(sqlite, postgres).enumerated() where expected != got {
            Issue.record("change \(index) of the pulls: SQLite sent \(expected), PostgreSQL \(got)")
            break
        }
    }
}
