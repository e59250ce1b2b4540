import CentreSync
import Foundation
import HubStore
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 8: erasure (DSGVO Art. 17) reaches every copy; here its rules, with the
/// in-memory transport. Tests/WirsyncCLITests/ErasureEndToEndTests.swift scans the files.
@Suite("Invariant 8 — erasure: who may erase, and an erased row stays erased", .timeLimit(.minutes(5)))
struct ErasureTests {
    private let volunteer = """
        INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone)
        VALUES ('v-1', '\(kassel)', 'Integrationslotse', 'Erasmus', 'Loeschbar', 'de,fa', 'keine', '0561 5550001');
        """

    private func sync(_ replica: Replica, _ fixture: Fixture, as node: String = kassel) async throws -> SyncReport {
        try await SyncSession(replica: replica, transport: fixture.transport(node)).run()
    }

    private func refusal(_ body: () async throws -> Erasure) async -> (status: Int, code: String)? {
        do {
            _ = try await body()
            return nil
        } catch let TransportError.hub(status, code, _) {
            return (status, code)
        } catch {
            return (0, "\(error)")
        }
    }

    @Test(arguments: StoreKind.tested) func aCentreErasesOnlyItsOwnRowsAndEveryRefusalChangesNothing(store: StoreKind) async throws {
        let fixture = try await Fixture(store: store)
        let replica = try fixture.replica(kassel)
        _ = try sqlite3(replica.path, volunteer)
        _ = try await sync(replica, fixture)
        let origin = try replica.status().origin
        let before = try await snapshot(store: fixture.store, tables: ["volunteers"])

        func erase(_ table: String, _ pk: String, as node: String = kassel, reason: String = "Antrag 2026-17") async -> (status: Int, code: String)? {
            await refusal { try await fixture.transport(node).erase(EraseRequest(table: table, pk: pk, reason: reason), origin: origin) }
        }
        #expect(await erase("volunteers", "v-1", as: fulda)! == (403, "forbidden"), "another centre's row")
        #expect(await erase("centres", kassel)! == (403, "forbidden"), "reference data is HMSI's to erase")
        #expect(await erase("volunteer", "v-1")! == (400, "unknown_table"))
        #expect(await erase("volunteers", "v-2")! == (404, "no_such_row"))
        #expect(await erase("volunteers", "v-1", reason: "  ")! == (400, "invalid_reason"))
        #expect(try await snapshot(store: fixture.store, tables: ["volunteers"]) == before, "a refused erasure changes nothing")
        #expect(try await count(store: fixture.store, "sync_hub_audit") == 0)

        #expect(await erase("volunteers", "v-1") == nil)
        #expect(await erase("volunteers", "v-1")! == (409, "already_erased"))
        let audit = try await fixture.store.auditEntries()
        #expect(audit.count == 1 && audit[0].action == "erase" && audit[0].pk == "v-1" && audit[0].detail == "Antrag 2026-17")
        #expect(audit[0].actor == "\(kassel) (\(origin))")
        #expect(try await count(store: fixture.store, "volunteers") == 0)
        #expect(try await count(store: fixture.store, "sync_cols") == 0)
    }

    @Test(arguments: StoreKind.tested) func anErasedRowIsNeverWrittenAgainAndEveryReplicaLosesItsCopies(store: StoreKind) async throws {
        let fixture = try await Fixture(store: store)
        let (desk, laptop) = (try fixture.replica(kassel), try makeReplica(kassel, in: fixture.directory, file: "laptop"))
        _ = try sqlite3(desk.path, volunteer)
        _ = try await sync(desk, fixture)
        _ = try await sync(laptop, fixture)
        // A race over the phone: the hub records the loser, and both replicas mirror the record.
        _ = try sqlite3(laptop.path, "UPDATE volunteers SET phone = '0561 5550002' WHERE id = 'v-1';")
        _ = try sqlite3(desk.path, "UPDATE volunteers SET phone = '0561 5550003' WHERE id = 'v-1';")
        _ = try await sync(laptop, fixture)
        #expect(try await sync(desk, fixture).conflicts == 1)
        _ = try await sync(laptop, fixture)
        // The laptop writes the row again before it hears of the erasure.
        _ = try sqlite3(laptop.path, "UPDATE volunteers SET family_name = 'Noch-Da' WHERE id = 'v-1';")

        let erasure = try await fixture.store.erase(
            table: "volunteers", pk: "v-1", reason: "Antrag 2026-18", by: "referat-iv", caller: Caller(centre: Node.hmsi, token: 0))
        #expect(erasure.conflicts == 1 && erasure.centre == kassel)
        let record = try #require(try await fixture.store.conflicts().first)
        #expect(record.winner.value == .null && record.loser.value == .null && record.resolvedBy == "erasure")

        let report = try await sync(laptop, fixture)
        #expect(report.refused.map(\.code) == ["erased"], "the laptop's later write is refused, not applied")
        #expect(report.erased == 1)
        #expect(try await sync(desk, fixture).erased == 1)
        for replica in [laptop, desk] {
            #expect(try sqlite3(replica.path, "SELECT count(*) FROM volunteers; SELECT count(*) FROM sync_cols; SELECT count(*) FROM sync_stash;") == "0\n0\n0\n")
            #expect(try sqlite3(replica.path, "SELECT count(*) FROM sync_conflicts WHERE erased_at IS NOT NULL AND winner_value IS NULL AND loser_value IS NULL;") == "1\n")
        }
        #expect(try await count(store: fixture.store, "volunteers") == 0, "the refused write did not bring it back")

        // A new replica, and a replica of wirsync 1, learn the delete and nothing else.
        let fresh = try await fixture.transport(kassel).pull(after: 0, limit: 5000, origin: nil)
        let changes = fresh.changes.filter { $0.pk == "v-1" }
        #expect(changes.map(\.op) == [.delete] && changes[0].values.isEmpty && changes[0].origin == Node.hub)
        #expect(fresh.erased == [RowKey(table: "volunteers", pk: "v-1")])
    }
}
