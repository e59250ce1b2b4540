/// Why a change was refused before anything of it was written.
public enum ApplyError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownTable(String)
    case unknownColumn(table: String, column: String)
    case invalidValue(table: String, pk: String, column: String, reason: String)
    case invalidChange(table: String, pk: String, reason: String)
    case outOfScope(table: String, pk: String, reason: String)
    /// The domain table's own constraints (CHECK, UNIQUE) refused the value.
    case constraint(table: String, pk: String, reason: String)

    /// A stable machine-readable code, used in JSON error bodies.
    public var code: String {
        switch self {
        case .unknownTable: "unknown_table"
        case .unknownColumn: "unknown_column"
        case .invalidValue: "invalid_value"
        case .invalidChange: "invalid_change"
        case .outOfScope: "out_of_scope"
        case .constraint: "constraint_violation"
        }
    }

    public var description: String {
        switch self {
        case .unknownTable(let table):
            "unknown table \(table)"
        case .unknownColumn(let table, let column):
            "unknown column \(table).\(column)"
        case .invalidValue(let table, let pk, let column, let reason):
            "invalid value for \(table).\(column) of row \(pk): \(reason)"
        case .invalidChange(let table, let pk, let reason):
            "invalid change to \(table) row \(pk): \(reason)"
        case .outOfScope(let table, let pk, let reason):
            "out of scope: \(table) row \(pk): \(reason)"
        case .constraint(let table, let pk, let reason):
            "\(table) row \(pk) breaks a constraint of the table: \(reason)"
        }
    }
}
