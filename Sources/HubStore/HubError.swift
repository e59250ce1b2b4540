public import SyncStore

/// Why the hub refused a request or an operator's command. `code` is the stable
/// machine-readable name used in JSON error bodies; the description is the message.
public enum HubError: Error, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case notAHub(path: String, reason: String)
    case alreadyExists(path: String)
    case unknownCentre(String)
    /// A hub made with `init --rebuild` knows no centres until HMSI's replica brought them back.
    case noCentresYet(String)
    case clientExists(String)
    case noSuchClient(String)
    case noSuchReplica(String)
    case unauthorized(String)
    case forbidden(String)
    case badRequest(code: String, message: String)
    case apply(ApplyError)
    /// The request's schema is one the hub does not serve; the code says which side to update.
    case schemaMismatch(code: String, message: String)
    case cursorAhead(String)
    /// A protocol-2 request from a replica that has not had a session (or moved to another token).
    case noSession(String)
    /// A push that starts above what the hub has acknowledged of the replica: the hub lost it.
    case hubBehind(String)
    /// A push whose entries differ from those the hub acknowledged at the same sequences.
    case replicaDiverged(String)
    case tooLarge(String)
    case unsupportedEncoding(String)
    case clockAhead(String)
    case noSuchConflict(Int64)
    case cannotResolve(String)
    /// An erasure names a row the hub does not hold.
    case noSuchRow(String)
    case alreadyErased(String)
    case sqlite(String)

    public var code: String {
        switch self {
        case .notFound: "not_found"
        case .notAHub: "not_a_hub"
        case .alreadyExists: "already_exists"
        case .unknownCentre, .noCentresYet: "unknown_centre"
        case .clientExists: "client_exists"
        case .noSuchClient: "no_such_client"
        case .noSuchReplica: "no_such_replica"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .badRequest(let code, _): code
        case .apply(let error): error.code
        case .schemaMismatch(let code, _): code
        case .cursorAhead: "cursor_ahead"
        case .noSession: "no_session"
        case .hubBehind: "hub_behind"
        case .replicaDiverged: "replica_diverged"
        case .tooLarge: "too_large"
        case .unsupportedEncoding: "unsupported_encoding"
        case .clockAhead: "clock_ahead"
        case .noSuchConflict: "no_such_conflict"
        case .cannotResolve: "cannot_resolve"
        case .noSuchRow: "no_such_row"
        case .alreadyErased: "already_erased"
        case .sqlite: "internal"
        }
    }

    /// The HTTP status of the refusal; 500 for what is not the client's doing.
    public var status: Int {
        switch self {
        case .unauthorized: 401
        case .forbidden, .apply(.outOfScope): 403
        case .badRequest, .apply: 400
        case .schemaMismatch, .cursorAhead, .noSession, .hubBehind, .replicaDiverged: 409
        case .tooLarge: 413
        case .unsupportedEncoding: 415
        case .clockAhead: 422
        case .noSuchConflict, .noSuchRow: 404
        case .alreadyErased: 409
        case .notFound, .notAHub, .alreadyExists, .unknownCentre, .noCentresYet, .clientExists, .noSuchClient, .noSuchReplica, .cannotResolve, .sqlite: 500
        }
    }

    public var description: String {
        switch self {
        case .notFound(let path): "no hub store at \(path): the file does not exist (create one with `wirsync-hub init`)"
        case .notAHub(let path, let reason): "\(path) is not a WIR-Sync hub store: \(reason)"
        case .alreadyExists(let path): "\(path) already exists; the hub store is not created twice"
        case .unknownCentre(let id): "\(id) is not one of the 33 WIR-Vielfaltszentren (nor hmsi)"
        case .noCentresYet(let id):
            "the hub knows no centres yet, so not \(id) either: it is being rebuilt; give hmsi a token and sync HMSI's replica first (docs/recovery.md, 4)"
        case .clientExists(let id):
            "\(id) already has a token; give a further PC its own with `wirsync-hub replica add \(id)`, or add --rotate to replace every token of \(id)"
        case .noSuchClient(let id): "\(id) has no working token"
        case .noSuchReplica(let origin): "the hub knows no replica \(origin); see `wirsync-hub replica list`"
        case .unauthorized(let message), .forbidden(let message), .schemaMismatch(_, let message),
            .cursorAhead(let message), .noSession(let message), .hubBehind(let message), .replicaDiverged(let message), .tooLarge(let message), .unsupportedEncoding(let message), .clockAhead(let message),
            .cannotResolve(let message), .noSuchRow(let message), .alreadyErased(let message):
            message
        case .badRequest(_, let message): message
        case .apply(let error): error.description
        case .noSuchConflict(let id): "there is no conflict \(id)"
        case .sqlite(let message): "database error: \(message)"
        }
    }
}
