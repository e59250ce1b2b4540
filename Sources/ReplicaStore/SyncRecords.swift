import Foundation
import GRDB
public import SyncCore
import SyncStore

/// The outcome of one sync, as `wirsync status` shows it.
public struct SyncRun: Hashable, Sendable, Codable {
    public var startedAt: Int64
    public var finishedAt: Int64
    public var ok: Bool
    public var pushed: Int
    public var pulled: Int
    public var refused: Int
    /// Conflicts recorded at the hub by this sync's pushes.
    public var conflicts: Int
    /// The hub's clock minus this PC's, in ms, from the last answer (positive: this PC is behind).
    public var hubOffsetMillis: Int64?
    public var error: String?
    /// What kind of failure: `unreachable`, `timeout`, `interrupted`, `tls`, `unauthorized`,
    /// `clock_ahead`, `schema_mismatch`, `busy`, … (nil on success).
    public var errorKind: String?

    public init(
        startedAt: Int64, finishedAt: Int64, ok: Bool, pushed: Int, pulled: Int, refused: Int, conflicts: Int,
        hubOffsetMillis: Int64?, error: String?, errorKind: String?
    ) {
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.ok = ok
        self.pushed = pushed
        self.pulled = pulled
        self.refused = refused
        self.conflicts = conflicts
        self.hubOffsetMillis = hubOffsetMillis
        self.error = error
        self.errorKind = errorKind
    }

    enum CodingKeys: String, CodingKey {
        case ok, pushed, pulled, refused, conflicts, error
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case hubOffsetMillis = "hub_offset_ms"
        case errorKind = "error_kind"
    }
}

/// A change of this replica the hub refused, kept for the operator.
public struct RefusedChange: Hashable, Sendable, Codable {
    public var seq: Int64
    public var table: String
    public var pk: String
    public var op: String
    public var code: String
    public var message: String
    public var refusedAt: Int64

    enum CodingKeys: String, CodingKey {
        case seq, table, pk, op, code, message
        case refusedAt = "refused_at"
    }
}

extension Replica {
    /// Keeps the outcome of a sync; the last 500 are kept.
    public func record(_ run: SyncRun) throws(ReplicaError) {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO sync_runs (started_at, finished_at, ok, pushed, pulled, refused, conflicts, hub_offset_ms, error, error_kind)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    run.startedAt, run.finishedAt, run.ok, run.pushed, run.pulled, run.refused, run.conflicts, run.hubOffsetMillis,
                    run.error, run.errorKind,
                ])
            try db.execute(sql: "DELETE FROM sync_runs WHERE id <= (SELECT max(id) - 500 FROM sync_runs)")
        }
    }

    /// The most recent sync, and the most recent successful one.
    public func lastRuns() throws(ReplicaError) -> (last: SyncRun?, lastSuccess: SyncRun?) {
        try read { db in
            let last = try Row.fetchOne(db, sql: "SELECT * FROM sync_runs ORDER BY id DESC LIMIT 1").map(Self.run)
            let success = try Row.fetchOne(db, sql: "SELECT * FROM sync_runs WHERE ok = 1 ORDER BY id DESC LIMIT 1").map(Self.run)
            return (last, success)
        }
    }

    private static func run(_ row: Row) -> SyncRun {
        SyncRun(
            startedAt: row["started_at"], finishedAt: row["finished_at"], ok: row["ok"], pushed: row["pushed"], pulled: row["pulled"],
            refused: row["refused"], conflicts: row["conflicts"], hubOffsetMillis: row["hub_offset_ms"], error: row["error"],
            errorKind: row["error_kind"])
    }

    /// Moves the clock to at least the hub's (a pull already moves it past every clock received).
    public func observeHub(timeMillis: Int64) throws(ReplicaError) {
        try write { db in
            try fold(db)
            try db.execute(sql: "UPDATE sync_state SET hlc = max(hlc, ?)", arguments: [HLC(millis: timeMillis).rawValue])
        }
    }

    /// The last sequence of the change log: it grows with every captured write.
    public func logHead() throws(ReplicaError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_log") ?? 0 }
    }

    /// Row counts and SHA-256 of every replicated table in this replica's scope.
    public func digest() throws(ReplicaError) -> [String: TableDigest] {
        try read { db in try Digest.tables(db, schema: schema, centre: node == Node.hmsi ? nil : node) }
    }

    // MARK: Conflict mirror and refusals

    /// Mirrors a conflict record. Through `RawStatement`, which binds a text whole (GRDB
    /// binds it up to its first NUL character).
    static func store(_ conflict: ConflictRecord, in db: Database) throws {
        try RawStatement(
            db,
            sql: """
                INSERT OR REPLACE INTO sync_conflicts (id, table_name, pk, centre, column_name, winner_value, winner_origin, winner_hlc,
                    loser_value, loser_origin, loser_hlc, recorded_at, resolved_at, resolved_by, kept)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute([
            .integer(conflict.id), .text(conflict.table), .text(conflict.pk), Value(conflict.centre), Value(conflict.column),
            conflict.winner.value, .text(conflict.winner.origin), .integer(conflict.winner.hlc.rawValue),
            conflict.loser.value, .text(conflict.loser.origin), .integer(conflict.loser.hlc.rawValue),
            .integer(conflict.recordedAt), Value(conflict.resolvedAt), Value(conflict.resolvedBy), Value(conflict.kept),
        ])
    }

    /// The hub's conflict records about this replica's rows, newest first.
    public func conflicts(openOnly: Bool = false) throws(ReplicaError) -> [ConflictRecord] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT *, \(Value.bytesColumn("winner_value")), \(Value.bytesColumn("loser_value")) FROM sync_conflicts
                    WHERE (? = 0 OR resolved_at IS NULL) ORDER BY id DESC
                    """,
                arguments: [openOnly ? 1 : 0]
            ).map(Self.conflict)
        }
    }

    private static func conflict(_ row: Row) -> ConflictRecord {
        ConflictRecord(
            id: row["id"], table: row["table_name"], pk: row["pk"], centre: row["centre"], column: row["column_name"],
            winner: ConflictSide(value: Value(row, whole: "winner_value"), origin: row["winner_origin"], hlc: HLC(rawValue: row["winner_hlc"])),
            loser: ConflictSide(value: Value(row, whole: "loser_value"), origin: row["loser_origin"], hlc: HLC(rawValue: row["loser_hlc"])),
            recordedAt: row["recorded_at"], resolvedAt: row["resolved_at"], resolvedBy: row["resolved_by"], kept: row["kept"])
    }

    /// The changes the hub refused, newest first.
    public func refusals() throws(ReplicaError) -> [RefusedChange] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sync_refused ORDER BY seq DESC").map {
                RefusedChange(
                    seq: $0["seq"], table: $0["table_name"], pk: $0["pk"], op: $0["op"], code: $0["code"], message: $0["message"],
                    refusedAt: $0["refused_at"])
            }
        }
    }
}
