import Foundation
import SyncCore

/// What a centre accepts as its hub's URL (docs/security.md): `https://`, or `http://` to
/// this machine; plain HTTP to another machine only when the operator says so; never a
/// user name or password in the URL (the token file authenticates, and a URL is echoed
/// in messages and kept in the replica).
public enum HubURL {
    /// The settings key, flag and environment variable that allow plain HTTP to another machine.
    public static let allowPlainHTTPKey = "allow-plain-http"

    /// Checks `raw`; the error's message never repeats what stood before the host.
    public static func check(_ raw: String, allowPlainHTTP: Bool) throws(SyncError) {
        guard let components = URLComponents(string: raw), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            let shown = raw.contains("@") ? "given" : raw
            throw .settings("the hub URL \(shown) is not an https:// URL with a host name")
        }
        guard components.user == nil, components.password == nil else {
            throw .settings(
                "the hub URL \(scheme)://…@\(host) carries a user name or password; give it without them: the token file authenticates this PC")
        }
        if scheme == "http", !Wire.isLoopback(host: host), !allowPlainHTTP {
            throw .settings(
                "the hub URL \(raw) is plain HTTP to another machine: the token and the centre's data would travel in clear. "
                    + "Use https://, or, on a network you trust end to end, allow it with --allow-plain-http "
                    + "(or `allow-plain-http = yes` in <db>.conf, or WIRSYNC_ALLOW_PLAIN_HTTP=yes)")
        }
    }

    /// Whether a setting's value says yes.
    public static func isYes(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["yes", "true", "1", "on"].contains(value.lowercased())
    }
}
