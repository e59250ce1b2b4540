import Foundation
import HubStore
import SampleData
import SyncCore
import SyncStore
import SyncTestSupport
import Testing
import WIRSchema

@Suite("Invariants 2 and 4 — pushes that run at once", .timeLimit(.minutes(5)))
struct ConcurrentPushTests {
    /// Four centres and HMSI, each offline after a first sync, edit the same rows (HMSI any
    /// centre's, each centre its own) and push at once, each in batches. On PostgreSQL the
    /// pushes merge beside each other, each locking the rows it merges, and number their log
    /// entries under the log lock (docs/hub.md, "Several hub processes"); on SQLite they run
    /// one after the other. Either way the hub must end as if they had run one after the other:
    /// every cell holds its newest version, every writer's last value that lost is a conflict
    /// record, each row has one live log entry, and every version's number is an entry of its
    /// row. Seen to fail on PostgreSQL with the row locks taken out.
    @Test(arguments: StoreKind.tested, [UInt64(17), 4243])
    func pushesThatRunAtOnceLoseNoVersionAndRecordEveryLoser(store kind: StoreKind, seed: UInt64) async throws {
        let directory = try TemporaryDirectory()
        let store = try await TestHubs.create(kind, in: directory)
        var random = SplitMix64(seed: seed)
        let centres = WIRSchema.centres.prefix(4).map(\.id)
        var callerOf: [String: Caller] = [:]
        for node in centres + [Node.hmsi] {
            callerOf[node] = try await store.authenticate(token: try await store.addClient(node))
        }
        let callers = callerOf
        let base = SystemClock().nowMillis() - 3_600_000
        let rows = centres.flatMap { centre in (0..<8).map { (centre: centre, pk: "org-\(centre)-\($0)") } }

        // Each centre inserts its rows, and every writer pulls once: what it has seen.
        var writes: [Cell: [Write]] = [:]
        try await withThrowingTaskGroup { group in
            for centre in centres {
                let inserts = rows.filter { $0.centre == centre }.enumerated().map { index, row in
                    change(
                        .insert, "organisations", row.pk, organisationRow(centre, name: "Start \(row.pk)"), seq: Int64(index + 1), origin: centre,
                        centre: centre, hlc: HLC(millis: base))
                }
                group.addTask {
                    _ = try await store.push(
                        caller: callers[centre]!, origin: nil, request: PushRequest(replicaID: "r-\(centre)", lastSeq: Int64(inserts.count), changes: inserts),
                        skewBoundMillis: 60_000)
                }
            }
            try await group.waitForAll()
        }
        for row in rows {
            writes[Cell(pk: row.pk, column: "name"), default: []].append(Write(version: Version(hlc: HLC(millis: base), origin: row.centre), value: .text("Start \(row.pk)"), insert: true))
            for column in ["city", "founded_year"] {
                writes[Cell(pk: row.pk, column: column), default: []].append(Write(version: Version(hlc: HLC(millis: base), origin: row.centre), value: .null, insert: true))
            }
        }
        for node in centres + [Node.hmsi] {
            var cursor: Int64 = 0
            while true {
                let page = try await store.pull(caller: callers[node]!, origin: nil, after: cursor, limit: 1000)
                cursor = page.nextCursor
                if !page.more { break }
            }
        }
        let seen = try await store.read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM sync_hub_log") ?? 0 }

        // Then all at once: each writer's batches in its own order, its clock ahead by 1 to 40 ms a change.
        var batches: [String: [PushRequest]] = [:]
        for node in centres + [Node.hmsi] {
            var millis = base + 1_000
            var seq = node == Node.hmsi ? 0 : Int64(rows.count(where: { $0.centre == node }))
            for _ in 0..<6 {
                var changes: [Change] = []
                for _ in 0..<12 {
                    let row = node == Node.hmsi ? rows[Int(random.next() % UInt64(rows.count))] : rows.filter { $0.centre == node }[Int(random.next() % 8)]
                    let column = ["name", "city", "founded_year"][Int(random.next() % 3)]
                    millis += Int64(1 + random.next() % 40)
                    seq += 1
                    let value: Value = column == "founded_year" ? .integer(Int64(1950 + random.next() % 70)) : .text("\(node) \(seq)")
                    let version = Version(hlc: HLC(millis: millis), origin: node)
                    writes[Cell(pk: row.pk, column: column), default: []].append(Write(version: version, value: value, insert: false))
                    changes.append(change(.update, "organisations", row.pk, [column: value], seq: seq, origin: node, centre: row.centre, hlc: version.hlc, seen: seen))
                }
                batches[node, default: []].append(PushRequest(replicaID: "r-\(node)", lastSeq: seq, changes: changes))
            }
        }
        let responses = try await withThrowingTaskGroup(of: [PushResponse].self) { [batches] group in
            for (node, requests) in batches {
                group.addTask {
                    var responses: [PushResponse] = []
                    for request in requests {
                        responses.append(try await store.push(caller: callers[node]!, origin: nil, request: request, skewBoundMillis: 60_000).response)
                    }
                    return responses
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let context = "seed \(seed), \(kind)"
        #expect(responses.allSatisfy { $0.refused.isEmpty && $0.duplicates == 0 }, "\(context): every change taken once")
        #expect(try await duplicateApplications(store: store) == 0, "\(context)")

        // Invariant 2: every cell holds its newest version's value.
        let records = try await store.conflicts()
        for row in rows {
            let held = try #require(try await readRow(store: store, "organisations", row.pk))
            for column in ["name", "city", "founded_year"] {
                let cell = Cell(pk: row.pk, column: column)
                let winner = writes[cell]!.max { $0.version < $1.version }!
                #expect(held[column] == winner.value, "\(context): \(row.pk).\(column)")
                // Invariant 4: each other writer's last value of the cell lost, and is recorded.
                for (origin, own) in Dictionary(grouping: writes[cell]!.filter { !$0.insert }, by: \.version.origin) where origin != winner.version.origin {
                    let last = own.max { $0.version < $1.version }!
                    #expect(
                        records.contains { $0.pk == row.pk && $0.column == column && $0.loser.origin == origin && $0.loser.hlc == last.version.hlc && $0.loser.value == last.value },
                        "\(context): \(origin)'s last \(row.pk).\(column) lost without a record")
                }
            }
        }
        // One live entry per row, and every version's number an entry of its row.
        let log = try await store.read { db in
            try [
                "rows with other than one live entry": Int.fetchOne(
                    db, sql: "SELECT count(*) FROM (SELECT tbl, pk FROM sync_hub_log WHERE superseded IS NULL AND op < 4 GROUP BY tbl, pk HAVING count(*) <> 1) AS r"),
                "column versions without their entry": Int.fetchOne(
                    db, sql: "SELECT count(*) FROM sync_cols c WHERE NOT EXISTS (SELECT 1 FROM sync_hub_log l WHERE l.seq = c.seq AND l.tbl = c.tbl AND l.pk = c.pk)"),
                "registers without their entry": Int.fetchOne(
                    db, sql: "SELECT count(*) FROM sync_rows r WHERE NOT EXISTS (SELECT 1 FROM sync_hub_log l WHERE l.seq = r.reg_seq AND l.tbl = r.tbl AND l.pk = r.pk)"),
                "live entries below their row's newest version": Int.fetchOne(
                    db, sql: """
                        SELECT count(*) FROM sync_hub_log l WHERE l.superseded IS NULL AND l.op < 4
                            AND EXISTS (SELECT 1 FROM sync_cols c WHERE c.tbl = l.tbl AND c.pk = l.pk AND c.seq > l.seq)
                        """),
            ]
        }
        #expect(log.values.allSatisfy { $0 == 0 }, "\(context): \(log)")
        try store.close()
    }

    private struct Cell: Hashable {
        var pk: String, column: String
    }

    private struct Write {
        var version: Version, value: Value, insert: Bool
    }
}
