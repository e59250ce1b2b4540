import ArgumentParser
import Foundation

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirsync-bench",
        abstract: "WIR-Sync benchmarks; each prints name=value lines, ratios measured in the same run.",
        subcommands: [CaptureBenchmark.self, SyncBenchmark.self, ScaleBenchmark.self, CentresBenchmark.self, HistoryBenchmark.self, StoreBenchmark.self]
    )
}

/// Times `body` once, in seconds.
func time(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return seconds(since: start)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func report(_ name: String, _ value: Double, digits: Int = 2) {
    print("\(name)=\(String(format: "%.\(digits)f", value))")
}
