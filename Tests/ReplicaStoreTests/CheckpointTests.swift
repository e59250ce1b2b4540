import Foundation
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

/// The points of the hub log a replica pulled through, which a session sends so that the hub
/// can tell where the two logs part after a restore (docs/replicas-and-restores.md, "Where
/// the logs part").
@Suite("Invariant 2 — a replica keeps the points it pulled through, dense near its cursor")
struct CheckpointTests {
    private func fingerprint(_ seq: Int64) -> Fingerprint { Fingerprint(rawValue: seq &* 0x1E37_79B9_7F4A_7C15) }

    @Test func aReplicaKeepsAtMost32CheckpointsFromItsFirstPullToItsCursorDenserNearTheCursor() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        let cursors = (1...500).map { Int64($0) * 1_000 }
        for cursor in cursors { try replica.applyRemote([], cursor: cursor, check: fingerprint(cursor)) }
        let kept = try #require(try replica.sessionState().request.checkpoints)
        #expect(kept.count == SessionRequest.maxCheckpoints)
        #expect(kept.first?.seq == cursors.first && kept.last?.seq == cursors.last, "the first pull and the cursor stay")
        #expect(kept.allSatisfy { $0.check == fingerprint($0.seq) })
        #expect(zip(kept, kept.dropFirst()).allSatisfy { $0.seq < $1.seq })
        // Gaps grow going back from the cursor: the newest points are close together.
        let gaps = zip(kept, kept.dropFirst()).map { $1.seq - $0.seq }
        #expect(gaps.suffix(4).allSatisfy { $0 <= 2_000 }, "\(gaps)")
        #expect(gaps.prefix(4).allSatisfy { $0 >= 20_000 }, "\(gaps)")
    }

    @Test func aRewindAfterAHubRestoreForgetsTheCheckpointsBeyondWhereTheLogsPart() throws {
        let directory = try TemporaryDirectory()
        let replica = try makeReplica(kassel, in: directory)
        for cursor in [Int64(100), 200, 300, 400] { try replica.applyRemote([], cursor: cursor, check: fingerprint(cursor)) }
        try replica.rewind(to: LogPosition(seq: 250, check: fingerprint(250)), clampSeen: true)
        #expect(try replica.sessionState().request.checkpoints?.map(\.seq) == [100, 200, 250])
        // A fork's rewind pulls again in the same history: its checkpoints stay.
        try replica.applyRemote([], cursor: 300, check: fingerprint(300))
        try replica.rewind(to: LogPosition(seq: 100, check: fingerprint(100)), clampSeen: false)
        #expect(try replica.sessionState().request.checkpoints?.map(\.seq) == [100, 200, 250, 300])
    }
}
