package import SyncCore

extension Applier {
    /// For whom `rowChanges` composes a row.
    package enum Composition: Sendable {
        /// The hub, offered a replica's rows again after a restore: the insert after the
        /// row's newer column values, with only the values that are its own (a partial insert,
        /// `validate`, which leaves the newer columns as they are); a deleted row as its delete
        /// and the updates newer than it.
        case offer
        /// A replica pulling (protocol 2): as `offer`, and a deleted row's versions complete.
        case pull
        /// A replica of wirsync 1, which knows no partial insert: the insert first, with every
        /// column's current value, the updates after it. Applied in order, the same state.
        case whole
    }

    /// The changes that carry one row's current state, composed from its version tables and
    /// its domain row: every column version newer than the row's insert as an update (the
    /// columns of one version together, oldest version first), and the insert with its
    /// values, or the delete. No superseded value is among them: none is kept.
    ///
    /// A deleted row comes as its delete, then (`pull`) the insert that last won its columns
    /// (no values but its centre: the row stays deleted, only its versions are complete),
    /// then the updates newer than the delete, with the values the row keeps of them (ghosts).
    ///
    /// - Parameters:
    ///   - include: which versions to carry; a version it leaves out is not sent.
    ///   - make: makes the change for an op, a stamp and values (the caller numbers them).
    package func rowChanges(
        table: TableSpec, pk: String, for composition: Composition, include: (Stamp) -> Bool,
        make: (Change.Op, Stamp, [String: Value]) -> Change
    ) throws -> [Change] {
        let stored = try storedRow(table: table, pk: pk)
        let alive = stored.versions.isAlive
        let current = alive ? try currentValues(table, pk: pk, columns: table.columns.map(\.ordinal)) : [:]
        var updates: [Change] = []
        let overrides = Dictionary(grouping: stored.versions.overrides.filter { include($0.value) }) { $0.value.version }
        for (_, columns) in overrides.sorted(by: { $0.key < $1.key }) {
            var values: [String: Value] = [:]
            for (ordinal, _) in columns {
                guard let column = table.column(ordinal: ordinal) else { continue }
                values[column.name] = alive ? current[ordinal] ?? .null : stored.ghosts[ordinal] ?? .null
            }
            if !values.isEmpty { updates.append(make(.update, columns[0].value, values)) }
        }
        guard let register = stored.versions.register else { return updates }
        if !register.alive {
            var changes = include(register.stamp) ? [make(.delete, register.stamp, [:])] : []
            if composition == .pull, let base = stored.versions.base, base.version != register.stamp.version, include(base) {
                changes.append(make(.insert, base, table.centreColumn.map { [$0.name: Value(stored.scope)] } ?? [:]))
            }
            return changes + updates
        }
        guard include(register.stamp) else { return updates }
        var values: [String: Value] = [:]
        for column in table.columns where composition == .whole || stored.versions.overrides[column.ordinal] == nil {
            values[column.name] = current[column.ordinal] ?? .null
        }
        let insert = make(.insert, register.stamp, values)
        return composition == .whole ? [insert] + updates : updates + [insert]
    }
}
