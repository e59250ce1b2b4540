/// Who wrote a value and when. Ordered by `(hlc, origin)`, so ties break the same way everywhere.
public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var hlc: HLC
    public var origin: String

    public init(hlc: HLC, origin: String) {
        self.hlc = hlc
        self.origin = origin
    }

    public static func < (lhs: Version, rhs: Version) -> Bool {
        if lhs.hlc != rhs.hlc { return lhs.hlc < rhs.hlc }
        return lhs.origin.utf8.lexicographicallyPrecedes(rhs.origin.utf8)
    }

    public var description: String { "\(hlc)@\(origin)" }
}

/// One captured write to one row, as it travels between replicas and the hub.
///
/// An insert carries every column (a column it lacks is NULL); an update carries the
/// columns it changed; a delete carries none. All carry the row's primary key and, for
/// centre-scoped tables, the centre the row belongs to.
public struct Change: Hashable, Sendable, Codable {
    public enum Op: String, Hashable, Sendable, Codable {
        case insert, update, delete
    }

    /// On a push: the replica's local sequence number. On a pull: the hub's sequence number.
    public var seq: Int64
    public var table: String
    public var pk: String
    public var op: Op
    /// The row's `centre_id` for centre-scoped tables; nil for reference tables.
    public var centre: String?
    public var values: [String: Value]
    public var hlc: HLC
    public var origin: String
    /// The hub cursor the writer had pulled when it wrote this change.
    public var seen: Int64

    public init(
        seq: Int64, table: String, pk: String, op: Op, centre: String?, values: [String: Value],
        hlc: HLC, origin: String, seen: Int64
    ) {
        self.seq = seq
        self.table = table
        self.pk = pk
        self.op = op
        self.centre = centre
        self.values = values
        self.hlc = hlc
        self.origin = origin
        self.seen = seen
    }

    public var version: Version { Version(hlc: hlc, origin: origin) }
}
