import Foundation
import GRDB
public import SyncCore
import SyncStore

/// What one push did, for the answer and the log line.
public struct PushOutcome: Sendable {
    public var response: PushResponse
    /// The first and last local sequence of the changes this push handled.
    public var seqRange: ClosedRange<Int64>?
    /// The hub sequences this push appended.
    public var hubSeqRange: ClosedRange<Int64>?
}

extension HubStore {
    /// Applies a replica's batch in one transaction (DESIGN.md, protocol v1).
    ///
    /// Changes at or below the sequence already acknowledged for this replica are skipped
    /// (exactly once). A change stamped more than `skewBound` ahead of the hub's clock makes
    /// the whole batch fail with `.clockAhead`, nothing applied. A change out of the pusher's
    /// scope, or one a table constraint refuses, is refused on its own and listed; the rest
    /// is applied. Malformed changes (unknown tables or columns, wrong types) fail the
    /// whole batch.
    public func push(node: String, request: PushRequest, skewBoundMillis: Int64) async throws(HubError) -> PushOutcome {
        var previous: Int64 = 0
        for change in request.changes {
            guard change.seq > previous else {
                throw .badRequest(code: "invalid_batch", message: "changes must come in increasing seq order (seq \(change.seq) after \(previous))")
            }
            previous = change.seq
            guard change.origin == node else {
                throw .forbidden("change \(change.seq) claims origin \(change.origin), but this token belongs to \(node)")
            }
        }
        guard request.lastSeq >= previous else {
            throw .badRequest(code: "invalid_batch", message: "last_seq \(request.lastSeq) is below the batch's last change \(previous)")
        }
        guard !request.replicaID.isEmpty, request.replicaID.utf8.count <= 64, !request.replicaID.utf8.contains(0) else {
            throw .badRequest(code: "invalid_batch", message: "replica_id must be 1 to 64 bytes, without NUL characters")
        }

        let now = clock.nowMillis()
        let scope = ScopeRule(centre: node == Node.hmsi ? nil : node, reference: node == Node.hmsi)
        return try await write { db in
            let acked = try Int64.fetchOne(
                db, sql: "SELECT acked FROM sync_acks WHERE node = ? AND replica = ?", arguments: [node, request.replicaID]) ?? 0
            let fresh = request.changes.filter { $0.seq > acked }
            if let ahead = fresh.max(by: { $0.hlc < $1.hlc }), ahead.hlc.millis > now + skewBoundMillis {
                throw HubError.clockAhead(Self.clockAheadMessage(change: ahead, now: now, bound: skewBoundMillis))
            }
            let result = try self.apply(fresh, from: node, scope: scope, in: db, now: now)
            let newAcked = max(acked, request.lastSeq)
            try db.execute(
                sql: """
                    INSERT INTO sync_acks (node, replica, acked) VALUES (?, ?, ?)
                    ON CONFLICT (node, replica) DO UPDATE SET acked = excluded.acked
                    """,
                arguments: [node, request.replicaID, newAcked])
            try db.execute(sql: "UPDATE sync_clients SET last_push_at = ? WHERE node = ?", arguments: [now, node])
            if let highest = fresh.map(\.hlc).max() {
                try db.execute(sql: "UPDATE sync_hub_state SET hlc = max(hlc, ?)", arguments: [highest.rawValue])
            }
            return PushOutcome(
                response: PushResponse(
                    ackedSeq: newAcked, applied: result.applied, duplicates: result.duplicates + request.changes.count - fresh.count,
                    refused: result.refused, conflicts: result.conflicts, hubTime: now),
                seqRange: fresh.isEmpty ? nil : fresh.first!.seq...fresh.last!.seq,
                hubSeqRange: result.hubSeqRange)
        }
    }

