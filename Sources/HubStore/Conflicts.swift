import Foundation
import GRDB
public import SyncCore
import SyncStore

/// A conflict found while merging one change, before it is stored.
struct NewConflict {
    var tableID: Int
    var pk: String
    var centre: String?
    /// The column both writes set; nil for a race over the row (a delete against an edit).
    var column: Int?
    var winner: ConflictSide
    var loser: ConflictSide
}

/// What merging one change did, and the conflicts it found.
struct MergeRecords {
    enum Result {
        case applied(tableID: Int)
        case duplicate
        case superseded
    }

    var result: Result
    var conflicts: [NewConflict]
    /// The row's live entry before this change: the highest hub sequence among its versions.
    var previousEntry: Int64? = nil
}

extension HubStore {
    /// Which value a resolution keeps.
    public enum Keep: String, Sendable, CaseIterable {
        case winner, loser
    }

    /// An update the hub already holds (same column, same `(hlc, origin)`) must carry the
    /// values it held: two different values under one version are a malformed batch, not a
    /// duplicate (docs/security.md). Only updates: an insert sent again carries the row as it
    /// is at the replica by then, later writes' values included.
    private static func checkSameValues(_ change: Change, table: TableSpec, applier: Applier) throws {
        let stored = try applier.storedRow(table: table, pk: change.pk)
        guard stored.versions.isAlive else { return }
        let columns = change.values.keys.compactMap { table.column(named: $0) }
            .filter { stored.versions.stamp(ofColumn: $0.ordinal)?.version == change.version }
        let current = try applier.currentValues(table, pk: change.pk, columns: columns.map(\.ordinal))
        for column in columns {
            guard var sent = change.values[column.name] else { continue }
            if case .integer(let integer) = sent, column.type == "REAL" { sent = .real(Double(integer)) }
            if let held = current[column.ordinal], held != sent {
                throw ApplyError.invalidChange(
                    table: table.name, pk: change.pk,
                    reason: "\(column.name) was received before under the same version (hlc \(change.hlc.rawValue), origin \(change.origin)) with another value")
            }
        }
    }

