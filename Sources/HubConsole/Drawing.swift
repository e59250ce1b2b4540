import Foundation
import HubStore
import WIRSchema

/// Text for HTML or SVG: every character that could end a text or an attribute, escaped.
/// (What the templates render goes through Mustache's escaping; this is for the SVG drawn here.)
func escaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}

/// The map of Hessen with the 33 centres, drawn on the server (docs/console.md).
enum HessenMapSVG {
    static let width = 360.0
    static let height = 500.0
    private static let (west, east, south, north) = (7.70, 10.32, 49.34, 51.72)

    /// Equirectangular, with longitude scaled by the cosine of Hessen's middle latitude.
    static func point(lon: Double, lat: Double) -> (x: Double, y: Double) {
        let scale = (height - 20) / (north - south)
        let xScale = scale * cos(50.5 * .pi / 180)
        return (10 + (lon - west) * xScale, 10 + (north - lat) * scale)
    }

    static func render(_ centres: [CentreHealth]) -> String {
        let outline = WIRSchema.map.outline.map { pair -> String in
            let p = point(lon: pair[0], lat: pair[1])
            return String(format: "%.1f,%.1f", p.x, p.y)
        }.joined(separator: " ")
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" \
            role="img" aria-labelledby="karte-titel" class="karte">
            <title id="karte-titel">Karte von Hessen mit den 33 WIR-Vielfaltszentren und ihrem Synchronisierungszustand</title>
            <polygon class="land" points="\(outline)"/>

            """
        let seats = Dictionary(uniqueKeysWithValues: WIRSchema.map.seats.map { ($0.id, $0) })
        // Cities first, at their seats; a Landkreis whose seat is one of them goes beside it, with a line.
        var placed: [(x: Double, y: Double)] = []
        let ordered = centres.filter { $0.kind != "Landkreis" } + centres.filter { $0.kind == "Landkreis" }
        for centre in ordered {
            guard let seat = seats[centre.id] else { continue }
            let true_ = point(lon: seat.lon, lat: seat.lat)
            var at = true_
            var nudge = 0
            while placed.contains(where: { hypot($0.x - at.x, $0.y - at.y) < 11 }) && nudge < 8 {
                nudge += 1
                let angle = Double(nudge) * .pi / 4 - .pi / 4
                at = (true_.x + 15 * cos(angle), true_.y - 15 * sin(angle))
            }
            placed.append(at)
            let label = "\(centre.name) (\(seat.seat)): \(centre.state.label)\(centre.reason.isEmpty ? "" : " – \(centre.reason)")"
            svg += "<a href=\"/console/zentren/\(escaped(centre.id))\" class=\"ort \(centre.state.css)\" aria-label=\"\(escaped(label))\">"
            svg += "<title>\(escaped(label))</title>"
            if nudge > 0 {
                svg += String(format: "<line class=\"zu\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", true_.x, true_.y, at.x, at.y)
            }
            svg += marker(centre.state.kind, x: at.x, y: at.y)
            // Centres that need attention carry their seat's name on the map as well.
            if centre.state.kind == .failed || centre.state.kind == .quiet {
                svg += String(format: "<text class=\"name\" x=\"%.1f\" y=\"%.1f\">", at.x, at.y - 11) + escaped(seat.seat) + "</text>"
            }
            svg += "</a>\n"
        }
        return svg + "</svg>"
    }

    /// A shape per state, so the map reads without colour: circle, triangle, cross, ring.
    static func marker(_ kind: CentreHealth.State.Kind, x: Double, y: Double) -> String {
        switch kind {
        case .today:
            return String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\"/>", x, y)
        case .quiet:
            return String(format: "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>", x, y - 7, x + 7, y + 5, x - 7, y + 5)
        case .failed:
            return String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"13\" height=\"13\"/>", x - 6.5, y - 6.5)
                + String(format: "<path class=\"kreuz\" d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\"/>", x - 4, y - 4, x + 4, y + 4, x + 4, y - 4, x - 4, y + 4)
        case .never:
            return String(format: "<circle class=\"ring\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\"/>", x, y)
        }
    }
}

/// A report as a chart, as a CSV for German Excel, and its cells as text.
enum ReportFormat {
    /// Decimals per column: 2 where any of its numbers has a fraction, so that a column
    /// reads alike ("14,00" beside "1,50"); none where all are whole.
    static func decimals(_ table: ReportTable) -> [Int] {
        table.columns.indices.map { index in
            table.rows.contains { row in
                if case .number(let value) = row[index] { return value != value.rounded() }
                return false
            } ? 2 : 0
        }
    }

    static func display(_ cell: ReportTable.Cell, decimals: Int) -> String {
        switch cell {
        case .text(let text): text
        case .number(let number): Format.number(number, decimals: decimals)
        }
    }

    /// UTF-8 with a byte-order mark, `;` between fields, decimal commas, CRLF: what German
    /// Excel opens as it is. Every text is quoted; a number is not, and has no thousands separator.
    static func excelCSV(_ table: ReportTable) -> [UInt8] {
        func quote(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        var lines = [table.columns.map(quote).joined(separator: ";")]
        for row in table.rows {
            lines.append(row.map { cell in
                switch cell {
                case .text(let text): quote(text)
                case .number(let number):
                    (number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(format: "%.2f", number))
                        .replacingOccurrences(of: ".", with: ",")
                }
            }.joined(separator: ";"))
        }
        return [0xEF, 0xBB, 0xBF] + Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    /// Horizontal bars: one group per value of the first column, one bar per numeric column
    /// (summed over the group's rows), at most 40 groups, largest first.
    static func chart(_ table: ReportTable, title: String) -> String {
        let numeric = table.columns.indices.filter { index in table.rows.contains { $0[index].isNumber } }
        let places = decimals(table)
        var groups: [(label: String, values: [Double])] = []
        var position: [String: Int] = [:]
        for row in table.rows {
            let label = display(row[0], decimals: places[0])
            if position[label] == nil {
                position[label] = groups.count
                groups.append((label, Array(repeating: 0, count: numeric.count)))
            }
            for (series, index) in numeric.enumerated() {
                if case .number(let value) = row[index] { groups[position[label]!].values[series] += value }
            }
        }
        groups.sort { $0.values.reduce(0, +) > $1.values.reduce(0, +) }
        let shown = Array(groups.prefix(40))
        let maximum = max(shown.flatMap(\.values).max() ?? 0, 1)
        let (labelWidth, barWidth, barHeight) = (260.0, 380.0, 14.0)
        let groupHeight = Double(numeric.count) * barHeight + 8
        let height = 30 + Double(shown.count) * groupHeight + 10
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(labelWidth + barWidth + 110)) \(Int(height))" \
            width="\(Int(labelWidth + barWidth + 110))" height="\(Int(height))" class="diagramm" \
            role="img" aria-label="\(escaped("Balkendiagramm: " + title))">
            <title>\(escaped(title))</title>

            """
        for (series, index) in numeric.enumerated() {
            let x = labelWidth + Double(series) * 170
            svg += "<rect class=\"reihe\(series)\" x=\"\(n(x))\" y=\"6\" width=\"12\" height=\"12\"/>"
            svg += "<text x=\"\(n(x + 16))\" y=\"16\">\(escaped(table.columns[index]))</text>\n"
        }
        for (number, group) in shown.enumerated() {
            let top = 30 + Double(number) * groupHeight
            let label = group.label.count > 38 ? String(group.label.prefix(37)) + "…" : group.label
            svg += "<text class=\"name\" x=\"\(n(labelWidth - 6))\" y=\"\(n(top + barHeight - 3))\">\(escaped(label))</text>\n"
            for (series, value) in group.values.enumerated() {
                let y = top + Double(series) * barHeight
                let length = max(1, value / maximum * barWidth)
                let text = escaped(Format.number(value, decimals: places[numeric[series]]))
                svg += "<rect class=\"reihe\(series)\" x=\"\(n(labelWidth))\" y=\"\(n(y))\" width=\"\(n(length))\" height=\"\(n(barHeight - 2))\">"
                svg += "<title>\(escaped(group.label)): \(text)</title></rect>"
                svg += "<text class=\"wert\" x=\"\(n(labelWidth + length + 4))\" y=\"\(n(y + barHeight - 4))\">\(text)</text>\n"
            }
        }
        if groups.count > shown.count {
            svg += "<text x=\"0\" y=\"\(n(height - 2))\">… und \(groups.count - shown.count) weitere (siehe Tabelle)</text>"
        }
        return svg + "</svg>"
    }
}

/// A coordinate with one decimal.
func n(_ value: Double) -> String { String(format: "%.1f", value) }

extension ReportTable.Cell {
    var isNumber: Bool {
        if case .number = self { return true }
        return false
    }
}
