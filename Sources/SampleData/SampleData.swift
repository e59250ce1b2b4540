import Foundation
public import SyncCore

/// Plausible, deterministic WIR sample data for one centre, at any size.
///
/// Every row is a pure function of `(seed, centre, table, index)`, so the generator holds
/// no state: a million rows cost no more memory than ten, any row can be produced on its
/// own, and references (a deployment's volunteer, a project's Träger) point at rows that
/// exist at the same scale.
///
/// ```swift
/// let data = SampleData(centre: "landkreis-kassel", seed: 7, scale: 1_000)
/// for row in data.rows() { … row.table, row.pk, row.values … }
/// ```
public struct SampleData: Sendable {
    /// One generated row of a domain table.
    public struct Row: Hashable, Sendable {
        public var table: String
        public var pk: String
        /// Every column except the primary key `id`.
        public var values: [String: Value]
    }

    /// How many rows of each table `scale` rows make.
    public struct Counts: Hashable, Sendable {
        public var organisations, projects, volunteers, deployments, kivStrategies, courses: Int

        public init(scale: Int) {
            let scale = max(scale, 5)
            organisations = max(1, scale / 20)
            projects = max(1, scale / 10)
            volunteers = max(1, scale / 5)
            kivStrategies = max(1, scale / 100)
            courses = max(1, scale / 100)
            deployments = scale - organisations - projects - volunteers - kivStrategies - courses
        }

        public var total: Int { organisations + projects + volunteers + deployments + kivStrategies + courses }
    }

    public let centre: String
    public let seed: UInt64
    public let counts: Counts

    public init(centre: String, seed: UInt64, scale: Int) {
        self.centre = centre
        self.seed = seed
        self.counts = Counts(scale: scale)
    }

    /// The tables in an order that respects their references.
    public static let tables = ["organisations", "projects", "volunteers", "deployments", "kiv_strategies", "courses"]

    /// All rows, table by table, generated lazily.
    public func rows() -> some Sequence<Row> {
        Self.tables.lazy.flatMap { table in (0..<count(of: table)).lazy.map { row(table: table, index: $0) } }
    }

    public func count(of table: String) -> Int {
        switch table {
        case "organisations": counts.organisations
        case "projects": counts.projects
        case "volunteers": counts.volunteers
        case "deployments": counts.deployments
        case "kiv_strategies": counts.kivStrategies
        case "courses": counts.courses
        default: 0
        }
    }

    /// The primary key of row `index` of `table`: a version-4 UUID derived from the seed.
    public func id(table: String, index: Int) -> String {
        var random = generator(table: table + "#id", index: index)
        return uuid(&random)
    }

    /// Row `index` of `table`.
    public func row(table: String, index: Int) -> Row {
        var random = generator(table: table, index: index)
        var values: [String: Value] = ["centre_id": .text(centre)]
        switch table {
        case "organisations": organisation(&random, into: &values)
        case "projects": project(&random, into: &values)
        case "volunteers": volunteer(index: index, into: &values)
        case "deployments": deployment(&random, into: &values)
        case "kiv_strategies": kivStrategy(&random, into: &values)
        case "courses": course(&random, into: &values)
        default: preconditionFailure("no sample data for table \(table)")
        }
        return Row(table: table, pk: id(table: table, index: index), values: values)
    }

    // MARK: Tables

    private var place: String {
        let name = centre.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-")
        return name.replacingOccurrences(of: "Landkreis-", with: "")
    }

