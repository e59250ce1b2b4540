import CentreSync
import Foundation
import GRDB
import HubStore
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Invariant 2 — an older copy of a replica file loses none of its writes", .timeLimit(.minutes(2)))
struct ForkTests {
    /// A copy holds a write (title 'A') that the original never sent: the original wrote the
    /// title again ('B') after the copy was made, so its pushes left 'A' out, and its sync
    /// broke before 'B' reached the hub; then the original was lost and the copy put back.
    /// The hub acknowledged the entry of 'A', with the same chain as the copy's, but never held
    /// its value. The copy must send it again rather than take it as sent (long recovery fuzz,
    /// seed 690805: the copy kept 'A', the hub the old title, for good).
    @Test func aCopysWriteThatTheOriginalSupersededAndNeverSentReachesTheHub() async throws {
        let fixture = try await Fixture()
        try fixture.fill(kassel, scale: 60, seed: 3)
        let original = try fixture.replica(kassel)
        _ = try await SyncSession(replica: original, transport: fixture.transport(kassel)).run()
        let projects = try await DatabaseQueue(path: original.path).read { try String.fetchAll($0, sql: "SELECT id FROM projects ORDER BY id") }
        let (project, others) = (projects[0], Array(projects.dropFirst()))
        #expect(others.count >= 2)
        /// `count` captured entries: each sets a value no row holds yet.
        func fillers(_ round: Int, _ count: Int) -> String {
            (0..<count).map { "UPDATE projects SET participants = \(10_000 + round * 100 + $0) WHERE id = '\(others[$0 % others.count])';" }.joined()
        }
        _ = try sqlite3(original.path, "UPDATE projects SET title = 'A' WHERE id = '\(project)';" + fillers(1, 4))
        let copy = fixture.directory.path("copy.db")
        _ = try sqlite3(original.path, ".backup '\(copy)'")
        _ = try sqlite3(original.path, fillers(2, 5) + "UPDATE projects SET title = 'B' WHERE id = '\(project)';")
        // Batches of five entries: 'A' and four, five more, then 'B', which never arrives.
        let broken = FlakyTransport(fixture.transport(kassel), pushes: 2)
        await #expect(throws: (any Error).self) {
            _ = try await SyncSession(replica: original, transport: broken, limits: SyncLimits(batchChanges: 5)).run()
        }
        let title = { (path: String) in try readRow(path, "projects", project)?["title"] }
        #expect(try title(fixture.store.path) != .text("A") && title(fixture.store.path) != .text("B"))

        // The original is lost; the copy is put back and syncs.
        let restored = try Replica.open(path: copy)
        let report = try await SyncSession(replica: restored, transport: fixture.transport(kassel)).run()
        #expect(report.recovery?.contains("older copy") == true, "\(report.recovery ?? "no repair")")
        _ = try await SyncSession(replica: restored, transport: fixture.transport(kassel)).run()
        #expect(try title(fixture.store.path) == .text("A"), "the copy's write reached the hub")
        #expect(try snapshot(copy, versions: false, centre: kassel) == snapshot(fixture.store.path, versions: false, centre: kassel))
        #expect(try restored.status().pending == 0)
    }
}
