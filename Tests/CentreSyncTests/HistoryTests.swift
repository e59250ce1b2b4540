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
@Suite("Invariant 2 — history: one live entry per row, no values in the hub's log", .timeLimit(.minutes(5)))
struct HistoryTests {
    private func sync(_ replica: Replica, _ fixture: Fixture) async throws {
        _ = try await SyncSession(replica: replica, transport: fixture.transport(kassel)).run()
    }

    private func logCount(_ fixture: Fixture, _ condition: String) async throws -> Int {
        try await count(store: fixture.store, "sync_hub_log", where: condition)
    }

    /// The changes of a pull from the start (as a new replica's first one) that name `pk`.
    private func firstPull(_ fixture: Fixture, pk: String? = nil, table: String? = nil) async throws -> [Change] {
        let page = try await fixture.transport(kassel).pull(after: 0, limit: 5000, origin: nil)
        #expect(!page.more)
        return page.changes.filter { (pk == nil || $0.pk == pk) && (table == nil || $0.table == table) }
    }

    /// Kassel's desk PC and laptop; the desk has written o-1 … o-3 and synced.
    private func deskAndLaptopOfThreeOrganisations(_ store: StoreKind) async throws -> (Fixture, Replica, Replica) {
        let fixture = try await Fixture(store: store)
        let (desk, laptop) = (try fixture.replica(kassel), try makeReplica(kassel, in: fixture.directory, file: "laptop"))
        _ = try sqlite3(desk.path, (1...3).map {
            "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-\($0)', '\(kassel)', 'Verein \($0)', 'Verein');"
        }.joined())
        try await sync(desk, fixture)
        return (fixture, desk, laptop)
    }

    @Test(arguments: StoreKind.tested) func aDeletedVolunteersValuesAreInNoLogEntryAndANewReplicaGetsOnlyTheDelete(store: StoreKind) async throws {
        let fixture = try await Fixture(store: store)
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

        #expect(try await logCount(fixture, "body IS NOT NULL") == 0, "the log holds no values")
        #expect(try await logCount(fixture, "pk = 'v-1'") == 1, "the row's superseded entries are gone: every replica pulled past them")
        let changes = try await firstPull(fixture, pk: "v-1")
        #expect(changes.map(\.op) == [.delete], "a new replica learns of the delete, and of none of the person's values")
        #expect(changes.allSatisfy { $0.values.isEmpty })
    }

