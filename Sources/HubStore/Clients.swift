import Crypto
import Foundation
import GRDB
import SyncStore
import SyncCore

/// Who sent a request: the centre (or HMSI) its token belongs to, and which token.
public struct Caller: Hashable, Sendable {
    public var centre: String
    public var token: Int64
    /// The schema version the request speaks (its `WIRSync-Schema` header), nil until checked:
    /// the hub's own version then.
    public var schemaVersion: Int?

    public init(centre: String, token: Int64, schemaVersion: Int? = nil) {
        self.centre = centre
        self.token = token
        self.schemaVersion = schemaVersion
    }
}

/// A centre (or HMSI) as the hub knows it.
public struct ClientInfo: Hashable, Sendable, Codable {
    public var node: String
    public var name: String
    /// `active` (at least one token works), `revoked` (all are revoked), or `none` (never provisioned).
    public var token: String
    public var activeTokens: Int
    /// Replicas that registered under a working token.
    public var activeReplicas: Int
    public var lastPushAt: Int64?
    public var lastPullAt: Int64?
    public var openConflicts: Int

    enum CodingKeys: String, CodingKey {
        case node, name, token
        case activeTokens = "active_tokens"
        case activeReplicas = "active_replicas"
        case lastPushAt = "last_push_at"
        case lastPullAt = "last_pull_at"
        case openConflicts = "open_conflicts"
    }
}

/// One replica (origin) as the hub knows it.
public struct ReplicaInfo: Hashable, Sendable, Codable {
    public var origin: String
    public var centre: String
    public var token: Int64
    public var tokenLabel: String?
    /// `active`, or `revoked` (the replica or its token).
    public var state: String
    public var forkedFrom: String?
    public var createdAt: Int64
    /// The local sequence the hub has acknowledged of it.
    public var acked: Int64
    public var cursor: Int64?
    public var lastSessionAt: Int64?
    public var lastPushAt: Int64?
    public var lastPullAt: Int64?
    /// The schema version it last spoke, and its clock minus the hub's at its last session.
    public var schemaVersion: Int?
    public var clockOffsetMs: Int64?

    enum CodingKeys: String, CodingKey {
        case origin, centre, token, state, acked, cursor
        case schemaVersion = "schema_version"
        case clockOffsetMs = "clock_offset_ms"
        case tokenLabel = "token_label"
        case forkedFrom = "forked_from"
        case createdAt = "created_at"
        case lastSessionAt = "last_session_at"
        case lastPushAt = "last_push_at"
        case lastPullAt = "last_pull_at"
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

    /// Creates a token for the first PC of `node` and returns it. The hub keeps only its
    /// SHA-256; the token is shown this once. Refuses if `node` has a working token, unless
    /// `rotate`, which revokes every token of the centre first.
    public func addClient(_ node: String, rotate: Bool = false, label: String? = nil) async throws(HubError) -> String {
        try await addToken(node, label: label, replacing: rotate, further: false)
    }

    /// Creates a token for a further PC of a centre that has one (a second office PC, a
    /// laptop, a replacement).
    public func addReplicaToken(_ node: String, label: String? = nil) async throws(HubError) -> String {
        try await addToken(node, label: label, replacing: false, further: true)
    }

    private func addToken(_ node: String, label: String?, replacing: Bool, further: Bool) async throws(HubError) -> String {
        guard try await isKnownNode(node) else {
            if try await read({ db in try Int.fetchOne(db, sql: "SELECT count(*) FROM centres") ?? 0 }) == 0 {
                throw .noCentresYet(node)
            }
            throw .unknownCentre(node)
        }
        var secret = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in secret.indices { secret[index] = generator.next() }
        let token = "wir1.\(node)." + Data(secret).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let hash = Self.hash(token: token)
        let now = clock.nowMillis()
        try await write { db in
            let active = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM sync_tokens WHERE centre = ? AND revoked_at IS NULL", arguments: [node]) ?? 0
            if replacing {
                try db.execute(sql: "UPDATE sync_tokens SET revoked_at = ? WHERE centre = ? AND revoked_at IS NULL", arguments: [now, node])
            } else if active > 0, !further {
                throw HubError.clientExists(node)
            } else if active == 0, further {
                throw HubError.noSuchClient(node)
            }
            try db.execute(
                sql: "INSERT INTO sync_tokens (centre, token_sha256, label, created_at) VALUES (?, ?, ?, ?)",
                arguments: [node, hash, label, now])
        }
        return token
    }

    /// Makes every token of `node` fail from the next request on.
    public func revokeClient(_ node: String) async throws(HubError) {
        let now = clock.nowMillis()
        try await write { db in
            try db.execute(sql: "UPDATE sync_tokens SET revoked_at = ? WHERE centre = ? AND revoked_at IS NULL", arguments: [now, node])
            guard db.changesCount > 0 else { throw HubError.noSuchClient(node) }
        }
    }

