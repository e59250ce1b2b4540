import Foundation
import HTTPTypes
import HubConsole
import HubServer
import HubStore
import Hummingbird
import HummingbirdTesting
import Logging
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing

/// The HMSI console (docs/console.md) over a real loopback listener: accounts, sessions,
/// CSRF, the login limit, escaping, personal data, and its separation from the sync API.
@Suite("The HMSI console over HTTP", .timeLimit(.minutes(3)))
struct ConsoleTests {
    @Test func anAccountIsSetUpWithItsOneTimeSecretAndThenSignsInWithItsPassword() async throws {
        let console = try await ConsoleHarness()
        let secret = try await console.harness.store.addConsoleAccount("referat-iv", reset: false)
        try await console.test { browser in
            let away = try await browser.get("/console/uebersicht")
            #expect(away.status == .found && away.headers[.location] == "/console/anmelden", "no page without a session")

            try await browser.setUp("referat-iv", secret: secret, password: ConsoleHarness.password)
            let again = try await browser.submit(
                "/console/einrichten",
                ["name": "referat-iv", "geheimnis": secret, "passwort": "noch-ein-passwort", "passwort2": "noch-ein-passwort", "csrf": try await browser.csrf("/console/einrichten")])
            #expect(again.status == .badRequest, "the secret works once")

            let wrong = try await browser.signIn("referat-iv", password: "falsches-passwort")
            #expect(wrong.status == .unauthorized && wrong.text.contains("Name oder Passwort ist falsch."))
            #expect(browser.cookies[ConsoleHarness.session] == nil)

            let right = try await browser.signIn("referat-iv", password: ConsoleHarness.password)
            #expect(right.status == .found && right.headers[.location] == "/console/uebersicht")
            let cookie = try #require(right.headers[values: .setCookie].first { $0.hasPrefix(ConsoleHarness.session + "=") })
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] { #expect(cookie.contains(attribute)) }
            #expect(!cookie.contains("Secure"), "plain HTTP on loopback: a Secure cookie would never come back")
            let overview = try await browser.get("/console/uebersicht")
            #expect(overview.status == .ok && overview.text.contains("Alle Zentren") && overview.text.contains("referat-iv"))
        }
        let actions = try await console.harness.store.auditEntries(limit: 10).map(\.action)
        #expect(Set(actions).isSuperset(of: ["console_account_added", "console_setup", "console_login_failed", "console_login"]))
    }

    @Test func behindATLSProxyTheCookiesAreSecure() async throws {
        let console = try await ConsoleHarness()
        try await console.test { browser in
            browser.extraHeaders = [HTTPField.Name("X-Forwarded-Proto")!: "https"]
            try await browser.signedIn(console)
            let page = try await browser.get("/console/anmelden")
            #expect(page.headers[values: .setCookie].allSatisfy { $0.contains("; Secure") })
            #expect(browser.lastSessionCookie?.contains("; Secure") == true)
        }
    }

    @Test func aSessionEndsAfterIdleTimeAfterItsLifetimeAndAtLogout() async throws {
        let console = try await ConsoleHarness()
        try await console.test { browser in
            try await browser.signedIn(console)
            console.harness.clock.advance(by: 29 * 60_000)
            #expect(try await browser.get("/console/uebersicht").status == .ok, "29 minutes idle: still signed in")
            console.harness.clock.advance(by: 31 * 60_000)
            #expect(try await browser.get("/console/uebersicht").headers[.location] == "/console/anmelden", "31 minutes idle: signed out")

            try await browser.signedIn(console)
            for _ in 0..<23 {
                console.harness.clock.advance(by: 20 * 60_000)
                #expect(try await browser.get("/console/uebersicht").status == .ok)
            }
            console.harness.clock.advance(by: 20 * 60_000)
            #expect(try await browser.get("/console/uebersicht").headers[.location] == "/console/anmelden", "8 hours after login, however busy")

            try await browser.signedIn(console)
            let stolen = try #require(browser.cookies[ConsoleHarness.session])
            let out = try await browser.submit("/console/abmelden", ["csrf": try await browser.csrf("/console/uebersicht")])
            #expect(out.headers[.location] == "/console/anmelden?abgemeldet=1")
            browser.cookies[ConsoleHarness.session] = stolen
            #expect(try await browser.get("/console/uebersicht").headers[.location] == "/console/anmelden", "a copy of the cookie opens nothing after logout")
        }
        #expect(try await console.harness.store.consoleAccounts().first?.sessions == 0)
    }

