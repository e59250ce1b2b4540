import Foundation
import GRDB
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Applying remote changes: column LWW, delete register, cursor in the same transaction")
struct ApplyTests {
    @Test func eachColumnKeepsItsNewestWrite() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try replica.applyRemote([
            remote(.insert, "organisations", "o1", organisation("Alt", city: "Kassel"), at: 100),
            remote(.update, "organisations", "o1", ["name": .text("Neu")], at: 300),
            remote(.update, "organisations", "o1", ["name": .text("Älter"), "city": .text("Baunatal")], at: 200, by: kassel),
        ], cursor: 3)
        let row = try #require(try readRow(replica.path, "organisations", "o1"))
        #expect(row["name"] == .text("Neu"), "the update at 300 beats the one at 200")
        #expect(row["city"] == .text("Baunatal"), "the update at 200 beats the insert at 100")
        #expect(try replica.status().cursor == 3)
    }

    @Test func equalClocksBreakTiesByOriginTheSameWayInEveryOrder() throws {
        let directory = try TemporaryDirectory()
        let changes = [
            remote(.insert, "organisations", "o1", organisation("Start"), at: 100),
            remote(.update, "organisations", "o1", ["name": .text("von HMSI")], at: 200, by: "hmsi"),
            remote(.update, "organisations", "o1", ["name": .text("vom Zentrum")], at: 200, by: kassel),
        ]
        let forward = try makeReplica(kassel, in: directory, file: "forward.db")
        let backward = try makeReplica(kassel, in: directory, file: "backward.db")
        try forward.applyRemote(changes, cursor: 1)
        try backward.applyRemote([changes[0], changes[2], changes[1]], cursor: 1)
        #expect(try readRow(forward.path, "organisations", "o1")?["name"] == .text("vom Zentrum"), "landkreis-kassel > hmsi")
        #expect(try snapshot(forward.path) == snapshot(backward.path))
    }

    /// The engine reads and writes its per-change statements through SQLite's C API
    /// (`RawStatement`); a text with NUL characters and non-ASCII letters survives every leg:
    /// the domain write, the ghost a delete keeps in `sync_cols`, and the re-insert from it.
    @Test func textWithNULAndNonASCIIArrivesByteForByteThroughTheGhostOfADelete() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let text = "\u{0}vor – Größe 👍 \u{0} مرحبا\u{0}"
        // Read back as hex by SQLite itself: GRDB's String reading stops at the first NUL.
        let expected = text.utf8.map { String(format: "%02X", $0) }.joined()
        func stored() throws -> String? {
            try DatabaseQueue(path: replica.path).read { db in try String.fetchOne(db, sql: "SELECT hex(name) FROM organisations WHERE id = 'o1'") }
        }
        try replica.applyRemote([
            remote(.insert, "organisations", "o1", organisation("Start"), at: 100),
            remote(.update, "organisations", "o1", ["name": .text(text)], at: 400),
        ], cursor: 2)
        #expect(try stored() == expected)
        try replica.applyRemote([remote(.delete, "organisations", "o1", at: 300, by: kassel)], cursor: 3)
        #expect(try stored() == nil)
        try replica.applyRemote([remote(.insert, "organisations", "o1", organisation("Wieder da"), at: 350, by: kassel)], cursor: 4)
        #expect(try stored() == expected, "the update at 400 comes back from its ghost")
    }

    /// `verify` compares digests: two replicas whose texts differ only after a NUL
    /// character must not digest alike.
    @Test func theDigestSeesEveryByteOfATextPastANUL() throws {
        let directory = try TemporaryDirectory()
        func digest(_ name: String, file: String) throws -> String? {
            let replica = try makeReplica(kassel, in: directory, file: file)
            try replica.applyRemote([remote(.insert, "organisations", "o1", organisation(name), at: 100)], cursor: 1)
            return try replica.digest()["organisations"]?.sha256
        }
        let first = try digest("Verein\u{0}Kassel", file: "first.db")
        #expect(first == (try digest("Verein\u{0}Kassel", file: "same.db")))
        #expect(first != (try digest("Verein\u{0}Fulda", file: "other.db")))
    }

    @Test func aDeleteAndAConcurrentUpdateConvergeInBothOrders() throws {
        let directory = try TemporaryDirectory()
        let insert = remote(.insert, "organisations", "o1", organisation("Start"), at: 100)
        let delete = remote(.delete, "organisations", "o1", at: 300, by: kassel)
        let olderUpdate = remote(.update, "organisations", "o1", ["city": .text("Kassel")], at: 200)
        let newerUpdate = remote(.update, "organisations", "o1", ["name": .text("Nach dem Löschen")], at: 400)
        let first = try makeReplica(kassel, in: directory, file: "first.db")
        let second = try makeReplica(kassel, in: directory, file: "second.db")
        try first.applyRemote([insert, olderUpdate, newerUpdate, delete], cursor: 4)
        try second.applyRemote([insert, delete], cursor: 2)
        try second.applyRemote([newerUpdate, olderUpdate], cursor: 4)
        #expect(try readRow(first.path, "organisations", "o1") == nil, "the delete register wins; updates do not resurrect")
        #expect(try snapshot(first.path) == snapshot(second.path))

        let reinsert = remote(.insert, "organisations", "o1", organisation("Wieder da"), at: 350, by: kassel)
        try first.applyRemote([reinsert], cursor: 5)
        try second.applyRemote([reinsert], cursor: 5)
        let row = try #require(try readRow(first.path, "organisations", "o1"))
        #expect(row["name"] == .text("Nach dem Löschen"), "the update at 400 is newer than the re-insert at 350")
        #expect(row["city"] == .null, "the update at 200 lost to the delete and the re-insert")
        #expect(try snapshot(first.path) == snapshot(second.path))
    }

    @Test func appliedChangesAreNotCapturedAgain() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try replica.applyRemote([
            remote(.insert, "funding_lines", "neu", [
                "name": .text("Neu"), "name_en": .text("New"), "max_share": .integer(1), "max_amount_eur": .null, "basis": .text("test"),
            ], at: 100),
            remote(.insert, "organisations", "o1", organisation("A"), at: 100),
            remote(.update, "organisations", "o1", ["city": .text("Hofgeismar")], at: 200),
            remote(.delete, "organisations", "o1", at: 300),
        ], cursor: 4)
        #expect(try capturedChanges(directory.path("\(kassel).db")).isEmpty)
        #expect(try replica.status().pending == 0)
        #expect(try readRow(replica.path, "funding_lines", "neu")?["max_share"] == .real(1), "an integer for a REAL column is stored as a real")
    }

    @Test func aFailureMidBatchLeavesNeitherDataNorCursor() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try replica.applyRemote([remote(.insert, "organisations", "o0", organisation("Vorher"), at: 50)], cursor: 7)
        let before = try snapshot(replica.path)
        #expect(throws: ReplicaError.self) {
            try replica.applyRemote([
                remote(.insert, "organisations", "o1", organisation("A"), at: 100),
                remote(.update, "organisations", "o0", ["name": .text("B")], at: 200),
                remote(.update, "organisations", "o1", ["no_such_column": .text("x")], at: 300),
            ], cursor: 10)
        }
        #expect(try snapshot(replica.path) == before)
        #expect(try replica.status().cursor == 7)
    }

    @Test func theCursorNeverMovesBack() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try replica.applyRemote([], cursor: 9)
        #expect(throws: ReplicaError.self) {
            try replica.applyRemote([remote(.insert, "organisations", "o1", organisation("A"), at: 100)], cursor: 8)
        }
        #expect(try count(replica.path, "organisations") == 0)
    }

    @Test func theSameBatchTwiceChangesNothingTheSecondTime() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let batch = [
            remote(.insert, "organisations", "o1", organisation("A"), at: 100),
            remote(.update, "organisations", "o1", ["city": .text("Wolfhagen")], at: 200),
        ]
        let first = try replica.applyRemote(batch, cursor: 2)
        let afterFirst = try snapshot(replica.path)
        let second = try replica.applyRemote(batch, cursor: 2)
        #expect(first.applied == 2)
        #expect(second.duplicates == 2)
        #expect(try snapshot(replica.path) == afterFirst)
    }

    /// Invariant 4 (no silent loss), replica side: a local value a remote change overwrote
    /// before it was pushed still reaches the hub, where the conflict is recorded.
    @Test func aPendingLocalValueThatLosesIsStillSent() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let clock = TestClock(millis: 1_790_000_000_000)
        try replica.applyRemote([remote(.insert, "organisations", "o1", organisation("Start"), at: 1_789_000_000_000)], cursor: 1)
        let writer = try openWriter(replica.path, clock: clock)
        try writer.write { db in try db.execute(sql: "UPDATE organisations SET name = 'Lokal' WHERE id = 'o1'") }
        try replica.applyRemote(
            [remote(.update, "organisations", "o1", ["name": .text("HMSI")], at: 1_790_000_000_000 + 60_000, seq: 2)],
            cursor: 2)
        #expect(try readRow(replica.path, "organisations", "o1")?["name"] == .text("HMSI"))
        let batch = try replica.outgoing(limit: 10)
        #expect(batch.changes.count == 1)
        #expect(batch.changes.first?.values == ["name": .text("Lokal")])
        #expect(batch.changes.first?.hlc.millis == 1_790_000_000_000)
        #expect(batch.changes.first?.seen == 1)
        try replica.acknowledge(through: batch.lastSeq)
        #expect(try count(replica.path, "sync_stash") == 0)
    }

    /// A remote delete can reach a row whose insert the hub has, but whose acknowledgement was
    /// lost; the pending insert and its later update are still sent, with every value.
    @Test func aPendingInsertARemoteDeleteRemovedIsStillSentWhole() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let clock = TestClock(millis: 1_790_000_000_000)
        let writer = try openWriter(replica.path, clock: clock)
        try writer.write { db in try insert("organisations", pk: "o1", values: organisation("Erst", city: "Kassel"), into: db) }
        clock.advance(by: 1)
        try writer.write { db in try db.execute(sql: "UPDATE organisations SET name = 'Später' WHERE id = 'o1'") }
        try replica.applyRemote([remote(.delete, "organisations", "o1", at: 1_790_000_000_000 + 10)], cursor: 1)
        #expect(try readRow(replica.path, "organisations", "o1") == nil)

        let batch = try replica.outgoing(limit: 10)
        #expect(batch.changes.map(\.op) == [.insert, .update])
        #expect(batch.changes.first?.values["name"] == .text("Später"))
        #expect(batch.changes.first?.values["city"] == .text("Kassel"))
        #expect(batch.changes.last?.values == ["name": .text("Später")])
    }
}
