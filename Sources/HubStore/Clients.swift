import Crypto
import Foundation
import GRDB
import SyncCore

/// A centre (or HMSI) as the hub knows it.
public struct ClientInfo: Hashable, Sendable, Codable {
    public var node: String
    public var name: String
    /// `active`, `revoked`, or `none` (never provisioned).
    public var token: String
    public var lastPushAt: Int64?
    public var lastPullAt: Int64?
    public var openConflicts: Int

    enum CodingKeys: String, CodingKey {
        case node, name, token
        case lastPushAt = "last_push_at"
        case lastPullAt = "last_pull_at"
        case openConflicts = "open_conflicts"
    }
}

extension HubStore {
    /// Whether `node` may be provisioned: one of the centres in the hub's `centres` table, or HMSI.
    public func isKnownNode(_ node: String) async throws(HubError) -> Bool {
        if node == Node.hmsi { return true }
        return try await read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM centres WHERE id = ?)", arguments: [node]) ?? false
        }
    }

    /// Creates `node`'s credentials and returns its token. The hub keeps only the token's
    /// SHA-256; the token is shown this once.
    public func addClient(_ node: String, rotate: Bool = false) async throws(HubError) -> String {
        guard try await isKnownNode(node) else { throw .unknownCentre(node) }
        var secret = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in secret.indices { secret[index] = generator.next() }
        let token = "wir1.\(node)." + Data(secret).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let hash = Self.hash(token: token)
        let now = clock.nowMillis()
        try await write { db in
            let active = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM sync_clients WHERE node = ? AND revoked_at IS NULL AND token_sha256 IS NOT NULL)",
                arguments: [node]) ?? false
            if active, !rotate { throw HubError.clientExists(node) }
            try db.execute(
                sql: """
                    INSERT INTO sync_clients (node, token_sha256, created_at) VALUES (?, ?, ?)
                    ON CONFLICT (node) DO UPDATE SET token_sha256 = excluded.token_sha256,
                        created_at = excluded.created_at, revoked_at = NULL
                    """,
                arguments: [node, hash, now])
        }
        return token
    }

    /// Makes `node`'s token fail from the next request on.
    public func revokeClient(_ node: String) async throws(HubError) {
        let now = clock.nowMillis()
        try await write { db in
            try db.execute(
                sql: "UPDATE sync_clients SET revoked_at = ? WHERE node = ? AND revoked_at IS NULL AND token_sha256 IS NOT NULL",
                arguments: [now, node])
            guard db.changesCount == 1 else { throw HubError.noSuchClient(node) }
        }
    }

    /// The node a bearer token belongs to, or nil if it is unknown or revoked.
    public func authenticate(token: String) async throws(HubError) -> String? {
        let hash = Self.hash(token: token)
        return try await read { db in
            try String.fetchOne(
                db, sql: "SELECT node FROM sync_clients WHERE token_sha256 = ? AND revoked_at IS NULL", arguments: [hash])
        }
    }

    /// Every centre and HMSI, with token state, last contact and open conflicts.
    public func clients() async throws(HubError) -> [ClientInfo] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT n.id AS node, n.name, CASE WHEN c.node IS NULL THEN 'none' WHEN c.revoked_at IS NULL THEN 'active' ELSE 'revoked' END AS token,
                           c.last_push_at, c.last_pull_at,
                           (SELECT count(*) FROM sync_conflicts k WHERE k.centre = n.id AND k.resolved_at IS NULL) AS open_conflicts
                    FROM (SELECT 'hmsi' AS id, 'Hessisches Ministerium für Soziales und Integration' AS name, 0 AS sort
                          UNION ALL SELECT id, name, 1 FROM centres) n
                    LEFT JOIN sync_clients c ON c.node = n.id
                    ORDER BY n.sort, n.id
                    """
            ).map {
                ClientInfo(
                    node: $0["node"], name: $0["name"], token: $0["token"], lastPushAt: $0["last_push_at"],
                    lastPullAt: $0["last_pull_at"], openConflicts: $0["open_conflicts"])
            }
        }
    }

    static func hash(token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
