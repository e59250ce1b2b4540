import Foundation
import SyncCore
import Testing

@Suite("Values keep their SQLite type across the wire")
struct ValueCodingTests {
    private func roundTrip(_ value: Value) throws -> Value {
        try JSONDecoder().decode(Value.self, from: JSONEncoder().encode(value))
    }

    @Test(arguments: [
        Value.null, .integer(0), .integer(Int64.max), .integer(Int64.min), .integer(9_007_199_254_740_993),
        .real(1.0), .real(-0.5), .real(3.141592653589793), .real(1e300), .real(.infinity), .real(-.infinity),
        .text(""), .text("Gießen – Größe"), .text("مرحبا بكم"), .text("Ласкаво просимо"), .text("\u{0}nul"),
        .blob(Data()), .blob(Data([0, 1, 2, 255])),
    ])
    func survivesJSON(_ value: Value) throws {
        #expect(try roundTrip(value) == value)
    }

    @Test func aRealWithoutFractionStaysReal() throws {
        let json = String(decoding: try JSONEncoder().encode(Value.real(2)), as: UTF8.self)
        #expect(json == #"{"real":2}"#)
        #expect(try roundTrip(.real(2)) == .real(2))
    }

    @Test(arguments: [#"1.5"#, #"true"#, #"[1]"#, #"{"other":1}"#, #"{"blob":"not base64!"}"#, #"{"real":"NaN"}"#])
    func malformedValuesAreRefused(_ json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Value.self, from: Data(json.utf8)) }
    }

    @Test func fitsFollowsStrictColumnTypes() {
        #expect(Value.integer(1).fits(columnType: "REAL"))
        #expect(!Value.real(1).fits(columnType: "INTEGER"))
        #expect(!Value.text("1").fits(columnType: "INTEGER"))
        #expect(Value.blob(Data()).fits(columnType: "ANY"))
        #expect(Value.null.fits(columnType: "TEXT"))
    }
}
