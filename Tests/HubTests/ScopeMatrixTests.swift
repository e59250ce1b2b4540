import Foundation
import GRDB
import HTTPTypes
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing

/// Invariant 5, table by table and route by route: a centre reads none of another centre's
/// rows (pull, digest) and changes none of them (push: insert, update, delete), nor any
/// reference row.
@Suite("Invariant 5 — scope matrix: every table, every route", .timeLimit(.minutes(5)))
struct ScopeMatrixTests {
    @Test(arguments: StoreKind.tested) func noTableLeaksAnotherCentresRowsAndNoneCanBeChangedFromOutsideItsScope(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try fill(harness.replica(kassel), centre: kassel, scale: 60, seed: 31)
        try fill(harness.replica(fulda), centre: fulda, scale: 60, seed: 32)
        try await harness.application().test(.router) { client in
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            try await client.sync(harness.replica(fulda), token: harness.token(fulda))
            let schema = harness.store.schema
            let before = try await harness.hubState()

            // Reading: the whole log, page by page, and the digest.
            var cursor: Int64 = 0
            var seen: [Change] = []
            while true {
                let page = try await client.pull(after: cursor, limit: 7, token: harness.token(kassel)).decode(PullResponse.self)
                seen += page.changes
                cursor = page.nextCursor
                if !page.more { break }
            }
            for table in schema.tables {
                let leaked = seen.filter { $0.table == table.name && $0.centre != nil && $0.centre != kassel }
                #expect(leaked.isEmpty, "\(table.name): \(leaked.count) rows of another centre pulled")
            }
            let digest = try await client.execute(
                uri: "/v1/digest", method: .get,
                headers: [.authorization: "Bearer \(harness.token(kassel))", HTTPField.Name(Wire.schemaHeader)!: "wir/2"]
            ).decode(DigestResponse.self)
            let ownDigest = try await harness.store.digest(node: kassel)
            #expect(digest.tables == ownDigest.tables, "the digest covers Kassel's rows only")

            // Writing: for every table, every operation on a Fulda row, and on reference rows.
            var seq: Int64 = 10_000
            var attempts: [Change] = []
            for table in schema.tables {
                let values = Dictionary(uniqueKeysWithValues: table.columns.map { ($0.name, sample(for: $0)) })
                if table.scope == .centre {
                    let fuldaRow = try await harness.store.digest(node: fulda).tables[table.name]!.rows > 0
                        ? try await firstKey(harness.store, table: table.name, centre: fulda) : "none"
                    var foreign = values
                    foreign[Node.centreColumn] = .text(fulda)
                    let someColumn = table.columns.first { $0.name != Node.centreColumn }!
                    for (op, pk, centre, rowValues) in [
                        (Change.Op.insert, "fremd-\(table.name)", fulda, foreign),
                        (.update, fuldaRow, fulda, [someColumn.name: sample(for: someColumn)]),
                        (.update, fuldaRow, kassel, [someColumn.name: sample(for: someColumn)]),
                        (.delete, fuldaRow, fulda, [:]),
                        (.delete, fuldaRow, kassel, [:]),
                    ] {
                        seq += 1
                        attempts.append(change(op, table.name, pk, rowValues, seq: seq, origin: kassel, centre: centre))
                    }
                } else {
                    let key = try await firstKey(harness.store, table: table.name, centre: nil)
                    for (op, pk, rowValues) in [(Change.Op.insert, "neu", values), (.update, key, values), (.delete, key, [:])] {
                        seq += 1
                        attempts.append(change(op, table.name, pk, rowValues, seq: seq, origin: kassel, centre: nil))
                    }
                }
            }
            let response = try await client.push(
                PushRequest(replicaID: "scope-matrix", lastSeq: seq, changes: attempts), token: harness.token(kassel)
            ).decode(PushResponse.self)
            #expect(response.applied == 0)
            #expect(response.refused.count == attempts.count, "every attempt refused")
            #expect(response.refused.allSatisfy { $0.code == "out_of_scope" })
            #expect(try await harness.hubState() == before, "nothing was written")
        }
    }

    private func firstKey(_ store: HubStore, table: String, centre: String?) async throws -> String {
        try await store.read { db in
            let filter = centre.map { " WHERE centre_id = \(literal($0))" } ?? ""
            return try String.fetchOne(db, sql: "SELECT id FROM \(table)\(filter) ORDER BY id LIMIT 1") ?? "none"
        }
    }

    /// A value a column of this type and name accepts (CHECK constraints included).
    private func sample(for column: ColumnSpec) -> Value {
        switch (column.name, column.type) {
        case ("kind", _): .text("Verein")
        case ("regierungsbezirk", _): .text("Kassel")
        case ("status", _): .text("beantragt")
        case ("role", _): .text("Integrationslotse")
        case ("qualification", _): .text("keine")
        case ("active", _): .integer(1)
        case ("max_share", _): .real(0.5)
        case ("hours", "REAL"): .real(1.5)
        case ("level", _): .text("A1")
        case ("women_only", _): .integer(0)
        case (_, "INTEGER"): .integer(1)
        case (_, "REAL"): .real(1)
        case (_, "BLOB"): .blob(Data([1]))
        default: .text("x")
        }
    }
}
