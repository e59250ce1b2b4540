import Crypto
import Foundation
import GRDB
public import SyncCore
import SyncStore

/// What a session did beyond its answer, for the hub's log line.
public struct SessionOutcome: Sendable {
    public var response: SessionResponse
    /// This session was the first to find that the hub was restored from an older backup.
    public var restoreFound: String?
    /// The replica registered as a fork of another.
    public var forkedFrom: String?
}

/// One registered replica as a request needs it.
struct RegisteredReplica {
    var origin: String
    var acked: Int64
    var ackedChain: Fingerprint
    var ackedHLC: HLC
}

extension HubStore {
    /// A session (protocol 2, docs/replicas-and-restores.md): registers the replica on its
    /// first one, and compares what the replica believes with what the hub holds: whether
    /// the hub still has the entry at the replica's cursor, what it has acknowledged of it.
    /// The replica repairs what differs; the hub keeps a record of every restore it learns of.
    public func session(caller: Caller, origin: String, request: SessionRequest) async throws(HubError) -> SessionOutcome {
        guard Origin.isWellFormed(origin) else {
            throw .badRequest(code: "invalid_replica", message: "\(Wire.replicaHeader) \(origin) is not a replica name (centre.suffix)")
        }
        guard String(Origin.centre(of: origin)) == caller.centre, request.centre == caller.centre else {
            throw .forbidden("this token belongs to \(caller.centre); it cannot speak for \(origin) of \(request.centre)")
        }
        if let points = request.checkpoints, points.count > SessionRequest.maxCheckpoints {
            throw .badRequest(code: "invalid_session", message: "a session carries at most \(SessionRequest.maxCheckpoints) checkpoints, not \(points.count)")
        }
        let now = clock.nowMillis()
        let hubID = self.hubID
        return try await write { db in
            var registered = false
            var mustFork: String?
            var forkedFrom: String?
            let existing = try SQLRow.fetchOne(db, sql: "SELECT * FROM sync_replicas WHERE origin = ?", arguments: [origin])
            if let existing {
                if existing["revoked_at"] as Int64? != nil {
                    mustFork = "HMSI cut this replica off; it goes on as a new replica of \(caller.centre)"
                } else if let legacy = existing["legacy_replica"] as String?, let presented = request.legacyReplicaID, legacy != presented {
                    mustFork = "another file of wirsync 1 already syncs as \(origin); this one goes on as a replica of its own"
                }
                if mustFork == nil, existing["token"] as Int64 != caller.token {
                    try db.execute(sql: "UPDATE sync_replicas SET token = ? WHERE origin = ?", arguments: [caller.token, origin])
                }
            } else {
                // A fork starts from the history it shares with its former origin, which that origin
                // delivered: up to where they parted. (If the file holds more as acknowledged, a hub
                // since restored took those pushes back; the difference makes the replica offer them
                // again.) A replica of wirsync 1 (its origin is its centre) keeps the acknowledgement
                // the hub kept under its replica id.
                var (acked, chain, hlc) = (Int64(0), Fingerprint.unknown, HLC.zero)
                if request.forkedFrom != nil {
                    acked = min(request.acked, max(0, (request.partedAt ?? 1) - 1))
                    if acked == request.acked { (chain, hlc) = (request.ackedChain, request.ackedHLC) }
                } else if let legacy = request.legacyReplicaID, origin == caller.centre {
                    acked = try Int64.fetchOne(db, sql: "SELECT acked FROM sync_acks WHERE node = ? AND replica = ?", arguments: [caller.centre, legacy]) ?? 0
                }
                try db.execute(
                    sql: """
                        INSERT INTO sync_replicas (origin, centre, token, forked_from, legacy_replica, created_at, acked, acked_chain, acked_hlc)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        origin, caller.centre, caller.token, request.forkedFrom, origin == caller.centre ? request.legacyReplicaID : nil, now,
                        acked, chain.rawValue, hlc.rawValue,
                    ])
                registered = true
                if let parent = request.forkedFrom {
                    forkedFrom = parent
                    try self.event(
                        "fork", origin: origin, detail: "\(origin) is a copy of \(parent)'s file, going on by itself from its entry \(request.partedAt ?? 0)",
                        db: db, now: now)
                }
            }
            if request.adoptAcked, mustFork == nil {
                try db.execute(
                    sql: "UPDATE sync_replicas SET acked = ?, acked_chain = ?, acked_hlc = \(db.greatest)(acked_hlc, ?) WHERE origin = ?",
                    arguments: [request.acked, request.ackedChain.rawValue, request.ackedHLC.rawValue, origin])
            }
            let replica = try SQLRow.fetchOne(db, sql: "SELECT acked, acked_chain, acked_hlc FROM sync_replicas WHERE origin = ?", arguments: [origin])!
            let acked: Int64 = replica["acked"]
            // The hub holds writes of this origin newer than any this file holds (offered again by
            // a later state of the file, after a hub restore): the file was put back from an
            // older copy, at a point the hub's acknowledgement no longer tells apart.
            if mustFork == nil, existing != nil, let own = request.ownHLC, request.acked <= acked,
                case let held = HLC(rawValue: replica["acked_hlc"]), held > own
            {
                mustFork = "this file is an older copy of the replica \(origin): the hub holds writes of it up to clock \(held.rawValue), "
                    + "the file's newest is \(own.rawValue) (it was put back from a backup); it goes on as a replica of its own"
            }

            // Does the hub still hold the entry at the replica's cursor, as the replica saw it?
            // A replica that last synced with another hub (this one was rebuilt) shares nothing with it.
            var divergedAfter: LogPosition?
            if let known = request.hubID, known != hubID {
                divergedAfter = LogPosition(seq: 0, check: nil)
            } else if request.cursor > 0 {
                let check = try Self.entryCheck(at: request.cursor, db: db)
                // An entry below the horizon the hub last compacted to may be gone for that
                // alone: a superseded entry that every provisioned replica had pulled past.
                let compacted = try check == nil
                    && request.cursor < Int64.fetchOne(db, sql: "SELECT compacted_below FROM sync_hub_state")!
                if !compacted, check == nil || (request.cursorCheck != nil && check != request.cursorCheck) {
                    let shared = try Self.partingPoint(cursor: request.cursor, checkpoints: request.checkpoints, db: db)
                    divergedAfter = LogPosition(seq: shared, check: try Self.entryCheck(at: shared, db: db))
                }
            }
            var restoreFound: String?
            let lostPushes = mustFork == nil && request.acked > acked
            if divergedAfter != nil || lostPushes {
                let evidence =
                    if let known = request.hubID, known != hubID {
                        "\(origin) last synced with another hub (\(known)); this one (\(hubID)) was made anew"
                    } else if let divergedAfter {
                        "it no longer holds the entry at \(origin)'s cursor \(request.cursor); the two logs part after \(divergedAfter.seq)"
                    } else {
                        "it has acknowledged \(origin) up to \(acked), the replica holds \(request.acked) as acknowledged"
                    }
                restoreFound = try self.reportRestore(by: origin, divergedAfter: divergedAfter?.seq, evidence: evidence, db: db, now: now)
            }

            // A fork pulls again what its former origin pushed after the two parted.
            var rewind: LogPosition?
            if registered, let parent = request.forkedFrom, let partedAt = request.partedAt,
                let firstSeq = try Int64.fetchOne(
                    db, sql: "SELECT min(hub_seq) FROM sync_receipts WHERE origin = ? AND last_seq >= ?", arguments: [parent, partedAt]),
                firstSeq <= request.cursor
            {
                let before = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log WHERE seq < ?", arguments: [firstSeq])!
                rewind = LogPosition(seq: before, check: try Self.entryCheck(at: before, db: db))
            }
            let inAgreement = mustFork == nil && divergedAfter == nil && request.acked == acked
                && request.ackedChain.agrees(with: Fingerprint(rawValue: replica["acked_chain"]))
            // Where the replica pulls from: its cursor for compaction (a cursor past the parting
            // point names no entry of this log, and would let the horizon pass entries it needs).
            var pullFrom = rewind?.seq ?? divergedAfter?.seq ?? request.cursor
            // Deletes this replica never pulled were collected: it re-syncs from the start. (A new
            // replica holds nothing they could concern.)
            let resync = try request.cursor > 0 && mustFork == nil && pullFrom < Self.collectedThrough(scopeOf: caller.centre, db: db)
            if resync { pullFrom = 0 }
            try db.execute(
                sql: """
                    UPDATE sync_replicas SET last_session_at = ?, cursor = ?, resynced_at = CASE WHEN ? = 1 THEN ? ELSE resynced_at END,
                        clock_offset_ms = coalesce(?, clock_offset_ms) WHERE origin = ?
                    """,
                arguments: [now, pullFrom, inAgreement, now, request.clock.map { $0 - now }, origin])
            if inAgreement { try self.closeRestoreIfEveryoneResynced(db: db, now: now) }
            return SessionOutcome(
                response: SessionResponse(
                    hubID: hubID, hubTime: now, registered: registered, acked: acked, ackedChain: Fingerprint(rawValue: replica["acked_chain"]),
                    ackedHLC: HLC(rawValue: replica["acked_hlc"]), cursorValid: divergedAfter == nil, divergedAfter: divergedAfter,
                    mustFork: mustFork, rewind: rewind, pendingPull: try self.pending(after: pullFrom, centre: caller.centre, db: db),
                    resync: resync ? true : nil),
                restoreFound: restoreFound, forkedFrom: forkedFrom)
        }
    }

    /// The highest log entry of a tombstone collected in what `centre` reads: its own rows and
    /// the reference data (HMSI: everything). 0 if none was.
    static func collectedThrough(scopeOf centre: String, db: any SQLSession) throws -> Int64 {
        try Int64.fetchOne(
            db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_collected WHERE ? = ? OR scope IN (?, '')",
            arguments: [centre, Node.hmsi, centre]) ?? 0
    }

    /// The replica a protocol-2 push or pull names, checked against the token that sent it.
    func registeredReplica(_ origin: String, caller: Caller, db: any SQLSession) throws -> RegisteredReplica {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM sync_replicas WHERE origin = ?", arguments: [origin]),
            row["centre"] as String == caller.centre
        else {
            throw HubError.noSession("the hub does not know the replica \(origin) of \(caller.centre); a sync starts with a session (POST /v1/session)")
        }
        guard row["revoked_at"] as Int64? == nil else {
            throw HubError.forbidden("HMSI cut the replica \(origin) off; it cannot sync any more")
        }
        guard row["token"] as Int64 == caller.token else {
            throw HubError.noSession("the replica \(origin) registered with another token; a new session moves it to this one")
        }
        return RegisteredReplica(
            origin: origin, acked: row["acked"], ackedChain: Fingerprint(rawValue: row["acked_chain"]), ackedHLC: HLC(rawValue: row["acked_hlc"]))
    }

    /// Where the hub's log and a replica's view of it part, when the hub no longer holds the
    /// entry at the replica's cursor: the last point the replica pulled through that the hub
    /// holds as the replica saw it (0 if none). The last entry below the cursor would do only
    /// if the hub's log were an older state of the history the replica followed; put back
    /// once to an older backup and then to a newer one, it holds entries the replica never
    /// saw below that. A replica that sends no checkpoints gets the last entry below its cursor.
    static func partingPoint(cursor: Int64, checkpoints: [LogPosition]?, db: any SQLSession) throws -> Int64 {
        guard let checkpoints else {
            return try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log WHERE seq < ?", arguments: [cursor])!
        }
        for point in checkpoints.sorted(by: { $0.seq > $1.seq }) where point.seq < cursor {
            if let check = point.check, try entryCheck(at: point.seq, db: db) == check { return point.seq }
        }
        return 0
    }

    /// The fingerprint of the hub log entry at `seq`; nil if there is none (or `seq` is 0).
    static func entryCheck(at seq: Int64, db: any SQLSession) throws -> Fingerprint? {
        guard seq > 0,
            let row = try SQLRow.fetchOne(
                db,
                sql: "SELECT l.tbl, l.pk, l.op, n.name AS origin, l.hlc, l.conflict, l.at FROM sync_hub_log l JOIN sync_nodes n ON n.id = l.origin WHERE l.seq = ?",
                arguments: [seq])
        else { return nil }
        let hlc: Int64? = row["hlc"], conflict: Int64? = row["conflict"]
        var hasher = SHA256()
        for number in [seq, row["tbl"], row["op"], hlc ?? 0, conflict ?? 0, row["at"]] as [Int64] {
            withUnsafeBytes(of: number.bigEndian) { hasher.update(bufferPointer: $0) }
        }
        hasher.update(data: Data((row["origin"] as String).utf8) + [0] + Data((row["pk"] as String).utf8))
        return Fingerprint(rawValue: hasher.finalize().withUnsafeBytes { Int64(bigEndian: $0.loadUnaligned(as: Int64.self)) })
    }

    /// How many live log entries in a centre's scope follow `after`.
    private func pending(after: Int64, centre: String, db: any SQLSession) throws -> Int {
        if centre == Node.hmsi {
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_hub_log WHERE seq > ? AND superseded IS NULL", arguments: [after]) ?? 0
        }
        return try Int.fetchOne(
            db,
            sql: """
                SELECT (SELECT count(*) FROM sync_hub_log WHERE centre = ? AND seq > ? AND superseded IS NULL)
                    + (SELECT count(*) FROM sync_hub_log WHERE centre IS NULL AND seq > ? AND superseded IS NULL)
                """,
            arguments: [centre, after, after]) ?? 0
    }

    // MARK: Restores

    /// Records a replica's evidence that the hub was restored. Opens a restore (the first
    /// report of one) and returns its description for the log; a later report of the same
    /// restore is kept with it.
    private func reportRestore(by origin: String, divergedAfter: Int64?, evidence: String, db: any SQLSession, now: Int64) throws -> String? {
        let open = try SQLRow.fetchOne(db, sql: "SELECT id, diverged_after FROM sync_hub_events WHERE kind = 'restore' AND closed_at IS NULL ORDER BY id DESC LIMIT 1")
        let already = try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM sync_hub_events WHERE kind = 'restore_report' AND origin = ? AND detail = ? AND closed_at IS NULL)",
            arguments: [origin, evidence]) ?? false
        if !already { try event("restore_report", origin: origin, detail: evidence, db: db, now: now) }
        if let open {
            if open["diverged_after"] as Int64? == nil, let divergedAfter {
                try db.execute(
                    sql: "UPDATE sync_hub_events SET diverged_after = ?, conflicts_through = ? WHERE id = ?",
                    arguments: [divergedAfter, try Self.conflictsThrough(divergedAfter, db: db), open["id"] as Int64])
            }
            return nil
        }
        let detail = "the hub was restored from an older backup: \(evidence) (found by \(origin))"
        try db.execute(
            sql: "INSERT INTO sync_hub_events (at, kind, origin, diverged_after, conflicts_through, detail) VALUES (?, 'restore', ?, ?, ?, ?)",
            arguments: [now, origin, divergedAfter, try divergedAfter.map { try Self.conflictsThrough($0, db: db) }, detail])
        return detail
    }

    /// The last conflict record announced at or before a log sequence: what a store restored
    /// to that point holds.
    static func conflictsThrough(_ seq: Int64, db: any SQLSession) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT coalesce(max(conflict), 0) FROM sync_hub_log WHERE op = 4 AND seq <= ?", arguments: [seq]) ?? 0
    }

    private func event(_ kind: String, origin: String?, detail: String, db: any SQLSession, now: Int64) throws {
        try db.execute(
            sql: "INSERT INTO sync_hub_events (at, kind, origin, detail) VALUES (?, ?, ?, ?)", arguments: [now, kind, origin, detail])
    }

    /// Closes the open restore once every active replica has had a session in agreement since.
    private func closeRestoreIfEveryoneResynced(db: any SQLSession, now: Int64) throws {
        guard let open = try SQLRow.fetchOne(db, sql: "SELECT id, at FROM sync_hub_events WHERE kind = 'restore' AND closed_at IS NULL") else { return }
        let behind = try Int.fetchOne(
            db,
            sql: """
                SELECT count(*) FROM sync_replicas r JOIN sync_tokens t ON t.id = r.token
                WHERE r.revoked_at IS NULL AND t.revoked_at IS NULL AND coalesce(r.resynced_at, 0) < ?
                """,
            arguments: [open["at"] as Int64]) ?? 0
        if behind == 0 {
            try db.execute(sql: "UPDATE sync_hub_events SET closed_at = ? WHERE id = ? OR (kind = 'restore_report' AND closed_at IS NULL)", arguments: [now, open["id"] as Int64])
        }
    }

    // MARK: Receipts

    /// The receipts of a replica's pushes after a local sequence: the chains the hub received.
    public func receipts(caller: Caller, origin: String, after: Int64, limit: Int) async throws(HubError) -> ReceiptsResponse {
        let now = clock.nowMillis()
        return try await read { db in
            _ = try self.registeredReplica(origin, caller: caller, db: db)
            let rows = try SQLRow.fetchAll(
                db, sql: "SELECT after_seq, last_seq, chains FROM sync_receipts WHERE origin = ? AND last_seq > ? ORDER BY last_seq LIMIT ?",
                arguments: [origin, after, limit + 1])
            return ReceiptsResponse(
                receipts: rows.prefix(limit).map { Receipt(afterSeq: $0["after_seq"], lastSeq: $0["last_seq"], chains: $0["chains"]) },
                more: rows.count > limit, hubTime: now)
        }
    }

    // MARK: Offered again

    /// Versions a replica offers again after a hub restore: merged like pushed changes, with
    /// their own origins, in the caller's scope; logged so every replica pulls them; never
    /// acknowledged as a replica's log entries.
    public func reoffer(caller: Caller, origin: String, request: ReofferRequest, skewBoundMillis: Int64) async throws(HubError) -> ReofferResponse {
        let now = clock.nowMillis()
        let scope = ScopeRule(centre: caller.centre == Node.hmsi ? nil : caller.centre, reference: caller.centre == Node.hmsi)
        return try await write { db in
            _ = try self.registeredReplica(origin, caller: caller, db: db)
            if let ahead = request.changes.max(by: { $0.hlc < $1.hlc }), ahead.hlc.millis > now + skewBoundMillis {
                throw HubError.clockAhead(Self.clockAheadMessage(change: ahead, now: now, bound: skewBoundMillis))
            }
            let result = try self.apply(Self.boundingSeen(request.changes, caller: caller, db: db), scope: scope, in: db, now: now, offeredBy: origin)
            // The newest clock the hub now holds from this replica itself (its own versions among those offered).
            if let newest = request.changes.filter({ $0.origin == origin }).map(\.hlc).max() {
                try db.execute(sql: "UPDATE sync_replicas SET acked_hlc = \(db.greatest)(acked_hlc, ?) WHERE origin = ?", arguments: [newest.rawValue, origin])
            }
            if let highest = request.changes.map(\.hlc).max() {
                try db.execute(sql: "UPDATE sync_hub_state SET hlc = \(db.greatest)(hlc, ?)", arguments: [highest.rawValue])
            }
            return ReofferResponse(applied: result.applied, duplicates: result.duplicates, refused: result.refused, conflicts: result.conflicts, hubTime: now)
        }
    }
}

// MARK: Backups and restores

extension HubStore {
    /// Writes a consistent copy of the hub store at `path` to `target` while it serves
    /// (`VACUUM INTO`); returns its size in bytes.
    @discardableResult
    public static func backup(path: String, to target: String) throws(HubError) -> Int64 {
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path: path) }
        do {
            return try StoreFiles.backup(path, to: target)
        } catch {
            throw map(error, path: path)
        }
    }

    /// Puts the hub store `backup` in place at `path` (the hub must not be serving) and records
    /// the restore, so that `status` shows it and which replicas have re-synced since. A copy
    /// of the store it replaces is kept as `<path>.before-restore`. Returns the restored store
    /// and that copy's path.
    public static func restore(path: String, from backup: String, clock: any WallClock = SystemClock()) async throws(HubError) -> (HubStore, kept: String?) {
        guard FileManager.default.fileExists(atPath: backup) else { throw .notFound(path: backup) }
        var kept: String?
        do {
            var configuration = Configuration()
            configuration.readonly = true
            guard try await DatabaseQueue(path: backup, configuration: configuration).read({ try $0.tableExists("sync_hub_state") }) else {
                throw HubError.notAHub(path: backup, reason: "it has no sync_hub_state")
            }
            // Best effort: the store replaced may be the damaged one.
            if FileManager.default.fileExists(atPath: path), (try? StoreFiles.backup(path, to: path + ".before-restore")) != nil {
                kept = path + ".before-restore"
            }
            try StoreFiles.restore(path, from: backup)
        } catch {
            throw map(error, path: backup)
        }
        let store = try open(path: path, clock: clock)
        let now = clock.nowMillis()
        try await store.write { db in
            let end = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log")!
            let taken = LogSeq.millis(end).map { " (its log ends \(Self.timestamp($0)))" } ?? ""
            try db.execute(sql: "UPDATE sync_hub_events SET closed_at = ? WHERE closed_at IS NULL AND kind IN ('restore', 'restore_report')", arguments: [now])
            try db.execute(
                sql: "INSERT INTO sync_hub_events (at, kind, diverged_after, conflicts_through, detail) VALUES (?, 'restore', ?, ?, ?)",
                arguments: [
                    now, end, try Self.conflictsThrough(end, db: db),
                    "HMSI restored the hub from an older backup, \(URL(fileURLWithPath: backup).lastPathComponent)\(taken)",
                ])
        }
        return (store, kept)
    }
}