    @Test func aFormWithoutTheSessionsCSRFTokenIsRefusedAndChangesNothing() async throws {
        let console = try await ConsoleHarness()
        let conflict = try await console.titleConflict(kasselTitle: "Sprachcafé (Zentrum)", hmsiTitle: "Sprachcafé (HMSI)")
        try await console.test { browser in
            try await browser.signedIn(console)
            let before = try await console.harness.hubState()
            for csrf in [nil, "", "gefälscht", String(repeating: "A", count: 32)] {
                var fields = ["behalten": "loser"]
                fields["csrf"] = csrf
                let refused = try await browser.submit("/console/konflikte/\(conflict)", fields)
                #expect(refused.status == .forbidden && refused.text.contains("Das Formular ist abgelaufen"))
            }
            #expect(try await console.harness.store.conflict(id: conflict).resolvedAt == nil)
            #expect(try await console.harness.hubState() == before)

            let signIn = try await browser.submit("/console/anmelden", ["name": "referat-iv", "passwort": ConsoleHarness.password, "csrf": "x"])
            #expect(signIn.status == .forbidden, "the login form has its own token, in a cookie of its own")
            let logout = try await browser.submit("/console/abmelden", [:])
            #expect(logout.status == .forbidden)
            #expect(try await browser.get("/console/uebersicht").status == .ok, "a logout without the token does not end the session")

            let kept = try await browser.submit(
                "/console/konflikte/\(conflict)", ["behalten": "loser", "csrf": try await browser.csrf("/console/konflikte/\(conflict)")])
            #expect(kept.status == .found)
            #expect(try await console.harness.store.conflict(id: conflict).kept == "loser")
        }
    }

    @Test func failedLoginsAreLimitedByNameAndByAddress() async throws {
        let console = try await ConsoleHarness()
        try await console.test { browser in
            try await browser.signedIn(console)
            _ = try await browser.submit("/console/abmelden", ["csrf": try await browser.csrf("/console/uebersicht")])
            for attempt in 1...5 {
                #expect(try await browser.signIn("referat-iv", password: "versuch-\(attempt)").status == .unauthorized)
            }
            let limited = try await browser.signIn("referat-iv", password: ConsoleHarness.password)
            #expect(limited.status == .tooManyRequests, "even the right password waits")
            #expect(limited.headers[.retryAfter].flatMap(Int.init).map { (1...900).contains($0) } == true)
            #expect(try await browser.signIn("jemand-anders", password: "egal-welches").status == .tooManyRequests, "the same address, another name")
            #expect(browser.cookies[ConsoleHarness.session] == nil)

            console.harness.clock.advance(by: 15 * 60_000 + 1_000)
            #expect(try await browser.signIn("referat-iv", password: ConsoleHarness.password).status == .found, "after the window")
        }
        let refusals = try await console.harness.store.auditEntries(limit: 50).filter { $0.action == "console_login_refused" }
        #expect(refusals.count == 2)
    }

    /// Behind a TLS proxy on the hub's machine every connection comes from 127.0.0.1: the
    /// limit then counts the address the proxy names, so one guesser does not lock out the ministry.
    @Test func behindAProxyTheLimitCountsTheAddressItNames() async throws {
        let console = try await ConsoleHarness()
        try await console.test { browser in
            try await browser.signedIn(console)
            _ = try await browser.submit("/console/abmelden", ["csrf": try await browser.csrf("/console/uebersicht")])
            browser.extraHeaders = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"]
            for guess in 1...5 {
                #expect(try await browser.signIn("rate-\(guess)", password: "versuch-\(guess)").status == .unauthorized)
            }
            #expect(try await browser.signIn("referat-iv", password: ConsoleHarness.password).status == .tooManyRequests, "the guesser's address waits")
            browser.extraHeaders = [HTTPField.Name("X-Forwarded-For")!: "10.1.2.3, 198.51.100.7"]
            #expect(try await browser.signIn("referat-iv", password: ConsoleHarness.password).status == .found, "a colleague behind the same proxy does not")
        }
        let failures = try await console.harness.store.auditEntries(limit: 50).filter { $0.action == "console_login_failed" }
        #expect(failures.count == 5 && failures.allSatisfy { $0.detail.hasSuffix("from 203.0.113.9") })
    }

