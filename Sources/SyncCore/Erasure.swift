/// A row named by its table and key.
public struct RowKey: Hashable, Sendable, Codable {
    public var table: String
    public var pk: String

    public init(table: String, pk: String) {
        self.table = table
        self.pk = pk
    }
}

/// `POST /v1/erase`: a centre asks the hub to erase one of its own rows (DSGVO Art. 17;
/// docs/history-and-erasure.md). HMSI erases any row with `wirsync-hub erase`.
public struct EraseRequest: Hashable, Sendable, Codable {
    public var table: String
    public var pk: String
    /// Why, for the audit entry: a request's reference, never the person's data.
    public var reason: String

    public init(table: String, pk: String, reason: String) {
        self.table = table
        self.pk = pk
        self.reason = reason
    }
}

/// What an erasure did: the audit entry, without any of the row's values.
public struct Erasure: Hashable, Sendable, Codable {
    public var table: String
    public var pk: String
    /// The row's centre; nil for reference data.
    public var centre: String?
    /// The hub log entry every replica in the row's scope pulls to erase its copies.
    public var seq: Int64
    public var erasedAt: Int64
    public var by: String
    public var reason: String
    /// Conflict records of the row whose values were erased.
    public var conflicts: Int
    /// Whether the hub's files were cleared of the erased values' earlier images at once: a
    /// SQLite hub's WAL emptied, a PostgreSQL hub's tables rewritten. If a reader held them,
    /// those images stay until the next checkpoint that can truncate the WAL (a stop of the
    /// hub does), or a `VACUUM FULL` of the tables.
    public var walCleared: Bool?

    public init(table: String, pk: String, centre: String?, seq: Int64, erasedAt: Int64, by: String, reason: String, conflicts: Int) {
        self.table = table
        self.pk = pk
        self.centre = centre
        self.seq = seq
        self.erasedAt = erasedAt
        self.by = by
        self.reason = reason
        self.conflicts = conflicts
    }

    enum CodingKeys: String, CodingKey {
        case table, pk, centre, seq, by, reason, conflicts
        case erasedAt = "erased_at"
        case walCleared = "wal_cleared"
    }
}
