import Foundation
import GRDB
import HubStore
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

/// A hostile centre against the hub's promises (docs/security.md): each attack was first
/// reproduced against the hub, and failed there, before its fix.
@Suite("Hardening — a hostile centre", .timeLimit(.minutes(2)))
struct HostileCentreTests {
    /// Kassel's projects at the hub and at HMSI; returns one of them.
    private func sharedProject(_ harness: HubHarness, client: some TestClientProtocol) async throws -> String {
        try fill(harness.replica(kassel), centre: kassel, scale: 20, seed: 13)
        try await client.sync(harness.replica(kassel), token: harness.token(kassel))
        try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
        return try someProject(harness.replica(kassel), centre: kassel)
    }

    private func edit(_ replica: Replica, _ sql: String, offset: Int64) throws {
        let writer = try openWriter(replica.path, clock: TestClock(millis: SystemClock().nowMillis() + offset))
        try writer.write { db in try db.execute(sql: sql) }
    }

    /// Invariant 4 against a lying centre: HMSI's edit reaches the hub first; Kassel, which
    /// never pulled it, overwrites the same column a second later. Claiming in `seen` to
    /// have seen the whole hub log must not make the hub drop the record of HMSI's value.
    @Test(arguments: [false, true])
    func aCentreClaimingToHaveSeenWhatItNeverPulledCannotSuppressAConflictRecord(lying: Bool) async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client)
            try edit(harness.replica(Node.hmsi), "UPDATE projects SET title = 'Sprachcafé (HMSI)' WHERE id = '\(project)'", offset: 1_000)
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            try edit(harness.replica(kassel), "UPDATE projects SET title = 'Sprachcafé (Zentrum)' WHERE id = '\(project)'", offset: 2_000)

            let replica = harness.replica(kassel)
            try await client.session(replica, token: harness.token(kassel))
            var request = try replica.pushRequest()
            if lying { request.changes = request.changes.map { var change = $0; change.seen = .max; return change } }
            let response = try await client.push(request, token: harness.token(kassel)).decode(PushResponse.self)

            #expect(response.applied == 1)
            #expect(response.conflicts == 1, "HMSI's value lost the race and is on record")
            let record = try #require(try await harness.store.conflicts().first)
            #expect(record.loser.value == .text("Sprachcafé (HMSI)"))
            #expect(record.winner.value == .text("Sprachcafé (Zentrum)"))
        }
    }

    /// `projects.approved_cents` is decided by HMSI (schema/manifest.json, `hmsi_only`): a
    /// centre's write of it is refused on its own, like a write of reference data, and
    /// changes nothing; an insert that leaves it empty, and HMSI's write of it, are applied.
    @Test func aCentreCannotWriteAColumnOnlyHMSIDecides() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client)
            var row = try #require(try readRow(harness.replica(kassel).path, "projects", project))
            row["approved_cents"] = .integer(99_999_999)
            let before = try harness.hubState()
            let attempts = [
                change(.update, "projects", project, ["approved_cents": .integer(99_999_999)], seq: 1001, origin: kassel, centre: kassel),
                change(.update, "projects", project, ["approved_cents": .null, "title": .text("x")], seq: 1002, origin: kassel, centre: kassel),
                change(.insert, "projects", "selbst-bewilligt", row, seq: 1003, origin: kassel, centre: kassel),
            ]
            let replicaID = try harness.replica(kassel).status().replicaID
            let response = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 1003, changes: attempts), token: harness.token(kassel))
                .decode(PushResponse.self)
            #expect(response.applied == 0)
            #expect(response.refused.map(\.seq) == [1001, 1002, 1003])
            #expect(response.refused.allSatisfy { $0.code == "out_of_scope" && $0.message.contains("projects.approved_cents is decided by HMSI") })
            #expect(try harness.hubState() == before, "nothing was written")

            row["approved_cents"] = .null
            let allowed = try await client.push(
                PushRequest(replicaID: replicaID, lastSeq: 1004, changes: [change(.insert, "projects", "beantragt", row, seq: 1004, origin: kassel, centre: kassel)]),
                token: harness.token(kassel)
            ).decode(PushResponse.self)
            #expect(allowed.applied == 1 && allowed.refused.isEmpty)

            try sqlite3(harness.replica(Node.hmsi).path, "UPDATE projects SET approved_cents = 123400 WHERE id = '\(project)';")
            let pushed = try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi)).pushed
            #expect(pushed.map(\.applied).reduce(0, +) == 1 && pushed.allSatisfy { $0.refused.isEmpty })
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            #expect(try readRow(harness.replica(kassel).path, "projects", project)?["approved_cents"] == .integer(123400), "HMSI's decision reaches the centre")
        }
    }

    /// On a centre's replica the capture triggers refuse the write at once, for any tool,
    /// with the reason; nothing is written or captured.
    @Test func aCentresReplicaRefusesALocalWriteOfAColumnOnlyHMSIDecides() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client)
            let replica = harness.replica(kassel)
            let before = try snapshot(replica.path)
            for sql in [
                "UPDATE projects SET approved_cents = 1 WHERE id = '\(project)';",
                "INSERT INTO projects (id, centre_id, funding_line_id, title, status, approved_cents) SELECT 'neu', centre_id, funding_line_id, 'Neu', 'geplant', 5 FROM projects WHERE id = '\(project)';",
            ] {
                #expect(throws: (any Error).self) { try sqlite3(replica.path, sql) }
                do {
                    try await openWriter(replica.path).write { try $0.execute(sql: sql) }
                    Issue.record("written: \(sql)")
                } catch let error as DatabaseError {
                    #expect(error.message == "wirsync: projects.approved_cents is decided by HMSI (scope)")
                }
            }
            #expect(try snapshot(replica.path) == before)
            #expect(try replica.status().pending == 0)
            // The same write with the column left alone is captured as usual.
            try sqlite3(replica.path, "UPDATE projects SET title = 'Neu' WHERE id = '\(project)';")
            #expect(try replica.status().pending == 1)
        }
    }
}
