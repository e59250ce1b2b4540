package import GRDB

/// The layout of the engine's own tables (`sync_*`) in a store, built and upgraded by GRDB's
/// `DatabaseMigrator`, which records each applied step in `grdb_migrations`.
///
/// Files made by wirsync 1 have no `grdb_migrations`: they are recognised by a table every
/// layout has (`marker`), normalised by `legacy`, marked as having step `v1`, and then
/// upgraded like any other file (docs/replicas-and-restores.md, "Upgrade in place").
package struct EngineLayout: Sendable {
    /// The steps, in order; the first one, `v1`, builds what wirsync 1 built.
    package let migrator: DatabaseMigrator
    private let marker: String
    private let legacy: @Sendable (Database) throws -> Void

    /// - Parameters:
    ///   - marker: a table every layout has, by which a file of wirsync 1 is recognised.
    ///   - legacy: brings a file of wirsync 1 to exactly what step `v1` builds.
    ///   - steps: identifier and migration of each step, `v1` first.
    package init(
        marker: String, legacy: @escaping @Sendable (Database) throws -> Void,
        steps: [(String, @Sendable (Database) throws -> Void)]
    ) {
        var migrator = DatabaseMigrator()
        for (identifier, step) in steps { migrator.registerMigration(identifier, migrate: step) }
        self.migrator = migrator
        self.marker = marker
        self.legacy = legacy
    }

    /// Brings the file to the newest layout, and returns the steps the file had before (`v1`
    /// for a file of wirsync 1; none for a new file). Refuses a file whose layout has steps
    /// this program does not know: a newer wirsync made them.
    @discardableResult
    package func upgrade(_ writer: some DatabaseWriter) throws -> Set<String> {
        let migrator = self.migrator
        let (applied, isLegacy) = try writer.read { db in
            (try migrator.appliedIdentifiers(db), try db.tableExists(marker) && !db.tableExists("grdb_migrations"))
        }
        if let unknown = applied.subtracting(migrator.migrations).sorted().first {
            throw LayoutError.newer(step: unknown)
        }
        if isLegacy {
            try writer.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try legacy(db)
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v1')")
                    return .commit
                }
            }
        }
        if applied.count < migrator.migrations.count || isLegacy {
            try migrator.migrate(writer)
        }
        return isLegacy ? ["v1"] : applied
    }

    /// Whether the file has every step of this layout.
    package func isCurrent(_ db: Database) throws -> Bool {
        try migrator.appliedIdentifiers(db).isSuperset(of: migrator.migrations)
    }
}

/// Why a store's engine tables cannot be brought to this program's layout.
package enum LayoutError: Error, CustomStringConvertible {
    /// The file was upgraded by a newer wirsync.
    case newer(step: String)

    package var description: String {
        switch self {
        case .newer(let step): "it was upgraded by a newer wirsync (layout step \(step)); update this program"
        }
    }
}
