import SyncCore
import SyncStore

/// The SQL that captures every write to the replicated tables.
///
/// Capture is plain SQL, so any writer is captured: the `sqlite3` CLI, Python, LibreOffice
/// Base. Each trigger appends one row to `sync_log` and reads no table, which keeps the
/// cost of a captured write low: it records the table, key, operation, the changed column
/// (updates have one trigger per column, so an UPDATE only runs the triggers of the
/// columns it sets) and the wall clock. The engine's fold later gives
/// every entry its HLC and `seen` cursor, in log order, inside the engine's transaction
/// (see docs/capture.md).
enum CaptureSQL {
    /// Wall-clock milliseconds since 1970, as SQLite computes it.
    static let wallMillis = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"

    enum Op: Int64 {
        case insert = 1, update = 2, delete = 3

        var change: Change.Op {
            switch self {
            case .insert: .insert
            case .update: .update
            case .delete: .delete
            }
        }
    }

    /// The capture and scope triggers of one table on the replica of `node`.
    static func triggers(for table: TableSpec, node: String) -> [String] {
        let name = quoted(table.name)
        let pk = quoted(table.primaryKey)
        let isHMSI = node == Node.hmsi
        func triggerName(_ suffix: String) -> String { quoted("sync_\(table.name)_\(suffix)") }
        func raise(_ message: String) -> String { "SELECT RAISE(ABORT, \(literal("wirsync: " + message)));" }

        if table.scope == .reference, !isHMSI {
            let message = "\(table.name) is reference data; only HMSI writes it (scope)"
            return ["INSERT", "UPDATE", "DELETE"].map { event in
                "CREATE TRIGGER \(triggerName("readonly_" + event.lowercased())) BEFORE \(event) ON \(name) BEGIN \(raise(message)) END"
            }
        }

        var sql: [String] = []
        let centre = table.centreColumn.map { quoted($0.name) }
        let keyColumns = [pk] + (centre.map { [$0] } ?? [])
        let keyNames = ([table.primaryKey] + (table.centreColumn.map { [$0.name] } ?? [])).map { "\(table.name).\($0)" }
        sql.append("""
            CREATE TRIGGER \(triggerName("key")) BEFORE UPDATE OF \(keyColumns.joined(separator: ", ")) ON \(name)
            WHEN \(keyColumns.map { "NEW.\($0) IS NOT OLD.\($0)" }.joined(separator: " OR "))
            BEGIN \(raise("\(keyNames.joined(separator: " and ")) never change; insert a new row instead")) END
            """)

        // On HMSI's replica a row's centre is recorded with the entry: the row may be gone by the fold.
        let newCentre = isHMSI ? centre.map { "NEW.\($0)" } ?? "NULL" : "NULL"
        let oldCentre = isHMSI ? centre.map { "OLD.\($0)" } ?? "NULL" : "NULL"
        // On a centre's replica an insert of another centre's row is refused inside the capture
        // trigger itself (RAISE undoes the statement): cheaper than a trigger of its own.
        // So is a value in a column only HMSI decides, and one the hub would refuse: beyond
        // 1 MiB, or a real that is not finite (docs/security.md).
        func decidedByHMSI(_ column: ColumnSpec) -> String { literal("wirsync: \(table.name).\(column.name) is decided by HMSI (scope)") }
        func bound(_ column: ColumnSpec, _ value: String) -> String? {
            switch column.type {
            case "REAL":
                "WHEN abs(\(value)) > 1.7976931348623157e308 THEN RAISE(ABORT, \(literal("wirsync: \(table.name).\(column.name) must be a finite number")))"
            case "TEXT", "BLOB", "ANY":
                "WHEN length(CAST(\(value) AS BLOB)) > \(Value.maxBytes) THEN RAISE(ABORT, \(literal("wirsync: \(table.name).\(column.name) holds more than 1 MiB, the most a value may hold")))"
            default:
                nil
            }
        }
        let hmsiOnly = isHMSI ? [] : table.columns.filter(\.hmsiOnly)
        var insertRefusals = table.columns.compactMap { bound($0, "NEW.\(quoted($0.name))") }
        if let centre, !isHMSI {
            let message = literal("wirsync: \(table.name).\(Node.centreColumn) must be \(node) on this replica (scope)")
            insertRefusals = ["WHEN NEW.\(centre) IS NOT \(literal(node)) THEN RAISE(ABORT, \(message))"]
                + hmsiOnly.map { "WHEN NEW.\(quoted($0.name)) IS NOT NULL THEN RAISE(ABORT, \(decidedByHMSI($0)))" } + insertRefusals
        }
        let insertWall = insertRefusals.isEmpty ? wallMillis : "CASE \(insertRefusals.joined(separator: " ")) ELSE \(wallMillis) END"
        let insertEntry = "INSERT INTO sync_log (tbl, pk, op, col, wall, centre) VALUES"
        sql.append("""
            CREATE TRIGGER \(triggerName("insert")) AFTER INSERT ON \(name) BEGIN
                \(insertEntry) (\(table.id), NEW.\(pk), \(Op.insert.rawValue), NULL, \(insertWall), \(newCentre));
            END
            """)
        // SQLite runs the most recently created trigger first: create them last column first,
        // so the columns of one UPDATE are logged in column order.
        for column in table.columns.reversed() where !(table.scope == .centre && column.name == Node.centreColumn) {
            let quotedColumn = quoted(column.name)
            let wall = bound(column, "NEW.\(quotedColumn)").map { "CASE \($0) ELSE \(wallMillis) END" } ?? wallMillis
            let body = hmsiOnly.contains(column)
                ? "SELECT RAISE(ABORT, \(decidedByHMSI(column)));"
                : "\(insertEntry) (\(table.id), NEW.\(pk), \(Op.update.rawValue), \(column.ordinal), \(wall), \(newCentre));"
            sql.append("""
                CREATE TRIGGER \(triggerName("update_" + column.name)) AFTER UPDATE OF \(quotedColumn) ON \(name)
                WHEN NEW.\(quotedColumn) IS NOT OLD.\(quotedColumn) BEGIN \(body) END
                """)
        }
        sql.append("""
            CREATE TRIGGER \(triggerName("delete")) AFTER DELETE ON \(name) BEGIN
                \(insertEntry) (\(table.id), OLD.\(pk), \(Op.delete.rawValue), NULL, \(wallMillis), \(oldCentre));
            END
            """)
        return sql
    }
}
