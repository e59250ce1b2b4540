import CompressNIO
import Foundation
import HTTPTypes
public import HubStore
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
public import ServiceLifecycle
import UnixSignals
public import SyncCore
import SyncStore

/// The hub's HTTP API, protocol v1 (`schema/openapi.yaml`).
///
/// | route | what |
/// |---|---|
/// | `POST /v1/session` | what a replica believes of itself and the hub, before it syncs (protocol 2) |
/// | `POST /v1/push` | a replica's batch of changes (bearer token, gzip optional) |
/// | `GET /v1/pull?after=&limit=` | hub log entries in the caller's scope |
/// | `GET /v1/receipts?after=` | the chains the hub received from the replica (protocol 2) |
/// | `POST /v1/reoffer` | versions a restored hub may have lost (protocol 2) |
/// | `POST /v1/conflicts/rebuild` | a replica's conflict mirror, after a hub restore (protocol 2) |
/// | `POST /v1/erase` | erases one of the centre's rows everywhere (protocol 2) |
/// | `GET /v1/digest` | row counts and SHA-256 of each table in the caller's scope |
/// | `GET /healthz` | liveness |
/// | `GET /metrics` | Prometheus text, for a token of HMSI |
public struct HubAPI: Sendable {
    let store: any HubStorage
    let configuration: HubServerConfiguration
    let clock: any WallClock
    let metrics: HubMetrics

