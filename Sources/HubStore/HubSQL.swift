/// The hub's own tables, beside the shared `sync_*` version tables and the domain tables.
enum HubSQL {
    static let tables = """
        CREATE TABLE sync_hub_state (
            id              INTEGER PRIMARY KEY CHECK (id = 1),
            schema_name     TEXT NOT NULL,
            schema_version  INTEGER NOT NULL,
            hlc             INTEGER NOT NULL DEFAULT 0,
            created_at      INTEGER NOT NULL
        ) STRICT;
        -- Centres and HMSI: a SHA-256 of their token (never the token), and their last contact.
        CREATE TABLE sync_clients (
            node          TEXT PRIMARY KEY NOT NULL,
            token_sha256  TEXT UNIQUE,
            created_at    INTEGER NOT NULL,
            revoked_at    INTEGER,
            last_push_at  INTEGER,
            last_pull_at  INTEGER
        ) STRICT;
        -- Exactly once: the highest local sequence handled per replica.
        CREATE TABLE sync_acks (
            node     TEXT NOT NULL,
            replica  TEXT NOT NULL,
            acked    INTEGER NOT NULL,
            PRIMARY KEY (node, replica)
        ) STRICT, WITHOUT ROWID;
        -- Every value that lost a concurrent write race (invariant 4).
        CREATE TABLE sync_conflicts (
            id            INTEGER PRIMARY KEY,
            tbl           INTEGER NOT NULL,
            pk            TEXT NOT NULL,
            centre        TEXT,
            col           INTEGER,
            winner_value  ANY,
            winner_node   INTEGER NOT NULL,
            winner_hlc    INTEGER NOT NULL,
            loser_value   ANY,
            loser_node    INTEGER NOT NULL,
            loser_hlc     INTEGER NOT NULL,
            recorded_at   INTEGER NOT NULL,
            resolved_at   INTEGER,
            resolved_by   TEXT,
            kept          TEXT CHECK (kept IN ('winner', 'loser'))
        ) STRICT;
        CREATE INDEX sync_conflicts_centre ON sync_conflicts (centre, resolved_at);
        -- The hub log: every applied change (op 1–3) and every conflict recorded or resolved
        -- (op 4), in hub sequence order. centre is who may pull it: the row's centre, or NULL
        -- for reference data, which every centre reads.
        CREATE TABLE sync_hub_log (
            seq       INTEGER PRIMARY KEY,
            tbl       INTEGER NOT NULL,
            pk        TEXT NOT NULL,
            centre    TEXT,
            op        INTEGER NOT NULL,
            origin    INTEGER NOT NULL,
            hlc       INTEGER,
            seen      INTEGER,
            body      TEXT,
            conflict  INTEGER,
            at        INTEGER NOT NULL
        ) STRICT;
        """ + indexes

    /// Indexes added after the first release, created on open where missing.
    static let indexes = """
        CREATE INDEX IF NOT EXISTS sync_hub_log_centre ON sync_hub_log (centre, seq);
        """

    /// `op` of a hub log entry that announces a conflict record (new or resolved).
    static let conflictOp: Int64 = 4

    static func op(_ op: Int64) -> String? {
        switch op {
        case 1: "insert"
        case 2: "update"
        case 3: "delete"
        default: nil
        }
    }

    static func code(_ op: String) -> Int64 {
        switch op {
        case "insert": 1
        case "update": 2
        default: 3
        }
    }
}
