import CentreSync
import Foundation
import GRDB
import HubStore
import ReplicaStore
import SampleData
import SyncCore
import SyncStore
import SyncTestSupport
import Testing
import WIRSchema

/// Invariants 2, 3, 4 and 7 under random work and random operations: three centres and HMSI
/// write through three kinds of writer and sync in random orders, partly; between the
/// rounds, at random, a replica's file is backed up, a PC is replaced by a new replica, a
/// replica is put back from an older copy, a replica's file is copied to a second PC that
/// goes on beside it, and the hub is put back from an older backup.
///
/// At the end everyone syncs until nothing changes. Then:
/// - every replica equals the hub in its scope, row by row and by digest (`verify`);
/// - nothing the hub holds was applied twice;
/// - nothing was lost: at every operation, what the surviving files held (the hub, the other
///   replicas, the copy put back) is a lower bound, version by version, of the end state —
///   except what a later operation destroyed while it was the only file to hold it (a PC
///   replaced before it could offer again what a restored hub lost);
/// - every conflict record is of a race between two real writes, with their values, and is
///   held once; with no hub restore in a run, the records are exactly those the independent
///   model predicts (a hub restore can add and lose records: docs/replicas-and-restores.md).
@Suite("Invariants 2, 3, 4 and 7 — convergence fuzz with replaced PCs, restored replicas and restored hubs", .serialized, .timeLimit(.minutes(30)))
struct RecoveryFuzzTests {
    static let centres = ["landkreis-kassel", "fulda", "wetteraukreis"]

