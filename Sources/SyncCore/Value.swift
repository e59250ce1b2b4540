public import Foundation

/// One SQLite value, with its storage class kept exactly across the wire.
///
/// JSON form: `null`, an integer as a JSON number (all 64 bits, exactly), text as a JSON
/// string, a real as `{"real": 1.5}` (non-finite as `{"real": "Infinity"}`), a blob as
/// `{"blob": "<base64>"}`. Reals and blobs are tagged so that `1` and `1.0`, or text and
/// bytes, never turn into each other.
public enum Value: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)

    /// The most bytes a text or blob value may hold: 1 MiB (docs/security.md). A logo or a
    /// long note fits; a centre cannot fill the hub's disk with one push.
    public static let maxBytes = 1 << 20

    /// Why this value is not domain data the hub takes, or nil: text or a blob beyond
    /// `maxBytes`, or a real that is not a finite number (money, shares and hours are).
    public var refusal: (code: String, reason: String)? {
        switch self {
        case .text(let text) where text.utf8.count > Value.maxBytes:
            ("value_too_large", "the text is \(text.utf8.count) bytes; a value may hold at most \(Value.maxBytes) (1 MiB)")
        case .blob(let bytes) where bytes.count > Value.maxBytes:
            ("value_too_large", "the blob is \(bytes.count) bytes; a value may hold at most \(Value.maxBytes) (1 MiB)")
        case .real(let real) where !real.isFinite:
            ("value_not_finite", "\(real) is not a finite number")
        default:
            nil
        }
    }

    /// The SQLite storage class name, as in `typeof()`.
    public var storageClass: String {
        switch self {
        case .null: "null"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .blob: "blob"
        }
    }

    /// Whether a STRICT column declared `type` accepts this value (NULL is checked separately).
    ///
    /// - Parameter type: upper-cased, as `ColumnSpec.type` holds it (checked for every value
    ///   of every change, so it is not upper-cased again here).
    public func fits(columnType type: String) -> Bool {
        switch (self, type) {
        case (.null, _), (_, "ANY"): true
        case (.integer, "INTEGER"), (.integer, "INT"), (.integer, "REAL"): true
        case (.real, "REAL"): true
        case (.text, "TEXT"): true
        case (.blob, "BLOB"): true
        default: false
        }
    }
}

extension Value: Codable {
    private enum Tag: String, CodingKey { case real, blob }

    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let text = try? single.decode(String.self) {
            self = .text(text)
        } else if let integer = try? single.decode(Int64.self) {
            self = .integer(integer)
        } else if let tagged = try? decoder.container(keyedBy: Tag.self) {
            if tagged.contains(.real) {
                if let number = try? tagged.decode(Double.self, forKey: .real) {
                    self = .real(number)
                } else {
                    switch try tagged.decode(String.self, forKey: .real) {
                    case "Infinity": self = .real(.infinity)
                    case "-Infinity": self = .real(-.infinity)
                    default:
                        throw DecodingError.dataCorruptedError(
                            forKey: .real, in: tagged, debugDescription: "a real is a number, Infinity or -Infinity")
                    }
                }
            } else if tagged.contains(.blob) {
                let base64 = try tagged.decode(String.self, forKey: .blob)
                guard let bytes = Data(base64Encoded: base64) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .blob, in: tagged, debugDescription: "a blob is base64 text")
                }
                self = .blob(bytes)
            } else {
                throw DecodingError.dataCorruptedError(
                    in: single, debugDescription: "an object value must be {\"real\": …} or {\"blob\": …}")
            }
        } else {
            throw DecodingError.dataCorruptedError(
                in: single,
                debugDescription: "a value is null, a 64-bit integer, a string, {\"real\": …} or {\"blob\": …}")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .integer(let integer):
            var single = encoder.singleValueContainer()
            try single.encode(integer)
        case .text(let text):
            var single = encoder.singleValueContainer()
            try single.encode(text)
        case .real(let number):
            var tagged = encoder.container(keyedBy: Tag.self)
            if number.isFinite {
                try tagged.encode(number, forKey: .real)
            } else {
                try tagged.encode(number > 0 ? "Infinity" : "-Infinity", forKey: .real)
            }
        case .blob(let bytes):
            var tagged = encoder.container(keyedBy: Tag.self)
            try tagged.encode(bytes.base64EncodedString(), forKey: .blob)
        }
    }
}

extension Value: CustomStringConvertible {
    /// The value as SQL would print it, for messages and listings.
    public var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let integer): String(integer)
        case .real(let number): String(number)
        case .text(let text): "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
        case .blob(let bytes): "X'" + bytes.map { String(format: "%02X", $0) }.joined() + "'"
        }
    }
}
