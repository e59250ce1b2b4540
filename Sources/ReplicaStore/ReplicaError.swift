public import SyncCore
public import SyncStore

/// Why a replica operation was refused or failed; each reads as a message for an operator.
public enum ReplicaError: Error, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case notAReplica(path: String, reason: String)
    case alreadyInitialised(path: String, node: String, schemaVersion: Int)
    case belongsToOtherNode(path: String, node: String, requested: String)
    case newerSchema(path: String, installed: Int, available: Int)
    case newerEngine(path: String, reason: String)
    case invalidNode(String)
    case schema(SchemaError)
    case apply(ApplyError)
    case staleCursor(current: Int64, received: Int64)
    case sqlite(message: String)
    /// A replicated table is not as the engine installed it (docs/schema-evolution.md, "Drift").
    case drift(path: String, [Drift])
    /// `wirsync repair` cannot bring a table back by itself.
    case repair(String)

    public var description: String {
        switch self {
        case .notFound(let path):
            "no replica at \(path): the file does not exist (create one with `wirsync init`)"
        case .notAReplica(let path, let reason):
            "\(path) is not a WIR-Sync replica: \(reason)"
        case .alreadyInitialised(let path, let node, let version):
            "\(path) is already a replica of \(node) at schema version \(version); nothing to do"
        case .belongsToOtherNode(let path, let node, let requested):
            "\(path) is the replica of \(node), not of \(requested)"
        case .newerSchema(let path, let installed, let available):
            "\(path) has schema version \(installed), newer than this program's \(available); update wirsync"
        case .newerEngine(let path, let reason):
            "\(path) cannot be opened by this wirsync: \(reason)"
        case .invalidNode(let node):
            "\(node) is not a node id (a lower-case slug such as landkreis-kassel, or hmsi)"
        case .schema(let error):
            error.description
        case .apply(let error):
            "remote change refused, nothing applied: \(error)"
        case .staleCursor(let current, let received):
            "the hub sent cursor \(received), behind this replica's \(current); nothing applied"
        case .sqlite(let message):
            "database error: \(message)"
        case .drift(let path, let found):
            "capture is not intact, so nothing is synced: " + found.map(\.description).joined(separator: "; ")
                + "; run `wirsync repair --db \(path)`"
        case .repair(let message):
            "cannot repair \(message)"
        }
    }
}
