public import Foundation

/// Where the hub's store is (docs/postgres.md, "Choosing the store"): a SQLite file, or a
/// PostgreSQL database named by a URL without a password.
public enum StoreLocation: Hashable, Sendable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// `sqlite:PATH`, a plain path, or `postgres://USER@HOST:PORT/DB?sslmode=…`.
    public init(parsing text: String) throws(StoreLocationError) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(url: text))
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw StoreLocationError("sqlite: needs a path, e.g. sqlite:/var/lib/wirsync/hub.db") }
            self = .sqlite(path: path)
        } else if text.contains("://") {
            throw StoreLocationError("\(text.prefix { $0 != ":" }):// is not a store; give a path, sqlite:PATH or postgres://USER@HOST:PORT/DB")
        } else {
            guard !text.isEmpty else { throw StoreLocationError("the store is empty; give a path, sqlite:PATH or postgres://USER@HOST:PORT/DB") }
            self = .sqlite(path: text)
        }
    }
}

/// A store that cannot be used, in one line for the operator.
public struct StoreLocationError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A PostgreSQL database: everything but the password, which never comes from a URL or a flag.
public struct PostgresLocation: Hashable, Sendable {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// The CA certificates (PEM) that `verify-full` trusts instead of the system's.
    public var sslRootCert: String?

    public init(url text: String) throws(StoreLocationError) {
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StoreLocationError("\(text) is not a PostgreSQL URL; the form is postgres://USER@HOST:PORT/DB")
        }
        guard url.password == nil else {
            throw StoreLocationError(
                "a password in the store's URL would be seen by everyone who can list processes; "
                    + "give it in PGPASSWORD, WIRSYNC_HUB_PG_PASSWORD_FILE or ~/.pgpass")
        }
        guard let user = url.user, !user.isEmpty else { throw StoreLocationError("\(text) names no user: postgres://USER@HOST:PORT/DB") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw StoreLocationError("\(text) names no database: postgres://USER@HOST:PORT/DB") }
        var mode: SSLMode?
        var rootCert: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw StoreLocationError("sslmode is one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")), not \(item.value ?? "")")
                }
                mode = value
            case "sslrootcert": rootCert = item.value
            default: throw StoreLocationError("\(item.name) is not a setting of the store's URL (sslmode, sslrootcert)")
            }
        }
        self.user = user
        self.host = host
        self.port = url.port ?? 5432
        self.database = database
        self.sslRootCert = rootCert
        self.sslMode = mode ?? (Self.isLoopback(host) ? .prefer : .require)
    }

    static func isLoopback(_ host: String) -> Bool { host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]" }

    /// The URL again, as logs and `status` may show it (it holds no secret).
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)" }

    /// The password: `PGPASSWORD`, else the file `WIRSYNC_HUB_PG_PASSWORD_FILE` names, else
    /// the first matching line of `PGPASSFILE` or `~/.pgpass`; nil when none has one (the
    /// server may trust the connection).
    public func password(environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreLocationError) -> String? {
        if let password = environment["PGPASSWORD"] { return password }
        if let file = environment["WIRSYNC_HUB_PG_PASSWORD_FILE"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw StoreLocationError("WIRSYNC_HUB_PG_PASSWORD_FILE names \(file), which cannot be read")
            }
            return String(text.trimmingCharacters(in: .newlines))
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let file = environment["PGPASSFILE"] ?? (home as NSString).appendingPathComponent(".pgpass")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = Self.pgpassFields(line)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A line of a `.pgpass` file split at its unescaped colons, `\:` and `\\` undone.
    static func pgpassFields(_ line: Substring) -> [String] {
        var fields = [""]
        var escaped = false
        for character in line {
            if escaped {
                fields[fields.count - 1].append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" {
                fields.append("")
            } else {
                fields[fields.count - 1].append(character)
            }
        }
        return fields
    }
}
