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
    ///
    /// - Parameter origin: the replica, from the `WIRSync-Replica` header (protocol 2): it
    ///   must have had a session, the batch must start at or below what the hub has
    ///   acknowledged of it, and where it overlaps that, its chains must be the ones the hub
    ///   received (docs/replicas-and-restores.md). nil for a replica of wirsync 1, whose
    ///   origin is its centre and whose acknowledgements are kept by its replica id.
    public func push(caller: Caller, origin: String?, request: PushRequest, skewBoundMillis: Int64) async throws(HubError) -> PushOutcome {
        let writer = origin ?? caller.centre
        var previous: Int64 = 0
        for change in request.changes {
            guard change.seq > previous else {
                throw .badRequest(code: "invalid_batch", message: "changes must come in increasing seq order (seq \(change.seq) after \(previous))")
            }
            previous = change.seq
            guard change.origin == writer else {
                throw .forbidden("change \(change.seq) claims origin \(change.origin), but this request comes from \(writer)")
            }
        }
        guard request.lastSeq >= previous else {
            throw .badRequest(code: "invalid_batch", message: "last_seq \(request.lastSeq) is below the batch's last change \(previous)")
        }
        guard !request.replicaID.isEmpty, request.replicaID.utf8.count <= 64, !request.replicaID.utf8.contains(0) else {
            throw .badRequest(code: "invalid_batch", message: "replica_id must be 1 to 64 bytes, without NUL characters")
        }
        let chains: [Fingerprint]?
        if let origin {
            guard request.replicaID == origin else {
                throw .badRequest(code: "invalid_batch", message: "replica_id \(request.replicaID) is not the replica of the \(Wire.replicaHeader) header, \(origin)")
            }
            guard let after = request.after, after >= 0, after <= request.lastSeq, let packed = request.chains,
                let unpacked = Fingerprint.unpack(packed), unpacked.count == request.lastSeq - after,
                request.changes.allSatisfy({ $0.seq > after })
            else {
                throw .badRequest(
                    code: "invalid_batch",
                    message: "a push of protocol 2 says the sequence it starts after (after) and the chain of every entry up to last_seq (chains, 8 bytes each)")
            }
            chains = unpacked
        } else {
            chains = nil
        }

        // A replica of an older schema version names only the tables and columns it knows; its
        // inserts leave the others as they are (docs/schema-evolution.md).
        let version = caller.schemaVersion ?? schema.version
        if version < schema.version, let view = view(version: version) {
            for change in request.changes {
                guard let table = view.table(named: change.table) else {
                    throw .apply(.unknownTable(change.table))
                }
                if let name = change.values.keys.first(where: { table.column(named: $0) == nil && $0 != table.primaryKey }) {
                    throw .apply(.unknownColumn(table: table.name, column: name))
                }
            }
        }
        let now = clock.nowMillis()
        let scope = ScopeRule(centre: caller.centre == Node.hmsi ? nil : caller.centre, reference: caller.centre == Node.hmsi)
        // Beside other pushes and pulls: one push of a replica at a time (exactly once), and the
        // scopes of its rows locked by `apply`.
        return try await write(.rows) { db in
            try PostgresLocks.lock([PostgresLocks.key(centre: caller.centre, replica: request.replicaID)], db: db)
            let acked: Int64
            if let origin, let chains {
                acked = try self.checkBase(of: request, chains: chains, origin: origin, caller: caller, db: db)
            } else {
                acked = try Int64.fetchOne(
                    db, sql: "SELECT acked FROM sync_acks WHERE node = ? AND replica = ?", arguments: [caller.centre, request.replicaID]) ?? 0
            }
            let fresh = try Self.boundingSeen(request.changes.filter { $0.seq > acked }, caller: caller, db: db)
            if let ahead = fresh.max(by: { $0.hlc < $1.hlc }), ahead.hlc.millis > now + skewBoundMillis {
                throw HubError.clockAhead(Self.clockAheadMessage(change: ahead, now: now, bound: skewBoundMillis))
            }
            let result = try self.apply(fresh, scope: scope, in: db, now: now, olderSchema: version < self.schema.version)
            let newAcked = max(acked, request.lastSeq)
            if let origin, let chains, let after = request.after {
                if newAcked > acked {
                    let received = Array(chains.suffix(Int(newAcked - acked)))
                    try db.execute(
                        sql: """
                            UPDATE sync_replicas SET acked = ?, acked_chain = ?, acked_hlc = \(db.greatest)(acked_hlc, ?), last_push_at = ?, schema_version = ?
                            WHERE origin = ?
                            """,
                        arguments: [newAcked, received.last!.rawValue, fresh.map(\.hlc.rawValue).max() ?? 0, now, version, origin])
                    try db.execute(
                        sql: """
                            INSERT INTO sync_receipts (origin, last_seq, after_seq, hub_seq, chains) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT (origin, last_seq) DO UPDATE SET after_seq = excluded.after_seq, hub_seq = excluded.hub_seq, chains = excluded.chains
                            """,
                        arguments: [origin, newAcked, max(after, acked), result.hubSeqRange?.lowerBound, Fingerprint.pack(received)])
                } else {
                    try db.execute(sql: "UPDATE sync_replicas SET last_push_at = ?, schema_version = ? WHERE origin = ?", arguments: [now, version, origin])
                }
            } else {
                try db.execute(
                    sql: """
                        INSERT INTO sync_acks (node, replica, acked) VALUES (?, ?, ?)
                        ON CONFLICT (node, replica) DO UPDATE SET acked = excluded.acked
                        """,
                    arguments: [caller.centre, request.replicaID, newAcked])
            }
            try db.execute(sql: "UPDATE sync_tokens SET last_push_at = ?, schema_version = ? WHERE id = ?", arguments: [now, version, caller.token])
            if let highest = fresh.map(\.hlc).max() {
                try db.execute(sql: "UPDATE sync_hub_state SET hlc = \(db.greatest)(hlc, ?)", arguments: [highest.rawValue])
            }
            return PushOutcome(
                response: PushResponse(
                    ackedSeq: newAcked, applied: result.applied, duplicates: result.duplicates + request.changes.count - fresh.count,
                    refused: result.refused, conflicts: result.conflicts, hubTime: now),
                seqRange: fresh.isEmpty ? nil : fresh.first!.seq...fresh.last!.seq,
                hubSeqRange: result.hubSeqRange)
        }
    }

    /// `changes` with each `seen` bounded by the furthest the caller's centre has pulled: a
    /// writer cannot have seen what the hub never sent it, so a `seen` beyond that (a buggy or
    /// hostile replica) cannot hide a concurrent write from the conflict record (invariant 4).
    static func boundingSeen(_ changes: [Change], caller: Caller, db: any SQLSession) throws -> [Change] {
        let served = try Int64.fetchOne(
            db, sql: "SELECT coalesce(max(served), 0) FROM sync_tokens WHERE centre = ?", arguments: [caller.centre]) ?? 0
        guard changes.contains(where: { $0.seen > served }) else { return changes }
        return changes.map { change in
            var bounded = change
            bounded.seen = min(change.seen, served)
            return bounded
        }
    }

    /// What the hub has acknowledged of `origin`, after checking that a protocol-2 batch
    /// continues the history the hub holds of it: it may not start above that (the hub lost
    /// something: a restore), and where it overlaps it (a retry), its chains must be the
    /// ones received (else another copy of the replica's file pushed in between).
    private func checkBase(of request: PushRequest, chains: [Fingerprint], origin: String, caller: Caller, db: any SQLSession) throws -> Int64 {
        let replica = try registeredReplica(origin, caller: caller, db: db)
        let after = request.after!
        guard after <= replica.acked else {
            throw HubError.hubBehind(
                "the hub has acknowledged this replica up to \(replica.acked), the replica holds \(after) as acknowledged: "
                    + "the hub was restored from an older backup; a new session repairs it")
        }
        let overlap = min(replica.acked, request.lastSeq)
        if overlap > after {
            let held = try receivedChains(of: origin, after: after, through: overlap, db: db)
            for seq in (after + 1)...overlap {
                guard let received = held[seq], received.agrees(with: chains[Int(seq - after - 1)]) else {
                    throw HubError.replicaDiverged(
                        "entry \(seq) of this batch is not the one the hub acknowledged: another copy of this replica's file "
                            + "pushed in between; a new session lets this copy go on as a replica of its own")
                }
            }
        }
        return replica.acked
    }

    /// The chains the hub received from `origin` for local sequences `after + 1 … through`;
    /// missing ones are absent (a wirsync-1 push kept none: those read as "not known").
    func receivedChains(of origin: String, after: Int64, through: Int64, db: any SQLSession) throws -> [Int64: Fingerprint] {
        var held: [Int64: Fingerprint] = [:]
        for row in try SQLRow.fetchAll(
            db, sql: "SELECT after_seq, last_seq, chains FROM sync_receipts WHERE origin = ? AND last_seq > ? AND after_seq < ? ORDER BY last_seq",
            arguments: [origin, after, through])
        {
            // The chains of a receipt's last entries: an older one keeps only its last (`compact`),
            // and the entries before it are missing, not known.
            let chains = Fingerprint.unpack(row["chains"]) ?? []
            let first = row["last_seq"] - Int64(chains.count)
            for (offset, chain) in chains.enumerated() {
                let seq = first + 1 + Int64(offset)
                if seq > after, seq <= through { held[seq] = chain }
            }
        }
        // Receipts begin where the replica began to speak protocol 2; of what came before, nothing was kept.
        let kept = try Int64.fetchOne(db, sql: "SELECT min(after_seq) FROM sync_receipts WHERE origin = ?", arguments: [origin]) ?? .max
        if through > after {
            for seq in (after + 1)...through where seq <= kept && held[seq] == nil { held[seq] = .unknown }
        }
        return held
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
    ///
    /// - Parameters:
    ///   - offeredBy: the replica that offers these versions again after a hub restore: logged
    ///     as such, and they race no other version offered again.
    ///   - olderSchema: the changes come from a replica of an older schema version, whose
    ///     inserts leave out the columns it does not know.
    func apply(
        _ changes: [Change], scope: ScopeRule, in db: any SQLSession, now: Int64, offeredBy: String? = nil, olderSchema: Bool = false
    ) throws -> Applied {
        let applier = try Applier(session: db, schema: schema)
        // On PostgreSQL, where every statement is a round trip, the batch's versions are read
        // ahead and written, like its log entries, many to a statement at the end. SQLite runs
        // a statement in microseconds, and keeps the plain way (measured no faster batched).
        let batched = db.dialect == .postgres
        let hubNode = try applier.nodeID(Self.origin)
        let offerer = try offeredBy.map { try applier.nodeID($0) }
        let offered = offerer != nil
        // Batched, the log entries wait for the end too, unless the batch is offered again
        // after a restore: it asks the log whether a sequence was offered too (`alsoOffered`).
        // They are numbered there, under the log lock: until then, a push that runs beside
        // others (`WriteLock.rows`) counts from `provisional`, above every real number.
        let logLater = batched && !offered
        if logLater {
            // Two pushes that touch rows of one scope merge one after the other. A change writes
            // only a row of the scope it names (else it is refused before it writes), and a
            // row's scope never changes, so it holds the lock of every row it writes.
            try PostgresLocks.lock(Set(changes.map { PostgresLocks.key(scope: $0.centre) }), db: db)
        }
        if batched { try applier.readAhead(changes, scope: scope) }
        var nextSeq = logLater ? Self.provisional : try Self.nextSeq(db, now: now)
        let firstSeq = nextSeq
        var outcome = Applied()
        let logInsert = try db.prepare("INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, hlc, seen, at, offered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        let supersede = try db.prepare("UPDATE sync_hub_log SET superseded = 1 WHERE seq = ? AND op < 4")
        var entries: [[Value]] = []
        var announcements: [[Value]] = []
        var superseded: [Int64] = []
        let alsoOffered = offered ? try db.prepare("SELECT 1 FROM sync_hub_log WHERE seq = ? AND offered IS NOT NULL") : nil
        let erased = try Self.erasedCheck(db)
        let collected = try Self.collectedCheck(db)
        // One record per race: the same losing version can arrive twice (offered again after a
        // restore, then pushed; or brought back from a mirror first).
        func recordOnce(_ conflict: NewConflict) throws {
            if try self.existingRecord(conflict, applier: applier, db: db) != nil { return }
            let id = try self.record(conflict, applier: applier, db: db, now: now)
            if logLater {
                announcements.append(Self.announcement(
                    conflict: id, tableID: conflict.tableID, pk: conflict.pk, centre: conflict.centre, seq: nextSeq, hubNode: hubNode, now: now))
            } else {
                try self.announce(
                    conflict: id, tableID: conflict.tableID, pk: conflict.pk, centre: conflict.centre, seq: nextSeq, hubNode: hubNode, db: db, now: now)
            }
            nextSeq += 1
            outcome.conflicts += 1
        }

        for change in changes {
            // Too large, or not a finite number: refused on its own (docs/security.md).
            if let (column, refusal) = change.values.lazy.compactMap({ name, value in value.refusal.map { (name, $0) } }).first {
                outcome.refused.append(Refusal(seq: change.seq, code: refusal.code, message: "\(change.table).\(column) of row \(change.pk): \(refusal.reason)"))
                continue
            }
            // An erased row stays erased: a copy put back from before the erasure cannot bring it back.
            if let erased, let table = schema.table(named: change.table) {
                var erasedAt: Int64?
                try erased.run([.integer(Int64(table.id)), .text(change.pk)]) { row in erasedAt = row.integer(0) }
                if let erasedAt {
                    outcome.refused.append(Refusal(
                        seq: change.seq, code: "erased",
                        message: "\(change.table) \(change.pk) was erased at the hub on \(Self.timestamp(erasedAt)) and is not written again"))
                    continue
                }
            }
            // An update of a row whose delete the hub collected meanwhile, by a writer that had not
            // seen the delete: recorded like any update against a delete, and not applied.
            if let collected, change.op == .update, let lost = try self.againstCollectedDelete(change, collected: collected, applier: applier, db: db) {
                try recordOnce(lost)
                continue
            }
            let written = db.totalChangesCount
            let records: MergeRecords
            do {
                records = try self.merge(
                    change, seq: nextSeq, scope: scope, applier: applier, db: db, offered: alsoOffered, partial: olderSchema && change.op == .insert)
            } catch let error as ApplyError {
                guard db.totalChangesCount == written else {
                    throw HubError.sqlite("change \(change.seq) was refused after it had written (\(error.description)); nothing was applied")
                }
                switch error {
                case .outOfScope, .constraint:
                    outcome.refused.append(Refusal(seq: change.seq, code: error.code, message: error.description))
                    continue
                // A row offered again is the replica's own state; one it cannot give whole is refused on its own.
                case _ where offered:
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
                let entry: [Value] = [
                    .integer(nextSeq), .integer(Int64(tableID)), .text(change.pk), Value(change.centre),
                    .integer(HubSQL.code(change.op.rawValue)), .integer(try applier.nodeID(change.origin)),
                    .integer(change.hlc.rawValue), .integer(change.seen), .integer(now), Value(offerer),
                ]
                // One live entry per row: a pull composes the row as it is now from its live entry.
                if logLater {
                    entries.append(entry)
                    if let previous = records.previousEntry { superseded.append(previous) }
                } else {
                    try logInsert.execute(entry)
                    if let previous = records.previousEntry { try supersede.execute([.integer(previous)]) }
                }
                nextSeq += 1
                outcome.applied += 1
            }
            for conflict in records.conflicts { try recordOnce(conflict) }
        }
        // Numbered from the last entry committed, and committed before the next writer numbers its own.
        var renumber = { (seq: Int64) in seq }
        if logLater, !changes.isEmpty {
            try PostgresLocks.lockLog(db)
            let base = try Self.nextSeq(db, now: now)
            renumber = { seq in seq >= Self.provisional ? seq - Self.provisional + base : seq }
        }
        try applier.writeVersions(renumber: renumber)
        try db.execute(rows: entries.map { renumbered($0, at: [0], by: renumber) }) { count in
            "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, hlc, seen, at, offered) VALUES \(placeholders(width: 10, count: count))"
        }
        try db.execute(rows: announcements.map { renumbered($0, at: [0], by: renumber) }) { count in
            "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, conflict, at) VALUES \(placeholders(width: 8, count: count))"
        }
        // After the inserts: a row changed twice in one batch supersedes an entry of it.
        for start in stride(from: 0, to: superseded.count, by: 500) {
            let seqs = superseded[start..<min(start + 500, superseded.count)].map { Value.integer(renumber($0)) }
            try db.execute(
                sql: "UPDATE sync_hub_log SET superseded = 1 WHERE op < 4 AND seq IN \(placeholders(width: seqs.count, count: 1))",
                arguments: seqs)
        }
        if nextSeq > firstSeq { outcome.hubSeqRange = renumber(firstSeq)...renumber(nextSeq - 1) }
        return outcome
    }

    /// Where a push that runs beside others numbers its log entries from until it holds the log
    /// lock: above every real number (`now_ms << 10` stays below 2^62 for 140,000 years).
    static let provisional: Int64 = 1 << 62

    /// A log entry that announces a conflict record, as `announce` writes it.
    static func announcement(conflict id: Int64, tableID: Int, pk: String, centre: String?, seq: Int64, hubNode: Int64, now: Int64) -> [Value] {
        [.integer(seq), .integer(Int64(tableID)), .text(pk), .text(centre ?? Node.hmsi), .integer(HubSQL.conflictOp), .integer(hubNode), .integer(id), .integer(now)]
    }

    /// Appends a hub log entry that announces a conflict record (new or resolved) to the
    /// centre whose row it concerns.
    func announce(conflict id: Int64, tableID: Int, pk: String, centre: String?, seq: Int64, hubNode: Int64, db: any SQLSession, now: Int64) throws {
        try db.execute(
            sql: "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, conflict, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: Self.announcement(conflict: id, tableID: tableID, pk: pk, centre: centre, seq: seq, hubNode: hubNode, now: now))
    }

    // MARK: Pull

    /// One hub log entry as a pull reads it.
    private struct LogRow {
        var seq: Int64, table: Int, pk: String, centre: String?, op: Int64, seen: Int64, conflict: Int64?
    }

    /// The values a pull page carries at most, beyond its first entry: 16 MiB, a quarter of
    /// what a centre's libcurl transport takes (`CurlConfiguration.maxResponseBytes`).
    static let pullPageBytes = 16 << 20

    /// The rows changed after `after` in the caller's scope, at most `limit` rows, each as its
    /// versions newer than `after` (the whole row, on a first sync), with the conflict records
    /// announced among them. The log holds one live entry per row and no values: each row is
    /// composed from the row and its versions (`Applier.rowChanges`), each change carrying the
    /// hub sequence of its version; the
    /// entries a later one superseded are passed (docs/history-and-erasure.md). A replica
    /// gets every version in its scope, its own origin's included: a copy of its file on
    /// another PC may have pushed under the same name (the hub cannot tell the two apart once
    /// a restore took the receipts that would), and a version it holds already applies as a
    /// duplicate (docs/replicas-and-restores.md). A replica of wirsync 1 is not sent its
    /// centre's own versions back, and gets each insert whole, before the updates.
    ///
    /// - Parameter origin: the pulling replica (protocol 2); nil for a replica of wirsync 1,
    ///   whose origin is its centre.
    public func pull(caller: Caller, origin: String?, after: Int64, limit: Int, delta asked: Bool = false) async throws(HubError) -> PullPage {
        let now = clock.nowMillis()
        // A replica of an older schema version gets the tables and columns it knows (docs/schema-evolution.md).
        let version = caller.schemaVersion ?? self.schema.version
        let schema = view(version: version) ?? self.schema
        let centre = caller.centre
        let legacyOwn: String? = origin == nil ? caller.centre : nil
        if let origin {
            try await read { db in _ = try self.registeredReplica(origin, caller: caller, db: db) }
        }
        let response = try await read { db -> PullPage in
            let last = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log")!
            guard after <= last else {
                throw HubError.cursorAhead(
                    "cursor \(after) is ahead of the hub's log, which ends at \(last); was the hub restored from an older backup?")
            }
            // A centre reads its own entries and the reference entries: two ranges of the
            // (centre, seq) index, merged in seq order, so a pull never scans other centres'.
            let source = centre == Node.hmsi
                ? "sync_hub_log"
                : "(SELECT * FROM sync_hub_log WHERE centre = ?1 AND seq > ?2 UNION ALL SELECT * FROM sync_hub_log WHERE centre IS NULL AND seq > ?2) AS own"
            // Whole rows: the live entries only, each row with every version (a first sync costs
            // the live rows). Delta, for a replica that says it holds every version at or below
            // its cursor (it pulled whole to the end once): every entry after the cursor, each
            // row they name once per page, with only its versions above the cursor. Each version's
            // sequence is an entry of its row, and each delta page sends every row it names, so
            // the replica goes on holding every version at or below its cursor. (Whole pages skip
            // superseded entries, so a delta pull may not follow one before the end of the log;
            // compaction removes entries only below every cursor, and their rows' live entries
            // stay.) docs/history-and-erasure.md.
            let delta = asked && after > 0
            // Read first, composed after: the log statement is done before the row statements run.
            var rows: [LogRow] = []
            rows.reserveCapacity(min(limit, 4096))
            try db.prepare("SELECT seq, tbl, pk, centre, op, seen, conflict FROM \(source) WHERE seq > ?2 \(delta ? "" : "AND superseded IS NULL ") ORDER BY seq LIMIT ?3"
            ).run([.text(centre), .integer(after), .integer(Int64(limit))]) { row in
                rows.append(LogRow(
                    seq: row.integer(0), table: Int(row.integer(1)), pk: row.text(2), centre: row.optionalText(3), op: row.integer(4),
                    seen: row.optionalInteger(5) ?? 0, conflict: row.optionalInteger(6)))
            }
            let applier = try Applier(session: db, schema: schema)
            let composition: Applier.Composition = legacyOwn == nil ? .pull : .whole
            let include = { (stamp: Stamp) in (!delta || stamp.seq.map { $0 > after } ?? true) && stamp.version.origin != legacyOwn }
            var sent = Set<RowKey>()
            var changes: [PullPage.Entry] = []
            var conflictIDs: [Int64] = []
            var erased: [RowKey] = []
            // A page stays within a byte budget (one entry at least), below what a centre takes.
            var bytes = 0
            var (cut, read): (Int64?, Int64?) = (nil, nil)
            // On PostgreSQL the rows are read 64 entries at a time, one statement a table, ahead
            // of their composition: a window, so that the byte budget still bounds what is read.
            var readThrough = 0
            for (index, row) in rows.enumerated() {
                if bytes > Self.pullPageBytes {
                    cut = read
                    break
                }
                if db.dialect == .postgres, index >= readThrough {
                    readThrough = min(index + 64, rows.count)
                    let window = rows[index..<readThrough].filter { $0.op != HubSQL.conflictOp }
                    for (tableID, entries) in Dictionary(grouping: window, by: \.table) {
                        guard let table = schema.table(id: tableID) else { continue }
                        try applier.readPlainRows(table: table, pks: Array(Set(entries.map(\.pk))))
                    }
                }
                read = row.seq
                if row.op == HubSQL.conflictOp, let conflict = row.conflict {
                    conflictIDs.append(conflict)
                    continue
                }
                guard let table = schema.table(id: row.table), HubSQL.op(row.op) != nil || row.op == HubSQL.eraseOp else {
                    if self.schema.table(id: row.table) != nil { continue }
                    throw HubError.sqlite("hub log entry \(row.seq) is unreadable")
                }
                let key = RowKey(table: table.name, pk: row.pk)
                // An erased row comes as its delete (all a replica of wirsync 1 understands), and by name.
                if row.op == HubSQL.eraseOp { erased.append(key) }
                guard sent.insert(key).inserted else { continue }
                let rowCentre: String? = table.scope == .centre ? row.centre : nil
                let make = { (op: Change.Op, stamp: Stamp, values: [String: Value]) in
                    Change(
                        seq: stamp.seq ?? row.seq, table: table.name, pk: row.pk, op: op, centre: rowCentre, values: values,
                        hlc: stamp.version.hlc, origin: stamp.version.origin, seen: row.seen)
                }
                if let (stamp, valuesJSON) = try applier.plainInsert(table: table, pk: row.pk, include: include) {
                    bytes += valuesJSON.count
                    changes.append(PullPage.Entry(change: make(.insert, stamp, [:]), valuesJSON: String(decoding: valuesJSON, as: UTF8.self)))
                    continue
                }
                for change in try applier.rowChanges(table: table, pk: row.pk, for: composition, include: include, make: make) {
                    var writer = JSONWriter(capacity: 256)
                    writer.values(change.values)
                    var bare = change
                    bare.values = [:]
                    let entry = PullPage.Entry(change: bare, valuesJSON: String(decoding: writer.bytes, as: UTF8.self))
                    bytes += entry.valuesJSON.utf8.count
                    changes.append(entry)
                }
            }
            let full = rows.count == limit || cut != nil
            let next = cut ?? (full ? rows.last!.seq : last)
            var seenIDs = Set<Int64>()
            let conflicts = try conflictIDs.filter { seenIDs.insert($0).inserted }.compactMap { id -> ConflictRecord? in
                guard let record = try self.conflictRecord(id: id, db: db) else { throw HubError.noSuchConflict(id) }
                // A race over a table or column the replica's version does not know is not its to see.
                guard let table = schema.table(named: record.table), record.column.map({ table.column(named: $0) != nil }) ?? true else {
                    return nil
                }
                return record
            }
            return PullPage(
                changes: changes, conflicts: conflicts, nextCursor: next, nextCheck: try Self.entryCheck(at: next, db: db),
                more: full && next < last, hubTime: now, erased: erased)
        }
        // Beside pushes, in a push's order (the replica, then the token).
        try await write(.rows) { db in
            if let origin {
                try db.execute(
                    sql: "UPDATE sync_replicas SET last_pull_at = ?, cursor = ?, schema_version = ? WHERE origin = ?",
                    arguments: [now, response.nextCursor, version, origin])
            }
            try db.execute(
                sql: "UPDATE sync_tokens SET last_pull_at = ?, served = \(db.greatest)(served, ?), schema_version = ? WHERE id = ?",
                arguments: [now, response.nextCursor, version, caller.token])
        }
        // A transaction of its own, which takes its locks before it writes (`compact`): one
        // that held the token's row meanwhile could wait for a push that waits for that row.
        _ = try await write(.rows) { db in try Self.compact(db, limit: Self.compactionStep, now: now) }
        return response
    }
}
