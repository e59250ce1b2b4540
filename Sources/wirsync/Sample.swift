import ArgumentParser
import SampleData
import SyncCore
import WIRSchema

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print generated WIR sample data for one centre as SQL.",
        discussion: """
            Prints INSERT statements (in one transaction) for organisations, projects, \
            volunteers, deployments and KIV strategies, generated from a seed: the same seed \
            gives the same rows. Pipe them into any SQLite tool, e.g.

                wirsync sample --centre landkreis-kassel --rows 200 | sqlite3 kassel.db
            """
    )

    @Option(name: .long, help: ArgumentHelp("The centre the rows belong to.", valueName: "id"))
    var centre: String

    @Option(name: .long, help: "About how many rows to generate in all.")
    var rows = 100

    @Option(name: .long, help: "The seed; the same seed gives the same data.")
    var seed: UInt64 = 1

    func validate() throws {
        guard WIRSchema.centre(id: centre) != nil else {
            throw ValidationError("\(centre) is not one of the 33 WIR-Vielfaltszentren")
        }
        guard rows > 0 else { throw ValidationError("--rows must be positive") }
    }

    func run() throws {
        let data = SampleData(centre: centre, seed: seed, scale: rows)
        print("BEGIN;")
        for row in data.rows() {
            let columns = ["id"] + row.values.keys.sorted()
            let values = [Value.text(row.pk)] + row.values.keys.sorted().map { row.values[$0]! }
            print("INSERT INTO \(row.table) (\(columns.joined(separator: ", "))) VALUES (\(values.map(\.description).joined(separator: ", ")));")
        }
        print("COMMIT;")
    }
}
