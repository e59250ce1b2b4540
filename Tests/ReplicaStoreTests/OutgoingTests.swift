import GRDB
import Foundation
import ReplicaStore
import SampleData
import SyncCore
import SyncTestSupport
import Testing

@Suite("Composing captured changes for the hub, and acknowledgements", .timeLimit(.minutes(5)))
struct OutgoingTests {
    /// What a replica sends, applied elsewhere, reproduces its rows (the push half of invariant 2).
    @Test func sentChangesReproduceTheRowsOnAnotherReplica() throws {
        let directory = try TemporaryDirectory()
        let hmsi = try makeReplica(Node.hmsi, in: directory)
        let centre = try makeReplica(kassel, in: directory)
        let data = SampleData(centre: kassel, seed: 3, scale: 150)
        let writer = try openWriter(hmsi.path)
        try writer.write { db in
            for row in data.rows() { try insert(row.table, pk: row.pk, values: row.values, into: db) }
        }
        try sqlite3(hmsi.path, """
            UPDATE projects SET status = 'laufend', approved_cents = requested_cents WHERE rowid % 3 = 0;
            DELETE FROM deployments WHERE rowid % 4 = 0;
            UPDATE volunteers SET active = 0 WHERE rowid % 5 = 0;
            DELETE FROM volunteers WHERE rowid % 7 = 0;
            INSERT INTO organisations (id, centre_id, name, kind) VALUES ('kurz', 'landkreis-kassel', 'Kurzlebig', 'Verein');
            DELETE FROM organisations WHERE id = 'kurz';
            """)
        var cursor: Int64 = 0
        while true {
            let batch = try hmsi.outgoing(limit: 40)
            cursor += 1
            try centre.applyRemote(batch.changes, cursor: cursor)
            try hmsi.acknowledge(through: batch.lastSeq)
            if !batch.more { break }
        }
        #expect(try hmsi.status().pending == 0)
        #expect(try snapshot(centre.path, versions: false) == snapshot(hmsi.path, versions: false))
        #expect(try count(centre.path, "projects") == data.counts.projects)
    }

    @Test func batchesAreBoundedAndSayWhetherMoreFollow() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try sqlite3(replica.path, (0..<25).map {
            "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o\($0)', 'landkreis-kassel', 'O', 'Verein');"
        }.joined())
        let first = try replica.outgoing(limit: 10)
        #expect(first.changes.count == 10)
        #expect(first.more)
        try replica.acknowledge(through: first.lastSeq)
        let second = try replica.outgoing(limit: 100)
        #expect(second.changes.count == 15)
        #expect(!second.more)
        #expect(second.changes.first?.seq == first.lastSeq + 1)
    }

    @Test func acknowledgedEntriesLeaveTheLogAndSequenceNumbersAreNeverReused() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try sqlite3(replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('a', 'landkreis-kassel', 'A', 'Verein');")
        let batch = try replica.outgoing(limit: 10)
        try replica.acknowledge(through: batch.lastSeq)
        #expect(try replica.status().pending == 0)
        #expect(try replica.outgoing(limit: 10).changes.isEmpty)
        try sqlite3(replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('b', 'landkreis-kassel', 'B', 'Verein');")
        let next = try replica.outgoing(limit: 10)
        #expect(next.changes.map(\.pk) == ["b"])
        #expect(try #require(next.changes.first).seq > batch.lastSeq)
    }
}
