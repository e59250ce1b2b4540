import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy between a centre and the hub that hurts connections on purpose: the line a
/// rural centre has. Each new connection takes the next fault from the queue (or `pass`).
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: Sendable, Equatable {
        /// Forward both ways.
        case pass
        /// Forward the request, let the hub answer, but never deliver the answer: the
        /// connection closes once the hub has started to reply.
        case dropResponse
        /// Forward the first `after` answers of the connection, then cut the next one short
        /// after its first bytes: on a kept-alive connection, the hub has handled a later
        /// request but its answer is lost. (Dropping it whole would not do: libcurl sends a
        /// request again on a fresh connection when a reused one closes before any answer.)
        case cutAnswer(after: Int)
        /// Accept and read, but never answer nor close: a stalled line.
        case stall
        /// Deliver only the first bytes of the answer, then close.
        case truncateResponse(bytes: Int)
        /// Forward only the first bytes of the request, then close: a line that breaks
        /// while the centre is still sending.
        case truncateRequest(bytes: Int)
        /// Close at once, before the request is read.
        case reset
        /// Forward both ways, each chunk after a delay.
        case delay(milliseconds: Int)
    }

    public let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    /// Faults to come, counts, the sockets still open (never a closed descriptor: the
    /// number may already belong to someone else), and whether the proxy has stopped.
    private let state = LockedValue<(queue: [Fault], connections: Int, hurt: Int, open: Set<Int32>, stopped: Bool)>(([], 0, 0, [], false))

    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw ProxyError.cannotListen(String(cString: strerror(errno))) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public enum ProxyError: Error { case cannotListen(String) }

    /// The faults the next connections get, in order.
    public func hurt(_ faults: [Fault]) { state.update { $0.queue += faults } }

    /// From now on, each new connection (once the queue is empty) is hurt with probability
    /// `rate`, by one of `faults` chosen at random; seeded, so a run can be replayed.
    public func hurtAtRandom(rate: Double, faults: [Fault], seed: UInt64) {
        let random = LockedValue(seed | 1)
        chooser.value = { () -> Fault in
            var next: UInt64 = 0
            random.update { state in
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                next = state
            }
            let unit = Double(next >> 11) / Double(1 << 53)
            guard unit < rate, !faults.isEmpty else { return .pass }
            return faults[Int(next % UInt64(faults.count))]
        }
    }

    private let chooser = LockedValue<(@Sendable () -> Fault)?>(nil)

    /// Connections accepted so far, and how many of them were hurt.
    public var connections: Int { state.value.connections }
    public var hurtConnections: Int { state.value.hurt }

    /// Bytes forwarded so far towards the hub and back to clients: what crossed the wire.
    public var bytesForwarded: (toHub: Int, toClient: Int) { forwarded.value }
    private let forwarded = LockedValue<(toHub: Int, toClient: Int)>((0, 0))

    /// Stops accepting and breaks every open connection. Safe to call more than once.
    public func stop() {
        state.update { state in
            guard !state.stopped else { return }
            state.stopped = true
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
            for descriptor in state.open { shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    private func opened(_ descriptor: Int32) -> Bool {
        var accepted = false
        state.update { state in
            if !state.stopped {
                state.open.insert(descriptor)
                accepted = true
            }
        }
        return accepted
    }

    private func closeTracked(_ descriptor: Int32) {
        state.update { state in
            state.open.remove(descriptor)
            close(descriptor)
        }
    }

    deinit { stop() }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            guard opened(client) else {
                close(client)
                return
            }
            var fault = Fault.pass
            state.update { state in
                state.connections += 1
                if !state.queue.isEmpty { fault = state.queue.removeFirst() } else if let choose = chooser.value { fault = choose() }
                if fault != .pass { state.hurt += 1 }
            }
            let chosen = fault
            Thread.detachNewThread { [self] in serve(client, fault: chosen) }
        }
    }

    private func serve(_ client: Int32, fault: Fault) {
        defer { closeTracked(client) }
        if fault == .reset { return }
        if fault == .stall {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while read(client, &buffer, buffer.count) > 0 {}
            return
        }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard upstream >= 0 else { return }
        guard opened(upstream) else {
            close(upstream)
            return
        }
        defer { closeTracked(upstream) }
        var address = Self.loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        let delay: Int = if case .delay(let milliseconds) = fault { milliseconds } else { 0 }
        let requestLimit: Int? = if case .truncateRequest(let bytes) = fault { bytes } else { nil }
        // The request pump must be done with both sockets before they are closed.
        let requestPumped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            self.pump(from: client, to: upstream, towardsHub: true, delay: delay, limit: requestLimit)
            if requestLimit != nil {
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(upstream, Int32(SHUT_RDWR))
            }
            requestPumped.signal()
        }
        defer {
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
            requestPumped.wait()
        }
        switch fault {
        case .dropResponse:
            var buffer = [UInt8](repeating: 0, count: 65_536)
            _ = read(upstream, &buffer, buffer.count)  // the hub has answered; the answer is lost
            shutdown(client, Int32(SHUT_RDWR))
        case .cutAnswer(after: let passed):
            pumpAnswers(from: upstream, to: client, passing: passed)
            shutdown(client, Int32(SHUT_RDWR))
        case .truncateResponse(let bytes):
            pump(from: upstream, to: client, delay: 0, limit: bytes)
            shutdown(client, Int32(SHUT_RDWR))
        default:
            pump(from: upstream, to: client, delay: delay, limit: nil)
        }
    }

    /// Forwards `passing` answers, then the first bytes of the next one, and nothing more.
    /// An answer starts where a read starts with the status line: requests and answers
    /// alternate on the connection, so the next answer's bytes arrive only after the next request.
    private func pumpAnswers(from source: Int32, to destination: Int32, passing: Int) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var answers = 0
        while true {
            let count = read(source, &buffer, buffer.count)
            guard count > 0 else { return }
            var end = count
            if buffer.starts(with: Array("HTTP/1.1 ".utf8)) {
                answers += 1
                if answers > passing { end = min(count, 40) }  // past the status line: libcurl retries an answer with none on a fresh connection
            }
            var offset = 0
            while offset < end {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, end - offset) }
                guard written > 0 else { return }
                offset += written
            }
            forwarded.update { $0.toClient += end }
            if end < count { return }
        }
    }

    private func pump(from source: Int32, to destination: Int32, towardsHub: Bool = false, delay: Int, limit: Int?) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var sent = 0
        while true {
            let count = read(source, &buffer, buffer.count)
            guard count > 0 else { break }
            if delay > 0 { usleep(useconds_t(delay * 1000)) }
            let allowed = limit.map { min(count, $0 - sent) } ?? count
            var offset = 0
            while offset < allowed {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, allowed - offset) }
                guard written > 0 else { return }
                offset += written
            }
            forwarded.update { if towardsHub { $0.toHub += allowed } else { $0.toClient += allowed } }
            sent += allowed
            if let limit, sent >= limit { return }
        }
        shutdown(destination, Int32(SHUT_WR))
    }
}

/// A loopback port nothing listens on (it was free a moment ago).
public func unusedPort() throws -> Int {
    let proxy = try FaultProxy(upstreamPort: 1)
    let port = proxy.port
    proxy.stop()
    return port
}