    public init(store: any HubStorage, configuration: HubServerConfiguration, clock: any WallClock = SystemClock(), metrics: HubMetrics = HubMetrics()) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.metrics = metrics
    }

    /// The router with every route and the middleware that turns errors into JSON bodies.
    public func router() -> Router<HubRequestContext> {
        let router = Router(context: HubRequestContext.self)
        let routes = RouteTable()
        router.add(middleware: HubMiddleware(store: store, clock: clock, metrics: metrics, routes: routes))
        router.post("/v1/session") { request, context in try await session(request, context: context) }
        router.post("/v1/push") { request, context in try await push(request, context: context) }
        router.get("/v1/pull") { request, context in try await pull(request, context: context) }
        router.get("/v1/receipts") { request, context in
            let (caller, origin) = try await identifyReplica(request, context: context)
            let query = request.uri.queryParameters
            let after = try parameter(query["after"], name: "after", default: 0, range: 0...Int64.max)
            let limit = try parameter(query["limit"], name: "limit", default: 1000, range: 1...5000)
            return try json(try await store.receipts(caller: caller, origin: origin, after: after, limit: Int(limit)), request: request)
        }
        router.post("/v1/reoffer") { request, context in
            let (caller, origin) = try await identifyReplica(request, context: context)
            let body: ReofferRequest = try await decode(request, what: "offered changes")
            let response = try await store.reoffer(caller: caller, origin: origin, request: body, skewBoundMillis: configuration.skewBoundMillis)
            metrics.pushed(applied: response.applied, refused: response.refused.count, conflicts: response.conflicts)
            context.logger.info(
                "reoffer",
                metadata: [
                    "centre": "\(caller.centre)", "replica": "\(origin)", "changes": "\(body.changes.count)", "applied": "\(response.applied)",
                    "duplicates": "\(response.duplicates)", "refused": "\(response.refused.count)", "conflicts": "\(response.conflicts)",
                ])
            return try json(response, request: request)
        }
        router.post("/v1/conflicts/rebuild") { request, context in
            let (caller, origin) = try await identifyReplica(request, context: context)
            let body: RebuildRequest = try await decode(request, what: "conflict records")
            let response = try await store.rebuildConflicts(caller: caller, origin: origin, request: body)
            context.logger.notice(
                "conflicts rebuilt",
                metadata: ["centre": "\(caller.centre)", "replica": "\(origin)", "records": "\(body.records.count)", "rebuilt": "\(response.rebuilt)"])
            return try json(response, request: request)
        }
        router.post("/v1/erase") { request, context in
            let (caller, origin) = try await identifyReplica(request, context: context)
            let body: EraseRequest = try await decode(request, what: "an erasure")
            let erasure = try await store.erase(
                table: body.table, pk: body.pk, reason: body.reason, by: "\(caller.centre) (\(origin))", caller: caller)
            // The key and who asked, never a value of the row.
            context.logger.notice(
                "row erased",
                metadata: ["centre": "\(caller.centre)", "replica": "\(origin)", "table": "\(erasure.table)", "pk": "\(erasure.pk)", "seq": "\(erasure.seq)"])
            if erasure.walCleared == false {
                context.logger.warning("an erasure's old pages could not be cleared at once (a reader held them, or on PostgreSQL a transaction older than the erasure ran on): the SQLite WAL empties when the hub stops; on PostgreSQL run VACUUM FULL of the table, sync_cols and sync_conflicts once it has ended")
            }
            return try json(erasure, request: request)
        }
        router.get("/v1/digest") { request, context in
            let (caller, _) = try await identify(request, context: context)
            return try json(try await store.digest(node: caller.centre, schemaVersion: caller.schemaVersion), request: request)
        }
        router.get("/healthz") { _, _ in
            try json(["status": "ok", "schema": store.schemaTag], request: nil)
        }
        // Every centre's sync times, revoked ones included: HMSI's to read (a token of hmsi, e.g. Prometheus's own).
        router.get("/metrics") { request, _ in
            guard try await authenticate(request).centre == Node.hmsi else {
                throw HubError.forbidden("/metrics is for HMSI: send a token of hmsi (wirsync-hub replica add hmsi --label prometheus)")
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.text())))
        }
        routes.record(router.routes.map { (path: "\($0.path)", method: $0.method.rawValue) })
        return router
    }

    /// A Hummingbird application serving the API on the configured address.
    public func application(logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) throws(ServeError)
        -> some ApplicationProtocol
    {
        Application(
            router: router(),
            server: try Self.httpServer(configuration: configuration, logger: logger),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "wirsync-hub"),
            onServerRunning: onServerRunning,
            logger: logger)
    }

    /// HTTP/1.1 with the connection limits, inside TLS when the configuration names a
    /// certificate and key (the sync API's listener, and the console's).
    public static func httpServer(configuration: HubServerConfiguration, logger: Logger) throws(ServeError) -> HTTPServerBuilder {
        let connections = ConnectionGuard(
            limit: configuration.maxConnections, headerTimeout: .seconds(Int64(configuration.headerTimeoutSeconds)), logger: logger)
        let http = HTTPServerBuilder.http1(
            configuration: .init(additionalChannelHandlers: [connections.handler()], idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))))
        guard let tls = configuration.tls else { return http }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain)
            guard !chain.isEmpty else { throw ServeError.tls("\(tls.certificateChain) holds no PEM certificate") }
            let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
            var settings = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            settings.minimumTLSVersion = .tlsv12
            return try .tls(http, tlsConfiguration: settings)
        } catch let error as ServeError {
            throw error
        } catch {
            throw .tls("cannot use \(tls.certificateChain) and \(tls.privateKey): \(error)")
        }
    }

    /// Serves until SIGTERM or SIGINT, then lets running requests finish, with `alongside`
    /// (the console's listener) in the same service group. `ready` is called with the port
    /// once the server listens (useful with port 0).
    public func serve(logger: Logger, alongside: [any Service] = [], ready: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let port = configuration.port
        let app = try application(logger: logger) { channel in ready(channel.localAddress?.port ?? port) }
        let group = ServiceGroup(configuration: .init(services: [app as any Service] + alongside, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    // MARK: Routes

    private func session(_ request: Request, context: HubRequestContext) async throws -> Response {
        let (caller, origin) = try await identifyReplica(request, context: context)
        let body: SessionRequest = try await decode(request, what: "a session")
        let outcome = try await store.session(caller: caller, origin: origin, request: body)
        let response = outcome.response
        if let found = outcome.restoreFound {
            context.logger.critical("restore found", metadata: ["centre": "\(caller.centre)", "replica": "\(origin)", "what": "\(found)"])
        }
        if let parent = outcome.forkedFrom {
            context.logger.warning("replica forked", metadata: ["centre": "\(caller.centre)", "replica": "\(origin)", "from": "\(parent)"])
        }
        await store.record(
            ActivityEntry(
                at: response.hubTime, centre: caller.centre, origin: origin, route: "session", status: 200,
                detail: response.resync == true ? "re-sync from the start" : response.mustFork != nil ? "must fork" : "ok"),
            logger: context.logger)
        context.logger.info(
            "session",
            metadata: [
                "centre": "\(caller.centre)", "replica": "\(origin)", "registered": "\(response.registered)", "acked": "\(response.acked)",
                "replica_acked": "\(body.acked)", "cursor_valid": "\(response.cursorValid)", "must_fork": "\(response.mustFork != nil)",
            ])
        return try json(response, request: request)
    }

    private func push(_ request: Request, context: HubRequestContext) async throws -> Response {
        let (caller, origin) = try await identify(request, context: context)
        let body = try await collect(request)
        let batch: PushRequest
        do {
            batch = try PushRequest(json: Data(body.readableBytesView))
        } catch {
            throw HubError.badRequest(code: "malformed_json", message: "the push body is not a valid batch: \(error)")
        }
        let outcome = try await store.push(caller: caller, origin: origin, request: batch, skewBoundMillis: configuration.skewBoundMillis)
        let response = outcome.response
        metrics.pushed(applied: response.applied, refused: response.refused.count, conflicts: response.conflicts)
        metrics.synced(node: caller.centre, atMillis: response.hubTime)
        context.logger.info(
            "push",
            metadata: [
                "centre": "\(caller.centre)", "replica": "\(batch.replicaID)",
                "seq": "\(outcome.seqRange.map { "\($0.lowerBound)...\($0.upperBound)" } ?? "none new")",
                "hub_seq": "\(outcome.hubSeqRange.map { "\($0.lowerBound)...\($0.upperBound)" } ?? "none")",
                "applied": "\(response.applied)", "duplicates": "\(response.duplicates)",
                "refused": "\(response.refused.count)", "conflicts": "\(response.conflicts)", "acked": "\(response.ackedSeq)",
            ])
        await store.record(
            ActivityEntry(
                at: response.hubTime, centre: caller.centre, origin: batch.replicaID, route: "push", status: 200, applied: response.applied,
                refused: response.refused.count, conflicts: response.conflicts,
                detail: response.refused.prefix(5).map { "\($0.code): \($0.message)" }.joined(separator: "\n")),
            logger: context.logger)
        for refusal in response.refused {
            context.logger.warning(
                "refused", metadata: ["centre": "\(caller.centre)", "seq": "\(refusal.seq)", "code": "\(refusal.code)", "reason": "\(refusal.message)"])
        }
        return try json(response, request: request)
    }

    private func pull(_ request: Request, context: HubRequestContext) async throws -> Response {
        let (caller, origin) = try await identify(request, context: context)
        let query = request.uri.queryParameters
        let after = try parameter(query["after"], name: "after", default: 0, range: 0...Int64.max)
        let limit = try parameter(
            query["limit"], name: "limit", default: Int64(configuration.pullLimitDefault), range: 1...Int64(configuration.pullLimitMax))
        let delta = try parameter(query["delta"], name: "delta", default: 0, range: 0...1) == 1
        let response = try await store.pull(caller: caller, origin: origin, after: after, limit: Int(limit), delta: delta)
        metrics.synced(node: caller.centre, atMillis: response.hubTime)
        context.logger.info(
            "pull",
            metadata: [
                "centre": "\(caller.centre)", "replica": "\(origin ?? "-")", "after": "\(after)", "next": "\(response.nextCursor)",
                "changes": "\(response.changes.count)", "conflicts": "\(response.conflicts.count)", "more": "\(response.more)",
            ])
        return try json(body: try response.json(), request: request)
    }

    // MARK: Checks

    /// The caller (token, schema) and the replica it names in `WIRSync-Replica` (protocol 2;
    /// nil without the header, which a route that needs it refuses).
    private func identify(_ request: Request, context: HubRequestContext) async throws -> (Caller, String?) {
        var caller = try await authenticate(request)
        let origin = request.headers[HTTPField.Name(Wire.replicaHeader)!]
        guard origin.map(Origin.isWellFormed) ?? true else {
            context.caller.set(centre: caller.centre, origin: nil)
            throw HubError.badRequest(code: "invalid_replica", message: "\(Wire.replicaHeader) must name a replica (centre.suffix), not \(origin!)")
        }
        context.caller.set(centre: caller.centre, origin: origin)
        caller.schemaVersion = try checkSchema(request)
        return (caller, origin)
    }

    /// As `identify`, for the routes of protocol 2 only, which need the replica's name.
    private func identifyReplica(_ request: Request, context: HubRequestContext) async throws -> (Caller, String) {
        let (caller, origin) = try await identify(request, context: context)
        guard let origin else {
            throw HubError.badRequest(code: "missing_replica", message: "send the \(Wire.replicaHeader) header with the replica's name")
        }
        return (caller, origin)
    }

    /// The request's body, within the limits, inflated if it is gzip.
    private func collect(_ request: Request) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw HubError.tooLarge("the body is \(length) bytes; the hub accepts at most \(configuration.maxBodyBytes)")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw HubError.tooLarge("the body exceeds \(configuration.maxBodyBytes) bytes, the most the hub accepts")
        }
        return try inflate(body, encoding: request.headers[.contentEncoding])
    }

    /// A JSON body of one of the rarer requests, read with `JSONDecoder`.
    private func decode<T: Decodable>(_ request: Request, what: String) async throws -> T {
        let body = try await collect(request)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw HubError.badRequest(code: "malformed_json", message: "the body is not \(what): \(error)")
        }
    }

    private func authenticate(_ request: Request) async throws -> Caller {
        guard let header = request.headers[.authorization] else {
            throw HubError.unauthorized("no bearer token: send Authorization: Bearer <token>")
        }
        guard header.hasPrefix("Bearer "), case let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces), !token.isEmpty,
            token.utf8.count <= 256
        else {
            throw HubError.unauthorized("the Authorization header must be Bearer <token>")
        }
        guard let caller = try await store.authenticate(token: token) else {
            throw HubError.unauthorized("the token is unknown or revoked; ask HMSI for a new one")
        }
        return caller
    }

    /// The schema version the request speaks, if the hub serves it (docs/schema-evolution.md).
    private func checkSchema(_ request: Request) throws -> Int {
        guard let tag = request.headers[HTTPField.Name(Wire.schemaHeader)!] else {
            throw HubError.badRequest(code: "missing_schema", message: "send the \(Wire.schemaHeader) header, e.g. \(store.schemaTag)")
        }
        return try store.servedVersion(of: tag)
    }

    private func parameter(_ raw: Substring?, name: String, default fallback: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let raw else { return fallback }
        guard let value = Int64(raw), range.contains(value) else {
            throw HubError.badRequest(code: "invalid_parameter", message: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), not \(raw)")
        }
        return value
    }

    private func inflate(_ body: ByteBuffer, encoding: String?) throws -> ByteBuffer {
        switch encoding?.lowercased() {
        case nil, "identity":
            return body
        case "gzip":
            var compressed = body
            do {
                // compress-nio's bound is approximate (it grows its buffer in steps): the size is checked again, exactly.
                let inflated = try compressed.decompress(with: .gzip(), maxSize: configuration.maxInflatedBytes)
                guard inflated.readableBytes <= configuration.maxInflatedBytes else { throw CompressNIOError.bufferOverflow }
                return inflated
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw HubError.tooLarge("the gzip body inflates beyond \(configuration.maxInflatedBytes) bytes, the most the hub accepts")
            } catch {
                throw HubError.badRequest(code: "malformed_gzip", message: "the body is not valid gzip")
            }
        case let other?:
            throw HubError.unsupportedEncoding("Content-Encoding \(other) is not supported; send gzip or nothing")
        }
    }

    // MARK: Responses

    /// A JSON response, gzip-compressed when the client accepts it and it is worth it.
    private func json(_ value: some Encodable, request: Request?) throws -> Response {
        try json(body: try JSONEncoder().encode(value), request: request)
    }

    private func json(body: Data, request: Request?) throws -> Response {
        var buffer = ByteBuffer(bytes: body)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let accept = request?.headers[.acceptEncoding], accept.lowercased().contains("gzip"),
            buffer.readableBytes >= configuration.gzipThreshold
        {
            buffer = try buffer.compress(with: .gzip())
            headers[.contentEncoding] = "gzip"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }
}
