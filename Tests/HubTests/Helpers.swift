import Foundation
import GRDB
import HubStore
import HummingbirdTesting
import ReplicaStore
import SampleData
import SyncCore
import SyncStore
import SyncTestSupport

/// Writes generated sample data into a centre's replica through an ordinary connection.
func fill(_ replica: Replica, centre: String, scale: Int, seed: UInt64) throws {
    let writer = try openWriter(replica.path)
    try writer.write { db in
        for row in SampleData(centre: centre, seed: seed, scale: scale).rows() {
            try insert(row.table, pk: row.pk, values: row.values, into: db)
        }
    }
}

/// Kassel's generated rows (`seed`) pushed and pulled by HMSI too; returns one of Kassel's projects.
func sharedProject(_ harness: HubHarness, client: some TestClientProtocol, seed: UInt64) async throws -> String {
    try fill(harness.replica(kassel), centre: kassel, scale: 20, seed: seed)
    try await client.sync(harness.replica(kassel), token: harness.token(kassel))
    try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
    return try someProject(harness.replica(kassel), centre: kassel)
}

/// Edits a replica through an ordinary connection whose wall clock is `offset` ms from now.
func edit(_ replica: Replica, _ sql: String, offset: Int64) throws {
    let writer = try openWriter(replica.path, clock: TestClock(millis: SystemClock().nowMillis() + offset))
    try writer.write { db in try db.execute(sql: sql) }
}

/// The primary key of some project of a centre in a replica.
func someProject(_ replica: Replica, centre: String) throws -> String {
    try openWriter(replica.path).read { db in
        try String.fetchOne(db, sql: "SELECT id FROM projects WHERE centre_id = ? ORDER BY id LIMIT 1", arguments: [centre])!
    }
}

/// A hand-made change, as a (possibly hostile) client would send it.
func change(
    _ op: Change.Op, _ table: String, _ pk: String, _ values: [String: Value] = [:], seq: Int64, origin: String,
    centre: String?, hlc: HLC = HLC(millis: SystemClock().nowMillis()), seen: Int64 = 0
) -> Change {
    Change(seq: seq, table: table, pk: pk, op: op, centre: centre, values: values, hlc: hlc, origin: origin, seen: seen)
}


extension Replica {
    /// The replica's next batch as the push body a sync would send (protocol 2; the replica
    /// must have had a session).
    func pushRequest(limit: Int = 1000) throws -> PushRequest {
        let batch = try outgoing(limit: limit)
        return PushRequest(
            replicaID: try status().origin, lastSeq: batch.lastSeq, changes: batch.changes, after: batch.after,
            chains: Fingerprint.pack(batch.chains))
    }
}
