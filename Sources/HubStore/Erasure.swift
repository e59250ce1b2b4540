import Foundation
import GRDB
public import SyncCore
import SyncStore

extension HubStore {
    /// Erases a row and every copy of its values the hub keeps (DSGVO Art. 17;
    /// docs/history-and-erasure.md): the domain row, its versions and the values deleted
    /// rows keep (ghosts), the values of its conflict records (which stay, marked erased and
    /// resolved), and its log entries, whose live one becomes an erase entry (op 5): every
    /// replica in the row's scope pulls it as the row's delete, with a clock newer than any
    /// the hub knows, and removes its own copies. The key goes into `sync_hub_erased`, so a
    /// later change of the row (a replica put back from an old copy) is refused, and an audit
    /// entry records who, when and why. Then the database leaves no earlier image of what it
    /// deleted: SQLite's WAL is truncated (the pages themselves were overwritten,
    /// `secure_delete`), PostgreSQL rewrites the tables that held values (`VACUUM FULL`).
    ///
    /// - Parameters:
    ///   - caller: HMSI (any row), or a centre (its own rows, through `POST /v1/erase`).
    ///   - actor: who, for the audit: an HMSI user, or the centre's replica.
    public func erase(table name: String, pk: String, reason: String, by actor: String, caller: Caller) async throws(HubError) -> Erasure {
        guard let table = schema.table(named: name) else {
            throw .badRequest(
                code: "unknown_table", message: "\(name) is not a replicated table (\(schema.tables.map(\.name).joined(separator: ", ")))")
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.utf8.count <= 500, !reason.utf8.contains(0) else {
            throw .badRequest(code: "invalid_reason", message: "an erasure needs a reason of 1 to 500 bytes (a request's reference, not the person's data)")
        }
        let now = clock.nowMillis()
        var erasure = try await write { db -> Erasure in
            if let at = try Int64.fetchOne(db, sql: "SELECT erased_at FROM sync_hub_erased WHERE tbl = ? AND pk = ?", arguments: [table.id, pk]) {
                throw HubError.alreadyErased("\(table.name) \(pk) was erased at \(Self.timestamp(at)); nothing of it is left to erase")
            }
            let applier = try Applier(session: db, schema: self.schema)
            let stored = try applier.storedRow(table: table, pk: pk)
            guard stored.exists else { throw HubError.noSuchRow("the hub holds no \(table.name) row \(pk)") }
            let centre = table.scope == .centre ? stored.scope : nil
            if caller.centre != Node.hmsi, centre == nil || centre != caller.centre {
                throw HubError.forbidden(
                    "\(caller.centre) may erase only its own rows; \(table.name) \(pk) is "
                        + (centre.map { "\($0)'s" } ?? "reference data, which only HMSI erases"))
            }
            let previous = stored.versions.lastSeq
            let hlc = HLC.next(after: HLC(rawValue: try Int64.fetchOne(db, sql: "SELECT hlc FROM sync_hub_state")!), wallMillis: now)
            let seq = try Self.nextSeq(db, now: now)
            let hub = try applier.nodeID(Self.origin)

            try db.execute(sql: "DELETE FROM \(quoted(table.name)) WHERE \(quoted(table.primaryKey)) = ?", arguments: [pk])
            try db.execute(sql: "DELETE FROM sync_cols WHERE tbl = ? AND pk = ?", arguments: [table.id, pk])
            try db.execute(
                sql: """
                    UPDATE sync_rows SET alive = 0, reg_hlc = ?, reg_node = ?, reg_seq = ?, base_hlc = NULL, base_node = NULL, base_seq = NULL
                    WHERE tbl = ? AND pk = ?
                    """,
                arguments: [hlc.rawValue, hub, seq, table.id, pk])
            try db.execute(
                sql: "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, hlc, seen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [seq, table.id, pk, centre, HubSQL.eraseOp, hub, hlc.rawValue, seq - 1, now])
            if let previous { try db.execute(sql: "UPDATE sync_hub_log SET superseded = 1 WHERE seq = ? AND op < 4", arguments: [previous]) }
            try db.execute(
                sql: """
                    UPDATE sync_conflicts SET winner_value = NULL, loser_value = NULL, erased_at = ?,
                        resolved_at = coalesce(resolved_at, ?), resolved_by = coalesce(resolved_by, 'erasure')
                    WHERE tbl = ? AND pk = ?
                    """,
                arguments: [now, now, table.id, pk])
            let conflicts = db.changesCount
            try db.execute(
                sql: "INSERT INTO sync_hub_erased (tbl, pk, centre, seq, erased_at) VALUES (?, ?, ?, ?, ?)", arguments: [table.id, pk, centre, seq, now])
            try Self.audit(db, at: now, actor: actor, action: "erase", table: table.name, pk: pk, centre: centre, detail: reason)
            try db.execute(sql: "UPDATE sync_hub_state SET hlc = \(db.greatest)(hlc, ?)", arguments: [hlc.rawValue])
            return Erasure(table: table.name, pk: pk, centre: centre, seq: seq, erasedAt: now, by: actor, reason: reason, conflicts: conflicts)
        }
        do {
            // The tables that held the row's values; the log and the versions hold none.
            erasure.walCleared = try await database.clearDeleted(from: [table.name, "sync_cols", "sync_conflicts"])
        } catch {
            throw Self.map(error, path: path)
        }
        return erasure
    }

    /// Records what someone did, never a row's values.
    static func audit(_ db: any SQLSession, at: Int64, actor: String, action: String, table: String?, pk: String?, centre: String?, detail: String) throws {
        try db.execute(
            sql: "INSERT INTO sync_hub_audit (at, actor, action, tbl, pk, centre, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [at, actor, action, table, pk, centre, detail])
    }

    /// The audit, newest first.
    public func auditEntries(limit: Int = 100) async throws(HubError) -> [AuditEntry] {
        try await read { db in
            try SQLRow.fetchAll(db, sql: "SELECT * FROM sync_hub_audit ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                AuditEntry(
                    id: row["id"], at: row["at"], actor: row["actor"], action: row["action"], table: row["tbl"], pk: row["pk"], centre: row["centre"],
                    detail: row["detail"])
            }
        }
    }

    /// The query whether a row was erased, when any was: a change of one is refused.
    static func erasedCheck(_ db: any SQLSession) throws -> (any SQLStatement)? {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sync_hub_erased)") ?? false
            ? try db.prepare("SELECT erased_at FROM sync_hub_erased WHERE tbl = ? AND pk = ?") : nil
    }
}

/// One entry of the hub's audit: who did what to which row, when and why.
public struct AuditEntry: Hashable, Sendable, Codable {
    public var id: Int64
    public var at: Int64
    public var actor: String
    public var action: String
    public var table: String?
    public var pk: String?
    public var centre: String?
    public var detail: String
}
