import CompressNIO
import CurlTransport
import Foundation
import HubServer
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

/// libcurl against the real hub on a loopback socket.
@Suite("libcurl transport", .timeLimit(.minutes(5)))
struct CurlTransportTests {
    private func transport(port: Int, token: String, schema: String = "wir/2", stall: Int = 20) throws -> CurlTransport {
        var configuration = CurlConfiguration(hubURL: "http://127.0.0.1:\(port)", token: token, schemaTag: schema)
        configuration.lowSpeedSeconds = stall
        configuration.connectTimeout = .seconds(2)
        return try CurlTransport(configuration)
    }

    @Test func pushesGzipPullsGzipAndReusesOneConnection() async throws {
        let harness = try await HubHarness(configuration: .init(maxBodyBytes: 1 << 20))
        let replica = harness.replica(kassel)
        try fill(replica, centre: kassel, scale: 200, seed: 21)
        try await harness.application().test(.live) { client in
            let proxy = try FaultProxy(upstreamPort: try #require(client.port))
            defer { proxy.stop() }
            let curl = try transport(port: proxy.port, token: harness.token(kassel))
            let state = try replica.sessionState()
            let session = try await curl.session(state.request, origin: state.origin)
            #expect(session.registered && session.acked == 0 && session.cursorValid)
            let request = try replica.pushRequest()
            let json = try JSONEncoder().encode(request).count
            let sentBefore = curl.transferred.bytesSent
            let pushed = try await curl.push(request)
            #expect(pushed.applied == 200)
            let sent = curl.transferred.bytesSent - sentBefore
            #expect(sent < json / 3, "the body went gzip-compressed: \(sent) bytes on the wire for \(json) bytes of JSON")

            let pulled = try await curl.pull(after: 0, limit: 5000, origin: state.origin)
            #expect(pulled.changes.count == 242, "reference data, and its own changes back")
            let hmsi = try transport(port: proxy.port, token: harness.token(Node.hmsi))
            let everything = try await hmsi.pull(after: 0, limit: 5000, origin: nil)
            #expect(everything.changes.count == 242)
            #expect(hmsi.transferred.bytesReceived < (try JSONEncoder().encode(everything).count) / 3, "the answer came gzip-compressed")
            for _ in 0..<5 { _ = try await curl.digest() }
            #expect(proxy.connections == 2, "one kept-alive connection per transport, for all nine requests")
        }
    }

    @Test func theHubsRefusalsArriveWithTheirStatusAndCode() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.live) { client in
            let port = try #require(client.port)
            await #expect(throws: TransportError.hub(status: 401, code: "unauthorized", message: "the token is unknown or revoked; ask HMSI for a new one")) {
                try await transport(port: port, token: "wir1.kassel.falsch").pull(after: 0, limit: 10, origin: nil)
            }
            do {
                _ = try await transport(port: port, token: harness.token(kassel), schema: "wir/7").pull(after: 0, limit: 10, origin: nil)
                Issue.record("a schema mismatch was served")
            } catch let error as TransportError {
                guard case .hub(409, "schema_too_new", _) = error else { Issue.record("\(error)"); return }
                #expect(!error.isTransient)
            }
        }
    }

    @Test func aHubThatIsDownReadsAsUnreachableConnectionRefused() async throws {
        do {
            _ = try await transport(port: try unusedPort(), token: "t").pull(after: 0, limit: 1, origin: nil)
            Issue.record("a request to a closed port succeeded")
        } catch let error as TransportError {
            #expect(error == .unreachable(reason: "Connection refused", curlCode: 7))
            #expect(error.description == "hub unreachable: Connection refused (curl 7)")
            #expect(error.isTransient)
        }
    }

    @Test func aStalledLineIsAbortedByTheLowSpeedLimit() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.live) { client in
            let proxy = try FaultProxy(upstreamPort: try #require(client.port))
            defer { proxy.stop() }
            proxy.hurt([.stall])
            let start = ContinuousClock.now
            do {
                _ = try await transport(port: proxy.port, token: harness.token(kassel), stall: 1).pull(after: 0, limit: 10, origin: nil)
                Issue.record("a stalled request returned")
            } catch let error as TransportError {
                guard case .timeout(_, 28) = error else { Issue.record("\(error)"); return }
                #expect(error.isTransient)
            }
            #expect(ContinuousClock.now - start < .seconds(10), "aborted after about a second of no progress")
            // A busy machine may stall a healthy line for a second too: the retry allows for it.
            let retried = try await transport(port: proxy.port, token: harness.token(kassel), stall: 30).pull(after: 0, limit: 10, origin: nil)
            #expect(retried.changes.count == 10, "a fresh connection works")
        }
    }

    @Test(arguments: [FaultProxy.Fault.dropResponse, .truncateResponse(bytes: 40), .truncateRequest(bytes: 30), .reset])
    func aBrokenConnectionIsReportedAsTransient(fault: FaultProxy.Fault) async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.live) { client in
            let proxy = try FaultProxy(upstreamPort: try #require(client.port))
            defer { proxy.stop() }
            proxy.hurt([fault])
            do {
                _ = try await transport(port: proxy.port, token: harness.token(kassel)).pull(after: 0, limit: 10, origin: nil)
                Issue.record("\(fault) went unnoticed")
            } catch let error as TransportError {
                #expect(error.isTransient, "\(error)")
            }
        }
    }

    @Test func tlsIsVerifiedSoAPlainServerCannotPassForTheHub() async throws {
        let harness = try await HubHarness()
        try await harness.application().test(.live) { client in
            var configuration = CurlConfiguration(hubURL: "https://127.0.0.1:\(try #require(client.port))", token: "t", schemaTag: "wir/2")
            configuration.connectTimeout = .seconds(2)
            do {
                _ = try await CurlTransport(configuration).pull(after: 0, limit: 1, origin: nil)
                Issue.record("spoke https to a plain HTTP server")
            } catch let error as TransportError {
                guard case .tls = error else { Issue.record("\(error)"); return }
            }
        }
    }

    /// A hostile hub (or a proxy in between) cannot exhaust a centre PC's memory: an answer
    /// that inflates beyond the transport's cap is cut off there and refused, and an answer
    /// in an encoding the protocol does not use is refused before its body is read.
    @Test(arguments: ["gzip", "deflate", "br"])
    func aHostileHubsInflatingOrStrangelyEncodedAnswerIsRefused(encoding: String) async throws {
        var zeros = ByteBuffer(repeating: UInt8(ascii: " "), count: 32 << 20)
        let bomb = try zeros.compress(with: encoding == "deflate" ? .deflate() : .gzip())
        let router = Router()
        router.get("/v1/pull") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .contentEncoding: encoding], body: .init(byteBuffer: bomb))
        }
        try await Application(router: router).test(.live) { client in
            var configuration = CurlConfiguration(hubURL: "http://127.0.0.1:\(try #require(client.port))", token: "t", schemaTag: "wir/2")
            configuration.maxResponseBytes = 1 << 20
            do {
                _ = try await CurlTransport(configuration).pull(after: 0, limit: 1, origin: nil)
                Issue.record("took a \(bomb.readableBytes)-byte \(encoding) answer")
            } catch let error as TransportError {
                guard case .malformedResponse(let reason) = error else { Issue.record("\(error)"); return }
                // libcurl reads deflate, and the transport refuses it; br it cannot read (this is not brotli).
                let expected = [
                    "gzip": "larger than 1 MiB, the most this replica takes", "deflate": "Content-Encoding deflate; the protocol uses gzip only",
                    "br": "an encoding it cannot read; the protocol uses gzip only",
                ][encoding]!
                #expect(reason.contains(expected), "\(reason)")
            }
        }
    }
}
