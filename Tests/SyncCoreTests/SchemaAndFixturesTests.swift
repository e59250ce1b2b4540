import Foundation
import SyncCore
import Testing
import WIRSchema

@Suite("WIR schema and fixtures")
struct SchemaAndFixturesTests {
    @Test func theEmbeddedSchemaDeclaresEveryDomainTableWithItsScope() throws {
        let schema = try WIRSchema.definition()
        #expect(schema.name == "wir")
        #expect(schema.version == schema.migrations.count)
        #expect(schema.scope(of: "centres") == .reference)
        #expect(schema.scope(of: "funding_lines") == .reference)
        for table in ["organisations", "projects", "volunteers", "deployments", "kiv_strategies"] {
            #expect(schema.scope(of: table) == .centre, "\(table)")
        }
    }

    @Test func nodeAndOriginNamesFollowTheirRule() {
        for good in ["hmsi", "landkreis-kassel", "landkreis-kassel.0", "hmsi.a1b2", "k.0123456789abcdef", String(repeating: "a", count: 64)] {
            #expect(Origin.isWellFormed(good), "\(good)")
        }
        for bad in [
            "", ".0", "kassel.", "kassel.0.1", "kassel..0", "-kassel", "kassel-.0", "Kassel", "kassel.A", "kassel.0123456789abcdefg",
            "kässel", "kassel.ä", String(repeating: "a", count: 65), String(repeating: "a", count: 60) + ".0000",
        ] {
            #expect(!Origin.isWellFormed(bad), "\(bad)")
        }
        #expect(Node.isWellFormed("wetteraukreis") && !Node.isWellFormed("wetteraukreis.0") && !Node.isWellFormed("a b"))
    }

    @Test func theEmbeddedSchemaEqualsTheRepositorysSchemaDirectory() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schema")
        #expect(try SchemaDefinition.load(directory: directory) == WIRSchema.definition())
    }

    @Test func thereAreThe33CentresWithSlugIDs() {
        let centres = WIRSchema.centres
        #expect(centres.count == 33)
        #expect(Set(centres.map(\.id)).count == 33)
        #expect(centres.filter { $0.kind == "Landkreis" }.count == 21)
        #expect(centres.filter { $0.kind == "kreisfreie Stadt" }.count == 5)
        #expect(centres.filter { $0.kind == "Sonderstatusstadt" }.count == 7)
        #expect(Set(centres.map(\.regierungsbezirk)) == ["Darmstadt", "Gießen", "Kassel"])
        for (name, id) in [("Landkreis Kassel", "landkreis-kassel"), ("Kassel", "kassel"),
                           ("Rüsselsheim am Main", "ruesselsheim-am-main"), ("Main-Kinzig-Kreis", "main-kinzig-kreis")] {
            #expect(centres.first { $0.name == name }?.id == id)
        }
        for centre in centres {
            let slug = centre.name.lowercased()
                .replacingOccurrences(of: "ä", with: "ae").replacingOccurrences(of: "ö", with: "oe")
                .replacingOccurrences(of: "ü", with: "ue").replacingOccurrences(of: "ß", with: "ss")
                .split { !$0.isASCII || !($0.isLetter || $0.isNumber) }.joined(separator: "-")
            #expect(centre.id == slug)
            #expect(Node.isWellFormed(centre.id))
        }
    }

    @Test func fundingLinesHaveAShareAndASource() throws {
        let lines = try #require(try WIRSchema.fixtureRows(table: "funding_lines"))
        #expect(lines.count == 9)
        for line in lines {
            let share: Double? = switch line["max_share"] {
            case .real(let share): share
            case .integer(let share): Double(share)
            default: nil
            }
            #expect(share.map { $0 > 0 && $0 <= 1 } == true, "\(line)")
            #expect(line["basis"] != nil)
        }
    }

    @Test func aManifestWithoutItsMigrationsIsRefused() {
        let files = ["schema/manifest.json": #"{"name":"x","version":2,"tables":[]}"#, "schema/migrations/0001_x.sql": ""]
        #expect(throws: SchemaError.self) { try SchemaDefinition.load(files: files) }
    }
}
