import Foundation

/// Seeds for randomised tests: `WIRSYNC_SEEDS=1,2,3` replays chosen seeds (a failing test
/// names its seed); otherwise a fixed set, so CI runs are reproducible.
public func testSeeds(default count: Int, stride: UInt64 = 7919) -> [UInt64] {
    if let list = ProcessInfo.processInfo.environment["WIRSYNC_SEEDS"] {
        return list.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    }
    return (1...UInt64(count)).map { $0 &* stride }
}