    /// Merges one change and finds the conflicts it takes part in (DESIGN.md, Clock and merge
    /// rule): the change and a current version conflict when that version came from another
    /// origin and the writer had not seen it (its hub sequence is above the change's `seen`).
    ///
    /// - Parameter offered: for a change offered again after a restore, the query whether a
    ///   hub sequence applied such a change too: two versions brought back from history do
    ///   not race each other (their record, if they raced, comes back from a mirror).
    /// - Parameter partial: the change is an insert of a replica of an older schema version,
    ///   which leaves out the columns it does not know.
    func merge(
        _ change: Change, seq: Int64, scope: ScopeRule, applier: Applier, db: any SQLSession, offered: (any SQLStatement)? = nil, partial: Bool = false
    ) throws -> MergeRecords {
        let isConcurrent = { (stamp: Stamp) in
            guard stamp.version.origin != change.origin, let at = stamp.seq ?? 0 > change.seen ? stamp.seq ?? 0 : nil else { return false }
            guard let offered else { return true }
            var alsoOffered = false
            // Unreadable counts as concurrent: a record too many is better than a loss without one.
            try? offered.run([.integer(at)]) { _ in alsoOffered = true }
            return !alsoOffered
        }
        var snapshot: [Int: Value] = [:]
        if change.op == .delete, let table = schema.table(named: change.table) {
            snapshot = try applier.currentValues(table, pk: change.pk, columns: table.columns.map(\.ordinal))
        }
        // A row offered again comes as an insert of the columns whose value is the insert's own,
        // after updates for the newer ones: a column it leaves out takes part in no record.
        let applied = try applier.apply(change, seq: seq, scope: scope, partial: offered != nil || partial, keep: isConcurrent)
        let (table, plan) = (applied.table, applied.plan)
        if plan.isDuplicate {
            if change.op == .update, offered == nil { try Self.checkSameValues(change, table: table, applier: applier) }
            return MergeRecords(result: .duplicate, conflicts: [])
        }

        let incoming = change.version
        func side(_ value: Value, _ version: Version) -> ConflictSide { ConflictSide(value: value, origin: version.origin, hlc: version.hlc) }
        func conflict(_ column: Int?, winner: ConflictSide, loser: ConflictSide) -> NewConflict {
            NewConflict(tableID: table.id, pk: change.pk, centre: change.centre, column: column, winner: winner, loser: loser)
        }
        let deleted = Value.null
        var conflicts: [NewConflict] = []

        // The change overwrote a value another writer had set concurrently.
        if !plan.dematerializes {
            for (column, displaced) in applied.displaced.sorted(by: { $0.key < $1.key }) {
                let name = table.column(ordinal: column)!.name
                conflicts.append(conflict(
                    column, winner: side(change.values[name] ?? .null, incoming), loser: side(displaced.value, displaced.stamp.version)))
            }
        }
        // A delete removed a row someone else was editing concurrently.
        if plan.dematerializes,
            let edit = table.columns.compactMap({ plan.before.stamp(ofColumn: $0.ordinal) }).filter(isConcurrent).max(by: { $0.version < $1.version })
        {
            let named = Dictionary(uniqueKeysWithValues: snapshot.map { (table.column(ordinal: $0.key)!.name, $0.value) })
            conflicts.append(conflict(nil, winner: side(deleted, incoming), loser: side(try Self.rowValue(named), edit.version)))
        }
        // A column of the change lost to a concurrent write of the same column.
        let deletion = plan.before.register.flatMap { $0.alive ? nil : $0.stamp }
        let carries = { (column: Int) in offered == nil || change.op != .insert || change.values[table.column(ordinal: column)!.name] != nil }
        for (column, current) in plan.lost.sorted(by: { $0.key < $1.key }) where isConcurrent(current) && current != deletion && carries(column) {
            conflicts.append(conflict(
                column, winner: side(try currentValue(table, pk: change.pk, column: column, applier: applier), current.version),
                loser: side(change.values[table.column(ordinal: column)!.name] ?? .null, incoming)))
        }
        // An update reached a row a concurrent delete had removed: the edit is not visible.
        if change.op == .update, let deletion, isConcurrent(deletion) {
            conflicts.append(conflict(nil, winner: side(deleted, deletion.version), loser: side(try Self.rowValue(change.values), incoming)))
        }
        // An insert or delete lost the row's register to a concurrent one.
        if let register = plan.registerLostTo, isConcurrent(register) {
            if change.op == .delete {
                let current = try applier.currentValues(table, pk: change.pk, columns: table.columns.map(\.ordinal))
                let named = Dictionary(uniqueKeysWithValues: current.map { (table.column(ordinal: $0.key)!.name, $0.value) })
                conflicts.append(conflict(nil, winner: side(try Self.rowValue(named), register.version), loser: side(deleted, incoming)))
            } else if change.op == .insert, register == deletion {
                conflicts.append(conflict(nil, winner: side(deleted, register.version), loser: side(try Self.rowValue(change.values), incoming)))
            }
        }
        return MergeRecords(
            result: plan.changesNothing ? .superseded : .applied(tableID: table.id), conflicts: conflicts, previousEntry: plan.before.lastSeq)
    }

    /// A row's values as one value: a JSON object in text, keys sorted.
    static func rowValue(_ values: [String: Value]) throws -> Value {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return .text(String(decoding: try encoder.encode(values), as: UTF8.self))
    }

    /// The current value of one column: from the row if it is visible, else its ghost.
    private func currentValue(_ table: TableSpec, pk: String, column: Int, applier: Applier) throws -> Value {
        if let value = try applier.currentValues(table, pk: pk, columns: [column])[column] { return value }
        return try applier.storedRow(table: table, pk: pk).ghosts[column] ?? .null
    }

    /// Stores a new conflict record; a session binds a text whole, and a loser's value must not lose a byte.
    func record(_ conflict: NewConflict, applier: Applier, db: any SQLSession, now: Int64) throws -> Int64 {
        var id: Int64?
        try db.prepare(
            """
            INSERT INTO sync_conflicts (tbl, pk, centre, col, winner_value, winner_node, winner_hlc,
                                        loser_value, loser_node, loser_hlc, recorded_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """
        ).run([
            .integer(Int64(conflict.tableID)), .text(conflict.pk), Value(conflict.centre), Value(conflict.column.map(Int64.init)),
            db.bindAny(conflict.winner.value), .integer(try applier.nodeID(conflict.winner.origin)), .integer(conflict.winner.hlc.rawValue),
            db.bindAny(conflict.loser.value), .integer(try applier.nodeID(conflict.loser.origin)), .integer(conflict.loser.hlc.rawValue),
            .integer(now),
        ]) { row in id = row.integer(0) }
        guard let id else { throw HubError.sqlite("sync_conflicts gave no id") }
        return id
    }

