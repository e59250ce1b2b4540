package import GRDB
package import SyncCore

/// Which rows a writer may touch (DESIGN.md, Scopes).
package struct ScopeRule: Sendable {
    /// The centre whose rows may be touched; nil for every centre (HMSI).
    package var centre: String?
    /// Whether rows of reference tables may be touched.
    package var reference: Bool

    package init(centre: String?, reference: Bool) {
        self.centre = centre
        self.reference = reference
    }
}

/// A value that a change overwrote or removed from view, kept because the caller asked.
package struct DisplacedValue: Hashable, Sendable {
    package var stamp: Stamp
    package var value: Value
}

/// The outcome of applying one change to one row.
package struct AppliedChange: Sendable {
    package var table: TableSpec
    package var plan: MergePlan
    /// Values this change overwrote or removed from view, by column ordinal, for the
    /// versions the caller's `keep` selected.
    package var displaced: [Int: DisplacedValue]
}

/// The state of one row as stored in `sync_rows` and `sync_cols`.
package struct StoredRow: Sendable {
    package var versions: RowVersions
    package var ghosts: [Int: Value]
    package var scope: String?
    package var exists: Bool
}

/// Applies changes to a store with the merge rule: writes the domain table and the
/// version tables in the caller's transaction.
///
/// One applier serves one transaction: it caches the node table, which a rollback
/// would make stale.
package final class Applier {
    package let db: any SQLSession
    package let schema: StoreSchema
    private var nodeIDs: [String: Int64] = [:]
    private var nodeNames: [Int64: String] = [:]
    /// The statements run for every change, prepared on first use: the domain-table ones
    /// by table and columns, so their SQL is built once per applier, not once per change
    /// (quoting the names showed up in the hub's profile).
    private var statements: [StatementKey: any SQLStatement] = [:]
    /// Rows read ahead for a batch (`readAhead`), by table id and key, and after it the
    /// versions this applier has set and not yet written (`writeVersions`). Without a read
    /// ahead, a row's entry goes when this applier writes its versions.
    private var ahead: [RowKey: StoredRow] = [:]
    /// After `readAhead`: the versions wait for `writeVersions`, a row's last write of each
    /// kind only, `sync_rows` by row and `sync_cols` by column (nil: the column's version goes).
    private var behind: (rows: [RowKey: [Value]], columns: [ColumnKey: [Value]?])?
    /// The rows `readPlainRows` read for a pull page, as `plainInsert` reads one (nil: the row
    /// has no versions).
    private var plainAhead: [RowKey: PlainRow?] = [:]

    /// A row as `plainInsert` reads it: its register, whether a column is newer than its
    /// insert, and its values in name order.
    private struct PlainRow {
        var alive: Bool, hlc: Int64?, node: Int64?, seq: Int64?, newerColumns: Bool
        var values: [Value]
    }

    private struct RowKey: Hashable, Comparable {
        var table: Int
        var pk: String

        static func < (a: Self, b: Self) -> Bool { (a.table, a.pk) < (b.table, b.pk) }
    }

    private struct ColumnKey: Hashable, Comparable {
        var row: RowKey
        var column: Int

        static func < (a: Self, b: Self) -> Bool { (a.row, a.column) < (b.row, b.column) }
    }

    private enum StatementKey: Hashable {
        case rowVersions, columnVersions, saveRowVersions, saveColumnVersion, deleteColumnVersion
        case insert(table: Int)
        case delete(table: Int)
        case select(table: Int, columns: [Int])
        case update(table: Int, columns: [Int])
        case plainRow(table: Int)
    }

    package convenience init(db: Database, schema: StoreSchema) throws {
        try self.init(session: SQLiteSession(db), schema: schema)
    }

    package init(session db: any SQLSession, schema: StoreSchema) throws {
        self.db = db
        self.schema = schema
        for row in try SQLRow.fetchAll(db, sql: "SELECT id, name FROM sync_nodes") {
            nodeIDs[row["name"]] = row["id"]
            nodeNames[row["id"]] = row["name"]
        }
    }

    /// A node's id, a new one for a name not seen before. A hub's pushes on PostgreSQL run
    /// beside each other (`WriteLock.rows`), so another may have added the name since this
    /// applier read the nodes, or may be adding it now: the insert then waits for it, adds
    /// nothing, and the id is read again.
    package func nodeID(_ name: String) throws -> Int64 {
        if let id = nodeIDs[name] { return id }
        let id = try Int64.fetchOne(db, sql: "INSERT INTO sync_nodes (name) VALUES (?) ON CONFLICT (name) DO NOTHING RETURNING id", arguments: [name])
        guard let id = try id ?? Int64.fetchOne(db, sql: "SELECT id FROM sync_nodes WHERE name = ?", arguments: [name]) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sync_nodes gave no id for \(name)")
        }
        nodeIDs[name] = id
        nodeNames[id] = name
        return id
    }

    /// A node's name, read again for an id added since this applier read the nodes (by a push beside it).
    package func nodeName(_ id: Int64) throws -> String {
        if let name = nodeNames[id] { return name }
        guard let name = try String.fetchOne(db, sql: "SELECT name FROM sync_nodes WHERE id = ?", arguments: [id]) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "sync_nodes has no node \(id)")
        }
        nodeIDs[name] = id
        nodeNames[id] = name
        return name
    }

    /// Checks a change against the schema and the scope rule and returns its values by
    /// column ordinal, coerced to their column's type. Writes nothing.
    ///
    /// - Parameter partial: an insert may leave out columns whose value it does not know (a
    ///   row re-derived from a replica's versions after a hub restore, whose newer values of
    ///   those columns travel as updates of their own; a replica of an older schema version,
    ///   which does not know the columns: a new row takes their DEFAULT).
    package func validate(_ change: Change, scope: ScopeRule, partial: Bool = false) throws(ApplyError) -> (TableSpec, [Int: Value]) {
        guard let table = schema.table(named: change.table) else { throw .unknownTable(change.table) }
        let pk = change.pk
        // A NUL would survive SQLite but not every reader of identifiers (GRDB stops there).
        guard !pk.isEmpty, pk.utf8.count <= 200, !pk.utf8.contains(0) else {
            throw .invalidChange(table: table.name, pk: pk, reason: "the primary key is empty, longer than 200 bytes or holds a NUL character")
        }
        guard Origin.isWellFormed(change.origin) else {
            throw .invalidChange(table: table.name, pk: pk, reason: "origin \(change.origin) is not a node id")
        }
        guard change.hlc.rawValue > 0 else {
            throw .invalidChange(table: table.name, pk: pk, reason: "hlc must be positive")
        }

        var values: [Int: Value] = [:]
        values.reserveCapacity(change.values.count)
        for (name, value) in change.values {
            guard let column = table.column(named: name) else {
                if name == table.primaryKey {
                    throw .invalidChange(table: table.name, pk: pk, reason: "the primary key travels as pk, not as a value")
                }
                throw .unknownColumn(table: table.name, column: name)
            }
            guard value.fits(columnType: column.type) else {
                throw .invalidValue(
                    table: table.name, pk: pk, column: name,
                    reason: "\(value.storageClass) does not fit a \(column.type) column")
            }
            if value == .null, column.notNull {
                throw .invalidValue(table: table.name, pk: pk, column: name, reason: "the column is NOT NULL")
            }
            if case .integer(let integer) = value, column.type == "REAL" {
                values[column.ordinal] = .real(Double(integer))
            } else {
                values[column.ordinal] = value
            }
        }

        if table.hasHMSIOnlyColumns, !scope.reference, !Self.isHMSIVersion(change.origin),
            let column = table.columns.first(where: { $0.hmsiOnly && values[$0.ordinal].map { change.op == .update || $0 != .null } ?? false })
        {
            throw .outOfScope(table: table.name, pk: pk, reason: "\(table.name).\(column.name) is decided by HMSI; a centre does not write it")
        }

        switch change.op {
        case .insert:
            if !partial, let missing = table.columns.first(where: { $0.notNull && values[$0.ordinal] == nil }) {
                throw .invalidValue(table: table.name, pk: pk, column: missing.name, reason: "an insert must set this NOT NULL column")
            }
        case .update:
            guard !values.isEmpty else {
                throw .invalidChange(table: table.name, pk: pk, reason: "an update must change at least one column")
            }
        case .delete:
            guard values.isEmpty else {
                throw .invalidChange(table: table.name, pk: pk, reason: "a delete carries no values")
            }
        }

        switch table.scope {
        case .reference:
            guard scope.reference else {
                throw .outOfScope(table: table.name, pk: pk, reason: "\(table.name) is reference data, written by HMSI only")
            }
            guard change.centre == nil else {
                throw .invalidChange(table: table.name, pk: pk, reason: "reference rows belong to no centre")
            }
        case .centre:
            guard let centre = change.centre, let centreColumn = table.centreColumn else {
                throw .invalidChange(table: table.name, pk: pk, reason: "a change to a centre-scoped table names its centre")
            }
            if let allowed = scope.centre, allowed != centre {
                throw .outOfScope(table: table.name, pk: pk, reason: "the row belongs to \(centre), not to \(allowed)")
            }
            switch (change.op, values[centreColumn.ordinal]) {
            case (.insert, .text(let inserted)) where inserted == centre:
                break
            case (.insert, let inserted):
                throw .invalidChange(
                    table: table.name, pk: pk,
                    reason: "centre \(centre) does not match \(Node.centreColumn) \(inserted ?? .null)")
            case (_, nil):
                break
            case (_, .some):
                throw .invalidChange(table: table.name, pk: pk, reason: "\(Node.centreColumn) never changes")
            }
        }
        return (table, values)
    }

    /// Whether a version was written at HMSI: by one of its replicas or by the hub itself. A
    /// centre offering such a version again after a hub restore may carry a column only HMSI
    /// decides.
    private static func isHMSIVersion(_ origin: String) -> Bool {
        let centre = Origin.centre(of: origin)
        return centre == Node.hmsi || centre == Node.hub
    }

    /// A centre references only rows of its own scope (where the schema declares the
    /// reference); a row the store does not hold (yet) may be one of its own, arriving later.
    private func checkReferences(_ table: TableSpec, pk: String, values: [Int: Value], scope: ScopeRule) throws {
        // Only a centre pushing to the hub: a replica applying what the hub sent (reference true) checks nothing here.
        guard !scope.reference, let allowed = scope.centre, !table.references.isEmpty else { return }
        for (ordinal, target) in table.references {
            guard case .text(let key)? = values[ordinal], let referenced = schema.table(named: target), referenced.scope == .centre else { continue }
            let row = try storedRow(table: referenced, pk: key, columns: false)
            if row.exists, let owner = row.scope, owner != allowed {
                throw ApplyError.outOfScope(
                    table: table.name, pk: pk,
                    reason: "\(table.column(ordinal: ordinal)?.name ?? "a column") references \(target) row \(key), which belongs to another centre")
            }
        }
    }

    /// Reads a row's versions, ghosts and scope.
    ///
    /// - Parameter columns: false leaves out the column versions and ghosts (`sync_cols`),
    ///   for a caller that needs only the row's register, base and scope.
    package func storedRow(table: TableSpec, pk: String, columns: Bool = true) throws -> StoredRow {
        if let stored = ahead[RowKey(table: table.id, pk: pk)] { return stored }
        var stored = StoredRow(versions: RowVersions(), ghosts: [:], scope: nil, exists: false)
        try statement(.rowVersions).run([.integer(Int64(table.id)), .text(pk)]) { row in
            stored.exists = true
            try readRegister(row, from: 0, into: &stored)
        }
        guard stored.exists, columns else { return stored }
        try statement(.columnVersions).run([.integer(Int64(table.id)), .text(pk)]) { column in
            try readColumn(column, from: 0, into: &stored)
        }
        return stored
    }

    /// Reads the versions of every row `changes` name, and of the rows their references name
    /// where `scope` checks them (`checkReferences`), in two statements a table for up to 500
    /// rows, and keeps the versions `apply` sets until `writeVersions`, which writes them many
    /// to a statement: on PostgreSQL each statement is a round trip, and a batch of 500
    /// changes read and wrote them one by one (docs/postgres.md, "Why the push is slow").
    /// `storedRow` answers from what was read and set; the caller reads `sync_rows` and
    /// `sync_cols` only through it until `writeVersions`.
    package func readAhead(_ changes: [Change], scope: ScopeRule) throws {
        behind = behind ?? ([:], [:])
        var keys: [Int: Set<String>] = [:]
        for change in changes {
            guard let table = schema.table(named: change.table) else { continue }
            keys[table.id, default: []].insert(change.pk)
            guard !scope.reference, scope.centre != nil else { continue }
            for (ordinal, target) in table.references {
                guard let column = table.column(ordinal: ordinal), case .text(let key)? = change.values[column.name],
                    let referenced = schema.table(named: target), referenced.scope == .centre
                else { continue }
                keys[referenced.id, default: []].insert(key)
            }
        }
        for (tableID, pks) in keys.sorted(by: { $0.key < $1.key }) {
            let pks = pks.sorted()
            for start in stride(from: 0, to: pks.count, by: 500) {
                let chunk = Array(pks[start..<min(start + 500, pks.count)])
                try readAhead(table: tableID, chunk)
            }
        }
    }

    private func readAhead(table: Int, _ pks: [String]) throws {
        var rows: [String: StoredRow] = [:]
        for pk in pks { rows[pk] = StoredRow(versions: RowVersions(), ghosts: [:], scope: nil, exists: false) }
        let list = placeholders(width: pks.count, count: 1)
        let arguments = [Value.integer(Int64(table))] + pks.map(Value.text)
        try db.prepare(
            "SELECT pk, scope, alive, reg_hlc, reg_node, reg_seq, base_hlc, base_node, base_seq FROM sync_rows WHERE tbl = ? AND pk IN \(list)"
        ).run(arguments) { row in
            let pk = row.text(0)
            rows[pk]?.exists = true
            try readRegister(row, from: 1, into: &rows[pk]!)
        }
        if rows.values.contains(where: \.exists) {
            try db.prepare("SELECT pk, col, hlc, node, seq, ghost FROM sync_cols WHERE tbl = ? AND pk IN \(list)").run(arguments) { column in
                try readColumn(column, from: 1, into: &rows[column.text(0)]!)
            }
        }
        for (pk, row) in rows { ahead[RowKey(table: table, pk: pk)] = row }
    }

    /// A `sync_rows` row's scope, register and base, from column `first` on.
    private func readRegister(_ row: any SQLColumns, from first: Int32, into stored: inout StoredRow) throws {
        stored.scope = row.optionalText(first)
        if let hlc = row.optionalInteger(first + 2) {
            stored.versions.register = Register(
                alive: row.integer(first + 1) != 0,
                stamp: Stamp(Version(hlc: HLC(rawValue: hlc), origin: try nodeName(row.integer(first + 3))), seq: row.optionalInteger(first + 4)))
        }
        if let hlc = row.optionalInteger(first + 5) {
            stored.versions.base = Stamp(
                Version(hlc: HLC(rawValue: hlc), origin: try nodeName(row.integer(first + 6))), seq: row.optionalInteger(first + 7))
        }
    }

    /// A `sync_cols` row's version and ghost, from column `first` on.
    private func readColumn(_ column: any SQLColumns, from first: Int32, into stored: inout StoredRow) throws {
        let ordinal = Int(column.integer(first))
        stored.versions.overrides[ordinal] = Stamp(
            Version(hlc: HLC(rawValue: column.integer(first + 1)), origin: try nodeName(column.integer(first + 2))),
            seq: column.optionalInteger(first + 3))
        stored.ghosts[ordinal] = try db.readAny(column.value(first + 4))
    }

    /// Applies one change from elsewhere with the merge rule: the domain table and the
    /// version tables.
    ///
    /// - Parameters:
    ///   - seq: the hub sequence to record with the versions this change sets (hub only).
    ///   - keep: selects the displaced versions whose values the caller needs back.
    ///   - partial: see `validate`; a column an insert leaves out keeps what the row holds.
    package func apply(
        _ change: Change, seq: Int64? = nil, scope: ScopeRule, partial: Bool = false, keep: (Stamp) -> Bool = { _ in false }
    ) throws -> AppliedChange {
        let (table, values) = try validate(change, scope: scope, partial: partial)
        try checkReferences(table, pk: change.pk, values: values, scope: scope)
        return try merge(
            table: table, pk: change.pk, op: change.op, centre: change.centre, columns: values.keys.sorted(),
            values: values, stamp: Stamp(change.version, seq: seq), writesDomain: true, partial: partial, keep: keep)
    }

    /// Records the versions of a write captured on this replica, whose values the
    /// domain table already holds.
    package func recordLocal(
        table: TableSpec, pk: String, op: Change.Op, columns: [Int], centre: String?, stamp: Stamp
    ) throws -> MergePlan {
        try merge(
            table: table, pk: pk, op: op, centre: centre, columns: columns, values: [:], stamp: stamp,
            writesDomain: false, partial: false, keep: { _ in false }
        ).plan
    }

    /// - Parameter columns: the columns an update changes (an insert always sets them all).
    private func merge(
        table: TableSpec, pk: String, op: Change.Op, centre: String?, columns: [Int], values: [Int: Value],
        stamp: Stamp, writesDomain: Bool, partial: Bool, keep: (Stamp) -> Bool
    ) throws -> AppliedChange {
        let stored = try storedRow(table: table, pk: pk)
        // A partial insert needs a row to take the values it leaves out from.
        if partial, op == .insert, !stored.exists,
            let missing = table.columns.first(where: { $0.notNull && $0.defaultValue == nil && values[$0.ordinal] == nil })
        {
            throw ApplyError.invalidValue(table: table.name, pk: pk, column: missing.name, reason: "an insert must set this NOT NULL column")
        }
        if stored.exists, stored.scope != centre {
            throw ApplyError.outOfScope(
                table: table.name, pk: pk,
                reason: "the row belongs to \(stored.scope ?? "no centre"), not to \(centre ?? "no centre")")
        }
        let plan = Merge.plan(
            stored.versions, op: op, columns: op == .insert ? table.columns.map(\.ordinal) : columns, stamp: stamp)
        var applied = AppliedChange(table: table, plan: plan, displaced: [:])
        if plan.isDuplicate || plan.changesNothing { return applied }

        // Values of the overrides a deleted row keeps, column by column.
        var ghosts: [Int: Value] = [:]
        if writesDomain {
            do {
                ghosts = try db.contained {
                    try writeDomain(
                        table: table, pk: pk, values: values, stored: stored, plan: plan, partial: partial, keep: keep, into: &applied)
                }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw ApplyError.constraint(table: table.name, pk: pk, reason: error.message ?? "constraint failed")
            }
        }
        try saveVersions(table: table, pk: pk, centre: centre, stored: stored, plan: plan, ghosts: ghosts)
        return applied
    }

    /// Carries a plan out on the domain table; returns the ghost values a deleted row keeps.
    private func writeDomain(
        table: TableSpec, pk: String, values: [Int: Value], stored: StoredRow, plan: MergePlan, partial: Bool,
        keep: (Stamp) -> Bool, into applied: inout AppliedChange
    ) throws -> [Int: Value] {
        var ghosts: [Int: Value] = [:]
        let pkValue = Value.text(pk)
        // A column left out of a partial insert keeps its value: the insert writes no value there.
        let writes = { (column: Int) in !partial || values[column] != nil }
        // Displaced versions the caller wants, for columns this change overwrites.
        let kept = plan.won.compactMap { column, previous in previous.flatMap { keep($0) && writes(column) ? (column, $0) : nil } }
        switch (plan.before.isAlive, plan.after.isAlive) {
        case (true, true):
            let previous = try currentValues(table, pk: pk, columns: kept.map(\.0))
            for (column, stamp) in kept {
                if let value = previous[column] { applied.displaced[column] = DisplacedValue(stamp: stamp, value: value) }
            }
            let won = plan.won.keys.filter(writes).sorted()
            if !won.isEmpty {
                try statement(.update(table: table.id, columns: won), table).execute(won.map { values[$0] ?? .null } + [pkValue])
            }
        case (false, true):
            for (column, stamp) in kept where stored.versions.overrides[column] != nil {
                applied.displaced[column] = DisplacedValue(stamp: stamp, value: stored.ghosts[column] ?? .null)
            }
            let row = table.columns.map { column in
                plan.won[column.ordinal] != nil && writes(column.ordinal)
                    ? values[column.ordinal] ?? .null : stored.ghosts[column.ordinal] ?? column.defaultValue ?? .null
            }
            try statement(.insert(table: table.id), table).execute([pkValue] + row)
        case (true, false):
            let row = try currentValues(table, pk: pk, columns: table.columns.map(\.ordinal))
            for (column, value) in row {
                if let previous = plan.before.stamp(ofColumn: column), keep(previous) {
                    applied.displaced[column] = DisplacedValue(stamp: previous, value: value)
                }
                if plan.after.overrides[column] != nil { ghosts[column] = value }
            }
            try statement(.delete(table: table.id), table).execute([pkValue])
        case (false, false):
            for (column, stamp) in kept where stored.versions.overrides[column] != nil {
                applied.displaced[column] = DisplacedValue(stamp: stamp, value: stored.ghosts[column] ?? .null)
            }
            for column in plan.after.overrides.keys {
                ghosts[column] = plan.won[column] != nil && writes(column) ? values[column] ?? .null : stored.ghosts[column] ?? .null
            }
        }
        return ghosts
    }

    /// The current values of some columns of a visible row, by ordinal; empty if the row is not there.
    package func currentValues(_ table: TableSpec, pk: String, columns: [Int]) throws -> [Int: Value] {
        guard !columns.isEmpty else { return [:] }
        var values: [Int: Value] = [:]
        try statement(.select(table: table.id, columns: columns), table).run([.text(pk)]) { row in
            for (index, column) in columns.enumerated() {
                values[column] = db.read(row.value(Int32(index)), declared: table.column(ordinal: column)?.type ?? "ANY")
            }
        }
        return values
    }

    /// The common row of a pull, composed in one statement: a row that is alive and has no
    /// column newer than its insert travels as that insert with every value (what
    /// `rowChanges` makes of it). Returns its register and its values as a JSON object, keys
    /// in name order as `JSONWriter.values` writes them; nil for any other row, or if
    /// `include` leaves the insert out: `rowChanges` composes those.
    package func plainInsert(table: TableSpec, pk: String, include: (Stamp) -> Bool) throws -> (stamp: Stamp, valuesJSON: [UInt8])? {
        let key = RowKey(table: table.id, pk: pk)
        var row: PlainRow?
        if let ahead = plainAhead[key] {
            row = ahead
        } else {
            try statement(.plainRow(table: table.id), table).run([.integer(Int64(table.id)), .text(pk)]) { columns in
                row = plainRow(columns, table: table)
            }
        }
        guard let row, row.alive, !row.newerColumns, let hlc = row.hlc, let node = row.node else { return nil }
        let stamp = Stamp(Version(hlc: HLC(rawValue: hlc), origin: try nodeName(node)), seq: row.seq)
        guard include(stamp) else { return nil }
        var writer = JSONWriter(capacity: 256)
        writer.raw("{")
        for (index, column) in table.columnsByName.enumerated() {
            writer.key(column.name, first: index == 0)
            writer.value(row.values[index])
        }
        writer.raw("}")
        return (stamp, writer.bytes)
    }

    /// Reads the rows `plainInsert` composes for `pks` of `table`, up to 500 to a statement,
    /// and keeps them for it: a pull page's rows on PostgreSQL, where each statement is a round
    /// trip (docs/postgres.md, "The set-based pull").
    package func readPlainRows(table: TableSpec, pks: [String]) throws {
        for start in stride(from: 0, to: pks.count, by: 500) {
            let chunk = Array(pks[start..<min(start + 500, pks.count)])
            for pk in chunk { plainAhead[RowKey(table: table.id, pk: pk)] = .some(nil) }
            try db.prepare(Self.plainRowsSQL(table, keys: "IN \(placeholders(width: chunk.count, count: 1))")).run(
                [.integer(Int64(table.id))] + chunk.map(Value.text)
            ) { columns in
                plainAhead[RowKey(table: table.id, pk: columns.text(0))] = plainRow(columns, table: table)
            }
        }
    }

    /// `plainInsert`'s statement: each row's key, register, whether it has a column version
    /// (newer than its insert), and its values by name; of the rows of table `?` whose keys
    /// `keys` takes.
    private static func plainRowsSQL(_ table: TableSpec, keys: String) -> String {
        """
        SELECT r.pk, r.alive, r.reg_hlc, r.reg_node, r.reg_seq, EXISTS (SELECT 1 FROM sync_cols c WHERE c.tbl = r.tbl AND c.pk = r.pk),
            \(table.columnsByName.map { "d.\(quoted($0.name))" }.joined(separator: ", "))
        FROM sync_rows r LEFT JOIN \(quoted(table.name)) d ON d.\(quoted(table.primaryKey)) = r.pk WHERE r.tbl = ? AND r.pk \(keys)
        """
    }

    /// `plainInsert`'s row from a row of `plainRowsSQL`.
    private func plainRow(_ columns: any SQLColumns, table: TableSpec) -> PlainRow {
        PlainRow(
            alive: columns.integer(1) != 0, hlc: columns.optionalInteger(2), node: columns.optionalInteger(3), seq: columns.optionalInteger(4),
            newerColumns: columns.integer(5) != 0,
            values: table.columnsByName.enumerated().map { index, column in db.read(columns.value(6 + Int32(index)), declared: column.type) })
    }

    /// The statement for `key`, prepared on first use; `table` for the domain statements.
    private func statement(_ key: StatementKey, _ table: TableSpec? = nil) throws -> any SQLStatement {
        if let statement = statements[key] { return statement }
        let statement = try db.prepare(sql(key, table))
        statements[key] = statement
        return statement
    }

    private func sql(_ key: StatementKey, _ table: TableSpec?) -> String {
        switch key {
        case .rowVersions:
            return """
                SELECT scope, alive, reg_hlc, reg_node, reg_seq, base_hlc, base_node, base_seq
                FROM sync_rows WHERE tbl = ? AND pk = ?
                """
        case .columnVersions:
            return "SELECT col, hlc, node, seq, ghost FROM sync_cols WHERE tbl = ? AND pk = ?"
        case .saveRowVersions:
            return Self.saveRowVersionsSQL(rows: 1)
        case .saveColumnVersion:
            return Self.saveColumnVersionSQL(rows: 1)
        case .deleteColumnVersion:
            return "DELETE FROM sync_cols WHERE tbl = ? AND pk = ? AND col = ?"
        case .insert, .delete, .select, .update, .plainRow:
            break
        }
        let table = table!
        let name = quoted(table.name), pk = quoted(table.primaryKey)
        func names(_ ordinals: [Int]) -> [String] { ordinals.map { quoted(table.column(ordinal: $0)!.name) } }
        return switch key {
        case .insert:
            "INSERT INTO \(name) (\(([pk] + names(table.columns.map(\.ordinal))).joined(separator: ", ")))"
                + " VALUES (\(Array(repeating: "?", count: table.columns.count + 1).joined(separator: ", ")))"
        case .delete: "DELETE FROM \(name) WHERE \(pk) = ?"
        case .select(_, let columns): "SELECT \(names(columns).joined(separator: ", ")) FROM \(name) WHERE \(pk) = ?"
        case .update(_, let columns): "UPDATE \(name) SET \(names(columns).map { "\($0) = ?" }.joined(separator: ", ")) WHERE \(pk) = ?"
        case .plainRow: Self.plainRowsSQL(table, keys: "= ?")
        default: preconditionFailure("\(key) has fixed SQL")
        }
    }

    private func saveVersions(
        table: TableSpec, pk: String, centre: String?, stored: StoredRow, plan: MergePlan, ghosts: [Int: Value]
    ) throws {
        let key = RowKey(table: table.id, pk: pk)
        let after = plan.after
        // The row as `storedRow` reads it back once this is written, kept after `readAhead`.
        let keeps = behind != nil
        var next = StoredRow(versions: after, ghosts: [:], scope: stored.exists ? stored.scope : centre, exists: true)
        let tableID = Value.integer(Int64(table.id)), pkValue = Value.text(pk)
        if !stored.exists || after.register != plan.before.register || after.base != plan.before.base {
            let row = [
                tableID, pkValue, Value(centre), .integer(after.isAlive ? 1 : 0),
                Value(after.register?.stamp.version.hlc.rawValue), Value(try after.register.map { try nodeID($0.stamp.version.origin) }),
                Value(after.register?.stamp.seq),
                Value(after.base?.version.hlc.rawValue), Value(try after.base.map { try nodeID($0.version.origin) }), Value(after.base?.seq),
            ]
            if keeps { behind?.rows[key] = row } else { try statement(.saveRowVersions).execute(row) }
        }
        let columns = Set(plan.before.overrides.keys).union(after.overrides.keys)
        for column in columns.sorted() {
            guard let stamp = after.overrides[column] else {
                if keeps {
                    behind?.columns[ColumnKey(row: key, column: column)] = .some(nil)
                } else {
                    try statement(.deleteColumnVersion).execute([tableID, pkValue, .integer(Int64(column))])
                }
                continue
            }
            let ghost = after.isAlive ? Value.null : ghosts[column] ?? stored.ghosts[column] ?? .null
            if keeps { next.ghosts[column] = ghost }
            if stamp == plan.before.overrides[column], ghost == stored.ghosts[column] ?? .null { continue }
            let version = [
                tableID, pkValue, .integer(Int64(column)), .integer(stamp.version.hlc.rawValue),
                .integer(try nodeID(stamp.version.origin)), Value(stamp.seq), db.bindAny(ghost),
            ]
            if keeps { behind?.columns[ColumnKey(row: key, column: column)] = version } else { try statement(.saveColumnVersion).execute(version) }
        }
        ahead[key] = keeps ? next : nil
    }

    /// Writes the versions kept since `readAhead`: up to 100 rows to a statement.
    ///
    /// - Parameter renumber: the hub sequence to write for each one `apply` was given (a
    ///   push numbers its entries only once it holds the log lock, `PostgresLocks`).
    package func writeVersions(renumber: (Int64) -> Int64 = { $0 }) throws {
        guard let (rows, columns) = behind else { return }
        behind = ([:], [:])
        try db.execute(rows: rows.keys.sorted().map { renumbered(rows[$0]!, at: [6, 9], by: renumber) }, sql: Self.saveRowVersionsSQL)
        try db.execute(
            rows: columns.keys.sorted().compactMap { columns[$0]!.map { renumbered($0, at: [5], by: renumber) } }, sql: Self.saveColumnVersionSQL)
        for key in columns.keys.sorted() where columns[key]! == nil {
            try statement(.deleteColumnVersion).execute([.integer(Int64(key.row.table)), .text(key.row.pk), .integer(Int64(key.column))])
        }
    }

    private static func saveRowVersionsSQL(rows: Int) -> String {
        """
        INSERT INTO sync_rows (tbl, pk, scope, alive, reg_hlc, reg_node, reg_seq, base_hlc, base_node, base_seq)
        VALUES \(placeholders(width: 10, count: rows))
        ON CONFLICT (tbl, pk) DO UPDATE SET alive = excluded.alive,
            reg_hlc = excluded.reg_hlc, reg_node = excluded.reg_node, reg_seq = excluded.reg_seq,
            base_hlc = excluded.base_hlc, base_node = excluded.base_node, base_seq = excluded.base_seq
        """
    }

    private static func saveColumnVersionSQL(rows: Int) -> String {
        """
        INSERT INTO sync_cols (tbl, pk, col, hlc, node, seq, ghost) VALUES \(placeholders(width: 7, count: rows))
        ON CONFLICT (tbl, pk, col) DO UPDATE SET
            hlc = excluded.hlc, node = excluded.node, seq = excluded.seq, ghost = excluded.ghost
        """
    }
}
