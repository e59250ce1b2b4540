import Foundation
import GRDB
import SyncCore
import SyncTestSupport
import Testing

/// A hostile network, a hostile client and a careless operator against the built binaries
/// (docs/security.md); each attack was first reproduced, and failed, before its fix.
@Suite("Invariant 6 and hardening — the built binaries against a hostile network, client and operator", .serialized, .timeLimit(.minutes(3)))
struct HardeningCLITests {
    /// A client's newline, in a table name or a query value, cannot start a line of its own
    /// in the hub's log: it is logged escaped, inside the refusal's line.
    @Test func aClientsNewlinesCannotForgeALineInTheHubsLog() throws {
        let deployment = try Deployment()
        try deployment.startHub(logLevel: "info")
        try deployment.centre("landkreis-kassel")
        let token = try String(contentsOfFile: deployment.path("landkreis-kassel") + ".token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let forged = "wirsync-hub 2026-12-02T00:00:00+0000 critical: forged line"
        let hostile = Change(
            seq: 1, table: "x\n\(forged)", pk: "p", op: .delete, centre: "landkreis-kassel", values: [:],
            hlc: HLC(millis: SystemClock().nowMillis()), origin: "landkreis-kassel", seen: 0)
        let body = String(decoding: try JSONEncoder().encode(PushRequest(replicaID: "r", lastSeq: 1, changes: [hostile])), as: UTF8.self)
        let headers = ["-H", "Authorization: Bearer \(token)", "-H", "WIRSync-Schema: wir/1", "-H", "Content-Type: application/json"]
        let push = try runChecked("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", body] + headers + ["\(deployment.hubURL)/v1/push"])
        let pull = try runChecked("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}"] + headers
            + ["\(deployment.hubURL)/v1/pull?after=1%0A\(forged.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"])
        #expect(push == "400" && pull == "400")
        let hub = try #require(deployment.hub)
        deployment.stopHub()
        let lines = hub.standardError.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("wirsync-hub 2026-12-02") }, "no forged line:\n\(hub.standardError)")
        #expect(lines.filter { $0.contains("forged line") }.count == 2, "both refusals are logged, each on one line:\n\(hub.standardError)")
        #expect(lines.allSatisfy { !$0.contains("forged line") || $0.contains("\\nwirsync-hub 2026-12-02") })
    }

    /// The token never travels in clear to another machine, nor sits in a URL: `init` and
    /// `sync` refuse `http://` beyond loopback unless the operator says so, and refuse a
    /// user name or password in the URL without repeating it; nothing is created or sent.
    @Test func theCentreRefusesPlainHTTPToAnotherMachineAndCredentialsInTheURL() throws {
        let deployment = try Deployment()
        let db = deployment.path("landkreis-kassel")
        for (hub, expected) in [
            ("http://wir-sync.hmsi.example", "plain HTTP to another machine"),
            ("http://192.168.1.20:8080", "plain HTTP to another machine"),
            ("https://kassel:geheim@wir-sync.hmsi.example", "carries a user name or password"),
            ("ftp://wir-sync.hmsi.example", "not an https:// URL"),
        ] {
            let refused = try run(deployment.wirsync, ["init", "--db", db, "--centre", "landkreis-kassel", "--hub", hub])
            #expect(refused.status != 0, "\(hub)")
            #expect(refused.stderr.contains(expected), "\(hub): \(refused.stderr)")
            #expect(!refused.stderr.contains("geheim"), "the secret is not echoed")
            #expect(!FileManager.default.fileExists(atPath: db), "nothing created for \(hub)")
        }
        // Loopback is allowed; another machine over plain HTTP only when the operator says so.
        try runChecked(deployment.wirsync, ["init", "--db", db, "--centre", "landkreis-kassel", "--hub", "http://127.0.0.1:1"])
        try "wir2.token".write(toFile: db + ".token", atomically: true, encoding: .utf8)
        chmod(db + ".token", 0o600)
        for hub in ["http://wir-sync.hmsi.example:1", "http://u:geheim@127.0.0.1:1"] {
            let sync = try run(deployment.wirsync, ["sync", "--db", db, "--hub", hub])
            #expect(sync.status != 0 && !sync.stderr.contains("geheim") && !sync.stderr.contains("connect"), "refused before connecting: \(sync.stderr)")
        }
        let allowed = try run(deployment.wirsync, ["sync", "--db", db, "--hub", "http://wir-sync.hmsi.example:1", "--allow-plain-http"])
        #expect(!allowed.stderr.contains("plain HTTP"), "allowed by the flag: \(allowed.stderr)")
        try "allow-plain-http = yes\n".write(toFile: db + ".conf", atomically: true, encoding: .utf8)
        let configured = try run(deployment.wirsync, ["sync", "--db", db, "--hub", "http://wir-sync.hmsi.example:1"])
        #expect(!configured.stderr.contains("plain HTTP"), "allowed by <db>.conf: \(configured.stderr)")
    }

    /// Stores hold personal data: the hub's and a replica's files, WAL and SHM included, are
    /// created readable by their owner only under the usual umask, and so are backups; a
    /// store left readable by others loses those bits when it is next opened.
    @Test func storesTheirWALAndBackupsAreReadableByTheirOwnerOnly() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        try fillSample(deployment, db)
        // A reader kept open keeps the replica's WAL and SHM after wirsync exits, to look at.
        let reader = try openWriter(db)
        _ = try reader.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM projects") }
        #expect(try deployment.sync("landkreis-kassel").succeeded)
        try runChecked(deployment.wirsync, ["backup", "--db", db, "--to", deployment.directory.path("k-backup.db")])
        try runChecked(deployment.hubBinary, ["backup", "--db", deployment.hubPath, "--to", deployment.directory.path("hub-backup.db")])
        var files = [db, db + "-wal", db + "-shm", deployment.hubPath, deployment.hubPath + "-wal", deployment.hubPath + "-shm"]
        files += [deployment.directory.path("k-backup.db"), deployment.directory.path("hub-backup.db")]
        for file in files where FileManager.default.fileExists(atPath: file) {
            let found = try mode(file)
            #expect(found == 0o600, "\(file): \(String(found, radix: 8))")
        }
        #expect(FileManager.default.fileExists(atPath: db + "-wal") && FileManager.default.fileExists(atPath: deployment.hubPath + "-shm"))
        deployment.stopHub()
        try reader.close()
        chmod(db, 0o644)
        _ = try deployment.status("landkreis-kassel")
        #expect(try mode(db) == 0o600, "tightened on open")
    }

    /// A token file's directory that others can write lets them swap the token: `sync` says so.
    @Test func aTokenFileInADirectoryOthersCanWriteIsWarnedAbout() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        let shared = deployment.directory.path("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        chmod(shared, 0o777)
        try FileManager.default.moveItem(atPath: db + ".token", toPath: shared + "/kassel.token")
        let sync = try run(deployment.wirsync, ["sync", "--db", db, "--token-file", shared + "/kassel.token"])
        #expect(sync.status == 0, "a warning, not a refusal: \(sync.stderr)")
        #expect(sync.stderr.contains("wirsync: warning: the token file's directory \(shared) can be written by others (mode 777)"), "\(sync.stderr)")
        chmod(shared, 0o755)
        let quiet = try run(deployment.wirsync, ["sync", "--db", db, "--token-file", shared + "/kassel.token"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("warning"), "\(quiet.stderr)")
    }

    private func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CocoaError(.fileNoSuchFile) }
        return info.st_mode & 0o7777
    }

    private func fillSample(_ deployment: Deployment, _ db: String) throws {
        _ = try sqlite3(db, try runChecked(deployment.wirsync, ["sample", "--centre", "landkreis-kassel", "--rows", "40"]))
    }

    /// The hub serves HTTPS itself (`--tls-cert`, `--tls-key`): a centre syncs with libcurl
    /// verifying the hub's certificate against a test CA, and a centre that does not trust
    /// that CA is refused by its own libcurl before any token is sent.
    @Test func theHubServesTLSThatLibcurlVerifiesAgainstATestCA() throws {
        let deployment = try Deployment()
        let pki = try TestPKI(in: deployment.directory)
        try deployment.startHub(["--tls-cert", pki.certificate, "--tls-key", pki.key])
        let hub = try #require(deployment.hub)
        #expect(hub.standardOutput.contains("on https://127.0.0.1:"))
        let url = "https://127.0.0.1:\(deployment.hubPort)"
        let db = try deployment.centre("landkreis-kassel")
        try fillSample(deployment, db)

        let untrusted = try run(deployment.wirsync, ["sync", "--db", db, "--hub", url])
        #expect(untrusted.status != 0 && untrusted.stderr.contains("certificate"), "\(untrusted.stderr)")
        let synced = try run(deployment.wirsync, ["sync", "--db", db, "--hub", url, "--ca-file", pki.ca])
        #expect(synced.status == 0, "\(synced.stderr)")
        #expect(try deployment.status("landkreis-kassel")["pending"] as? Int == 0)
        #expect(try run(deployment.wirsync, ["verify", "--db", db, "--hub", url, "--ca-file", pki.ca]).status == 0)
        // curl, a foreign client, agrees; plain HTTP to the TLS port gets no answer from the API.
        #expect(try runChecked("/usr/bin/curl", ["-s", "--cacert", pki.ca, "\(url)/healthz"]).contains("ok"))
        #expect(try run("/usr/bin/curl", ["-s", "-m", "5", "http://127.0.0.1:\(deployment.hubPort)/healthz"]).stdout.isEmpty)
    }

    /// Listening beyond loopback without TLS is allowed (a trusted LAN, a proxy on another
    /// host) but never silent; a certificate without its key, or an unreadable one, stops
    /// the hub with one message.
    @Test func theHubWarnsLoudlyWithoutTLSBeyondLoopbackAndRefusesHalfATLSSetup() throws {
        let deployment = try Deployment()
        let plain = try BackgroundProcess(deployment.hubBinary, ["serve", "--db", deployment.hubPath, "--port", "0", "--host", "0.0.0.0"])
        _ = try plain.waitForOutput { $0.hasPrefix("wirsync-hub: serving") ? true : nil }
        plain.stop()
        #expect(plain.standardError.contains("wirsync-hub: warning: listening on 0.0.0.0 without TLS"), "\(plain.standardError)")
        let loopback = try BackgroundProcess(deployment.hubBinary, ["serve", "--db", deployment.hubPath, "--port", "0"])
        _ = try loopback.waitForOutput { $0.hasPrefix("wirsync-hub: serving") ? true : nil }
        loopback.stop()
        #expect(!loopback.standardError.contains("without TLS"))

        let pki = try TestPKI(in: deployment.directory)
        let half = try run(deployment.hubBinary, ["serve", "--db", deployment.hubPath, "--port", "0", "--tls-cert", pki.certificate])
        #expect(half.status != 0 && half.stderr.contains("give both --tls-cert and --tls-key"), "\(half.stderr)")
        let wrong = try run(deployment.hubBinary, ["serve", "--db", deployment.hubPath, "--port", "0", "--tls-cert", pki.key, "--tls-key", pki.key])
        #expect(wrong.status != 0 && wrong.stderr.contains("wirsync-hub: TLS: "), "\(wrong.stderr)")
    }

    /// A client's malformed request (`Transfer-Encoding: xchunked`) or one that hangs up
    /// mid-body is the client's fault: counted and logged as 400, never as an internal error.
    @Test func aMalformedOrAbandonedRequestIsAClientErrorNotA500() throws {
        let deployment = try Deployment()
        try deployment.startHub(logLevel: "info")
        try deployment.centre("landkreis-kassel")
        let token = try String(contentsOfFile: deployment.path("landkreis-kassel") + ".token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let hmsi = try runChecked(deployment.hubBinary, ["centre", "add", "hmsi", "--db", deployment.hubPath])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let headers = ["-H", "Authorization: Bearer \(token)", "-H", "WIRSync-Schema: wir/1", "-H", "Content-Type: application/json"]
        let chunked = try runChecked("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Transfer-Encoding: xchunked",
                                                       "--data-binary", #"{"replica_id":"r","last_seq":0,"changes":[]}"#] + headers + ["\(deployment.hubURL)/v1/push"])
        #expect(chunked == "400")
        try runChecked("/usr/bin/python3", ["-c", """
            import socket, time
            s = socket.create_connection(("127.0.0.1", \(deployment.hubPort)))
            s.sendall(b"POST /v1/push HTTP/1.1\\r\\nHost: hub\\r\\nAuthorization: Bearer \(token)\\r\\nWIRSync-Schema: wir/1\\r\\nContent-Length: 1000\\r\\n\\r\\n{\\"replica")
            time.sleep(0.3); s.close(); time.sleep(0.5)
            """])
        let metrics = try runChecked("/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(hmsi)", "\(deployment.hubURL)/metrics"])
        #expect(metrics.contains(#"wirsync_hub_requests_total{route="/v1/push",method="POST",status="400"} 2"#), "\(metrics)")
        #expect(!metrics.contains(#"status="500""#), "\(metrics)")
        let hub = try #require(deployment.hub)
        deployment.stopHub()
        #expect(!hub.standardError.contains("internal error"), "\(hub.standardError)")
        #expect(hub.standardError.components(separatedBy: "malformed_request").count - 1 == 2, "\(hub.standardError)")
    }

    /// A flood of connections that never finish their headers cannot starve real syncs:
    /// beyond the connection limit they are closed at once, the rest when their header time
    /// is up, and a centre's sync started while the flood still holds its sockets succeeds.
    @Test func aFloodOfIdleConnectionsCannotStarveARealSync() throws {
        let deployment = try Deployment()
        try deployment.startHub(logLevel: "warning", ["--max-connections", "40", "--header-timeout", "2"])
        let db = try deployment.centre("landkreis-kassel")
        try fillSample(deployment, db)
        // 300 connections, each dripping a header byte every half second, held for 8 seconds.
        let flood = try BackgroundProcess("/usr/bin/python3", ["-c", """
            import socket, time, sys
            socks = []
            for i in range(300):
                try:
                    s = socket.create_connection(("127.0.0.1", \(deployment.hubPort))); s.sendall(b"GET /v1/pull HTTP/1.1\\r\\n"); socks.append(s)
                except OSError:
                    pass
            print("opened", len(socks), flush=True)
            closed = set()
            start = time.time()
            while time.time() - start < 8:
                for i, s in enumerate(socks):
                    if i in closed: continue
                    try:
                        s.sendall(b"X")
                    except OSError:
                        closed.add(i)
                time.sleep(0.5)
                print("closed", len(closed), round(time.time() - start, 1), flush=True)
            """])
        _ = try flood.waitForOutput { $0.hasPrefix("opened") ? true : nil }
        Thread.sleep(forTimeInterval: 3)
        let sync = try deployment.sync("landkreis-kassel")
        #expect(sync.succeeded, "\(sync.stderr)")
        #expect(try deployment.status("landkreis-kassel")["pending"] as? Int == 0)
        let closedAll = try flood.waitForOutput(timeout: .seconds(15)) { line -> Bool? in
            let words = line.split(separator: " ")
            return words.first == "closed" && Int(words[1]) == 300 ? true : nil
        }
        #expect(closedAll, "the hub closed every flooding connection: \(flood.standardOutput.suffix(300))")
        flood.stop()
        let hub = try #require(deployment.hub)
        #expect(hub.standardError.contains("connection limit reached"), "\(hub.standardError)")
    }

    /// With `http_proxy` set, as on a PC whose browser needs a proxy, a sync with a hub on
    /// this machine does not go through the proxy, which would see the token in clear: the
    /// proxy here listens nowhere, so a sync through it would fail.
    @Test func aLoopbackHubIsNeverReachedThroughAProxy() throws {
        let deployment = try Deployment()
        try deployment.startHub()
        let db = try deployment.centre("landkreis-kassel")
        try fillSample(deployment, db)
        var environment = ProcessInfo.processInfo.environment
        for name in ["http_proxy", "HTTP_PROXY", "https_proxy", "ALL_PROXY"] { environment[name] = "http://127.0.0.1:9" }
        environment["no_proxy"] = nil
        environment["NO_PROXY"] = nil
        let sync = try run(deployment.wirsync, ["sync", "--db", db], environment: environment)
        #expect(sync.status == 0, "\(sync.stderr)")
    }
}

/// A test CA and a certificate it signed for 127.0.0.1 and localhost, made with openssl.
struct TestPKI {
    let ca: String
    let certificate: String
    let key: String

    init(in directory: TemporaryDirectory) throws {
        ca = directory.path("ca.pem")
        certificate = directory.path("hub.pem")
        key = directory.path("hub.key")
        let caKey = directory.path("ca.key"), request = directory.path("hub.csr"), extensions = directory.path("hub.ext")
        let openssl = "/usr/bin/openssl"
        try runChecked(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey,
                                 "-out", ca, "-days", "2", "-subj", "/CN=WIR-Sync Test-CA"])
        try runChecked(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                                 "-out", request, "-subj", "/CN=wirsync-hub"])
        try "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        try runChecked(openssl, ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", certificate,
                                 "-days", "2", "-extfile", extensions])
        chmod(key, 0o600)
    }
}
