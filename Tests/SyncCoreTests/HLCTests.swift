import SyncCore
import Testing

@Suite("Hybrid logical clock")
struct HLCTests {
    @Test func packsMillisecondsAndCounterIntoOneInteger() {
        let clock = HLC(millis: 1_790_000_000_123, counter: 7)
        #expect(clock.millis == 1_790_000_000_123)
        #expect(clock.counter == 7)
        #expect(clock.rawValue == 1_790_000_000_123 << 16 | 7)
    }

    @Test func nextFollowsTheWallClockWhenItIsAhead() {
        let last = HLC(millis: 1_000, counter: 5)
        #expect(HLC.next(after: last, wallMillis: 2_000) == HLC(millis: 2_000))
    }

    @Test func nextCountsUpWhenTheWallClockStandsStillOrGoesBack() {
        let last = HLC(millis: 5_000, counter: 3)
        #expect(HLC.next(after: last, wallMillis: 5_000) == HLC(millis: 5_000, counter: 4))
        #expect(HLC.next(after: last, wallMillis: 1_000) == HLC(millis: 5_000, counter: 4))
    }

    @Test func versionsOrderByClockThenOrigin() {
        let early = Version(hlc: HLC(millis: 1), origin: "zzz")
        let late = Version(hlc: HLC(millis: 2), origin: "aaa")
        #expect(early < late)
        let tieA = Version(hlc: HLC(millis: 3), origin: "hmsi")
        let tieB = Version(hlc: HLC(millis: 3), origin: "kassel")
        #expect(tieA < tieB)
        #expect(!(tieB < tieA))
    }
}
