import Foundation
import GRDB
public import SyncCore
import SyncStore

/// A console account as `wirsync-hub admin list` shows it.
public struct ConsoleAccount: Hashable, Sendable, Codable {
    public var name: String
    /// `active` (a password is set) or `setup` (waiting for its one-time secret).
    public var state: String
    public var createdAt: Int64
    public var sessions: Int

    enum CodingKeys: String, CodingKey {
        case name, state, sessions
        case createdAt = "created_at"
    }
}

/// A console session the hub holds, by the SHA-256 of its token.
public struct ConsoleSession: Hashable, Sendable {
    public var account: String
    public var csrf: String
    public var expiresAt: Int64
}

/// What one sync request of a known caller came to (docs/console.md). Counts and reasons,
/// never a value of a row.
public struct ActivityEntry: Hashable, Sendable, Codable {
    public var id: Int64
    public var at: Int64
    public var centre: String
    public var origin: String?
    /// `session`, `push`, `pull`, …: the route's last path component.
    public var route: String
    public var status: Int
    /// The error's code for a refused request; nil when it succeeded.
    public var code: String?
    public var applied: Int
    public var refused: Int
    public var conflicts: Int
    public var detail: String

    public init(
        id: Int64 = 0, at: Int64, centre: String, origin: String?, route: String, status: Int, code: String? = nil, applied: Int = 0,
        refused: Int = 0, conflicts: Int = 0, detail: String
    ) {
        self.id = id
        self.at = at
        self.centre = centre
        self.origin = origin
        self.route = route
        self.status = status
        self.code = code
        self.applied = applied
        self.refused = refused
        self.conflicts = conflicts
        self.detail = detail
    }
}

/// A report of the programme's figures: named columns and rows of text or numbers.
public struct ReportTable: Hashable, Sendable {
    public enum Cell: Hashable, Sendable {
        case text(String)
        case number(Double)
    }

    public var columns: [String]
    public var rows: [[Cell]]
}

/// The programme's figures the console reports (docs/console.md, "Reports").
public enum ConsoleReport: String, Sendable, CaseIterable {
    case projects = "projekte"
    case funding = "foerdermittel"
    case hours = "einsatzstunden"
    case volunteers = "ehrenamtliche"
}

extension HubStore {
    /// How many activity entries a centre keeps.
    public static let activityPerCentre = 500

    // MARK: Accounts

    /// Creates a console account and returns its one-time setup secret (7 days). With
    /// `reset`, an existing account gets a new secret instead, and its sessions end.
    public func addConsoleAccount(_ name: String, reset: Bool = false) async throws(HubError) -> String {
        guard Self.isValidAccountName(name) else {
            throw .badRequest(
                code: "invalid_account", message: "an account name is 2 to 64 letters, digits, dots, hyphens or underscores, not \(name)")
        }
        let secret = Self.randomToken(bytes: 18)
        let hash = Self.hash(token: secret)
        let now = clock.nowMillis()
        try await write { db in
            let exists = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sync_console_accounts WHERE name = ?)", arguments: [name]) ?? false
            switch (exists, reset) {
            case (true, false):
                throw HubError.badRequest(code: "account_exists", message: "the console account \(name) exists; `wirsync-hub admin reset \(name)` issues a new setup secret")
            case (false, true):
                throw HubError.badRequest(code: "no_such_account", message: "there is no console account \(name); `wirsync-hub admin list` lists them")
            case (false, false):
                try db.execute(
                    sql: "INSERT INTO sync_console_accounts (name, setup_sha256, setup_expires_at, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [name, hash, now + 7 * 86_400_000, now])
            case (true, true):
                try db.execute(
                    sql: "UPDATE sync_console_accounts SET password_hash = NULL, setup_sha256 = ?, setup_expires_at = ? WHERE name = ?",
                    arguments: [hash, now + 7 * 86_400_000, name])
                try db.execute(sql: "DELETE FROM sync_console_sessions WHERE account = ?", arguments: [name])
            }
            try Self.audit(db, at: now, actor: "wirsync-hub", action: reset ? "console_account_reset" : "console_account_added", table: nil, pk: nil, centre: nil, detail: "account \(name)")
        }
        return secret
    }

