import CompressNIO
import Foundation
import GRDB
import HubServer
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

/// A hostile centre against the hub's promises (docs/security.md): each attack was first
/// reproduced against the hub, and failed there, before its fix.
@Suite("Invariants 4, 5 and 6 against a hostile centre (hardening)", .timeLimit(.minutes(5)))
struct HostileCentreTests {
    /// Invariant 4 against a lying centre: HMSI's edit reaches the hub first; Kassel, which
    /// never pulled it, overwrites the same column a second later. Claiming in `seen` to
    /// have seen the whole hub log must not make the hub drop the record of HMSI's value.
    @Test(arguments: [false, true])
    func aCentreClaimingToHaveSeenWhatItNeverPulledCannotSuppressAConflictRecord(lying: Bool) async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 13)
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
            let project = try await sharedProject(harness, client: client, seed: 13)
            var row = try #require(try readRow(harness.replica(kassel).path, "projects", project))
            row["approved_cents"] = .integer(99_999_999)
            let before = try await harness.hubState()
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
            #expect(try await harness.hubState() == before, "nothing was written")

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
            let project = try await sharedProject(harness, client: client, seed: 13)
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

    /// A centre cannot fill the hub's disk with one value: text or a blob beyond 1 MiB is
    /// refused on its own (code `value_too_large`), and so is a REAL that is not a finite
    /// number (`value_not_finite`); the rest of the batch is applied, nothing of the refused
    /// change is stored.
    @Test func aValueBeyondOneMiBOrAnInfiniteRealIsRefusedOnItsOwn() async throws {
        let harness = try await HubHarness(configuration: HubServerConfiguration(maxBodyBytes: 256 << 10, maxInflatedBytes: 8 << 20))
        try await harness.application().test(.router) { client in
            _ = try await sharedProject(harness, client: client, seed: 13)
            let deployment = try #require(try await openWriter(harness.replica(kassel).path).read {
                try String.fetchOne($0, sql: "SELECT id FROM deployments ORDER BY id LIMIT 1")
            })
            func hubBytes() -> Int {
                [harness.hubPath, harness.hubPath + "-wal"].reduce(0) { total, file in
                    total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
                }
            }
            let before = hubBytes()
            let replicaID = try harness.replica(kassel).status().replicaID
            let changes = [
                change(.insert, "organisations", "gross", organisationRow(kassel, name: String(repeating: "x", count: Value.maxBytes + 1)), seq: 1, origin: kassel, centre: kassel),
                change(.update, "organisations", "gross", ["logo": .blob(Data(count: Value.maxBytes + 1))], seq: 2, origin: kassel, centre: kassel),
                change(.update, "deployments", deployment, ["hours": .real(.infinity)], seq: 3, origin: kassel, centre: kassel),
                change(.insert, "organisations", "genau", organisationRow(kassel, name: String(repeating: "y", count: Value.maxBytes)), seq: 4, origin: kassel, centre: kassel),
            ]
            let response = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 4, changes: changes), token: harness.token(kassel), gzip: true)
                .decode(PushResponse.self)
            #expect(response.refused.map(\.seq) == [1, 2, 3])
            #expect(response.refused.map(\.code) == ["value_too_large", "value_too_large", "value_not_finite"])
            #expect(response.applied == 1, "a value of exactly 1 MiB is taken")
            #expect(try readRow(harness.hubPath, "organisations", "gross") == nil)
            #expect(try readRow(harness.hubPath, "deployments", deployment)?["hours"] != .real(.infinity))
            let grown = hubBytes() - before
            #expect(grown < 4 * Value.maxBytes, "only the 1 MiB value is stored (in its row and its log entry): grew \(grown) bytes")
        }
    }

    /// The inflate limit is exact: a gzip body that inflates to one byte more than the limit
    /// is refused with 413, one that inflates to the limit is read.
    @Test func theInflateLimitIsExact() async throws {
        let limit = 1 << 20
        let harness = try await HubHarness(configuration: HubServerConfiguration(maxBodyBytes: 256 << 10, maxInflatedBytes: limit))
        try await harness.application().test(.router) { client in
            for (size, refused) in [(limit + 1, true), (limit, false)] {
                // Spaces are JSON whitespace: the body is an empty batch padded to `size` bytes.
                let json = #"{"replica_id":"r","last_seq":0,"changes":[]}"#
                var body = ByteBuffer(string: json + String(repeating: " ", count: size - json.utf8.count))
                body = try body.compress(with: .gzip())
                let response = try await client.push(body: body, token: harness.token(kassel), headers: [.contentEncoding: "gzip"])
                #expect((response.status == .contentTooLarge) == refused, "\(size) bytes inflated: \(response.status)")
            }
        }
    }

    /// A centre's replica refuses the same values when any tool writes them, with the reason.
    @Test func aReplicaRefusesAValueBeyondOneMiBOrAnInfiniteRealWhenItIsWritten() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 13)
            let replica = harness.replica(kassel)
            let before = try snapshot(replica.path)
            let attempts = [
                ("UPDATE projects SET description = hex(randomblob(600000)) WHERE id = '\(project)';", "projects.description holds more than 1 MiB"),
                ("UPDATE organisations SET logo = zeroblob(1048577) WHERE rowid = 1;", "organisations.logo holds more than 1 MiB"),
                ("UPDATE deployments SET hours = 1e999 WHERE rowid = 1;", "deployments.hours must be a finite number"),
                ("INSERT INTO organisations (id, centre_id, name, kind) VALUES ('neu', '\(kassel)', hex(randomblob(600000)), 'Verein');", "organisations.name holds more than 1 MiB"),
            ]
            for (sql, reason) in attempts {
                do {
                    _ = try sqlite3(replica.path, sql)
                    Issue.record("written: \(sql)")
                } catch {
                    #expect("\(error)".contains("wirsync: \(reason)"), "\(error)")
                }
            }
            #expect(try snapshot(replica.path) == before)
            #expect(try replica.status().pending == 0)
            _ = try sqlite3(replica.path, "UPDATE organisations SET logo = zeroblob(1048576) WHERE rowid = 1;")
            #expect(try replica.status().pending == 1, "exactly 1 MiB is taken")
        }
    }

    /// An honest hub never sends a centre more than its transport takes: a pull page stops
    /// after 16 MiB of values (one entry at least), says there is more, and the next page
    /// goes on from there; nothing is skipped.
    @Test func aPullPageStaysWithinItsByteBudgetAndTheNextGoesOn() async throws {
        let harness = try await HubHarness(configuration: HubServerConfiguration(maxBodyBytes: 256 << 10, maxInflatedBytes: 8 << 20))
        try await harness.application().test(.router) { client in
            let replicaID = try harness.replica(kassel).status().replicaID
            let big = String(repeating: "n", count: Value.maxBytes - 100)
            for push in 0..<3 {
                let changes = (1...7).map { index in
                    let seq = Int64(push * 7 + index)
                    return change(.insert, "organisations", "gross-\(seq)", organisationRow(kassel, name: big), seq: seq, origin: kassel, centre: kassel)
                }
                let response = try await client.push(PushRequest(replicaID: replicaID, lastSeq: changes.last!.seq, changes: changes), token: harness.token(kassel), gzip: true)
                    .decode(PushResponse.self)
                #expect(response.applied == 7)
            }
            var cursor: Int64 = 0
            var pages: [PullResponse] = []
            repeat {
                let page = try await client.pull(after: cursor, limit: 1000, token: harness.token(Node.hmsi)).decode(PullResponse.self)
                pages.append(page)
                cursor = page.nextCursor
            } while pages.last!.more && pages.count < 10
            let first = try #require(pages.first)
            let firstBytes = first.changes.filter { $0.table == "organisations" }.count * big.utf8.count
            #expect(first.more && abs(firstBytes - (16 << 20)) <= Value.maxBytes, "first page: \(firstBytes) bytes of names, \(first.changes.count) changes, more \(first.more), pages \(pages.count)")
            let organisations = pages.flatMap(\.changes).filter { $0.table == "organisations" }.map(\.pk)
            #expect(organisations.sorted() == (1...21).map { "gross-\($0)" }.sorted(), "every entry once, across \(pages.count) pages")
        }
    }

    /// A deployment may not name another centre's volunteer (nor a project of another
    /// centre): the schema declares the reference, so the hub refuses it on its own; one to
    /// the centre's own volunteer, or to a row the hub does not hold yet, is applied.
    @Test func aCentreCannotReferenceAnotherCentresRow() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            _ = try await sharedProject(harness, client: client, seed: 13)
            try fill(harness.replica(fulda), centre: fulda, scale: 20, seed: 14)
            try await client.sync(harness.replica(fulda), token: harness.token(fulda))
            func someRow(_ node: String, _ table: String) async throws -> String {
                try #require(try await openWriter(harness.replica(node).path).read { try String.fetchOne($0, sql: "SELECT id FROM \(table) ORDER BY id LIMIT 1") })
            }
            let (foreignVolunteer, foreignProject) = (try await someRow(fulda, "volunteers"), try await someRow(fulda, "projects"))
            let ownVolunteer = try await someRow(kassel, "volunteers")
            func deployment(_ id: String, volunteer: String, project: Value = .null, seq: Int64) -> Change {
                change(.insert, "deployments", id, [
                    "centre_id": .text(kassel), "volunteer_id": .text(volunteer), "project_id": project, "date": .text("2026-11-30"),
                    "hours": .real(2), "language": .text("ar"), "setting": .text("Arztbesuch"), "note": .null,
                ], seq: seq, origin: kassel, centre: kassel)
            }
            let before = try await harness.hubState()
            let replicaID = try harness.replica(kassel).status().replicaID
            let refused = try await client.push(
                PushRequest(replicaID: replicaID, lastSeq: 2, changes: [
                    deployment("fremd-1", volunteer: foreignVolunteer, seq: 1),
                    deployment("fremd-2", volunteer: ownVolunteer, project: .text(foreignProject), seq: 2),
                ]), token: harness.token(kassel)
            ).decode(PushResponse.self)
            #expect(refused.refused.map(\.code) == ["out_of_scope", "out_of_scope"])
            #expect(refused.refused.first?.message.contains("volunteer_id references volunteers row \(foreignVolunteer), which belongs to another centre") == true)
            #expect(try await harness.hubState() == before, "nothing was written")
            let applied = try await client.push(
                PushRequest(replicaID: replicaID, lastSeq: 4, changes: [
                    deployment("eigen", volunteer: ownVolunteer, seq: 3), deployment("vorab", volunteer: "noch-nicht-da", seq: 4),
                ]), token: harness.token(kassel)
            ).decode(PushResponse.self)
            #expect(applied.applied == 2 && applied.refused.isEmpty)
        }
    }

    /// Two different values under one version of one column are a malformed batch, not a
    /// duplicate: refused whole with 400, in one batch or across two; the same value again
    /// is a duplicate as before.
    @Test func twoValuesUnderOneVersionAreAMalformedBatch() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 13)
            let replicaID = try harness.replica(kassel).status().replicaID
            let hlc = HLC(millis: SystemClock().nowMillis())
            func title(_ text: String, seq: Int64) -> Change {
                change(.update, "projects", project, ["title": .text(text)], seq: seq, origin: kassel, centre: kassel, hlc: hlc)
            }
            let before = try await harness.hubState()
            let within = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 2, changes: [title("A", seq: 1), title("B", seq: 2)]), token: harness.token(kassel))
            #expect(within.status == .badRequest && within.error?.error.code == "invalid_change", "\(within.text)")
            #expect(try await harness.hubState() == before, "nothing was written")

            let first = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 1, changes: [title("A", seq: 1)]), token: harness.token(kassel)).decode(PushResponse.self)
            #expect(first.applied == 1)
            let other = try await client.push(PushRequest(replicaID: "r2", lastSeq: 1, changes: [title("B", seq: 1)]), token: harness.token(kassel))
            #expect(other.status == .badRequest && other.text.contains("with another value"), "\(other.text)")
            let again = try await client.push(PushRequest(replicaID: "r2", lastSeq: 1, changes: [title("A", seq: 1)]), token: harness.token(kassel)).decode(PushResponse.self)
            #expect(again.duplicates == 1 && again.applied == 0)
            #expect(try readRow(harness.hubPath, "projects", project)?["title"] == .text("A"))
        }
    }
}
