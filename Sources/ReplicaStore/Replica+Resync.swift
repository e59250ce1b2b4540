import Foundation
import GRDB
import SyncCore
import SyncStore

/// A re-sync (docs/history-and-erasure.md, Tombstones): the hub collected deletes this replica
/// never pulled, so it cannot learn them as deletes. It notes every row it holds, pulls its
/// scope from the start, crosses off each row the pull brings, and at the end removes the rows
/// still noted: the hub deleted them. A row with pending writes stays until they are pushed;
/// the hub records them against the collected delete. Resumable: an interrupted re-sync keeps
/// its notes, and the next session starts the pull again.
extension Replica {
    /// Notes the rows this replica holds (unless a re-sync is under way) and moves its cursor
    /// to the start. Returns how many rows are noted.
    @discardableResult
    public func beginResync() throws(ReplicaError) -> Int {
        try write { db in
            try fold(db)
            if try !Self.isResyncing(db) {
                try db.execute(sql: "INSERT OR IGNORE INTO sync_resync (tbl, pk) SELECT tbl, pk FROM sync_rows")
            }
            try db.execute(sql: "UPDATE sync_state SET cursor = 0, cursor_check = NULL, delta = 0")
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try Self.recordRecovery(
                .resynced, "the hub had collected deletes this replica never pulled: it re-syncs its scope from the start, keeping its pending writes",
                db: db, now: now)
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_resync")!
        }
    }

    /// Whether the replica holds every version at or below its cursor: it may pull delta.
    public func pullsDelta() throws(ReplicaError) -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT delta FROM sync_state") ?? false }
    }

    static func isResyncing(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sync_resync)") ?? false
    }

    /// After a re-sync's pull reached the end of the hub's log: removes every row still noted
    /// that has no pending write (the hub deleted it, and collected the delete). Returns how
    /// many rows went.
    @discardableResult
    public func finishResync() throws(ReplicaError) -> Int {
        try write { db in
            guard try Self.isResyncing(db) else { return 0 }
            try fold(db)
            let acked = try Int64.fetchOne(db, sql: "SELECT acked FROM sync_state")!
            var removed = 0
            for row in try Row.fetchAll(db, sql: "SELECT tbl, pk FROM sync_resync") {
                let (tbl, pk): (Int, String) = (row["tbl"], row["pk"])
                guard let table = schema.table(id: tbl) else { continue }
                let pending = try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM sync_log WHERE seq > ? AND tbl = ? AND pk = ?)", arguments: [acked, tbl, pk]) ?? false
                if pending { continue }
                try db.execute(sql: "DELETE FROM \(quoted(table.name)) WHERE \(quoted(table.primaryKey)) = ?", arguments: [pk])
                for engine in ["sync_rows", "sync_cols", "sync_stash", "sync_resync"] {
                    try db.execute(sql: "DELETE FROM \(engine) WHERE tbl = ? AND pk = ?", arguments: [tbl, pk])
                }
                removed += 1
            }
            return removed
        }
    }
}
