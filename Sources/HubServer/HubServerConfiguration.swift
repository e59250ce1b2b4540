import SyncCore

/// Limits and bounds of the hub's HTTP API.
public struct HubServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest request body accepted, as sent (compressed or not): larger is 413.
    public var maxBodyBytes: Int
    /// Largest size a gzip request body may inflate to: larger is 413, checked while
    /// inflating, so a small body that inflates to gigabytes is stopped early.
    public var maxInflatedBytes: Int
    /// How far ahead of the hub's clock a change may be stamped (DESIGN.md: 5 minutes).
    public var skewBoundMillis: Int64
    /// Entries per pull when the client does not say; and the most it may ask for.
    public var pullLimitDefault: Int
    public var pullLimitMax: Int
    /// Responses smaller than this are not compressed.
    public var gzipThreshold: Int
    /// Connections served at once; one more is closed at once (a flood of idle connections
    /// must not take every file descriptor).
    public var maxConnections = 256
    /// How long a connection may take to send a whole request head, after it opens or after
    /// its last answer (a client dripping headers is closed).
    public var headerTimeoutSeconds = 10
    /// How long a keep-alive connection may sit idle between requests.
    public var idleTimeoutSeconds = 60
    /// The certificate chain and private key (PEM files) to serve HTTPS with; nil serves
    /// plain HTTP, for loopback behind a TLS-terminating proxy.
    public var tls: TLSFiles?

    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String

        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    /// Whether `host` listens on this machine only (127.0.0.0/8, ::1, localhost).
    public var listensOnLoopbackOnly: Bool { Wire.isLoopback(host: host) }

    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 4 << 20, maxInflatedBytes: Int = 32 << 20,
        skewBoundMillis: Int64 = 5 * 60_000, pullLimitDefault: Int = 1000, pullLimitMax: Int = 5000, gzipThreshold: Int = 1024
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxInflatedBytes = maxInflatedBytes
        self.skewBoundMillis = skewBoundMillis
        self.pullLimitDefault = pullLimitDefault
        self.pullLimitMax = pullLimitMax
        self.gzipThreshold = gzipThreshold
    }
}

/// Why the hub cannot start serving.
public enum ServeError: Error, CustomStringConvertible {
    case tls(String)

    public var description: String {
        switch self {
        case .tls(let message): "TLS: \(message)"
        }
    }
}
