import CentreSync
import Foundation
import GRDB
import HubStore
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Sync session", .timeLimit(.minutes(5)))
struct SyncSessionTests {
    @Test func pushesInBoundedBatchesThenPullsUntilNothingIsLeft() async throws {
        let fixture = try await Fixture()
        try fixture.fill(kassel, scale: 250, seed: 1)
        let replica = try fixture.replica(kassel)
        var batches: [SyncProgress] = []
        let progress = LockedValue<[SyncProgress]>([])
        let report = try await SyncSession(replica: replica, transport: fixture.transport(kassel), limits: SyncLimits(batchChanges: 100, pullLimit: 20))
            .run { step in progress.update { $0.append(step) } }
        batches = progress.value
        #expect(report.pushed == 250)
        #expect(report.pushBatches == 3)
        #expect(report.applied == 250)
        #expect(report.pulled == 42, "the reference data")
        #expect(report.returned == 250, "its own changes come back, as duplicates")
        #expect(report.pullBatches == 15)
        #expect(batches.filter { $0.phase == .push }.map(\.changes) == [100, 200, 250])
        #expect(try replica.status().pending == 0)
        #expect(try snapshot(replica.path, versions: false, centre: kassel) == snapshot(fixture.store.path, versions: false, centre: kassel))
        let run = try #require(try replica.status().lastSync)
        #expect(run.ok)
        #expect(run.pushed == 250)
        #expect(try replica.status().hlc >= HLC(millis: try #require(report.hubTime)), "the clock moved to the hub's")
    }

    /// Invariant 3 rests on this: the hub's exactly-once check is the highest sequence per
    /// replica, so the pipeline (next batch composed and compressed, previous one
    /// acknowledged, while the hub works) must still hand batches over one at a time, in
    /// order, with no gap.
    @Test func pipelinedPushesReachTheHubOneAtATimeInOrder() async throws {
        let fixture = try await Fixture()
        try fixture.fill(kassel, scale: 450, seed: 9)
        let replica = try fixture.replica(kassel)
        let transport = SlowRecordingTransport(fixture.transport(kassel))
        let report = try await SyncSession(replica: replica, transport: transport, limits: SyncLimits(batchChanges: 100)).run()
        let pushes = transport.pushes.value
        #expect(report.pushBatches == 5)
        #expect(transport.mostInFlight.value == 1)
        #expect(pushes.map(\.lastSeq) == [100, 200, 300, 400, 450])
        #expect(pushes.map { $0.changes.first?.seq } == [1, 101, 201, 301, 401])
        #expect(try replica.status().pending == 0)
    }

    @Test func batchesAreBoundedInBytesToo() async throws {
        let fixture = try await Fixture()
        let replica = try fixture.replica(kassel)
        let essay = String(repeating: "Integrationslotsinnen begleiten Behördengänge. ", count: 200)
        try sqlite3(replica.path, (0..<40).map {
            "INSERT INTO organisations (id, centre_id, name, kind, city) VALUES ('o\($0)', 'landkreis-kassel', 'Verein \($0)', 'Verein', '\(essay)');"
        }.joined())
        let report = try await SyncSession(replica: replica, transport: fixture.transport(kassel), limits: SyncLimits(batchChanges: 500, batchBytes: 100_000)).run()
        #expect(report.pushed == 40)
        #expect(report.pushBatches >= 4, "40 rows of ~10 KB do not fit one 100 KB batch")
    }

