import Foundation
public import ReplicaStore
public import SyncCore

/// Bounds of one sync's batches.
public struct SyncLimits: Sendable {
    /// Changes per push batch.
    public var batchChanges = 500
    /// JSON bytes per push batch (before gzip); a batch over it is halved until it fits.
    public var batchBytes = 2 << 20
    /// Entries per pull.
    public var pullLimit = 1000

    public init(batchChanges: Int = 500, batchBytes: Int = 2 << 20, pullLimit: Int = 1000) {
        self.batchChanges = batchChanges
        self.batchBytes = batchBytes
        self.pullLimit = pullLimit
    }
}

/// Where a running sync is, for a progress line.
public struct SyncProgress: Sendable {
    public enum Phase: String, Sendable {
        case push, pull
        /// Offering again what a restored hub lost.
        case reoffer
    }
    public var phase: Phase
    public var batches: Int
    public var changes: Int
    /// How many changes this phase has in all, when the hub said (a pull).
    public var total: Int?
}

/// What one sync did.
public struct SyncReport: Hashable, Sendable, Codable {
    public var pushed = 0
    public var pushBatches = 0
    public var applied = 0
    public var duplicates = 0
    public var refused: [Refusal] = []
    /// Conflicts the hub recorded for this sync's pushes.
    public var conflicts = 0
    /// Changes pulled, other than this replica's own origin's.
    public var pulled = 0
    /// Changes of this replica's own origin that the hub sent back with a pull (its own
    /// pushes; or a copy of its file pushed them under the same name).
    public var returned = 0
    public var pullBatches = 0
    /// Conflict records about this replica's rows received (new or resolved).
    public var conflictRecords = 0
    /// Rows erased at the hub whose copies this sync removed.
    public var erased = 0
    /// Rows a re-sync removed: deleted at the hub, their deletes collected before this replica pulled them.
    public var resyncRemoved = 0
    public var cursor: Int64 = 0
    /// What the session at the start found wrong and repaired, if anything.
    public var recovery: String?
    /// Changes offered again to a restored hub.
    public var reoffered = 0
    public var hubTime: Int64?
    /// The hub's clock minus this PC's, in ms.
    public var hubOffsetMillis: Int64?
    public var durationMillis: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case pushed, applied, duplicates, refused, conflicts, pulled, returned, cursor, recovery, reoffered, erased
        case pushBatches = "push_batches"
        case pullBatches = "pull_batches"
        case conflictRecords = "conflict_records"
        case resyncRemoved = "resync_removed"
        case hubTime = "hub_time"
        case hubOffsetMillis = "hub_offset_ms"
        case durationMillis = "duration_ms"
    }
}

/// One sync of a replica with the hub: first a session, in which the replica and the hub
/// compare what each holds of the other and the replica repairs what a restore (of its file
/// or of the hub) broke; then push everything captured, in bounded batches, then pull until
/// nothing more is waiting, each pulled batch applied with its cursor in one transaction.
/// Interrupted anywhere, the next sync resumes after the last batch the hub acknowledged and
/// the last batch applied; a repair starts over, and does nothing twice. The outcome is kept
/// in the replica.
public struct SyncSession: Sendable {
    public let replica: Replica
    public let transport: any HubTransport
    public let limits: SyncLimits
    public let clock: any WallClock

    public init(replica: Replica, transport: any HubTransport, limits: SyncLimits = SyncLimits(), clock: any WallClock = SystemClock()) {
        self.replica = replica
        self.transport = transport
        self.limits = limits
        self.clock = clock
    }

