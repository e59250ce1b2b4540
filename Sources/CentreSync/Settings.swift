import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The settings of a centre's sync, resolved in DESIGN.md's order: command-line flags, then
/// `WIRSYNC_*` environment variables, then the config file beside the replica
/// (`<replica>.conf`, lines of `key = value`, `#` comments), then defaults.
///
/// | key (flag, file) | environment | default |
/// |---|---|---|
/// | `hub` | `WIRSYNC_HUB` | the URL given to `wirsync init --hub` |
/// | `token-file` | `WIRSYNC_TOKEN_FILE`, or the token itself in `WIRSYNC_TOKEN` | `<replica>.token` |
/// | `ca-file` | `WIRSYNC_CA_FILE` | the system's CA bundle |
/// | `allow-plain-http` (yes/no) | `WIRSYNC_ALLOW_PLAIN_HTTP` | no: `http://` only to this machine (`HubURL`) |
/// | `interval` (seconds) | `WIRSYNC_INTERVAL` | 300 |
/// | `batch-size` (changes) | `WIRSYNC_BATCH_SIZE` | 500 |
/// | `connect-timeout`, `timeout`, `stall-timeout` (seconds) | `WIRSYNC_CONNECT_TIMEOUT`, … | 10, 300, 20 |
/// | `retry-min`, `retry-max` (seconds) | `WIRSYNC_RETRY_MIN`, `WIRSYNC_RETRY_MAX` | 2, 300 |
///
/// The token never comes from the command line; a token file must be readable by its
/// owner only (mode 0600).
public struct CentreSettings: Sendable {
    public var hubURL: String
    public var token: String
    /// Where each setting came from, for `--help`-like explanations and errors.
    public var sources: [String: String]
    /// What the operator should fix, though the sync can go on (printed before it).
    public var warnings: [String]
    public var caFile: String?
    public var interval: Duration
    public var batchChanges: Int
    public var connectTimeout: Duration
    public var timeout: Duration
    public var stallTimeout: Duration
    public var retryMin: Duration
    public var retryMax: Duration

    /// - Parameters:
    ///   - flags: values given on the command line, by key (`hub`, `token-file`, …).
    ///   - storedHubURL: the hub URL recorded in the replica at `init`.
    public static func resolve(
        replicaPath: String, storedHubURL: String?, flags: [String: String], environment: [String: String]
    ) throws(SyncError) -> CentreSettings {
        let configPath = replicaPath + ".conf"
        let file = try readConfig(configPath)
        var sources: [String: String] = [:]

        func lookup(_ key: String) -> String? {
            let variable = "WIRSYNC_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = flags[key] { sources[key] = "--\(key)"; return value }
            if let value = environment[variable], !value.isEmpty { sources[key] = variable; return value }
            if let value = file[key] { sources[key] = configPath; return value }
            return nil
        }
        func seconds(_ key: String, default fallback: Double) throws(SyncError) -> Duration {
            guard let raw = lookup(key) else { return .milliseconds(Int64(fallback * 1000)) }
            guard let value = Double(raw), value > 0 else {
                throw .settings("\(key) from \(sources[key] ?? "?") must be a positive number of seconds, not \(raw)")
            }
            return .milliseconds(Int64(value * 1000))
        }

        guard let hubURL = lookup("hub") ?? storedHubURL else {
            throw .settings("no hub URL: give --hub, set WIRSYNC_HUB, write `hub = https://…` into \(configPath), or init the replica with --hub")
        }
        try HubURL.check(hubURL, allowPlainHTTP: HubURL.isYes(lookup(HubURL.allowPlainHTTPKey)))
        var warnings: [String] = []
        let token: String
        if flags["token-file"] == nil, environment["WIRSYNC_TOKEN_FILE"] == nil, let inline = environment["WIRSYNC_TOKEN"], !inline.isEmpty {
            token = inline
            sources["token"] = "WIRSYNC_TOKEN"
        } else {
            let tokenFile = lookup("token-file") ?? replicaPath + ".token"
            token = try readToken(tokenFile, explicit: sources["token-file"] != nil)
            sources["token"] = tokenFile
            let directory = (tokenFile as NSString).deletingLastPathComponent
            var info = stat()
            if stat(directory.isEmpty ? "." : directory, &info) == 0, info.st_mode & 0o022 != 0 {
                warnings.append(
                    "the token file's directory \(directory.isEmpty ? "." : directory) can be written by others (mode \(String(info.st_mode & 0o7777, radix: 8))): "
                        + "they could replace the token file; run: chmod go-w \(directory.isEmpty ? "." : directory)")
            }
        }
        guard let batch = Int(lookup("batch-size") ?? "500"), (1...10_000).contains(batch) else {
            throw .settings("batch-size must be a whole number from 1 to 10000")
        }
        return CentreSettings(
            hubURL: hubURL, token: token, sources: sources, warnings: warnings, caFile: lookup("ca-file"),
            interval: try seconds("interval", default: 300), batchChanges: batch,
            connectTimeout: try seconds("connect-timeout", default: 10), timeout: try seconds("timeout", default: 300),
            stallTimeout: try seconds("stall-timeout", default: 20),
            retryMin: try seconds("retry-min", default: 2), retryMax: try seconds("retry-max", default: 300))
    }

    private static func readConfig(_ path: String) throws(SyncError) -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .settings("cannot read the config file \(path)")
        }
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !line.isEmpty else { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw .settings("\(path) line \(number + 1): expected `key = value`, found `\(line)`")
            }
            guard ["hub", "token-file", "ca-file", HubURL.allowPlainHTTPKey, "interval", "batch-size", "connect-timeout", "timeout", "stall-timeout", "retry-min", "retry-max"].contains(parts[0]) else {
                throw .settings("\(path) line \(number + 1): unknown setting \(parts[0])")
            }
            values[parts[0]] = parts[1]
        }
        return values
    }

    private static func readToken(_ path: String, explicit: Bool) throws(SyncError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .settings(explicit
                ? "cannot read the token file \(path): \(String(cString: strerror(errno)))"
                : "no token: put the centre's token into \(path) (chmod 600), or name a file with --token-file or WIRSYNC_TOKEN_FILE")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw .settings("the token file \(path) can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            case let token = text.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty
        else {
            throw .settings("the token file \(path) is empty or unreadable")
        }
        return token
    }
}
