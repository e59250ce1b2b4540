import CompressNIO
import Foundation
import HTTPTypes
import HubStore
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import SyncCore
import SyncStore
import SyncTestSupport
import Testing

/// Every refusal: the expected 4xx, a JSON error body, and nothing written.
@Suite("Invariant 6 — bad input changes nothing (hub)", .timeLimit(.minutes(5)))
struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var status: HTTPResponse.Status
        var code: String
        /// Valid requests first, whose writes the comparison starts after.
        var prepare: (@Sendable (HubHarness, any TestClientProtocol) async throws -> Void)? = nil
        var send: @Sendable (HubHarness, any TestClientProtocol) async throws -> TestResponse
        var testDescription: String { name }
    }

    /// A push body of one valid insert, with `edit` applied to its JSON object.
    static func body(_ edit: (inout [String: Any]) -> Void = { _ in }) -> ByteBuffer {
        var change = insertJSON(seq: 1)
        edit(&change)
        return batch([change])
    }

    static func batch(_ changes: [[String: Any]], replicaID: String = "r1") -> ByteBuffer {
        let request: [String: Any] = ["replica_id": replicaID, "last_seq": changes.compactMap { $0["seq"] as? Int }.max() ?? 0, "changes": changes]
        return ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: request))
    }

    static func insertJSON(seq: Int) -> [String: Any] {
        [
            "seq": seq, "table": "organisations", "pk": "neu-\(seq)", "op": "insert", "centre": kassel, "origin": kassel, "seen": 0,
            "hlc": HLC(millis: SystemClock().nowMillis()).rawValue,
            "values": ["centre_id": kassel, "name": "Neu", "kind": "Verein"],
        ]
    }

    static func push(_ body: ByteBuffer, token: String? = nil, schema: String? = "wir/2", headers: HTTPFields = [:]) -> @Sendable (HubHarness, any TestClientProtocol) async throws -> TestResponse {
        { harness, client in try await client.push(body: body, token: token ?? harness.token(kassel), schema: schema, headers: headers) }
    }

    static let cases: [Case] = [
        Case(name: "no token", status: .unauthorized, code: "unauthorized") { _, client in
            try await client.push(body: body(), token: nil)
        },
        Case(name: "wrong token", status: .unauthorized, code: "unauthorized", send: push(body(), token: "wir1.landkreis-kassel.falsch")),
        Case(name: "revoked token", status: .unauthorized, code: "unauthorized") { harness, client in
            try await harness.store.revokeClient(kassel)
            return try await client.push(body: body(), token: harness.token(kassel))
        },
        Case(name: "pull without token", status: .unauthorized, code: "unauthorized") { _, client in
            try await client.pull(after: 0, token: nil)
        },
        Case(name: "malformed JSON", status: .badRequest, code: "malformed_json", send: push(ByteBuffer(string: "{\"replica_id\": \"r1\", \"changes\": ["))),
        Case(name: "not JSON at all", status: .badRequest, code: "malformed_json", send: push(ByteBuffer(string: "DROP TABLE centres;"))),
        Case(name: "invalid UTF-8", status: .badRequest, code: "malformed_json", send: push(ByteBuffer(bytes: [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]))),
        Case(name: "deeply nested JSON", status: .badRequest, code: "malformed_json",
             send: push(ByteBuffer(string: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)))),
        Case(name: "wrong type", status: .badRequest, code: "malformed_json", send: push(body { $0["hlc"] = "morgen" })),
        Case(name: "huge number", status: .badRequest, code: "malformed_json", send: push(ByteBuffer(string: "{\"replica_id\":\"r\",\"last_seq\":1e999,\"changes\":[]}"))),
        Case(name: "unknown table", status: .badRequest, code: "unknown_table", send: push(body { $0["table"] = "centres; DROP TABLE projects; --" })),
        Case(name: "unknown column", status: .badRequest, code: "unknown_column",
             send: push(body { $0["values"] = ["centre_id": kassel, "name": "Neu", "kind": "Verein", "name\" = 'x' --": 1] })),
        Case(name: "wrong value type", status: .badRequest, code: "invalid_value",
             send: push(body { $0["values"] = ["centre_id": kassel, "name": 42, "kind": "Verein"] })),
        Case(name: "seq out of order", status: .badRequest, code: "invalid_batch", send: push(batch([insertJSON(seq: 2), insertJSON(seq: 1)]))),
        // SQLite stores a NUL whole, but reads through GRDB stop at it: "neu-1\0x" would
        // travel to other centres as "neu-1", and two replica ids would share one ack.
        Case(name: "primary key with a NUL character", status: .badRequest, code: "invalid_change", send: push(body { $0["pk"] = "neu-1\u{0}x" })),
        Case(name: "replica id with a NUL character", status: .badRequest, code: "invalid_batch",
             send: push(batch([insertJSON(seq: 1)], replicaID: "r1\u{0}zweite"))),
        Case(name: "two JSON documents", status: .badRequest, code: "malformed_json", send: push(body().merged(with: body()))),
        Case(name: "missing schema header", status: .badRequest, code: "missing_schema", send: push(body(), schema: nil)),
        Case(name: "another schema", status: .conflict, code: "schema_mismatch", send: push(body(), schema: "notes/1")),
        Case(name: "a malformed schema header", status: .conflict, code: "schema_mismatch", send: push(body(), schema: "wir/zwei")),
        Case(name: "a schema newer than the hub's", status: .conflict, code: "schema_too_new", send: push(body(), schema: "wir/3")),
        Case(name: "pull with a schema older than the hub serves", status: .conflict, code: "schema_too_old") { harness, client in
            try await client.pull(after: 0, token: harness.token(kassel), schema: "wir/0")
        },
        Case(name: "a version-1 push naming a column of version 2", status: .badRequest, code: "unknown_column",
             send: push(body { $0["table"] = "projects"; $0["values"] = ["centre_id": kassel, "foerderkennzeichen": "X"] }, schema: "wir/1")),
        Case(name: "a version-1 push naming a table of version 2", status: .badRequest, code: "unknown_table",
             send: push(body { $0["table"] = "courses" }, schema: "wir/1")),
        Case(name: "pull cursor ahead of the log", status: .conflict, code: "cursor_ahead") { harness, client in
            try await client.pull(after: Int64.max / 2, token: harness.token(kassel))
        },
        Case(name: "pull with a negative cursor", status: .badRequest, code: "invalid_parameter") { harness, client in
            try await client.pull(after: -1, token: harness.token(kassel))
        },
        Case(name: "pull with too large a limit", status: .badRequest, code: "invalid_parameter") { harness, client in
            try await client.pull(after: 0, limit: 1_000_000, token: harness.token(kassel))
        },
        Case(name: "oversize body", status: .contentTooLarge, code: "too_large",
             send: push(ByteBuffer(string: "{\"replica_id\":\"" + String(repeating: "x", count: 300 << 10) + "\"}"))),
        Case(name: "gzip bomb", status: .contentTooLarge, code: "too_large") { harness, client in
            var zeros = ByteBuffer(repeating: UInt8(ascii: " "), count: 64 << 20)
            let bomb = try zeros.compress(with: .gzip())
            return try await client.push(body: bomb, token: harness.token(kassel), headers: [.contentEncoding: "gzip"])
        },
        Case(name: "not gzip", status: .badRequest, code: "malformed_gzip",
             send: push(ByteBuffer(string: "no gzip here"), headers: [.contentEncoding: "gzip"])),
        Case(name: "unknown encoding", status: .unsupportedMediaType, code: "unsupported_encoding", send: push(body(), headers: [.contentEncoding: "br"])),
        Case(name: "a method the path does not have", status: .methodNotAllowed, code: "method_not_allowed") { harness, client in
            try await client.execute(uri: "/v1/push", method: .get, headers: [.authorization: "Bearer \(harness.token(kassel))"])
        },
        Case(name: "a path that does not exist", status: .notFound, code: "not_found") { _, client in
            try await client.execute(uri: "/v1/../../etc/passwd", method: .get)
        },
        Case(name: "clock a day ahead", status: .unprocessableContent, code: "clock_ahead",
             send: push(body { $0["hlc"] = HLC(millis: SystemClock().nowMillis() + 86_400_000).rawValue })),
        // Protocol 2: the replica in the WIRSync-Replica header.
        Case(name: "a malformed replica header", status: .badRequest, code: "invalid_replica") { harness, client in
            try await client.push(body: body(), token: harness.token(kassel), headers: [HTTPField.Name(Wire.replicaHeader)!: "Kassel; DROP"])
        },
        Case(name: "a session for another centre's replica", status: .forbidden, code: "forbidden") { harness, client in
            var state = try harness.replica(kassel).sessionState().request
            state.centre = fulda
            return try await client.v2("/v1/session", JSONEncoder().encode(state), origin: "fulda.0badf00d", token: harness.token(kassel))
        },
        Case(name: "a push of a replica that had no session", status: .conflict, code: "no_session") { harness, client in
            try await client.push(try v2Batch(harness, after: 0), token: harness.token(kassel))
        },
        Case(name: "receipts without the replica header", status: .badRequest, code: "missing_replica") { harness, client in
            try await client.execute(
                uri: "/v1/receipts?after=0", method: .get,
                headers: [.authorization: "Bearer \(harness.token(kassel))", HTTPField.Name(Wire.schemaHeader)!: "wir/2"])
        },
        Case(name: "a push of protocol 2 without its chains", status: .badRequest, code: "invalid_batch") { harness, client in
            try await client.session(harness.replica(kassel), token: harness.token(kassel))
            var batch = try v2Batch(harness, after: 0)
            batch.chains = Fingerprint.pack([])
            return try await client.push(batch, token: harness.token(kassel))
        },
        Case(name: "a push starting above what the hub acknowledged", status: .conflict, code: "hub_behind") { harness, client in
            try await client.session(harness.replica(kassel), token: harness.token(kassel))
            return try await client.push(try v2Batch(harness, after: 1), token: harness.token(kassel))
        },
        Case(
            name: "a push whose overlap has other chains", status: .conflict, code: "replica_diverged",
            prepare: { harness, client in
                try await client.session(harness.replica(kassel), token: harness.token(kassel))
                _ = try await client.push(try v2Batch(harness, after: 0), token: harness.token(kassel)).decode(PushResponse.self)
            },
            send: { harness, client in
                var other = try v2Batch(harness, after: 0)
                other.chains = Fingerprint.pack([Fingerprint(rawValue: 42), Fingerprint(rawValue: 43)])
                return try await client.push(other, token: harness.token(kassel))
            }),
        Case(name: "a conflict record of another centre to rebuild", status: .forbidden, code: "forbidden") { harness, client in
            try await client.session(harness.replica(kassel), token: harness.token(kassel))
            let side = ConflictSide(value: .text("x"), origin: "fulda.0badf00d", hlc: HLC(millis: 1))
            let record = ConflictRecord(id: 1, table: "organisations", pk: "o", centre: fulda, column: "name", winner: side, loser: side, recordedAt: 1)
            return try await client.v2(
                "/v1/conflicts/rebuild", JSONEncoder().encode(RebuildRequest(records: [record])), origin: try harness.replica(kassel).status().origin,
                token: harness.token(kassel))
        },
    ]

    /// A protocol-2 batch of the Kassel replica with two inserts (the same each time), starting after `after`.
    /// It is not in the hub state the cases compare: the replica's file is not the hub's.
    static func v2Batch(_ harness: HubHarness, after: Int64) throws -> PushRequest {
        let replica = harness.replica(kassel)
        try sqlite3(replica.path, """
            INSERT OR IGNORE INTO organisations (id, centre_id, name, kind) VALUES ('v2-a', '\(kassel)', 'A', 'Verein');
            INSERT OR IGNORE INTO organisations (id, centre_id, name, kind) VALUES ('v2-b', '\(kassel)', 'B', 'Verein');
            """)
        let batch = try replica.outgoing(limit: 10)
        return PushRequest(
            replicaID: try replica.status().origin, lastSeq: batch.lastSeq + after, changes: batch.changes.map { change in
                var shifted = change
                shifted.seq += after
                return shifted
            }, after: after, chains: Fingerprint.pack(batch.chains))
    }

    @Test(arguments: StoreKind.tested, cases)
    func isRefusedWithA4xxAndAJSONErrorAndWritesNothing(store: StoreKind, _ testCase: Case) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            try await testCase.prepare?(harness, client)
            let before = try await harness.hubState()
            let response = try await testCase.send(harness, client)
            #expect(response.status == testCase.status, "\(response.text)")
            let error = try #require(response.error, "no JSON error body: \(response.text)")
            #expect(error.error.code == testCase.code)
            #expect(!error.error.message.isEmpty)
            #expect(response.headers[HTTPField.Name(Wire.hubTimeHeader)!] != nil)
            #expect(try await harness.hubState() == before, "\(testCase.name) wrote something")
        }
    }

    @Test(arguments: StoreKind.tested) func anUnexpectedFailureIsAGeneric500WithoutInternals(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.store.write { db in try db.execute(sql: "DROP TABLE sync_acks") }
        try await harness.application().test(.router) { client in
            let response = try await client.push(body: Self.body(), token: harness.token(kassel))
            #expect(response.status == .internalServerError)
            #expect(response.error == ErrorBody(code: "internal", message: "internal error; the hub has logged it"))
            #expect(!response.text.contains("sync_acks"), "no SQL or table names reach the client")
        }
    }

    @Test(arguments: StoreKind.tested) func aClockADayBehindIsAcceptedButLosesToNewerWrites(store: StoreKind) async throws {
        let harness = try await HubHarness(store: store)
        try await harness.application().test(.router) { client in
            let old = HLC(millis: SystemClock().nowMillis() - 86_400_000)
            let response = try await client.push(
                PushRequest(replicaID: "r1", lastSeq: 1, changes: [change(.insert, "organisations", "alt", organisationRow(kassel), seq: 1, origin: kassel, centre: kassel, hlc: old)]),
                token: harness.token(kassel)
            ).decode(PushResponse.self)
            #expect(response.applied == 1)
        }
    }
}

extension ByteBuffer {
    /// Two JSON batches in one body: never valid.
    func merged(with other: ByteBuffer) -> ByteBuffer {
        var copy = self
        var tail = other
        copy.writeBuffer(&tail)
        return copy
    }
}
