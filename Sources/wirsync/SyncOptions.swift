import ArgumentParser
import CLISupport
import CentreSync
import CurlTransport
import Foundation
import ReplicaStore
import SyncCore

/// The options every command that talks to the hub shares. Each may also come from the
/// environment (`WIRSYNC_HUB`, …) or from `<replica>.conf`; a flag wins.
struct HubOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The hub's URL (or WIRSYNC_HUB, or `hub =` in <db>.conf; default: the URL given to init).", valueName: "url"))
    var hub: String?

    @Option(help: ArgumentHelp("A file holding the centre's token, mode 600 (or WIRSYNC_TOKEN_FILE, or the token in WIRSYNC_TOKEN; default: <db>.token).", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("A CA bundle to verify the hub's certificate with (or WIRSYNC_CA_FILE).", valueName: "file"))
    var caFile: String?

    @Option(help: "Changes per push batch (or WIRSYNC_BATCH_SIZE; default 500).")
    var batchSize: Int?

    @Option(help: "Seconds a transfer may stall before it is aborted and retried (or WIRSYNC_STALL_TIMEOUT; default 20).")
    var stallTimeout: Double?

    @Flag(help: "Allow an http:// hub URL to another machine: the token travels in clear (or WIRSYNC_ALLOW_PLAIN_HTTP=yes, or `allow-plain-http = yes` in <db>.conf).")
    var allowPlainHttp = false

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags["hub"] = hub
        flags["token-file"] = tokenFile
        flags["ca-file"] = caFile
        flags["batch-size"] = batchSize.map(String.init)
        flags["stall-timeout"] = stallTimeout.map { String($0) }
        if allowPlainHttp { flags[HubURL.allowPlainHTTPKey] = "yes" }
        return flags
    }

    /// The replica's settings and a libcurl transport to its hub.
    func connect(_ replica: Replica, extraFlags: [String: String] = [:]) throws(SyncError) -> (CentreSettings, CurlTransport) {
        let stored: String?
        do {
            stored = try replica.status().hubURL
        } catch {
            throw .replica(error)
        }
        let settings = try CentreSettings.resolve(
            replicaPath: replica.path, storedHubURL: stored, flags: flags.merging(extraFlags) { $1 },
            environment: ProcessInfo.processInfo.environment)
        for warning in settings.warnings { CLI.warn("wirsync", warning) }
        var configuration = CurlConfiguration(
            hubURL: settings.hubURL, token: settings.token,
            schemaTag: replica.schemaTag)
        configuration.caFile = settings.caFile
        configuration.connectTimeout = settings.connectTimeout
        configuration.timeout = settings.timeout
        configuration.lowSpeedSeconds = max(1, Int(settings.stallTimeout.components.seconds))
        do throws(TransportError) {
            return (settings, try CurlTransport(configuration))
        } catch {
            throw .transport(error)
        }
    }
}

/// Prints a sync failure as wirsync's own words and exits with its code.
func fail(_ error: SyncError, pending: Int?) -> ExitCode {
    let waiting = pending.map { $0 > 0 ? "; nothing is lost: \($0 == 1 ? "1 change waits" : "\($0) changes wait") for the next sync" : "" } ?? ""
    return CLI.fail("wirsync", "sync failed: \(error)\(waiting)", code: error.exitCode)
}
