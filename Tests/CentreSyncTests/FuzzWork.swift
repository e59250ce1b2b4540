import Foundation
import GRDB
import ReplicaStore
import SampleData
import SyncCore
import SyncTestSupport

/// The random work of the fuzz tests: inserts of generated rows, updates of random columns,
/// deletes and re-inserts, through three kinds of writer.
enum FuzzWork {
    static func insertSQL(_ table: String, _ pk: String, _ values: [String: Value]) -> String {
        let columns = ["id"] + values.keys.sorted()
        let literals = [Value.text(pk)] + values.keys.sorted().map { values[$0]! }
        return "INSERT OR REPLACE INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(literals.map(\.description).joined(separator: ", ")));"
    }

    /// Runs the statements in one transaction through an ordinary connection, the sqlite3
    /// shell or Python, chosen at random; returns how many operations they were.
    static func write(_ statements: [String], to replica: Replica, using random: inout SplitMix64) throws -> Int {
        guard !statements.isEmpty else { return 0 }
        let script = "BEGIN;\n" + statements.joined(separator: "\n") + "\nCOMMIT;"
        switch Int.random(in: 0..<3, using: &random) {
        case 0: try openWriter(replica.path).writeWithoutTransaction { try $0.execute(sql: script) }
        case 1: try sqlite3(replica.path, script)
        default: try pythonSQLite(replica.path, script)
        }
        return statements.count
    }

    /// A round of a node's work on rows it can write: a centre its own, HMSI every centre's.
    static func randomWork(
        centre: String?, replica: Replica, round: Int, seed: UInt64, deleted: inout [String: [(table: String, pk: String)]],
        using random: inout SplitMix64
    ) throws -> [String] {
        let tables = ["projects", "organisations", "volunteers"]
        var statements: [String] = []
        for _ in 0..<(isLongChaosRun ? Int.random(in: 12...40, using: &random) : Int.random(in: 4...14, using: &random)) {
            let table = tables.randomElement(using: &random)!
            let ids = try DatabaseQueue(path: replica.path).read { db in
                try Row.fetchAll(db, sql: "SELECT id, centre_id FROM \(table) ORDER BY id").map { ($0["id"] as String, $0["centre_id"] as String) }
            }.filter { centre == nil || $0.1 == centre }
            let owner = centre ?? ids.randomElement(using: &random)?.1
            switch Int.random(in: 0..<10, using: &random) {
            case 0 where centre != nil:
                let data = SampleData(centre: centre!, seed: seed &* 31 &+ UInt64(round), scale: 200)
                let index = Int.random(in: 0..<data.count(of: table), using: &random)
                let row = data.row(table: table, index: index)
                statements.append(insertSQL(table, "\(row.pk)-\(round)", row.values.filter { $0.key != "organisation_id" }))
            case 1:
                guard let (id, owner) = ids.randomElement(using: &random) else { continue }
                statements.append("DELETE FROM \(table) WHERE id = '\(id)';")
                deleted[owner, default: []].append((table, id))
            case 2:
                guard let owner, let (table, id) = deleted[owner]?.randomElement(using: &random),
                    try DatabaseQueue(path: replica.path).read({ try !Bool.fetchOne($0, sql: "SELECT EXISTS (SELECT 1 FROM \(table) WHERE id = ?)", arguments: [id])! })
                else { continue }
                let row = SampleData(centre: owner, seed: seed, scale: 200).row(table: table, index: Int.random(in: 0..<5, using: &random))
                statements.append(insertSQL(table, id, row.values.filter { $0.key != "organisation_id" }))
            default:
                guard let (id, _) = ids.randomElement(using: &random) else { continue }
                // Only HMSI decides approved_cents (schema/manifest.json).
                let assignments = Self.editable[table]!.filter { centre == nil || $0.0 != "approved_cents" }.shuffled(using: &random)
                    .prefix(Int.random(in: 1...2, using: &random))
                    .map { "\($0.0) = \($0.1(&random).description)" }
                statements.append("UPDATE \(table) SET \(assignments.joined(separator: ", ")) WHERE id = '\(id)';")
            }
        }
        return statements
    }

    typealias Generator = @Sendable (inout SplitMix64) -> Value
    static let editable: [String: [(String, Generator)]] = [
        "projects": [
            ("title", { .text(["Sprachcafé", "Lotsenpool", "Elterntreff", "Theater der Vielfalt"].randomElement(using: &$0)! + " \(Int.random(in: 1...99, using: &$0))") }),
            ("status", { .text(["geplant", "beantragt", "bewilligt", "laufend"].randomElement(using: &$0)!) }),
            ("participants", { .integer(Int64.random(in: 1...500, using: &$0)) }),
            ("approved_cents", { Bool.random(using: &$0) ? .integer(Int64.random(in: 0...10_000_000, using: &$0)) : .null }),
        ],
        "organisations": [
            ("name", { .text(["Kulturbrücke", "Café Ümit", "Привіт e.V.", "مرحبا"].randomElement(using: &$0)! + " \(Int.random(in: 1...9, using: &$0))") }),
            ("city", { Bool.random(using: &$0) ? .text("Gießen") : .null }),
            ("founded_year", { .integer(Int64.random(in: 1950...2025, using: &$0)) }),
        ],
        "volunteers": [
            ("languages", { .text(["de,ar", "de,uk,ru", "de,tr", "de,fa,ps"].randomElement(using: &$0)!) }),
            ("active", { .integer(Int64.random(in: 0...1, using: &$0)) }),
            ("phone", { .text("+49 151 \(Int.random(in: 1_000_000...9_999_999, using: &$0))") }),
        ],
    ]
}