    @Test(arguments: StoreKind.tested) func everyValueFromACentreIsShownAsText(store: StoreKind) async throws {
        let console = try await ConsoleHarness(store: store)
        let script = "<script>alert('wirsync')</script>"
        let conflict = try await console.titleConflict(kasselTitle: script, hmsiTitle: "Sprachcafé \"HMSI\" & <b>Team</b>")
        // A hostile centre's refused change: its key comes back in the refusal on the centre's page.
        let hostile = "<img src=x onerror=alert(1)>"
        try await console.harness.application().test(.router) { client in
            let replicaID = try console.harness.replica(kassel).status().replicaID
            let change = change(.insert, "organisations", hostile, organisationRow(fulda), seq: 5_000, origin: kassel, centre: fulda)
            let response = try await client.push(PushRequest(replicaID: replicaID, lastSeq: 5_000, changes: [change]), token: console.harness.token(kassel))
                .decode(PushResponse.self)
            #expect(response.refused.count == 1)
        }
        try await console.test { browser in
            try await browser.signedIn(console)
            let page = try await browser.get("/console/konflikte/\(conflict)")
            #expect(page.status == .ok)
            #expect(page.text.contains("&lt;script&gt;alert(&#39;wirsync&#39;)&lt;/script&gt;") || page.text.contains("&lt;script&gt;alert(&#x27;wirsync&#x27;)&lt;/script&gt;"))
            #expect(!page.text.contains("<script"), "nothing a centre wrote becomes markup")
            #expect(!page.text.contains("<b>Team"))
            let centre = try await browser.get("/console/zentren/\(kassel)")
            #expect(centre.text.contains("&lt;img src=x onerror=alert(1)&gt;"))
            #expect(!centre.text.contains("<img"))
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true, "and no script would run anyway")
        }
    }

    /// Invariant 8's neighbour: a volunteer's name, phone and e-mail stay in the centre's
    /// scope and out of every page and download of the console, even in a conflict over them.
    @Test(arguments: StoreKind.tested) func noVolunteersNamePhoneOrEmailAppearsInAnyPageOrDownload(store: StoreKind) async throws {
        let console = try await ConsoleHarness(store: store)
        let personal = try await console.volunteerWithAConflictOverThePhone()
        try await console.test { browser in
            try await browser.signedIn(console)
            var pages = ["/console/uebersicht", "/console/zentren/\(kassel)", "/console/konflikte?status=alle", "/console/berichte", "/console/protokoll"]
            for conflict in try await console.harness.store.conflicts(centre: nil, openOnly: false) { pages.append("/console/konflikte/\(conflict.id)") }
            for report in ConsoleReport.allCases { pages += ["/console/berichte/\(report.rawValue)", "/console/berichte/\(report.rawValue).csv"] }
            for path in pages {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path)")
                for value in personal { #expect(!page.text.contains(value), "\(path) shows \(value)") }
            }
            let conflicts = try await console.harness.store.conflicts(centre: nil, openOnly: false)
            let phone = try #require(conflicts.first { $0.column == "phone" })
            #expect(try await browser.get("/console/konflikte/\(phone.id)").text.contains("personenbezogen – nicht angezeigt"))
            let volunteers = try await browser.get("/console/berichte/ehrenamtliche")
            #expect(volunteers.text.contains("Landkreis Kassel"), "the aggregate is there")
        }
    }

    @Test(arguments: StoreKind.tested) func theCSVOpensInGermanExcel(store: StoreKind) async throws {
        let console = try await ConsoleHarness(store: store)
        _ = try await console.volunteerWithAConflictOverThePhone()
        try await console.test { browser in
            try await browser.signedIn(console)
            let download = try await browser.get("/console/berichte/einsatzstunden.csv")
            #expect(download.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(download.headers[.contentDisposition] == "attachment; filename=\"wir-einsatzstunden.csv\"")
            let bytes = Array(download.body.readableBytesView)
            #expect(bytes.prefix(3) == [0xEF, 0xBB, 0xBF], "UTF-8 with a byte-order mark")
            let lines = String(decoding: bytes.dropFirst(3), as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.first == "\"Landkreis/Stadt\";\"Monat\";\"Einsatzstunden\"")
            #expect(lines.contains("\"Landkreis Kassel\";\"2026-11\";2,50"), "\(lines)")
        }
        #expect(try await console.harness.store.auditEntries(limit: 5).contains { $0.action == "report_downloaded" && $0.detail == "einsatzstunden.csv" })
    }

    /// A sync token opens no console page, a console session authorises no sync request, and
    /// the console's listener has no sync routes.
    @Test func syncTokensAndConsoleSessionsAreSeparate() async throws {
        let console = try await ConsoleHarness()
        let syncToken = console.harness.token(Node.hmsi)
        let consoleToken = try await console.test { browser in
            let bearer = try await browser.get("/console/uebersicht", headers: [.authorization: "Bearer \(syncToken)"])
            #expect(bearer.status == .found && bearer.headers[.location] == "/console/anmelden")
            browser.cookies[ConsoleHarness.session] = syncToken
            #expect(try await browser.get("/console/uebersicht").status == .found, "nor as a cookie")
            browser.cookies = [:]

            try await browser.signedIn(console)
            for path in ["/v1/pull?after=0", "/healthz", "/metrics"] {
                #expect(try await browser.get(path, headers: [.authorization: "Bearer \(syncToken)"]).status == .notFound, "\(path) is not on the console's listener")
            }
            return try #require(browser.cookies[ConsoleHarness.session])
        }
        try await console.harness.application().test(.router) { client in
            let cookie = try await client.execute(
                uri: "/v1/pull?after=0", method: .get,
                headers: [.cookie: "\(ConsoleHarness.session)=\(consoleToken)", HTTPField.Name(Wire.schemaHeader)!: "wir/2"])
            #expect(cookie.status == .unauthorized)
            #expect(try await client.pull(after: 0, token: consoleToken).status == .unauthorized, "nor as a bearer token")
        }
    }
}