    private func organisation(_ random: inout SplitMix64, into values: inout [String: Value]) {
        let (name, kind) = Words.organisations.randomElement(using: &random)!
        values["name"] = .text("\(name) \(place)")
        values["kind"] = .text(kind)
        values["city"] = .text(place)
        values["contact_email"] = .text("kontakt@\(name.lowercased().filter(\.isLetter).prefix(12)).example")
        values["founded_year"] = .integer(Int64.random(in: 1950...2024, using: &random))
        values["logo"] =
            Int.random(in: 0..<4, using: &random) == 0
            ? .blob(Data([0x89, 0x50, 0x4E, 0x47] + (0..<Int.random(in: 12...60, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }))
            : .null
    }

    private func project(_ random: inout SplitMix64, into values: inout [String: Value]) {
        let (line, titles, share) = Words.projectsByFundingLine.randomElement(using: &random)!
        let year = Int.random(in: 2023...2026, using: &random)
        let budgetEuros = Int64.random(in: 20...600, using: &random) * 250
        let requested = Int64(Double(budgetEuros) * share * Double.random(in: 0.6...1.0, using: &random))
        let status = Words.projectStatuses.randomElement(using: &random)!
        values["funding_line_id"] = .text(line)
        values["organisation_id"] =
            Int.random(in: 0..<3, using: &random) == 0
            ? .null : .text(id(table: "organisations", index: Int.random(in: 0..<counts.organisations, using: &random)))
        values["title"] = .text("\(titles.randomElement(using: &random)!) \(year)")
        values["description"] = .text(Words.projectDescriptions.randomElement(using: &random)!)
        values["status"] = .text(status)
        values["start_date"] = .text(String(format: "%04d-%02d-01", year, Int.random(in: 1...12, using: &random)))
        values["end_date"] = .text(String(format: "%04d-12-31", year + Int.random(in: 0...1, using: &random)))
        values["budget_cents"] = .integer(budgetEuros * 100)
        values["requested_cents"] = .integer(requested * 100)
        // Decided by HMSI (schema/manifest.json, hmsi_only): a centre's rows leave it empty.
        values["approved_cents"] = .null
        values["participants"] = .integer(Int64.random(in: 5...400, using: &random))
    }

    private func volunteer(index: Int, into values: inout [String: Value]) {
        var random = generator(table: "volunteers", index: index)
        let (given, family) = Words.names.randomElement(using: &random)!
        let role = Int.random(in: 0..<3, using: &random) == 0 ? "Laiendolmetschende" : "Integrationslotse"
        values["role"] = .text(role)
        values["given_name"] = .text(given.randomElement(using: &random)!)
        values["family_name"] = .text(family.randomElement(using: &random)!)
        values["languages"] = .text(languages(ofVolunteer: index).joined(separator: ","))
        let qualification = ["keine", "Basisqualifizierung", "Basisqualifizierung", "Vertiefungsseminar"].randomElement(using: &random)!
        values["qualification"] = .text(qualification)
        values["qualified_on"] =
            qualification == "keine"
            ? .null
            : .text(String(format: "%04d-%02d-%02d", Int.random(in: 2016...2025, using: &random), Int.random(in: 1...12, using: &random), Int.random(in: 1...28, using: &random)))
        values["phone"] = .text("+49 \(Int.random(in: 151...179, using: &random)) \(Int.random(in: 1_000_000...9_999_999, using: &random))")
        values["email"] = .null
        values["active"] = .integer(Int.random(in: 0..<8, using: &random) == 0 ? 0 : 1)
    }

    /// The languages volunteer `index` speaks; deployments pick theirs from here.
    public func languages(ofVolunteer index: Int) -> [String] {
        var random = generator(table: "volunteers#languages", index: index)
        var languages = ["de"]
        for _ in 0..<Int.random(in: 1...2, using: &random) {
            let language = Words.languages.randomElement(using: &random)!
            if !languages.contains(language) { languages.append(language) }
        }
        return languages
    }

    private func deployment(_ random: inout SplitMix64, into values: inout [String: Value]) {
        let volunteer = Int.random(in: 0..<counts.volunteers, using: &random)
        values["volunteer_id"] = .text(id(table: "volunteers", index: volunteer))
        values["project_id"] =
            Bool.random(using: &random)
            ? .text(id(table: "projects", index: Int.random(in: 0..<counts.projects, using: &random))) : .null
        values["date"] = .text(String(format: "%04d-%02d-%02d", Int.random(in: 2024...2026, using: &random), Int.random(in: 1...12, using: &random), Int.random(in: 1...28, using: &random)))
        values["hours"] = .real(Double(Int.random(in: 1...12, using: &random)) / 2)
        values["language"] = .text(languages(ofVolunteer: volunteer).dropFirst().randomElement(using: &random) ?? "de")
        values["setting"] = .text(Words.settings.randomElement(using: &random)!)
        values["note"] = Int.random(in: 0..<4, using: &random) == 0 ? .text(Words.notes.randomElement(using: &random)!) : .null
    }

    private func kivStrategy(_ random: inout SplitMix64, into values: inout [String: Value]) {
        let year = Int.random(in: 2019...2025, using: &random)
        values["kommune"] = .text(Words.kommunen.randomElement(using: &random)!)
        let population = Int64.random(in: 3_000...50_000, using: &random)
        values["population"] = .integer(population)
        values["partner_kommunen"] =
            population < 10_000 ? .text(Words.kommunen.shuffled(using: &random).prefix(2).joined(separator: ",")) : .null
        values["start_date"] = .text(String(format: "%04d-%02d-01", year, Int.random(in: 1...12, using: &random)))
        values["end_date"] = .text(String(format: "%04d-%02d-01", year + 1, Int.random(in: 1...6, using: &random)))
        values["grant_eur"] = .integer(Int64.random(in: 5...20, using: &random) * 1000)
        values["status"] = .text(["beantragt", "bewilligt", "laufend", "beschlossen", "abgebrochen"].randomElement(using: &random)!)
    }

    /// A MitSprache – Deutsch4U course (schema version 2), run by one of the centre's organisations.
    private func course(_ random: inout SplitMix64, into values: inout [String: Value]) {
        let level = ["A1", "A2", "B1"].randomElement(using: &random)!
        let womenOnly = Int.random(in: 0..<3, using: &random) == 0
        let kind = ["Vormittagskurs", "Abendkurs", "Kurs mit Kinderbetreuung", "Alltagsdeutsch", "Deutsch im Beruf"].randomElement(using: &random)!
        values["organisation_id"] = .text(id(table: "organisations", index: Int.random(in: 0..<counts.organisations, using: &random)))
        values["title"] = .text("MitSprache – Deutsch4U \(level): \(womenOnly ? "Frauenkurs, " : "")\(kind) \(place)")
        values["level"] = .text(level)
        let year = Int.random(in: 2024...2026, using: &random)
        let month = Int.random(in: 1...9, using: &random)
        values["start_date"] = .text(String(format: "%04d-%02d-01", year, month))
        values["end_date"] = .text(String(format: "%04d-%02d-28", year, month + 3))
        values["hours"] = .integer(Int64([40, 60, 80, 100].randomElement(using: &random)!))
        values["participants"] = .integer(Int64.random(in: 6...18, using: &random))
        values["women_only"] = .integer(womenOnly ? 1 : 0)
    }

    // MARK: Randomness

    private func generator(table: String, index: Int) -> SplitMix64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(centre)/\(table)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        var mixer = SplitMix64(seed: seed ^ hash)
        return SplitMix64(seed: mixer.next() &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
    }

    private func uuid(_ random: inout SplitMix64) -> String {
        let high = random.next()
        let low = random.next()
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        var uuid = bytes
        uuid[6] = uuid[6] & 0x0F | 0x40
        uuid[8] = uuid[8] & 0x3F | 0x80
        let hex = uuid.map { String(format: "%02x", $0) }.joined()
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }
}

/// A small, fast, seedable generator (SplitMix64); the same seed gives the same numbers everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
