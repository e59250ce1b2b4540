import SyncCore
import SyncStore

/// The SQL that captures every write to the replicated tables, and the replica's own tables.
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

    static let replicaTablesSQL = """
        CREATE TABLE sync_state (
            id              INTEGER PRIMARY KEY CHECK (id = 1),
            node            TEXT NOT NULL,
            replica_id      TEXT NOT NULL,
            schema_name     TEXT NOT NULL,
            schema_version  INTEGER NOT NULL,
            hub_url         TEXT,
            hlc             INTEGER NOT NULL DEFAULT 0,
            cursor          INTEGER NOT NULL DEFAULT 0,
            acked           INTEGER NOT NULL DEFAULT 0,
            folded          INTEGER NOT NULL DEFAULT 0,
            created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        ) STRICT;
        -- The change log: one row per captured write, appended by the capture triggers.
        CREATE TABLE sync_log (
            seq     INTEGER PRIMARY KEY,
            tbl     INTEGER NOT NULL,
            pk      TEXT NOT NULL,
            op      INTEGER NOT NULL,
            col     INTEGER,
            wall    INTEGER NOT NULL,
            centre  TEXT,
            hlc     INTEGER,
            seen    INTEGER
        );
        -- Pending local values that a remote change overwrote before they were pushed.
        CREATE TABLE sync_stash (
            tbl    INTEGER NOT NULL,
            pk     TEXT NOT NULL,
            col    INTEGER NOT NULL,
            hlc    INTEGER NOT NULL,
            value  ANY,
            PRIMARY KEY (tbl, pk, col, hlc)
        ) STRICT, WITHOUT ROWID;
        -- The change log as people read it: pending changes with table, operation and column names.
        CREATE VIEW sync_changes AS
            SELECT l.seq, t.name AS "table", l.pk,
                   CASE l.op WHEN 1 THEN 'insert' WHEN 2 THEN 'update' ELSE 'delete' END AS op,
                   (SELECT group_concat(name, ',') FROM (
                        SELECT c.name FROM sync_columns c
                        WHERE c.tbl = l.tbl AND c.retired = 0 AND (l.op = 1 OR c.ord = l.col)
                        ORDER BY c.ord)) AS columns,
                   l.wall, l.hlc, l.seen
            FROM sync_log l JOIN sync_tables t ON t.id = l.tbl
            WHERE l.seq > (SELECT acked FROM sync_state);
        """

    /// What the replica keeps of its syncs: the hub's conflict records about its rows,
    /// the changes the hub refused, and the outcome of every sync. `IF NOT EXISTS`, so
    /// opening a replica made by an older wirsync adds them.
    static let recordTablesSQL = """
        CREATE TABLE IF NOT EXISTS sync_conflicts (
            id            INTEGER PRIMARY KEY,
            table_name    TEXT NOT NULL,
            pk            TEXT NOT NULL,
            centre        TEXT,
            column_name   TEXT,
            winner_value  ANY,
            winner_origin TEXT NOT NULL,
            winner_hlc    INTEGER NOT NULL,
            loser_value   ANY,
            loser_origin  TEXT NOT NULL,
            loser_hlc     INTEGER NOT NULL,
            recorded_at   INTEGER NOT NULL,
            resolved_at   INTEGER,
            resolved_by   TEXT,
            kept          TEXT
        ) STRICT;
        CREATE TABLE IF NOT EXISTS sync_refused (
            seq         INTEGER PRIMARY KEY,
            table_name  TEXT NOT NULL,
            pk          TEXT NOT NULL,
            op          TEXT NOT NULL,
            code        TEXT NOT NULL,
            message     TEXT NOT NULL,
            refused_at  INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS sync_runs (
            id             INTEGER PRIMARY KEY,
            started_at     INTEGER NOT NULL,
            finished_at    INTEGER NOT NULL,
            ok             INTEGER NOT NULL,
            pushed         INTEGER NOT NULL,
            pulled         INTEGER NOT NULL,
            refused        INTEGER NOT NULL,
            conflicts      INTEGER NOT NULL,
            hub_offset_ms  INTEGER,
            error          TEXT,
            error_kind     TEXT
        ) STRICT;
        """

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
        var insertWall = wallMillis
        if let centre, !isHMSI {
            let message = literal("wirsync: \(table.name).\(Node.centreColumn) must be \(node) on this replica (scope)")
            insertWall = "CASE WHEN NEW.\(centre) IS \(literal(node)) THEN \(wallMillis) ELSE RAISE(ABORT, \(message)) END"
        }
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
            sql.append("""
                CREATE TRIGGER \(triggerName("update_" + column.name)) AFTER UPDATE OF \(quotedColumn) ON \(name)
                WHEN NEW.\(quotedColumn) IS NOT OLD.\(quotedColumn) BEGIN
                    \(insertEntry) (\(table.id), NEW.\(pk), \(Op.update.rawValue), \(column.ordinal), \(wallMillis), \(newCentre));
                END
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
