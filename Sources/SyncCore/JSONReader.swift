public import Foundation

/// Why a body could not be read: what was expected, and at which byte.
public struct JSONReadError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
}

/// Reads the protocol's hot JSON (push batches, pull pages) straight from bytes into the
/// wire types, the counterpart of `JSONWriter`.
///
/// Strict JSON (RFC 8259): UTF-8 validated, no trailing garbage, nesting at most 64 deep
/// (a hostile body cannot exhaust the stack). Unknown keys are skipped, as `JSONDecoder`
/// does; a missing key or a wrong type is an error naming the field. Integers must be
/// integers in the 64-bit range: `1.0` or `1e3` is not a sequence number.
struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    private static let maxDepth = 64

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Reads one document from `data` with `body`, then requires the end of the input.
    static func read<T>(_ data: Data, _ body: (inout JSONReader) throws(JSONReadError) -> T) throws(JSONReadError) -> T {
        let result: Result<T, JSONReadError> = data.withUnsafeBytes { raw in
            var reader = JSONReader(raw.bindMemory(to: UInt8.self))
            do throws(JSONReadError) {
                let value = try body(&reader)
                reader.skipWhitespace()
                guard reader.index == reader.bytes.count else { throw reader.failure("unexpected text after the document") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    func failure(_ message: String) -> JSONReadError {
        JSONReadError(description: "\(message) at byte \(index)")
    }

    // MARK: Tokens

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func peek() throws(JSONReadError) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of the body") }
        return bytes[index]
    }

    private mutating func expect(_ byte: UInt8) throws(JSONReadError) {
        guard try peek() == byte else { throw failure("expected '\(Character(Unicode.Scalar(byte)))'") }
        index += 1
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// Consumes `null` if it comes next.
    mutating func null() throws(JSONReadError) -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        guard literal("null") else { throw failure("unexpected text") }
        return true
    }

    mutating func bool(_ field: @autoclosure () -> String) throws(JSONReadError) -> Bool {
        _ = try peek()
        if literal("true") { return true }
        if literal("false") { return false }
        throw failure("\(field()) must be true or false")
    }

    mutating func string(_ field: @autoclosure () -> String) throws(JSONReadError) -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw failure("\(field()) must be a string") }
        index += 1
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let utf8 = UnsafeBufferPointer(rebasing: bytes[start..<index])
                // ASCII needs no validation; `String(validating:)` is generic and costs a
                // metadata lookup per call, too much for every key and value.
                let text = ascii ? String(decoding: utf8, as: UTF8.self) : String(validating: utf8, as: UTF8.self)
                guard let text else { throw failure("\(field()) is not valid UTF-8") }
                index += 1
                return text
            }
            if byte >= 0x80 { ascii = false }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start, field()) }
            guard byte >= 0x20 else { throw failure("a control character in \(field()) must be escaped") }
            index += 1
        }
        throw failure("\(field()) is not terminated")
    }

    private mutating func escapedString(from start: Int, _ field: @autoclosure () -> String) throws(JSONReadError) -> String {
        var utf8 = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: utf8, as: UTF8.self) else { throw failure("\(field()) is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4(field())
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard literal("\\u") else { throw failure("a lone surrogate in \(field())") }
                        let low = try hex4(field())
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("a lone surrogate in \(field())") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let character = Unicode.Scalar(scalar) else { throw failure("a lone surrogate in \(field())") }
                    utf8.append(contentsOf: String(Character(character)).utf8)
                default:
                    throw failure("an unknown escape in \(field())")
                }
            case 0..<0x20:
                throw failure("a control character in \(field()) must be escaped")
            default:
                utf8.append(byte)
            }
        }
        throw failure("\(field()) is not terminated")
    }

    private mutating func hex4(_ field: @autoclosure () -> String) throws(JSONReadError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("a short \\u escape in \(field())") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a bad \\u escape in \(field())")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// The extent of a JSON number: optional minus, digits without leading zeros, optional
    /// fraction and exponent. Returns whether it had a fraction or an exponent.
    private mutating func numberToken(_ field: @autoclosure () -> String) throws(JSONReadError) -> (range: Range<Int>, integral: Bool) {
        _ = try peek()
        let start = index
        func digits(_ reader: inout JSONReader) -> Int {
            let first = reader.index
            while reader.index < reader.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(reader.bytes[reader.index]) {
                reader.index += 1
            }
            return reader.index - first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let intStart = index
        let count = digits(&self)
        guard count > 0, !(count > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw failure("\(field()) must be a number") }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            integral = false
            guard digits(&self) > 0 else { throw failure("\(field()) must be a number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            integral = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("\(field()) must be a number") }
        }
        return (start..<index, integral)
    }

    mutating func int64(_ field: @autoclosure () -> String) throws(JSONReadError) -> Int64 {
        let (range, integral) = try numberToken(field())
        guard integral else { throw failure("\(field()) must be a 64-bit integer") }
        let negative = bytes[range.lowerBound] == UInt8(ascii: "-")
        var value: Int64 = 0
        for position in (negative ? range.lowerBound + 1 : range.lowerBound)..<range.upperBound {
            let digit = Int64(bytes[position] - UInt8(ascii: "0"))
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowA, !overflowB else { throw failure("\(field()) is out of the 64-bit range") }
            value = next
        }
        return value
    }

    mutating func double(_ field: @autoclosure () -> String) throws(JSONReadError) -> Double {
        let (range, _) = try numberToken(field())
        guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self), let value = Double(text),
            value.isFinite
        else { throw failure("\(field()) is out of range") }
        return value
    }

    // MARK: Structure

    /// Reads an object, calling `each` with every key; `each` must read (or skip) the value.
    mutating func object(_ field: @autoclosure () -> String, _ each: (inout JSONReader, String) throws(JSONReadError) -> Void) throws(JSONReadError) {
        try elements(of: field(), "an object", from: "{", to: "}") { reader throws(JSONReadError) in
            let key = try reader.string("a key in \(field())")
            try reader.expect(UInt8(ascii: ":"))
            try each(&reader, key)
        }
    }

    mutating func array(_ field: @autoclosure () -> String, _ each: (inout JSONReader) throws(JSONReadError) -> Void) throws(JSONReadError) {
        try elements(of: field(), "an array", from: "[", to: "]", each)
    }

    /// The elements between `open` and `close`, separated by commas, one nesting level down.
    private mutating func elements(
        of field: @autoclosure () -> String, _ kind: String, from open: Unicode.Scalar, to close: Unicode.Scalar,
        _ each: (inout JSONReader) throws(JSONReadError) -> Void
    ) throws(JSONReadError) {
        guard try peek() == UInt8(ascii: open) else { throw failure("\(field()) must be \(kind)") }
        try nest()
        index += 1
        if try peek() != UInt8(ascii: close) {
            while true {
                try each(&self)
                guard try peek() == UInt8(ascii: ",") else { break }
                index += 1
            }
            guard try peek() == UInt8(ascii: close) else { throw failure("expected ',' or '\(close)' in \(field())") }
        }
        index += 1
        depth -= 1
    }

    private mutating func nest() throws(JSONReadError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("the JSON is nested deeper than \(Self.maxDepth) levels") }
    }

    /// Skips any value (of a key this reader does not know), and returns where it lay.
    @discardableResult
    mutating func skip() throws(JSONReadError) -> Range<Int> {
        let byte = try peek()
        let start = index
        switch byte {
        case UInt8(ascii: "{"): try object("a value") { reader, _ throws(JSONReadError) in try reader.skip() }
        case UInt8(ascii: "["): try array("a value") { reader throws(JSONReadError) in try reader.skip() }
        case UInt8(ascii: "\""): _ = try string("a value")
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool("a value")
        case UInt8(ascii: "n"): guard literal("null") else { throw failure("unexpected text") }
        default: _ = try numberToken("a value")
        }
        return start..<index
    }

    func slice(_ range: Range<Int>) -> Data { Data(UnsafeBufferPointer(rebasing: bytes[range])) }

    /// The next value, decoded by `JSONDecoder`: for the rare parts of a body, not worth a
    /// hand-written reader. `what` says what it must be, for the error.
    mutating func decoded<T: Decodable>(_ type: T.Type, what: String) throws(JSONReadError) -> T {
        let range = try skip()
        do {
            return try JSONDecoder().decode(type, from: slice(range))
        } catch {
            throw failure("\(what): \(error)")
        }
    }

    // MARK: Wire types

    /// A value in its protocol form (see `Value`).
    mutating func value(_ field: @autoclosure () -> String) throws(JSONReadError) -> Value {
        switch try peek() {
        case UInt8(ascii: "n"):
            guard literal("null") else { throw failure("unexpected text in \(field())") }
            return .null
        case UInt8(ascii: "\""): return .text(try string(field()))
        case UInt8(ascii: "{"):
            var real: Double?
            var blob: Data?
            try object(field()) { reader, key throws(JSONReadError) in
                switch key {
                case "real":
                    if try reader.peek() == UInt8(ascii: "\"") {
                        switch try reader.string(field()) {
                        case "Infinity": real = .infinity
                        case "-Infinity": real = -.infinity
                        default: throw reader.failure("\(field()): a real is a number, Infinity or -Infinity")
                        }
                    } else {
                        real = try reader.double(field())
                    }
                case "blob":
                    guard let bytes = Data(base64Encoded: try reader.string(field())) else {
                        throw reader.failure("\(field()): a blob is base64 text")
                    }
                    blob = bytes
                default: try reader.skip()
                }
            }
            if let real { return .real(real) }
            if let blob { return .blob(blob) }
            throw failure("\(field()): an object value must be {\"real\": …} or {\"blob\": …}")
        default:
            let (range, integral) = try numberToken(field())
            guard integral else {
                throw failure("\(field()): a value is null, a 64-bit integer, a string, {\"real\": …} or {\"blob\": …}")
            }
            index = range.lowerBound
            return .integer(try int64(field()))
        }
    }

    mutating func change() throws(JSONReadError) -> Change {
        var seq: Int64?, hlc: Int64?, seen: Int64?
        var table: String?, pk: String?, origin: String?, centre: String?
        var op: Change.Op?
        var values: [String: Value]?
        try object("a change") { reader, key throws(JSONReadError) in
            switch key {
            case "seq": seq = try reader.int64("seq")
            case "table": table = try reader.string("table")
            case "pk": pk = try reader.string("pk")
            case "op":
                let name = try reader.string("op")
                guard let known = Change.Op(rawValue: name) else { throw reader.failure("op must be insert, update or delete, not \(name)") }
                op = known
            case "centre": centre = try reader.null() ? nil : reader.string("centre")
            case "values":
                var read: [String: Value] = [:]
                read.reserveCapacity(12)  // an insert's dozen columns without growing four times
                try reader.object("values") { reader, column throws(JSONReadError) in read[column] = try reader.value("values.\(column)") }
                values = read
            case "hlc": hlc = try reader.int64("hlc")
            case "origin": origin = try reader.string("origin")
            case "seen": seen = try reader.int64("seen")
            default: try reader.skip()
            }
        }
        guard let seq, let table, let pk, let op, let values, let hlc, let origin, let seen else {
            let missing = [("seq", seq == nil), ("table", table == nil), ("pk", pk == nil), ("op", op == nil), ("values", values == nil),
                           ("hlc", hlc == nil), ("origin", origin == nil), ("seen", seen == nil)].filter(\.1).map(\.0)
            throw failure("a change is missing \(missing.joined(separator: ", "))")
        }
        return Change(seq: seq, table: table, pk: pk, op: op, centre: centre, values: values, hlc: HLC(rawValue: hlc), origin: origin, seen: seen)
    }
}