    /// A refused change is kept and reported, never silently dropped, and does not block the rest.
    @Test func aRefusedChangeIsKeptAndReportedAndTheRestGoesThrough() async throws {
        let fixture = try await Fixture()
        let taken = "2f0d6f5e-0000-4000-8000-000000000001"
        try sqlite3(try fixture.replica(fulda).path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('\(taken)', 'fulda', 'Fulda', 'Verein');")
        _ = try await SyncSession(replica: fixture.replica(fulda), transport: fixture.transport(fulda)).run()
        let replica = try fixture.replica(kassel)
        try sqlite3(replica.path, """
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('\(taken)', 'landkreis-kassel', 'Gleiche ID', 'Verein');
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('eigene', 'landkreis-kassel', 'Eigene', 'Verein');
            """)
        let report = try await SyncSession(replica: replica, transport: fixture.transport(kassel)).run()
        #expect(report.refused.count == 1)
        #expect(report.applied == 1)
        let refused = try #require(try replica.refusals().first)
        #expect(refused.pk == taken)
        #expect(refused.code == "out_of_scope")
        #expect(try replica.status().refused == 1)
        #expect(try replica.status().pending == 0)
        #expect(try readRow(fixture.store.path, "organisations", "eigene") != nil)
    }

    @Test func whenTheLineIsDownTheSessionFailsAndNothingIsLost() async throws {
        let fixture = try await Fixture()
        try fixture.fill(kassel, scale: 30, seed: 2)
        let replica = try fixture.replica(kassel)
        let transport = fixture.transport(kassel)
        transport.failure.value = .unreachable(reason: "Connection refused", curlCode: 7)
        await #expect(throws: SyncError.self) { try await SyncSession(replica: replica, transport: transport).run() }
        #expect(try replica.status().pending == 30)
        let failed = try #require(try replica.status().lastSync)
        #expect(!failed.ok)
        #expect(failed.errorKind == "unreachable")
        #expect(failed.error == "hub unreachable: Connection refused (curl 7)")

        transport.failure.value = nil
        let report = try await SyncSession(replica: replica, transport: transport).run()
        #expect(report.applied == 30)
        #expect(try replica.status().pending == 0)
        #expect(try replica.status().lastSuccessAt != nil)
    }

    /// Invariant 3: interrupted between batches, the next session starts after the last
    /// acknowledged batch and applies nothing twice.
    @Test func anInterruptedSessionResumesAfterTheLastAcknowledgedBatch() async throws {
        let fixture = try await Fixture()
        try fixture.fill(kassel, scale: 300, seed: 3)
        let replica = try fixture.replica(kassel)
        let limits = SyncLimits(batchChanges: 100)
        await #expect(throws: SyncError.self) {
            try await SyncSession(replica: replica, transport: FlakyTransport(fixture.transport(kassel), pushes: 2), limits: limits).run()
        }
        #expect(try replica.status().pending == 100)
        let resumed = try await SyncSession(replica: replica, transport: fixture.transport(kassel), limits: limits).run()
        #expect(resumed.pushed == 100)
        #expect(resumed.duplicates == 0)
        #expect(try count(fixture.store.path, "sync_hub_log") == 42 + 300)
    }

    @Test func conflictRecordsAboutTheCentresRowsAreKeptLocally() async throws {
        let fixture = try await Fixture()
        try fixture.fill(kassel, scale: 20, seed: 4)
        let centre = try fixture.replica(kassel)
        let hmsi = try fixture.replica(Node.hmsi)
        _ = try await SyncSession(replica: centre, transport: fixture.transport(kassel)).run()
        _ = try await SyncSession(replica: hmsi, transport: fixture.transport(Node.hmsi)).run()
        let project = try await DatabaseQueue(path: centre.path).read { try String.fetchOne($0, sql: "SELECT id FROM projects LIMIT 1")! }
        try await openWriter(centre.path, clock: TestClock(millis: SystemClock().nowMillis() + 1000)).write {
            try $0.execute(sql: "UPDATE projects SET title = 'Zentrum' WHERE id = ?", arguments: [project])
        }
        try await openWriter(hmsi.path, clock: TestClock(millis: SystemClock().nowMillis() + 2000)).write {
            try $0.execute(sql: "UPDATE projects SET title = 'HMSI' WHERE id = ?", arguments: [project])
        }
        _ = try await SyncSession(replica: hmsi, transport: fixture.transport(Node.hmsi)).run()
        let report = try await SyncSession(replica: centre, transport: fixture.transport(kassel)).run()
        #expect(report.conflicts == 1)
        #expect(report.conflictRecords == 1)
        let record = try #require(try centre.conflicts(openOnly: true).first)
        #expect(record.loser.value == .text("Zentrum"))
        #expect(try centre.status().openConflicts == 1)

        _ = try await fixture.store.resolve(id: record.id, keep: .winner, by: "referat")
        _ = try await SyncSession(replica: centre, transport: fixture.transport(kassel)).run()
        #expect(try centre.conflicts(openOnly: true).isEmpty)
        #expect(try centre.conflicts().first?.kept == "winner")
    }
}