    /// A change's values as the hub log stores them: a JSON object, keys sorted.
    static func valuesJSON(_ values: [String: Value]) -> String {
        var writer = JSONWriter(capacity: 512)
        writer.values(values)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    static func clockAheadMessage(change: Change, now: Int64, bound: Int64) -> String {
        let ahead = change.hlc.millis - now
        let minutes = ahead / 60_000
        let span = minutes >= 120 ? "\(minutes / 60) hours" : minutes >= 1 ? "\(minutes) minutes" : "\(ahead / 1000) seconds"
        return "the centre's clock is ahead: change \(change.seq) is stamped \(span) after the hub's time "
            + "(the hub accepts \(bound / 60_000) minutes); set the clock of this PC right, nothing was applied"
    }

    struct Applied {
        var applied = 0
        var duplicates = 0
        var refused: [Refusal] = []
        var conflicts = 0
        var hubSeqRange: ClosedRange<Int64>?
    }

    /// Merges changes into the store, appends each applied change and each conflict record
    /// to the hub log, in the caller's transaction.
    ///
    /// A refused change leaves no trace without a savepoint per change: the applier raises
    /// a refusal only before the change writes anything (validation and the scope check
    /// read only) or from the domain write itself, one statement, which SQLite backs out
    /// alone when a constraint fails. `totalChangesCount` checks that this holds: a refusal
    /// after a write fails the whole batch instead of committing half a change.
    func apply(_ changes: [Change], from node: String, scope: ScopeRule, in db: Database, now: Int64) throws -> Applied {
        let applier = try Applier(db: db, schema: schema)
        let hubNode = try applier.nodeID(Self.origin)
        var nextSeq = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) + 1 FROM sync_hub_log")!
        let firstSeq = nextSeq
        var outcome = Applied()
        let logInsert = try RawStatement(
            db, sql: "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, hlc, seen, body, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

        for change in changes {
            let written = db.totalChangesCount
            let records: MergeRecords
            do {
                records = try self.merge(change, seq: nextSeq, scope: scope, applier: applier, db: db)
            } catch let error as ApplyError {
                guard db.totalChangesCount == written else {
                    throw HubError.sqlite("change \(change.seq) was refused after it had written (\(error.description)); nothing was applied")
                }
                switch error {
                case .outOfScope, .constraint:
                    outcome.refused.append(Refusal(seq: change.seq, code: error.code, message: error.description))
                    continue
                default:
                    throw HubError.badRequest(code: error.code, message: "change \(change.seq): \(error.description)")
                }
            }
            switch records.result {
            case .duplicate:
                outcome.duplicates += 1
            case .superseded:
                break
            case .applied(let tableID):
                try logInsert.execute([
                    .integer(nextSeq), .integer(Int64(tableID)), .text(change.pk), Value(change.centre),
                    .integer(HubSQL.code(change.op.rawValue)), .integer(try applier.nodeID(change.origin)),
                    .integer(change.hlc.rawValue), .integer(change.seen), .text(Self.valuesJSON(change.values)), .integer(now),
                ])
                nextSeq += 1
                outcome.applied += 1
            }
            for conflict in records.conflicts {
                let id = try self.record(conflict, applier: applier, db: db, now: now)
                try self.announce(
                    conflict: id, tableID: conflict.tableID, pk: conflict.pk, centre: conflict.centre,
                    seq: nextSeq, hubNode: hubNode, db: db, now: now)
                nextSeq += 1
                outcome.conflicts += 1
            }
        }
        if nextSeq > firstSeq { outcome.hubSeqRange = firstSeq...(nextSeq - 1) }
        return outcome
    }

    /// Appends a hub log entry that announces a conflict record (new or resolved) to the
    /// centre whose row it concerns.
    func announce(conflict id: Int64, tableID: Int, pk: String, centre: String?, seq: Int64, hubNode: Int64, db: Database, now: Int64) throws {
        try db.execute(
            sql: "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, conflict, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [seq, tableID, pk, centre ?? Node.hmsi, HubSQL.conflictOp, hubNode, id, now])
    }

    // MARK: Pull

    /// Hub log entries after `after` in the scope of `node`, at most `limit`, with the
    /// conflict records announced among them; values stay as the log stores them. A
    /// centre's own changes are not sent back, but the cursor moves past them.
    public func pull(node: String, after: Int64, limit: Int) async throws(HubError) -> PullPage {
        let now = clock.nowMillis()
        let schema = self.schema
        let response = try await read { db -> PullPage in
            let last = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log")!
            guard after <= last else {
                throw HubError.cursorAhead(
                    "cursor \(after) is ahead of the hub's log, which ends at \(last); was the hub restored from an older backup?")
            }
            let columns = "l.seq, l.tbl, l.pk, l.centre, l.op, n.name AS origin, l.hlc, l.seen, l.body, l.conflict"
            // A centre reads its own entries and the reference entries: two ranges of the
            // (centre, seq) index, merged in seq order, so a pull never scans other centres'.
            let source = node == Node.hmsi
                ? "sync_hub_log l"
                : "(SELECT * FROM sync_hub_log WHERE centre = ?1 AND seq > ?2 UNION ALL SELECT * FROM sync_hub_log WHERE centre IS NULL AND seq > ?2) l"
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT \(columns) FROM \(source) JOIN sync_nodes n ON n.id = l.origin WHERE l.seq > ?2 AND n.name <> ?1 ORDER BY l.seq LIMIT ?3"),
                arguments: [node, after, limit])
            var changes: [PullPage.Entry] = []
            var conflictIDs: [Int64] = []
            for row in rows {
                let op: Int64 = row["op"]
                if op == HubSQL.conflictOp {
                    conflictIDs.append(row["conflict"])
                    continue
                }
                guard let table = schema.table(id: row["tbl"]), let name = HubSQL.op(op), let kind = Change.Op(rawValue: name) else {
                    throw HubError.sqlite("hub log entry \(row["seq"] as Int64) is unreadable")
                }
                let change = Change(
                    seq: row["seq"], table: table.name, pk: row["pk"], op: kind, centre: table.scope == .centre ? row["centre"] : nil,
                    values: [:], hlc: HLC(rawValue: row["hlc"]), origin: row["origin"], seen: row["seen"])
                changes.append(PullPage.Entry(change: change, valuesJSON: row["body"]))
            }
            let full = rows.count == limit
            let next = full ? rows.last!["seq"] : last
            var seenIDs = Set<Int64>()
            let conflicts = try conflictIDs.filter { seenIDs.insert($0).inserted }.map { id in
                guard let record = try self.conflictRecord(id: id, db: db) else { throw HubError.noSuchConflict(id) }
                return record
            }
            return PullPage(changes: changes, conflicts: conflicts, nextCursor: next, more: full && next < last, hubTime: now)
        }
        try await write { db in
            try db.execute(sql: "UPDATE sync_clients SET last_pull_at = ? WHERE node = ?", arguments: [now, node])
        }
        return response
    }
}
