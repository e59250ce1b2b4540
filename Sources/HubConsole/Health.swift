import Foundation
import HubStore
import SyncCore
import WIRSchema

/// A centre's sync health as the console shows it (docs/console.md, "Health of a centre").
struct CentreHealth {
    enum State {
        case today
        case quiet(days: Int)
        case failed(reason: String)
        case never

        enum Kind { case today, quiet, failed, never }

        var kind: Kind {
            switch self {
            case .today: .today
            case .quiet: .quiet
            case .failed: .failed
            case .never: .never
            }
        }

        var label: String {
            switch self {
            case .today: "heute synchronisiert"
            case .quiet(let days): days == 1 ? "seit 1 Tag still" : "seit \(days) Tagen still"
            case .failed: "letzte Synchronisierung fehlgeschlagen"
            case .never: "nie synchronisiert"
            }
        }

        /// The CSS class, which sets colour; the map's shape says the same without colour.
        var css: String {
            switch self {
            case .today: "heute"
            case .quiet: "still"
            case .failed: "fehler"
            case .never: "nie"
            }
        }
    }

    let id: String
    let name: String
    let kind: String
    let state: State
    let activeReplicas: Int
    let lastPush: Int64?
    let lastPull: Int64?
    let openConflicts: Int
    let refused: Int
    let versions: String
    let clockOffset: Int64?

    init(centre: WIRSchema.Centre, client: ClientInfo?, replicas: [ReplicaInfo], activity: [ActivityEntry], now: Int64) {
        id = centre.id
        name = centre.name
        kind = centre.kind
        activeReplicas = client?.activeReplicas ?? 0
        lastPush = client?.lastPushAt
        lastPull = client?.lastPullAt
        openConflicts = client?.openConflicts ?? 0
        // Changes the hub refused in the last 30 days.
        refused = activity.filter { $0.at > now - 30 * 86_400_000 }.reduce(0) { $0 + $1.refused }
        let active = replicas.filter { $0.state == "active" }
        versions = Set(active.compactMap(\.schemaVersion)).sorted().map(String.init).joined(separator: ", ")
        clockOffset = active.compactMap(\.clockOffsetMs).max { abs($0) < abs($1) }
        let lastSync = (replicas.flatMap { [$0.lastSessionAt, $0.lastPushAt, $0.lastPullAt] } + [lastPush, lastPull]).compactMap { $0 }.max()
        if let newest = activity.max(by: { $0.id < $1.id }), newest.status >= 400 {
            state = .failed(reason: "\(newest.code ?? "HTTP \(newest.status)"): \(newest.detail)")
        } else if let lastSync {
            let days = Int((now - lastSync) / 86_400_000)
            state = days < 1 ? .today : .quiet(days: days)
        } else {
            state = .never
        }
    }

    /// The table's order: failed first, then the longest quiet, then never synced, then today.
    var urgency: (Int, Int) {
        switch state {
        case .failed: (0, 0)
        case .quiet(let days): (1, -days)
        case .never: (2, 0)
        case .today: (3, 0)
        }
    }

    var reason: String {
        if case .failed(let reason) = state { return reason }
        return ""
    }

    /// The cause in a few German words, for the overview's table; the centre's page has it whole.
    var cause: String {
        guard case .failed(let reason) = state else { return "" }
        let code = String(reason.prefix { $0 != ":" })
        return Self.causes[code].map { "\($0) (\(code))" } ?? "abgelehnt (\(code))"
    }

    static let causes = [
        "clock_ahead": "Die Uhr des PCs geht vor",
        "unauthorized": "Token ungültig oder gesperrt",
        "forbidden": "Anfrage außerhalb des eigenen Bereichs",
        "schema_too_old": "Schemaversion zu alt für den Hub",
        "schema_too_new": "Schemaversion neuer als der Hub",
        "schema_mismatch": "Schemaversion passt nicht",
        "missing_schema": "Schemaversion fehlt",
        "hub_behind": "Hub hinter dem Replikat (Wiederherstellung?)",
        "cursor_ahead": "Hub hinter dem Replikat (Wiederherstellung?)",
        "replica_diverged": "Replikat weicht vom Hub ab",
        "too_large": "Anfrage zu groß",
        "invalid_batch": "fehlerhafte Sendung",
        "malformed_json": "fehlerhafte Sendung",
    ]

