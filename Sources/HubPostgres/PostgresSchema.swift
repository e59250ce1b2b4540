package import PostgresNIO
package import SyncCore
package import SyncStore

/// The replicated tables in PostgreSQL, and what is read from them the way SQLite reads it.
package enum PostgresSchema {
    /// `CREATE TABLE` for a replicated table, with the types of `PostgresValues`. (The
    /// schema's CHECK constraints and references come with the store's migrations.)
    package static func createTable(_ table: TableSpec) -> String {
        let key = "\(quoted(table.primaryKey)) bytea PRIMARY KEY NOT NULL"
        let columns = table.columns.map { column in
            "\(quoted(column.name)) \(PostgresValues.columnType(column.type))\(column.notNull ? " NOT NULL" : "")"
        }
        return "CREATE TABLE \(quoted(table.name)) (\(([key] + columns).joined(separator: ", ")))"
    }

    /// The digest of every table of `schema` in `centre`'s scope (nil: every row), fed in the
    /// order and form SQLite's `Digest` feeds it: `wirsync verify` agrees whichever store.
    package static func digest(_ connection: PostgresConnection, schema: StoreSchema, centre: String?) async throws -> [String: TableDigest] {
        var digests: [String: TableDigest] = [:]
        for table in schema.tables {
            let columns = table.columns.sorted { $0.name < $1.name }
            let names = ([table.primaryKey] + columns.map(\.name)).map(quoted).joined(separator: ", ")
            var query = PostgresQuery(unsafeSQL: "SELECT \(names) FROM \(quoted(table.name))")
            if table.scope == .centre, let centre {
                query.sql += " WHERE \(quoted(Node.centreColumn)) = $1"
                query.binds.append(ByteBuffer(string: centre))
            }
            // bytea orders byte by byte: SQLite's BINARY collation on UTF-8.
            query.sql += " ORDER BY \(quoted(table.primaryKey))"
            let types = ["TEXT"] + columns.map(\.type)
            var digest = TableHasher()
            for try await row in try await connection.query(query, logger: connection.logger) {
                digest.add(try zip(row, types).map { cell, type in try PostgresValues.decode(cell, type: type) })
            }
            digests[table.name] = digest.finalize()
        }
        return digests
    }
}
