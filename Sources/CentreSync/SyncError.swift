public import ReplicaStore
public import SyncCore

/// Why a sync did not complete, worded for an operator, with the exit code `wirsync sync`
/// uses for it (sysexits.h).
public enum SyncError: Error, Sendable, CustomStringConvertible {
    case transport(TransportError)
    case replica(ReplicaError)
    /// Another sync of the same replica is running.
    case busy(String)
    /// The settings are missing or unsafe (no hub, no token, a token file others can read).
    case settings(String)
    case cancelled

    /// A short name of the failure, kept with the sync's record.
    public var kind: String {
        switch self {
        case .transport(.unreachable): "unreachable"
        case .transport(.timeout): "timeout"
        case .transport(.interrupted): "interrupted"
        case .transport(.tls): "tls"
        case .transport(.hub(_, let code, _)): code
        case .transport: "transport"
        case .replica: "replica"
        case .busy: "busy"
        case .settings: "settings"
        case .cancelled: "cancelled"
        }
    }

    /// Exit codes after sysexits.h: 69 hub unavailable, 75 try again (busy), 77 not allowed
    /// (token), 65 bad data (clock ahead, schema mismatch, refused batch), 78 configuration.
    public var exitCode: Int32 {
        switch self {
        case .transport(let error) where error.isTransient: 69
        case .transport(.hub(let status, _, _)) where status == 401 || status == 403: 77
        case .transport(.hub): 65
        case .transport: 69
        case .busy: 75
        case .settings: 78
        case .replica, .cancelled: 1
        }
    }

    public var description: String {
        switch self {
        case .transport(let error): error.description
        case .replica(let error): error.description
        case .busy(let message), .settings(let message): message
        case .cancelled: "stopped before the sync completed; every batch sent is either fully applied or not at all"
        }
    }
}