    /// The centre as a row of the overview's table and the head of its page.
    var row: [String: Any] {
        [
            "id": id, "name": name, "kind": kind, "state": state.label, "css": state.css, "reason": reason, "cause": cause, "failed": !reason.isEmpty,
            "replicas": activeReplicas, "push": Format.time(lastPush), "pull": Format.time(lastPull), "conflicts": openConflicts,
            "refused": refused, "versions": versions.isEmpty ? "–" : versions, "offset": Format.offset(clockOffset),
        ]
    }
}

/// German formats of times and numbers.
enum Format {
    static let zone = TimeZone(identifier: "Europe/Berlin") ?? TimeZone(secondsFromGMT: 0)!

    static func time(_ millis: Int64?) -> String {
        guard let millis else { return "–" }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: Date(timeIntervalSince1970: Double(millis) / 1000))
        return String(format: "%02d.%02d.%04d %02d:%02d", parts.day!, parts.month!, parts.year!, parts.hour!, parts.minute!)
    }

    /// How far a PC's clock was from the hub's at its last session: "+12 s", "−3 min";
    /// under a second is the network's delay, not the clock's.
    static func offset(_ millis: Int64?) -> String {
        guard let millis else { return "–" }
        let seconds = abs(millis) / 1000
        guard seconds >= 1 else { return "< 1 s" }
        let sign = millis > 0 ? "+" : "−"
        switch seconds {
        case ..<120: return "\(sign)\(seconds) s"
        case ..<7_200: return "\(sign)\(seconds / 60) min"
        case ..<172_800: return "\(sign)\(seconds / 3_600) h"
        default: return "\(sign)\(seconds / 86_400) Tage"
        }
    }

    /// 1234567.5 → "1.234.567,50" with `decimals` 2.
    static func number(_ value: Double, decimals: Int) -> String {
        let text = String(format: "%.\(decimals)f", abs(value))
        let parts = text.split(separator: ".")
        var integer = String(parts[0])
        var grouped = ""
        while integer.count > 3 {
            grouped = "." + integer.suffix(3) + grouped
            integer = String(integer.dropLast(3))
        }
        let sign = value < 0 && text.contains(where: { $0 != "0" && $0 != "." }) ? "-" : ""
        return sign + integer + grouped + (parts.count > 1 ? "," + parts[1] : "")
    }
}

/// The columns whose values the console never shows (docs/console.md, "Personal data").
enum PersonalData {
    static let columns: [String: Set<String>] = [
        "volunteers": ["given_name", "family_name", "phone", "email"],
        "organisations": ["contact_email"],
        "deployments": ["note"],
    ]
    static let hidden = "personenbezogen – nicht angezeigt"

    static func isPersonal(table: String, column: String?) -> Bool {
        guard let column else { return false }
        return columns[table]?.contains(column) ?? false
    }

    /// A value as text; a row's values (a conflict over a whole row) without their personal columns.
    static func display(_ value: Value, table: String, rowLevel: Bool) -> String {
        switch value {
        case .null: return rowLevel ? "(Zeile gelöscht)" : "(leer)"
        case .integer(let integer): return String(integer)
        case .real(let real): return Format.number(real, decimals: 2)
        case .blob(let data): return "(Binärdaten, \(data.count) Bytes)"
        case .text(let text):
            guard rowLevel, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return text }
            return object.keys.sorted().map { key in
                isPersonal(table: table, column: key) ? "\(key): \(hidden)" : "\(key): \(object[key].map { "\($0)" } ?? "")"
            }.joined(separator: "; ")
        }
    }
}
