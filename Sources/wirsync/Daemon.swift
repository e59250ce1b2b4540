import ArgumentParser
import CLISupport
import CentreSync
import Foundation
import Logging
import ReplicaStore
import SyncCore

struct Daemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep the replica in sync: periodically and soon after local writes.",
        discussion: """
            Syncs every --interval seconds, and a few seconds after any tool writes to the \
            replica. While the hub cannot be reached it retries after 2, 4, 8 … seconds (up to \
            5 minutes), each delay drawn at random below its bound, and returns to the interval \
            after the first success. Never two syncs at once: it shares the replica's lock with \
            `wirsync sync`. Logs one line per outcome to standard error. SIGTERM or SIGINT \
            stop it between batches. Run it under systemd: scripts/wirsync-daemon@.service.
            """
    )

    @OptionGroup var replica: ReplicaOption
    @OptionGroup var hub: HubOptions
    @Option(help: "Seconds between syncs (or WIRSYNC_INTERVAL, or `interval =` in <db>.conf; default 300).") var interval: Double?
    @Option(help: "First retry delay in seconds after a failure (or WIRSYNC_RETRY_MIN; default 2).") var retryMin: Double?
    @Option(help: "Longest retry delay in seconds (or WIRSYNC_RETRY_MAX; default 300).") var retryMax: Double?
    @Option(help: "trace, debug, info, notice, warning or error.") var logLevel = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        let replica = try self.replica.open()
        var extra: [String: String] = [:]
        extra["interval"] = interval.map { String($0) }
        extra["retry-min"] = retryMin.map { String($0) }
        extra["retry-max"] = retryMax.map { String($0) }
        let (settings, transport): (CentreSettings, any HubTransport)
        let lifetime: SyncLock
        do throws(SyncError) {
            (settings, transport) = try hub.connect(replica, extraFlags: extra)
            lifetime = try SyncLock.daemon(replicaPath: replica.path)
        } catch {
            throw fail(error, pending: nil)
        }

        LoggingSystem.bootstrap { label in EscapingLogHandler.standardError(label: label, level: level) }
        var logger = Logger(label: "wirsync-daemon")
        logger[metadataKey: "centre"] = "\(replica.node)"
        var schedule = DaemonSchedule()
        schedule.interval = settings.interval
        schedule.retryBase = settings.retryMin
        schedule.retryCap = settings.retryMax
        let daemon = CentreSync.Daemon(
            replica: replica, transport: transport, schedule: schedule, limits: SyncLimits(batchChanges: settings.batchChanges), logger: logger)

        let task = Task { await daemon.run() }
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                logger.info("stopping", metadata: ["signal": "\(number == SIGTERM ? "SIGTERM" : "SIGINT")"])
                task.cancel()
            }
            source.resume()
            return source
        }
        await task.value
        withExtendedLifetime((signals, lifetime)) {}
    }
}