    /// Deletes a console account and its sessions.
    public func removeConsoleAccount(_ name: String) async throws(HubError) {
        let now = clock.nowMillis()
        try await write { db in
            try db.execute(sql: "DELETE FROM sync_console_accounts WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else {
                throw HubError.badRequest(code: "no_such_account", message: "there is no console account \(name); `wirsync-hub admin list` lists them")
            }
            try Self.audit(db, at: now, actor: "wirsync-hub", action: "console_account_removed", table: nil, pk: nil, centre: nil, detail: "account \(name)")
        }
    }

    public func consoleAccounts() async throws(HubError) -> [ConsoleAccount] {
        let now = clock.nowMillis()
        return try await read { db in
            try SQLRow.fetchAll(
                db,
                sql: """
                    SELECT a.name, a.password_hash IS NOT NULL AS active, a.created_at,
                           (SELECT count(*) FROM sync_console_sessions s WHERE s.account = a.name AND s.expires_at > ?) AS sessions
                    FROM sync_console_accounts a ORDER BY a.name
                    """, arguments: [now]
            ).map { ConsoleAccount(name: $0["name"], state: $0["active"] ? "active" : "setup", createdAt: $0["created_at"], sessions: $0["sessions"]) }
        }
    }

    /// Spends a setup secret: the account gets its password's hash. False if the name, the
    /// secret or its time is wrong (which of them is not said).
    public func completeConsoleSetup(_ name: String, secret: String, passwordHash: String) async throws(HubError) -> Bool {
        let hash = Self.hash(token: secret)
        let now = clock.nowMillis()
        return try await write { db in
            guard let stored = try SQLRow.fetchOne(
                db, sql: "SELECT setup_sha256, setup_expires_at FROM sync_console_accounts WHERE name = ?", arguments: [name]),
                let expected: String = stored["setup_sha256"], let expires: Int64 = stored["setup_expires_at"], expires > now,
                Self.constantTimeEqual(expected, hash)
            else { return false }
            try db.execute(
                sql: "UPDATE sync_console_accounts SET password_hash = ?, setup_sha256 = NULL, setup_expires_at = NULL WHERE name = ?",
                arguments: [passwordHash, name])
            try Self.audit(db, at: now, actor: "console:\(name)", action: "console_setup", table: nil, pk: nil, centre: nil, detail: "password set")
            return true
        }
    }