    /// Cuts off one replica: its origin can never sync again, and its token fails from the
    /// next request on, for every replica that uses it. Returns those replicas.
    public func revokeReplica(_ origin: String) async throws(HubError) -> [String] {
        let now = clock.nowMillis()
        return try await write { db in
            guard let token = try Int64.fetchOne(db, sql: "SELECT token FROM sync_replicas WHERE origin = ?", arguments: [origin]) else {
                throw HubError.noSuchReplica(origin)
            }
            try db.execute(sql: "UPDATE sync_replicas SET revoked_at = coalesce(revoked_at, ?) WHERE origin = ?", arguments: [now, origin])
            try db.execute(sql: "UPDATE sync_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [now, token])
            return try String.fetchAll(db, sql: "SELECT origin FROM sync_replicas WHERE token = ? ORDER BY origin", arguments: [token])
        }
    }

    /// The caller a bearer token belongs to, or nil if it is unknown or revoked.
    public func authenticate(token: String) async throws(HubError) -> Caller? {
        let hash = Self.hash(token: token)
        return try await read { db in
            try SQLRow.fetchOne(
                db, sql: "SELECT id, centre FROM sync_tokens WHERE token_sha256 = ? AND revoked_at IS NULL", arguments: [hash]
            ).map { Caller(centre: $0["centre"], token: $0["id"]) }
        }
    }

    /// Every centre and HMSI, with token state, last contact and open conflicts.
    public func clients() async throws(HubError) -> [ClientInfo] {
        try await read { db in
            try SQLRow.fetchAll(
                db,
                sql: """
                    SELECT n.id AS node, n.name,
                           (SELECT count(*) FROM sync_tokens t WHERE t.centre = n.id) AS tokens,
                           (SELECT count(*) FROM sync_tokens t WHERE t.centre = n.id AND t.revoked_at IS NULL) AS active,
                           (SELECT count(*) FROM sync_replicas r JOIN sync_tokens t ON t.id = r.token
                            WHERE r.centre = n.id AND r.revoked_at IS NULL AND t.revoked_at IS NULL) AS replicas,
                           (SELECT max(x) FROM (SELECT last_push_at AS x FROM sync_tokens WHERE centre = n.id
                                                UNION ALL SELECT last_push_at FROM sync_replicas WHERE centre = n.id) AS pushes) AS last_push_at,
                           (SELECT max(x) FROM (SELECT last_pull_at AS x FROM sync_tokens WHERE centre = n.id
                                                UNION ALL SELECT last_pull_at FROM sync_replicas WHERE centre = n.id) AS pulls) AS last_pull_at,
                           (SELECT count(*) FROM sync_conflicts k WHERE k.centre = n.id AND k.resolved_at IS NULL) AS open_conflicts
                    FROM (SELECT 'hmsi' AS id, 'Hessisches Ministerium für Soziales und Integration' AS name, 0 AS sort
                          UNION ALL SELECT id, name, 1 FROM centres) n
                    ORDER BY n.sort, n.id
                    """
            ).map {
                let tokens: Int = $0["tokens"], active: Int = $0["active"]
                return ClientInfo(
                    node: $0["node"], name: $0["name"], token: tokens == 0 ? "none" : active > 0 ? "active" : "revoked",
                    activeTokens: active, activeReplicas: $0["replicas"], lastPushAt: $0["last_push_at"],
                    lastPullAt: $0["last_pull_at"], openConflicts: $0["open_conflicts"])
            }
        }
    }

    /// The replicas that have registered, of one centre or of all, by centre and origin.
    public func replicas(centre: String? = nil) async throws(HubError) -> [ReplicaInfo] {
        try await read { db in
            try SQLRow.fetchAll(
                db,
                sql: """
                    SELECT r.*, t.label, CASE WHEN r.revoked_at IS NULL AND t.revoked_at IS NULL THEN 'active' ELSE 'revoked' END AS state
                    FROM sync_replicas r JOIN sync_tokens t ON t.id = r.token
                    WHERE ? = 1 OR r.centre = ? ORDER BY r.centre, r.created_at, r.origin
                    """,
                arguments: [centre == nil, centre]
            ).map {
                ReplicaInfo(
                    origin: $0["origin"], centre: $0["centre"], token: $0["token"], tokenLabel: $0["label"], state: $0["state"],
                    forkedFrom: $0["forked_from"], createdAt: $0["created_at"], acked: $0["acked"], cursor: $0["cursor"],
                    lastSessionAt: $0["last_session_at"], lastPushAt: $0["last_push_at"], lastPullAt: $0["last_pull_at"],
                    schemaVersion: $0["schema_version"], clockOffsetMs: $0["clock_offset_ms"])
            }
        }
    }

    static func hash(token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