extension PushRequest {
    /// Reads a push body (what `json()` writes, or any equivalent JSON).
    public init(json data: Data) throws(JSONReadError) {
        self = try JSONReader.read(data) { reader throws(JSONReadError) in
            var replicaID: String?, lastSeq: Int64?, changes: [Change]?, after: Int64?, chains: Data?
            try reader.object("the batch") { reader, key throws(JSONReadError) in
                switch key {
                case "replica_id": replicaID = try reader.string("replica_id")
                case "last_seq": lastSeq = try reader.int64("last_seq")
                case "after": after = try reader.int64("after")
                case "chains":
                    guard let bytes = Data(base64Encoded: try reader.string("chains")) else { throw reader.failure("chains is base64 text") }
                    chains = bytes
                case "changes":
                    var read: [Change] = []
                    try reader.array("changes") { reader throws(JSONReadError) in read.append(try reader.change()) }
                    changes = read
                default: try reader.skip()
                }
            }
            guard let replicaID, let lastSeq, let changes else { throw reader.failure("a batch needs replica_id, last_seq and changes") }
            return PushRequest(replicaID: replicaID, lastSeq: lastSeq, changes: changes, after: after, chains: chains)
        }
    }
}

extension PullResponse {
    /// Reads a pull body. Conflict records, which are rare, go through `JSONDecoder`.
    public init(json data: Data) throws(JSONReadError) {
        self = try JSONReader.read(data) { reader throws(JSONReadError) in
            var changes: [Change]?, conflicts: [ConflictRecord]?, nextCursor: Int64?, nextCheck: Fingerprint?, more: Bool?, hubTime: Int64?
            var erased: [RowKey]?
            try reader.object("the page") { reader, key throws(JSONReadError) in
                switch key {
                case "changes":
                    var read: [Change] = []
                    try reader.array("changes") { reader throws(JSONReadError) in read.append(try reader.change()) }
                    changes = read
                case "conflicts": conflicts = try reader.decoded([ConflictRecord].self, what: "conflicts are not valid conflict records")
                case "next_cursor": nextCursor = try reader.int64("next_cursor")
                case "next_check":
                    guard let check = Fingerprint(hex: try reader.string("next_check")) else { throw reader.failure("next_check is 16 hex digits") }
                    nextCheck = check
                case "more": more = try reader.bool("more")
                case "hub_time": hubTime = try reader.int64("hub_time")
                case "erased": erased = try reader.decoded([RowKey].self, what: "erased is a list of rows (table, pk)")
                default: try reader.skip()
                }
            }
            guard let changes, let conflicts, let nextCursor, let more, let hubTime else {
                throw reader.failure("a page needs changes, conflicts, next_cursor, more and hub_time")
            }
            return PullResponse(
                changes: changes, conflicts: conflicts, nextCursor: nextCursor, nextCheck: nextCheck, more: more, hubTime: hubTime, erased: erased)
        }
    }
}
