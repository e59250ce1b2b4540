import Foundation
import GRDB
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing

@Suite("Invariant 2 — convergence through the hub", .timeLimit(.minutes(5)))
struct ConvergenceTests {
    @Test(arguments: [TestingSetup.router, .live])
    func pushThenPullAcrossTwoCentresAndHMSIConverges(setup: TestingSetup) async throws {
        let harness = try await HubHarness()
        try fill(harness.replica(kassel), centre: kassel, scale: 120, seed: 1)
        try fill(harness.replica(fulda), centre: fulda, scale: 120, seed: 2)
        try await harness.application().test(setup) { client in
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            try await client.sync(harness.replica(fulda), token: harness.token(fulda))
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            // HMSI approves a Kassel project and adds a funding line; Fulda edits its own rows.
            let project = try someProject(harness.replica(Node.hmsi), centre: kassel)
            try sqlite3(harness.replica(Node.hmsi).path, """
                UPDATE projects SET status = 'bewilligt', approved_cents = 500000 WHERE id = '\(project)';
                INSERT INTO funding_lines VALUES ('sprachmittlung', 'Sprachmittlung', 'Language mediation', 1.0, NULL, 'test');
                """)
            try sqlite3(harness.replica(fulda).path, "UPDATE volunteers SET active = 0; DELETE FROM deployments WHERE rowid % 3 = 0;")
            for node in [Node.hmsi, fulda, kassel, Node.hmsi] {
                try await client.sync(harness.replica(node), token: harness.token(node))
            }
        }
        for node in [kassel, fulda, Node.hmsi] {
            let (replica, hub) = try await harness.scoped(node)
            #expect(replica == hub, "\(node) differs from the hub")
        }
        #expect(try count(harness.replica(kassel).path, "centres") == 33, "reference data reached the centre")
        #expect(try count(harness.replica(kassel).path, "funding_lines") == 10)
        #expect(try count(harness.replica(kassel).path, "projects") == 12, "only Kassel's own projects")
    }

    /// Invariant 3: the hub answers a push with what it has durably applied, and the centre
    /// then drops those log entries; so every hub commit is synced to disk (a power cut
    /// cannot take it back). A replica's commits may roll back whole after a power cut:
    /// what they acknowledged is pushed again, what they pulled is pulled again.
    @Test func theHubsCommitsSurviveAPowerCut() async throws {
        let harness = try await HubHarness()
        let hub = try StoreConnection.openPool(path: harness.hubPath)
        #expect(try await hub.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2, "FULL")
        let replica = try StoreConnection.open(path: harness.replica(kassel).path)
        #expect(try await replica.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 1, "NORMAL")
    }

    /// Invariant 3: the hub applied a batch, but its answer never arrived; the centre sends
    /// the same batch again.
    @Test func theSameBatchPushedTwiceIsAppliedOnce() async throws {
        let harness = try await HubHarness()
        let replica = harness.replica(kassel)
        try fill(replica, centre: kassel, scale: 40, seed: 3)
        try await harness.application().test(.router) { client in
            try await client.session(replica, token: harness.token(kassel))
            let request = try replica.pushRequest()
            let first = try await client.push(request, token: harness.token(kassel)).decode(PushResponse.self)
            let afterFirst = try await harness.hubState()
            let second = try await client.push(request, token: harness.token(kassel)).decode(PushResponse.self)
            #expect(first.applied == 40)
            #expect(second.applied == 0)
            #expect(second.duplicates == 40)
            #expect(second.ackedSeq == first.ackedSeq)
            #expect(try await harness.hubState() == afterFirst, "the retry changed nothing")

            // Still unacknowledged, the old batch is sent again together with new changes:
            // only the new ones are applied.
            try sqlite3(replica.path, "UPDATE organisations SET city = 'Hofgeismar';")
            let next = try replica.outgoing(limit: 1000)
            #expect(next.changes.count > request.changes.count)
            let overlapping = PushRequest(
                replicaID: request.replicaID, lastSeq: next.lastSeq, changes: next.changes, after: next.after, chains: Fingerprint.pack(next.chains))
            let third = try await client.push(overlapping, token: harness.token(kassel)).decode(PushResponse.self)
            #expect(third.applied == next.changes.count - request.changes.count)
            #expect(third.duplicates == request.changes.count)
        }
    }

