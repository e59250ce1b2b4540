public import Foundation

/// Protocol v1: the JSON bodies of the hub's HTTP API (`schema/openapi.yaml`).
///
/// Every request to `/v1/*` names the schema it speaks in the `WIRSync-Schema` header
/// (`wir/1`); every response carries the hub's clock in `WIRSync-Hub-Time` (Unix ms).
public enum Wire {
    public static let schemaHeader = "WIRSync-Schema"
    public static let hubTimeHeader = "WIRSync-Hub-Time"

    /// Whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1 (bracketed or not).
    public static func isLoopback(host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.first == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The value of the schema header for a schema name and version: `wir/1`.
    public static func schemaTag(name: String, version: Int) -> String { "\(name)/\(version)" }
}

/// `POST /v1/push`: a batch of one replica's captured changes, in local sequence order.
public struct PushRequest: Hashable, Sendable, Codable {
    /// The replica that sends; acknowledgements are kept per replica. In protocol 2 its
    /// origin (as in the `WIRSync-Replica` header), in protocol 1 the replica's UUID.
    public var replicaID: String
    /// The highest local sequence the batch covers. Entries a later local write superseded
    /// are covered without being sent, so this may exceed the last change's `seq`.
    public var lastSeq: Int64
    public var changes: [Change]
    /// Protocol 2: the local sequence the batch starts after (what the replica holds as
    /// acknowledged, or the end of the batch before), and the chain of every entry in
    /// `after + 1 … last_seq` (`Fingerprint.pack`).
    public var after: Int64?
    public var chains: Data?

    public init(replicaID: String, lastSeq: Int64, changes: [Change], after: Int64? = nil, chains: Data? = nil) {
        self.replicaID = replicaID
        self.lastSeq = lastSeq
        self.changes = changes
        self.after = after
        self.chains = chains
    }

    enum CodingKeys: String, CodingKey {
        case replicaID = "replica_id"
        case lastSeq = "last_seq"
        case changes, after, chains
    }
}

/// A change the hub did not apply, and why. The replica keeps it and shows it.
public struct Refusal: Hashable, Sendable, Codable {
    public var seq: Int64
    public var code: String
    public var message: String

    public init(seq: Int64, code: String, message: String) {
        self.seq = seq
        self.code = code
        self.message = message
    }
}

/// The hub's answer to a push.
public struct PushResponse: Hashable, Sendable, Codable {
    /// Everything up to this local sequence is durably handled (applied, already
    /// applied, or refused and listed); a retry may start after it.
    public var ackedSeq: Int64
    public var applied: Int
    public var duplicates: Int
    public var refused: [Refusal]
    /// Conflict records this push created.
    public var conflicts: Int
    public var hubTime: Int64

    public init(ackedSeq: Int64, applied: Int, duplicates: Int, refused: [Refusal], conflicts: Int, hubTime: Int64) {
        self.ackedSeq = ackedSeq
        self.applied = applied
        self.duplicates = duplicates
        self.refused = refused
        self.conflicts = conflicts
        self.hubTime = hubTime
    }

    enum CodingKeys: String, CodingKey {
        case ackedSeq = "acked_seq"
        case applied, duplicates, refused, conflicts
        case hubTime = "hub_time"
    }
}

/// One side of a conflict: a value, who wrote it and when.
public struct ConflictSide: Hashable, Sendable, Codable {
    /// The column's value; for a conflict over the row itself, the row's values as a JSON
    /// object in text, or null for "deleted".
    public var value: Value
    public var origin: String
    public var hlc: HLC

    public init(value: Value, origin: String, hlc: HLC) {
        self.value = value
        self.origin = origin
        self.hlc = hlc
    }
}

/// A value that lost a concurrent write race, kept with the value that won (invariant 4).
public struct ConflictRecord: Hashable, Sendable, Codable {
    public var id: Int64
    public var table: String
    public var pk: String
    public var centre: String?
    /// The column both writes set; nil when the race was over the row itself (a delete
    /// against an edit).
    public var column: String?
    public var winner: ConflictSide
    public var loser: ConflictSide
    /// Hub time (Unix ms) when the conflict was recorded.
    public var recordedAt: Int64
    public var resolvedAt: Int64?
    public var resolvedBy: String?
    /// `winner` or `loser`: which value a resolution kept.
    public var kept: String?

