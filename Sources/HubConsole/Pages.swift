import Foundation
import HTTPTypes
import HubStore
import Hummingbird
import HummingbirdBcrypt
import NIOCore
import SyncCore
import WIRSchema

extension HubConsole {
    // MARK: Login, setup, logout

    func loginPage(_ request: Request, context: ConsoleContext) throws -> Response {
        let query = request.uri.queryParameters
        return formPage(
            "anmelden", title: "Anmelden", request: request,
            values: ["loggedOut": query["abgemeldet"] != nil, "setUp": query["eingerichtet"] != nil])
    }

    func setupPage(_ request: Request, context: ConsoleContext) throws -> Response {
        formPage("einrichten", title: "Zugang einrichten", request: request, values: [:])
    }

    /// A page with a form used before there is a session: its CSRF token is the one in the
    /// form cookie (set here when missing), which the POST must send back.
    private func formPage(_ template: String, title: String, request: Request, values: [String: Any], status: HTTPResponse.Status = .ok)
        -> Response
    {
        let token = Self.cookie(Self.formCookie, in: request) ?? HubStore.randomToken(bytes: 24)
        var values = values
        values["csrf"] = token
        var response = page(template, title: title, session: nil, values: values, status: status)
        response.headers[.setCookie] = setCookie(Self.formCookie, token, maxAge: nil, request: request)
        return response
    }

    /// The fields of a form posted before login, once its CSRF token matches the form cookie.
    private func preSessionForm(_ request: Request) async throws -> [String: String] {
        let fields = try await form(request)
        guard let cookie = Self.cookie(Self.formCookie, in: request), let sent = fields["csrf"], HubStore.constantTimeEqual(cookie, sent) else {
            throw ConsoleFailure(status: .forbidden, message: "Das Formular ist abgelaufen oder kam nicht aus der Konsole. Bitte laden Sie die Anmeldeseite neu.")
        }
        return fields
    }

    func login(_ request: Request, context: ConsoleContext) async throws -> Response {
        let fields = try await preSessionForm(request)
        let name = String((fields["name"] ?? "").trimmingCharacters(in: .whitespaces).prefix(64))
        let password = fields["passwort"] ?? ""
        let address = Self.client(request, context: context)
        let keys = ["name:" + name.lowercased(), "address:" + address]
        let now = clock.nowMillis()
        if let wait = throttle.retryAfter(keys, now: now) {
            try await store.audit(
                actor: "console", action: "console_login_refused", table: nil, pk: nil, centre: nil,
                detail: "too many failed logins for \(name) or from \(address)")
            var headers = HTTPFields()
            headers[.retryAfter] = String(wait)
            throw ConsoleFailure(
                status: .tooManyRequests,
                message: "Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie \(max(1, (wait + 59) / 60)) Minuten und versuchen Sie es dann erneut.",
                headers: headers)
        }
        let stored = try await store.consolePasswordHash(name)
        let hash = stored ?? dummyHash
        let matches = try await offPool { password.utf8.count <= 72 && Bcrypt.verify(password, hash: hash) }
        guard stored != nil, matches else {
            throttle.failed(keys, now: now)
            try await store.audit(
                actor: "console", action: "console_login_failed", table: nil, pk: nil, centre: nil, detail: "name \(name) from \(address)")
            return formPage(
                "anmelden", title: "Anmelden", request: request, values: ["error": "Name oder Passwort ist falsch.", "name": name],
                status: .unauthorized)
        }
        throttle.succeeded(keys[0])
        let token = HubStore.randomToken(bytes: 32)
        try await store.startConsoleSession(
            account: name, tokenSHA256: HubStore.sha256(token), csrf: HubStore.randomToken(bytes: 24), lifetimeMillis: configuration.lifetimeMillis)
        try await store.audit(actor: "console:\(name)", action: "console_login", table: nil, pk: nil, centre: nil, detail: "from \(address)")
        var response = Response.redirect(to: "/console/uebersicht", type: .found)
        response.headers[.setCookie] = setCookie(Self.sessionCookie, token, maxAge: Int(configuration.lifetimeMillis / 1000), request: request)
        response.headers.append(HTTPField(name: .setCookie, value: setCookie(Self.formCookie, "", maxAge: 0, request: request)))
        return response
    }

