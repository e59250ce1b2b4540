import Foundation
public import SyncCore

/// The WIR schema and reference fixtures, as built into the binaries from the
/// repository's `schema/` and `fixtures/`.
public enum WIRSchema {
    /// The embedded schema (`schema/`).
    public static func definition() throws(SchemaError) -> SchemaDefinition {
        try SchemaDefinition.load(files: EmbeddedFiles.files)
    }

    /// The 33 WIR-Vielfaltszentren from `fixtures/centres.json`.
    public static let centres: [Centre] = {
        guard let text = EmbeddedFiles.files["fixtures/centres.json"],
            let centres = try? JSONDecoder().decode([Centre].self, from: Data(text.utf8))
        else { preconditionFailure("fixtures/centres.json is missing or malformed in this build") }
        return centres
    }()

    public static func centre(id: String) -> Centre? { centres.first { $0.id == id } }

    /// Rows of a reference table from `fixtures/<table>.json`, or nil if there is no such fixture.
    public static func fixtureRows(table: String) throws -> [[String: Value]]? {
        guard let text = EmbeddedFiles.files["fixtures/\(table).json"] else { return nil }
        return try JSONDecoder().decode([[String: FixtureValue]].self, from: Data(text.utf8))
            .map { $0.mapValues(\.value) }
    }

    /// The outline of Hessen and each centre's seat, from `fixtures/map.json` (the console's map).
    public static let map: HessenMap = {
        guard let text = EmbeddedFiles.files["fixtures/map.json"],
            let map = try? JSONDecoder().decode(HessenMap.self, from: Data(text.utf8))
        else { preconditionFailure("fixtures/map.json is missing or malformed in this build") }
        return map
    }()

    public struct HessenMap: Hashable, Sendable, Codable {
        /// Longitude and latitude pairs, clockwise.
        public var outline: [[Double]]
        public var seats: [Seat]
    }

    public struct Seat: Hashable, Sendable, Codable {
        public var id: String
        public var seat: String
        public var lat: Double
        public var lon: Double
    }

    public struct Centre: Hashable, Sendable, Codable {
        public var id: String
        public var name: String
        public var kind: String
        public var regierungsbezirk: String
    }
}

/// A JSON scalar of a fixture file: a number is an integer when it has no fraction.
private struct FixtureValue: Decodable {
    var value: Value

    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            value = .null
        } else if let text = try? single.decode(String.self) {
            value = .text(text)
        } else if let integer = try? single.decode(Int64.self) {
            value = .integer(integer)
        } else {
            value = .real(try single.decode(Double.self))
        }
    }
}
