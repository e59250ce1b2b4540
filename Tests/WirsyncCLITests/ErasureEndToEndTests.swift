import Foundation
import SyncCore
import SyncTestSupport
import Testing

/// Invariant 8, as it happens: a volunteer's distinctive values written with the sqlite3
/// shell on two PCs of a centre, raced into a conflict record, pulled by HMSI, then erased with
/// `wirsync erase`; after a sync of every replica in scope, no byte of them is left in any
/// file of the deployment: databases, WAL and shared-memory files, hub and replicas alike.
@Suite("Invariant 8 — erasure leaves no byte of the values in any file", .timeLimit(.minutes(5)))
struct ErasureEndToEndTests {
    let kassel = "landkreis-kassel"
    /// Every value the row ever held, and the one that lost the race.
    /// A tool as people have them: Debian's sqlite3 zeroes what it deletes, a build without
    /// SQLITE_SECURE_DELETE (most tools elsewhere) leaves it in the page's free space.
    let tool = "PRAGMA secure_delete = OFF;\n"
    let marks = ["Quirinella", "Xylofonova", "+49 561 7070 111", "+49 561 7070 222", "+49 561 7070 3333", "quirinella.x@example.org", "q.xylofonova.neu@example.net"]

    /// The files of the deployment that hold any of `marks`, with the marks found: the
    /// replicas' and the hub's (`postgresFiles` on PostgreSQL).
    private func leaks(_ deployment: Deployment) async throws -> [String: [String]] {
        var found = try leaks(in: deployment.directory.url.path)
        if let hub = try await deployment.postgresFiles() {
            for (name, hits) in try leaks(in: hub) { found["hub database: " + name] = hits }
        }
        return found
    }

    private func leaks(in directory: String) throws -> [String: [String]] {
        var found: [String: [String]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(name))
            // Foundation's range(of:) crashes on an empty file's Data (PostgreSQL leaves a rewritten table's old file empty until a checkpoint).
            guard !bytes.isEmpty else { continue }
            let hits = marks.filter { bytes.range(of: Data($0.utf8)) != nil }
            if !hits.isEmpty { found[name] = hits }
        }
        return found
    }

    /// On PostgreSQL, the hub's files are its database's directory; the cluster's WAL, which
    /// PostgreSQL recycles, is outside what the erasure clears (docs/postgres.md, "Erasure").
    /// Its statistics are inside: an `ANALYZE`, as autovacuum runs when it likes, must find no
    /// value to sample (CI saw the erased values in `pg_statistic`'s file once it had run). So
    /// is a table rewritten while a transaction elsewhere in the cluster began before the
    /// erasure: `VACUUM FULL` would copy the erased row, so the hub waits for it to end.
    @Test(arguments: StoreKind.tested) func anErasedVolunteerLeavesNoByteInAnyFileOfHubOrReplicas(store: StoreKind) async throws {
        let deployment = try Deployment(store: store)
        try deployment.startHub()
        let desk = try deployment.centre(kassel)
        let laptop = try deployment.replica("laptop", of: kassel)
        try deployment.centre(Node.hmsi)
        try deployment.centre("fulda")
        try sqlite3(desk, tool + """
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone, email)
            VALUES ('v-erase', '\(kassel)', 'Laiendolmetschende', 'Quirinella', 'Xylofonova', 'de,uk,ru', 'Basisqualifizierung', '+49 561 7070 111', 'quirinella.x@example.org');
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone)
            VALUES ('v-keep', '\(kassel)', 'Integrationslotse', 'Bleibt', 'Hier', 'de', 'keine', '0561 1');
            """)
        for node in [kassel, "laptop", Node.hmsi] { #expect(try deployment.sync(node).succeeded) }
        // Both PCs change the phone; the desk's wins, the laptop's is kept in a conflict record.
        try sqlite3(deployment.path("laptop"), tool + "UPDATE volunteers SET phone = '+49 561 7070 222' WHERE id = 'v-erase';")
        try sqlite3(desk, tool + "UPDATE volunteers SET phone = '+49 561 7070 3333', email = 'q.xylofonova.neu@example.net' WHERE id = 'v-erase';")
        for node in ["laptop", kassel, "laptop", Node.hmsi, "fulda"] { #expect(try deployment.sync(node).succeeded) }
        let conflicts = try runChecked(deployment.hubBinary, ["conflicts", "list", "--store", deployment.hubStore])
        #expect(conflicts.contains("v-erase"), "\(conflicts)")
        try deployment.analyzeHub()
        let before = try await leaks(deployment)
        #expect(before.keys.contains { $0.hasPrefix(store == .sqlite ? "hub.db" : "hub database: ") }, "the marks are there to be found: \(before)")

        // A report in another database of the cluster runs from before the erasure to after it.
        let report = try deployment.holdTransactionElsewhere(seconds: 3)
        let erased = try run(deployment.wirsync, ["erase", "volunteers", "v-erase", "--db", desk, "--reason", "Antrag Nr. 2026/41"])
        report()
        #expect(erased.succeeded, "\(erased.stderr)")
        #expect(erased.stdout.contains("Erased volunteers v-erase at the hub"), "\(erased.stdout)")
        for node in ["laptop", Node.hmsi, "fulda"] { #expect(try deployment.sync(node).succeeded) }
        let again = try run(deployment.wirsync, ["erase", "volunteers", "v-erase", "--db", laptop])
        #expect(again.status == 65 && again.stderr.contains("wirsync: erase failed: the hub refused (409): volunteers v-erase was erased at"), "\(again.stderr)")
        let foreign = try run(deployment.wirsync, ["erase", "volunteers", "v-keep", "--db", deployment.path("fulda")])
        #expect(foreign.status == 77 && foreign.stderr.contains("(403): fulda may erase only its own rows"), "\(foreign.stderr)")
        deployment.stopHub()

        let after = try await leaks(deployment)
        #expect(after == [:], "no byte of the erased values is left in any file: \(after)")
        #expect(try sqlite3(laptop, "SELECT id FROM volunteers;") == "v-keep\n", "the centre's other rows stay")
        let audit = try runChecked(deployment.hubBinary, ["audit", "--store", deployment.hubStore])
        #expect(audit.contains("erase  volunteers v-erase (\(kassel))") && audit.contains("Antrag Nr. 2026/41"), "\(audit)")
        try deployment.startHub()
        for node in [kassel, "laptop", Node.hmsi] {
            let verify = try deployment.verify(node)
            #expect(verify.succeeded, "\(node): \(verify.stdout)\(verify.stderr)")
        }
    }
}
