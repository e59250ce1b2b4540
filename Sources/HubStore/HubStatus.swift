import GRDB
public import SyncCore
import SyncStore

/// An overview of the hub for `wirsync-hub status`.
public struct HubStatus: Hashable, Sendable, Codable {
    public var schema: String
    /// The hub log's last sequence: how far centres can pull.
    public var logSeq: Int64
    public var logEntries: Int
    /// What the log keeps, and who holds its compaction back.
    public var history: LogHistory
    /// Visible rows per domain table.
    public var rows: [String: Int]
    public var conflictsOpen: Int
    public var conflictsTotal: Int
    /// The last restore of the hub from an older backup that replicas found (or HMSI declared).
    public var restore: RestoreInfo?
    /// The schema versions the hub serves, and which replica last spoke which.
    public var versions: SchemaVersions

    enum CodingKeys: String, CodingKey {
        case schema, rows, restore, history, versions
        case logSeq = "log_seq"
        case logEntries = "log_entries"
        case conflictsOpen = "conflicts_open"
        case conflictsTotal = "conflicts_total"
    }
}

/// The window of schema versions a hub serves, and the active replicas on each
/// (docs/schema-evolution.md).
public struct SchemaVersions: Hashable, Sendable, Codable {
    public var oldest: Int
    public var newest: Int
    /// Replica (or, for a replica of wirsync 1, centre) names by the version they last spoke;
    /// "unknown" for those that have not synced since the hub recorded versions.
    public var replicas: [String: [String]]
}

/// A restore of the hub, and how far the replicas have got with it.
public struct RestoreInfo: Hashable, Sendable, Codable {
    /// When it was found (or declared).
    public var at: Int64
    public var detail: String
    /// The last log sequence the restored store shares with the lost one, when known.
    public var divergedAfter: Int64?
    /// Active replicas that have had a session in agreement with the hub since, and those that have not.
    public var resynced: [String]
    public var notYet: [String]
    /// When every active replica had re-synced.
    public var closedAt: Int64?
    /// Conflict records lost with the restore that no replica's mirror brought back: the
    /// gaps among the lost records' ids that replicas reported.
    public var conflictsNotRebuilt: Int
    public var conflictsRebuilt: Int

    enum CodingKeys: String, CodingKey {
        case at, detail, resynced
        case divergedAfter = "diverged_after"
        case notYet = "not_yet"
        case closedAt = "closed_at"
        case conflictsNotRebuilt = "conflicts_not_rebuilt"
        case conflictsRebuilt = "conflicts_rebuilt"
    }
}

extension HubStore {
    public func status() async throws(HubError) -> HubStatus {
        let tables = schema.tables.map(\.name)
        let tag = schemaTag
        let served = servedVersions
        return try await read { db in
            var rows: [String: Int] = [:]
            for table in tables {
                rows[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\(table)\"") ?? 0
            }
            let history = try Self.history(db)
            return HubStatus(
                schema: tag,
                logSeq: try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log") ?? 0,
                logEntries: history.entries, history: history, rows: rows,
                conflictsOpen: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL") ?? 0,
                conflictsTotal: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts") ?? 0,
                restore: try Self.lastRestore(db), versions: try Self.versions(db, served: served))
        }
    }

    private static func versions(_ db: any SQLSession, served: ClosedRange<Int>) throws -> SchemaVersions {
        var replicas: [String: [String]] = [:]
        for row in try SQLRow.fetchAll(
            db,
            sql: """
                SELECT r.origin AS name, r.schema_version AS version FROM sync_replicas r JOIN sync_tokens t ON t.id = r.token
                WHERE r.revoked_at IS NULL AND t.revoked_at IS NULL
                UNION ALL
                SELECT t.centre, t.schema_version FROM sync_tokens t
                WHERE t.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM sync_replicas r WHERE r.token = t.id) AND t.last_pull_at IS NOT NULL
                ORDER BY 1
                """)
        {
            replicas[(row["version"] as Int?).map(String.init) ?? "unknown", default: []].append(row["name"])
        }
        return SchemaVersions(oldest: served.lowerBound, newest: served.upperBound, replicas: replicas)
    }

    private static func lastRestore(_ db: any SQLSession) throws -> RestoreInfo? {
        guard let event = try SQLRow.fetchOne(db, sql: "SELECT * FROM sync_hub_events WHERE kind = 'restore' ORDER BY id DESC LIMIT 1") else {
            return nil
        }
        let at: Int64 = event["at"]
        let replicas = try SQLRow.fetchAll(
            db,
            sql: """
                SELECT r.origin, coalesce(r.resynced_at, 0) >= ? AS resynced FROM sync_replicas r JOIN sync_tokens t ON t.id = r.token
                WHERE r.revoked_at IS NULL AND t.revoked_at IS NULL ORDER BY r.origin
                """,
            arguments: [at])
        // Lost records are those above what the restored store held; the ids replicas reported
        // among them show the gaps no mirror filled.
        let reported = try Int64.fetchAll(db, sql: "SELECT old_id FROM sync_conflict_rebuilds WHERE restore = ? ORDER BY old_id", arguments: [event["id"] as Int64])
        let through: Int64 = event["conflicts_through"] ?? 0
        let lost = reported.filter { $0 > through }
        let notRebuilt = lost.last.map { Int($0 - through) - lost.count } ?? 0
        return RestoreInfo(
            at: at, detail: event["detail"], divergedAfter: event["diverged_after"],
            resynced: replicas.filter { $0["resynced"] as Bool }.map { $0["origin"] },
            notYet: replicas.filter { !($0["resynced"] as Bool) }.map { $0["origin"] }, closedAt: event["closed_at"],
            conflictsNotRebuilt: notRebuilt,
            conflictsRebuilt: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts WHERE rebuilt_from IS NOT NULL") ?? 0)
    }
}

extension HubStore {
    /// Row counts and SHA-256 of every replicated table in `node`'s scope, computed as a
    /// replica computes them (`wirsync verify`).
    ///
    /// - Parameter schemaVersion: the version the asking replica speaks: the digest covers the
    ///   tables and columns it knows.
    public func digest(node: String, schemaVersion: Int? = nil) async throws(HubError) -> DigestResponse {
        let now = clock.nowMillis()
        let schema = schemaVersion.flatMap { view(version: $0) } ?? self.schema
        return try await read { db in
            DigestResponse(tables: try Digest.tables(db, schema: schema, centre: node == Node.hmsi ? nil : node), hubTime: now)
        }
    }
}
