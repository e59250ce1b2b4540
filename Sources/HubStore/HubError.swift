public import SyncStore

/// Why the hub refused a request or an operator's command. `code` is the stable
/// machine-readable name used in JSON error bodies; the description is the message.
public enum HubError: Error, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case notAHub(path: String, reason: String)
    case alreadyExists(path: String)
    case unknownCentre(String)
    case clientExists(String)
    case noSuchClient(String)
    case unauthorized(String)
    case forbidden(String)
    case badRequest(code: String, message: String)
    case apply(ApplyError)
    case schemaMismatch(String)
    case cursorAhead(String)
    case tooLarge(String)
    case unsupportedEncoding(String)
    case clockAhead(String)
    case noSuchConflict(Int64)
    case cannotResolve(String)
    case sqlite(String)

    public var code: String {
        switch self {
        case .notFound: "not_found"
        case .notAHub: "not_a_hub"
        case .alreadyExists: "already_exists"
        case .unknownCentre: "unknown_centre"
        case .clientExists: "client_exists"
        case .noSuchClient: "no_such_client"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .badRequest(let code, _): code
        case .apply(let error): error.code
        case .schemaMismatch: "schema_mismatch"
        case .cursorAhead: "cursor_ahead"
        case .tooLarge: "too_large"
        case .unsupportedEncoding: "unsupported_encoding"
        case .clockAhead: "clock_ahead"
        case .noSuchConflict: "no_such_conflict"
        case .cannotResolve: "cannot_resolve"
        case .sqlite: "internal"
        }
    }

    public var description: String {
        switch self {
        case .notFound(let path): "no hub store at \(path): the file does not exist (create one with `wirsync-hub init`)"
        case .notAHub(let path, let reason): "\(path) is not a WIR-Sync hub store: \(reason)"
        case .alreadyExists(let path): "\(path) already exists; the hub store is not created twice"
        case .unknownCentre(let id): "\(id) is not one of the 33 WIR-Vielfaltszentren (nor hmsi)"
        case .clientExists(let id): "\(id) already has a token; revoke it first, or add --rotate to replace it"
        case .noSuchClient(let id): "\(id) has no token"
        case .unauthorized(let message), .forbidden(let message), .schemaMismatch(let message),
            .cursorAhead(let message), .tooLarge(let message), .unsupportedEncoding(let message), .clockAhead(let message),
            .cannotResolve(let message):
            message
        case .badRequest(_, let message): message
        case .apply(let error): error.description
        case .noSuchConflict(let id): "there is no conflict \(id)"
        case .sqlite(let message): "database error: \(message)"
        }
    }
}
