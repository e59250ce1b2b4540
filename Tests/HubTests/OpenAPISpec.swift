import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Yams

/// A JSON document as parsed for schema checks: numbers keep whether they were integers.
indirect enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), integer(Int64), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() { self = .null }
        else if let value = try? single.decode(Bool.self) { self = .bool(value) }
        else if let value = try? single.decode(Int64.self) { self = .integer(value) }
        else if let value = try? single.decode(Double.self) { self = .number(value) }
        else if let value = try? single.decode(String.self) { self = .string(value) }
        else if let value = try? single.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try single.decode([String: JSONValue].self)) }
    }
}

/// `schema/openapi.yaml`, and a JSON Schema check of the subset it uses: `$ref`, `oneOf`,
/// `type`, `enum`, `required`, `properties`, `additionalProperties`, `items`, `minimum`,
/// `maximum`, `minLength`, `maxLength`, `pattern`.
struct OpenAPISpec {
    let document: [String: Any]

    init() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../schema/openapi.yaml")
        guard let document = try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any] else {
            throw SpecError.invalid("openapi.yaml is not a mapping")
        }
        self.document = document
    }

    enum SpecError: Error { case invalid(String) }

    /// Every operation as `METHOD /path`.
    var operations: Set<String> {
        let paths = document["paths"] as? [String: Any] ?? [:]
        return Set(paths.flatMap { path, item in
            (item as? [String: Any] ?? [:]).keys.filter { ["get", "post", "put", "patch", "delete"].contains($0) }
                .map { "\($0.uppercased()) \(path)" }
        })
    }

    /// Errors of a response body against the schema the spec gives for it; a missing
    /// operation or status is an error too.
    func check(method: String, path: String, status: Int, body: String) -> [String] {
        guard let operation = (document["paths"] as? [String: Any])?[path] as? [String: Any],
            let responses = (operation[method.lowercased()] as? [String: Any])?["responses"] as? [String: Any]
        else { return ["\(method) \(path) is not in the spec"] }
        guard var response = responses[String(status)] as? [String: Any] else {
            return ["\(method) \(path) does not document status \(status)"]
        }
        if let ref = response["$ref"] as? String { response = resolve(ref) as? [String: Any] ?? [:] }
        guard let schema = ((response["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] else {
            return []
        }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) else {
            return ["\(method) \(path) \(status): the body is not JSON: \(body.prefix(200))"]
        }
        var errors: [String] = []
        validate(json, schema, at: "$", into: &errors)
        return errors.map { "\(method) \(path) \(status): \($0)" }
    }

    private func resolve(_ ref: String) -> Any? {
        ref.dropFirst(2).split(separator: "/").reduce(document as Any?) { node, key in (node as? [String: Any])?[String(key)] }
    }

    private func validate(_ value: JSONValue, _ schema: Any, at path: String, into errors: inout [String]) {
        guard let schema = schema as? [String: Any] else { return }
        if let ref = schema["$ref"] as? String {
            guard let target = resolve(ref) else { return errors.append("\(path): unresolvable \(ref)") }
            return validate(value, target, at: path, into: &errors)
        }
        if let options = schema["oneOf"] as? [Any] {
            let matches = options.filter { option in
                var sub: [String] = []
                validate(value, option, at: path, into: &sub)
                return sub.isEmpty
            }.count
            if matches != 1 { errors.append("\(path): matches \(matches) of oneOf, not exactly one") }
        }
        if let type = schema["type"] as? String, !Self.has(value, type: type) {
            errors.append("\(path): expected \(type), found \(value)")
            return
        }
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { Self.equal(value, $0) }) {
            errors.append("\(path): \(value) is not one of \(allowed)")
        }
        switch value {
        case .object(let object):
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                errors.append("\(path): missing required \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, member) in object {
                if let property = properties[key] {
                    validate(member, property, at: "\(path).\(key)", into: &errors)
                } else if let additional = schema["additionalProperties"] {
                    if additional as? Bool == false { errors.append("\(path): unexpected property \(key)") }
                    else if additional is [String: Any] { validate(member, additional, at: "\(path).\(key)", into: &errors) }
                }
            }
        case .array(let items):
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() { validate(item, itemSchema, at: "\(path)[\(index)]", into: &errors) }
            }
        case .integer(let number):
            if let minimum = schema["minimum"] as? Int, number < Int64(minimum) { errors.append("\(path): \(number) < \(minimum)") }
            if let maximum = schema["maximum"] as? Int, number > Int64(maximum) { errors.append("\(path): \(number) > \(maximum)") }
        case .string(let text):
            if let minimum = schema["minLength"] as? Int, text.count < minimum { errors.append("\(path): shorter than \(minimum)") }
            if let maximum = schema["maxLength"] as? Int, text.count > maximum { errors.append("\(path): longer than \(maximum)") }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                errors.append("\(path): \(text) does not match \(pattern)")
            }
        default:
            break
        }
    }

    private static func has(_ value: JSONValue, type: String) -> Bool {
        switch (value, type) {
        case (.null, "null"), (.bool, "boolean"), (.integer, "integer"), (.integer, "number"), (.number, "number"),
            (.string, "string"), (.array, "array"), (.object, "object"):
            true
        default:
            false
        }
    }

    private static func equal(_ value: JSONValue, _ literal: Any) -> Bool {
        switch value {
        case .string(let text): (literal as? String) == text
        case .integer(let number): (literal as? Int).map { Int64($0) == number } ?? false
        case .bool(let flag): (literal as? Bool) == flag
        default: false
        }
    }
}

/// A test client that keeps every response, so a test can check them all against the spec.
final class RecordingClient: TestClientProtocol {
    struct Exchange: Sendable {
        var method: String
        var path: String
        var status: Int
        var body: String
    }

    let client: any TestClientProtocol
    private let exchanges = Mutex<[Exchange]>([])

    init(_ client: any TestClientProtocol) { self.client = client }

    var port: Int? { client.port }

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        let response = try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
        let path = String(uri.prefix { $0 != "?" })
        exchanges.withLock { $0.append(Exchange(method: method.rawValue, path: path, status: Int(response.status.code), body: response.text)) }
        return response
    }

    var recorded: [Exchange] { exchanges.withLock { $0 } }
}
