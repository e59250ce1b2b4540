public import Foundation

/// A 64-bit hash, on the wire as 16 lower-case hex digits: the chain of a replica's log at an
/// entry, or the fingerprint of a hub log entry (docs/replicas-and-restores.md).
public struct Fingerprint: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int64

    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// "Not known": what a chain of wirsync 1's time reads as. It matches any chain.
    public static let unknown = Fingerprint(rawValue: 0)

    public init?(hex: String) {
        guard hex.utf8.count == 16, let bits = UInt64(hex, radix: 16) else { return nil }
        rawValue = Int64(bitPattern: bits)
    }

    public var hex: String {
        let digits = String(UInt64(bitPattern: rawValue), radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public var description: String { hex }

    /// Whether two chains agree, taking "not known" for agreement.
    public func agrees(with other: Fingerprint) -> Bool { self == other || self == .unknown || other == .unknown }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Fingerprint(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a fingerprint is 16 hex digits, not \(text)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    /// Chains one after another, 8 bytes each, big-endian: a push's and a receipt's `chains`.
    public static func pack(_ chains: [Fingerprint]) -> Data {
        var data = Data(capacity: chains.count * 8)
        for chain in chains { withUnsafeBytes(of: chain.rawValue.bigEndian) { data.append(contentsOf: $0) } }
        return data
    }

    /// The chains `pack` wrote; nil if the bytes are not a whole number of them.
    public static func unpack(_ data: Data) -> [Fingerprint]? {
        guard data.count % 8 == 0 else { return nil }
        return stride(from: 0, to: data.count, by: 8).map { offset in
            var bits: Int64 = 0
            for byte in data[data.startIndex + offset ..< data.startIndex + offset + 8] { bits = bits << 8 | Int64(byte) }
            return Fingerprint(rawValue: bits)
        }
    }
}

extension Wire {
    /// The header that names the replica (its origin) on every protocol-2 request. A request
    /// without it is protocol 1: a replica of wirsync 1, whose origin is its centre.
    public static let replicaHeader = "WIRSync-Replica"
}

/// `POST /v1/session`: what a replica believes about itself and the hub, sent before it
/// pushes or pulls anything. The hub's answer tells whether the two still agree.
public struct SessionRequest: Hashable, Sendable, Codable {
    /// The replica's centre (its scope); must be the token's.
    public var centre: String
    /// The highest local sequence the replica holds as acknowledged, and its chain.
    public var acked: Int64
    public var ackedChain: Fingerprint
    /// The replica's hub cursor and the fingerprint of the hub log entry there (nil: not known).
    public var cursor: Int64
    public var cursorCheck: Fingerprint?
    /// The hub the replica last synced with (nil: none yet).
    public var hubID: String?
    /// A replica made by wirsync 1: its replica id then, under which the hub kept its acknowledgement.
    public var legacyReplicaID: String?
    /// Set on the first session after a fork: the origin this file had before, and the first
    /// local sequence written under the new one.
    public var forkedFrom: String?
    public var partedAt: Int64?
    /// After the replica offered again what a restored hub lost: take `acked` (and its
    /// chain and `ackedHLC`) as acknowledged.
    public var adoptAcked: Bool
    public var ackedHLC: HLC
    /// The newest clock among this file's own folded writes (nil: not said). A hub holding
    /// writes of this origin newer than that holds writes this file lacks: it was put back
    /// from an older copy, and goes on as a replica of its own.
    public var ownHLC: HLC?
    /// Points of the hub log this replica pulled through, oldest first, at most
    /// `maxCheckpoints` (nil: not said). Where the entry at the cursor is gone, the last of
    /// them the hub still holds as the replica saw it is where the two logs part: the entry
    /// just below the cursor may belong to a history the replica never followed, when the hub
    /// was put back to backups of different times (docs/replicas-and-restores.md).
    public var checkpoints: [LogPosition]?
    /// The replica's wall clock (Unix ms) when it sent the session (nil: not said): the hub
    /// records the offset from its own, for HMSI's console.
    public var clock: Int64?

    /// The most checkpoints a session may carry.
    public static let maxCheckpoints = 32

    public init(
        centre: String, acked: Int64, ackedChain: Fingerprint, cursor: Int64, cursorCheck: Fingerprint?, hubID: String?,
        legacyReplicaID: String? = nil, forkedFrom: String? = nil, partedAt: Int64? = nil, adoptAcked: Bool = false,
        ackedHLC: HLC = .zero, ownHLC: HLC? = nil, checkpoints: [LogPosition]? = nil,
        clock: Int64? = nil
    ) {
        self.clock = clock
        self.ownHLC = ownHLC
        self.checkpoints = checkpoints
        self.centre = centre
        self.acked = acked
        self.ackedChain = ackedChain
        self.cursor = cursor
        self.cursorCheck = cursorCheck
        self.hubID = hubID
        self.legacyReplicaID = legacyReplicaID
        self.forkedFrom = forkedFrom
        self.partedAt = partedAt
        self.adoptAcked = adoptAcked
        self.ackedHLC = ackedHLC
    }

    enum CodingKeys: String, CodingKey {
        case centre, acked, cursor
        case ackedChain = "acked_chain"
        case cursorCheck = "cursor_check"
        case hubID = "hub_id"
        case legacyReplicaID = "legacy_replica_id"
        case forkedFrom = "forked_from"
        case partedAt = "parted_at"
        case adoptAcked = "adopt_acked"
        case ackedHLC = "acked_hlc"
        case ownHLC = "own_hlc"
        case checkpoints, clock
    }
}

/// A position in the hub log, with the fingerprint of the entry there.
public struct LogPosition: Hashable, Sendable, Codable {
    public var seq: Int64
    /// nil at 0, where there is no entry.
    public var check: Fingerprint?

    public init(seq: Int64, check: Fingerprint?) {
        self.seq = seq
        self.check = check
    }
}

/// The hub's answer to a session: what it holds of this replica.
public struct SessionResponse: Hashable, Sendable, Codable {
    public var hubID: String
    public var hubTime: Int64
    /// The replica's origin was not known to the hub and is registered now.
    public var registered: Bool
    /// What the hub has acknowledged of this replica: the local sequence, its chain, and the
    /// newest clock among the changes it received from it.
    public var acked: Int64
    public var ackedChain: Fingerprint
    public var ackedHLC: HLC
    /// Whether the hub holds the entry at the replica's cursor, as the replica saw it.
    public var cursorValid: Bool
    /// When it does not: the last position the hub and the replica still share (`B`).
    public var divergedAfter: LogPosition?
    /// The replica cannot go on under its origin (revoked, or a second file of wirsync 1
    /// with the same origin): it continues as a new replica, from its acknowledged sequence.
    public var mustFork: String?
    /// After a fork: where the replica's cursor goes back to, to pull what its former origin
    /// pushed meanwhile.
    public var rewind: LogPosition?
    /// Entries in the replica's scope after its cursor: for a progress line.
    public var pendingPull: Int
    /// The hub collected tombstones after the replica's cursor: deletes it never pulled are
    /// gone, so it re-syncs from the current state of its scope, keeping its pending writes
    /// (docs/history-and-erasure.md). nil from a hub of an earlier release.
    public var resync: Bool?

    public init(
        hubID: String, hubTime: Int64, registered: Bool, acked: Int64, ackedChain: Fingerprint, ackedHLC: HLC, cursorValid: Bool,
        divergedAfter: LogPosition?, mustFork: String?, rewind: LogPosition?, pendingPull: Int, resync: Bool? = nil
    ) {
        self.hubID = hubID
        self.hubTime = hubTime
        self.registered = registered
        self.acked = acked
        self.ackedChain = ackedChain
        self.ackedHLC = ackedHLC
        self.cursorValid = cursorValid
        self.divergedAfter = divergedAfter
        self.mustFork = mustFork
        self.rewind = rewind
        self.pendingPull = pendingPull
        self.resync = resync
    }

    enum CodingKeys: String, CodingKey {
        case registered, acked, rewind, resync
        case hubID = "hub_id"
        case hubTime = "hub_time"
        case ackedChain = "acked_chain"
        case ackedHLC = "acked_hlc"
        case cursorValid = "cursor_valid"
        case divergedAfter = "diverged_after"
        case mustFork = "must_fork"
        case pendingPull = "pending_pull"
    }
}

/// One acknowledged push of a replica as the hub keeps it: the chain of every entry it covered.
public struct Receipt: Hashable, Sendable, Codable {
    public var afterSeq: Int64
    public var lastSeq: Int64
    /// The chains of the entries `afterSeq + 1 … lastSeq`, 8 bytes each (`Fingerprint.pack`);
    /// 0 where the replica had no entry.
    public var chains: Data

    public init(afterSeq: Int64, lastSeq: Int64, chains: Data) {
        self.afterSeq = afterSeq
        self.lastSeq = lastSeq
        self.chains = chains
    }

    enum CodingKeys: String, CodingKey {
        case chains
        case afterSeq = "after_seq"
        case lastSeq = "last_seq"
    }
}

/// `GET /v1/receipts?after=`: the replica's receipts after a local sequence.
public struct ReceiptsResponse: Hashable, Sendable, Codable {
    public var receipts: [Receipt]
    public var more: Bool
    public var hubTime: Int64

    public init(receipts: [Receipt], more: Bool, hubTime: Int64) {
        self.receipts = receipts
        self.more = more
        self.hubTime = hubTime
    }

    enum CodingKeys: String, CodingKey {
        case receipts, more
        case hubTime = "hub_time"
    }
}

/// `POST /v1/reoffer`: versions a replica holds that a restored hub may have lost, as
/// changes with their original clocks and origins.
public struct ReofferRequest: Hashable, Sendable, Codable {
    public var changes: [Change]

    public init(changes: [Change]) { self.changes = changes }
}

/// What the hub did with offered changes.
public struct ReofferResponse: Hashable, Sendable, Codable {
    public var applied: Int
    public var duplicates: Int
    public var refused: [Refusal]
    public var conflicts: Int
    public var hubTime: Int64

    public init(applied: Int, duplicates: Int, refused: [Refusal], conflicts: Int, hubTime: Int64) {
        self.applied = applied
        self.duplicates = duplicates
        self.refused = refused
        self.conflicts = conflicts
        self.hubTime = hubTime
    }

    enum CodingKeys: String, CodingKey {
        case applied, duplicates, refused, conflicts
        case hubTime = "hub_time"
    }
}

/// `POST /v1/conflicts/rebuild`: the conflict records a replica mirrors, with the ids it knows them by.
public struct RebuildRequest: Hashable, Sendable, Codable {
    public var records: [ConflictRecord]

    public init(records: [ConflictRecord]) { self.records = records }
}

/// The hub's ids for the mirrored records, new ones for those it had lost.
public struct RebuildResponse: Hashable, Sendable, Codable {
    public struct Mapping: Hashable, Sendable, Codable {
        public var old: Int64
        public var new: Int64

        public init(old: Int64, new: Int64) {
            self.old = old
            self.new = new
        }
    }

    public var ids: [Mapping]
    /// How many of the records the hub had lost and now holds again.
    public var rebuilt: Int
    public var hubTime: Int64

    public init(ids: [Mapping], rebuilt: Int, hubTime: Int64) {
        self.ids = ids
        self.rebuilt = rebuilt
        self.hubTime = hubTime
    }

    enum CodingKeys: String, CodingKey {
        case ids, rebuilt
        case hubTime = "hub_time"
    }
}
