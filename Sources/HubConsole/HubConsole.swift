import Foundation
import HTTPTypes
public import HubServer
public import HubStore
public import Hummingbird
import HummingbirdBcrypt
public import Logging
import Mustache
import NIOCore
import NIOPosix
public import SyncCore
import Synchronization

/// Settings of the console (docs/console.md).
public struct ConsoleConfiguration: Sendable {
    /// Where it listens, its connection limits and TLS: the sync API's settings with the
    /// console's own address.
    public var server: HubServerConfiguration
    /// A session ends after this long without a request, or this long after login.
    public var idleMillis: Int64 = 30 * 60_000
    public var lifetimeMillis: Int64 = 8 * 3_600_000
    /// bcrypt's cost: 2^cost rounds (12: about a quarter of a second).
    public var bcryptCost: UInt8 = 12
    /// Failed logins for one name or from one address within the window, after which the
    /// next are refused until the window has passed.
    public var loginAttempts = 5
    public var loginWindowMillis: Int64 = 15 * 60_000

    public init(server: HubServerConfiguration) {
        self.server = server
    }
}

/// The HMSI console: server-rendered pages on a listener of their own (docs/console.md).
public struct HubConsole: Sendable {
    let store: any HubStorage
    let configuration: ConsoleConfiguration
    let clock: any WallClock
    let templates: MustacheLibrary
    let throttle: LoginThrottle
    /// Checked against when a name has no account, so that a wrong name takes as long as a wrong password.
    let dummyHash: String

    static let sessionCookie = "wirsync_console"
    static let formCookie = "wirsync_form"

    public init(store: any HubStorage, configuration: ConsoleConfiguration, clock: any WallClock = SystemClock()) throws {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        var library = MustacheLibrary()
        for (path, text) in EmbeddedFiles.files where path.hasSuffix(".mustache") {
            let name = String(path.split(separator: "/").last!.dropLast(".mustache".count))
            try library.register(text, named: name)
        }
        templates = library
        throttle = LoginThrottle(attempts: configuration.loginAttempts, windowMillis: configuration.loginWindowMillis)
        dummyHash = Bcrypt.hash(HubStore.randomToken(bytes: 16), cost: configuration.bcryptCost)
    }

    /// The console's application, on `configuration.server`'s address.
    public func application(logger: Logger, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        throws(ServeError) -> some ApplicationProtocol
    {
        Application(
            router: router(),
            server: try HubAPI.httpServer(configuration: configuration.server, logger: logger),
            configuration: .init(address: .hostname(configuration.server.host, port: configuration.server.port), serverName: "wirsync-console"),
            onServerRunning: onServerRunning,
            logger: logger)
    }

    public func router() -> Router<ConsoleContext> {
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: ConsoleMiddleware(console: self))
        router.get("/") { _, _ in Response.redirect(to: "/console/uebersicht") }
        router.get("/console") { _, _ in Response.redirect(to: "/console/uebersicht") }
        router.get("/console/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: EmbeddedFiles.files["console/console.css"] ?? "")))
        }
        router.get("/console/anmelden") { request, context in try loginPage(request, context: context) }
        router.post("/console/anmelden") { request, context in try await login(request, context: context) }
        router.get("/console/einrichten") { request, context in try setupPage(request, context: context) }
        router.post("/console/einrichten") { request, context in try await setup(request, context: context) }
        router.post("/console/abmelden") { request, context in try await logout(request, context: context) }
        router.get("/console/uebersicht") { request, context in try await overview(request, context: context) }
        router.get("/console/zentren/:id") { request, context in try await centrePage(request, context: context) }
        router.get("/console/konflikte") { request, context in try await conflictsPage(request, context: context) }
        router.get("/console/konflikte/:id") { request, context in try await conflictPage(request, context: context) }
        router.post("/console/konflikte/:id") { request, context in try await resolveConflict(request, context: context) }
        router.get("/console/berichte") { request, context in try await reportsPage(request, context: context) }
        router.get("/console/berichte/:name") { request, context in try await reportPage(request, context: context) }
        router.get("/console/protokoll") { request, context in try await auditPage(request, context: context) }
        return router
    }

    // MARK: Rendering

