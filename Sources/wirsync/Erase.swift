import ArgumentParser
import CLISupport
import CentreSync
import CurlTransport
import Foundation
import ReplicaStore
import SyncCore
import SyncStore

struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase one of this centre's rows everywhere (DSGVO Art. 17): at the hub, on every replica, here.",
        discussion: """
            Stronger than a delete, which other replicas only learn as a delete: the hub removes \
            the row and every copy of its values it keeps (versions, the values deleted rows \
            keep, conflict records), and every replica of the centre removes its own on its next \
            sync; this one does at once, rewrites its file without free space and empties its \
            WAL. The hub refuses any later change of the row and keeps an audit entry (who, \
            when, why; never the values).

            The hub must be reachable: an erasure is done at the hub, so that it reaches every \
            copy. It syncs first, asks the hub to erase the row, and syncs again. Exit codes as \
            for `wirsync sync`.
            """
    )

    @Argument(help: "The table, e.g. volunteers.") var table: String
    @Argument(help: "The row's key.") var id: String
    @Option(help: "Why, for the hub's audit: a request's reference, never the person's data.")
    var reason = "erasure requested by the data subject (Art. 17 DSGVO)"
    @OptionGroup var replica: ReplicaOption
    @OptionGroup var hub: HubOptions

    func run() async throws {
        let replica = try self.replica.open()
        guard replica.schema.table(named: table) != nil else {
            throw fail(ValidationError("\(table) is not a replicated table (\(replica.schema.tables.map(\.name).joined(separator: ", ")))"))
        }
        do throws(SyncError) {
            let (settings, transport) = try hub.connect(replica)
            let lock = try SyncLock.acquire(replicaPath: replica.path)
            let session = SyncSession(replica: replica, transport: transport, limits: SyncLimits(batchChanges: settings.batchChanges))
            // The hub first learns this replica and what it wrote of the row.
            _ = try await session.run()
            let origin: String
            do {
                origin = try replica.status().origin
            } catch {
                throw SyncError.replica(error)
            }
            let erasure: Erasure
            do throws(TransportError) {
                erasure = try await transport.erase(EraseRequest(table: table, pk: id, reason: reason), origin: origin)
            } catch {
                throw SyncError.transport(error)
            }
            let report = try await session.run()
            withExtendedLifetime(lock) {}
            print("Erased \(erasure.table) \(erasure.pk) at the hub; this replica removed its copies\(report.erased == 0 ? " (it held none)" : "").")
            print("The centre's other replicas, and HMSI's, remove theirs on their next sync.")
        } catch {
            throw CLI.fail("wirsync", "erase failed: \(error)", code: error.exitCode)
        }
    }
}