    func setup(_ request: Request, context: ConsoleContext) async throws -> Response {
        let fields = try await preSessionForm(request)
        let name = String((fields["name"] ?? "").trimmingCharacters(in: .whitespaces).prefix(64))
        let secret = fields["geheimnis"]?.trimmingCharacters(in: .whitespaces) ?? ""
        let password = fields["passwort"] ?? ""
        func again(_ message: String) -> Response {
            formPage("einrichten", title: "Zugang einrichten", request: request, values: ["error": message, "name": name], status: .badRequest)
        }
        guard password == fields["passwort2"] else { return again("Die beiden Passwörter sind nicht gleich.") }
        guard password.count >= 12, password.utf8.count <= 72 else {
            return again("Das Passwort muss mindestens 12 Zeichen lang sein (höchstens 72 Bytes).")
        }
        let now = clock.nowMillis()
        let keys = ["setup:" + name.lowercased(), "address:" + Self.client(request, context: context)]
        if throttle.retryAfter(keys, now: now) != nil {
            throw ConsoleFailure(status: .tooManyRequests, message: "Zu viele fehlgeschlagene Versuche. Bitte warten Sie 15 Minuten.")
        }
        let cost = configuration.bcryptCost
        let hash = try await offPool { Bcrypt.hash(password, cost: cost) }
        guard try await store.completeConsoleSetup(name, secret: secret, passwordHash: hash) else {
            throttle.failed(keys, now: now)
            return again("Name oder Einrichtungsgeheimnis ist falsch, oder das Geheimnis ist abgelaufen (`wirsync-hub admin reset NAME` gibt ein neues).")
        }
        return .redirect(to: "/console/anmelden?eingerichtet=1", type: .found)
    }

    func logout(_ request: Request, context: ConsoleContext) async throws -> Response {
        let (session, _) = try await signedInForm(request, context: context)
        if let token = Self.cookie(Self.sessionCookie, in: request) {
            try await store.endConsoleSession(tokenSHA256: HubStore.sha256(token))
        }
        try await store.audit(actor: "console:\(session.account)", action: "console_logout", table: nil, pk: nil, centre: nil, detail: "logged out")
        var response = Response.redirect(to: "/console/anmelden?abgemeldet=1", type: .found)
        response.headers[.setCookie] = setCookie(Self.sessionCookie, "", maxAge: 0, request: request)
        return response
    }

    // MARK: Overview and centres

    func overview(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        let healths = try await centreHealths()
        let counts = Dictionary(grouping: healths, by: \.state.kind).mapValues(\.count)
        return page(
            "uebersicht", title: "Übersicht", session: session,
            values: [
                "map": HessenMapSVG.render(healths),
                "centres": healths.enumerated().sorted { ($0.element.urgency.0, $0.element.urgency.1, $0.offset) < ($1.element.urgency.0, $1.element.urgency.1, $1.offset) }
                    .map(\.element.row),
                "today": counts[.today] ?? 0, "quiet": counts[.quiet] ?? 0, "failed": counts[.failed] ?? 0, "never": counts[.never] ?? 0,
            ])
    }

    func centrePage(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        let id = context.parameters.get("id") ?? ""
        guard let centre = WIRSchema.centre(id: id) else {
            throw ConsoleFailure(status: .notFound, message: "Es gibt kein WIR-Vielfaltszentrum mit der Kennung \(id).")
        }
        let replicas = try await store.replicas(centre: id)
        let all = try await store.activity(centre: id, limit: HubStore.activityPerCentre)
        let health = CentreHealth(
            centre: centre, client: try await store.clients().first { $0.node == id }, replicas: replicas, activity: all, now: clock.nowMillis())
        let activity = all.prefix(50)
        return page(
            "zentrum", title: health.name, session: session,
            values: [
                "centre": health.row,
                "replicas": replicas.map { replica -> [String: Any] in
                    [
                        "origin": replica.origin, "label": replica.tokenLabel ?? "", "state": replica.state == "active" ? "aktiv" : "gesperrt",
                        "version": replica.schemaVersion.map(String.init) ?? "–", "session": Format.time(replica.lastSessionAt),
                        "push": Format.time(replica.lastPushAt), "pull": Format.time(replica.lastPullAt), "offset": Format.offset(replica.clockOffsetMs),
                    ]
                },
                "hasReplicas": !replicas.isEmpty,
                "activity": activity.map(Self.activityRow),
                "hasActivity": !activity.isEmpty,
                "refusals": activity.filter { $0.status >= 400 || $0.refused > 0 }.map(Self.activityRow),
            ])
    }

    static func activityRow(_ entry: ActivityEntry) -> [String: Any] {
        let outcome: String
        if entry.status >= 400 {
            outcome = "abgelehnt (\(entry.status) \(entry.code ?? ""))"
        } else if entry.route == "push" {
            outcome = "\(entry.applied) übernommen, \(entry.refused) abgelehnt, \(entry.conflicts) Konflikte"
        } else {
            outcome = "in Ordnung"
        }
        let routes = ["session": "Sitzung", "push": "Senden", "pull": "Abholen", "erase": "Löschen", "reoffer": "Erneut anbieten", "digest": "Prüfen"]
        return [
            "time": Format.time(entry.at), "replica": entry.origin ?? "–", "route": routes[entry.route] ?? entry.route, "outcome": outcome,
            "failed": entry.status >= 400 || entry.refused > 0, "detail": entry.status >= 400 || entry.refused > 0 ? entry.detail : "",
        ]
    }

