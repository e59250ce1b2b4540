import Foundation
public import Logging
public import ReplicaStore
public import SyncCore

/// When the daemon syncs and how it waits while the hub is unreachable.
public struct DaemonSchedule: Sendable {
    /// Time between syncs while all is well.
    public var interval: Duration = .seconds(300)
    /// First retry delay after a failure; doubles with every failure in a row…
    public var retryBase: Duration = .seconds(2)
    /// …up to this cap. Each delay is drawn at random between 0 and its bound ("full jitter"),
    /// so 33 centres coming back online do not all retry at once.
    public var retryCap: Duration = .seconds(300)
    /// How often to look at the change log for new local writes…
    public var changePoll: Duration = .seconds(1)
    /// …and how long to wait after seeing one, so a burst of writes syncs together.
    public var settle: Duration = .seconds(2)

    public init() {}

    /// The upper bound of the delay after `failures` failures in a row.
    public func retryBound(afterFailures failures: Int) -> Duration {
        let factor = 1 << min(max(failures - 1, 0), 20)
        return min(retryCap, retryBase * factor)
    }
}

/// Syncs a replica periodically and soon after local writes, backs off exponentially with
/// full jitter while the hub cannot be reached, and stops cleanly when its task is
/// cancelled (SIGTERM/SIGINT): between batches, so a batch is applied whole or not at all.
public struct Daemon: Sendable {
    public let replica: Replica
    public let transport: any HubTransport
    public let schedule: DaemonSchedule
    public let limits: SyncLimits
    public let logger: Logger
    /// Sleeps; injected so tests can run the schedule without waiting.
    public var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    /// Random numbers in 0..<1 for the jitter; injected so tests are deterministic.
    public var random: @Sendable () -> Double = { Double.random(in: 0..<1) }

    public init(replica: Replica, transport: any HubTransport, schedule: DaemonSchedule, limits: SyncLimits, logger: Logger) {
        self.replica = replica
        self.transport = transport
        self.schedule = schedule
        self.limits = limits
        self.logger = logger
    }

    /// One step of the loop: the sync's outcome and how long to wait before the next.
    public struct Step: Sendable {
        public var report: SyncReport?
        public var error: SyncError?
        public var failuresInARow: Int
        public var delay: Duration
    }

    /// Runs until the task is cancelled. `onStep` sees every outcome (for tests and logs).
    public func run(onStep: @Sendable (Step) -> Void = { _ in }) async {
        var failures = 0
        logger.info("daemon started", metadata: ["replica": "\(replica.path)", "interval": "\(schedule.interval)"])
        while !Task.isCancelled {
            var step = Step(report: nil, error: nil, failuresInARow: 0, delay: schedule.interval)
            do throws(SyncError) {
                let lock = try SyncLock.acquire(replicaPath: replica.path)
                step.report = try await SyncSession(replica: replica, transport: transport, limits: limits).run()
                withExtendedLifetime(lock) {}
                failures = 0
            } catch .cancelled {
                break
            } catch {
                failures += 1
                step.error = error
                let bound = schedule.retryBound(afterFailures: failures)
                step.delay = bound * random()
            }
            step.failuresInARow = failures
            log(step)
            onStep(step)
            do {
                try await wait(step.delay, wakeOnLocalWrites: failures == 0)
            } catch {
                break
            }
        }
        replica.checkpoint()
        logger.info("daemon stopped", metadata: ["replica": "\(replica.path)"])
    }

    private func log(_ step: Step) {
        if let report = step.report {
            if let recovery = report.recovery {
                logger.notice("repaired", metadata: ["what": "\(recovery)", "reoffered": "\(report.reoffered)"])
            }
            logger.info("synced", metadata: [
                "pushed": "\(report.pushed)", "pulled": "\(report.pulled)", "refused": "\(report.refused.count)",
                "conflicts": "\(report.conflicts)", "duration_ms": "\(report.durationMillis)",
            ])
        } else if let error = step.error {
            logger.warning("sync failed", metadata: [
                "error": "\(error)", "kind": "\(error.kind)", "failures_in_a_row": "\(step.failuresInARow)",
                "retry_in_s": "\(String(format: "%.1f", Double(step.delay.components.seconds) + Double(step.delay.components.attoseconds) / 1e18))",
            ])
        }
    }

    /// Waits up to `delay`; returns early (after `settle`) when the change log grows.
    private func wait(_ delay: Duration, wakeOnLocalWrites: Bool) async throws {
        let head = (try? replica.logHead()) ?? 0
        var waited = Duration.zero
        while waited < delay {
            let step = min(schedule.changePoll, delay - waited)
            try await sleep(step)
            waited += step
            if wakeOnLocalWrites, let now = try? replica.logHead(), now > head {
                try await sleep(schedule.settle)
                return
            }
        }
    }
}
