import GRDB
import Foundation
import ReplicaStore
import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// Three replicas apply the same random set of changes in different orders, batch splits
/// and with duplicates, and end identical, value for value and version for version.
@Suite("Invariant 2 — convergence of remote apply (seeded property)")
struct ConvergencePropertyTests {
    @Test(arguments: testSeeds(default: 12, stride: 104_729))
    func threeReplicasApplyingTheSameChangesInAnyOrderEndIdentical(seed: UInt64) throws {
        var generator = RandomChanges(seed: seed)
        let changes = (0..<80).map { generator.change(index: $0) }
        var random = generator.random
        let directory = try TemporaryDirectory()
        let replicas = try (1...3).map { try makeReplica(kassel, in: directory, file: "r\($0).db") }

        try replicas[0].applyRemote(changes, cursor: 1)
        try applyInBatches(Array(changes.reversed()), to: replicas[1], using: &random)
        let shuffled = changes.shuffled(using: &random)
        let withDuplicates = shuffled + shuffled.filter { _ in Bool.random(using: &random) }
        try applyInBatches(withDuplicates, to: replicas[2], using: &random)

        let reference = try snapshot(replicas[0].path)
        for replica in replicas.dropFirst() {
            let other = try snapshot(replica.path)
            #expect(other == reference, "seed \(seed): \(replica.path) differs\n\(other)\n---\n\(reference)")
        }
        #expect(try replicas.allSatisfy { try $0.status().pending == 0 }, "seed \(seed): nothing applied was captured")
    }

    private func applyInBatches(_ changes: [Change], to replica: Replica, using random: inout SplitMix64) throws {
        var rest = changes[...]
        var cursor: Int64 = 0
        while !rest.isEmpty {
            let size = Int.random(in: 1...15, using: &random)
            cursor += 1
            try replica.applyRemote(Array(rest.prefix(size)), cursor: cursor)
            rest = rest.dropFirst(size)
        }
    }
}

/// Random but valid changes to a few rows of one centre table and one reference table,
/// each with a unique version.
struct RandomChanges {
    var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    private static let texts = ["Kulturbrücke", "Café Ümit", "مرحبا", "Привіт", "", "O'Neil \"quoted\""]
    private static let tables: [(name: String, columns: [String])] = [
        ("organisations", ["centre_id", "name", "kind", "city", "contact_email", "founded_year", "logo"]),
        ("funding_lines", ["name", "name_en", "max_share", "max_amount_eur", "basis"]),
    ]

    mutating func change(index: Int) -> Change {
        let table = Self.tables.randomElement(using: &random)!
        let pk = "row-\(Int.random(in: 0..<5, using: &random))"
        let roll = Int.random(in: 0..<10, using: &random)
        let op: Change.Op = roll < 3 ? .insert : roll < 8 ? .update : .delete
        var values: [String: Value] = [:]
        switch op {
        case .insert:
            for column in table.columns { values[column] = value(table.name, column) }
        case .update:
            let count = Int.random(in: 1...3, using: &random)
            for column in table.columns.filter({ $0 != "centre_id" }).shuffled(using: &random).prefix(count) {
                values[column] = value(table.name, column)
            }
        case .delete:
            break
        }
        return remote(
            op, table.name, pk, values, at: Int64.random(in: 1...30, using: &random), counter: Int64(index),
            by: ["hmsi", kassel, "kassel"].randomElement(using: &random)!)
    }

    private mutating func value(_ table: String, _ column: String) -> Value {
        switch (table, column) {
        case (_, "centre_id"): .text(kassel)
        case (_, "name"), (_, "name_en"), (_, "basis"): text()
        case (_, "kind"): .text(["Verein", "Verband", "Migrantenorganisation"].randomElement(using: &random)!)
        case (_, "city"): Bool.random(using: &random) ? text() : .null
        case (_, "contact_email"): Bool.random(using: &random) ? .text("a@b.example") : .null
        case (_, "founded_year"): [Value.integer(Int64.max), .integer(-1), .integer(1999), .null].randomElement(using: &random)!
        case (_, "max_share"): .real([0.5, 1.0, 0.1, 1e-9].randomElement(using: &random)!)
        case (_, "max_amount_eur"): Bool.random(using: &random) ? .integer(Int64.random(in: 0...100_000, using: &random)) : .null
        default: blob()
        }
    }

    private mutating func text() -> Value { .text(Self.texts.randomElement(using: &random)!) }

    private mutating func blob() -> Value {
        guard Bool.random(using: &random) else { return .null }
        let count = Int.random(in: 0...8, using: &random)
        return .blob(Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }))
    }
}
