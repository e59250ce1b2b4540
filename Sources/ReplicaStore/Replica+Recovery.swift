import Foundation
import GRDB
public import SyncCore
import SyncStore

/// What a session found wrong and repaired, as `wirsync status` shows it.
public struct Recovery: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// This file is an older copy of a replica (restored, or copied to another PC) and went on as a new one.
        case forked
        /// The hub was restored from an older backup, or made anew; what it lost was offered again.
        case hubRestored = "hub_restored"
        /// The hub had collected deletes this replica never pulled; it re-synced its scope.
        case resynced
        /// The replica's schema was upgraded; one whole pull fills the new tables and columns.
        case upgraded
    }

    public var at: Int64
    public var kind: Kind
    public var message: String
}

/// What a replica tells the hub at the start of a session (`SessionRequest`), and its origin.
public struct SessionState: Sendable {
    public var origin: String
    public var request: SessionRequest
    /// The chain of every entry after the acknowledged one, by sequence.
    public var chains: [Int64: Fingerprint]
}

extension Replica {
    // MARK: Backups

    /// Moves what the WAL holds into the replica file, as far as other connections let it:
    /// the daemon does it when it stops, so that a plain copy of the file holds every write.
    public func checkpoint() {
        _ = try? queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// Writes a consistent copy of the replica to `target` while it is in use (`VACUUM INTO`);
    /// returns its size in bytes.
    public func backup(to target: String) throws(ReplicaError) -> Int64 {
        do {
            return try StoreFiles.backup(path, to: target)
        } catch {
            throw Self.map(error, path: target)
        }
    }

    /// The centre and origin of the replica file at `path`, read without opening it as a
    /// replica (which would upgrade an older one).
    public static func describe(path: String) throws(ReplicaError) -> (centre: String, origin: String) {
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path: path) }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            return try DatabaseQueue(path: path, configuration: configuration).read { db in
                guard try db.tableExists("sync_state"), let row = try Row.fetchOne(db, sql: "SELECT * FROM sync_state") else {
                    throw ReplicaError.notAReplica(path: path, reason: "it has no sync_state")
                }
                let node: String = row["node"]
                return (node, row["origin"] ?? node)
            }
        } catch {
            throw map(error, path: path)
        }
    }

    /// Puts the replica file `backup` in place at `path` (the caller holds the replica's
    /// locks): a copy of the file it replaces is kept as `<path>.before-restore`, whose path
    /// it returns.
    public static func restore(path: String, from backup: String) throws(ReplicaError) -> String? {
        do {
            // Best effort: the file replaced may be the damaged one.
            var kept: String?
            if FileManager.default.fileExists(atPath: path), (try? StoreFiles.backup(path, to: path + ".before-restore")) != nil {
                kept = path + ".before-restore"
            }
            try StoreFiles.restore(path, from: backup)
            return kept
        } catch {
            throw map(error, path: path)
        }
    }

    // MARK: Sessions

    /// What this replica believes of itself and the hub, for a session. Gives every captured
    /// entry its chain first (that writes, but folds nothing).
    public func sessionState(adoptAcked: Bool = false) throws(ReplicaError) -> SessionState {
        try write { db in
            try LogChain.extend(db)
            let state = try Row.fetchOne(db, sql: "SELECT node, origin, replica_id, acked, cursor, cursor_check, hub_id FROM sync_state")!
            let origin: String = state["origin"], node: String = state["node"], acked: Int64 = state["acked"]
            var chains: [Int64: Fingerprint] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT seq, chain FROM sync_log WHERE seq >= ?", arguments: [acked]) {
                chains[row["seq"]] = Fingerprint(rawValue: row["chain"])
            }
            let lineage = try Row.fetchOne(db, sql: "SELECT origin, parted_at FROM sync_lineage ORDER BY at DESC, parted_at DESC LIMIT 1")
            let ackedHLC = try Int64.fetchOne(db, sql: "SELECT hlc FROM sync_log WHERE seq = ?", arguments: [acked]) ?? 0
            // The log keeps the acknowledged entry and every later one: its newest clock is the newest own write.
            let ownHLC = try Int64.fetchOne(db, sql: "SELECT max(hlc) FROM sync_log WHERE seq >= ?", arguments: [acked]) ?? 0
            return SessionState(
                origin: origin,
                request: SessionRequest(
                    centre: node, acked: acked, ackedChain: acked == 0 ? .unknown : chains[acked] ?? .unknown, cursor: state["cursor"],
                    cursorCheck: (state["cursor_check"] as String?).flatMap(Fingerprint.init(hex:)), hubID: state["hub_id"],
                    legacyReplicaID: origin == node ? state["replica_id"] : nil, forkedFrom: lineage?["origin"],
                    partedAt: lineage?["parted_at"], adoptAcked: adoptAcked, ackedHLC: HLC(rawValue: ackedHLC), ownHLC: HLC(rawValue: ownHLC),
                    checkpoints: try Checkpoints.all(db: db), clock: Int64(Date().timeIntervalSince1970 * 1000)),
                chains: chains)
        }
    }

    /// Makes this file a replica of its own under a new origin (docs/replicas-and-restores.md,
    /// "the fork"). The entries before `partedAt` are the history it shares with the replica
    /// it is a copy of: folded as that copy folded them. They are sent again all the same,
    /// under the new origin, with every entry written here since: the other copy may have
    /// left one out of its pushes because a later write of its own superseded it, one this
    /// copy lacks and the hub may never have got, so the hub acknowledging an entry does not
    /// mean it holds its value. Returns the new origin.
    @discardableResult
    public func fork(partedAt: Int64, message: String) throws(ReplicaError) -> String {
        try write { db in
            let state = try Row.fetchOne(db, sql: "SELECT origin, acked FROM sync_state")!
            let old: String = state["origin"]
            let new = Origin.new(centre: node)
            try fold(db, through: partedAt - 1)
            if let first = try Int64.fetchOne(
                db, sql: "SELECT min(hlc) FROM sync_log WHERE seq > ? AND hlc IS NOT NULL", arguments: [state["acked"] as Int64])
            {
                // Versions this copy already wrote under the old name take the new one, so that no two
                // writes ever share an (hlc, origin).
                let applier = try Applier(db: db, schema: schema)
                let (from, to) = (try applier.nodeID(old), try applier.nodeID(new))
                for sql in [
                    "UPDATE sync_rows SET reg_node = ?2 WHERE reg_node = ?1 AND reg_hlc >= ?3",
                    "UPDATE sync_rows SET base_node = ?2 WHERE base_node = ?1 AND base_hlc >= ?3",
                    "UPDATE sync_cols SET node = ?2 WHERE node = ?1 AND hlc >= ?3",
                ] {
                    try db.execute(sql: sql, arguments: [from, to, first])
                }
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try db.execute(
                sql: "INSERT OR REPLACE INTO sync_lineage (origin, parted_at, at) VALUES (?, ?, ?)", arguments: [old, partedAt, now])
            try db.execute(sql: "UPDATE sync_state SET origin = ?, replica_id = ?", arguments: [new, UUID().uuidString.lowercased()])
            try Self.recordRecovery(.forked, message.replacingOccurrences(of: "{new}", with: new), db: db, now: now)
            return new
        }
    }

    /// Moves the cursor back to `position` (if it is behind the cursor). After a hub restore
    /// (`clampSeen`), pending entries are taken to have seen nothing past it, and the
    /// checkpoints past it are forgotten: what lies beyond is no longer the hub's history.
    public func rewind(to position: LogPosition, clampSeen: Bool) throws(ReplicaError) {
        try write { db in
            try fold(db)
            try db.execute(
                sql: "UPDATE sync_state SET cursor = ?, cursor_check = ?, delta = delta AND ? > 0 WHERE cursor > ?",
                arguments: [position.seq, position.check?.hex, position.seq, position.seq])
            if clampSeen {
                try Checkpoints.forget(after: position.seq, db: db)
                try Checkpoints.record(position, db: db)
                try db.execute(
                    sql: "UPDATE sync_log SET seen = min(seen, ?) WHERE seq > (SELECT acked FROM sync_state) AND seen IS NOT NULL",
                    arguments: [position.seq])
            }
        }
    }

    /// Keeps the identity of the hub this replica syncs with.
    public func rememberHub(_ hubID: String) throws(ReplicaError) {
        try write { db in try db.execute(sql: "UPDATE sync_state SET hub_id = ? WHERE hub_id IS NOT ?", arguments: [hubID, hubID]) }
    }

    /// Keeps what a session repaired, for `wirsync status`.
    public func recordRecovery(_ kind: Recovery.Kind, _ message: String) throws(ReplicaError) {
        try write { db in try Self.recordRecovery(kind, message, db: db, now: Int64(Date().timeIntervalSince1970 * 1000)) }
    }

    static func recordRecovery(_ kind: Recovery.Kind, _ message: String, db: Database, now: Int64) throws {
        try db.execute(sql: "INSERT INTO sync_recoveries (at, kind, message) VALUES (?, ?, ?)", arguments: [now, kind.rawValue, message])
        try db.execute(sql: "DELETE FROM sync_recoveries WHERE id <= (SELECT max(id) - 100 FROM sync_recoveries)")
    }

    static func lastRecovery(_ db: Database) throws -> Recovery? {
        try Row.fetchOne(db, sql: "SELECT at, kind, message FROM sync_recoveries ORDER BY id DESC LIMIT 1").flatMap { row in
            Recovery.Kind(rawValue: row["kind"]).map { Recovery(at: row["at"], kind: $0, message: row["message"]) }
        }
    }

    // MARK: Offering again what a restored hub lost

    /// Where `rederive` goes on: after this table id and primary key.
    public struct RowPosition: Hashable, Sendable {
        public var table: Int
        public var pk: String
    }

    /// Changes, re-derived from the version tables and current rows with their original
    /// clocks and origins, for every version in this replica's scope that a hub restored to
    /// `hubSeq` may have lost: versions pulled with a hub sequence above it (or an unknown
    /// one), its own versions newer than `ownAbove` (the newest clock the hub holds from it),
    /// and the versions of its earlier origins. Its pending writes are among them, so that a
    /// row goes whole (their log entries, pushed afterwards, are then duplicates). A deleted
    /// row is offered as its delete only: its values are gone. A row's newer column values
    /// come first, as updates; its insert then carries only the values that are its own
    /// (`Applier.validate`, `partial`). Each change says it saw `hubSeq`.
    ///
    /// - Returns: the changes of up to `limit` rows after `position`, and where to go on (nil: done).
    public func rederive(
        afterHubSeq hubSeq: Int64, ownAbove: HLC, from position: RowPosition?, limit: Int
    ) throws(ReplicaError) -> (changes: [Change], next: RowPosition?) {
        try read { db in
            let origin = try String.fetchOne(db, sql: "SELECT origin FROM sync_state")!
            let earlier = Set(try String.fetchAll(db, sql: "SELECT origin FROM sync_lineage"))
            func lost(_ stamp: Stamp) -> Bool {
                let version = stamp.version
                if version.origin == origin { return version.hlc > ownAbove }
                if earlier.contains(version.origin) { return true }
                return stamp.seq.map { $0 > hubSeq } ?? true
            }
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT tbl, pk, scope FROM sync_rows WHERE (tbl, pk) > (?, ?) ORDER BY tbl, pk LIMIT ?",
                arguments: [position?.table ?? -1, position?.pk ?? "", limit])
            let applier = try Applier(db: db, schema: schema)
            var changes: [Change] = []
            for row in rows {
                guard let table = schema.table(id: row["tbl"]) else { continue }
                let scope: String? = row["scope"]
                if node != Node.hmsi, table.scope != .centre || scope != node { continue }
                let pk: String = row["pk"]
                changes += try applier.rowChanges(table: table, pk: pk, for: .offer, include: lost) { op, stamp, values in
                    Change(
                        seq: 0, table: table.name, pk: pk, op: op, centre: scope, values: values,
                        hlc: stamp.version.hlc, origin: stamp.version.origin, seen: hubSeq)
                }
            }
            for index in changes.indices { changes[index].seq = Int64(index + 1) }
            let next = rows.count < limit ? nil : rows.last.map { RowPosition(table: $0["tbl"], pk: $0["pk"]) }
            return (changes, next)
        }
    }

    /// Takes over the hub's ids for the mirrored conflict records (after it rebuilt those it
    /// had lost), in one transaction. Two mirrored records the hub found to be one race (the
    /// same race recorded before and after a restore) map to one id: one of them is kept.
    public func renumberConflicts(_ ids: [RebuildResponse.Mapping]) throws(ReplicaError) {
        guard ids.contains(where: { $0.old != $0.new }) else { return }
        try write { db in
            // Through negative ids, so that no id is taken twice on the way.
            var taken = Set<Int64>()
            for mapping in ids {
                guard taken.insert(mapping.new).inserted else {
                    try db.execute(sql: "DELETE FROM sync_conflicts WHERE id = ?", arguments: [mapping.old])
                    continue
                }
                try db.execute(sql: "UPDATE sync_conflicts SET id = ? WHERE id = ?", arguments: [-mapping.new, mapping.old])
            }
            try db.execute(sql: "DELETE FROM sync_conflicts WHERE id IN (SELECT -id FROM sync_conflicts WHERE id < 0)")
            try db.execute(sql: "UPDATE sync_conflicts SET id = -id WHERE id < 0")
        }
    }
}