/// A hub with its console, and what a test needs to drive them.
final class ConsoleHarness: Sendable {
    static let session = "wirsync_console"
    static let password = "ein-langes-passwort-für-tests"
    let harness: HubHarness
    let console: HubConsole

    init(store: StoreKind = .sqlite) async throws {
        harness = try await HubHarness(store: store)
        var configuration = ConsoleConfiguration(server: HubServerConfiguration(port: 0))
        configuration.bcryptCost = 4
        console = try HubConsole(store: harness.store, configuration: configuration, clock: harness.clock)
    }

    /// Runs `body` against the console on a loopback listener, with an empty cookie jar.
    @discardableResult
    func test<T: Sendable>(_ body: @Sendable (ConsoleBrowser) async throws -> T) async throws -> T {
        var logger = Logger(label: "wirsync-console-test")
        logger.logLevel = .error
        return try await console.application(logger: logger).test(.live) { client in
            try await body(ConsoleBrowser(client: client))
        }
    }

    /// A project of Kassel's whose title both Kassel and HMSI changed, Kassel later: the
    /// conflict record's id (HMSI's value lost).
    func titleConflict(kasselTitle: String, hmsiTitle: String) async throws -> Int64 {
        try await harness.application().test(.router) { client in
            let project = try await sharedProject(harness, client: client, seed: 16)
            try edit(harness.replica(Node.hmsi), "UPDATE projects SET title = \(literal(hmsiTitle)) WHERE id = '\(project)'", offset: 1_000)
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            try edit(harness.replica(kassel), "UPDATE projects SET title = \(literal(kasselTitle)) WHERE id = '\(project)'", offset: 2_000)
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
        }
        let record = try #require(try await harness.store.conflicts(centre: kassel, openOnly: true).first)
        return record.id
    }

    /// A volunteer of Kassel's with distinctive personal data, an Einsatz of 2.5 hours in
    /// November 2026, and a conflict over the phone number: the personal values.
    func volunteerWithAConflictOverThePhone() async throws -> [String] {
        let personal = ["Zuleikha", "Wirsyncowa", "+49 561 7788990011", "zuleikha.wirsyncowa@example.org", "Notiz-Geheim-4711", "+49 561 0000111122"]
        try sqlite3(
            harness.replica(kassel).path,
            """
            INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone, email, active)
            VALUES ('v-konsole', '\(kassel)', 'Laiendolmetschende', '\(personal[0])', '\(personal[1])', 'de,ti', 'Basisqualifizierung', '\(personal[2])', '\(personal[3])', 1);
            INSERT INTO deployments (id, centre_id, volunteer_id, date, hours, language, setting, note)
            VALUES ('d-konsole', '\(kassel)', 'v-konsole', '2026-11-20', 2.5, 'ti', 'Elterngespräch', '\(personal[4])');
            """)
        try await harness.application().test(.router) { client in
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            try edit(harness.replica(Node.hmsi), "UPDATE volunteers SET phone = '\(personal[5])' WHERE id = 'v-konsole'", offset: 1_000)
            try await client.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            try edit(harness.replica(kassel), "UPDATE volunteers SET phone = '\(personal[2])0' WHERE id = 'v-konsole'", offset: 2_000)
            try await client.sync(harness.replica(kassel), token: harness.token(kassel))
        }
        #expect(try await harness.store.conflicts(centre: kassel, openOnly: true).contains { $0.column == "phone" })
        return personal
    }
}

