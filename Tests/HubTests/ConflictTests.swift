import Foundation
import GRDB
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Invariant 4 — no silent loss: conflicts are recorded", .timeLimit(.minutes(5)))
struct ConflictTests {
    /// Offline, Kassel and then HMSI (a second later) set the project's title; `centre` and
    /// `hmsi` are SQL expressions. HMSI's title wins, Kassel's is the recorded loser.
    private func conflictingTitles(_ harness: HubHarness, _ project: String, centre: String, hmsi: String) throws {
        try edit(harness.replica(kassel), "UPDATE projects SET title = \(centre) WHERE id = '\(project)'", offset: 1_000)
        try edit(harness.replica(Node.hmsi), "UPDATE projects SET title = \(hmsi) WHERE id = '\(project)'", offset: 2_000)
    }

    /// A losing text keeps every byte in the record, at the hub and in the centre's mirror,
    /// a NUL character included (GRDB's text reading would stop at it).
    @Test(arguments: StoreKind.tested) func aLosingTextWithANULIsRecordedWhole(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            try conflictingTitles(harness, project, centre: "'Sprach' || char(0) || 'café (Zentrum)'", hmsi: "'Sprach' || char(0) || 'café (HMSI)'")
            for node in [kassel, Node.hmsi] { try await client.sync(harness.replica(node), token: harness.token(node)) }
            let record = try #require(try await harness.store.conflicts().first)
            #expect(record.loser.value == .text("Sprach\u{0}café (Zentrum)"))
            #expect(record.winner.value == .text("Sprach\u{0}café (HMSI)"))
            // The centre's mirror, as its sync stores a pulled record (this harness's sync does not).
            let replica = harness.replica(kassel)
            let pulled = try await client.sync(replica, token: harness.token(kassel)).pulled.flatMap(\.conflicts)
            #expect(pulled.map(\.loser.value) == [record.loser.value], "the pull carries the whole text")
            try replica.applyRemote([], conflicts: pulled, cursor: replica.status().cursor)
            let mirrored = try #require(try replica.conflicts().first)
            #expect(mirrored.loser.value == record.loser.value)
            #expect(mirrored.winner.value == record.winner.value)
        }
    }

    @Test(arguments: StoreKind.tested, [true, false])
    func concurrentEditsOfOneColumnRecordOneConflictAndTheNewerWinsEverywhere(store: StoreKind, centreFirst: Bool) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            // Offline, both edit the title; HMSI's edit is the later one.
            try edit(harness.replica(kassel), "UPDATE projects SET title = 'Sprachcafé (Zentrum)', participants = 99 WHERE id = '\(project)'", offset: 1_000)
            try edit(harness.replica(Node.hmsi), "UPDATE projects SET title = 'Sprachcafé (HMSI)' WHERE id = '\(project)'", offset: 2_000)
            let order = centreFirst ? [kassel, Node.hmsi] : [Node.hmsi, kassel]
            var recorded = 0
            for node in order {
                recorded += try await client.sync(harness.replica(node), token: harness.token(node)).pushed.map(\.conflicts).reduce(0, +)
            }
            let pulled = try await client.sync(harness.replica(kassel), token: harness.token(kassel)).pulled
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))

            #expect(recorded == 1)
            let conflicts = try await harness.store.conflicts()
            #expect(conflicts.count == 1)
            let record = try #require(conflicts.first)
            #expect(record.column == "title")
            #expect(record.winner.value == .text("Sprachcafé (HMSI)"))
            #expect(record.winner.origin == (try harness.replica(Node.hmsi).status().origin))
            #expect(record.loser.value == .text("Sprachcafé (Zentrum)"))
            #expect(record.loser.origin == (try harness.replica(kassel).status().origin))
            #expect(record.centre == kassel)
            for node in [kassel, Node.hmsi] {
                #expect(try readRow(harness.replica(node).path, "projects", project)?["title"] == .text("Sprachcafé (HMSI)"))
                #expect(try readRow(harness.replica(node).path, "projects", project)?["participants"] == .integer(99))
            }
            #expect(try await readRow(store: harness.store, "projects", project)?["title"] == .text("Sprachcafé (HMSI)"))
            if centreFirst {
                #expect(pulled.flatMap(\.conflicts).map(\.id).contains(record.id), "the centre pulls the record about its row")
            }
        }
    }

    @Test(arguments: StoreKind.tested) func aSequentialEditIsNotAConflict(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            try edit(harness.replica(kassel), "UPDATE projects SET title = 'Erst Zentrum' WHERE id = '\(project)'", offset: 1_000)
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            // HMSI has seen the centre's edit, then edits the same field.
            try edit(harness.replica(Node.hmsi), "UPDATE projects SET title = 'Dann HMSI' WHERE id = '\(project)'", offset: 2_000)
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            #expect(try await harness.store.conflicts().isEmpty)
            #expect(try readRow(harness.replica(kassel).path, "projects", project)?["title"] == .text("Dann HMSI"))
        }
    }

    @Test(arguments: StoreKind.tested, [true, false])
    func aDeleteAndAConcurrentUpdateConvergeAndTheLostEditIsKept(store: StoreKind, deleteFirst: Bool) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            try edit(harness.replica(kassel), "DELETE FROM projects WHERE id = '\(project)'", offset: 2_000)
            try edit(harness.replica(Node.hmsi), "UPDATE projects SET approved_cents = 123400 WHERE id = '\(project)'", offset: 1_000)
            let order = deleteFirst ? [kassel, Node.hmsi] : [Node.hmsi, kassel]
            for node in order + order { try await client.sync(harness.replica(node), token: harness.token(node)) }

            #expect(try await readRow(store: harness.store, "projects", project) == nil, "the hub: the delete wins")
            for path in [harness.replica(kassel).path, harness.replica(Node.hmsi).path] {
                #expect(try readRow(path, "projects", project) == nil, "\(path): the delete wins")
            }
            #expect(try await harness.scoped(kassel).replica == harness.scoped(kassel).hub)
            let record = try #require(try await harness.store.conflicts().first)
            #expect(record.column == nil, "a conflict over the row")
            #expect(record.winner.value == .null, "the deletion won")
            #expect(record.winner.origin == (try harness.replica(kassel).status().origin))
            #expect(record.loser.origin == (try harness.replica(Node.hmsi).status().origin))
            guard case .text(let lost) = record.loser.value else { Issue.record("no lost edit kept"); return }
            #expect(lost.contains("\"approved_cents\":123400"))
        }
    }

    @Test(arguments: StoreKind.tested) func keepingTheLoserWritesItBackAndEveryReplicaGetsIt(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            try conflictingTitles(harness, project, centre: "'Verloren'", hmsi: "'Gewonnen'")
            for node in [kassel, Node.hmsi, kassel, Node.hmsi] { try await client.sync(harness.replica(node), token: harness.token(node)) }
            let record = try #require(try await harness.store.conflicts(openOnly: true).first)

            let resolved = try await harness.store.resolve(id: record.id, keep: .loser, by: "referentin")
            #expect(resolved.kept == "loser")
            #expect(resolved.resolvedBy == "referentin")
            #expect(resolved.resolvedAt != nil)
            #expect(try await harness.store.conflicts(openOnly: true).isEmpty)
            let pulled = try await client.sync(harness.replica(kassel), token: harness.token(kassel)).pulled
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            #expect(try await readRow(store: harness.store, "projects", project)?["title"] == .text("Verloren"), "the hub")
            for path in [harness.replica(kassel).path, harness.replica(Node.hmsi).path] {
                #expect(try readRow(path, "projects", project)?["title"] == .text("Verloren"), "\(path)")
            }
            #expect(pulled.flatMap(\.conflicts).contains { $0.id == record.id && $0.kept == "loser" }, "the centre learns of the resolution")
            await #expect(throws: HubError.self) { try await harness.store.resolve(id: record.id, keep: .winner, by: "x") }
        }
    }

    @Test(arguments: StoreKind.tested) func keepingADeletedRowsLostEditBringsTheRowBack(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 9)
            try edit(harness.replica(kassel), "UPDATE projects SET participants = 4242 WHERE id = '\(project)'", offset: 1_000)
            try edit(harness.replica(Node.hmsi), "DELETE FROM projects WHERE id = '\(project)'", offset: 2_000)
            for node in [kassel, Node.hmsi, kassel] { try await client.sync(harness.replica(node), token: harness.token(node)) }
            #expect(try readRow(harness.replica(kassel).path, "projects", project) == nil)
            let record = try #require(try await harness.store.conflicts(openOnly: true).first)
            _ = try await harness.store.resolve(id: record.id, keep: .loser, by: "referat")
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            #expect(try readRow(harness.replica(kassel).path, "projects", project)?["participants"] == .integer(4242))
            #expect(try await harness.scoped(kassel).replica == harness.scoped(kassel).hub)
        }
    }
}
