import Foundation
import HubStore
import SyncCore
import SyncTestSupport
import Testing
import WIRSchema

/// The `wirsync-hub` binary as HMSI runs it, with curl as a foreign client.
@Suite("wirsync-hub command line", .timeLimit(.minutes(5)))
struct WirsyncHubCLITests {
    let hub = builtProduct("wirsync-hub")

    @Test func initProvisionListAndRevoke() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("hub.db")
        let created = try runChecked(hub, ["init", "--db", db])
        #expect(created.contains("Loaded 33 centres and 9 funding lines"))
        let again = try run(hub, ["init", "--db", db])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists"))

        let token = try runChecked(hub, ["centre", "add", "landkreis-kassel", "--db", db])
        #expect(token.hasPrefix("wir1.landkreis-kassel."))
        #expect(token.split(separator: "\n").count == 1, "the token alone on standard output")
        let twice = try run(hub, ["centre", "add", "landkreis-kassel", "--db", db])
        #expect(twice.status == 1)
        #expect(twice.stderr.contains("already has a token"))
        let unknown = try run(hub, ["centre", "add", "atlantis", "--db", db])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "wirsync-hub: atlantis is not one of the 33 WIR-Vielfaltszentren (nor hmsi)\n")

        let list = try runChecked(hub, ["centre", "list", "--db", db, "--json"])
        let clients = try JSONDecoder().decode([ClientInfo].self, from: Data(list.utf8))
        #expect(clients.count == 34)
        #expect(clients.first { $0.node == "landkreis-kassel" }?.token == "active")
        #expect(clients.first { $0.node == "hmsi" }?.token == "none")

        try runChecked(hub, ["centre", "revoke", "landkreis-kassel", "--db", db])
        let revoked = try runChecked(hub, ["centre", "list", "--db", db, "--json"])
        #expect(revoked.contains(#""node":"landkreis-kassel","open_conflicts":0,"token":"revoked""#))
    }

    @Test func serveAnswersCurlAndStopsCleanlyOnSIGTERM() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("hub.db")
        try runChecked(hub, ["init", "--db", db])
        let token = try runChecked(hub, ["centre", "add", "kassel", "--db", db]).trimmingCharacters(in: .newlines)
        let server = try BackgroundProcess(hub, ["serve", "--db", db, "--port", "0"])
        let port = try server.waitForOutput { line in line.split(separator: ":").last.flatMap { Int($0) } }
        let base = "http://127.0.0.1:\(port)"

        let health = try runChecked("/usr/bin/curl", ["-s", "-i", "\(base)/healthz"])
        #expect(health.contains("200 OK"))
        #expect(health.contains("WIRSync-Hub-Time:"))
        let pull = try runChecked("/usr/bin/curl", [
            "-s", "--compressed", "-H", "Authorization: Bearer \(token)", "-H", "WIRSync-Schema: wir/1", "\(base)/v1/pull?limit=5",
        ])
        let response = try JSONDecoder().decode(PullResponse.self, from: Data(pull.utf8))
        #expect(response.changes.count == 5)
        #expect(response.more)
        let denied = try runChecked("/usr/bin/curl", ["-s", "-w", "\n%{http_code}", "-X", "POST", "-d", "{}", "\(base)/v1/push"])
        #expect(denied.hasSuffix("\n401"))
        #expect(denied.contains(#""code":"unauthorized""#))

        #expect(server.stop(signal: SIGTERM) == 0)
        #expect(server.standardError.contains("stopped"))
    }

    /// docs/recovery.md: after a clean stop the hub store is one file, so a plain copy of
    /// it (the backup an operator makes with `cp`) holds everything the hub acknowledged.
    @Test func aStoppedHubLeavesOneFileThatAPlainCopyTakesWhole() throws {
        let deployment = try Deployment()
        let nodes = ["fulda", "kassel", Node.hmsi]
        for node in nodes { try deployment.centre(node) }
        for round in 0..<6 {
            try deployment.startHub(port: round == 0 ? 0 : deployment.hubPort)
            for node in nodes where node != Node.hmsi {
                try sqlite3(deployment.path(node), try runChecked(deployment.wirsync, ["sample", "--centre", node, "--rows", "40", "--seed", "\(round)"]))
            }
            for node in nodes { #expect(try deployment.sync(node).succeeded) }
            deployment.stopHub()
            let wal = try? FileManager.default.attributesOfItem(atPath: deployment.hubPath + "-wal")[.size] as? Int
            #expect((wal ?? 0) == 0, "round \(round): the WAL is folded into the store on stop, \(wal ?? 0) bytes left")
            let copy = deployment.directory.path("copy-\(round).db")
            try FileManager.default.copyItem(atPath: deployment.hubPath, toPath: copy)
            #expect(try snapshot(copy, versions: false) == snapshot(deployment.path(Node.hmsi), versions: false), "round \(round)")
        }
    }

    @Test func conflictsCanBeListedShownAndResolvedFromTheCommandLine() async throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("hub.db")
        let store = try await HubStore.create(path: db, schema: WIRSchema.definition()) { try WIRSchema.fixtureRows(table: $0) }
        let now = SystemClock().nowMillis()
        func push(_ node: String, _ change: Change) async throws {
            _ = try await store.push(
                caller: Caller(centre: node, token: 0), origin: nil, request: PushRequest(replicaID: node, lastSeq: change.seq, changes: [change]),
                skewBoundMillis: 300_000)
        }
        try await push("kassel", Change(
            seq: 1, table: "organisations", pk: "o1", op: .insert, centre: "kassel",
            values: ["centre_id": .text("kassel"), "name": .text("Start"), "kind": .text("Verein")],
            hlc: HLC(millis: now - 3000), origin: "kassel", seen: 0))
        try await push("kassel", Change(
            seq: 2, table: "organisations", pk: "o1", op: .update, centre: "kassel", values: ["name": .text("Zentrum")],
            hlc: HLC(millis: now - 1000), origin: "kassel", seen: 0))
        try await push(Node.hmsi, Change(
            seq: 1, table: "organisations", pk: "o1", op: .update, centre: "kassel", values: ["name": .text("HMSI")],
            hlc: HLC(millis: now - 2000), origin: Node.hmsi, seen: 0))

        let list = try runChecked(hub, ["conflicts", "list", "--db", db, "--open"])
        #expect(list.contains("organisations o1.name"))
        #expect(list.contains("won: 'Zentrum' by kassel, lost: 'HMSI' by hmsi"))
        let shown = try runChecked(hub, ["conflicts", "show", "1", "--db", db])
        #expect(shown.contains("resolve with: wirsync-hub conflicts resolve 1 --keep winner|loser"))
        let resolved = try runChecked(hub, ["conflicts", "resolve", "1", "--keep", "loser", "--by", "referat-ii-4", "--db", db])
        #expect(resolved.contains("kept the loser"))
        #expect(try runChecked(hub, ["conflicts", "list", "--db", db, "--open"]).contains("No conflicts open"))
        #expect(try readRow(db, "organisations", "o1")?["name"] == .text("HMSI"))
        let missing = try run(hub, ["conflicts", "show", "99", "--db", db])
        #expect(missing.status == 1)
        #expect(missing.stderr == "wirsync-hub: there is no conflict 99\n")
    }

    @Test func aMissingStoreIsAClearErrorAndNothingIsCreated() throws {
        let directory = try TemporaryDirectory()
        let db = directory.path("nope.db")
        for command in [["status"], ["centre", "list"], ["replica", "list"], ["conflicts", "list"], ["serve"], ["backup", "--to", directory.path("copy.db")]] {
            let result = try run(hub, command + ["--db", db])
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.hasPrefix("wirsync-hub: no hub store at \(db)"), "\(command): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: db))
        #expect(!FileManager.default.fileExists(atPath: directory.path("copy.db")))
        let restore = try run(hub, ["restore", "--db", db, "--from", directory.path("montag.db")])
        #expect(restore.status == 1)
        #expect(restore.stderr == "wirsync-hub: no backup at \(directory.path("montag.db")): the file does not exist\n")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test(arguments: [
        [], ["init"], ["centre"], ["centre", "add"], ["replica"], ["replica", "add"], ["replica", "list"], ["replica", "revoke"], ["serve"],
        ["conflicts", "resolve"], ["status"], ["backup"], ["restore"],
    ])
    func everyCommandExplainsItself(command: [String]) throws {
        let result = try run(hub, command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: wirsync-hub"))
    }
}

