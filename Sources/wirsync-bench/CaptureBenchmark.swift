import ArgumentParser
import Foundation
import GRDB
import ReplicaStore
import SampleData
import SyncCore
import SyncStore
import WIRSchema

/// Capture overhead: the same rows written to a replicated table and to an identical table
/// without triggers, in the same database file, in the same run.
struct CaptureBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Cost of capturing writes: replicated table vs an identical plain table.",
        discussion: """
            Writes N generated projects rows into the replica's projects table (captured) and \
            into a copy of it without triggers (plain), then updates one column of every row in \
            both, alternating which table goes first. Prints the ratio captured/plain:

              capture_overhead_insert          N inserts in one transaction
              capture_overhead_update          N single-row updates by id in one transaction
              capture_overhead_update_bulk     one UPDATE statement touching all N rows
              capture_overhead_insert_txn      inserts, one transaction each (synchronous=NORMAL)
              capture_overhead_update_txn      updates, one transaction each (synchronous=NORMAL)
              capture_fold_ratio               the later fold (clock + versions, at sync time) vs the plain insert
            """
    )

    @Option(help: "Rows per run.") var rows = 10_000
    @Option(help: "Rows for the one-transaction-per-row runs.") var transactionRows = 2_000
    @Option(help: "Runs; the median is reported.") var runs = 5
    @Option(help: "Appended to every figure's name, e.g. _100k.") var suffix = ""
    @Option(help: "Page cache of the writer in KiB (SQLite's default is 2000).") var cacheKib: Int?
    @Flag(help: "Print each run's times to standard error.") var verbose = false

    static let columns = [
        "centre_id", "funding_line_id", "organisation_id", "title", "description", "status", "start_date", "end_date",
        "budget_cents", "requested_cents", "approved_cents", "participants",
    ]

    func run() throws {
        let centre = "landkreis-kassel"
        let data = SampleData(centre: centre, seed: 2026, scale: rows * 10)
        let projects = (0..<rows).map { data.row(table: "projects", index: $0) }
        let arguments = projects.map { row in
            StatementArguments([row.pk.databaseValue] + Self.columns.map { (row.values[$0] ?? .null).databaseValue })
        }
        let updates = projects.enumerated().map { index, row in
            StatementArguments([(index.isMultiple(of: 2) ? "laufend" : "abgeschlossen").databaseValue, row.pk.databaseValue])
        }

        var ratios: [String: [Double]] = [:]
        for run in 0..<runs {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wirsync-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("bench.db").path
            let replica = try Replica.initialise(path: path, node: centre, hubURL: nil, schema: WIRSchema.definition()).0
            // A writer as the sqlite3 shell opens one: foreign keys off, default synchronous.
            var configuration = Configuration()
            configuration.foreignKeysEnabled = false
            if let cacheKib {
                configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -\(cacheKib)") }
            }
            let writer = try DatabaseQueue(path: path, configuration: configuration)
            try writer.write { db in
                let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'projects'")!
                try db.execute(sql: sql.replacingOccurrences(of: "CREATE TABLE projects", with: "CREATE TABLE plain_projects"))
                try db.execute(sql: "CREATE INDEX plain_projects_centre ON plain_projects(centre_id)")
            }
            let tables = run.isMultiple(of: 2) ? ["plain_projects", "projects"] : ["projects", "plain_projects"]
            var seconds: [String: Double] = [:]
            for table in tables {
                let marks = Array(repeating: "?", count: Self.columns.count + 1).joined(separator: ", ")
                let insertSQL = "INSERT INTO \(table) (id, \(Self.columns.joined(separator: ", "))) VALUES (\(marks))"
                let updateSQL = "UPDATE \(table) SET status = ? WHERE id = ?"
                seconds["insert/\(table)"] = try time {
                    try writer.write { db in
                        let statement = try db.makeStatement(sql: insertSQL)
                        for row in arguments { try statement.execute(arguments: row) }
                    }
                }
                seconds["update/\(table)"] = try time {
                    try writer.write { db in
                        let statement = try db.makeStatement(sql: updateSQL)
                        for row in updates { try statement.execute(arguments: row) }
                    }
                }
                seconds["update_bulk/\(table)"] = try time {
                    try writer.write { db in try db.execute(sql: "UPDATE \(table) SET participants = participants + 1") }
                }
                try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
                seconds["insert_txn/\(table)"] = try time {
                    for row in arguments.prefix(transactionRows) {
                        try writer.write { db in
                            try db.cachedStatement(sql: insertSQL.replacingOccurrences(of: "INSERT", with: "INSERT OR REPLACE")).execute(arguments: row)
                        }
                    }
                }
                seconds["update_txn/\(table)"] = try time {
                    for row in projects.prefix(transactionRows) {
                        try writer.write { db in
                            try db.cachedStatement(sql: "UPDATE \(table) SET title = title || '.' WHERE id = ?").execute(arguments: [row.pk])
                        }
                    }
                }
            }
            if verbose {
                FileHandle.standardError.write(Data("run \(run): \(seconds.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.3f", $0.value))" }.joined(separator: " "))\n".utf8))
            }
            let fold = try time { try replica.fold() }
            for kind in ["insert", "update", "update_bulk", "insert_txn", "update_txn"] {
                ratios["capture_overhead_\(kind)", default: []].append(seconds["\(kind)/projects"]! / seconds["\(kind)/plain_projects"]!)
            }
            ratios["capture_fold_ratio", default: []].append(fold / seconds["insert/plain_projects"]!)
        }
        print("capture_rows\(suffix)=\(rows)")
        for name in ratios.keys.sorted() { report(name + suffix, median(ratios[name]!)) }
    }
}
