import ArgumentParser
import CLISupport
import Foundation
import HubConsole
import HubServer
import HubStore
import Hummingbird
import ServiceLifecycle
import Logging
import SyncCore

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the sync API (protocol v1) over HTTP until SIGTERM or SIGINT.",
        discussion: """
            Routes: POST /v1/push, GET /v1/pull, GET /healthz, GET /metrics (Prometheus). \
            With --console-port, the HMSI console (web pages for ministry staff, docs/console.md) \
            is served on a listener of its own, /console/ on that port; accounts come from \
            `wirsync-hub admin add`. \
            Serves HTTPS with --tls-cert and --tls-key; without them, plain HTTP meant for \
            127.0.0.1 behind a TLS-terminating proxy (listening elsewhere without TLS is warned about). \
            Logs go to standard error, one line per request outcome. On SIGTERM or SIGINT the \
            hub stops accepting connections and lets running requests finish; a batch is \
            applied in one transaction, so it is either fully applied or not at all.
            """
    )

    @OptionGroup var store: StoreOption
    @Option(help: "Address to listen on (or WIRSYNC_HUB_HOST).") var host: String?
    @Option(help: "Port to listen on; 0 picks a free one (or WIRSYNC_HUB_PORT).") var port: Int?
    @Option(help: "Largest request body in bytes, as sent (or WIRSYNC_HUB_MAX_BODY).") var maxBody: Int?
    @Option(help: "How far ahead of the hub's clock a change may be stamped, in seconds (or WIRSYNC_HUB_SKEW_SECONDS).")
    var skewSeconds: Int?
    @Option(help: "trace, debug, info, notice, warning, error or critical (or WIRSYNC_HUB_LOG_LEVEL).") var logLevel: String?
    @Option(help: "Connections served at once; more are closed at once (or WIRSYNC_HUB_MAX_CONNECTIONS; default 256).")
    var maxConnections: Int?
    @Option(help: "Seconds a connection may take to send a request's headers (or WIRSYNC_HUB_HEADER_TIMEOUT; default 10).")
    var headerTimeout: Int?
    @Option(help: "Seconds a keep-alive connection may sit idle (or WIRSYNC_HUB_IDLE_TIMEOUT; default 60).")
    var idleTimeout: Int?
    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (or WIRSYNC_HUB_TLS_CERT); needs --tls-key.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("The PEM private key of --tls-cert (or WIRSYNC_HUB_TLS_KEY); keep it mode 600.", valueName: "file"))
    var tlsKey: String?

    @Option(help: "Serve the HMSI console on this port, a listener of its own (or WIRSYNC_HUB_CONSOLE_PORT; default: no console).")
    var consolePort: Int?
    @Option(help: "Address the console listens on (or WIRSYNC_HUB_CONSOLE_HOST; default 127.0.0.1).") var consoleHost: String?

    private func setting<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, _ fallback: T) throws -> T {
        if let flag { return flag }
        guard let raw = ProcessInfo.processInfo.environment[variable] else { return fallback }
        guard let value = T(raw) else { throw ValidationError("\(variable)=\(raw) is not a valid value") }
        return value
    }

    func run() async throws {
        let defaults = HubServerConfiguration()
        var configuration = defaults
        configuration.host = try setting(host, "WIRSYNC_HUB_HOST", defaults.host)
        configuration.port = try setting(port, "WIRSYNC_HUB_PORT", defaults.port)
        configuration.maxBodyBytes = try setting(maxBody, "WIRSYNC_HUB_MAX_BODY", defaults.maxBodyBytes)
        configuration.skewBoundMillis = Int64(try setting(skewSeconds, "WIRSYNC_HUB_SKEW_SECONDS", Int(defaults.skewBoundMillis / 1000))) * 1000
        configuration.maxConnections = try setting(maxConnections, "WIRSYNC_HUB_MAX_CONNECTIONS", defaults.maxConnections)
        configuration.headerTimeoutSeconds = try setting(headerTimeout, "WIRSYNC_HUB_HEADER_TIMEOUT", defaults.headerTimeoutSeconds)
        configuration.idleTimeoutSeconds = try setting(idleTimeout, "WIRSYNC_HUB_IDLE_TIMEOUT", defaults.idleTimeoutSeconds)
        guard configuration.maxConnections > 0, configuration.headerTimeoutSeconds > 0, configuration.idleTimeoutSeconds > 0 else {
            throw ValidationError("the connection limit and the timeouts must be positive")
        }
        let environment = ProcessInfo.processInfo.environment
        switch (tlsCert ?? environment["WIRSYNC_HUB_TLS_CERT"], tlsKey ?? environment["WIRSYNC_HUB_TLS_KEY"]) {
        case (let certificate?, let key?): configuration.tls = .init(certificateChain: certificate, privateKey: key)
        case (nil, nil): break
        default: throw ValidationError("give both --tls-cert and --tls-key (or neither, for plain HTTP on loopback)")
        }
        let levelName = try setting(logLevel, "WIRSYNC_HUB_LOG_LEVEL", "info")
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level \(levelName)") }

        let hub = try await store.open()
        // One process serves a SQLite file; any number serve one PostgreSQL database.
        let lock = try hub.isSQLite ? serveLock(hub.path) : nil
        LoggingSystem.bootstrap { label in EscapingLogHandler.standardError(label: label, level: level) }
        let logger = Logger(label: "wirsync-hub")
        if configuration.tls == nil, !configuration.listensOnLoopbackOnly {
            let warning = "listening on \(configuration.host) without TLS: every centre's token and data travel in clear; "
                + "give --tls-cert and --tls-key, or listen on 127.0.0.1 behind a TLS-terminating proxy"
            CLI.warn("wirsync-hub", warning)
            logger.critical("plain HTTP beyond loopback", metadata: ["host": "\(configuration.host)"])
        }
        let scheme = configuration.tls == nil ? "http" : "https"
        let announcement = "wirsync-hub: serving \(hub.path) (schema \(hub.schemaTag)) on \(scheme)://\(configuration.host):"
        var console: [any Service] = []
        if let consolePort = try consolePort ?? environment["WIRSYNC_HUB_CONSOLE_PORT"].map({ raw in
            guard let port = Int(raw) else { throw ValidationError("WIRSYNC_HUB_CONSOLE_PORT=\(raw) is not a port") }
            return port
        }) {
            var server = configuration
            server.host = consoleHost ?? environment["WIRSYNC_HUB_CONSOLE_HOST"] ?? "127.0.0.1"
            server.port = consolePort
            if configuration.tls == nil, !server.listensOnLoopbackOnly {
                CLI.warn("wirsync-hub", "the console listens on \(server.host) without TLS: passwords and sessions travel in clear; put it behind a TLS proxy")
            }
            let host = server.host
            do {
                console.append(
                    try HubConsole(store: hub, configuration: ConsoleConfiguration(server: server)).application(logger: logger) { channel in
                        let port = channel.localAddress?.port ?? consolePort
                        FileHandle.standardOutput.write(Data("wirsync-hub: console on \(scheme)://\(host):\(port)/console/\n".utf8))
                    })
            } catch let error as ServeError {
                throw CLI.fail("wirsync-hub", "\(error)")
            }
        }
        do {
            try await HubAPI(store: hub, configuration: configuration).serve(logger: logger, alongside: console) { port in
                FileHandle.standardOutput.write(Data("\(announcement)\(port)\n".utf8))
            }
        } catch let error as ServeError {
            throw CLI.fail("wirsync-hub", "\(error)")
        }
        try hub.close()
        logger.info("stopped")
        withExtendedLifetime(lock) {}
    }
}