    public func run(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws(SyncError) -> SyncReport {
        let started = clock.nowMillis()
        var report = SyncReport()
        do throws(SyncError) {
            // A table a tool rebuilt or changed may have writes no trigger captured: nothing moves until it is repaired.
            do throws(ReplicaError) { try replica.checkNoDrift() } catch { throw .replica(error) }
            let session = try await begin(into: &report, progress: progress)
            try await push(origin: session.origin, into: &report, progress: progress)
            try await pull(origin: session.origin, expected: session.response.pendingPull, into: &report, progress: progress)
        } catch {
            record(report, started: started, error: error)
            throw error
        }
        report.durationMillis = clock.nowMillis() - started
        record(report, started: started, error: nil)
        return report
    }

    /// The push pipeline. While the hub applies batch k, the centre acknowledges batch k − 1
    /// and composes batch k + 1 with its JSON and compressed body, so the hub waits only for
    /// the bytes. Batches still reach the hub one at a time and in order (its exactly-once
    /// check is the highest sequence per replica), and a batch is acknowledged only with the
    /// hub's answer to it.
    private func push(origin: String, into report: inout SyncReport, progress: (SyncProgress) -> Void) async throws(SyncError) {
        var size = limits.batchChanges
        var answered: (batch: Replica.OutgoingBatch, response: PushResponse)?
        var next = try prepare(after: nil, size: &size, replicaID: origin)
        while let (batch, request, body) = next {
            guard !Task.isCancelled else { throw .cancelled }
            async let sent = Self.send(request, body: body, over: transport)
            if let (batch, response) = answered {
                try acknowledge(batch, response, into: &report, progress: progress)
            }
            next = try prepare(after: batch.lastSeq, size: &size, replicaID: origin)
            switch await sent {
            case .success(let response):
                guard response.ackedSeq >= batch.lastSeq else {
                    throw .transport(.malformedResponse("the hub acknowledged up to \(response.ackedSeq), below the batch's \(batch.lastSeq)"))
                }
                answered = (batch, response)
            case .failure(let error): throw .transport(error)
            }
        }
        if let (batch, response) = answered {
            try acknowledge(batch, response, into: &report, progress: progress)
        }
    }

    /// The batch after `after` (the last acknowledged entry if nil) with its request and
    /// body, or nil if nothing is left; a batch whose JSON is over the byte limit is halved
    /// until it fits, and `size` stays halved for the rest of the sync.
    private func prepare(after: Int64?, size: inout Int, replicaID: String) throws(SyncError) -> (Replica.OutgoingBatch, PushRequest, PushBody)? {
        while true {
            let batch = try attempt { try replica.outgoing(limit: size, after: after) }
            guard batch.lastSeq > batch.after else { return nil }
            let request = PushRequest(
                replicaID: replicaID, lastSeq: batch.lastSeq, changes: batch.changes, after: batch.after, chains: Fingerprint.pack(batch.chains))
            let json = request.json()
            if batch.changes.count > 1, json.count > limits.batchBytes {
                size = max(1, batch.changes.count / 2)
                continue
            }
            return (batch, request, transport.body(json: json))
        }
    }

    private func acknowledge(
        _ batch: Replica.OutgoingBatch, _ response: PushResponse, into report: inout SyncReport, progress: (SyncProgress) -> Void
    ) throws(SyncError) {
        try attempt {
            try replica.acknowledge(through: response.ackedSeq, refusals: response.refused, sent: batch.changes)
            try replica.observeHub(timeMillis: response.hubTime)
        }
        report.pushed += batch.changes.count
        report.pushBatches += 1
        report.applied += response.applied
        report.duplicates += response.duplicates
        report.refused += response.refused
        report.conflicts += response.conflicts
        observe(hubTime: response.hubTime, into: &report)
        progress(SyncProgress(phase: .push, batches: report.pushBatches, changes: report.pushed))
    }

    private static func send(_ request: PushRequest, body: PushBody, over transport: any HubTransport) async -> Result<PushResponse, TransportError> {
        do throws(TransportError) {
            return .success(try await transport.push(request, body: body))
        } catch {
            return .failure(error)
        }
    }

    private func pull(origin: String, expected: Int, into report: inout SyncReport, progress: (SyncProgress) -> Void) async throws(SyncError) {
        let cursor = try attempt { try replica.status().cursor }
        let delta = try attempt { try replica.pullsDelta() }
        var page: Result<PullResponse, TransportError>? = await Self.fetch(
            after: cursor, limit: limits.pullLimit, origin: origin, delta: delta, from: transport)
        while let fetched = page {
            guard !Task.isCancelled else { throw .cancelled }
            let response: PullResponse
            switch fetched {
            case .success(let answer): response = answer
            case .failure(let error): throw .transport(error)
            }
            // The next page travels while this one is applied; it is applied only after
            // this one (and its cursor) is committed.
            async let next = response.more
                ? Self.fetch(after: response.nextCursor, limit: limits.pullLimit, origin: origin, delta: delta, from: transport) : nil
            let applied = try attempt {
                let applied = try replica.applyRemote(
                    response.changes, conflicts: response.conflicts, erased: response.erased ?? [], cursor: response.nextCursor, check: response.nextCheck,
                    end: !response.more)
                try replica.observeHub(timeMillis: response.hubTime)
                return applied
            }
            report.erased += applied.erased
            let own = response.changes.count { $0.origin == origin }
            report.pulled += response.changes.count - own
            report.returned += own
            report.pullBatches += 1
            report.conflictRecords += response.conflicts.count
            report.cursor = response.nextCursor
            observe(hubTime: response.hubTime, into: &report)
            let received = report.pulled + report.returned
            progress(SyncProgress(phase: .pull, batches: report.pullBatches, changes: received, total: max(expected, received)))
            page = await next
        }
        // A re-sync that reached the end of the log: what the hub no longer holds was deleted there.
        report.resyncRemoved = try attempt { try replica.finishResync() }
        // Freed pages and the WAL may still hold an erased row's values.
        if report.erased > 0 { try attempt { try replica.scrub() } }
    }

    private static func fetch(
        after cursor: Int64, limit: Int, origin: String, delta: Bool, from transport: any HubTransport
    ) async -> Result<PullResponse, TransportError> {
        do throws(TransportError) {
            return .success(try await transport.pull(after: cursor, limit: limit, origin: origin, delta: delta))
        } catch {
            return .failure(error)
        }
    }

    func observe(hubTime: Int64, into report: inout SyncReport) {
        report.hubTime = hubTime
        report.hubOffsetMillis = hubTime - clock.nowMillis()
    }

    private func record(_ report: SyncReport, started: Int64, error: SyncError?) {
        let run = SyncRun(
            startedAt: started, finishedAt: clock.nowMillis(), ok: error == nil, pushed: report.pushed, pulled: report.pulled,
            refused: report.refused.count, conflicts: report.conflicts, hubOffsetMillis: report.hubOffsetMillis,
            error: error?.description, errorKind: error?.kind)
        try? replica.record(run)
    }

    /// Runs replica work, reporting its failure as a sync error.
    func attempt<T>(_ body: () throws -> T) throws(SyncError) -> T {
        do {
            return try body()
        } catch let error as ReplicaError {
            throw .replica(error)
        } catch {
            throw .replica(.sqlite(message: "\(error)"))
        }
    }
}
