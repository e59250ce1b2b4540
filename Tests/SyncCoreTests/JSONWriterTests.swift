import Foundation
import SampleData
import SyncCore
import SyncTestSupport
import Testing

/// The hand-written JSON of the hot path reads back, through the standard decoder, to
/// exactly what was written, and the hand-written reader reads what either writer wrote:
/// the protocol is unchanged by the speed-up.
@Suite("JSONWriter and JSONReader speak what JSONEncoder and JSONDecoder speak")
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

    private static func randomChanges(_ random: inout SplitMix64) -> [Change] {
        (0..<50).map { index in
                Change(
                    seq: Int64(index + 1), table: "projects", pk: "pk-\(random.next())", op: [.insert, .update, .delete].randomElement(using: &random)!,
                    centre: Bool.random(using: &random) ? "fulda" : nil,
                    values: Dictionary(uniqueKeysWithValues: (0..<Int.random(in: 0...6, using: &random)).map { column in
                        ("c\(column)", Self.values.randomElement(using: &random)!)
                    }),
                    hlc: HLC(rawValue: Int64.random(in: 1...Int64.max, using: &random)), origin: "fulda", seen: Int64.random(in: 0...1000, using: &random))
        }
    }

    @Test func randomBatchesReadBack() throws {
        for seed in testSeeds(default: 20) {
            var random = SplitMix64(seed: seed)
            let changes = Self.randomChanges(&random)
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
                conflicts: [], nextCursor: 99, nextCheck: Fingerprint(rawValue: Int64(bitPattern: seed)), more: true, hubTime: 1_700_000_000_000)
            #expect(try JSONDecoder().decode(PullResponse.self, from: page.json()) == page.decoded(), "seed \(seed)")
            #expect(try page.decoded().changes == changes, "seed \(seed)")
        }
    }

    @Test func theReaderReadsBothWriters() throws {
        for seed in testSeeds(default: 20) {
            var random = SplitMix64(seed: seed)
            let request = PushRequest(replicaID: "r/1", lastSeq: 60, changes: Self.randomChanges(&random))
            #expect(try PushRequest(json: request.json()) == request, "seed \(seed)")
            #expect(try PushRequest(json: JSONEncoder().encode(request)) == request, "seed \(seed)")
            let conflict = ConflictRecord(
                id: 1, table: "projects", pk: "p", centre: "fulda", column: "title",
                winner: ConflictSide(value: .text("a"), origin: "hmsi", hlc: HLC(rawValue: 2)),
                loser: ConflictSide(value: .real(1.5), origin: "fulda", hlc: HLC(rawValue: 1)), recordedAt: 3)
            let page = PullResponse(changes: request.changes, conflicts: [conflict], nextCursor: 7, more: false, hubTime: 9)
            #expect(try PullResponse(json: JSONEncoder().encode(page)) == page, "seed \(seed)")
        }
    }

    @Test(arguments: [
        #"{"replica_id":"r","last_seq":1,"changes":["#, "DROP TABLE centres;", "", #"{"replica_id":"r","last_seq":1e999,"changes":[]}"#,
        #"{"replica_id":"r","last_seq":1.0,"changes":[]}"#, #"{"replica_id":"r","last_seq":9223372036854775808,"changes":[]}"#,
        #"{"replica_id":"r","last_seq":01,"changes":[]}"#, #"{"replica_id":"r","last_seq":1,"changes":[]} {}"#,
        #"{"replica_id":"r","changes":[]}"#, #"{"replica_id":"a\x","last_seq":1,"changes":[]}"#,
        #"{"replica_id":"\ud800","last_seq":1,"changes":[]}"#, "{\"replica_id\":\"a\u{1}\",\"last_seq\":1,\"changes\":[]}",
        #"{"replica_id":"r","last_seq":1,"changes":[{"seq":1,"table":"t","pk":"p","op":"upsert","values":{},"hlc":1,"origin":"o","seen":0}]}"#,
        #"{"replica_id":"r","last_seq":1,"changes":[{"seq":1,"table":"t","pk":"p","op":"insert","values":{"a":1.5},"hlc":1,"origin":"o","seen":0}]}"#,
        #"{"replica_id":"r","last_seq":1,"changes":[{"seq":1,"table":"t","pk":"p","op":"insert","values":{"a":{"blob":"!"}},"hlc":1,"origin":"o","seen":0}]}"#,
        #"{"replica_id":"r","last_seq":1,"changes":[{"seq":1,"table":"t","pk":"p","op":"insert","values":{"a":{"x":1}},"hlc":1,"origin":"o","seen":0}]}"#,
        #"{"replica_id":"r","last_seq":1,"changes":[{"seq":1,"table":"t","pk":"p","op":"insert","values":{},"hlc":"morgen","origin":"o","seen":0}]}"#,
        String(repeating: "[", count: 100_000),
        #"{"replica_id":"r","last_seq":1,"changes":[], "extra":"# + String(repeating: "[", count: 100_000),
    ])
    func malformedBodiesAreRefused(_ json: String) {
        #expect(throws: JSONReadError.self) { try PushRequest(json: Data(json.utf8)) }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONReadError.self) { try PushRequest(json: Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])) }
        #expect(throws: JSONReadError.self) {
            try PushRequest(json: Data(#"{"replica_id":""#.utf8) + Data([0xC3, 0x28]) + Data(#"","last_seq":1,"changes":[]}"#.utf8))
        }
    }

    @Test func unknownKeysAreSkippedAndEscapesRead() throws {
        let json = #"{"x":[1,{"y":null}],"replica_id":"\u00e4\ud83c\udde9\/\n","last_seq":-0,"changes":[],"z":true}"#
        let request = try PushRequest(json: Data(json.utf8))
        #expect(request.replicaID == "ä\u{1F1E9}/\n")
        #expect(request.lastSeq == 0)
    }
}
