import CCurl
import CompressNIO
public import Foundation
import NIOCore
public import SyncCore

/// How the centre talks to the hub over HTTP.
public struct CurlConfiguration: Sendable {
    /// The hub's base URL, e.g. `https://wir-sync.hmsi.example`.
    public var hubURL: String
    public var token: String
    /// The schema the replica speaks, e.g. `wir/1`.
    public var schemaTag: String
    public var connectTimeout: Duration = .seconds(10)
    /// The longest one request may take.
    public var timeout: Duration = .seconds(300)
    /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedSeconds` is aborted: a
    /// stalled rural line must not hang a sync.
    public var lowSpeedBytesPerSecond = 100
    public var lowSpeedSeconds = 20
    /// A CA bundle to verify the hub's certificate with, instead of the system's.
    public var caFile: String?
    /// Request bodies larger than this are sent gzip-compressed.
    public var gzipAbove = 1024
    /// The largest answer taken, as inflated: a hostile hub or proxy cannot fill the PC's
    /// memory. The hub bounds a pull page to 16 MiB (and one entry), well below.
    public var maxResponseBytes = 64 << 20

    public init(hubURL: String, token: String, schemaTag: String) {
        self.hubURL = hubURL
        self.token = token
        self.schemaTag = schemaTag
    }
}

/// Bytes a transport moved, as sent on the wire (headers included, bodies compressed).
public struct TransferStatistics: Hashable, Sendable {
    public var requests = 0
    public var bytesSent = 0
    public var bytesReceived = 0
}

/// The hub over HTTP/1.1 with libcurl: one easy handle per transport, reused for every
/// request (keep-alive), gzip both ways, TLS verified, `https_proxy`/`no_proxy` honoured
/// (libcurl reads them), and a low-speed abort for stalled lines.
///
/// `curl_easy_perform` blocks, so every request runs on the transport's own serial
/// dispatch queue, never on Swift's cooperative pool; the queue is also what keeps the
/// easy handle (which is not thread-safe) to one thread at a time.
public final class CurlTransport: HubTransport, @unchecked Sendable {
    private let configuration: CurlConfiguration
    /// The hub is on this machine: never reached through a proxy (`http_proxy`), where the token would leave the PC in clear.
    private let hubIsLoopback: Bool
    private let queue = DispatchQueue(label: "wirsync.curl")
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    private var statistics = TransferStatistics()

    private static let globalInit: CURLcode = wirsync_curl_global_init()

    public init(_ configuration: CurlConfiguration) throws(TransportError) {
        guard Self.globalInit == CURLE_OK, let handle = curl_easy_init() else {
            throw .curl(reason: "libcurl could not be initialised", curlCode: Int(Self.globalInit.rawValue))
        }
        self.configuration = configuration
        self.handle = handle
        hubIsLoopback = URLComponents(string: configuration.hubURL)?.host.map { Wire.isLoopback(host: $0) } ?? false
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// What this transport has sent and received so far.
    public var transferred: TransferStatistics { queue.sync { statistics } }

    public func push(_ request: PushRequest) async throws(TransportError) -> PushResponse {
        try await push(request, body: body(json: request.json()))
    }

    /// The JSON, gzip-compressed when it is over `gzipAbove` bytes.
    public func body(json: Data) -> PushBody {
        guard json.count > configuration.gzipAbove else { return PushBody(bytes: json) }
        var buffer = ByteBuffer(bytes: json)
        guard let compressed = try? buffer.compress(with: .gzip()) else { return PushBody(bytes: json) }
        return PushBody(bytes: Data(compressed.readableBytesView), contentEncoding: "gzip")
    }

    public func session(_ request: SessionRequest, origin: String) async throws(TransportError) -> SessionResponse {
        try await call(.post, "/v1/session", body: encoded(request), replica: origin)
    }

    public func push(_ request: PushRequest, body: PushBody) async throws(TransportError) -> PushResponse {
        try await call(.post, "/v1/push", body: body, replica: request.after == nil ? nil : request.replicaID)
    }

    public func pull(after cursor: Int64, limit: Int, origin: String?, delta: Bool) async throws(TransportError) -> PullResponse {
        try await call(.get, "/v1/pull?after=\(cursor)&limit=\(limit)\(delta ? "&delta=1" : "")", body: nil, replica: origin) { body throws(JSONReadError) in
            try PullResponse(json: body)
        }
    }

    public func receipts(after seq: Int64, limit: Int, origin: String) async throws(TransportError) -> ReceiptsResponse {
        try await call(.get, "/v1/receipts?after=\(seq)&limit=\(limit)", body: nil, replica: origin)
    }

    public func reoffer(_ request: ReofferRequest, origin: String) async throws(TransportError) -> ReofferResponse {
        try await call(.post, "/v1/reoffer", body: encoded(request), replica: origin)
    }

    public func rebuild(_ request: RebuildRequest, origin: String) async throws(TransportError) -> RebuildResponse {
        try await call(.post, "/v1/conflicts/rebuild", body: encoded(request), replica: origin)
    }

    public func digest() async throws(TransportError) -> DigestResponse {
        try await call(.get, "/v1/digest", body: nil)
    }

    public func erase(_ request: EraseRequest, origin: String) async throws(TransportError) -> Erasure {
        try await call(.post, "/v1/erase", body: encoded(request), replica: origin)
    }

    /// A rarer request's body: its JSON by `JSONEncoder`, compressed as a push's is.
    private func encoded(_ value: some Encodable) throws(TransportError) -> PushBody {
        do {
            return body(json: try JSONEncoder().encode(value))
        } catch {
            throw .malformedResponse("could not write the request: \(error)")
        }
    }

    // MARK: Requests

    enum Method: String { case get = "GET", post = "POST" }

    struct RawResponse {
        var status: Int
        var headers: [String: String]
        var body: Data
    }

    private func call<T: Decodable>(_ method: Method, _ path: String, body: PushBody?, replica: String? = nil) async throws(TransportError) -> T {
        try await call(method, path, body: body, replica: replica) { body in try JSONDecoder().decode(T.self, from: body) }
    }

    /// Sends a request and reads a 2xx answer with `read`; any other status becomes the
    /// hub's error.
    ///
    /// - Parameter replica: the origin for the `WIRSync-Replica` header (protocol 2).
    private func call<T, Failure: Error>(
        _ method: Method, _ path: String, body: PushBody?, replica: String?, read: (Data) throws(Failure) -> T
    ) async throws(TransportError) -> T {
        let response = try await perform(method, path, body: body, replica: replica)
        guard (200..<300).contains(response.status) else {
            if let error = try? JSONDecoder().decode(ErrorBody.self, from: response.body) {
                throw .hub(status: response.status, code: error.error.code, message: error.error.message)
            }
            let text = String(decoding: response.body.prefix(200), as: UTF8.self)
            throw .hub(status: response.status, code: "http_\(response.status)", message: text.isEmpty ? "no explanation given" : text)
        }
        do {
            return try read(response.body)
        } catch {
            throw .malformedResponse("\(method.rawValue) \(path): \(error)")
        }
    }

    /// Sends one request on the transport's queue and waits for the answer.
    func perform(_ method: Method, _ path: String, body: PushBody?, replica: String? = nil) async throws(TransportError) -> RawResponse {
        let result: Result<RawResponse, TransportError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: self.performBlocking(method, path, body: body, replica: replica))
            }
        }
        return try result.get()
    }

    private final class Accumulator {
        var body = Data()
        var headers: [String: String] = [:]
        let limit: Int
        /// Why the body was cut off: too large, or in an encoding the protocol does not use.
        var refused: String?

        init(limit: Int) { self.limit = limit }
    }

    private func performBlocking(_ method: Method, _ path: String, body: PushBody?, replica: String?) -> Result<RawResponse, TransportError> {
        curl_easy_reset(handle)  // keeps the connection cache: keep-alive across requests
        errorBuffer[0] = 0
        let accumulator = Accumulator(limit: configuration.maxResponseBytes)
        let context = Unmanaged.passUnretained(accumulator).toOpaque()

        var headerLines = [
            "Authorization: Bearer \(configuration.token)",
            "\(Wire.schemaHeader): \(configuration.schemaTag)",
            "Accept: application/json",
            "Expect:",  // no 100-continue round trip before a push
        ]
        if let replica { headerLines.append("\(Wire.replicaHeader): \(replica)") }
        if let body {
            headerLines.append("Content-Type: application/json")
            if let encoding = body.contentEncoding { headerLines.append("Content-Encoding: \(encoding)") }
        }
        var headers: UnsafeMutablePointer<curl_slist>?
        for line in headerLines { headers = curl_slist_append(headers, line) }
        defer { curl_slist_free_all(headers) }

        let url = configuration.hubURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path
        wirsync_curl_setopt_string(handle, CURLOPT_URL, url)
        wirsync_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers)
        wirsync_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "gzip")  // the one encoding the protocol uses
        wirsync_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        if hubIsLoopback { wirsync_curl_setopt_string(handle, CURLOPT_NOPROXY, "*") }
        wirsync_curl_setopt_string(handle, CURLOPT_USERAGENT, "wirsync/1 (\(curlVersion))")
        wirsync_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        wirsync_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        wirsync_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(configuration.connectTimeout))
        wirsync_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(configuration.timeout))
        wirsync_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, configuration.lowSpeedBytesPerSecond)
        wirsync_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, configuration.lowSpeedSeconds)
        wirsync_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        wirsync_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile = configuration.caFile { wirsync_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
        wirsync_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        wirsync_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, collectBody)
        wirsync_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        wirsync_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, collectHeader)
        wirsync_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)

        let code: CURLcode = withExtendedLifetime(accumulator) {
            if method == .post, let body {
                return body.bytes.withUnsafeBytes { bytes in
                    wirsync_curl_setopt_long(handle, CURLOPT_POST, 1)
                    wirsync_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                    wirsync_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    return curl_easy_perform(handle)
                }
            }
            wirsync_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            return curl_easy_perform(handle)
        }
        recordStatistics()
        if let refused = accumulator.refused { return .failure(.malformedResponse(refused)) }
        guard code == CURLE_OK else { return .failure(error(for: code)) }
        var status = 0
        wirsync_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(RawResponse(status: status, headers: accumulator.headers, body: accumulator.body))
    }

    private func recordStatistics() {
        var requestSize = 0
        var headerSize = 0
        var uploaded: curl_off_t = 0
        var downloaded: curl_off_t = 0
        wirsync_curl_getinfo_long(handle, CURLINFO_REQUEST_SIZE, &requestSize)
        wirsync_curl_getinfo_long(handle, CURLINFO_HEADER_SIZE, &headerSize)
        wirsync_curl_getinfo_off_t(handle, CURLINFO_SIZE_UPLOAD_T, &uploaded)
        wirsync_curl_getinfo_off_t(handle, CURLINFO_SIZE_DOWNLOAD_T, &downloaded)
        statistics.requests += 1
        statistics.bytesSent += requestSize + Int(uploaded)
        statistics.bytesReceived += headerSize + Int(downloaded)
    }

    /// A libcurl failure as an operator reads it: the system's own words where there are
    /// some ("Connection refused"), libcurl's otherwise.
    private func error(for code: CURLcode) -> TransportError {
        var osErrno = 0
        wirsync_curl_getinfo_long(handle, CURLINFO_OS_ERRNO, &osErrno)
        let buffer = String(cString: errorBuffer)
        let fallback = buffer.isEmpty ? String(cString: curl_easy_strerror(code)) : buffer
        let reason = osErrno != 0 && code != CURLE_OPERATION_TIMEDOUT ? String(cString: strerror(Int32(osErrno))) : fallback
        let number = Int(code.rawValue)
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .unreachable(reason: reason, curlCode: number)
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout(reason: fallback, curlCode: number)
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE:
            return .interrupted(reason: reason, curlCode: number)
        case CURLE_BAD_CONTENT_ENCODING:
            return .malformedResponse("the hub answered in an encoding it cannot read; the protocol uses gzip only (curl \(number))")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            return .tls(reason: fallback, curlCode: number)
        default:
            return .curl(reason: fallback, curlCode: number)
        }
    }

    private var curlVersion: String { String(cString: curl_version()).split(separator: " ").first.map(String.init) ?? "libcurl" }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }

    private let collectBody: wirsync_curl_data_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let accumulator = Unmanaged<Accumulator>.fromOpaque(context).takeUnretainedValue()
        // Returning less than given makes libcurl stop the transfer (CURLE_WRITE_ERROR).
        if let encoding = accumulator.headers["content-encoding"]?.lowercased(), !["gzip", "identity"].contains(encoding) {
            accumulator.refused = "the hub answered in Content-Encoding \(encoding); the protocol uses gzip only"
            return 0
        }
        guard accumulator.body.count + size * count <= accumulator.limit else {
            accumulator.refused = "the hub's answer is larger than \(accumulator.limit >> 20) MiB, the most this replica takes; nothing of it was used"
            return 0
        }
        accumulator.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: size * count)
        return size * count
    }

    private let collectHeader: wirsync_curl_data_callback = { data, size, count, context in
        guard let data, let context else { return 0 }
        let accumulator = Unmanaged<Accumulator>.fromOpaque(context).takeUnretainedValue()
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            accumulator.headers = [:]  // a new response (after a 100 Continue or a redirect)
        } else if let colon = line.firstIndex(of: ":") {
            accumulator.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return size * count
    }
}