    /// The bcrypt hash of an account's password; nil for an unknown account or one not set up.
    public func consolePasswordHash(_ name: String) async throws(HubError) -> String? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT password_hash FROM sync_console_accounts WHERE name = ?", arguments: [name])
        }
    }

    // MARK: Sessions

    /// Starts a session for `account`: the hub keeps `tokenSHA256`, never the token.
    public func startConsoleSession(account: String, tokenSHA256: String, csrf: String, lifetimeMillis: Int64) async throws(HubError) {
        let now = clock.nowMillis()
        try await write { db in
            try db.execute(sql: "DELETE FROM sync_console_sessions WHERE expires_at <= ?", arguments: [now])
            try db.execute(
                sql: "INSERT INTO sync_console_sessions (token_sha256, account, csrf, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [tokenSHA256, account, csrf, now, now, now + lifetimeMillis])
        }
    }

    /// The session of a token's SHA-256, if it has neither expired nor sat idle longer than
    /// `idleMillis`; seeing it counts as activity. An expired one is deleted.
    public func consoleSession(tokenSHA256: String, idleMillis: Int64) async throws(HubError) -> ConsoleSession? {
        let now = clock.nowMillis()
        return try await write { db in
            guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM sync_console_sessions WHERE token_sha256 = ?", arguments: [tokenSHA256]) else {
                return nil
            }
            guard (row["expires_at"] as Int64) > now, (row["last_seen_at"] as Int64) + idleMillis > now else {
                try db.execute(sql: "DELETE FROM sync_console_sessions WHERE token_sha256 = ?", arguments: [tokenSHA256])
                return nil
            }
            try db.execute(sql: "UPDATE sync_console_sessions SET last_seen_at = ? WHERE token_sha256 = ?", arguments: [now, tokenSHA256])
            return ConsoleSession(account: row["account"], csrf: row["csrf"], expiresAt: row["expires_at"])
        }
    }

    /// Ends a session at the hub: its cookie opens nothing from now on.
    public func endConsoleSession(tokenSHA256: String) async throws(HubError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM sync_console_sessions WHERE token_sha256 = ?", arguments: [tokenSHA256])
        }
    }

    /// Writes what a console user did to the hub's audit.
    public func audit(actor: String, action: String, table: String? = nil, pk: String? = nil, centre: String? = nil, detail: String) async throws(HubError) {
        let now = clock.nowMillis()
        try await write { db in
            try Self.audit(db, at: now, actor: actor, action: action, table: table, pk: pk, centre: centre, detail: detail)
        }
    }

    // MARK: Activity

    /// Records what a sync request came to, keeping the newest 500 per centre. Beside pushes
    /// and pulls (`WriteLock.rows`), one record of a centre at a time.
    public func recordActivity(_ entry: ActivityEntry) async throws(HubError) {
        try await write(.rows) { db in
            try PostgresLocks.lock([PostgresLocks.key(activityOf: entry.centre)], db: db)
            try db.execute(
                sql: """
                    INSERT INTO sync_hub_activity (at, centre, origin, route, status, code, applied, refused, conflicts, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    entry.at, entry.centre, entry.origin, entry.route, entry.status, entry.code, entry.applied, entry.refused, entry.conflicts,
                    entry.detail,
                ])
            try db.execute(
                sql: """
                    DELETE FROM sync_hub_activity WHERE centre = ? AND id <= (
                        SELECT id FROM sync_hub_activity WHERE centre = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                    """,
                arguments: [entry.centre, entry.centre, Self.activityPerCentre])
        }
    }

    /// A centre's activity, newest first; of every centre when `centre` is nil.
    public func activity(centre: String?, limit: Int) async throws(HubError) -> [ActivityEntry] {
        try await read { db in
            try SQLRow.fetchAll(
                db, sql: "SELECT * FROM sync_hub_activity WHERE ? = 1 OR centre = ? ORDER BY id DESC LIMIT ?",
                arguments: [centre == nil, centre, limit]
            ).map {
                ActivityEntry(
                    id: $0["id"], at: $0["at"], centre: $0["centre"], origin: $0["origin"], route: $0["route"], status: $0["status"],
                    code: $0["code"], applied: $0["applied"], refused: $0["refused"], conflicts: $0["conflicts"], detail: $0["detail"])
            }
        }
    }

    /// A row's current values by column, in the schema's order; nil if the hub holds no such
    /// row. The console leaves out personal columns before it shows one.
    public func currentRow(table: String, pk: String) async throws(HubError) -> [(column: String, value: Value)]? {
        guard let spec = schema.table(named: table) else { throw .badRequest(code: "unknown_table", message: "there is no table \(table)") }
        return try await read { db in
            guard let row = try SQLRow.fetchOne(
                db, sql: "SELECT * FROM \(quoted(spec.name)) WHERE \(quoted(spec.primaryKey)) = ?", arguments: [pk])
            else { return nil }
            return ([(spec.primaryKey, "TEXT")] + spec.columns.map { ($0.name, $0.type) }).compactMap { column, type in
                row.hasColumn(column) ? (column, db.read(row.value(column), declared: type)) : nil
            }
        }
    }

    // MARK: Reports

    /// One of the programme's figures, from the hub's rows; aggregates only.
    public func report(_ report: ConsoleReport) async throws(HubError) -> ReportTable {
        try await read { db in
            switch report {
            case .projects:
                return try Self.table(
                    db, columns: ["Förderlinie", "Status", "Projekte"],
                    sql: """
                        SELECT coalesce(f.name, p.funding_line_id), p.status, count(*) FROM projects p
                        LEFT JOIN funding_lines f ON f.id = p.funding_line_id GROUP BY 1, 2 ORDER BY 1, 2
                        """)
            case .funding:
                return try Self.table(
                    db, columns: ["Regierungsbezirk", "Förderlinie", "Beantragt (EUR)", "Bewilligt (EUR)"],
                    sql: """
                        SELECT coalesce(c.regierungsbezirk, '?'), coalesce(f.name, p.funding_line_id),
                               coalesce(sum(p.requested_cents), 0) / 100.0, coalesce(sum(p.approved_cents), 0) / 100.0
                        FROM projects p LEFT JOIN centres c ON c.id = p.centre_id LEFT JOIN funding_lines f ON f.id = p.funding_line_id
                        GROUP BY 1, 2 ORDER BY 1, 2
                        """)
            case .hours:
                return try Self.table(
                    db, columns: ["Landkreis/Stadt", "Monat", "Einsatzstunden"],
                    sql: """
                        SELECT coalesce(c.name, d.centre_id), substr(d.date, 1, 7), sum(d.hours) FROM deployments d
                        LEFT JOIN centres c ON c.id = d.centre_id GROUP BY 1, 2 ORDER BY 1, 2
                        """)
            case .volunteers:
                // Languages are a comma-separated list: split in SQL, counted per language. No name
                // is read. PostgreSQL keeps texts as bytes: the list is split as text there.
                let postgres = db.dialect == .postgres
                let (languages, empty, find) =
                    postgres ? (#"convert_from(languages, 'UTF8') COLLATE "C""#, #"'' COLLATE "C""#, "strpos") : ("languages", "''", "instr")
                return try Self.table(
                    db, columns: ["Zentrum", "Sprache", "Integrationslots*innen", "Laiendolmetschende"],
                    sql: """
                        WITH RECURSIVE split(centre, role, language, rest) AS (
                            SELECT centre_id, role, \(empty), \(languages) || ',' FROM volunteers WHERE active = 1
                            UNION ALL
                            SELECT centre, role, trim(substr(rest, 1, \(find)(rest, ',') - 1)), substr(rest, \(find)(rest, ',') + 1)
                            FROM split WHERE rest <> ''
                        )
                        SELECT coalesce(c.name, s.centre), s.language,
                               sum(CASE WHEN s.role = 'Integrationslotse' THEN 1 ELSE 0 END),
                               sum(CASE WHEN s.role = 'Laiendolmetschende' THEN 1 ELSE 0 END)
                        FROM split s LEFT JOIN centres c ON c.id = s.centre WHERE s.language <> ''
                        GROUP BY 1, 2 ORDER BY 1, 2
                        """)
            }
        }
    }

    /// A report's rows: its texts are names and keys (a text column on PostgreSQL reads as bytes).
    private static func table(_ db: any SQLSession, columns: [String], sql: String) throws -> ReportTable {
        let rows = try SQLRow.fetchAll(db, sql: sql).map { row in
            row.values.map { value -> ReportTable.Cell in
                switch db.read(value, declared: "TEXT") {
                case .integer(let integer): .number(Double(integer))
                case .real(let real): .number(real)
                case .text(let text): .text(text)
                case .null, .blob: .text("")
                }
            }
        }
        return ReportTable(columns: columns, rows: rows)
    }

    // MARK: Helpers

    static func isValidAccountName(_ name: String) -> Bool {
        (2...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x2D
                || byte == 0x5F
        }
    }

    /// A random token of `bytes` bytes, base64url without padding.
    public static func randomToken(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The SHA-256 (hex) the hub keeps of a token, a session's or a setup secret's.
    public static func sha256(_ token: String) -> String { hash(token: token) }

    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
