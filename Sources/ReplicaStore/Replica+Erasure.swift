import Foundation
import GRDB
import SyncCore
import SyncStore

extension Replica {
    /// Removes every copy of an erased row's values this replica keeps: the domain row, the
    /// values a deleted row keeps (ghosts), values waiting to be pushed (stash), and the
    /// values of its conflict records, which stay, marked erased and resolved. The row's
    /// delete from the hub is applied by then; a pending local write of it is no longer sent
    /// (the hub would refuse it). Returns whether the replica held anything of the row.
    func erase(_ key: RowKey, db: Database) throws -> Bool {
        guard let table = schema.table(named: key.table) else { return false }
        let before = db.totalChangesCount
        try db.execute(sql: "DELETE FROM \(quoted(table.name)) WHERE \(quoted(table.primaryKey)) = ?", arguments: [key.pk])
        try db.execute(sql: "DELETE FROM sync_cols WHERE tbl = ? AND pk = ?", arguments: [table.id, key.pk])
        try db.execute(sql: "DELETE FROM sync_stash WHERE tbl = ? AND pk = ?", arguments: [table.id, key.pk])
        try db.execute(
            sql: "UPDATE sync_rows SET alive = 0, base_hlc = NULL, base_node = NULL, base_seq = NULL WHERE tbl = ? AND pk = ? AND (alive = 1 OR base_hlc IS NOT NULL)",
            arguments: [table.id, key.pk])
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try db.execute(
            sql: """
                UPDATE sync_conflicts SET winner_value = NULL, loser_value = NULL, erased_at = ?,
                    resolved_at = coalesce(resolved_at, ?), resolved_by = coalesce(resolved_by, 'erasure')
                WHERE table_name = ? AND pk = ? AND erased_at IS NULL
                """,
            arguments: [now, now, table.name, key.pk])
        return db.totalChangesCount > before
    }

    /// Rewrites the file without its free space and truncates the WAL, after an erasure: a tool
    /// people use on a replica whose SQLite was built without `SQLITE_SECURE_DELETE` leaves what
    /// it deletes in the page's free space.
    public func scrub() throws(ReplicaError) {
        do {
            try queue.writeWithoutTransaction { db in try db.execute(sql: "VACUUM") }
            try StoreConnection.truncateWAL(queue)
        } catch {
            throw Self.map(error, path: path)
        }
    }
}
