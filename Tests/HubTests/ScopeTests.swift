import Foundation
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing

@Suite("Invariant 5 — scope: a centre neither receives nor changes rows outside its scope", .timeLimit(.minutes(5)))
struct ScopeTests {
    /// Kassel and Fulda have synced their data; returns a Fulda project id.
    private func synced(_ harness: HubHarness, client: some TestClientProtocol) async throws -> String {
        try fill(harness.replica(kassel), centre: kassel, scale: 60, seed: 5)
        try fill(harness.replica(fulda), centre: fulda, scale: 60, seed: 6)
        try await client.sync(harness.replica(kassel), token: harness.token(kassel))
        try await client.sync(harness.replica(fulda), token: harness.token(fulda))
        try await client.sync(harness.replica(kassel), token: harness.token(kassel))
        return try someProject(harness.replica(fulda), centre: fulda)
    }

    @Test(arguments: StoreKind.tested) func aCentrePullsItsOwnRowsAndReferenceDataNeverAnotherCentres(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            _ = try await synced(harness, client: client)
            let all = try await client.pull(after: 0, limit: 5000, token: harness.token(kassel)).decode(PullResponse.self)
            #expect(!all.changes.isEmpty)
            #expect(all.changes.allSatisfy { $0.centre == nil || $0.centre == kassel })
            #expect(!all.changes.contains { $0.centre == kassel && $0.origin == kassel }, "its own changes are not echoed")
            #expect(all.changes.contains { $0.table == "centres" })
            #expect(try count(harness.replica(kassel).path, "volunteers") == 12)
        }
    }

    /// A change a table constraint refuses is refused on its own: it leaves no
    /// trace (no row, no versions, no log entry), and the changes around it are applied.
    @Test(arguments: StoreKind.tested) func aChangeAConstraintRefusesLeavesNoTraceAndTheRestIsApplied(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            var bad = organisationRow(kassel, name: "Pirat")
            bad["kind"] = .text("Piratenpartei")
            let replicaID = try harness.replica(kassel).status().replicaID
            let changes = [
                change(.insert, "organisations", "vor", organisationRow(kassel, name: "Vorher"), seq: 1, origin: kassel, centre: kassel),
                change(.insert, "organisations", "kaputt", bad, seq: 2, origin: kassel, centre: kassel),
                change(.insert, "organisations", "nach", organisationRow(kassel, name: "Nachher"), seq: 3, origin: kassel, centre: kassel),
            ]
            let response = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 3, changes: changes), token: harness.token(kassel))
                .decode(PushResponse.self)
            #expect(response.applied == 2)
            #expect(response.refused.map(\.seq) == [2])
            #expect(response.refused.first?.code == "constraint_violation")
            let ids = try await harness.store.read { db in
                try String.fetchAll(db, sql: "SELECT id FROM organisations WHERE centre_id = ? ORDER BY id", arguments: [kassel])
            }
            #expect(ids == ["nach", "vor"])
            for table in ["sync_rows", "sync_hub_log"] {
                #expect(try await harness.store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE pk = 'kaputt'") } == 0)
            }
        }
    }

    @Test(arguments: StoreKind.tested) func aCentreCannotChangeAnotherCentresRowsOrReferenceData(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let fuldaProject = try await synced(harness, client: client)
            let before = try await harness.hubState()
            let replicaID = try harness.replica(kassel).status().replicaID
            let attempts = [
                change(.insert, "organisations", "fremd", organisationRow(fulda), seq: 1001, origin: kassel, centre: fulda),
                change(.update, "projects", fuldaProject, ["title": .text("übernommen")], seq: 1002, origin: kassel, centre: fulda),
                change(.update, "projects", fuldaProject, ["title": .text("übernommen")], seq: 1003, origin: kassel, centre: kassel),
                change(.delete, "projects", fuldaProject, seq: 1004, origin: kassel, centre: kassel),
                change(.update, "funding_lines", "integrationslotsen", ["max_share": .real(0.1)], seq: 1005, origin: kassel, centre: nil),
                change(.insert, "centres", "neu", ["name": .text("Neu"), "kind": .text("Landkreis"), "regierungsbezirk": .text("Kassel")],
                       seq: 1006, origin: kassel, centre: nil),
            ]
            let response = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 1006, changes: attempts), token: harness.token(kassel))
                .decode(PushResponse.self)
            #expect(response.applied == 0)
            #expect(response.refused.map(\.seq) == [1001, 1002, 1003, 1004, 1005, 1006])
            #expect(response.refused.allSatisfy { $0.code == "out_of_scope" })
            #expect(try await harness.hubState() == before, "nothing was written")

            let impostor = change(.update, "projects", fuldaProject, ["title": .text("x")], seq: 1007, origin: fulda, centre: fulda)
            let forbidden = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 1007, changes: [impostor]), token: harness.token(kassel))
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.error?.error.code == "forbidden")
            #expect(try await harness.hubState() == before)
        }
    }

    @Test(arguments: StoreKind.tested) func hmsiReadsAndWritesEveryTable(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let fuldaProject = try await synced(harness, client: client)
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            #expect(try snapshot(harness.replica(Node.hmsi).path, versions: false) == (try await snapshot(store: harness.store, versions: false)))
            try sqlite3(harness.replica(Node.hmsi).path, """
                UPDATE projects SET approved_cents = 1 WHERE id = '\(fuldaProject)';
                UPDATE funding_lines SET max_share = 0.75 WHERE id = 'innovative-projekte';
                """)
            let pushed = try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi)).pushed
            #expect(pushed.map(\.applied).reduce(0, +) == 2)
            #expect(pushed.allSatisfy { $0.refused.isEmpty })
            try await client.sync(harness.replica(fulda), token: harness.token(fulda))
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            #expect(try readRow(harness.replica(fulda).path, "projects", fuldaProject)?["approved_cents"] == .integer(1))
            #expect(try readRow(harness.replica(kassel).path, "funding_lines", "innovative-projekte")?["max_share"] == .real(0.75))
            #expect(try readRow(harness.replica(kassel).path, "projects", fuldaProject) == nil)
        }
    }
}