    /// A page from its template, inside the console's frame.
    func page(_ template: String, title: String, session: ConsoleSession?, values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        var context = values
        context["title"] = title
        context["signedIn"] = session != nil
        context["account"] = session?.account ?? ""
        context["csrf"] = session?.csrf ?? values["csrf"] ?? ""
        context["nav_" + template] = true
        let html = templates.render(context, withTemplate: template) ?? "<!doctype html><title>Fehler</title><p>Vorlage \(template) fehlt."
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    // MARK: Sessions and forms

    /// The signed-in session, or a redirect to the login page.
    func requireSession(_ request: Request, context: ConsoleContext) async throws -> ConsoleSession {
        guard let token = Self.cookie(Self.sessionCookie, in: request),
            let session = try await store.consoleSession(tokenSHA256: HubStore.sha256(token), idleMillis: configuration.idleMillis)
        else { throw ConsoleRedirect(location: "/console/anmelden") }
        return session
    }

    /// The body of a form POST, at most 64 KiB, as its fields.
    func form(_ request: Request) async throws -> [String: String] {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") ?? false else {
            throw ConsoleFailure(status: .unsupportedMediaType, message: "Das Formular wurde nicht als Formular gesendet.")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 64 << 10)
        } catch {
            throw ConsoleFailure(status: .contentTooLarge, message: "Das Formular ist zu groß.")
        }
        return Self.fields(String(buffer: body))
    }

    /// A POST of a signed-in user: its session and fields, once its CSRF token is the session's.
    func signedInForm(_ request: Request, context: ConsoleContext) async throws -> (ConsoleSession, [String: String]) {
        let session = try await requireSession(request, context: context)
        let fields = try await form(request)
        guard let csrf = fields["csrf"], HubStore.constantTimeEqual(csrf, session.csrf) else {
            throw ConsoleFailure(status: .forbidden, message: "Das Formular ist abgelaufen oder kam nicht aus der Konsole. Bitte laden Sie die Seite neu.")
        }
        return (session, fields)
    }

    static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0] == name { return String(pair[1]) }
            }
        }
        return nil
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, on `/console`, `Secure` over TLS.
    func setCookie(_ name: String, _ value: String, maxAge: Int?, request: Request) -> String {
        var cookie = "\(name)=\(value); Path=/console; HttpOnly; SameSite=Strict"
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        if isSecure(request) { cookie += "; Secure" }
        return cookie
    }

    /// Whether the browser reached the console over TLS: served with it, or through a proxy
    /// that says so (a header that can only make the cookie stricter).
    func isSecure(_ request: Request) -> Bool {
        configuration.server.tls != nil || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    /// The browser's address, for the login limit and the audit: the connection's, or, when
    /// the connection comes from a proxy on this machine, the address it names last in
    /// `X-Forwarded-For` (else every login behind nginx would share one limit).
    static func client(_ request: Request, context: ConsoleContext) -> String {
        guard context.address == "127.0.0.1" || context.address == "::1",
            let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!]?.split(separator: ",").last?.trimmingCharacters(in: .whitespaces),
            (2...45).contains(forwarded.count), forwarded.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" })
        else { return context.address }
        return forwarded
    }

    /// Runs bcrypt on NIO's thread pool, off the cooperative pool.
    func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}

/// The console's request context: the client's address, for the login limit.
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let address: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        address = source.channel.remoteAddress?.ipAddress ?? "?"
    }
}

/// A page that sends the browser elsewhere (to the login page, mostly).
struct ConsoleRedirect: Error {
    var location: String
}

/// A refusal shown as a page: a status and a German message.
struct ConsoleFailure: Error {
    var status: HTTPResponse.Status
    var message: String
    var headers: HTTPFields = [:]
}

/// Security headers on every answer; refusals and failures as pages, never a stack trace.
struct ConsoleMiddleware: RouterMiddleware {
    typealias Context = ConsoleContext
    let console: HubConsole

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let redirect as ConsoleRedirect {
            response = .redirect(to: redirect.location, type: .found)
        } catch let failure as ConsoleFailure {
            response = console.page("fehler", title: "Fehler", session: nil, values: ["message": failure.message], status: failure.status)
            for field in failure.headers { response.headers.append(field) }
        } catch let error as HTTPError where error.status == .notFound {
            response = console.page("fehler", title: "Nicht gefunden", session: nil, values: ["message": "Diese Seite gibt es nicht."], status: .notFound)
        } catch let error as HubError where error.status < 500 {
            response = console.page("fehler", title: "Fehler", session: nil, values: ["message": error.description], status: .init(code: error.status))
        } catch {
            context.logger.error("console: internal error", metadata: ["route": "\(request.method) \(request.uri.path)", "error": "\(String(reflecting: error))"])
            response = console.page(
                "fehler", title: "Fehler", session: nil, values: ["message": "Ein interner Fehler ist aufgetreten; er steht im Protokoll des Hubs."],
                status: .internalServerError)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// Failed logins per name and per address, within a sliding window (docs/console.md).
final class LoginThrottle: Sendable {
    private let failures = Mutex<[String: [Int64]]>([:])
    let attempts: Int
    let windowMillis: Int64

    init(attempts: Int, windowMillis: Int64) {
        self.attempts = attempts
        self.windowMillis = windowMillis
    }

    /// Seconds until one of `keys` may try again; nil if none is blocked.
    func retryAfter(_ keys: [String], now: Int64) -> Int? {
        failures.withLock { table in
            keys.compactMap { key -> Int? in
                let recent = (table[key] ?? []).filter { $0 > now - windowMillis }
                table[key] = recent.isEmpty ? nil : recent
                guard recent.count >= attempts, let oldest = recent.first else { return nil }
                return Int((oldest + windowMillis - now + 999) / 1000)
            }.max()
        }
    }

    func failed(_ keys: [String], now: Int64) {
        failures.withLock { table in
            for key in keys { table[key, default: []].append(now) }
        }
    }

    func succeeded(_ key: String) {
        _ = failures.withLock { $0.removeValue(forKey: key) }
    }
}
