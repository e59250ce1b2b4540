import Foundation
import ReplicaStore
import SyncCore

/// A session as a sync begins it: the replica's origin for the rest of the sync, and the hub's answer.
struct BegunSession {
    var origin: String
    var response: SessionResponse
}

extension SyncSession {
    /// The session at the start of a sync (docs/replicas-and-restores.md, "Detection"): the
    /// replica and the hub compare what each holds of the other. If this file is an older
    /// copy of a replica, it goes on as a replica of its own; if the hub was restored (or
    /// made anew), the replica offers again what the hub lost. Each repair ends in a new
    /// session, until the two agree.
    func begin(into report: inout SyncReport, progress: (SyncProgress) -> Void) async throws(SyncError) -> BegunSession {
        var adopt = false
        for _ in 0..<6 {
            guard !Task.isCancelled else { throw .cancelled }
            let state = try attempt { try replica.sessionState(adoptAcked: adopt) }
            adopt = false
            let response: SessionResponse
            do throws(TransportError) {
                response = try await transport.session(state.request, origin: state.origin)
            } catch {
                throw .transport(error)
            }
            observe(hubTime: response.hubTime, into: &report)
            let mine = state.request
            if let reason = response.mustFork {
                try fork(at: mine.acked + 1, state, because: reason, into: &report)
                continue
            }
            if response.acked > mine.acked || (response.acked == mine.acked && !response.ackedChain.agrees(with: mine.ackedChain)) {
                guard let partedAt = try await forkPoint(state, hubAcked: response.acked) else {
                    // The hub holds exactly these entries: its answer to a push was lost, not the file copied.
                    try attempt { try replica.acknowledge(through: response.acked) }
                    continue
                }
                try fork(
                    at: partedAt, state,
                    because: "this file is an older copy of the replica \(state.origin) (restored from a backup, or copied to another PC): "
                        + "the hub holds other entries of it from \(partedAt) on, up to \(response.acked)",
                    into: &report)
                continue
            }
            let hubReplaced = mine.hubID.map { $0 != response.hubID } ?? false
            if !response.cursorValid || response.acked < mine.acked || hubReplaced {
                try await repair(state, response, hubReplaced: hubReplaced, into: &report, progress: progress)
                adopt = true
                continue
            }
            try attempt {
                if let rewind = response.rewind { try replica.rewind(to: rewind, clampSeen: false) }
                try replica.rememberHub(response.hubID)
                if response.resync == true {
                    try replica.beginResync()
                    report.recovery = "the hub had collected deletes this replica never pulled: re-synced its scope from the start"
                }
            }
            return BegunSession(origin: state.origin, response: response)
        }
        throw .replica(.sqlite(message: "the hub and this replica did not come to agree in six sessions; nothing was pushed or pulled"))
    }

    /// The first local sequence at which this file's log differs from what the hub
    /// acknowledged of its origin: where its own history begins. nil when it holds every entry
    /// the hub acknowledged, as the hub received it. An entry the hub keeps no receipt of (a
    /// range it took over from a replica after a restore) cannot be shown to be shared, so
    /// the history parts there at the latest.
    private func forkPoint(_ state: SessionState, hubAcked: Int64) async throws(SyncError) -> Int64? {
        var next = state.request.acked + 1
        while next <= hubAcked {
            let page: ReceiptsResponse
            do throws(TransportError) {
                page = try await transport.receipts(after: next - 1, limit: 200, origin: state.origin)
            } catch {
                throw .transport(error)
            }
            for receipt in page.receipts {
                guard receipt.afterSeq < next else { return next }
                // The chains of the receipt's last entries: a hub keeps only the last one of an
                // older receipt. The chain is a hash chain, so an equal last one shares them all.
                let chains = Fingerprint.unpack(receipt.chains) ?? []
                let first = receipt.lastSeq - Int64(chains.count)
                if first > receipt.afterSeq, first >= next, chains.last != state.chains[receipt.lastSeq] {
                    return max(next, receipt.afterSeq + 1)
                }
                for (offset, chain) in chains.enumerated() {
                    let seq = first + 1 + Int64(offset)
                    // Exactly equal: an entry the hub has no chain of is not one it received.
                    guard seq < next || (state.chains[seq] ?? .unknown) == chain else { return seq }
                }
                next = max(next, receipt.lastSeq + 1)
            }
            guard page.more, !page.receipts.isEmpty else { break }
        }
        if next <= hubAcked { return next }
        // The same chain at the acknowledged entry, but not the same entries before it: nothing is known to be shared.
        return hubAcked > state.request.acked ? nil : state.request.acked + 1
    }