    /// Every centre's sync health, in the order of `fixtures/centres.json`.
    func centreHealths() async throws -> [CentreHealth] {
        let clients = Dictionary(try await store.clients().map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
        let replicas = Dictionary(grouping: try await store.replicas(centre: nil), by: \.centre)
        // Every entry the hub keeps: of each centre and of HMSI's own replicas.
        let kept = (WIRSchema.centres.count + 1) * HubStore.activityPerCentre
        let activity = Dictionary(grouping: try await store.activity(centre: nil, limit: kept), by: \.centre)
        let now = clock.nowMillis()
        return WIRSchema.centres.map { centre in
            CentreHealth(
                centre: centre, client: clients[centre.id], replicas: replicas[centre.id] ?? [], activity: activity[centre.id] ?? [], now: now)
        }
    }

    // MARK: Conflicts

    func conflictsPage(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        let query = request.uri.queryParameters
        let centre = query["zentrum"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let table = query["tabelle"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let state = query["status"].map(String.init) ?? "offen"
        // One read: every record, for the tables the filter offers, then the selection.
        let all = try await store.conflicts(centre: nil, openOnly: false)
        let tables = Set(all.map(\.table)).sorted()
        let records = all.filter { record in
            (centre == nil || record.centre == centre) && (table == nil || record.table == table)
                && (state == "offen" ? record.resolvedAt == nil : state == "erledigt" ? record.resolvedAt != nil : true)
        }
        let names = Dictionary(uniqueKeysWithValues: WIRSchema.centres.map { ($0.id, $0.name) })
        return page(
            "konflikte", title: "Konflikte", session: session,
            values: [
                "conflicts": records.prefix(500).map { record -> [String: Any] in
                    [
                        "id": record.id, "centre": record.centre.flatMap { names[$0] } ?? "Referenzdaten", "table": record.table,
                        "column": record.column ?? "(ganze Zeile)", "recorded": Format.time(record.recordedAt),
                        "state": record.resolvedAt == nil ? "offen" : "erledigt (\(record.kept == "loser" ? "unterlegener" : "gewinnender") Wert)",
                    ]
                },
                "count": records.count, "none": records.isEmpty,
                "centres": WIRSchema.centres.map { ["id": $0.id, "name": $0.name, "selected": $0.id == centre] },
                "tables": tables.map { ["name": $0, "selected": $0 == table] },
                "states": [("offen", "offen"), ("erledigt", "erledigt"), ("alle", "alle")].map { ["value": $0.0, "label": $0.1, "selected": $0.0 == state] },
            ])
    }

    func conflictPage(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        return try await renderConflict(try conflictID(context), session: session, resolved: request.uri.queryParameters["entschieden"] != nil)
    }

    private func conflictID(_ context: ConsoleContext) throws -> Int64 {
        guard let id = context.parameters.get("id").flatMap(Int64.init) else {
            throw ConsoleFailure(status: .notFound, message: "Diesen Konflikt gibt es nicht.")
        }
        return id
    }

    private func renderConflict(_ id: Int64, session: ConsoleSession, resolved: Bool) async throws -> Response {
        let record: ConflictRecord
        do {
            record = try await store.conflict(id: id)
        } catch {
            throw ConsoleFailure(status: .notFound, message: "Den Konflikt \(id) gibt es nicht (mehr).")
        }
        let personal = PersonalData.isPersonal(table: record.table, column: record.column)
        func side(_ side: ConflictSide, name: String) -> [String: Any] {
            [
                "name": name, "value": personal ? PersonalData.hidden : PersonalData.display(side.value, table: record.table, rowLevel: record.column == nil),
                "origin": side.origin, "time": Format.time(side.hlc.millis),
            ]
        }
        let row = (try? await store.currentRow(table: record.table, pk: record.pk)) ?? nil
        return page(
            "konflikt", title: "Konflikt \(record.id)", session: session,
            values: [
                "id": record.id, "table": record.table, "pk": record.pk, "column": record.column ?? "(ganze Zeile: Löschen gegen Ändern)",
                "centre": record.centre.flatMap { WIRSchema.centre(id: $0)?.name } ?? "Referenzdaten", "centreID": record.centre ?? "",
                "recorded": Format.time(record.recordedAt), "open": record.resolvedAt == nil, "resolvedJustNow": resolved,
                "resolution": record.resolvedAt.map {
                    "Entschieden am \(Format.time($0)) von \(record.resolvedBy ?? "?"): \(record.kept == "loser" ? "der unterlegene" : "der gewinnende") Wert gilt."
                } ?? "",
                "personal": personal,
                "winner": side(record.winner, name: "Gewinnender Wert (gilt jetzt)"),
                "loser": side(record.loser, name: "Unterlegener Wert"),
                "row": (row ?? []).filter { !PersonalData.isPersonal(table: record.table, column: $0.column) }.map {
                    ["column": $0.column, "value": PersonalData.display($0.value, table: record.table, rowLevel: false)]
                },
                "rowGone": row == nil,
            ])
    }

    func resolveConflict(_ request: Request, context: ConsoleContext) async throws -> Response {
        let (session, fields) = try await signedInForm(request, context: context)
        let id = try conflictID(context)
        guard let keep = fields["behalten"].flatMap(HubStore.Keep.init(rawValue:)) else {
            throw ConsoleFailure(status: .badRequest, message: "Bitte wählen Sie, welcher Wert gelten soll.")
        }
        let record: ConflictRecord
        do {
            // The same path as `wirsync-hub conflicts resolve`: the centre gets the decision on its next pull.
            record = try await store.resolve(id: id, keep: keep, by: "console:\(session.account)")
        } catch {
            throw Self.refusal(resolving: id, error)
        }
        try await store.audit(
            actor: "console:\(session.account)", action: "conflict_resolved", table: record.table, pk: record.pk, centre: record.centre,
            detail: "conflict \(id)\(record.column.map { " on \($0)" } ?? ""): kept the \(keep.rawValue)")
        return .redirect(to: "/console/konflikte/\(id)?entschieden=1", type: .found)
    }

    private static func refusal(resolving id: Int64, _ error: HubError) -> any Error {
        switch error.status {
        case 404: ConsoleFailure(status: .notFound, message: "Den Konflikt \(id) gibt es nicht (mehr).")
        case 409: ConsoleFailure(status: .conflict, message: "Der Konflikt \(id) ist schon entschieden.")
        default: error
        }
    }

    // MARK: Reports and audit

    func reportsPage(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        return page("berichte", title: "Programmzahlen", session: session, values: ["reports": ConsoleReport.allCases.map(\.listing)])
    }

    func reportPage(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        var name = context.parameters.get("name") ?? ""
        let csv = name.hasSuffix(".csv")
        if csv { name.removeLast(4) }
        guard let report = ConsoleReport(rawValue: name) else {
            throw ConsoleFailure(status: .notFound, message: "Diesen Bericht gibt es nicht.")
        }
        let table = try await store.report(report)
        let places = ReportFormat.decimals(table)
        if csv {
            try await store.audit(actor: "console:\(session.account)", action: "report_downloaded", table: nil, pk: nil, centre: nil, detail: "\(name).csv")
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"wir-\(name).csv\"",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: ReportFormat.excelCSV(table))))
        }
        return page(
            "bericht", title: report.title, session: session,
            values: [
                "name": name, "title": report.title, "about": report.about, "chart": ReportFormat.chart(table, title: report.title),
                "columns": table.columns.map { ["label": $0] },
                "rows": table.rows.map { row in
                    ["cells": zip(row, places).map { cell, decimals in ["text": ReportFormat.display(cell, decimals: decimals), "number": cell.isNumber] }]
                },
                "empty": table.rows.isEmpty,
            ])
    }

