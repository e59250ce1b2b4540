import GRDB
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Hybrid logical clock on a replica")
struct ClockTests {
    @Test func theClockStrictlyIncreasesEvenWhenTheWallClockGoesBackwards() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let clock = TestClock(millis: 1_790_000_000_000)
        let writer = try openWriter(replica.path, clock: clock)
        for step in [0, 0, -3_600_000, 5, -86_400_000, 1_000, 0, -1] as [Int64] {
            clock.advance(by: step)
            try writer.write { db in
                let pk = "org-\(clock.nowMillis())-\(Int.random(in: 0..<1_000_000))"
                try insert("organisations", pk: pk, values: organisation("O"), into: db)
            }
        }
        try replica.fold()
        let clocks = try logClocks(replica.path).map { try #require($0) }
        #expect(clocks.count == 8)
        #expect(zip(clocks, clocks.dropFirst()).allSatisfy { $0 < $1 }, "\(clocks)")
        #expect(clocks.first?.millis == 1_790_000_000_000, "the clock starts at the wall time of the write")
        #expect(try replica.status().hlc == clocks.last)
    }

    @Test func aWriteAfterReceivingAClockFarAheadIsStampedAfterIt() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let clock = TestClock(millis: 1_790_000_000_000)
        let aheadMillis: Int64 = 1_790_000_000_000 + 86_400_000
        try replica.applyRemote([remote(.insert, "organisations", "o1", organisation("Far"), at: aheadMillis)], cursor: 1)
        #expect(try replica.status().hlc >= HLC(millis: aheadMillis))

        let writer = try openWriter(replica.path, clock: clock)
        try writer.write { db in try db.execute(sql: "UPDATE organisations SET city = 'Kassel' WHERE id = 'o1'") }
        let batch = try replica.outgoing(limit: 10)
        let local = try #require(batch.changes.first)
        #expect(local.hlc > HLC(millis: aheadMillis))
        #expect(local.values == ["city": .text("Kassel")])
        #expect(local.seen == 1, "the write had seen cursor 1")
    }
}
