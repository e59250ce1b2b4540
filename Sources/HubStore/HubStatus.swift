import GRDB
public import SyncCore
import SyncStore

/// An overview of the hub for `wirsync-hub status`.
public struct HubStatus: Hashable, Sendable, Codable {
    public var schema: String
    /// The hub log's last sequence: how far centres can pull.
    public var logSeq: Int64
    /// Visible rows per domain table.
    public var rows: [String: Int]
    public var conflictsOpen: Int
    public var conflictsTotal: Int

    enum CodingKeys: String, CodingKey {
        case schema, rows
        case logSeq = "log_seq"
        case conflictsOpen = "conflicts_open"
        case conflictsTotal = "conflicts_total"
    }
}

extension HubStore {
    public func status() async throws(HubError) -> HubStatus {
        let tables = schema.tables.map(\.name)
        let tag = schemaTag
        return try await read { db in
            var rows: [String: Int] = [:]
            for table in tables {
                rows[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \"\(table)\"") ?? 0
            }
            return HubStatus(
                schema: tag,
                logSeq: try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM sync_hub_log") ?? 0, rows: rows,
                conflictsOpen: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL") ?? 0,
                conflictsTotal: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts") ?? 0)
        }
    }
}

extension HubStore {
    /// Row counts and SHA-256 of every replicated table in `node`'s scope, computed as a
    /// replica computes them (`wirsync verify`).
    public func digest(node: String) async throws(HubError) -> DigestResponse {
        let now = clock.nowMillis()
        let schema = self.schema
        return try await read { db in
            DigestResponse(tables: try Digest.tables(db, schema: schema, centre: node == Node.hmsi ? nil : node), hubTime: now)
        }
    }
}
