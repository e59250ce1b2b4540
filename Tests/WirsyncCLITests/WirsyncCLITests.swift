import Foundation
import SyncTestSupport
import Testing

/// The `wirsync` binary as operators run it.
@Suite("wirsync command line", .timeLimit(.minutes(5)))
struct WirsyncCLITests {
    let wirsync = builtProduct("wirsync")

    @Test func initCreatesAReplicaAndStatusShowsIt() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("kassel.db")
        let created = try run(wirsync, ["init", "--db", db, "--centre", "landkreis-kassel", "--hub", "https://hub.example"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("Created replica"))

        let status = try run(wirsync, ["status", "--db", db])
        #expect(status.status == 0)
        #expect(status.stdout.contains("landkreis-kassel"))
        #expect(status.stdout.contains("0 changes not yet pushed"))
    }

    @Test func statusJSONHasTheDocumentedKeys() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("fulda.db")
        try runChecked(wirsync, ["init", "--db", db, "--centre", "fulda"])
        try sqlite3(db, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('o', 'fulda', 'Kulturbrücke Fulda', 'Verein');")
        let output = try runChecked(wirsync, ["status", "--db", db, "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(json["centre"] as? String == "fulda")
        #expect(json["schema_version"] as? Int == 2)
        #expect(json["pending"] as? Int == 1)
        #expect(json["cursor"] as? Int == 0)
    }

    @Test func sampleDataPipedIntoSQLite3IsCaptured() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("ruesselsheim.db")
        try runChecked(wirsync, ["init", "--db", db, "--centre", "ruesselsheim-am-main"])
        let sql = try runChecked(wirsync, ["sample", "--centre", "ruesselsheim-am-main", "--rows", "120", "--seed", "5"])
        try sqlite3(db, sql)
        let output = try runChecked(wirsync, ["status", "--db", db, "--json"])
        #expect(output.contains("\"pending\":120"))
    }

    @Test func initRefusesAnExistingReplicaWithAMessage() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("kassel.db")
        try runChecked(wirsync, ["init", "--db", db, "--centre", "kassel"])
        let again = try run(wirsync, ["init", "--db", db, "--centre", "kassel"])
        #expect(again.status == 1)
        #expect(again.stderr == "wirsync: \(db) is already a replica of kassel at schema version 2; nothing to do\n")
    }

    @Test func anUnknownCentreIsAUsageError() throws {
        let directory = try TemporaryDirectory()
        let result = try run(wirsync, ["init", "--db", directory.path("x.db"), "--centre", "kasel"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("kasel is not one of the 33 WIR-Vielfaltszentren"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).isEmpty)
    }

    @Test func aMissingReplicaIsAClearErrorAndNothingIsCreated() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("nowhere.db")
        let result = try run(wirsync, ["status", "--db", db])
        #expect(result.status == 1)
        #expect(result.stderr == "wirsync: no replica at \(db): the file does not exist (create one with `wirsync init`)\n")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test(arguments: ["SQLite file of another program", "spreadsheet"])
    func aFileThatIsNotAReplicaIsAClearErrorAndStaysUntouched(kind: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("other.db")
        if kind == "spreadsheet" {
            try Data("PK\u{3}\u{4}not sqlite at all".utf8).write(to: URL(fileURLWithPath: path))
        } else {
            try sqlite3(path, "CREATE TABLE adressen (name TEXT);")
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let result = try run(wirsync, ["status", "--db", path])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("wirsync: \(path) is not a WIR-Sync replica"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func aBackupThatDoesNotExistIsAClearErrorAndTheReplicaStays() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("kassel.db")
        _ = try runChecked(wirsync, ["init", "--db", db, "--centre", "landkreis-kassel"])
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let missing = directory.path("kassel-montag.db")
        let result = try run(wirsync, ["restore", "--db", db, "--from", missing])
        #expect(result.status == 1)
        #expect(result.stderr == "wirsync: no backup at \(missing): the file does not exist\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
    }

    @Test func aReplicaInADirectoryThatDoesNotExistIsAClearError() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("no-such-folder/kassel.db")
        let result = try run(wirsync, ["init", "--db", db, "--centre", "kassel"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("wirsync: database error: cannot open \(db)"))
    }

    @Test(arguments: [[], ["init"], ["sync"], ["status"], ["conflicts"], ["daemon"], ["verify"], ["backup"], ["restore"], ["sample"]])
    func everyCommandExplainsItself(command: [String]) throws {
        let result = try run(wirsync, command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: wirsync"))
        #expect(result.stdout.count > 200)
    }
}