@Suite("systemd units")
struct SystemdUnitTests {
    /// Each unit's ExecStart names a real subcommand with options the binary accepts.
    @Test(arguments: ["wirsync-daemon@.service", "wirsync-hub.service"])
    func theUnitsStartCommandsTheBinariesAccept(unit: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/\(unit)")
        let text = try String(contentsOf: url, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        var words = line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        let binary = builtProduct(URL(fileURLWithPath: words.removeFirst()).lastPathComponent)
        let result = try run(binary, words.map { $0.replacingOccurrences(of: "%i", with: "landkreis-kassel") } + ["--help"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(text.contains("KillSignal=SIGTERM"))
    }

    /// Each unit is confined to what the program needs (docs/security.md): systemd rates its
    /// exposure 2.0 or below, files it creates are owner-only (UMask=0077), and
    /// `systemd-analyze verify` finds nothing wrong (the unit checked with ExecStart on the
    /// built binary, since verify looks for it). scripts/setup installs systemd-analyze.
    @Test(arguments: ["wirsync-daemon@.service", "wirsync-hub.service"])
    func theUnitsAreConfinedAndVerify(unit: String) throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/\(unit)")
        let text = try String(contentsOf: source, encoding: .utf8)
        #expect(text.contains("\nUMask=0077\n"))
        let analyze = "/usr/bin/systemd-analyze"
        let security = try run(analyze, ["security", "--offline=yes", source.path])
        let overall = try #require(security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(security.stdout)\(security.stderr)")
        let score = try #require(overall.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(overall)")
        #expect(score <= 2.0, "\(unit): \(overall)")

        let directory = try TemporaryDirectory("wirsync-units")
        let binary = unit.hasPrefix("wirsync-hub") ? "wirsync-hub" : "wirsync"
        try text.replacingOccurrences(of: "/usr/local/bin/\(binary) ", with: builtProduct(binary) + " ")
            .write(toFile: directory.path(unit), atomically: true, encoding: .utf8)
        let verify = try run(analyze, ["verify", directory.path(unit.replacingOccurrences(of: "@.", with: "@landkreis-kassel."))])
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(unit): \(verify.stdout)\(verify.stderr)")
    }
}
