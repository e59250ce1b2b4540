import Foundation
import HTTPTypes
import HubServer
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncTestSupport
import Testing

@Suite("schema/openapi.yaml describes the hub", .timeLimit(.minutes(5)))
struct OpenAPITests {
    @Test func everyRouteTheRouterServesIsInTheSpecAndViceVersa() async throws {
        let harness = try await HubHarness()
        let served = Set(harness.api.router().routes.map { "\($0.method.rawValue) \($0.path)" })
        #expect(served == (try OpenAPISpec().operations))
    }

    /// A session with data, conflicts and refusals: every response must match the spec.
    @Test func everyResponseOfASyncSessionValidatesAgainstTheSpec() async throws {
        let spec = try OpenAPISpec()
        let harness = try await HubHarness()
        try fill(harness.replica(kassel), centre: kassel, scale: 40, seed: 13)
        let recorder = try await harness.application().test(.router) { client in
            let recorder = RecordingClient(client)
            try await recorder.sync(harness.replica(kassel), token: harness.token(kassel))
            try await recorder.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            let project = try someProject(harness.replica(kassel), centre: kassel)
            try sqlite3(harness.replica(kassel).path, """
                UPDATE projects SET title = 'Zentrum' WHERE id = '\(project)';
                INSERT INTO organisations (id, centre_id, name, kind, logo) VALUES ('logo', 'landkreis-kassel', 'Bild', 'Verein', X'00FF00');
                UPDATE deployments SET hours = 2.5;
                """)
            try sqlite3(harness.replica(Node.hmsi).path, "UPDATE projects SET title = 'HMSI' WHERE id = '\(project)';")
            for node in [kassel, Node.hmsi, kassel] { try await recorder.sync(harness.replica(node), token: harness.token(node)) }
            // The repairs after a hub restore, called as a replica calls them (nothing is lost here: all duplicates).
            let origin = try harness.replica(kassel).status().origin
            _ = try await recorder.execute(
                uri: "/v1/receipts?after=0&limit=5", method: .get,
                headers: [
                    .authorization: "Bearer \(harness.token(kassel))", HTTPField.Name(Wire.schemaHeader)!: "wir/2",
                    HTTPField.Name(Wire.replicaHeader)!: origin,
                ])
            let again = try harness.replica(kassel).rederive(afterHubSeq: 0, ownAbove: .zero, from: nil, limit: 20).changes
            _ = try await recorder.v2("/v1/reoffer", JSONEncoder().encode(ReofferRequest(changes: again)), origin: origin, token: harness.token(kassel))
            let records = try harness.replica(kassel).conflicts()
            _ = try await recorder.v2(
                "/v1/conflicts/rebuild", JSONEncoder().encode(RebuildRequest(records: records)), origin: origin, token: harness.token(kassel))
            // An erasure, asked twice (409), then pulled with the row named in `erased`.
            let erase = try JSONEncoder().encode(EraseRequest(table: "organisations", pk: "logo", reason: "Antrag 1"))
            for _ in 1...2 { _ = try await recorder.v2("/v1/erase", erase, origin: origin, token: harness.token(kassel)) }
            try await recorder.sync(harness.replica(Node.hmsi), token: harness.token(Node.hmsi))
            let replicaID = try harness.replica(kassel).status().replicaID
            _ = try await recorder.push(
                PushRequest(replicaID: replicaID, lastSeq: 5000, changes: [
                    change(.insert, "organisations", "fremd", organisationRow(fulda), seq: 5000, origin: kassel, centre: fulda)
                ]), token: harness.token(kassel))
            _ = try await recorder.push(body: BadInputTests.body { $0["table"] = "nirgends" }, token: harness.token(kassel))
            _ = try await recorder.push(body: BadInputTests.body(), token: harness.token(kassel), schema: "wir/9")
            _ = try await recorder.pull(after: 0, token: "falsch")
            _ = try await recorder.pull(after: 0, limit: 0, token: harness.token(kassel))
            _ = try await recorder.execute(uri: "/healthz", method: .get)
            _ = try await recorder.execute(
                uri: "/v1/digest", method: .get, headers: [.authorization: "Bearer \(harness.token(kassel))", HTTPField.Name("WIRSync-Schema")!: "wir/2"])
            return recorder
        }
        let exchanges = recorder.recorded
        #expect(Set(exchanges.map(\.status)).isSuperset(of: [200, 400, 401, 409]))
        #expect(exchanges.contains { $0.path == "/v1/erase" && $0.status == 409 }, "a second erasure of the row")
        #expect(exchanges.contains { $0.path == "/v1/pull" && $0.body.contains(#""erased":[{"#) }, "a pull named an erased row")
        for path in ["/v1/digest", "/v1/session", "/v1/receipts", "/v1/reoffer", "/v1/conflicts/rebuild", "/v1/erase"] {
            #expect(exchanges.contains { $0.path == path && $0.status == 200 }, "\(path) answered")
        }
        #expect(exchanges.contains { $0.path == "/v1/pull" && $0.body.contains("\"conflicts\":[{") }, "a pull carried a conflict record")
        #expect(exchanges.contains { $0.path == "/v1/push" && $0.body.contains("out_of_scope") }, "a push carried a refusal")
        for exchange in exchanges {
            let errors = spec.check(method: exchange.method, path: exchange.path, status: exchange.status, body: exchange.body)
            #expect(errors.isEmpty, "\(errors.joined(separator: "\n"))")
        }
    }
}
