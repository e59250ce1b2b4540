import Foundation
import GRDB
import SyncCore
import SyncStore

/// How a replicated table differs from what the engine installed: a tool rebuilt it (its
/// capture triggers go with the old table), or a column was added, renamed or dropped by hand
/// (docs/schema-evolution.md, "Drift").
public struct Drift: Hashable, Sendable, CustomStringConvertible {
    public var table: String
    /// Capture triggers missing or not as installed, of how many.
    public var triggersOff: Int
    public var triggers: Int
    /// Columns the table has that the engine does not replicate, and replicated ones it lacks.
    public var addedColumns: [String]
    public var missingColumns: [String]

    public var description: String {
        var parts: [String] = []
        if triggersOff > 0 {
            parts.append(triggersOff == triggers
                ? "its \(triggers) capture triggers are gone (was the table rebuilt by a tool?)"
                : "\(triggersOff) of its \(triggers) capture triggers are missing or changed")
        }
        if !addedColumns.isEmpty { parts.append("column \(addedColumns.joined(separator: ", ")) added by hand, not replicated") }
        if !missingColumns.isEmpty { parts.append("replicated column \(missingColumns.joined(separator: ", ")) missing") }
        return "\(table): " + parts.joined(separator: "; ")
    }
}

/// What `wirsync repair` did.
public struct RepairReport: Hashable, Sendable, Codable {
    /// Tables whose capture triggers were installed again.
    public var tables: [String] = []
    /// Columns renamed back (`new → replicated name`), and columns taken out with the file their values went to.
    public var renamed: [String] = []
    public var removed: [String] = []
    /// Changes captured for what was written while capture was off.
    public var captured = 0
}

extension Replica {
    /// Every replicated table that differs from what the engine installed; empty when capture is intact.
    public func drift() throws(ReplicaError) -> [Drift] {
        try read { db in try drift(db) }
    }

    /// Refuses to go on while a replicated table has drifted: its writes may not be captured.
    public func checkNoDrift() throws(ReplicaError) {
        let found = try drift()
        if !found.isEmpty { throw .drift(path: path, found) }
    }

    func drift(_ db: Database) throws -> [Drift] {
        var found: [Drift] = []
        for table in schema.tables {
            let expected = Set(CaptureSQL.triggers(for: table, node: node))
            let installed = Set(try String.fetchAll(
                db, sql: "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'sync\\_%' ESCAPE '\\'",
                arguments: [table.name]))
            let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_xinfo(?)", arguments: [table.name])
            let replicated = [table.primaryKey] + table.columns.map(\.name)
            let drift = Drift(
                table: table.name, triggersOff: max(expected.subtracting(installed).count, installed.subtracting(expected).count),
                triggers: expected.count, addedColumns: columns.filter { !replicated.contains($0) },
                missingColumns: columns.isEmpty ? ["(the whole table)"] : replicated.filter { !columns.contains($0) })
            if drift.triggersOff > 0 || !drift.addedColumns.isEmpty || !drift.missingColumns.isEmpty { found.append(drift) }
        }
        return found
    }