    @Test func integersRealsTextAndBlobsSurvivePushAndPullExactly() async throws {
        let harness = try await HubHarness()
        let writer = try openWriter(harness.replica(kassel).path)
        let logo = Data([0x00, 0xFF, 0x89, 0x50, 0x4E, 0x47, 0x00, 0x0A, 0x0D, 0x1A])
        try await writer.write { db in
            try insert("organisations", pk: "org-typen", values: [
                "centre_id": .text(kassel), "name": .text("Verein für Größe, Übung & Öffnung – مرحبا – Ласкаво просимо 🤝"),
                "kind": .text("Migrantenorganisation"), "founded_year": .integer(Int64.max), "logo": .blob(logo),
                "city": .text("Gießen"), "contact_email": .null,
            ], into: db)
            try insert("projects", pk: "p-typen", values: [
                "centre_id": .text(kassel), "funding_line_id": .text("integrationslotsen"), "title": .text("Ünterschiedlich"),
                "status": .text("geplant"), "budget_cents": .integer(9_007_199_254_740_993), "requested_cents": .integer(Int64.min),
                "participants": .integer(-1),
            ], into: db)
            try insert("volunteers", pk: "v-typen", values: [
                "centre_id": .text(kassel), "role": .text("Laiendolmetschende"), "given_name": .text("Олена"),
                "family_name": .text("الحسن"), "languages": .text("de,uk,ar"), "qualification": .text("keine"),
            ], into: db)
            try insert("deployments", pk: "d-typen", values: [
                "centre_id": .text(kassel), "volunteer_id": .text("v-typen"), "date": .text("2026-11-21"), "hours": .real(0.1),
                "language": .text("uk"), "setting": .text("Arztbesuch"), "note": .text("1e-300 ≠ 0"),
            ], into: db)
        }
        try await harness.application().test(.live) { client in
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
        }
        let original = try snapshot(harness.replica(kassel).path, versions: false, centre: kassel)
        #expect(try snapshot(harness.hubPath, versions: false, centre: kassel) == original)
        #expect(try snapshot(harness.replica(Node.hmsi).path, versions: false, centre: kassel) == original)
        let organisation = try #require(try readRow(harness.replica(Node.hmsi).path, "organisations", "org-typen"))
        #expect(organisation["logo"] == .blob(logo))
        #expect(organisation["founded_year"] == .integer(Int64.max))
        #expect(try readRow(harness.replica(Node.hmsi).path, "deployments", "d-typen")?["hours"] == .real(0.1))
        #expect(try readRow(harness.replica(Node.hmsi).path, "projects", "p-typen")?["budget_cents"] == .integer(9_007_199_254_740_993))
    }

    @Test func gzipBodiesAreAcceptedAndLargeAnswersCompressed() async throws {
        let harness = try await HubHarness()
        let replica = harness.replica(kassel)
        try fill(replica, centre: kassel, scale: 100, seed: 4)
        try await harness.application().test(.live) { client in
            try await client.session(replica, token: harness.token(kassel))
            let request = try replica.pushRequest()
            let pushed = try await client.push(request, token: harness.token(kassel), gzip: true).decode(PushResponse.self)
            #expect(pushed.applied == 100)
            let pulled = try await client.pull(after: 0, token: harness.token(Node.hmsi), gzip: true)
            #expect(pulled.headers[.contentEncoding] == "gzip")
            #expect(try pulled.decode(PullResponse.self).changes.count == 33 + 9 + 100)
            let plain = try await client.pull(after: 0, token: harness.token(Node.hmsi), gzip: false)
            #expect(plain.headers[.contentEncoding] == nil)
        }
    }
}
