import Foundation
import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// The hand-written JSON of the hot path reads back, through the standard decoder, to
/// exactly what was written: the protocol is unchanged by the speed-up.
@Suite("JSONWriter writes what JSONDecoder reads back")
struct JSONWriterTests {
    private static let values: [Value] = [
        .null, .integer(0), .integer(-1), .integer(Int64.max), .integer(Int64.min), .integer(9_007_199_254_740_993),
        .real(2), .real(-0.5), .real(-0.0), .real(3.141592653589793), .real(1e300), .real(.leastNonzeroMagnitude), .real(1e-7), .real(1e16),
        .real(.infinity), .real(-.infinity), .text(""), .text("Gießen – Größe"), .text("مرحبا بكم"), .text("\u{0}nul\u{1F}\t\n\r"),
        .text(#"quote " backslash \ slash / "#), .text("🇩🇪 emoji"), .blob(Data()), .blob(Data([0, 1, 2, 255])),
    ]

    @Test(arguments: values)
    func aValueReadsBack(_ value: Value) throws {
        var writer = JSONWriter()
        writer.value(value)
        #expect(try JSONDecoder().decode(Value.self, from: writer.data) == value)
    }

    @Test func randomBatchesReadBack() throws {
        for seed in testSeeds(default: 20) {
            var random = SplitMix64(seed: seed)
            let changes = (0..<50).map { index in
                Change(
                    seq: Int64(index + 1), table: "projects", pk: "pk-\(random.next())", op: [.insert, .update, .delete].randomElement(using: &random)!,
                    centre: Bool.random(using: &random) ? "fulda" : nil,
                    values: Dictionary(uniqueKeysWithValues: (0..<Int.random(in: 0...6, using: &random)).map { column in
                        ("c\(column)", Self.values.randomElement(using: &random)!)
                    }),
                    hlc: HLC(rawValue: Int64.random(in: 1...Int64.max, using: &random)), origin: "fulda", seen: Int64.random(in: 0...1000, using: &random))
            }
            let request = PushRequest(replicaID: "replica \"one\"", lastSeq: 60, changes: changes)
            #expect(try JSONDecoder().decode(PushRequest.self, from: request.json()) == request, "seed \(seed)")

            let page = PullPage(
                changes: changes.map { change in
                    var writer = JSONWriter()
                    writer.values(change.values)
                    var bare = change
                    bare.values = [:]
                    return PullPage.Entry(change: bare, valuesJSON: String(decoding: writer.bytes, as: UTF8.self))
                },
                conflicts: [], nextCursor: 99, more: true, hubTime: 1_700_000_000_000)
            #expect(try JSONDecoder().decode(PullResponse.self, from: page.json()) == page.decoded(), "seed \(seed)")
            #expect(try page.decoded().changes == changes, "seed \(seed)")
        }
    }
}
