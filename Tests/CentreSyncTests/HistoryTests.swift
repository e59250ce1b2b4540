import CentreSync
import Foundation
import HubStore
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

/// The hub's log keeps what some replica can still need: one live entry per row, without
/// values; superseded entries go once every provisioned replica has pulled past them
/// (docs/history-and-erasure.md). Invariant 2 holds through it: a new replica gets each
/// row as it is, and ends equal to the hub.
@Suite("Invariant 2 — history: one live entry per row, no values in the hub's log", .timeLimit(.minutes(2)))
struct HistoryTests {
    private func sync(_ replica: Replica, _ fixture: Fixture) async throws {
        _ = try await SyncSession(replica: replica, transport: fixture.transport(kassel)).run()
    }

    private func logCount(_ fixture: Fixture, _ condition: String) throws -> Int {
        Int(try sqlite3(fixture.store.path, "SELECT count(*) FROM sync_hub_log WHERE \(condition);").trimmingCharacters(in: .whitespacesAndNewlines))!
    }

    /// The changes of a pull from the start (as a new replica's first one) that name `pk`.
    private func firstPull(_ fixture: Fixture, pk: String? = nil, table: String? = nil) async throws -> [Change] {
        let page = try await fixture.transport(kassel).pull(after: 0, limit: 5000, origin: nil)
        #expect(!page.more)
        return page.changes.filter { (pk == nil || $0.pk == pk) && (table == nil || $0.table == table) }
    }

    @Test func aDeletedVolunteersValuesAreInNoLogEntryAndANewReplicaGetsOnlyTheDelete() async throws {
        let fixture = try await Fixture()
        let replica = try fixture.replica(kassel)
        _ = try sqlite3(replica.path, """
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone)
            VALUES ('v-1', '\(kassel)', 'Laiendolmetschende', 'Zerrin', 'Distinktiv-Yilmaz', 'de,tr,ku', 'keine', '0561 9876543');
            """)
        try await sync(replica, fixture)
        _ = try sqlite3(replica.path, "UPDATE volunteers SET phone = '0561 1234567' WHERE id = 'v-1';")
        try await sync(replica, fixture)
        _ = try sqlite3(replica.path, "DELETE FROM volunteers WHERE id = 'v-1';")
        try await sync(replica, fixture)

        #expect(try logCount(fixture, "body IS NOT NULL") == 0, "the log holds no values")
        #expect(try logCount(fixture, "pk = 'v-1'") == 1, "the row's superseded entries are gone: every replica pulled past them")
        let changes = try await firstPull(fixture, pk: "v-1")
        #expect(changes.map(\.op) == [.delete], "a new replica learns of the delete, and of none of the person's values")
        #expect(changes.allSatisfy { $0.values.isEmpty })
    }

    @Test func aNewReplicasFirstSyncCostsTheLiveRowsNotTheirHistory() async throws {
        let fixture = try await Fixture()
        let replica = try fixture.replica(kassel)
        _ = try sqlite3(replica.path, (1...20).map {
            "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-\($0)', '\(kassel)', 'Verein \($0)', 'Verein');"
        }.joined())
        try await sync(replica, fixture)
        for round in 1...30 {
            _ = try sqlite3(replica.path, "UPDATE organisations SET city = 'Ort \(round)';")
            try await sync(replica, fixture)
        }
        #expect(try logCount(fixture, "tbl = (SELECT id FROM sync_tables WHERE name = 'organisations')") == 20)

        // Each row: its city as an update of the last round's version, then its insert.
        let changes = try await firstPull(fixture, table: "organisations")
        #expect(changes.count == 40, "620 changes were applied; a first sync costs the 20 rows")
        let updates = changes.filter { $0.op == .update }
        #expect(updates.count == 20 && updates.allSatisfy { $0.values == ["city": .text("Ort 30")] })

        let laptop = try makeReplica(kassel, in: fixture.directory, file: "laptop")
        try await sync(laptop, fixture)
        #expect(try snapshot(laptop.path, versions: false) == snapshot(replica.path, versions: false))
        #expect(try snapshot(laptop.path, tables: []) == snapshot(replica.path, tables: []), "the same versions of every column too")
    }

    @Test func aReplicaThatHasNotPulledHoldsCompactionBackAndTheStatusNamesIt() async throws {
        let fixture = try await Fixture()
        let (desk, laptop) = (try fixture.replica(kassel), try makeReplica(kassel, in: fixture.directory, file: "laptop"))
        _ = try sqlite3(desk.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-1', '\(kassel)', 'Kulturverein', 'Verein');")
        try await sync(desk, fixture)
        try await sync(laptop, fixture)
        for round in 1...5 {
            _ = try sqlite3(desk.path, "UPDATE organisations SET city = 'Ort \(round)';")
            try await sync(desk, fixture)
        }
        let held = try await fixture.store.status().history
        #expect(held.superseded == 5, "the laptop's cursor lies before them")
        #expect(held.slowest?.origin == (try laptop.status().origin))

        try await sync(laptop, fixture)
        #expect(try await fixture.store.status().history.superseded == 0)
        #expect(try readRow(laptop.path, "organisations", "o-1")?["city"] == .text("Ort 5"))
    }

    /// A PC put back from last week's copy has a cursor whose entry a later write to the same
    /// row superseded, and which compaction removed: the hub was not restored, and must not say so.
    @Test func aFilePutBackWhoseCursorEntryWasCompactedIsNotTakenForAHubRestore() async throws {
        let fixture = try await Fixture()
        let replica = try fixture.replica(kassel)
        _ = try sqlite3(replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-1', '\(kassel)', 'Kulturverein', 'Verein');")
        try await sync(replica, fixture)
        let copy = fixture.directory.path("last-week.db")
        _ = try replica.backup(to: copy)
        let cursor = try replica.status().cursor
        for round in 1...3 {
            _ = try sqlite3(replica.path, "UPDATE organisations SET city = 'Ort \(round)';")
            try await sync(replica, fixture)
        }
        #expect(try logCount(fixture, "seq = \(cursor)") == 0, "the entry at the copy's cursor was compacted")

        // The copy stands for the PC put back from it: the original is not used again.
        let restored = try Replica.open(path: copy)
        try await sync(restored, fixture)
        #expect(try await fixture.store.status().restore == nil, "no restore of the hub is reported")
        #expect(try restored.status().lastRecovery?.kind != .hubRestored)
        #expect(try readRow(copy, "organisations", "o-1")?["city"] == .text("Ort 3"))
    }
}
