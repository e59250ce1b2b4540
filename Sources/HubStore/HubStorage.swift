public import SyncCore

/// What the hub's server and its operators need of a store (docs/history-and-erasure.md, "The
/// storage seam"). `HubStore` implements it, on SQLite or on PostgreSQL (`HubDatabase`,
/// docs/postgres.md). The server (`HubAPI`) depends on this protocol only.
///
/// The contract, whatever the store:
/// - **Merging.** A push is applied in one transaction: every change of the batch, its
///   acknowledgement, its receipt and its conflict records, or none of it. A change is applied
///   at most once per replica (its acknowledged sequence), by the column rule of DESIGN.md.
/// - **The log.** Entries are numbered increasingly in the order a pull sees them commit, and a
///   pull never answers a `next_cursor` below an entry that may still commit: a cursor never
///   passes an entry a later pull would have to deliver. One writer numbers in commit order by
///   itself; several hub processes take a write lock first (docs/hub.md). Sequences are
///   at least `now_ms << 10`, so entries written after a restore lie above every entry lost.
/// - **History.** The log holds one live entry per row and no values; a pull composes each row
///   as it is. Superseded entries, tombstones and resolved conflict records go only below the
///   horizon (every provisioned replica pulled past them) and by the retention settings.
/// - **Erasure.** An erased row is gone with every copy of its values the store keeps, freed
///   storage included, and is never written again.
/// - **Schema versions.** A caller's `schemaVersion` selects the view of the schema it is
///   served: its pushes name only that version's tables and columns, and an insert leaves the
///   others as they are; its pulls and digests carry only those.
/// - **Errors** are `HubError`s: a client's mistake is a 4xx with a code, and changes nothing.
public protocol HubStorage: Sendable {
    /// The schema the store holds, as in the `WIRSync-Schema` header (`wir/1`).
    var schemaTag: String { get }
    /// The version a request's `WIRSync-Schema` header names, if the store serves it (a
    /// window of versions: docs/schema-evolution.md); a 409 that says which side to update if not.
    func servedVersion(of tag: String) throws(HubError) -> Int

    // MARK: Sync API
    func authenticate(token: String) async throws(HubError) -> Caller?
    func session(caller: Caller, origin: String, request: SessionRequest) async throws(HubError) -> SessionOutcome
    func push(caller: Caller, origin: String?, request: PushRequest, skewBoundMillis: Int64) async throws(HubError) -> PushOutcome
    func pull(caller: Caller, origin: String?, after: Int64, limit: Int, delta: Bool) async throws(HubError) -> PullPage
    func receipts(caller: Caller, origin: String, after: Int64, limit: Int) async throws(HubError) -> ReceiptsResponse
    func reoffer(caller: Caller, origin: String, request: ReofferRequest, skewBoundMillis: Int64) async throws(HubError) -> ReofferResponse
    func rebuildConflicts(caller: Caller, origin: String, request: RebuildRequest) async throws(HubError) -> RebuildResponse
    func digest(node: String, schemaVersion: Int?) async throws(HubError) -> DigestResponse
    func erase(table: String, pk: String, reason: String, by actor: String, caller: Caller) async throws(HubError) -> Erasure

    // MARK: Operators
    func status() async throws(HubError) -> HubStatus
    func conflicts(centre: String?, openOnly: Bool) async throws(HubError) -> [ConflictRecord]
    func conflict(id: Int64) async throws(HubError) -> ConflictRecord
    func resolve(id: Int64, keep: HubStore.Keep, by resolver: String) async throws(HubError) -> ConflictRecord
    func clients() async throws(HubError) -> [ClientInfo]
    func replicas(centre: String?) async throws(HubError) -> [ReplicaInfo]
    func addClient(_ node: String, rotate: Bool, label: String?) async throws(HubError) -> String
    func addReplicaToken(_ node: String, label: String?) async throws(HubError) -> String
    func revokeClient(_ node: String) async throws(HubError)
    func revokeReplica(_ origin: String) async throws(HubError) -> [String]
    func retention() async throws(HubError) -> Retention
    func setRetention(_ retention: Retention, by actor: String) async throws(HubError) -> Retention
    func auditEntries(limit: Int) async throws(HubError) -> [AuditEntry]

    // MARK: The HMSI console (docs/console.md)
    /// What each sync request of a known caller came to; the console's health of a centre.
    func recordActivity(_ entry: ActivityEntry) async throws(HubError)
    func activity(centre: String?, limit: Int) async throws(HubError) -> [ActivityEntry]
    func addConsoleAccount(_ name: String, reset: Bool) async throws(HubError) -> String
    func removeConsoleAccount(_ name: String) async throws(HubError)
    func consoleAccounts() async throws(HubError) -> [ConsoleAccount]
    func completeConsoleSetup(_ name: String, secret: String, passwordHash: String) async throws(HubError) -> Bool
    func consolePasswordHash(_ name: String) async throws(HubError) -> String?
    func startConsoleSession(account: String, tokenSHA256: String, csrf: String, lifetimeMillis: Int64) async throws(HubError)
    func consoleSession(tokenSHA256: String, idleMillis: Int64) async throws(HubError) -> ConsoleSession?
    func endConsoleSession(tokenSHA256: String) async throws(HubError)
    func audit(actor: String, action: String, table: String?, pk: String?, centre: String?, detail: String) async throws(HubError)
    func report(_ report: ConsoleReport) async throws(HubError) -> ReportTable
    func currentRow(table: String, pk: String) async throws(HubError) -> [(column: String, value: Value)]?
}

extension HubStore: HubStorage {}
