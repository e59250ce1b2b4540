import CentreSync
import Foundation
import Logging
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("Daemon schedule", .timeLimit(.minutes(5)))
struct DaemonTests {
    private func daemon(_ replica: Replica, _ transport: any HubTransport, sleeps: LockedValue<[Duration]>, random: Double) -> Daemon {
        var schedule = DaemonSchedule()
        schedule.interval = .seconds(60)
        schedule.retryBase = .seconds(2)
        schedule.retryCap = .seconds(30)
        var daemon = Daemon(replica: replica, transport: transport, schedule: schedule, limits: SyncLimits(), logger: Logger(label: "test"))
        daemon.sleep = { duration in
            try Task.checkCancellation()
            sleeps.update { $0.append(duration) }
        }
        daemon.random = { random }
        return daemon
    }

    @Test func whileTheHubIsUnreachableItBacksOffExponentiallyWithFullJitterAndResetsOnSuccess() async throws {
        let fixture = try await Fixture()
        let replica = try fixture.replica(kassel)
        let transport = fixture.transport(kassel)
        transport.failure.value = .unreachable(reason: "Connection refused", curlCode: 7)
        let steps = LockedValue<[Daemon.Step]>([])
        let sleeps = LockedValue<[Duration]>([])
        let task = Task {
            await daemon(replica, transport, sleeps: sleeps, random: 0.5).run { step in
                steps.update { $0.append(step) }
                let count = steps.value.count
                if count == 6 { transport.failure.value = nil }  // the line comes back
                if count == 8 { withUnsafeCurrentTask { $0?.cancel() } }
            }
        }
        await task.value
        let delays = steps.value.map(\.delay)
        // Bounds 2, 4, 8, 16, 30, 30 s; full jitter with random 0.5 halves them.
        #expect(Array(delays.prefix(6)) == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(15), .seconds(15)])
        #expect(steps.value.prefix(6).allSatisfy { $0.error?.kind == "unreachable" })
        #expect(steps.value[6].report != nil, "recovered")
        #expect(delays[6] == .seconds(60), "back to the interval after a success")
        #expect(steps.value[6].failuresInARow == 0)
        #expect(transport.requests.value >= 8)
    }

    @Test func jitterIsDrawnBetweenZeroAndTheBound() {
        var schedule = DaemonSchedule()
        schedule.retryBase = .seconds(1)
        schedule.retryCap = .seconds(300)
        #expect((1...12).map { schedule.retryBound(afterFailures: $0) } == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300].map(Duration.seconds))
    }

    @Test func aLocalWriteIsSyncedSoonWithoutWaitingForTheInterval() async throws {
        let fixture = try await Fixture()
        let replica = try fixture.replica(kassel)
        let transport = fixture.transport(kassel)
        let steps = LockedValue<[Daemon.Step]>([])
        let sleeps = LockedValue<[Duration]>([])
        var daemon = daemon(replica, transport, sleeps: sleeps, random: 0.5)
        let written = LockedValue(false)
        daemon.sleep = { duration in
            try Task.checkCancellation()
            sleeps.update { $0.append(duration) }
            if !written.value {
                written.value = true
                try sqlite3(replica.path, "INSERT INTO organisations (id, centre_id, name, kind) VALUES ('neu', 'landkreis-kassel', 'Neu', 'Verein');")
            }
        }
        let task = Task {
            await daemon.run { step in
                steps.update { $0.append(step) }
                if steps.value.count == 2 { withUnsafeCurrentTask { $0?.cancel() } }
            }
        }
        await task.value
        #expect(steps.value.count == 2)
        #expect(steps.value[1].report?.pushed == 1, "the write went out with the second sync")
        let waited = sleeps.value.reduce(Duration.zero, +)
        #expect(waited < .seconds(60), "well before the 60 s interval: \(waited)")
    }
}
