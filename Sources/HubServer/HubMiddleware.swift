import Foundation
import HubStore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SyncCore
import SyncStore
import Synchronization

/// Wraps every route: refusals become a 4xx with a JSON error body, anything unexpected a
/// 500 with a generic body (the details go to the log, never to the client); every
/// response carries the hub's clock; every request is counted.
struct HubMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    let store: any HubStorage
    let clock: any WallClock
    let metrics: HubMetrics
    /// The routes, to answer a known path with an unknown method by 405 rather than 404.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = errorResponse(error, request: request, context: context)
            // A refusal of a known centre is part of its sync health (docs/console.md).
            if let caller = context.caller.known {
                let (status, code, message, _) = classify(error, path: request.uri.path)
                await store.record(
                    ActivityEntry(
                        at: clock.nowMillis(), centre: caller.centre, origin: caller.origin,
                        route: String(request.uri.path.split(separator: "/").last ?? "?"), status: Int(status.code), code: code, detail: message),
                    logger: context.logger)
            }
        }
        response.headers[HTTPField.Name(Wire.hubTimeHeader)!] = String(clock.nowMillis())
        metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code)
        return response
    }

    private func errorResponse(_ error: any Error, request: Request, context: Context) -> Response {
        let (status, code, message, headers) = classify(error, path: request.uri.path)
        if status == .internalServerError {
            context.logger.error(
                "internal error", metadata: ["route": "\(request.method) \(request.uri.path)", "error": "\(String(reflecting: error))"])
        } else {
            context.logger.notice(
                "refused", metadata: ["route": "\(request.method) \(request.uri.path)", "status": "\(status.code)", "code": "\(code)", "reason": "\(message)"])
        }
        let body = (try? JSONEncoder().encode(ErrorBody(code: code, message: message))) ?? Data()
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func classify(_ error: any Error, path: String) -> (HTTPResponse.Status, String, String, HTTPFields) {
        switch error {
        case let error as HubError:
            let status = HTTPResponse.Status(code: error.status)
            if status == .internalServerError { return Self.internalError }
            let headers: HTTPFields = status == .unauthorized ? [.wwwAuthenticate: "Bearer realm=\"wirsync-hub\""] : [:]
            return (status, error.code, error.description, headers)
        case let error as HTTPError where error.status == .notFound:
            if let methods = routes.methods(for: path) {
                let allowed = methods.sorted().joined(separator: ", ")
                return (.methodNotAllowed, "method_not_allowed", "\(path) accepts \(allowed) only", [.allow: allowed])
            }
            return (.notFound, "not_found", "there is no \(path); the API is under /v1", [:])
        case let error as HTTPError:
            let code = error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            return (error.status, code, error.body ?? error.status.reasonPhrase, error.headers)
        // A body that is not valid HTTP/1.1 (`Transfer-Encoding: xchunked`), or a client that
        // hung up mid-body: the client's fault, answered (if it still listens) and counted as 400.
        case let error as HTTPParserError:
            return (.badRequest, "malformed_request", "the request is not valid HTTP/1.1: \(error)", [.connection: "close"])
        case let error as any HTTPResponseError where error.status.code < 500:
            return (error.status, "http_\(error.status.code)", error.status.reasonPhrase, [:])
        default:
            return Self.internalError
        }
    }

    private static let internalError: (HTTPResponse.Status, String, String, HTTPFields) =
        (.internalServerError, "internal", "internal error; the hub has logged it", [:])
}

/// The router's paths and their methods, filled once the routes are registered.
final class RouteTable: Sendable {
    private let table = Mutex<[String: Set<String>]>([:])

    func record(_ routes: [(path: String, method: String)]) {
        table.withLock { table in
            for route in routes { table[route.path, default: []].insert(route.method) }
        }
    }

    func methods(for path: String) -> Set<String>? { table.withLock { $0[path] } }
}
