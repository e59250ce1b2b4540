import GRDB
import SyncCore
import SyncStore

/// A change the hub itself makes: a reference fixture, or a conflict's loser kept.
struct HubWrite: Sendable {
    var op: Change.Op
    var table: String
    var pk: String
    var centre: String?
    var values: [String: Value]
}

extension HubStore {
    func writeAsHub(_ writes: [HubWrite]) async throws(HubError) {
        let now = clock.nowMillis()
        try await write { db in try self.writeAsHub(writes, db: db, now: now) }
    }

    /// Stamps the writes with fresh clocks from the node `hub` and merges them like any
    /// pushed change. They have seen the whole hub log, so they conflict with nothing.
    func writeAsHub(_ writes: [HubWrite], db: any SQLSession, now: Int64) throws {
        var hlc = HLC(rawValue: try Int64.fetchOne(db, sql: "SELECT hlc FROM sync_hub_state")!)
        let seen = try Self.nextSeq(db, now: now) - 1
        let changes = writes.enumerated().map { index, write in
            hlc = HLC.next(after: hlc, wallMillis: now)
            return Change(
                seq: Int64(index + 1), table: write.table, pk: write.pk, op: write.op, centre: write.centre,
                values: write.values, hlc: hlc, origin: Self.origin, seen: seen)
        }
        let result = try apply(changes, scope: ScopeRule(centre: nil, reference: true), in: db, now: now)
        if let refusal = result.refused.first {
            throw HubError.cannotResolve("the hub's own change was refused: \(refusal.message)")
        }
        try db.execute(sql: "UPDATE sync_hub_state SET hlc = ?", arguments: [hlc.rawValue])
    }
}
