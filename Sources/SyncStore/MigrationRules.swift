import Foundation
import GRDB
import SyncCore

/// The changes a schema migration may make while replicas of older versions still sync
/// (docs/schema-evolution.md, "Rules for a migration"): add tables, add columns that are
/// nullable or have a default, add indexes, and widen a `CHECK (column IN (…))` list once no
/// older version is served. Everything else is refused when the schema is installed, with the
/// rule and the two-step way to do it.
enum MigrationRules {
    /// The replicated tables of a store as their SQL declares them.
    struct Snapshot {
        struct Table {
            /// Each column's definition, normalised, by name.
            var columns: [String: String]
            var types: [String: String]
            /// Table constraints (CHECK, FOREIGN KEY, …), normalised.
            var constraints: [String]
        }

        var tables: [String: Table] = [:]

        init(_ db: Database) throws {
            let recorded = try String.fetchAll(db, sql: "SELECT name FROM sync_tables")
            for name in recorded {
                guard let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [name])
                else { continue }
                var table = Table(columns: [:], types: [:], constraints: [])
                for part in Self.definitions(of: sql) {
                    let first = part.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
                    if ["constraint", "check", "foreign", "primary", "unique"].contains(first) {
                        table.constraints.append(part)
                    } else {
                        table.columns[Self.unquoted(first)] = part
                    }
                }
                for column in try Row.fetchAll(db, sql: "SELECT name, type FROM pragma_table_xinfo(?)", arguments: [name]) {
                    table.types[column["name"]] = (column["type"] as String).uppercased()
                }
                tables[name] = table
            }
        }

        /// The comma-separated parts between a CREATE TABLE's outer parentheses, without
        /// comments, whitespace collapsed, lower-cased outside string literals.
        static func definitions(of sql: String) -> [String] {
            var parts: [String] = []
            var current = ""
            var depth = 0
            var characters = Array(sql)[...]
            func append(_ character: Character) {
                if character.isWhitespace {
                    if let last = current.last, last != " ", last != "(" { current.append(" ") }
                } else {
                    if character == ")", current.last == " " { current.removeLast() }
                    current.append(character)
                }
            }
            while let character = characters.popFirst() {
                switch character {
                case "-" where characters.first == "-":
                    while let next = characters.popFirst(), next != "\n" {}
                    if depth > 0 { append(" ") }
                case "/" where characters.first == "*":
                    characters = characters.dropFirst()
                    while let next = characters.popFirst(), !(next == "*" && characters.first == "/") {}
                    characters = characters.dropFirst()
                case "'", "\"", "`", "[":
                    let close: Character = character == "[" ? "]" : character
                    var literal = String(character)
                    while let next = characters.popFirst() {
                        literal.append(next)
                        if next == close {
                            if characters.first == close, close != "]" {
                                literal.append(characters.removeFirst())
                                continue
                            }
                            break
                        }
                    }
                    if depth > 0 { current += character == "'" ? literal : literal.lowercased() }
                case "(":
                    depth += 1
                    if depth > 1 { append(character) }
                case ")":
                    depth -= 1
                    if depth == 0 {
                        parts.append(current.trimmingSpaces())
                        return parts.filter { !$0.isEmpty }
                    }
                    append(character)
                case "," where depth == 1:
                    parts.append(current.trimmingSpaces())
                    current = ""
                default:
                    if depth > 0 { append(Character(character.lowercased())) }
                }
            }
            return parts.filter { !$0.isEmpty }
        }

        static func unquoted(_ name: String) -> String {
            guard let first = name.first, "\"`[".contains(first), name.count >= 2 else { return name }
            return String(name.dropFirst().dropLast())
        }
    }

    /// Refuses migration `version` unless it changed the replicated tables only as the rules allow.
    static func check(_ version: Int, before: Snapshot, after: Snapshot, schema: SchemaDefinition) throws {
        func refuse(_ what: String, _ instead: String) -> SchemaError {
            .invalid(
                "migration \(version) \(what). A schema change must leave replicas of older versions syncing: a migration may add "
                    + "tables, add columns that are nullable or have a default, add indexes, and widen a CHECK's list once no older "
                    + "version is served (docs/schema-evolution.md). Instead: \(instead)")
        }
        let twoSteps = "(1) add a new column in one version and have the tools write it; (2) copy the values at HMSI; the old column stays"
        for (name, old) in before.tables.sorted(by: { $0.key < $1.key }) {
            guard let new = after.tables[name] else {
                throw refuse("drops or renames the table \(name)", "add a new table in one version and copy the rows at HMSI; the old table stays")
            }
            for (column, definition) in old.columns.sorted(by: { $0.key < $1.key }) {
                guard let changed = new.columns[column] else {
                    throw refuse("drops or renames \(name).\(column)", twoSteps)
                }
                guard old.types[column] == new.types[column] else {
                    throw refuse("changes the type of \(name).\(column) from \(old.types[column] ?? "?") to \(new.types[column] ?? "?")", twoSteps)
                }
                guard changed != definition else { continue }
                if let widened = widening(from: definition, to: changed) {
                    guard schema.oldestSupported >= version else {
                        throw refuse(
                            "widens the CHECK of \(name).\(column) (adds \(widened.joined(separator: ", "))) while the hub still serves "
                                + "version \(schema.oldestSupported), whose replicas would refuse the new values",
                            "widen it in a version that is also oldest_supported, once every replica runs the version before it")
                    }
                    continue
                }
                throw refuse("changes the definition of \(name).\(column) (a constraint, default or reference)", twoSteps)
            }
            if new.constraints.sorted() != old.constraints.sorted() {
                throw refuse("changes the table constraints of \(name)", "check the new rule in the tools that write the table, or in a new column")
            }
            for (column, definition) in new.columns where old.columns[column] == nil {
                let words = definition.split(separator: " ").map(String.init)
                let notNull = zip(words, words.dropFirst()).contains { $0 == "not" && $1 == "null" }
                if notNull, !words.contains("default") {
                    throw refuse(
                        "adds \(name).\(column) as NOT NULL without a default: a replica of an older version cannot fill it",
                        "add it nullable, or with a DEFAULT")
                }
            }
        }
    }

    /// The values a column definition's `IN (…)` list gained, if that is all that changed.
    static func widening(from old: String, to new: String) -> [String]? {
        func split(_ definition: String) -> (String, [String])? {
            guard let start = definition.range(of: " in ("), let end = definition[start.upperBound...].firstIndex(of: ")") else { return nil }
            let list = definition[start.upperBound..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return (String(definition[..<start.upperBound]) + "…" + String(definition[end...]), list)
        }
        guard let (oldFrame, oldValues) = split(old), let (newFrame, newValues) = split(new), oldFrame == newFrame,
            Set(newValues).isStrictSuperset(of: oldValues)
        else { return nil }
        return newValues.filter { !oldValues.contains($0) }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String { trimmingCharacters(in: .whitespaces) }
}