    /// Brings every drifted table back to what the engine replicates, in one transaction, and
    /// captures what was written while its triggers were off (`wirsync repair`):
    /// - a replicated column renamed by hand (one missing, one added of the same type) gets its
    ///   name back;
    /// - a column added by hand is taken out, its values first written to
    ///   `<db>.<table>.<column>.csv` beside the replica;
    /// - the capture triggers are installed again, and every row is captured as it is now:
    ///   rows the engine does not know as inserts, rows gone as deletes, and every other row as
    ///   an update of each column a centre writes. (Which values changed while capture was off
    ///   cannot be told afterwards; a concurrent edit elsewhere that this overwrites is kept in
    ///   a conflict record, as any race is.)
    /// A replicated column missing without a counterpart is refused: put it back first.
    public func repair() throws(ReplicaError) -> RepairReport {
        try write { db in
            var report = RepairReport()
            for found in try drift(db) {
                guard let table = schema.table(named: found.table) else { continue }
                var added = found.addedColumns
                if !found.missingColumns.isEmpty {
                    let types = Dictionary(
                        try Row.fetchAll(db, sql: "SELECT name, type FROM pragma_table_xinfo(?)", arguments: [table.name]).map {
                            (($0["name"] as String), ($0["type"] as String).uppercased())
                        }, uniquingKeysWith: { first, _ in first })
                    guard found.missingColumns.count == 1, added.count == 1, let missing = table.column(named: found.missingColumns[0]),
                        types[added[0]] == missing.type
                    else {
                        throw ReplicaError.repair(
                            "\(found.description): put the column back first (if it was renamed: sqlite3 \(path) "
                                + "\"ALTER TABLE \(table.name) RENAME COLUMN new_name TO \(found.missingColumns[0])\"), or restore the file from a backup")
                    }
                    try db.execute(sql: "ALTER TABLE \(quoted(table.name)) RENAME COLUMN \(quoted(added[0])) TO \(quoted(missing.name))")
                    report.renamed.append("\(table.name).\(added[0]) → \(missing.name)")
                    added = []
                }
                for column in added {
                    let file = "\(path).\(table.name).\(column).csv"
                    var csv = "\(table.primaryKey),\(column)\n"
                    for row in try Row.fetchAll(
                        db, sql: "SELECT \(quoted(table.primaryKey)), \(quoted(column)) FROM \(quoted(table.name)) WHERE \(quoted(column)) IS NOT NULL")
                    {
                        csv += "\(Self.csvField(row[0]))," + Self.csvField(row[1]) + "\n"
                    }
                    try Data(csv.utf8).write(to: URL(fileURLWithPath: file))
                    try db.execute(sql: "ALTER TABLE \(quoted(table.name)) DROP COLUMN \(quoted(column))")
                    report.removed.append("\(table.name).\(column) (values in \(file))")
                }
                guard found.triggersOff > 0 else { continue }
                for trigger in try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'sync\\_%' ESCAPE '\\'",
                    arguments: [table.name])
                {
                    try db.execute(sql: "DROP TRIGGER \(quoted(trigger))")
                }
                for sql in CaptureSQL.triggers(for: table, node: node) { try db.execute(sql: sql) }
                report.captured += try captureAsItIs(table, db: db)
                report.tables.append(table.name)
            }
            return report
        }
    }

    /// Appends to the log what the triggers would have captured had they seen every write: the
    /// table's rows as they are now against what the engine holds of them.
    private func captureAsItIs(_ table: TableSpec, db: Database) throws -> Int {
        guard table.scope == .centre || node == Node.hmsi else { return 0 }
        let (name, pk, id) = (quoted(table.name), quoted(table.primaryKey), table.id)
        let isHMSI = node == Node.hmsi
        let centre = isHMSI && table.centreColumn != nil ? "t.\(quoted(Node.centreColumn))" : "NULL"
        let wall = CaptureSQL.wallMillis
        let before = db.totalChangesCount
        try db.execute(sql: """
            INSERT INTO sync_log (tbl, pk, op, col, wall, centre)
            SELECT \(id), t.\(pk), \(CaptureSQL.Op.insert.rawValue), NULL, \(wall), \(centre) FROM \(name) t
            WHERE NOT EXISTS (SELECT 1 FROM sync_rows r WHERE r.tbl = \(id) AND r.pk = t.\(pk) AND r.alive = 1)
            """)
        try db.execute(sql: """
            INSERT INTO sync_log (tbl, pk, op, col, wall, centre)
            SELECT \(id), r.pk, \(CaptureSQL.Op.delete.rawValue), NULL, \(wall), \(isHMSI ? "r.scope" : "NULL") FROM sync_rows r
            WHERE r.tbl = \(id) AND r.alive = 1 AND NOT EXISTS (SELECT 1 FROM \(name) t WHERE t.\(pk) = r.pk)
            """)
        for column in table.columns where column.name != Node.centreColumn && (isHMSI || !column.hmsiOnly) {
            try db.execute(sql: """
                INSERT INTO sync_log (tbl, pk, op, col, wall, centre)
                SELECT \(id), t.\(pk), \(CaptureSQL.Op.update.rawValue), \(column.ordinal), \(wall), \(centre) FROM \(name) t
                JOIN sync_rows r ON r.tbl = \(id) AND r.pk = t.\(pk) AND r.alive = 1
                """)
        }
        return db.totalChangesCount - before
    }

    private static func csvField(_ value: DatabaseValue) -> String {
        let text: String
        switch value.storage {
        case .null: return ""
        case .int64(let integer): return String(integer)
        case .double(let real): return String(real)
        case .string(let string): text = string
        case .blob(let data): text = "base64:" + data.base64EncodedString()
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
