import Foundation
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("The replica's conflict mirror")
struct ConflictMirrorTests {
    /// After a hub restore the hub may find two mirrored records to be one race (recorded
    /// before the backup under one id, lost, and recorded again under another): it maps both
    /// to one id. Taking its ids over keeps one record under that id; it used to fail with
    /// "UNIQUE constraint failed: sync_conflicts.id" (long recovery fuzz, seed 732854), every sync.
    @Test func twoMirroredRecordsOfOneRaceTakeOverOneIdOfTheHub() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let winner = ConflictSide(value: .text("HMSI"), origin: "hmsi.00000001", hlc: HLC(millis: 2_000))
        let loser = ConflictSide(value: .text("Zentrum"), origin: "landkreis-kassel.00000002", hlc: HLC(millis: 1_000))
        let records = [3, 7, 8].map { id in
            ConflictRecord(id: Int64(id), table: "projects", pk: "p\(id == 8 ? 8 : 1)", centre: kassel, column: "title", winner: winner, loser: loser, recordedAt: 1)
        }
        try replica.applyRemote([], conflicts: records, cursor: 0)
        try replica.renumberConflicts([.init(old: 3, new: 9), .init(old: 7, new: 9), .init(old: 8, new: 3)])
        let mirrored = try replica.conflicts()
        #expect(mirrored.map(\.id).sorted() == [3, 9])
        #expect(mirrored.first { $0.id == 3 }?.pk == "p8")
        #expect(mirrored.first { $0.id == 9 }?.pk == "p1")
    }
}