    private func fork(at partedAt: Int64, _ state: SessionState, because reason: String, into report: inout SyncReport) throws(SyncError) {
        let shared = max(0, partedAt - 1 - state.request.acked)
        let own = state.chains.keys.filter { $0 >= partedAt }.count
        let message = "\(reason); it goes on as the replica {new}: \(shared) entries it shares with the other copy and "
            + "\(own) written here are sent as the new replica's"
        let new = try attempt { try replica.fork(partedAt: partedAt, message: message) }
        report.recovery = message.replacingOccurrences(of: "{new}", with: new)
    }

    /// After a hub restore: rewind to where the two logs part, offer again every version the
    /// hub may have lost, give it the conflict records it lost from the mirror.
    private func repair(
        _ state: SessionState, _ response: SessionResponse, hubReplaced: Bool, into report: inout SyncReport, progress: (SyncProgress) -> Void
    ) async throws(SyncError) {
        let shared = response.divergedAfter ?? LogPosition(seq: state.request.cursor, check: state.request.cursorCheck)
        try attempt { try replica.rewind(to: shared, clampSeen: true) }
        // The hub lost pushes of this origin: its clock of the origin may since have been
        // raised by a copy of this file pushing under the same name, above writes of this
        // file it lost. So every own version goes again (those it holds are duplicates).
        let ownAbove = response.acked < state.request.acked ? HLC.zero : response.ackedHLC
        var offered = 0, batches = 0, refused = 0
        var position: Replica.RowPosition?
        repeat {
            let (changes, next) = try attempt {
                try replica.rederive(afterHubSeq: shared.seq, ownAbove: ownAbove, from: position, limit: 200)
            }
            if !changes.isEmpty {
                do throws(TransportError) {
                    let answer = try await transport.reoffer(ReofferRequest(changes: changes), origin: state.origin)
                    refused += answer.refused.count
                } catch {
                    throw .transport(error)
                }
                offered += changes.count
                batches += 1
                progress(SyncProgress(phase: .reoffer, batches: batches, changes: offered))
            }
            position = next
        } while position != nil
        var rebuilt = 0
        if !response.cursorValid || hubReplaced {
            let records = try attempt { try replica.conflicts() }
            for page in stride(from: 0, to: records.count, by: 200) {
                let answer: RebuildResponse
                do throws(TransportError) {
                    answer = try await transport.rebuild(RebuildRequest(records: Array(records[page..<min(page + 200, records.count)])), origin: state.origin)
                } catch {
                    throw .transport(error)
                }
                try attempt { try replica.renumberConflicts(answer.ids) }
                rebuilt += answer.rebuilt
            }
        }
        let lost = [
            response.cursorValid ? nil : "what came after its log entry \(shared.seq)",
            response.acked < state.request.acked ? "this replica's pushes after its entry \(response.acked)" : nil,
        ].compactMap { $0 }.joined(separator: ", and ")
        let what = hubReplaced
            ? "the hub is a new one (it was made anew, e.g. rebuilt after it was lost)"
            : "the hub was restored from an older backup (it lost \(lost))"
        let message = "\(what): offered \(offered) changes and \(rebuilt) lost conflict records to it again"
            + (refused > 0 ? "; it refused \(refused) of the changes (see its log)" : "")
        try attempt {
            try replica.recordRecovery(.hubRestored, message)
            try replica.rememberHub(response.hubID)
        }
        report.recovery = message
        report.reoffered += offered
    }
}
