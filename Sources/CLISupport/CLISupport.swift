public import ArgumentParser
import Foundation

/// What both command lines (`wirsync`, `wirsync-hub`) print the same way.
public enum CLI {
    /// Prints `message` to standard error in the program's own words (`program: …`) and
    /// returns the exit code to throw.
    /// Prints `program: warning: message` to standard error; the command goes on.
    public static func warn(_ program: String, _ message: String) {
        FileHandle.standardError.write(Data("\(program): warning: \(message)\n".utf8))
    }

    public static func fail(_ program: String, _ message: String, code: Int32 = 1) -> ExitCode {
        FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
        return ExitCode(code)
    }

    /// JSON as the `--json` flags print it: sorted keys, one document per line.
    public static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// A moment (Unix ms) as operators read it: ISO 8601 in UTC.
    public static func time(_ millis: Int64, fractions: Bool = false) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000)
            .formatted(.iso8601.year().month().day().time(includingFractionalSeconds: fractions).timeZone(separator: .omitted))
    }

    /// A size in bytes as operators read it: 1.2 MiB.
    public static func bytes(_ count: Int64) -> String {
        switch count {
        case ..<1024: "\(count) bytes"
        case ..<(1 << 20): String(format: "%.1f KiB", Double(count) / 1024)
        case ..<(1 << 30): String(format: "%.1f MiB", Double(count) / 1_048_576)
        default: String(format: "%.2f GiB", Double(count) / 1_073_741_824)
        }
    }
}
