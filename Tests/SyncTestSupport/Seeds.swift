import Foundation

/// Seeds for randomised tests: `WIRSYNC_SEEDS=1,2,3` replays chosen seeds (a failing test
/// names its seed); otherwise a fixed set, so CI runs are reproducible.
public func testSeeds(default count: Int, stride: UInt64 = 7919) -> [UInt64] {
    if let list = ProcessInfo.processInfo.environment["WIRSYNC_SEEDS"] {
        return list.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    }
    return (1...UInt64(count)).map { $0 &* stride }
}

/// Whether this run is the long one (`scripts/chaos` sets `WIRSYNC_CHAOS=long`).
public var isLongChaosRun: Bool { ProcessInfo.processInfo.environment["WIRSYNC_CHAOS"] == "long" }

/// Seeds for a chaos test: a few in `scripts/test`, `long` of them in `scripts/chaos`, or the
/// ones `WIRSYNC_SEEDS` names.
public func chaosSeeds(short: Int, long: Int, stride: UInt64 = 7919) -> [UInt64] {
    testSeeds(default: isLongChaosRun ? long : short, stride: stride)
}

/// One figure line of a chaos run, e.g. `chaos convergence seed=7 converged=1 lost=0`;
/// `scripts/chaos` sums them per attack.
public func reportChaos(_ attack: String, _ figures: KeyValuePairs<String, Int>) {
    print("chaos \(attack) " + figures.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
}
