public import Foundation

/// Writes the protocol's hot JSON (changes, push batches, pull pages) straight into bytes.
///
/// The output is what `JSONEncoder` gives for the same `Codable` types, up to key order
/// and whitespace, and reads back with `JSONDecoder` to equal values (tested). It exists
/// because the generic encoder spends most of a sync's CPU time on boxing and dynamic
/// dispatch (see docs/benchmarks.md); the few types on the hot path are written by hand.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    public var data: Data { Data(bytes) }

    public mutating func raw(_ text: some StringProtocol) {
        bytes.append(contentsOf: text.utf8)
    }

    public mutating func raw(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// A JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    public mutating func string(_ text: String) {
        var text = text
        // Through the contiguous bytes: iterating `String.UTF8View` costs more than the scan.
        text.withUTF8 { utf8 in string(utf8: utf8) }
    }

    private mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            bytes.append(contentsOf: utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func integer(_ number: Int64) {
        var magnitude = number.magnitude
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    /// `"key":` — a key and its colon, written before the key's value.
    public mutating func key(_ name: String, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A value in its protocol form (see `Value`).
    public mutating func value(_ value: Value) {
        switch value {
        case .null: raw("null")
        case .integer(let number): integer(number)
        case .text(let text): string(text)
        case .real(let number):
            raw("{\"real\":")
            if number.isFinite {
                // Swift prints the shortest text that reads back as the same double, and it
                // is valid JSON ("1.5", "1e-07", "1e+16").
                raw(number.description)
            } else {
                raw(number > 0 ? "\"Infinity\"" : "\"-Infinity\"")
            }
            raw("}")
        case .blob(let bytes):
            raw("{\"blob\":\"")
            raw(bytes.base64EncodedString())
            raw("\"}")
        }
    }

    /// A change's values as a JSON object, keys sorted (the hub log stores them so).
    public mutating func values(_ values: [String: Value]) {
        raw("{")
        for (index, name) in values.keys.sorted().enumerated() {
            key(name, first: index == 0)
            value(values[name]!)
        }
        raw("}")
    }

    /// A change with its values already written as a JSON object (a hub log body).
    public mutating func change(_ change: Change, valuesJSON: String? = nil) {
        raw("{\"seq\":")
        integer(change.seq)
        key("table")
        string(change.table)
        key("pk")
        string(change.pk)
        key("op")
        string(change.op.rawValue)
        if let centre = change.centre {
            key("centre")
            string(centre)
        }
        key("values")
        if let valuesJSON { raw(valuesJSON) } else { values(change.values) }
        key("hlc")
        integer(change.hlc.rawValue)
        key("origin")
        string(change.origin)
        key("seen")
        integer(change.seen)
        raw("}")
    }
}

extension PushRequest {
    /// The request body, written by `JSONWriter`.
    public func json() -> Data {
        var writer = JSONWriter(capacity: 256 + changes.count * 256)
        writer.raw("{\"replica_id\":")
        writer.string(replicaID)
        writer.key("last_seq")
        writer.integer(lastSeq)
        if let after {
            writer.key("after")
            writer.integer(after)
        }
        if let chains {
            writer.key("chains")
            writer.string(chains.base64EncodedString())
        }
        writer.key("changes")
        writer.raw("[")
        for (index, change) in changes.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.change(change)
        }
        writer.raw("]}")
        return writer.data
    }
}

extension PullPage {
    /// The response body, written by `JSONWriter` with each change's stored values spliced in
    /// as they are.
    public func json() throws -> Data {
        var writer = JSONWriter(capacity: 256 + changes.count * 256)
        writer.raw("{\"changes\":[")
        for (index, entry) in changes.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.change(entry.change, valuesJSON: entry.valuesJSON)
        }
        writer.raw("]")
        writer.key("conflicts")
        writer.raw("[")
        let encoder = JSONEncoder()
        for (index, conflict) in conflicts.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.raw(String(decoding: try encoder.encode(conflict), as: UTF8.self))
        }
        writer.raw("]")
        writer.key("next_cursor")
        writer.integer(nextCursor)
        if let nextCheck {
            writer.key("next_check")
            writer.string(nextCheck.hex)
        }
        writer.key("more")
        writer.raw(more ? "true" : "false")
        writer.key("hub_time")
        writer.integer(hubTime)
        if !erased.isEmpty {
            writer.key("erased")
            writer.raw(String(decoding: try JSONEncoder().encode(erased), as: UTF8.self))
        }
        writer.raw("}")
        return writer.data
    }
}
