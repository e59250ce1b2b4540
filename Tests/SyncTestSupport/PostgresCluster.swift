import Foundation

/// A throwaway PostgreSQL cluster for one suite (docs/postgres.md, "Tests and CI"): `initdb`
/// into a temporary directory, `pg_ctl start` on a free loopback port, stopped and removed when
/// released. PostgreSQL refuses to run as root; as root, the cluster runs as `postgres`.
/// Connections over TCP need the superuser `wirsync`'s password (SCRAM), `password`. Its
/// default collation is ICU's German, as a ministry's server may well have it.
public final class PostgresCluster: Sendable {
    public let directory: TemporaryDirectory
    public let port: Int
    public let user = "wirsync"
    public let password = "wirsync-test-\(UUID().uuidString.prefix(8))"
    private let bin: String
    private let runAs: String?

    public init() throws {
        let bin = try Self.binaries()
        let directory = try TemporaryDirectory("wirsync-pg")
        let runAs = getuid() == 0 ? "postgres" : nil
        self.bin = bin
        self.directory = directory
        self.runAs = runAs
        let password = password
        let user = user
        func command(_ name: String, _ arguments: [String]) throws { try Self.command(bin, runAs, name, arguments) }
        let passwordFile = directory.path("pw")
        try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        if let runAs {
            guard try spawnAndWait("/bin/chown", ["chown", "-R", runAs, directory.url.path], output: "/dev/null") == 0 else {
                throw ProcessError.failed(command: "chown -R \(runAs)", result: ProcessResult(status: 1, stdout: "", stderr: ""))
            }
        }
        try command("initdb", [
            "-D", directory.path("data"), "-U", user, "--pwfile", passwordFile, "--auth-local", "trust",
            "--auth-host", "scram-sha-256", "--encoding", "UTF8", "--locale", "C",
            // A ministry's database sorts text the German way: the store must not depend on it.
            "--locale-provider", "icu", "--icu-locale", "de-DE", "--no-instructions",
        ])
        let port = try freePort()
        self.port = port
        // The server outlives pg_ctl and keeps every descriptor it inherits, Foundation's own
        // watch on its child included (a `Process` would never see pg_ctl end): spawned here
        // with its output in a file and waited for with waitpid.
        let output = directory.path("pg_ctl.out")
        let program = (bin as NSString).appendingPathComponent("pg_ctl")
        let arguments = [
            "-D", directory.path("data"), "-l", directory.path("server.log"), "-w", "-t", "60",
            "-o", "-p \(port) -k \(directory.url.path) -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300", "start",
        ]
        let status = try runAs.map { user in
            try spawnAndWait("/usr/sbin/runuser", ["runuser", "-u", user, "--", program] + arguments, output: output)
        } ?? spawnAndWait(program, [program] + arguments, output: output)
        // A test process killed by a signal (a CI timeout) stops no cluster: this watch does,
        // once the process is gone, and removes its directory.
        let stop = ([program, "-D", directory.path("data"), "-m", "immediate", "-w", "stop"].map { "'\($0)'" }).joined(separator: " ")
        _ = try spawn("/bin/sh", [
            "sh", "-c",
            "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(runAs.map { "runuser -u \($0) -- " } ?? "")\(stop); rm -rf '\(directory.url.path)'",
        ], output: "/dev/null")
        guard status == 0 else {
            throw ProcessError.failed(
                command: "pg_ctl start",
                result: ProcessResult(status: status, stdout: "", stderr: (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""))
        }
    }

    /// A new, empty database.
    public func createDatabase(_ name: String) throws {
        try command("createdb", ["-h", directory.url.path, "-p", String(port), "-U", user, name])
    }

    /// `postgres://wirsync@127.0.0.1:PORT/DATABASE`.
    public func url(_ database: String) -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable" }

    /// One of PostgreSQL's programs (`pg_dump`, `pg_restore`), of the cluster's version.
    public func program(_ name: String) -> String { (bin as NSString).appendingPathComponent(name) }

    /// The server's log, for a failing test's message.
    public var log: String { (try? String(contentsOfFile: directory.path("server.log"), encoding: .utf8)) ?? "" }

    deinit {
        try? command("pg_ctl", ["-D", directory.path("data"), "-m", "fast", "-w", "stop"])
    }

    private func command(_ name: String, _ arguments: [String]) throws { try Self.command(bin, runAs, name, arguments) }

    /// Runs one of PostgreSQL's programs through `spawnAndWait`, its output in a file: Foundation's
    /// `Process` was seen to wait for good for a child that had ended, while other tests spawned
    /// theirs, holding up every suite of the run.
    private static func command(_ bin: String, _ runAs: String?, _ name: String, _ arguments: [String]) throws {
        let program = (bin as NSString).appendingPathComponent(name)
        let output = NSTemporaryDirectory() + "wirsync-pg-\(name)-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let status = try runAs.map { user in
            try spawnAndWait("/usr/sbin/runuser", ["runuser", "-u", user, "--", program] + arguments, output: output)
        } ?? spawnAndWait(program, [program] + arguments, output: output)
        guard status == 0 else {
            throw ProcessError.failed(
                command: ([name] + arguments).joined(separator: " "),
                result: ProcessResult(status: status, stdout: "", stderr: (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""))
        }
    }

    /// The directory of PostgreSQL's server programs: `WIRSYNC_PG_BIN`, else Debian's newest
    /// `/usr/lib/postgresql/N/bin`. Without them the suite fails, saying how to install them.
    private static func binaries() throws -> String {
        let manager = FileManager.default
        if let bin = ProcessInfo.processInfo.environment["WIRSYNC_PG_BIN"] { return bin }
        let versions = ((try? manager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last, manager.isExecutableFile(atPath: "/usr/lib/postgresql/\(newest)/bin/initdb") else {
            throw PostgresClusterError.notInstalled
        }
        return "/usr/lib/postgresql/\(newest)/bin"
    }
}

public enum PostgresClusterError: Error, CustomStringConvertible {
    case notInstalled
    public var description: String {
        "PostgreSQL's server (initdb, pg_ctl) is not installed: run scripts/setup, which installs Debian's postgresql, or set WIRSYNC_PG_BIN"
    }
}

/// Runs `arguments[0]` (`executable`) with standard output and error appended to `output`,
/// standard input empty; its exit status, waited for with waitpid.
func spawnAndWait(_ executable: String, _ arguments: [String], output: String) throws -> Int32 {
    let pid = try spawn(executable, arguments, output: output)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Starts `arguments[0]` as `spawnAndWait` does, without waiting for it.
func spawn(_ executable: String, _ arguments: [String], output: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Nothing else: the server outlives pg_ctl, and a pipe of another test's child it inherited
    // would keep that test waiting for its end for good (seen: suites timing out at random).
    _ = spawnActionsCloseFrom(&actions, 3)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw ProcessError.failed(command: executable, result: ProcessResult(status: spawned, stdout: "", stderr: "posix_spawn failed")) }
    return pid
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which Swift's Glibc module leaves out.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnActionsCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// A free TCP port on loopback, as the kernel hands one out.
func freePort() throws -> Int {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
    }
    guard bound else { throw ProcessError.failed(command: "bind 127.0.0.1:0", result: ProcessResult(status: errno, stdout: "", stderr: "")) }
    return Int(UInt16(bigEndian: address.sin_port))
}
