import Foundation
import GRDB
package import SyncStore

/// The hub's own tables, beside the shared `sync_*` version tables and the domain tables,
/// step by step (docs/replicas-and-restores.md).
package enum HubSQL {
    package static let layout = EngineLayout(
        marker: "sync_hub_state",
        legacy: { db in try db.execute(sql: indexes) },
        steps: [
            ("v1", { db in try db.execute(sql: SchemaInstaller.sharedTablesSQL + tablesV1) }),
            ("v2-replicas", v2),
            ("v3-hardening", v3),
            ("v4-history", v4),
            ("v5-erasure", { db in try db.execute(sql: v5) }),
            ("v6-schema-versions", { db in try db.execute(sql: SchemaInstaller.sinceSQL + v6) }),
            ("v7-console", { db in try db.execute(sql: v7) }),
        ])

    private static let tablesV1 = """
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

    /// Indexes added by later releases of wirsync 1.
    private static let indexes = """
        CREATE INDEX IF NOT EXISTS sync_hub_log_centre ON sync_hub_log (centre, seq);
        """

    /// Version 2: tokens per PC instead of per centre, every replica with its own
    /// acknowledgement and receipts, an identity for the hub, and a record of restores.
    private static func v2(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE sync_hub_state ADD COLUMN hub_id TEXT NOT NULL DEFAULT '';
            -- One credential per PC of a centre (or of HMSI): its SHA-256, never the token.
            CREATE TABLE sync_tokens (
                id            INTEGER PRIMARY KEY,
                centre        TEXT NOT NULL,
                token_sha256  TEXT NOT NULL UNIQUE,
                label         TEXT,
                created_at    INTEGER NOT NULL,
                revoked_at    INTEGER,
                last_push_at  INTEGER,
                last_pull_at  INTEGER
            ) STRICT;
            CREATE INDEX sync_tokens_centre ON sync_tokens (centre);
            INSERT INTO sync_tokens (centre, token_sha256, created_at, revoked_at, last_push_at, last_pull_at)
                SELECT node, token_sha256, created_at, revoked_at, last_push_at, last_pull_at
                FROM sync_clients WHERE token_sha256 IS NOT NULL;
            DROP TABLE sync_clients;
            -- Every replica (origin) that has spoken protocol 2: what the hub acknowledged of it.
            CREATE TABLE sync_replicas (
                origin           TEXT PRIMARY KEY NOT NULL,
                centre           TEXT NOT NULL,
                token            INTEGER NOT NULL,
                forked_from      TEXT,
                legacy_replica   TEXT,
                created_at       INTEGER NOT NULL,
                revoked_at       INTEGER,
                acked            INTEGER NOT NULL DEFAULT 0,
                acked_chain      INTEGER NOT NULL DEFAULT 0,
                acked_hlc        INTEGER NOT NULL DEFAULT 0,
                cursor           INTEGER,
                last_session_at  INTEGER,
                -- The last session that found the replica and the hub in agreement.
                resynced_at      INTEGER,
                last_push_at     INTEGER,
                last_pull_at     INTEGER
            ) STRICT;
            CREATE INDEX sync_replicas_centre ON sync_replicas (centre);
            -- Per acknowledged batch of a replica: the chain of every entry it covered.
            CREATE TABLE sync_receipts (
                origin     TEXT NOT NULL,
                last_seq   INTEGER NOT NULL,
                after_seq  INTEGER NOT NULL,
                hub_seq    INTEGER,
                chains     BLOB NOT NULL,
                PRIMARY KEY (origin, last_seq)
            ) STRICT, WITHOUT ROWID;
            -- What happened to the hub and its replicas: a restore (found by a replica, or
            -- declared by `wirsync-hub restore`), each replica's report of it, forks.
            CREATE TABLE sync_hub_events (
                id                 INTEGER PRIMARY KEY,
                at                 INTEGER NOT NULL,
                kind               TEXT NOT NULL CHECK (kind IN ('restore', 'restore_report', 'fork')),
                origin             TEXT,
                -- restore: the last log sequence the restored store shares with the lost one
                diverged_after     INTEGER,
                -- restore: the last conflict record that store holds; when every replica had re-synced
                conflicts_through  INTEGER,
                closed_at          INTEGER,
                detail             TEXT NOT NULL
            ) STRICT;
            -- Conflict records brought back from replicas' mirrors after a restore, by the id they had.
            CREATE TABLE sync_conflict_rebuilds (
                restore  INTEGER NOT NULL,
                old_id   INTEGER NOT NULL,
                new_id   INTEGER NOT NULL,
                PRIMARY KEY (restore, old_id)
            ) STRICT, WITHOUT ROWID;
            ALTER TABLE sync_conflicts ADD COLUMN rebuilt_from TEXT;
            -- A race is recorded once: found by its row, column and both versions.
            CREATE INDEX sync_conflicts_row ON sync_conflicts (tbl, pk);
            -- The replica (sync_nodes id) that offered a change again after a restore: history brought back, not a new write.
            ALTER TABLE sync_hub_log ADD COLUMN offered INTEGER;
            """)
        try db.execute(sql: "UPDATE sync_hub_state SET hub_id = ?", arguments: [UUID().uuidString.lowercased()])
    }

    /// Version 3 (docs/security.md): what each token has pulled, which bounds the `seen` of
    /// what it pushes, and the columns only HMSI decides.
    private static func v3(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE sync_tokens ADD COLUMN served INTEGER NOT NULL DEFAULT 0;
            UPDATE sync_tokens SET served = (SELECT coalesce(max(seq), 0) FROM sync_hub_log);
            ALTER TABLE sync_columns ADD COLUMN hmsi_only INTEGER NOT NULL DEFAULT 0;
            """)
    }

    /// Version 4 (docs/history-and-erasure.md): the log keeps no values, and one live entry
    /// per row. A pull composes each row it sends from the row and its versions; an entry a
    /// later one of the same row superseded is passed by pulls and removed once every
    /// provisioned replica has pulled past it.
    private static func v4(_ db: Database) throws {
        try db.execute(sql: """
            -- 1 once a later entry carries the same row.
            ALTER TABLE sync_hub_log ADD COLUMN superseded INTEGER;
            CREATE INDEX sync_hub_log_superseded ON sync_hub_log (seq) WHERE superseded IS NOT NULL;
            UPDATE sync_hub_log SET superseded = 1
                WHERE op < 4 AND seq NOT IN (SELECT max(seq) FROM sync_hub_log WHERE op < 4 GROUP BY tbl, pk);
            UPDATE sync_hub_log SET body = NULL WHERE body IS NOT NULL;
            -- Superseded entries below this sequence may be gone (compaction).
            ALTER TABLE sync_hub_state ADD COLUMN compacted_below INTEGER NOT NULL DEFAULT 0;
            -- Receipts that still hold the chain of every entry they cover: compaction thins them.
            CREATE INDEX sync_receipts_unthinned ON sync_receipts (hub_seq) WHERE length(chains) > 8;
            """)
    }

    /// Version 5 (docs/history-and-erasure.md): erased rows and the audit of who erased them,
    /// conflict records whose values were erased, the tombstones collected per scope, and the
    /// retention settings.
    /// The hub's connections run with `secure_delete`; the pages freed before it are
    /// overwritten once, by a `VACUUM` after the upgrade (`HubStore.open`).
    /// The window of schema versions the hub serves, and the version each replica last spoke
    /// (docs/schema-evolution.md).
    private static let v6 = """
        ALTER TABLE sync_hub_state ADD COLUMN oldest_version INTEGER;
        ALTER TABLE sync_replicas ADD COLUMN schema_version INTEGER;
        ALTER TABLE sync_tokens ADD COLUMN schema_version INTEGER;
        """

    /// Version 7 (docs/console.md): the HMSI console's accounts and sessions, what each sync
    /// request of a known caller came to, and each replica's clock offset.
    private static let v7 = """
        -- A console account: the bcrypt hash of its password once set up; until then the SHA-256
        -- of its one-time setup secret.
        CREATE TABLE sync_console_accounts (
            name              TEXT PRIMARY KEY NOT NULL,
            password_hash     TEXT,
            setup_sha256      TEXT,
            setup_expires_at  INTEGER,
            created_at        INTEGER NOT NULL
        ) STRICT;
        -- A console session: the SHA-256 of the cookie's token, never the token.
        CREATE TABLE sync_console_sessions (
            token_sha256  TEXT PRIMARY KEY NOT NULL,
            account       TEXT NOT NULL REFERENCES sync_console_accounts(name) ON DELETE CASCADE,
            csrf          TEXT NOT NULL,
            created_at    INTEGER NOT NULL,
            last_seen_at  INTEGER NOT NULL,
            expires_at    INTEGER NOT NULL
        ) STRICT;
        -- Every session and push of a replica, and every refused request of a known caller:
        -- counts and reasons, never a value. At most 500 per centre.
        CREATE TABLE sync_hub_activity (
            id         INTEGER PRIMARY KEY,
            at         INTEGER NOT NULL,
            centre     TEXT NOT NULL,
            origin     TEXT,
            route      TEXT NOT NULL,
            status     INTEGER NOT NULL,
            code       TEXT,
            applied    INTEGER NOT NULL DEFAULT 0,
            refused    INTEGER NOT NULL DEFAULT 0,
            conflicts  INTEGER NOT NULL DEFAULT 0,
            detail     TEXT NOT NULL
        ) STRICT;
        CREATE INDEX sync_hub_activity_centre ON sync_hub_activity (centre, id);
        -- The replica's clock minus the hub's at its last session (protocol 2's `clock`).
        ALTER TABLE sync_replicas ADD COLUMN clock_offset_ms INTEGER;
        """

    private static let v5 = """
        -- Rows erased (DSGVO Art. 17): their key, never a value. A later change of one is refused.
        CREATE TABLE sync_hub_erased (
            tbl        INTEGER NOT NULL,
            pk         TEXT NOT NULL,
            centre     TEXT,
            seq        INTEGER NOT NULL,
            erased_at  INTEGER NOT NULL,
            PRIMARY KEY (tbl, pk)
        ) STRICT, WITHOUT ROWID;
        -- Who did what to which row, when and why; never the row's values.
        CREATE TABLE sync_hub_audit (
            id      INTEGER PRIMARY KEY,
            at      INTEGER NOT NULL,
            actor   TEXT NOT NULL,
            action  TEXT NOT NULL,
            tbl     TEXT,
            pk      TEXT,
            centre  TEXT,
            detail  TEXT NOT NULL
        ) STRICT;
        -- A conflict record whose values an erasure removed.
        ALTER TABLE sync_conflicts ADD COLUMN erased_at INTEGER;
        -- Per scope (a centre, or '' for reference data): the highest log entry of a deleted row
        -- collected, and the newest clock among the deletes collected.
        CREATE TABLE sync_hub_collected (
            scope  TEXT PRIMARY KEY NOT NULL,
            seq    INTEGER NOT NULL,
            hlc    INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        -- Collection looks at each live entry once, in log order, when it has aged: where it stands.
        ALTER TABLE sync_hub_state ADD COLUMN collected_through INTEGER NOT NULL DEFAULT 0;
        -- Retention (docs/history-and-erasure.md): `wirsync-hub retention` sets them.
        ALTER TABLE sync_hub_state ADD COLUMN tombstone_days INTEGER NOT NULL DEFAULT 30;
        ALTER TABLE sync_hub_state ADD COLUMN resolved_conflict_days INTEGER NOT NULL DEFAULT 365;
        ALTER TABLE sync_hub_state ADD COLUMN conflict_records_max INTEGER NOT NULL DEFAULT 100000;
        -- The announcements of a conflict record, which go with it; resolved records by age.
        CREATE INDEX sync_hub_log_conflict ON sync_hub_log (conflict) WHERE conflict IS NOT NULL;
        CREATE INDEX sync_conflicts_resolved ON sync_conflicts (resolved_at) WHERE resolved_at IS NOT NULL;
        """

    /// `op` of a hub log entry that announces a conflict record (new or resolved).
    static let conflictOp: Int64 = 4
    /// `op` of the live entry of an erased row: pulled as its delete, and the replica removes
    /// every copy of the row's values it keeps.
    static let eraseOp: Int64 = 5

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