/// A client with a cookie jar, as a browser keeps one: every request sends the cookies the
/// console set, and forms go as `application/x-www-form-urlencoded`.
final class ConsoleBrowser: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var extraHeaders: HTTPFields = [:]
    var lastSessionCookie: String?

    init(client: any TestClientProtocol) { self.client = client }

    func get(_ path: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await send(path, method: .get, headers: headers, body: nil)
    }

    func submit(_ path: String, _ fields: [String: String]) async throws -> TestResponse {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        return try await send(
            path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body))
    }

    private func send(_ path: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        for field in extraHeaders { headers.append(field) }
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        let response = try await client.execute(uri: path, method: method, headers: headers, body: body)
        for setCookie in response.headers[values: .setCookie] {
            let pair = setCookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            if name == ConsoleHarness.session { lastSessionCookie = setCookie }
            if setCookie.contains("Max-Age=0") || pair.count < 2 || pair[1].isEmpty {
                cookies[name] = nil
            } else {
                cookies[name] = String(pair[1])
            }
        }
        return response
    }

    /// The CSRF token of the first form on `path`.
    func csrf(_ path: String) async throws -> String {
        let page = try await get(path).text
        guard let range = page.range(of: #"name="csrf" value="([^"]*)""#, options: .regularExpression) else { return "" }
        return String(page[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    func setUp(_ name: String, secret: String, password: String) async throws {
        let csrf = try await csrf("/console/einrichten")
        let done = try await submit("/console/einrichten", ["name": name, "geheimnis": secret, "passwort": password, "passwort2": password, "csrf": csrf])
        #expect(done.status == .found && done.headers[.location] == "/console/anmelden?eingerichtet=1", "\(done.text)")
    }

    func signIn(_ name: String, password: String) async throws -> TestResponse {
        let csrf = try await csrf("/console/anmelden")
        return try await submit("/console/anmelden", ["name": name, "passwort": password, "csrf": csrf])
    }

    /// Signs in as `referat-iv`, creating and setting up the account the first time.
    func signedIn(_ console: ConsoleHarness) async throws {
        if try await console.harness.store.consolePasswordHash("referat-iv") == nil {
            let secret = try await console.harness.store.addConsoleAccount("referat-iv", reset: false)
            try await setUp("referat-iv", secret: secret, password: ConsoleHarness.password)
        }
        let response = try await signIn("referat-iv", password: ConsoleHarness.password)
        #expect(response.status == .found, "\(response.text)")
    }
}

/// The console's colours against their backgrounds: WCAG 2 level AA asks 4.5:1 for text.
@Suite("The HMSI console's colours")
struct ConsoleColourTests {
    @Test func everyColourOfTextAndStateMeetsWCAGAAContrast() throws {
        let css = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../console/console.css").standardized.path, encoding: .utf8)
        var colours: [String: String] = [:]
        for match in css.matches(of: /--([a-z]+): (#[0-9a-f]{6});/) { colours[String(match.1)] = String(match.2) }
        #expect(colours.count == 8, "\(colours)")
        for (name, colour) in colours where name != "line" {
            #expect(Self.contrast(colour, "#ffffff") >= 4.5, "--\(name) \(colour) on white: \(Self.contrast(colour, "#ffffff"))")
        }
        // The map: the state shapes on the Land's fill, and the header's white on the accent.
        #expect(Self.contrast(colours["never"]!, "#eef3f8") >= 3, "a ring on the map (a graphic: 3:1)")
        #expect(Self.contrast(colours["warn"]!, "#eef3f8") >= 3 && Self.contrast(colours["ok"]!, "#eef3f8") >= 3)
    }

    static func contrast(_ a: String, _ b: String) -> Double {
        func luminance(_ hex: String) -> Double {
            let value = Int(hex.dropFirst(), radix: 16)!
            func linear(_ byte: Int) -> Double {
                let channel = Double(byte) / 255
                return channel <= 0.03928 ? channel / 12.92 : pow((channel + 0.055) / 1.055, 2.4)
            }
            let (red, green, blue) = (linear(value >> 16), linear((value >> 8) & 0xFF), linear(value & 0xFF))
            return 0.2126 * red + 0.7152 * green + 0.0722 * blue
        }
        let (l1, l2) = (luminance(a), luminance(b))
        return (max(l1, l2) + 0.05) / (min(l1, l2) + 0.05)
    }
}