    /// The id of the record of the same race (table, row, column, both versions), if the hub holds one.
    func existingRecord(_ conflict: NewConflict, applier: Applier, db: any SQLSession) throws -> Int64? {
        try Int64.fetchOne(
            db,
            sql: """
                SELECT id FROM sync_conflicts WHERE tbl = ? AND pk = ? AND col IS NOT DISTINCT FROM ? AND winner_node = ? AND winner_hlc = ?
                    AND loser_node = ? AND loser_hlc = ?
                """,
            arguments: [
                conflict.tableID, conflict.pk, conflict.column, try applier.nodeID(conflict.winner.origin), conflict.winner.hlc.rawValue,
                try applier.nodeID(conflict.loser.origin), conflict.loser.hlc.rawValue,
            ])
    }

    /// Takes back the conflict records a replica mirrors that the hub lost with a restore
    /// (docs/replicas-and-restores.md): a record of a race the hub does not hold is stored
    /// again, marked with the replica it came from, and announced; a resolution the hub lost
    /// is stored again. Answers the hub's id for every record, by the id the replica knew.
    public func rebuildConflicts(caller: Caller, origin: String, request: RebuildRequest) async throws(HubError) -> RebuildResponse {
        let now = clock.nowMillis()
        return try await write { db in
            _ = try self.registeredReplica(origin, caller: caller, db: db)
            let applier = try Applier(session: db, schema: self.schema)
            let hubNode = try applier.nodeID(Self.origin)
            let restore = try Int64.fetchOne(db, sql: "SELECT max(id) FROM sync_hub_events WHERE kind = 'restore'")
            var ids: [RebuildResponse.Mapping] = []
            var rebuilt = 0
            for record in request.records {
                guard caller.centre == Node.hmsi || record.centre == caller.centre else {
                    throw HubError.forbidden("conflict \(record.id) concerns a row of \(record.centre ?? "reference data"), not of \(caller.centre)")
                }
                guard let table = self.schema.table(named: record.table) else { throw HubError.apply(.unknownTable(record.table)) }
                let column = try record.column.map { name in
                    guard let column = table.column(named: name) else { throw HubError.apply(.unknownColumn(table: table.name, column: name)) }
                    return column.ordinal
                }
                let race = NewConflict(tableID: table.id, pk: record.pk, centre: record.centre, column: column, winner: record.winner, loser: record.loser)
                let id: Int64
                if let held = try self.existingRecord(race, applier: applier, db: db) {
                    id = held
                    guard record.resolvedAt != nil, try self.conflictRecord(id: held, db: db)?.resolvedAt == nil else {
                        ids.append(.init(old: record.id, new: id))
                        continue
                    }
                } else {
                    id = try self.record(race, applier: applier, db: db, now: record.recordedAt)
                    try db.execute(sql: "UPDATE sync_conflicts SET rebuilt_from = ? WHERE id = ?", arguments: [origin, id])
                    rebuilt += 1
                }
                if let resolvedAt = record.resolvedAt {
                    try db.execute(
                        sql: "UPDATE sync_conflicts SET resolved_at = ?, resolved_by = ?, kept = ? WHERE id = ?",
                        arguments: [resolvedAt, record.resolvedBy, record.kept, id])
                }
                try self.announce(
                    conflict: id, tableID: table.id, pk: record.pk, centre: record.centre, seq: try Self.nextSeq(db, now: now), hubNode: hubNode,
                    db: db, now: now)
                if let restore {
                    try db.execute(
                        sql: "INSERT INTO sync_conflict_rebuilds (restore, old_id, new_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", arguments: [restore, record.id, id])
                }
                ids.append(.init(old: record.id, new: id))
            }
            return RebuildResponse(ids: ids, rebuilt: rebuilt, hubTime: now)
        }
    }

    // MARK: Reading and resolving

    /// The conflict records with their origins' names (a session reads values whole).
    private static let conflictsSQL = """
        SELECT c.*, w.name AS winner_origin, l.name AS loser_origin
        FROM sync_conflicts c JOIN sync_nodes w ON w.id = c.winner_node JOIN sync_nodes l ON l.id = c.loser_node
        """

    func conflictRecord(id: Int64, db: any SQLSession) throws -> ConflictRecord? {
        guard let row = try SQLRow.fetchOne(db, sql: Self.conflictsSQL + " WHERE c.id = ?", arguments: [id]) else { return nil }
        return try conflictRecord(row, db: db)
    }