    @Test(arguments: chaosSeeds(short: 3, long: 200, stride: 6007))
    func replacementsAndRestoresLoseNothingAndApplyNothingTwice(seed: UInt64) async throws {
        let world = try await World()
        let recorder = PushRecorder()
        var random = SplitMix64(seed: seed)
        var ops = 0
        var counts: [String: Int] = [:]
        for (index, centre) in Self.centres.enumerated() {
            try world.add(centre)
            let data = SampleData(centre: centre, seed: seed &+ UInt64(index), scale: 15)
            ops += try FuzzWork.write(data.rows().map { FuzzWork.insertSQL($0.table, $0.pk, $0.values) }, to: world.replica(centre), using: &random)
        }
        try world.add(Node.hmsi)

        var deleted: [String: [(table: String, pk: String)]] = [:]
        for round in 0..<(isLongChaosRun ? 12 : 8) {
            for (index, slot) in world.slots.keys.sorted().enumerated() {
                let centre = world.slots[slot]!
                let work = try FuzzWork.randomWork(
                    centre: centre == Node.hmsi ? nil : centre, replica: world.replica(slot), round: round, seed: seed &+ UInt64(index),
                    deleted: &deleted, using: &random)
                ops += try FuzzWork.write(work, to: world.replica(slot), using: &random)
            }
            for slot in world.slots.keys.sorted().shuffled(using: &random) where Bool.random(using: &random) || round % 3 == 2 {
                let budget = Int.random(in: 0..<5, using: &random) == 0 ? Int.random(in: 1...4, using: &random) : Int.max
                _ = try? await world.sync(slot, recorder: recorder, budget: budget)
            }
            let operation = try await world.operate(using: &random)
            counts[operation, default: 0] += 1
        }
        for _ in 0..<4 {
            for slot in world.slots.keys.sorted() { try await world.sync(slot, recorder: recorder) }
        }

        var converged = 1
        for (slot, centre) in world.slots.sorted(by: { $0.key < $1.key }) {
            let scope = centre == Node.hmsi ? nil : centre
            let replica = try world.replica(slot)
            let same = try snapshot(replica.path, versions: false, centre: scope) == snapshot(world.store.path, versions: false, centre: scope)
            let digest = try await world.store.digest(node: centre).tables == replica.digest()
            if !same {
                let here = try snapshot(replica.path, versions: true, centre: scope), hub = try snapshot(world.store.path, versions: true, centre: scope)
                for table in here.tables.keys.sorted() where here.tables[table] != hub.tables[table] {
                    let mine = Set(here.tables[table]!.map { $0.map(\.description).joined(separator: "|") })
                    let theirs = Set((hub.tables[table] ?? []).map { $0.map(\.description).joined(separator: "|") })
                    print("DIFF \(slot) \(table) only here: \(mine.subtracting(theirs).sorted().prefix(4))")
                    print("DIFF \(slot) \(table) only at hub: \(theirs.subtracting(mine).sorted().prefix(4))")
                }
            }
            #expect(same && digest, "seed \(seed): \(slot) differs from the hub; trace:\n\(world.trace.joined(separator: "\n"))")
            #expect(try replica.status().pending == 0, "seed \(seed): \(slot) has changes left")
            if !(same && digest) { converged = 0 }
        }
        let duplicated = try duplicateApplications(hub: world.store.path)
        #expect(duplicated == 0, "seed \(seed): changes applied twice")
        let final = try VersionState(world.store.path)
        let parents = try await Dictionary(uniqueKeysWithValues: world.store.replicas().compactMap { replica in
            replica.forkedFrom.map { (replica.origin, $0) }
        })
        var lost: [String] = []
        for (index, bound) in world.bounds.enumerated() {
            let destroyedLater = world.bounds[(index + 1)...].map { $0.destroyed.notHeld(by: $0.survivors, forks: parents) }
            lost += final.missing(bound.survivors, forks: parents, excusing: destroyedLater)
        }
        #expect(lost.isEmpty, "seed \(seed): held by a surviving file, missing at the end: \(lost.prefix(5)); trace:\n\(world.trace.joined(separator: "\n"))")

        // Conflict records: once each, of real writes, and (without a hub restore) as predicted.
        let records = try await world.store.conflicts()
        let races = records.map { "\($0.table) \($0.pk) \($0.column ?? "(row)") \($0.winner.origin)@\($0.winner.hlc) \($0.loser.origin)@\($0.loser.hlc)" }
        #expect(Set(races).count == races.count, "seed \(seed): a conflict recorded twice")
        // Every time a version travelled: pushed, and offered again after a restore. A pushed
        // insert carries the row's values as they were when it was sent (later writes' among
        // them, which travel again with those writes); offered again, only its own.
        let written = Dictionary(
            grouping: recorder.pushes.flatMap(\.request.changes) + recorder.offered, by: { "\($0.origin)@\($0.hlc.rawValue) \($0.table) \($0.pk)" })
        // Both sides are writes somebody made, with a value they carried (the winner's reads
        // NULL where a later delete took the row's values).
        let invented = records.filter { record in
            guard let column = record.column else { return false }
            return [(record.winner, true), (record.loser, false)].contains { side, isWinner in
                guard side.origin != HubStore.origin else { return false }
                let sent = written["\(side.origin)@\(side.hlc.rawValue) \(record.table) \(record.pk)"] ?? []
                if isWinner, side.value == .null, !sent.isEmpty { return false }
                return !sent.contains { change in change.values[column].map { $0 == side.value } ?? true }
            }
        }
        let writes = invented.prefix(3).flatMap { record in
            [record.winner, record.loser].map { side in
                let sent = written["\(side.origin)@\(side.hlc.rawValue) \(record.table) \(record.pk)"] ?? []
                return "\(side.origin)@\(side.hlc) sent \(sent.map { "\($0.op) \($0.values[record.column ?? ""].map(\.description) ?? "-")" })"
            }
        }
        #expect(
            invented.isEmpty,
            "seed \(seed): conflict records of writes nobody made: \(invented.prefix(3)); \(writes); trace:\n\(world.trace.joined(separator: "\n"))")
        var unexpected = 0, missing = 0
        if counts["hub-restore", default: 0] == 0 {
            let check = try await HubModel(store: world.store).replay(recorder.pushes)
            #expect(check.missingConflicts.isEmpty, "seed \(seed): lost without a conflict record: \(check.missingConflicts.prefix(5))")
            #expect(check.unexpectedConflicts.isEmpty, "seed \(seed): records the model does not predict: \(check.unexpectedConflicts.prefix(5))")
            #expect(check.wrongCells.isEmpty, "seed \(seed): cells whose final value differs from the model: \(check.wrongCells.prefix(5))")
            (unexpected, missing) = (check.unexpectedConflicts.count, check.missingConflicts.count + check.wrongCells.count)
        }
        reportChaos("recovery", [
            "seed": Int(truncatingIfNeeded: seed), "ops": ops, "converged": converged, "lost": lost.count + missing, "duplicated": duplicated,
            "replacements": counts["replace", default: 0], "replica_restores": counts["replica-restore", default: 0],
            "copies": counts["copy", default: 0], "hub_restores": counts["hub-restore", default: 0], "conflicts": records.count,
            "unexpected": unexpected, "invented": invented.count,
        ])
    }
}

/// A hub and the replicas of the centres, as files the fuzz can copy, replace and put back.
final class World: @unchecked Sendable {
    let directory: TemporaryDirectory
    private(set) var store: HubStore
    private var tokens: [String: String] = [:]
    /// Replica slot (a PC) → its centre; slot names are `<centre>` and `<centre>~<n>`.
    private(set) var slots: [String: String] = [:]
    private var files: [String: String] = [:]
    private var backups: [String: [String]] = [:]
    private var hubBackups: [String] = []
    /// At each destructive operation: what the surviving files held, and what the file it
    /// destroyed held.
    private(set) var bounds: [(survivors: VersionState, destroyed: VersionState)] = []
    /// What happened, in order: operations and repairs (printed when a check fails).
    private(set) var trace: [String] = []
    private var made = 0

