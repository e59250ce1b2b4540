import GRDB
import Foundation
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing

@Suite("Invariant 6 — bad input changes nothing (replica apply)")
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var change: Change
        var code: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unknown table", change: remote(.insert, "projects; DROP TABLE centres", "p", [:], at: 10), code: "unknown_table"),
        Case(name: "unknown column", change: remote(.update, "organisations", "o1", ["name\" = 'x'; --": .text("x")], at: 10), code: "unknown_column"),
        Case(name: "text into an INTEGER column", change: remote(.update, "organisations", "o1", ["founded_year": .text("1999")], at: 10), code: "invalid_value"),
        Case(name: "a real into an INTEGER column", change: remote(.update, "organisations", "o1", ["founded_year": .real(1.5)], at: 10), code: "invalid_value"),
        Case(name: "NULL into a NOT NULL column", change: remote(.update, "organisations", "o1", ["name": .null], at: 10), code: "invalid_value"),
        Case(name: "insert without a NOT NULL column", change: remote(.insert, "organisations", "o2", ["centre_id": .text(kassel), "name": .text("X")], at: 10), code: "invalid_value"),
        Case(name: "primary key among the values", change: remote(.update, "organisations", "o1", ["id": .text("o9")], at: 10), code: "invalid_change"),
        Case(name: "another centre's row", change: remote(.insert, "organisations", "o3", organisation("X").merging(["centre_id": .text("kassel")]) { $1 }, at: 10, centre: "kassel"), code: "out_of_scope"),
        Case(name: "centre and centre_id disagree", change: remote(.insert, "organisations", "o3", organisation("X").merging(["centre_id": .text("kassel")]) { $1 }, at: 10), code: "invalid_change"),
        Case(name: "centre_id changed", change: remote(.update, "organisations", "o1", ["centre_id": .text("kassel")], at: 10), code: "invalid_change"),
        Case(name: "centre-scoped change without its centre", change: remote(.update, "organisations", "o1", ["name": .text("x")], at: 10, centre: nil), code: "invalid_change"),
        Case(name: "update without values", change: remote(.update, "organisations", "o1", [:], at: 10), code: "invalid_change"),
        Case(name: "delete with values", change: remote(.delete, "organisations", "o1", ["name": .text("x")], at: 10), code: "invalid_change"),
        Case(name: "empty primary key", change: remote(.delete, "organisations", "", at: 10), code: "invalid_change"),
        Case(name: "primary key with a NUL character", change: remote(.delete, "organisations", "o1\u{0}x", at: 10), code: "invalid_change"),
        Case(name: "malformed origin", change: remote(.update, "organisations", "o1", ["name": .text("x")], at: 10, by: "HMSI; --"), code: "invalid_change"),
        Case(name: "zero clock", change: remote(.update, "organisations", "o1", ["name": .text("x")], at: 0), code: "invalid_change"),
        Case(name: "check constraint", change: remote(.update, "organisations", "o1", ["kind": .text("Partei")], at: 10), code: "constraint_violation"),
    ]

    @Test(arguments: cases)
    func isRefusedWithATypedErrorAndNothingApplied(_ testCase: Case) throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        try replica.applyRemote([remote(.insert, "organisations", "o1", organisation("Bestand"), at: 5)], cursor: 1)
        let before = try snapshot(replica.path)
        let good = remote(.insert, "organisations", "o-good", organisation("Gut"), at: 6)
        do {
            try replica.applyRemote([good, testCase.change], cursor: 2)
            Issue.record("\(testCase.name) was applied")
        } catch .apply(let error) {
            #expect(error.code == testCase.code, "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(try snapshot(replica.path) == before)
        #expect(try replica.status().cursor == 1)
    }
}