    private func conflictRecord(_ row: SQLRow, db: any SQLSession) throws -> ConflictRecord {
        let table = try table(id: row["tbl"])
        let column: Int? = row["col"]
        return ConflictRecord(
            id: row["id"], table: table.name, pk: row["pk"], centre: row["centre"],
            column: column.flatMap { table.column(ordinal: $0)?.name },
            winner: ConflictSide(value: try db.readAny(row.value("winner_value")), origin: row["winner_origin"], hlc: HLC(rawValue: row["winner_hlc"])),
            loser: ConflictSide(value: try db.readAny(row.value("loser_value")), origin: row["loser_origin"], hlc: HLC(rawValue: row["loser_hlc"])),
            recordedAt: row["recorded_at"], resolvedAt: row["resolved_at"], resolvedBy: row["resolved_by"], kept: row["kept"])
    }

    /// Conflict records, newest first; optionally of one centre's rows and only open ones.
    public func conflicts(centre: String? = nil, openOnly: Bool = false) async throws(HubError) -> [ConflictRecord] {
        try await read { db in
            try SQLRow.fetchAll(
                db,
                sql: Self.conflictsSQL + " WHERE (? = 1 OR c.centre = ?) AND (? = 0 OR c.resolved_at IS NULL) ORDER BY c.id DESC",
                arguments: [centre == nil, centre, openOnly ? 1 : 0]
            ).map { try self.conflictRecord($0, db: db) }
        }
    }

    public func conflict(id: Int64) async throws(HubError) -> ConflictRecord {
        try await read { db in
            guard let record = try self.conflictRecord(id: id, db: db) else { throw HubError.noSuchConflict(id) }
            return record
        }
    }

    /// Resolves a conflict. Keeping the loser writes it again as a new change from the hub,
    /// with a fresh clock, so it reaches every replica like any other change; either way the
    /// record is marked resolved, with who and when, and centres pull the updated record.
    public func resolve(id: Int64, keep: Keep, by resolver: String) async throws(HubError) -> ConflictRecord {
        let now = clock.nowMillis()
        return try await write { db in
            guard let record = try self.conflictRecord(id: id, db: db) else { throw HubError.noSuchConflict(id) }
            if let resolvedAt = record.resolvedAt {
                throw HubError.cannotResolve(
                    "conflict \(id) was resolved at \(Self.timestamp(resolvedAt)) by \(record.resolvedBy ?? "?") (kept the \(record.kept ?? "?"))")
            }
            if keep == .loser {
                try self.writeAsHub([try self.restoration(of: record, db: db)], db: db, now: now)
            }
            try db.execute(
                sql: "UPDATE sync_conflicts SET resolved_at = ?, resolved_by = ?, kept = ? WHERE id = ?",
                arguments: [now, resolver, keep.rawValue, id])
            let applier = try Applier(session: db, schema: self.schema)
            let seq = try Self.nextSeq(db, now: now)
            try self.announce(
                conflict: id, tableID: self.schema.table(named: record.table)!.id, pk: record.pk, centre: record.centre,
                seq: seq, hubNode: try applier.nodeID(Self.origin), db: db, now: now)
            return try self.conflictRecord(id: id, db: db)!
        }
    }

    /// The change that puts a conflict's losing value back.
    private func restoration(of record: ConflictRecord, db: any SQLSession) throws -> HubWrite {
        guard let table = schema.table(named: record.table) else { throw HubError.cannotResolve("unknown table \(record.table)") }
        if let column = record.column {
            return HubWrite(op: .update, table: table.name, pk: record.pk, centre: record.centre, values: [column: record.loser.value])
        }
        guard case .text(let json) = record.loser.value else {
            return HubWrite(op: .delete, table: table.name, pk: record.pk, centre: record.centre, values: [:])
        }
        // The lost row (or edit) comes back as a new insert; columns it does not name keep
        // what the deleted row still holds.
        var values = try JSONDecoder().decode([String: Value].self, from: Data(json.utf8))
        let applier = try Applier(session: db, schema: schema)
        let ghosts = try applier.storedRow(table: table, pk: record.pk).ghosts
        for column in table.columns where values[column.name] == nil {
            values[column.name] = ghosts[column.ordinal] ?? .null
        }
        if let missing = table.columns.first(where: { $0.notNull && values[$0.name] == .null }) {
            throw HubError.cannotResolve(
                "the lost edit of \(table.name) \(record.pk) does not hold \(missing.name), and the deleted row's value is gone; re-enter the row instead")
        }
        return HubWrite(op: .insert, table: table.name, pk: record.pk, centre: record.centre, values: values)
    }

    static func timestamp(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601)
    }
}
