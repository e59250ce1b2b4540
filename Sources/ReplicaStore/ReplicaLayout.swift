import Foundation
import GRDB
import SyncStore

/// The engine's tables in a replica, step by step (docs/replicas-and-restores.md).
enum ReplicaLayout {
    /// The newest step that changed the capture triggers an engine installs: a file from
    /// before it has its triggers installed anew when it is opened (`Replica.open`). A change
    /// of `CaptureSQL` comes with a new step, named here.
    static let captureStep = "v6-schema-versions"

    static let layout = EngineLayout(
        marker: "sync_state",
        legacy: { db in try db.execute(sql: recordTablesSQL) },
        steps: [
            ("v1", { db in try db.execute(sql: SchemaInstaller.sharedTablesSQL + stateAndLogSQL + recordTablesSQL) }),
            ("v2-replicas", v2),
            ("v3-hardening", { db in try db.execute(sql: "ALTER TABLE sync_columns ADD COLUMN hmsi_only INTEGER NOT NULL DEFAULT 0") }),
            ("v4-checkpoints", { db in try db.execute(sql: checkpointsSQL) }),
            ("v5-history", { db in try db.execute(sql: historySQL) }),
            ("v6-schema-versions", { db in try db.execute(sql: SchemaInstaller.sinceSQL) }),
        ])

    /// Version 5 (docs/history-and-erasure.md): the rows a re-sync has not yet found at the
    /// hub, and conflict records whose values an erasure removed.
    private static let historySQL = """
        CREATE TABLE sync_resync (
            tbl  INTEGER NOT NULL,
            pk   TEXT NOT NULL,
            PRIMARY KEY (tbl, pk)
        ) STRICT, WITHOUT ROWID;
        ALTER TABLE sync_conflicts ADD COLUMN erased_at INTEGER;
        -- 1 once the replica pulled the hub's log to its end since its cursor was last 0: it
        -- holds every version at or below its cursor, and may pull rows as their newer versions.
        ALTER TABLE sync_state ADD COLUMN delta INTEGER NOT NULL DEFAULT 0;
        """

    /// Version 4: the points of the hub log the replica pulled through (`Checkpoints`); an
    /// upgraded replica starts with its cursor, if it knows the entry there.
    private static let checkpointsSQL = """
        CREATE TABLE sync_checkpoints (
            seq          INTEGER PRIMARY KEY,
            fingerprint  TEXT NOT NULL
        ) STRICT;
        INSERT INTO sync_checkpoints (seq, fingerprint)
            SELECT cursor, cursor_check FROM sync_state WHERE cursor > 0 AND cursor_check IS NOT NULL;
        """

    private static let stateAndLogSQL = """
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
    /// the changes the hub refused, and the outcome of every sync. `IF NOT EXISTS`: replicas
    /// of the first releases of wirsync 1 lack them.
    private static let recordTablesSQL = """
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

    /// Version 2: a replica is a node (its own origin), its log is chained, it remembers
    /// which hub it syncs with and what stood at its cursor, pulled versions keep the hub
    /// sequence that brought them, and it keeps what it repaired.
    private static func v2(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE sync_state ADD COLUMN origin TEXT NOT NULL DEFAULT '';
            UPDATE sync_state SET origin = node;
            ALTER TABLE sync_state ADD COLUMN hub_id TEXT;
            ALTER TABLE sync_state ADD COLUMN cursor_check TEXT;
            ALTER TABLE sync_log ADD COLUMN chain INTEGER;
            -- The origins this file had before, and the first sequence written under the next one.
            CREATE TABLE sync_lineage (
                origin      TEXT PRIMARY KEY NOT NULL,
                parted_at   INTEGER NOT NULL,
                at          INTEGER NOT NULL
            ) STRICT;
            -- What a session found and repaired: a restored copy, a restored or rebuilt hub.
            CREATE TABLE sync_recoveries (
                id       INTEGER PRIMARY KEY,
                at       INTEGER NOT NULL,
                kind     TEXT NOT NULL,
                message  TEXT NOT NULL
            ) STRICT;
            """)
        // Versions pulled by wirsync 1 came with hub sequences at or below the cursor.
        let own = "(SELECT n.id FROM sync_nodes n, sync_state s WHERE n.name = s.origin)"
        try db.execute(sql: """
            UPDATE sync_rows SET reg_seq = (SELECT cursor FROM sync_state)
                WHERE reg_seq IS NULL AND reg_node IS NOT NULL AND reg_node IS NOT \(own);
            UPDATE sync_rows SET base_seq = (SELECT cursor FROM sync_state)
                WHERE base_seq IS NULL AND base_node IS NOT NULL AND base_node IS NOT \(own);
            UPDATE sync_cols SET seq = (SELECT cursor FROM sync_state) WHERE seq IS NULL AND node IS NOT \(own);
            """)
        // The entries not yet acknowledged are chained from 0 at the acknowledged one: the hub
        // keeps no chains of what wirsync 1 pushed, and takes 0 for "not known".
        try db.execute(sql: "UPDATE sync_log SET chain = 0 WHERE seq = (SELECT acked FROM sync_state)")
        try LogChain.extend(db)
    }
}
