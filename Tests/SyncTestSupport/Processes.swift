import Foundation

/// The result of running a program to completion.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum ProcessError: Error, CustomStringConvertible {
    case failed(command: String, result: ProcessResult)

    public var description: String {
        switch self {
        case .failed(let command, let result):
            "\(command) exited \(result.status): \(result.stderr)"
        }
    }
}

/// A process for `executable`, its environment the test's with `environment` on top.
private func makeProcess(_ executable: String, _ arguments: [String], environment: [String: String]?) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    return process
}

/// Runs `executable` with `arguments`, feeding `input` on standard input, and waits.
public func run(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
    let process = makeProcess(executable, arguments, environment: environment)
    let stdout = Pipe()
    let stderr = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = stdin
    try process.run()
    // Read both pipes while the child runs, so a large output cannot fill a pipe and stall it.
    let output = OutputCollector(stdout.fileHandleForReading)
    let errors = OutputCollector(stderr.fileHandleForReading)
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: output.text(), stderr: errors.text())
}

/// Runs a program and returns its standard output; throws if it exits non-zero.
@discardableResult
public func runChecked(_ executable: String, _ arguments: [String], input: String? = nil) throws -> String {
    let result = try run(executable, arguments, input: input)
    guard result.status == 0 else {
        throw ProcessError.failed(command: ([executable] + arguments).joined(separator: " "), result: result)
    }
    return result.stdout
}

/// Runs SQL through the `sqlite3` command-line shell: a writer with none of our code loaded.
///
/// Like any well-behaved tool it waits for a busy database (`.timeout`): SQLite has one
/// writer at a time, and the sync daemon writes too, briefly.
@discardableResult
public func sqlite3(_ path: String, _ sql: String) throws -> String {
    try runChecked("/usr/bin/sqlite3", ["-bail", "-cmd", ".timeout 10000", path], input: sql)
}

/// Runs SQL through Python's `sqlite3` module: another writer with none of our code loaded.
public func pythonSQLite(_ path: String, _ sql: String) throws {
    let script = """
        import sqlite3, sys
        connection = sqlite3.connect(sys.argv[1])
        connection.executescript(sys.stdin.read())
        connection.commit()
        """
    try runChecked("/usr/bin/env", ["python3", "-c", script, path], input: sql)
}

/// The directory with the package's built executables (beside the test bundle).
public func builtProduct(_ name: String) -> String {
    if let directory = ProcessInfo.processInfo.environment["WIRSYNC_BIN_DIR"] {
        return URL(fileURLWithPath: directory).appendingPathComponent(name).path
    }
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
        directory.deleteLastPathComponent()
    }
    return directory.appendingPathComponent(name).path
}

private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { data.append(chunk) }
            }
            done.signal()
        }
    }

    /// What the child wrote, once it has exited. A pipe whose end another test's long-lived
    /// child inherited (a hub, a daemon, a database server spawned at the same moment) never
    /// reaches its end: after a grace period the output read so far is all there is, instead
    /// of a wait for good (seen: suites timing out at random under load).
    func text() -> String {
        _ = done.wait(timeout: .now() + 3)
        return lock.withLock { String(decoding: data, as: UTF8.self) }
    }
}

/// A program running in the background (a hub, a daemon), with its output collected.
public final class BackgroundProcess: @unchecked Sendable {
    private let process: Process
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process = makeProcess(executable, arguments, environment: environment)
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        stdout.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.stdoutText += String(decoding: data, as: UTF8.self) }
        }
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.stderrText += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    public var standardOutput: String { lock.withLock { stdoutText } }
    public var standardError: String { lock.withLock { stderrText } }
    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    /// Waits until standard output (or standard error) has a line for which `match`
    /// returns a value.
    public func waitForOutput<T>(timeout: Duration = .seconds(20), inErrors: Bool = false, _ match: (String) -> T?) throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in (inErrors ? standardError : standardOutput).split(separator: "\n") {
                if let value = match(String(line)) { return value }
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw ProcessError.failed(
            command: process.executableURL?.path ?? "?",
            result: ProcessResult(status: process.isRunning ? -1 : process.terminationStatus, stdout: standardOutput, stderr: standardError))
    }

    /// Waits for the process to end by itself; returns its exit status.
    public func wait(timeout: Duration = .seconds(120)) -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? stop(signal: SIGKILL) : process.terminationStatus
    }

    /// Sends `signal` (SIGTERM by default) and waits for the process to end; returns its exit status.
    @discardableResult
    public func stop(signal: Int32 = 15, timeout: Duration = .seconds(20)) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        Thread.sleep(forTimeInterval: 0.05)
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A file made by wirsync 1 (`Tests/Fixtures/v1`, see its `make.sh`), for upgrade tests.
public func wirsync1Fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/v1/\(name)").standardized.path
}