    init() async throws {
        directory = try TemporaryDirectory("wirsync-recovery-fuzz")
        trace.append("files in \(directory.path(""))")
        store = try await HubStore.create(path: directory.path("hub.db"), schema: WIRSchema.definition()) { try WIRSchema.fixtureRows(table: $0) }
        try holdHistory(hub: store.path)
        for centre in RecoveryFuzzTests.centres + [Node.hmsi] { tokens[centre] = try await store.addClient(centre) }
    }

    private func newFile() -> String {
        made += 1
        return directory.path("replica-\(made).db")
    }

    /// A new replica of `centre` in slot `slot` (default: the centre's own).
    func add(_ centre: String, slot: String? = nil) throws {
        let path = newFile()
        _ = try Replica.initialise(path: path, node: centre, hubURL: nil, schema: WIRSchema.definition())
        slots[slot ?? centre] = centre
        files[slot ?? centre] = path
    }

    func replica(_ slot: String) throws -> Replica { try Replica.open(path: files[slot]!) }

    @discardableResult
    func sync(_ slot: String, recorder: PushRecorder, budget: Int = .max) async throws -> SyncReport {
        let transport = recorder.wrap(InMemoryTransport(store: store, token: tokens[slots[slot]!]!), node: slots[slot]!, requests: budget)
        do {
            let report = try await SyncSession(replica: try replica(slot), transport: transport, limits: SyncLimits(batchChanges: 20, pullLimit: 30)).run()
            trace.append("sync \(slot) as \(try replica(slot).status().origin): pushed \(report.pushed) pulled \(report.pulled)" + (report.recovery.map { "; \($0)" } ?? ""))
            return report
        } catch {
            let recovery = (try? replica(slot).status().lastRecovery).flatMap { $0 }
            trace.append("sync \(slot) failed: \(error)" + (recovery.map { "; last repair: \($0.message)" } ?? ""))
            throw error
        }
    }

    /// One operation chosen at random; returns its name.
    func operate(using random: inout SplitMix64) async throws -> String {
        let slot = slots.keys.sorted().randomElement(using: &random)!
        let operation = try await operate(on: slot, using: &random)
        if operation != "none" { trace.append("\(operation) \(slot)") }
        return operation
    }

    private func operate(on slot: String, using random: inout SplitMix64) async throws -> String {
        let centre = slots[slot]!
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            let copy = newFile()
            try StoreFiles.backup(files[slot]!, to: copy)
            backups[slot, default: []].append(copy)
            return "replica-backup"
        case 1:
            let copy = directory.path("hub-backup-\(hubBackups.count).db")
            _ = try HubStore.backup(path: store.path, to: copy)
            hubBackups.append(copy)
            return "hub-backup"
        case 2...3 where backups[slot] != nil:
            // The PC's file is put back from one of its older copies (the copy survives, the file it replaces does not).
            let copy = backups[slot]!.randomElement(using: &random)!
            try recordBound(without: slot, plus: [copy])
            try StoreFiles.restore(files[slot]!, from: copy)
            return "replica-restore"
        case 4:
            // The PC breaks; a new one takes its place, with the centre's token.
            try recordBound(without: slot)
            try? FileManager.default.removeItem(atPath: files[slot]!)
            try add(centre, slot: slot)
            return "replace"
        case 5 where slots.count < 7:
            // The file is copied to a second PC, and both are used from now on.
            let path = newFile()
            try StoreFiles.backup(files[slot]!, to: path)
            let second = "\(centre)~\(made)"
            slots[second] = centre
            files[second] = path
            return "copy"
        case 6...7 where !hubBackups.isEmpty:
            let copy = hubBackups.randomElement(using: &random)!
            try recordBound(without: nil, plus: [copy], withoutHub: true)
            try store.close()
            try StoreFiles.restore(store.path, from: copy)
            store = try HubStore.open(path: store.path)
            return "hub-restore"
        default:
            return "none"
        }
    }

    /// The versions the files surviving an operation hold: every replica but `slot`, the hub
    /// (unless it is the one put back), and `extra` copies.
    private func recordBound(without slot: String?, plus extra: [String] = [], withoutHub: Bool = false) throws {
        var paths = files.filter { $0.key != slot }.map(\.value) + extra
        if !withoutHub { paths.append(store.path) }
        let survivors = try paths.map(VersionState.init).reduce(VersionState()) { $0.joined($1) }
        bounds.append((survivors, try VersionState(slot.map { files[$0]! } ?? store.path)))
    }
}

