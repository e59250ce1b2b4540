public import Foundation

/// A fresh directory for one test, removed when the value is released.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init(_ label: String = "wirsync") throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside this directory.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Removed at the end, unless `WIRSYNC_KEEP_TEMP` is set (to look at a failed run's files).
    deinit {
        if ProcessInfo.processInfo.environment["WIRSYNC_KEEP_TEMP"] == nil { try? FileManager.default.removeItem(at: url) }
    }
}
