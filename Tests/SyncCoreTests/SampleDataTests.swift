import SampleData
import SyncCore
import Testing

@Suite("Sample data")
struct SampleDataTests {
    @Test func theSameSeedGivesTheSameRows() {
        let first = Array(SampleData(centre: "landkreis-kassel", seed: 42, scale: 200).rows())
        let second = Array(SampleData(centre: "landkreis-kassel", seed: 42, scale: 200).rows())
        let other = Array(SampleData(centre: "landkreis-kassel", seed: 43, scale: 200).rows())
        #expect(first == second)
        #expect(first != other)
        #expect(first.count == 200)
    }

    @Test func rowsBelongToTheirCentreAndReferenceRowsThatExist() {
        let data = SampleData(centre: "kassel", seed: 1, scale: 500)
        let rows = Array(data.rows())
        let ids = Set(rows.map(\.pk))
        #expect(ids.count == rows.count, "primary keys are unique")
        for row in rows {
            #expect(row.values["centre_id"] == .text("kassel"))
            for reference in ["volunteer_id", "project_id", "organisation_id"] {
                if case .text(let id) = row.values[reference] { #expect(ids.contains(id), "\(row.table).\(reference)") }
            }
        }
        for row in rows where row.table == "deployments" {
            guard case .text(let language) = row.values["language"] else { Issue.record("no language"); continue }
            #expect(language.count == 2)
        }
    }

    @Test func aMillionRowsNeedNoMoreThanOne() {
        let data = SampleData(centre: "fulda", seed: 9, scale: 1_000_000)
        #expect(data.counts.total == 1_000_000)
        let last = data.row(table: "deployments", index: data.counts.deployments - 1)
        #expect(last.values["hours"] != nil)
    }
}
