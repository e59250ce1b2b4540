import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// The merge rule on its own (DESIGN.md, Clock and merge rule), without storage.
@Suite("Merge rule")
struct MergeRuleTests {
    private func stamp(_ millis: Int64, _ origin: String) -> Stamp { Stamp(Version(hlc: HLC(millis: millis), origin: origin)) }

    @Test func newerColumnWriteWinsOlderLoses() {
        var state = Merge.plan(RowVersions(), op: .insert, columns: [1, 2], stamp: stamp(10, "a")).after
        let newer = Merge.plan(state, op: .update, columns: [1], stamp: stamp(20, "b"))
        #expect(newer.won.keys.sorted() == [1])
        state = newer.after
        let older = Merge.plan(state, op: .update, columns: [1, 2], stamp: stamp(15, "c"))
        #expect(older.lost.keys.sorted() == [1])
        #expect(older.won.keys.sorted() == [2], "column 2 still has the insert's older version")
    }

    @Test func equalClocksBreakTiesByOrigin() {
        let base = Merge.plan(RowVersions(), op: .insert, columns: [1], stamp: stamp(10, "a")).after
        let fromB = Merge.plan(base, op: .update, columns: [1], stamp: stamp(20, "b")).after
        let fromHMSI = Merge.plan(fromB, op: .update, columns: [1], stamp: stamp(20, "hmsi"))
        #expect(fromHMSI.won.keys.sorted() == [1], "hmsi > b at the same clock")
        let backToB = Merge.plan(fromHMSI.after, op: .update, columns: [1], stamp: stamp(20, "b"))
        #expect(backToB.lost.keys.sorted() == [1])
    }

    @Test func theSameChangeTwiceIsADuplicate() {
        let inserted = Merge.plan(RowVersions(), op: .insert, columns: [1, 2], stamp: stamp(10, "a"))
        let again = Merge.plan(inserted.after, op: .insert, columns: [1, 2], stamp: stamp(10, "a"))
        #expect(again.isDuplicate)
        #expect(again.changesNothing)
    }

    @Test func deleteAndConcurrentUpdateConvergeInBothOrders() {
        let inserted = Merge.plan(RowVersions(), op: .insert, columns: [1], stamp: stamp(10, "a")).after
        let deleteThenUpdate = Merge.plan(
            Merge.plan(inserted, op: .delete, columns: [], stamp: stamp(30, "b")).after,
            op: .update, columns: [1], stamp: stamp(20, "c")
        ).after
        let updateThenDelete = Merge.plan(
            Merge.plan(inserted, op: .update, columns: [1], stamp: stamp(20, "c")).after,
            op: .delete, columns: [], stamp: stamp(30, "b")
        ).after
        #expect(deleteThenUpdate == updateThenDelete)
        #expect(!deleteThenUpdate.isAlive)
    }

    @Test func aNewerReinsertBringsTheRowBackAndKeepsNewerColumnWrites() {
        var state = Merge.plan(RowVersions(), op: .insert, columns: [1, 2], stamp: stamp(10, "a")).after
        state = Merge.plan(state, op: .delete, columns: [], stamp: stamp(20, "b")).after
        state = Merge.plan(state, op: .update, columns: [2], stamp: stamp(40, "c")).after
        let reinsert = Merge.plan(state, op: .insert, columns: [1, 2], stamp: stamp(30, "a"))
        #expect(reinsert.materializes)
        #expect(reinsert.won.keys.sorted() == [1])
        #expect(reinsert.lost.keys.sorted() == [2])
    }

    /// Canonical state: the same changes in any order give the same row versions.
    @Test(arguments: testSeeds(default: 40))
    func anyOrderGivesTheSameState(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let origins = ["a", "b", "hmsi"]
        var changes: [(Change.Op, [Int], Stamp)] = []
        for index in 0..<12 {
            let op: Change.Op = [.insert, .update, .update, .update, .delete].randomElement(using: &random)!
            let columns = op == .update ? Array(Set((0..<2).map { _ in Int.random(in: 0..<4, using: &random) })) : [0, 1, 2, 3]
            let stamp = Stamp(Version(hlc: HLC(millis: Int64.random(in: 1...20, using: &random), counter: Int64(index)), origin: origins.randomElement(using: &random)!))
            changes.append((op, columns, stamp))
        }
        func state(_ order: [(Change.Op, [Int], Stamp)]) -> RowVersions {
            order.reduce(RowVersions()) { Merge.plan($0, op: $1.0, columns: $1.1, stamp: $1.2).after }
        }
        let reference = state(changes)
        for _ in 0..<5 {
            let shuffled = changes.shuffled(using: &random)
            #expect(state(shuffled) == reference, "seed \(seed)")
            #expect(state(shuffled + shuffled) == reference, "seed \(seed): applying twice changes nothing")
        }
    }
}
