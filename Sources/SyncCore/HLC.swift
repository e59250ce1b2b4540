/// A hybrid logical clock value: `(unix milliseconds << 16) | counter` in one 64-bit integer.
///
/// The next value after `last` at wall time `now` is `max(last + 1, now << 16)`, so a
/// node's clock never goes backwards even when its wall clock does, and it stays close
/// to real time. The same rule is computed from SQL (see `ReplicaStore`) and here.
public struct HLC: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int64

    public init(rawValue: Int64) { self.rawValue = rawValue }

    public init(millis: Int64, counter: Int64 = 0) { self.rawValue = millis << 16 | counter }

    public static let zero = HLC(rawValue: 0)

    /// Wall-clock milliseconds since 1970 this value carries.
    public var millis: Int64 { rawValue >> 16 }
    /// The logical counter within one millisecond.
    public var counter: Int64 { rawValue & 0xFFFF }

    /// The clock value that follows `last` when the wall clock reads `wallMillis`.
    public static func next(after last: HLC, wallMillis: Int64) -> HLC {
        HLC(rawValue: max(last.rawValue + 1, wallMillis << 16))
    }

    public static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { "\(millis).\(counter)" }
}

/// Source of wall-clock time; injected so clock and skew behaviour is testable.
public protocol WallClock: Sendable {
    func nowMillis() -> Int64
}

/// The machine's real-time clock.
public struct SystemClock: WallClock {
    public init() {}
    public func nowMillis() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
