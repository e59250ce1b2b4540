import Foundation
import GRDB
public import SyncCore
public import SyncStore

/// A centre's local replica: one SQLite file in WAL mode holding the domain tables, the
/// capture triggers and the engine's `sync_*` tables.
///
/// Anything may write the domain tables; the triggers capture every write into
/// `sync_log`. This type is the engine's side: it gives captured writes their clock
/// (`fold`), composes them for the hub (`outgoing`), applies the hub's changes
/// (`applyRemote`) and reports `status`. All of it runs on one connection with triggers
/// off, so nothing the engine writes is captured again.
///
/// ```swift
/// let (replica, _) = try Replica.initialise(path: "kassel.db", node: "landkreis-kassel",
///                                           hubURL: nil, schema: try WIRSchema.definition())
/// // … any tool writes kassel.db …
/// let batch = try replica.outgoing(limit: 500)
/// ```
public final class Replica: Sendable {
    public enum InitOutcome: Hashable, Sendable {
        case created
        case migrated(from: Int)
    }

    public let path: String
    public let node: String
    public let schema: StoreSchema
    /// The name of the replica's schema (`wir`).
    public let schemaName: String
    let queue: DatabaseQueue

    private init(path: String, node: String, schema: StoreSchema, schemaName: String, queue: DatabaseQueue) {
        self.path = path
        self.node = node
        self.schema = schema
        self.schemaName = schemaName
        self.queue = queue
    }

    /// The schema this replica speaks, as in the `WIRSync-Schema` header: `wir/1`.
    public var schemaTag: String { Wire.schemaTag(name: schemaName, version: schema.version) }

    // MARK: Creating and opening

