import ArgumentParser
import CentreSync
import Foundation
import GRDB
import ReplicaStore
import SampleData
import SyncCore
import SyncStore
import SyncTestSupport

/// Throughput of a whole sync: one centre pushes N captured changes to a hub on loopback
/// (the `wirsync-hub` binary) through libcurl, HMSI pulls them; both against inserting the
/// same rows into plain SQLite in the same run. Then the bytes a typical batch costs.
struct SyncBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Push and pull rates end to end, against a plain insert, and wire bytes per change.",
        discussion: """
            Captures N generated rows (inserts) in a centre's replica, syncs them to the hub \
            (the real wirsync-hub binary on loopback, through the real libcurl transport), then \
            syncs HMSI's replica, which pulls them all. Prints:

              push_changes_per_s       N / the centre's sync (fold, compose, push, acknowledge)
              pull_changes_per_s       N / HMSI's sync (pull, merge, apply)
              raw_insert_rows_per_s    the same rows inserted into a plain SQLite file
              sync_vs_raw_insert       push rate / raw insert rate
              hub_write_floor_changes_per_s
                                       the rows a hub must write per pushed insert (domain
                                       row, version row, hub log entry) and nothing else,
                                       in push-sized transactions: a ceiling for the push
              push_vs_hub_write_floor  push rate / that ceiling
              hub_write_floor_vs_plain that ceiling / raw insert rate
              replica_apply_floor_changes_per_s
                                       the rows a replica must write per pulled insert
                                       (domain row, version row) and nothing else, in
                                       pull-page-sized transactions: a ceiling for the pull
              pull_vs_replica_apply_floor
                                       pull rate / that ceiling
              wire_bytes_per_change    a typical day's batch (updates of one or two columns,
                                       some inserts and deletes): bytes both ways on the TCP
                                       connection, headers and all, per column change
            """
    )

    @Option(help: "Changes (rows inserted at the centre) to sync.") var changes = 100_000
    @Option(help: "Changes in the typical batch for wire_bytes_per_change.") var typicalBatch = 500
    @Option(help: "Appended to every figure's name.") var suffix = ""

    func run() async throws {
        let centre = "landkreis-kassel"
        let deployment = try runningDeployment([centre, Node.hmsi])
        let rows = Array(SampleData(centre: centre, seed: 2026, scale: changes).rows().prefix(changes))

        let plainPath = deployment.directory.path("plain.db")
        try plainCopy(ofTablesIn: deployment.path(centre), at: plainPath)
        let rawSeconds = try time { try insert(rows, into: plainPath) }
        try insert(rows, into: deployment.path(centre))

        let kassel = try Centre(deployment, centre)
        let (pushed, pushSeconds) = try await kassel.sync()
        guard pushed.applied == rows.count else { throw BenchError("the hub applied \(pushed.applied) of \(rows.count) changes") }
        let (pulled, pullSeconds) = try await Centre(deployment, Node.hmsi).sync()
        // HMSI also pulls the reference rows the hub was created with.
        guard pulled.pulled >= rows.count else { throw BenchError("HMSI pulled \(pulled.pulled) of \(rows.count) changes") }

        let floorPath = deployment.directory.path("hub-floor.db")
        try plainCopy(ofTablesIn: deployment.path(centre), at: floorPath, alsoFrom: deployment.hubPath, tables: ["sync_rows", "sync_hub_log"])
        let floorSeconds = try hubWriteFloor(rows, at: floorPath)
        let applyFloorPath = deployment.directory.path("replica-floor.db")
        try plainCopy(ofTablesIn: deployment.path(centre), at: applyFloorPath, alsoFrom: deployment.path(Node.hmsi), tables: ["sync_rows"])
        let applyFloorSeconds = try replicaApplyFloor(rows, at: applyFloorPath)

        let rawRate = Double(rows.count) / rawSeconds
        let pushRate = Double(rows.count) / pushSeconds
        let floorRate = Double(rows.count) / floorSeconds
        report("push_changes_per_s\(suffix)", pushRate, digits: 0)
        report("pull_changes_per_s\(suffix)", Double(pulled.pulled) / pullSeconds, digits: 0)
        report("raw_insert_rows_per_s\(suffix)", rawRate, digits: 0)
        report("sync_vs_raw_insert\(suffix)", pushRate / rawRate)
        report("hub_write_floor_changes_per_s\(suffix)", floorRate, digits: 0)
        report("push_vs_hub_write_floor\(suffix)", pushRate / floorRate)
        report("hub_write_floor_vs_plain\(suffix)", floorRate / rawRate)
        let pullRate = Double(pulled.pulled) / pullSeconds, applyFloorRate = Double(rows.count) / applyFloorSeconds
        report("replica_apply_floor_changes_per_s\(suffix)", applyFloorRate, digits: 0)
        report("pull_vs_replica_apply_floor\(suffix)", pullRate / applyFloorRate)

        try await wireBytes(deployment, centre: centre, existing: rows)
    }

    /// The writes a hub cannot leave out for each pushed insert, and nothing else: the
    /// domain row, its version row and its hub log entry, one transaction per push batch of
    /// 500, on a connection set up as the hub's. No HTTP, no JSON reading, no version reads,
    /// no merge: a ceiling for the push rate on this machine. Returns the seconds it took.
    private func hubWriteFloor(_ rows: [SampleData.Row], at path: String) throws -> Double {
        try writeFloor(rows, at: path, transaction: 500, log: true)
    }

    /// The writes a replica cannot leave out for each pulled insert: the domain row and its
    /// version row, one transaction per pull page of 1,000: a ceiling for the pull rate.
    private func replicaApplyFloor(_ rows: [SampleData.Row], at path: String) throws -> Double {
        try writeFloor(rows, at: path, transaction: 1000, log: false)
    }

    private func writeFloor(_ rows: [SampleData.Row], at path: String, transaction: Int, log withLog: Bool) throws -> Double {
        let pool = try StoreConnection.openPool(path: path)
        return try time {
            for start in stride(from: 0, to: rows.count, by: transaction) {
                try pool.write { db in
                    var domain: [String: (RawStatement, [String])] = [:]
                    let version = try RawStatement(db, sql: "INSERT INTO sync_rows (tbl, pk, scope, alive, base_hlc, base_node, base_seq) VALUES (?, ?, ?, 1, ?, 1, ?)")
                    // The hub log entry as the hub's layout writes one: a row's key and version, no values.
                    let log = withLog
                        ? try RawStatement(db, sql: "INSERT INTO sync_hub_log (seq, tbl, pk, centre, op, origin, hlc, seen, at) VALUES (?, ?, ?, ?, 1, 1, ?, 0, 0)")
                        : nil
                    for index in start..<min(start + transaction, rows.count) {
                        let row = rows[index]
                        if domain[row.table] == nil {
                            let (sql, columns) = insertSQL(for: row)
                            domain[row.table] = (try RawStatement(db, sql: sql), columns)
                        }
                        let (insert, columns) = domain[row.table]!
                        let table = Value.integer(Int64(SampleData.tables.firstIndex(of: row.table)! + 1)), pk = Value.text(row.pk)
                        let centre = row.values[Node.centreColumn] ?? .null, hlc = Value.integer(Int64(index + 1) << 16)
                        try insert.execute([pk] + columns.map { row.values[$0] ?? .null })
                        try version.execute([table, pk, centre, hlc, .integer(Int64(index + 1))])
                        try log?.execute([.integer(Int64(index + 1)), table, pk, centre, hlc])
                    }
                }
            }
        }
    }

    /// Bytes on the wire per column change for a typical batch, counted by a relay between
    /// the centre and the hub.
    private func wireBytes(_ deployment: Deployment, centre: String, existing rows: [SampleData.Row]) async throws {
        let proxy = try FaultProxy(upstreamPort: deployment.hubPort)
        defer { proxy.stop() }
        let path = deployment.path(centre)
        let projects = rows.filter { $0.table == "projects" }.map(\.pk)
        let deployments = rows.filter { $0.table == "deployments" }.map(\.pk)
        let updates = typicalBatch * 8 / 10, inserts = typicalBatch * 15 / 100, deletes = typicalBatch - updates - inserts
        guard projects.count >= updates, deployments.count >= deletes else {
            throw BenchError("a typical batch of \(typicalBatch) needs more rows than \(rows.count)")
        }
        var sql = ["BEGIN;"]
        for (index, pk) in projects.prefix(updates).enumerated() {
            sql.append(index % 10 < 7
                ? "UPDATE projects SET participants = participants + 1 WHERE id = '\(pk)';"
                : "UPDATE projects SET status = 'abgeschlossen', end_date = '2026-11-30' WHERE id = '\(pk)';")
        }
        for pk in deployments.suffix(deletes) { sql.append("DELETE FROM deployments WHERE id = '\(pk)';") }
        sql.append("COMMIT;")
        try sqlite3(path, sql.joined(separator: "\n"))
        let fresh = SampleData(centre: centre, seed: 7, scale: max(inserts * 20, 100))
        try insert((0..<inserts).map { fresh.row(table: "volunteers", index: $0) }, into: path)

        let kassel = try Centre(deployment, centre, hubURL: "http://127.0.0.1:\(proxy.port)")
        let batch = try kassel.replica.outgoing(limit: typicalBatch * 2)
        let columnChanges = batch.changes.reduce(0) { $0 + max($1.values.count, 1) }
        let (synced, _) = try await kassel.sync()
        let bytes = proxy.bytesForwarded
        report("wire_bytes_per_change\(suffix)", Double(bytes.toHub + bytes.toClient) / Double(columnChanges), digits: 1)
        report("wire_batch_changes\(suffix)", Double(batch.changes.count), digits: 0)
        report("wire_batch_column_changes\(suffix)", Double(columnChanges), digits: 0)
        report("wire_batch_pushes\(suffix)", Double(synced.pushBatches), digits: 0)
    }
}