/// The versions a store holds, by row and column: the deletion register of every row and
/// the version of every column's value (its override, or the row's base).
struct VersionState {
    private struct Key: Hashable { var table, pk: String; var column: Int? }
    private var registers: [Key: (version: Version, alive: Bool)] = [:]
    private var columns: [Key: Version] = [:]

    init() {}

    init(_ path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        try DatabaseQueue(path: path, configuration: configuration).read { db in
            for row in try Row.fetchAll(db, sql: """
                SELECT t.name AS tbl, r.pk, r.alive, r.reg_hlc, rn.name AS reg, r.base_hlc, bn.name AS base
                FROM sync_rows r JOIN sync_tables t ON t.id = r.tbl
                LEFT JOIN sync_nodes rn ON rn.id = r.reg_node LEFT JOIN sync_nodes bn ON bn.id = r.base_node
                """)
            {
                let key = Key(table: row["tbl"], pk: row["pk"], column: nil)
                if let hlc: Int64 = row["reg_hlc"], let origin: String = row["reg"] {
                    registers[key] = (Version(hlc: HLC(rawValue: hlc), origin: origin), row["alive"])
                }
                if let hlc: Int64 = row["base_hlc"], let origin: String = row["base"] {
                    let columnsOfTable = try Int.fetchAll(
                        db, sql: "SELECT c.ord FROM sync_columns c JOIN sync_tables t ON t.id = c.tbl WHERE t.name = ? AND c.retired = 0",
                        arguments: [key.table])
                    for ordinal in columnsOfTable {
                        columns[Key(table: key.table, pk: key.pk, column: ordinal)] = Version(hlc: HLC(rawValue: hlc), origin: origin)
                    }
                }
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT t.name AS tbl, c.pk, c.col, c.hlc, n.name AS node FROM sync_cols c
                JOIN sync_tables t ON t.id = c.tbl JOIN sync_nodes n ON n.id = c.node
                """)
            {
                columns[Key(table: row["tbl"], pk: row["pk"], column: row["col"])] = Version(hlc: HLC(rawValue: row["hlc"]), origin: row["node"])
            }
        }
    }

    /// The newer of each version here and in `other`.
    func joined(_ other: VersionState) -> VersionState {
        var joined = self
        for (key, register) in other.registers where joined.registers[key].map({ $0.version < register.version }) ?? true {
            joined.registers[key] = register
        }
        for (key, version) in other.columns where joined.columns[key].map({ $0 < version }) ?? true {
            joined.columns[key] = version
        }
        return joined
    }

    /// What `bound` holds that this state has neither itself nor superseded: a register or a
    /// column whose version here is older or absent, unless a newer deletion of the row took it.
    /// A fork takes its file's writes under its new name with the same clock (docs/replicas-
    /// and-restores.md): such a version stands for the one of the origin it was forked from.
    ///
    /// - Parameters:
    ///   - forks: each forked origin's former origin.
    ///   - excusing: states whose versions do not count as lost (what a destroyed file alone held).
    func missing(_ bound: VersionState, forks: [String: String], excusing: [VersionState] = []) -> [String] {
        var missing: [String] = []
        for (key, register) in bound.registers
        where !holdsRegister(key, register.version, forks) && !excusing.contains(where: { $0.holdsRegister(key, register.version, forks) }) {
            missing.append("\(key.table) \(key.pk): register \(register.version)")
        }
        for (key, version) in bound.columns
        where !holdsColumn(key, version, forks) && !excusing.contains(where: { $0.holdsColumn(key, version, forks) }) {
            missing.append("\(key.table) \(key.pk) column \(key.column ?? -1): \(version)")
        }
        return missing
    }

    /// The part of this state that `other` does not hold.
    func notHeld(by other: VersionState, forks: [String: String]) -> VersionState {
        var rest = VersionState()
        rest.registers = registers.filter { !other.holdsRegister($0.key, $0.value.version, forks) }
        rest.columns = columns.filter { !other.holdsColumn($0.key, $0.value, forks) }
        return rest
    }

    private func holdsRegister(_ key: Key, _ version: Version, _ forks: [String: String]) -> Bool {
        Self.covers(registers[key]?.version, version, forks)
    }

    /// Whether this state holds `version` of a column, or a newer deletion of its row took it.
    private func holdsColumn(_ key: Key, _ version: Version, _ forks: [String: String]) -> Bool {
        if Self.covers(columns[key], version, forks) { return true }
        guard let row = registers[Key(table: key.table, pk: key.pk, column: nil)] else { return false }
        return !row.alive && row.version > version
    }

    private static func covers(_ here: Version?, _ version: Version, _ forks: [String: String]) -> Bool {
        guard let here else { return false }
        if here >= version { return true }
        var origin = here.origin
        while here.hlc == version.hlc, let parent = forks[origin] {
            if parent == version.origin { return true }
            origin = parent
        }
        return false
    }
}