    @Test(arguments: StoreKind.tested) func aNewReplicasFirstSyncCostsTheLiveRowsNotTheirHistory(store: StoreKind) async throws {
        let fixture = try await Fixture(store: store)
        let replica = try fixture.replica(kassel)
        _ = try sqlite3(replica.path, (1...20).map {
            "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-\($0)', '\(kassel)', 'Verein \($0)', 'Verein');"
        }.joined())
        try await sync(replica, fixture)
        for round in 1...30 {
            _ = try sqlite3(replica.path, "UPDATE organisations SET city = 'Ort \(round)';")
            try await sync(replica, fixture)
        }
        #expect(try await logCount(fixture, "tbl = (SELECT id FROM sync_tables WHERE name = 'organisations')") == 20)

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

    @Test(arguments: StoreKind.tested) func aReplicaThatHasNotPulledHoldsCompactionBackAndTheStatusNamesIt(store: StoreKind) async throws {
        let fixture = try await Fixture(store: store)
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
    @Test(arguments: StoreKind.tested) func aFilePutBackWhoseCursorEntryWasCompactedIsNotTakenForAHubRestore(store: StoreKind) async throws {
        let fixture = try await Fixture(store: store)
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
        #expect(try await logCount(fixture, "seq = \(cursor)") == 0, "the entry at the copy's cursor was compacted")

        // The copy stands for the PC put back from it: the original is not used again.
        let restored = try Replica.open(path: copy)
        try await sync(restored, fixture)
        #expect(try await fixture.store.status().restore == nil, "no restore of the hub is reported")
        #expect(try restored.status().lastRecovery?.kind != .hubRestored)
        #expect(try readRow(copy, "organisations", "o-1")?["city"] == .text("Ort 3"))
    }

    /// Issue 14, 2: a laptop in a cupboard for months, revoked meanwhile, then provisioned
    /// again. The deletes it never pulled were collected, so it cannot learn them as deletes:
    /// the hub tells it to re-sync, it keeps its pending writes, and its update of a row deleted
    /// meanwhile is recorded like any update against a delete. The row does not come back.
    @Test(arguments: StoreKind.tested) func aReplicaBackAfterItsDeletesWereCollectedResyncsAndItsUpdateOfADeletedRowIsRecorded(store: StoreKind) async throws {
        let (fixture, desk, laptop) = try await deskAndLaptopOfThreeOrganisations(store)
        let cupboard = InMemoryTransport(store: fixture.store, token: try await fixture.store.addReplicaToken(kassel, label: "laptop"))
        _ = try await SyncSession(replica: laptop, transport: cupboard).run()
        // Offline, the laptop edits o-1 and adds o-9; then it goes into the cupboard, and HMSI cuts it off.
        _ = try sqlite3(laptop.path, """
            UPDATE organisations SET city = 'Offline-Ort' WHERE id = 'o-1';
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-9', '\(kassel)', 'Neu im Schrank', 'Verein');
            """)
        _ = try await fixture.store.revokeReplica(try laptop.status().origin)
        _ = try sqlite3(desk.path, "DELETE FROM organisations WHERE id IN ('o-1', 'o-2'); UPDATE organisations SET city = 'Kassel' WHERE id = 'o-3';")
        try await sync(desk, fixture)
        _ = try await fixture.store.setRetention(Retention(tombstoneDays: 0, resolvedConflictDays: 365, conflictRecordsMax: 100_000), by: "test")
        try await sync(desk, fixture)
        #expect(try await logCount(fixture, "pk IN ('o-1', 'o-2')") == 0, "both tombstones were collected")
        #expect(try await count(store: fixture.store, "sync_rows", where: "pk IN ('o-1', 'o-2')") == 0)

        let token = try await fixture.store.addReplicaToken(kassel, label: "laptop, again")
        let report = try await SyncSession(replica: laptop, transport: InMemoryTransport(store: fixture.store, token: token)).run()
        #expect(report.recovery?.contains("re-synced") == true, "\(report)")
        #expect(report.resyncRemoved == 2, "o-1 and o-2 were deleted at the hub")
        #expect(report.conflicts == 1, "its update of o-1 is recorded against the collected delete")
        let record = try #require(try await fixture.store.conflicts().first { $0.pk == "o-1" })
        #expect(record.winner.value == .null && record.winner.origin == Node.hub && record.loser.value == .text(#"{"city":"Offline-Ort"}"#))
        #expect(try await readRow(store: fixture.store, "organisations", "o-1") == nil, "a deleted row never comes back silently")
        #expect(try await readRow(store: fixture.store, "organisations", "o-9") != nil, "its pending insert reached the hub")
        try await sync(desk, fixture)
        #expect(try snapshot(laptop.path, versions: false) == snapshot(desk.path, versions: false))
        let hub = try await snapshot(store: fixture.store, versions: false, centre: kassel)
        #expect(try snapshot(laptop.path, versions: false) == hub)
    }

    /// Issue 14, 4: a resolved conflict record goes after `resolved-conflict-days`, and the
    /// oldest resolved ones beyond `conflict-records-max`, once every replica pulled their
    /// announcements; an open one stays whatever the settings.
    @Test(arguments: StoreKind.tested) func resolvedConflictRecordsGoByTheRetentionSettingsAndOpenOnesStay(store: StoreKind) async throws {
        let (fixture, desk, laptop) = try await deskAndLaptopOfThreeOrganisations(store)
        try await sync(laptop, fixture)
        _ = try sqlite3(laptop.path, "UPDATE organisations SET city = 'Laptop';")
        _ = try sqlite3(desk.path, "UPDATE organisations SET city = 'Desk';")
        try await sync(laptop, fixture)
        try await sync(desk, fixture)
        let records = try await fixture.store.conflicts().sorted { $0.id < $1.id }
        #expect(records.count == 3)
        for record in records.prefix(2) { _ = try await fixture.store.resolve(id: record.id, keep: .winner, by: "referat-iv") }
        let announced = "conflict IN (\(records.prefix(2).map { String($0.id) }.joined(separator: ", ")))"

        // Within the defaults every record stays; over the count, the oldest resolved one goes.
        for replica in [desk, laptop, desk] { try await sync(replica, fixture) }
        #expect(try await fixture.store.conflicts().count == 3)
        _ = try await fixture.store.setRetention(Retention(tombstoneDays: 30, resolvedConflictDays: 365, conflictRecordsMax: 1), by: "test")
        try await sync(desk, fixture)
        #expect(try await fixture.store.conflicts().map(\.id).sorted() == [records[1].id, records[2].id])
        _ = try await fixture.store.setRetention(Retention(tombstoneDays: 30, resolvedConflictDays: 0, conflictRecordsMax: 100_000), by: "test")
        try await sync(desk, fixture)
        #expect(try await fixture.store.conflicts().count == 2, "the laptop's cursor is the last announcement: it stays until the laptop pulls past it")
        _ = try sqlite3(desk.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o-4', '\(kassel)', 'Verein 4', 'Verein');")
        for replica in [desk, laptop, desk] { try await sync(replica, fixture) }
        #expect(try await fixture.store.conflicts().map(\.id) == [records[2].id], "the open record stays")
        #expect(try await logCount(fixture, announced) == 0, "their announcements went with them")
        #expect(try await fixture.store.auditEntries().filter { $0.action == "retention" }.count == 2)
    }
}
