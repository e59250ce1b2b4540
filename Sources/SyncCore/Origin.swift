/// The name of one replica: its part in the clock's tie-break, the key of its
/// acknowledgements and its cursor (docs/replicas-and-restores.md).
///
/// `<centre>.<8 hex digits>` for a replica made by this version, chosen at random when the
/// replica is created, so that it is a node from its first write, before it has ever
/// reached the hub; the bare centre id for a replica made by wirsync 1, and `hub` for the
/// hub's own writes.
public enum Origin {
    /// A new origin for a replica of `centre`.
    public static func new(centre: String, using generator: inout some RandomNumberGenerator) -> String {
        let suffix = String(UInt32.random(in: .min ... .max, using: &generator), radix: 16)
        return "\(centre).\(String(repeating: "0", count: 8 - suffix.count))\(suffix)"
    }

    public static func new(centre: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return new(centre: centre, using: &generator)
    }

    /// The centre an origin belongs to: what precedes its dot, or the whole name.
    public static func centre(of origin: String) -> Substring {
        origin.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(origin)
    }

    /// Whether `origin` is a node id, optionally followed by a dot and 1 to 16 lower-case
    /// letters or digits; 64 bytes at most.
    ///
    /// Checked for every change a store applies: on the bytes, without splitting the string.
    public static func isWellFormed(_ origin: String) -> Bool {
        let bytes = origin.utf8
        guard bytes.count <= 64 else { return false }
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")) else { return Node.isWellFormed(origin) }
        let suffix = bytes[bytes.index(after: dot)...]
        return Node.isWellFormed(bytes[..<dot]) && (1...16).contains(suffix.count)
            && suffix.allSatisfy { (97...122).contains($0) || (48...57).contains($0) }
    }
}

/// Hub log sequences (docs/replicas-and-restores.md): `max(last + 1, now_ms << 10)`.
public enum LogSeq {
    /// The hub's time (Unix ms) a sequence was given at; nil for the small sequences of wirsync 1.
    public static func millis(_ seq: Int64) -> Int64? { seq >= 1 << 50 ? seq >> 10 : nil }
}