    /// Creates a replica at `path`, or migrates the one there to a newer schema version.
    ///
    /// Refuses a file that is not a replica, a replica of another node, and a replica that
    /// is already at this schema version or newer. A failed creation leaves no file behind.
    public static func initialise(
        path: String, node: String, hubURL: String?, schema definition: SchemaDefinition
    ) throws(ReplicaError) -> (Replica, InitOutcome) {
        guard Node.isWellFormed(node) else { throw .invalidNode(node) }
        if FileManager.default.fileExists(atPath: path) {
            return try migrate(path: path, node: node, hubURL: hubURL, definition: definition)
        }
        do {
            let queue = try StoreConnection.open(path: path)
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try ReplicaLayout.layout.upgrade(queue)
            try queue.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    let schema = try SchemaInstaller.migrate(db, to: definition, from: 0)
                    try db.execute(
                        sql: """
                            INSERT INTO sync_state (id, node, origin, replica_id, schema_name, schema_version, hub_url)
                            VALUES (1, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [node, Origin.new(centre: node), UUID().uuidString.lowercased(), definition.name, definition.version, hubURL])
                    try installTriggers(db, schema: schema, node: node)
                    return .commit
                }
            }
            return (try open(path: path), .created)
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            throw map(error, path: path)
        }
    }

    private static func migrate(
        path: String, node: String, hubURL: String?, definition: SchemaDefinition
    ) throws(ReplicaError) -> (Replica, InitOutcome) {
        let replica = try open(path: path)
        guard replica.node == node else { throw .belongsToOtherNode(path: path, node: replica.node, requested: node) }
        let installed = replica.schema.version
        guard installed < definition.version else {
            if installed == definition.version {
                throw .alreadyInitialised(path: path, node: node, schemaVersion: installed)
            }
            throw .newerSchema(path: path, installed: installed, available: definition.version)
        }
        try replica.write { db in
            let name = try String.fetchOne(db, sql: "SELECT schema_name FROM sync_state")
            guard name == definition.name else {
                throw ReplicaError.notAReplica(path: path, reason: "its schema is \(name ?? "unknown"), not \(definition.name)")
            }
            // Entries captured before the migration get their versions under the old columns.
            try replica.fold(db)
            // The capture triggers name the columns: off while the migrations run, installed anew after.
            try dropTriggers(db)
            let schema = try SchemaInstaller.migrate(db, to: definition, from: installed)
            try installTriggers(db, schema: schema, node: node)
            try Self.awaitNewColumns(db, schema: schema, after: installed)
            try db.execute(
                sql: "UPDATE sync_state SET schema_version = ?, hub_url = coalesce(?, hub_url)",
                arguments: [definition.version, hubURL])
        }
        return (try open(path: path), .migrated(from: installed))
    }

    /// After an upgrade from `installed`: the rows this replica holds have no values yet for
    /// the columns the new version added (the hub left them out of its pulls). Each gets a
    /// placeholder version below every real one, and the cursor goes back to the start for
    /// one whole pull, in which the hub's values of those columns win the placeholders and the
    /// new tables fill (docs/schema-evolution.md, "Upgrading a replica").
    private static func awaitNewColumns(_ db: Database, schema: StoreSchema, after installed: Int) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO sync_nodes (name) VALUES (?)", arguments: [Node.hub])
        for table in schema.tables where table.since <= installed {
            for column in table.columns where column.since > installed {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO sync_cols (tbl, pk, col, hlc, node, seq)
                        SELECT tbl, pk, ?, 0, (SELECT id FROM sync_nodes WHERE name = ?), NULL FROM sync_rows WHERE tbl = ? AND alive = 1
                        """,
                    arguments: [column.ordinal, Node.hub, table.id])
            }
        }
        try db.execute(sql: "UPDATE sync_state SET cursor = 0, cursor_check = NULL, delta = 0")
        try recordRecovery(
            .upgraded, "schema upgraded from version \(installed) to \(schema.version): one whole pull fills the new tables and columns",
            db: db, now: Int64(Date().timeIntervalSince1970 * 1000))
    }

    private static func dropTriggers(_ db: Database) throws {
        let triggers = try String.fetchAll(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync\\_%' ESCAPE '\\'")
        for trigger in triggers { try db.execute(sql: "DROP TRIGGER \(quoted(trigger))") }
    }

    private static func installTriggers(_ db: Database, schema: StoreSchema, node: String) throws {
        for table in schema.tables {
            for sql in CaptureSQL.triggers(for: table, node: node) { try db.execute(sql: sql) }
        }
    }

    /// Opens an existing replica. Creates nothing: a missing file is an error.
    public static func open(path: String) throws(ReplicaError) -> Replica {
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path: path) }
        do {
            let queue = try StoreConnection.open(path: path)
            guard try queue.read({ db in try db.tableExists("sync_state") }) else {
                throw ReplicaError.notAReplica(path: path, reason: "it has no sync_state")
            }
            // A replica of an older wirsync is upgraded in place, data and pending changes kept.
            let steps = try ReplicaLayout.layout.upgrade(queue)
            let (node, version, name) = try queue.read { db -> (String, Int, String) in
                guard let row = try Row.fetchOne(db, sql: "SELECT node, schema_version, schema_name FROM sync_state") else {
                    throw ReplicaError.notAReplica(path: path, reason: "its sync_state is empty")
                }
                return (row["node"], row["schema_version"], row["schema_name"])
            }
            let schema = try queue.read { db in try SchemaInstaller.load(db, version: version) }
            // Its capture triggers are those of the older engine: installed anew once, as this one
            // makes them, so that drift is told by them from here on (docs/schema-evolution.md).
            if !steps.isEmpty, !steps.contains(ReplicaLayout.captureStep) {
                try queue.write { db in
                    try dropTriggers(db)
                    try installTriggers(db, schema: schema, node: node)
                }
            }
            return Replica(path: path, node: node, schema: schema, schemaName: name, queue: queue)
        } catch {
            throw map(error, path: path)
        }
    }

    // MARK: Status

    /// What an operator sees in `wirsync status`.
    public struct Status: Hashable, Sendable, Codable {
        public var centre: String
        public var schemaVersion: Int
        /// Captured changes the hub has not acknowledged yet.
        public var pending: Int
        /// The last hub sequence pulled.
        public var cursor: Int64
        public var hubURL: String?
        public var hlc: HLC
        /// This replica's own name (its origin), unlike `centre`, which is its scope.
        public var origin: String
        public var replicaID: String
        /// Conflict records about this replica's rows that HMSI has not resolved.
        public var openConflicts: Int
        /// Changes the hub refused (kept in `sync_refused`).
        public var refused: Int
        public var lastSync: SyncRun?
        /// When a sync last succeeded (Unix ms).
        public var lastSuccessAt: Int64?
        /// The last thing a session found wrong and repaired (a restored copy, a restored hub).
        public var lastRecovery: Recovery?

        enum CodingKeys: String, CodingKey {
            case centre, pending, cursor, hlc, refused, origin
            case lastRecovery = "last_recovery"
            case schemaVersion = "schema_version"
            case hubURL = "hub_url"
            case replicaID = "replica_id"
            case openConflicts = "open_conflicts"
            case lastSync = "last_sync"
            case lastSuccessAt = "last_success_at"
        }
    }

    public func status() throws(ReplicaError) -> Status {
        let runs = try lastRuns()
        return try read { db in
            let state = try Row.fetchOne(
                db, sql: "SELECT node, origin, schema_version, cursor, acked, hub_url, hlc, replica_id FROM sync_state")!
            let pending = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM sync_log WHERE seq > ?", arguments: [state["acked"] as Int64]) ?? 0
            return Status(
                centre: state["node"], schemaVersion: state["schema_version"], pending: pending,
                cursor: state["cursor"], hubURL: state["hub_url"], hlc: HLC(rawValue: state["hlc"]), origin: state["origin"],
                replicaID: state["replica_id"],
                openConflicts: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL") ?? 0,
                refused: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_refused") ?? 0,
                lastSync: runs.last, lastSuccessAt: runs.lastSuccess?.finishedAt, lastRecovery: try Self.lastRecovery(db))
        }
    }

    // MARK: Clock

    /// Gives every captured entry not yet folded its HLC and `seen` cursor, in log order,
    /// and records its versions. Returns how many entries it folded.
    @discardableResult
    public func fold() throws(ReplicaError) -> Int {
        try write { db in try fold(db) }
    }

    /// The fold, inside the caller's write transaction.
    ///
    /// An entry's HLC is `max(last + 1, wall << 16)`, exactly what a trigger computing it on
    /// the spot would give: the state it starts from changes only inside transactions that
    /// fold first (remote apply moves the clock after folding).
    ///
    /// - Parameter through: fold no entry after this sequence.
    @discardableResult
    func fold(_ db: Database, through: Int64 = .max) throws -> Int {
        try LogChain.extend(db)
        let state = try Row.fetchOne(db, sql: "SELECT hlc, cursor, folded, origin FROM sync_state")!
        var hlc = HLC(rawValue: state["hlc"])
        let cursor: Int64 = state["cursor"]
        let origin: String = state["origin"]
        var last: Int64 = state["folded"]
        let applier = try Applier(db: db, schema: schema)
        let stamp = try RawStatement(db, sql: "UPDATE sync_log SET hlc = ?, seen = ? WHERE seq = ?")
        let read = try RawStatement(db, sql: "SELECT \(LogEntry.columns) FROM sync_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 2000")
        var count = 0
        while true {
            var entries: [LogEntry] = []
            try read.run([.integer(last), .integer(through)]) { row in entries.append(try LogEntry(row, schema: schema)) }
            guard !entries.isEmpty else { break }
            for entry in entries {
                hlc = HLC.next(after: hlc, wallMillis: entry.wall)
                _ = try applier.recordLocal(
                    table: entry.table, pk: entry.pk, op: entry.op, columns: entry.columns,
                    centre: centre(of: entry), stamp: Stamp(Version(hlc: hlc, origin: origin)))
                try stamp.execute([.integer(hlc.rawValue), .integer(cursor), .integer(entry.seq)])
                last = entry.seq
                count += 1
            }
        }
        if count > 0 {
            try db.execute(sql: "UPDATE sync_state SET hlc = ?, folded = ?", arguments: [hlc.rawValue, last])
        }
        return count
    }

    private func centre(of entry: LogEntry) -> String? {
        entry.table.scope == .centre ? entry.centre ?? node : nil
    }

    // MARK: Applying the hub's changes

    /// What one applied batch did.
    public struct ApplyReport: Hashable, Sendable {
        /// Changes that changed this replica.
        public var applied = 0
        /// Changes this replica already had.
        public var duplicates = 0
        /// Changes that lost to newer versions everywhere they touched.
        public var superseded = 0
        /// Pending local values a remote change overwrote; kept to be pushed.
        public var stashed = 0
        /// Rows erased at the hub whose every copy this batch removed.
        public var erased = 0
        /// The clock after the batch.
        public var hlc = HLC.zero
    }

    /// Applies a batch of the hub's changes in one transaction, with per-column LWW, and
    /// stores `cursor` in the same transaction. On any error nothing is applied and the
    /// cursor stays where it was.
    ///
    /// - Parameters:
    ///   - check: the fingerprint of the hub log entry at `cursor`, kept with it so that the
    ///     next session can tell whether the hub still holds it.
    ///   - erased: rows erased at the hub (their deletes are among `changes`): every copy of
    ///     their values goes too (`erase`).
    ///   - end: the page reached the end of the hub's log: from now on the replica holds every
    ///     version at or below its cursor, and pulls rows as their newer versions (`pullsDelta`).
    @discardableResult
    public func applyRemote(
        _ changes: [Change], conflicts: [ConflictRecord] = [], erased: [RowKey] = [], cursor: Int64, check: Fingerprint? = nil,
        end: Bool = false
    ) throws(ReplicaError) -> ApplyReport {
        try write { db in
            try fold(db)
            let state = try Row.fetchOne(db, sql: "SELECT hlc, cursor, acked, origin FROM sync_state")!
            let current: Int64 = state["cursor"]
            guard cursor >= current else { throw ReplicaError.staleCursor(current: current, received: cursor) }
            // Local versions newer than the last acknowledged entry have not reached the hub.
            let ackedHLC = try Int64.fetchOne(
                db, sql: "SELECT hlc FROM sync_log WHERE seq = ?", arguments: [state["acked"] as Int64]) ?? 0
            let origin: String = state["origin"]
            let isPendingLocal = { (stamp: Stamp) in stamp.version.origin == origin && stamp.version.hlc.rawValue > ackedHLC }
            let applier = try Applier(db: db, schema: schema)
            let scope = ScopeRule(centre: node == Node.hmsi ? nil : node, reference: true)
            let stash = try RawStatement(db, sql: "INSERT OR REPLACE INTO sync_stash (tbl, pk, col, hlc, value) VALUES (?, ?, ?, ?, ?)")
            // A re-sync crosses off each row the hub still has (`beginResync`).
            let found = try Self.isResyncing(db) ? try RawStatement(db, sql: "DELETE FROM sync_resync WHERE tbl = ? AND pk = ?") : nil
            var report = ApplyReport(hlc: HLC(rawValue: state["hlc"]))
            for change in changes {
                // The hub sequence stays with the versions it brings: after a hub restore it
                // tells which of them the hub may have lost.
                // An insert the hub logged without some columns was offered again after a restore:
                // their newer values came before it, and it leaves them as they are (the hub logs
                // every other insert whole).
                let result = try applier.apply(change, seq: change.seq, scope: scope, partial: change.op == .insert, keep: isPendingLocal)
                try found?.execute([.integer(Int64(result.table.id)), .text(change.pk)])
                for (column, displaced) in result.displaced {
                    try stash.execute([
                        .integer(Int64(result.table.id)), .text(change.pk), .integer(Int64(column)),
                        .integer(displaced.stamp.version.hlc.rawValue), displaced.value,
                    ])
                    report.stashed += 1
                }
                if result.plan.isDuplicate {
                    report.duplicates += 1
                } else if result.plan.changesNothing {
                    report.superseded += 1
                } else {
                    report.applied += 1
                }
                report.hlc = max(report.hlc, change.hlc)
            }
            try db.execute(
                sql: "UPDATE sync_state SET hlc = ?, cursor = ?, cursor_check = ?", arguments: [report.hlc.rawValue, cursor, check?.hex])
            if cursor > current { try Checkpoints.record(LogPosition(seq: cursor, check: check), db: db) }
            for conflict in conflicts { try Self.store(conflict, in: db) }
            for key in erased where try erase(key, db: db) { report.erased += 1 }
            if end { try db.execute(sql: "UPDATE sync_state SET delta = 1 WHERE delta = 0") }
            return report
        }
    }

    // MARK: Sending captured changes

    /// Captured changes ready for the hub, in local sequence order.
    public struct OutgoingBatch: Hashable, Sendable {
        /// The sequence the batch starts after: the last acknowledged one, or the `after`
        /// asked for if that is later. `lastSeq == after` means nothing is waiting.
        public var after: Int64
        public var changes: [Change]
        /// The highest local sequence this batch covers; entries a later write superseded
        /// are covered without being sent.
        public var lastSeq: Int64
        /// Whether more entries wait after `lastSeq`.
        public var more: Bool
        /// The chain of every entry in `after + 1 … lastSeq` (`.unknown` where there is none).
        public var chains: [Fingerprint]
    }

    /// Folds, then composes up to `limit` unacknowledged entries as changes for the hub.
    ///
    /// Each change carries the current value of every column whose version is still this
    /// entry's; a column a later local write overwrote travels with that later entry, and
    /// one a remote change overwrote travels from `sync_stash`.
    ///
    /// - Parameter after: start after this sequence instead of the last acknowledged one
    ///   (to compose the next batch while the hub still works on this one).
    public func outgoing(limit: Int, after: Int64? = nil) throws(ReplicaError) -> OutgoingBatch {
        // The write lock only for the fold; composing reads a snapshot, so other writers wait
        // milliseconds, not the whole batch.
        try fold()
        return try read { db in
            let state = try Row.fetchOne(db, sql: "SELECT acked, folded, origin FROM sync_state")!
            let start = max(state["acked"] as Int64, after ?? 0)
            let origin: String = state["origin"]
            var entries: [(entry: LogEntry, hlc: HLC, seen: Int64, chain: Fingerprint)] = []
            try RawStatement(
                db, sql: "SELECT \(LogEntry.columns), hlc, seen, chain FROM sync_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            ).run([.integer(start), .integer(state["folded"]), .integer(Int64(limit + 1))]) { row in
                entries.append((try LogEntry(row, schema: schema), HLC(rawValue: row.integer(7)), row.integer(8), Fingerprint(rawValue: row.integer(9))))
            }
            let applier = try Applier(db: db, schema: schema)
            // Usually empty; then no entry needs to look there.
            let stash = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sync_stash)") ?? false
                ? try RawStatement(db, sql: "SELECT col, hlc, value FROM sync_stash WHERE tbl = ? AND pk = ?") : nil
            var batch = OutgoingBatch(after: start, changes: [], lastSeq: start, more: entries.count > limit, chains: [])
            for (entry, hlc, seen, chain) in entries.prefix(limit) {
                // A sequence without an entry (none is ever deleted unacknowledged, but a tool could) chains as unknown.
                batch.chains += Array(repeating: .unknown, count: Int(entry.seq - batch.lastSeq - 1)) + [chain]
                batch.lastSeq = entry.seq
                if let change = try compose(entry, hlc: hlc, seen: seen, origin: origin, stash: stash, applier: applier) {
                    batch.changes.append(change)
                }
            }
            return batch
        }
    }

    /// - Parameter stash: the query for a row's stashed values; nil when the stash is empty.
    private func compose(
        _ entry: LogEntry, hlc: HLC, seen: Int64, origin: String, stash: RawStatement?, applier: Applier
    ) throws -> Change? {
        let table = entry.table
        let version = Version(hlc: hlc, origin: origin)
        var change = Change(
            seq: entry.seq, table: table.name, pk: entry.pk, op: entry.op, centre: centre(of: entry), values: [:],
            hlc: hlc, origin: origin, seen: seen)
        if entry.op == .delete { return change }
        // An insert travels with the row as it is now: its column versions are not needed.
        let stored = try applier.storedRow(table: table, pk: entry.pk, columns: entry.op == .update)

        // Local values a remote change displaced before they were pushed, by column and clock.
        var stashed: [Int: [Int64: Value]] = [:]
        try stash?.run([.integer(Int64(table.id)), .text(entry.pk)]) { row in
            stashed[Int(row.integer(0)), default: [:]][row.integer(1)] = row.value(2)
        }
        let wanted = entry.op == .insert ? table.columns.map(\.ordinal) : entry.columns
        let current = stored.versions.isAlive ? try applier.currentValues(table, pk: entry.pk, columns: wanted) : [:]

        if entry.op == .insert {
            // The row as inserted is the row now, unless a remote change displaced it (stashed).
            let displaced = stashed.values.contains { $0[hlc.rawValue] != nil }
            guard stored.versions.base?.version == version && stored.versions.isAlive || displaced else { return nil }
            for column in table.columns {
                let versions = stashed[column.ordinal] ?? [:]
                let latest = versions.max { $0.key < $1.key }?.value
                change.values[column.name] = versions[hlc.rawValue] ?? current[column.ordinal] ?? latest ?? .null
            }
            return change
        }
        for ordinal in entry.columns {
            guard let column = table.column(ordinal: ordinal) else { continue }
            if stored.versions.stamp(ofColumn: ordinal)?.version == version {
                change.values[column.name] = stored.versions.isAlive ? current[ordinal] : stored.ghosts[ordinal]
            } else if let value = stashed[ordinal]?[hlc.rawValue] {
                change.values[column.name] = value
            }
        }
        return change.values.isEmpty ? nil : change
    }

    /// Records that the hub has durably handled everything up to `seq`, and keeps the
    /// changes it refused (with the reason) for the operator.
    ///
    /// The entry at `seq` itself stays in the log (marked acknowledged), so a sequence
    /// number is never handed out twice.
    public func acknowledge(through seq: Int64, refusals: [Refusal] = [], sent: [Change] = []) throws(ReplicaError) {
        try write { db in
            let acked = try Int64.fetchOne(db, sql: "SELECT acked FROM sync_state")!
            guard seq > acked else { return }
            let stamped = "SELECT hlc FROM sync_log WHERE seq = ?"
            if try Int64.fetchOne(db, sql: stamped, arguments: [seq]) == nil {
                // Entries another copy of this file pushed, acknowledged here after a session showed they are the same.
                try fold(db, through: seq)
            }
            guard let hlc = try Int64.fetchOne(db, sql: stamped, arguments: [seq]) else {
                throw ReplicaError.sqlite(message: "cannot acknowledge \(seq): no such entry in sync_log")
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for refusal in refusals {
                let change = sent.first { $0.seq == refusal.seq }
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO sync_refused (seq, table_name, pk, op, code, message, refused_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        refusal.seq, change?.table ?? "?", change?.pk ?? "?", change?.op.rawValue ?? "?", refusal.code, refusal.message, now,
                    ])
            }
            try db.execute(sql: "UPDATE sync_state SET acked = ?", arguments: [seq])
            try db.execute(sql: "DELETE FROM sync_log WHERE seq < ?", arguments: [seq])
            try db.execute(sql: "DELETE FROM sync_stash WHERE hlc <= ?", arguments: [hlc])
        }
    }

    // MARK: Plumbing

    func write<T>(_ body: (Database) throws -> T) throws(ReplicaError) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw Self.map(error, path: path)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(ReplicaError) -> T {
        do {
            return try queue.read(body)
        } catch {
            throw Self.map(error, path: path)
        }
    }

    static func map(_ error: any Error, path: String) -> ReplicaError {
        switch error {
        case let error as ReplicaError: error
        case let error as ApplyError: .apply(error)
        case let error as SchemaError: .schema(error)
        case let error as LayoutError: .newerEngine(path: path, reason: error.description)
        case let error as DatabaseError where error.resultCode == .SQLITE_NOTADB:
            .notAReplica(path: path, reason: "it is not an SQLite database")
        case let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN:
            .sqlite(message: "cannot open \(path): \(error.message ?? "unable to open database file") (does its directory exist, may you write there?)")
        case let error as DatabaseError: .sqlite(message: error.message ?? "\(error)")
        default: .sqlite(message: "\(error)")
        }
    }
}

/// One row of `sync_log`, decoded against the replica's schema.
struct LogEntry {
    var seq: Int64
    var table: TableSpec
    var pk: String
    var op: Change.Op
    /// The changed column of an update, by ordinal; empty for inserts and deletes.
    var columns: [Int]
    var wall: Int64
    var centre: String?

    /// The columns `init` reads, first in a query's result and in this order.
    static let columns = "seq, tbl, pk, op, col, wall, centre"

    init(_ row: any SQLColumns, schema: StoreSchema) throws {
        seq = row.integer(0)
        guard let table = schema.table(id: Int(row.integer(1))), let op = CaptureSQL.Op(rawValue: row.integer(3)) else {
            throw ReplicaError.sqlite(message: "sync_log entry \(seq) names an unknown table or operation")
        }
        self.table = table
        self.op = op.change
        pk = row.text(2)
        let column = row.optionalInteger(4).map(Int.init)
        wall = row.integer(5)
        centre = row.optionalText(6)
        columns = op == .update ? table.columns.map(\.ordinal).filter { $0 == column } : []
    }
}
