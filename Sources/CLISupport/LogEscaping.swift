public import Logging

/// A log handler that writes one line per event whatever a client sent: every control
/// character in the message and in metadata (keys and values) is escaped, so a table name,
/// a query value or a reason carrying a newline cannot forge a line (docs/security.md).
public struct EscapingLogHandler: LogHandler {
    private var inner: StreamLogHandler

    /// A handler writing to standard error at `level`.
    public static func standardError(label: String, level: Logger.Level) -> EscapingLogHandler {
        var inner = StreamLogHandler.standardError(label: label)
        inner.logLevel = level
        return EscapingLogHandler(inner: inner)
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = Self.escape(newValue) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: Self.escape(key)] }
        set { inner[metadataKey: Self.escape(key)] = newValue.map(Self.escape) }
    }

    public func log(event: LogEvent) {
        var escaped = event
        escaped.message = "\(Self.escape("\(event.message)"))"
        escaped.metadata = event.metadata.map(Self.escape)
        inner.log(event: escaped)
    }

    /// `text` with every control character (C0, DEL, C1, and the Unicode line and paragraph
    /// separators) written as a Swift-style escape: `\n`, `\r`, `\t`, `\u{1b}`; a backslash doubled.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case "\\": escaped += "\\\\"
            case _ where needsEscape(scalar): escaped += "\\u{\(String(scalar.value, radix: 16))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\\"
    }

    private static func escape(_ metadata: Logger.Metadata) -> Logger.Metadata {
        Logger.Metadata(uniqueKeysWithValues: metadata.map { (escape($0.key), escape($0.value)) })
    }

    private static func escape(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(escape(text))
        case .stringConvertible(let convertible): .string(escape(convertible.description))
        case .array(let values): .array(values.map(escape))
        case .dictionary(let metadata): .dictionary(escape(metadata))
        }
    }
}