    public init(
        id: Int64, table: String, pk: String, centre: String?, column: String?, winner: ConflictSide, loser: ConflictSide,
        recordedAt: Int64, resolvedAt: Int64? = nil, resolvedBy: String? = nil, kept: String? = nil
    ) {
        self.id = id
        self.table = table
        self.pk = pk
        self.centre = centre
        self.column = column
        self.winner = winner
        self.loser = loser
        self.recordedAt = recordedAt
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.kept = kept
    }

    enum CodingKeys: String, CodingKey {
        case id, table, pk, centre, column, winner, loser, kept
        case recordedAt = "recorded_at"
        case resolvedAt = "resolved_at"
        case resolvedBy = "resolved_by"
    }
}

/// `GET /v1/pull`: hub log entries in the caller's scope after its cursor.
public struct PullResponse: Hashable, Sendable, Codable {
    public var changes: [Change]
    /// Conflict records about the caller's rows recorded or resolved in this range.
    public var conflicts: [ConflictRecord]
    /// The cursor to store with these changes and to send next time.
    public var nextCursor: Int64
    /// The fingerprint of the hub log entry at `next_cursor`, stored with it (protocol 2).
    public var nextCheck: Fingerprint?
    public var more: Bool
    public var hubTime: Int64
    /// Rows erased in this range (op 5): besides the delete among `changes`, the replica
    /// removes every copy of their values it keeps. nil from a hub of an earlier release.
    public var erased: [RowKey]?

    public init(
        changes: [Change], conflicts: [ConflictRecord], nextCursor: Int64, nextCheck: Fingerprint? = nil, more: Bool, hubTime: Int64,
        erased: [RowKey]? = nil
    ) {
        self.changes = changes
        self.conflicts = conflicts
        self.nextCursor = nextCursor
        self.nextCheck = nextCheck
        self.more = more
        self.hubTime = hubTime
        self.erased = erased
    }

    enum CodingKeys: String, CodingKey {
        case changes, conflicts, more, erased
        case nextCursor = "next_cursor"
        case nextCheck = "next_check"
        case hubTime = "hub_time"
    }
}

/// A pull response as the hub reads it from its log: each change's values still in the
/// JSON the log stores them in, so that serving a page does not decode and re-encode them.
public struct PullPage: Sendable {
    public struct Entry: Sendable {
        /// The change, with `values` empty.
        public var change: Change
        /// The change's values as a JSON object.
        public var valuesJSON: String

        public init(change: Change, valuesJSON: String) {
            self.change = change
            self.valuesJSON = valuesJSON
        }
    }

    public var changes: [Entry]
    public var conflicts: [ConflictRecord]
    public var nextCursor: Int64
    public var nextCheck: Fingerprint?
    public var more: Bool
    public var hubTime: Int64
    public var erased: [RowKey]

    public init(
        changes: [Entry], conflicts: [ConflictRecord], nextCursor: Int64, nextCheck: Fingerprint?, more: Bool, hubTime: Int64, erased: [RowKey] = []
    ) {
        self.changes = changes
        self.conflicts = conflicts
        self.nextCursor = nextCursor
        self.nextCheck = nextCheck
        self.more = more
        self.hubTime = hubTime
        self.erased = erased
    }

    /// The page with every change's values decoded.
    public func decoded() throws -> PullResponse {
        let decoder = JSONDecoder()
        return PullResponse(
            changes: try changes.map { entry in
                var change = entry.change
                change.values = try decoder.decode([String: Value].self, from: Data(entry.valuesJSON.utf8))
                return change
            },
            conflicts: conflicts, nextCursor: nextCursor, nextCheck: nextCheck, more: more, hubTime: hubTime, erased: erased.isEmpty ? nil : erased)
    }
}

/// `GET /v1/digest`: a digest of every replicated table's rows in the caller's scope, to
/// compare a replica with the hub without sending the rows.
public struct DigestResponse: Hashable, Sendable, Codable {
    public var tables: [String: TableDigest]
    public var hubTime: Int64

    public init(tables: [String: TableDigest], hubTime: Int64) {
        self.tables = tables
        self.hubTime = hubTime
    }

    enum CodingKeys: String, CodingKey {
        case tables
        case hubTime = "hub_time"
    }
}

/// The row count and SHA-256 (hex) of one table's rows in a scope.
public struct TableDigest: Hashable, Sendable, Codable {
    public var rows: Int
    public var sha256: String

    public init(rows: Int, sha256: String) {
        self.rows = rows
        self.sha256 = sha256
    }
}

/// The body of every error response: `{"error": {"code": "…", "message": "…"}}`.
public struct ErrorBody: Hashable, Sendable, Codable {
    public struct Detail: Hashable, Sendable, Codable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) {
        error = Detail(code: code, message: message)
    }
}