    func auditPage(_ request: Request, context: ConsoleContext) async throws -> Response {
        let session = try await requireSession(request, context: context)
        let entries = try await store.auditEntries(limit: 300)
        return page(
            "protokoll", title: "Protokoll", session: session,
            values: [
                "entries": entries.map {
                    [
                        "time": Format.time($0.at), "actor": $0.actor, "action": $0.action, "table": $0.table ?? "", "pk": $0.pk ?? "",
                        "centre": $0.centre ?? "", "detail": $0.detail,
                    ]
                }
            ])
    }
}

extension ConsoleReport {
    var title: String {
        switch self {
        case .projects: "Projekte nach Förderlinie und Status"
        case .funding: "Beantragte und bewilligte Fördermittel nach Regierungsbezirk und Förderlinie"
        case .hours: "Einsatzstunden nach Landkreis/Stadt und Monat"
        case .volunteers: "Aktive Integrationslots*innen und Laiendolmetschende nach Zentrum und Sprache"
        }
    }

    var about: String {
        switch self {
        case .projects: "Anzahl der Projekte aller Zentren, nach Förderlinie und Status."
        case .funding: "Summen in Euro: beantragte Mittel (requested) und von HMSI bewilligte Mittel (approved)."
        case .hours: "Summe der Stunden aller Einsätze von Ehrenamtlichen, nach dem Monat des Einsatzes."
        case .volunteers: "Aktive Ehrenamtliche je Sprache, die sie sprechen; wer mehrere Sprachen spricht, zählt bei jeder."
        }
    }

    var listing: [String: Any] { ["name": rawValue, "title": title, "about": about] }
}
