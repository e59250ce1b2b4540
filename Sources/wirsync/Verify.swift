import ArgumentParser
import CentreSync
import CurlTransport
import Foundation
import ReplicaStore
import SyncCore

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the replica with the hub, table by table, without sending the rows.",
        discussion: """
            Computes a SHA-256 over each replicated table's rows in this centre's scope and asks \
            the hub for the same. Exit 0 when every table matches, 1 when one differs. Changes \
            not yet pushed, or not yet pulled, make tables differ: sync first.
            """
    )

    @OptionGroup var replica: ReplicaOption
    @OptionGroup var hub: HubOptions
    @Flag(help: "Print the comparison as JSON.") var json = false

    struct Comparison: Encodable {
        var table: String
        var here: TableDigest
        var hub: TableDigest?
        var equal: Bool
    }

    func run() async throws {
        let replica = try self.replica.open()
        let local: [String: TableDigest]
        let remote: DigestResponse
        let pending: Int
        do throws(SyncError) {
            let (_, transport) = try hub.connect(replica)
            do throws(TransportError) {
                remote = try await transport.digest()
            } catch {
                throw .transport(error)
            }
            do throws(ReplicaError) {
                local = try replica.digest()
                pending = try replica.status().pending
            } catch {
                throw .replica(error)
            }
        } catch {
            FileHandle.standardError.write(Data("wirsync: verify failed: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        let comparisons = local.keys.sorted().map { table in
            Comparison(table: table, here: local[table]!, hub: remote.tables[table], equal: remote.tables[table] == local[table])
        }
        let differing = comparisons.filter { !$0.equal }.map(\.table)
        if json {
            try printJSON(comparisons)
        } else {
            for comparison in comparisons {
                let mark = comparison.equal ? "same     " : "DIFFERENT"
                print("\(mark)  \(comparison.table.padding(toLength: 16, withPad: " ", startingAt: 0)) \(comparison.here.rows) rows here, \(comparison.hub.map { "\($0.rows)" } ?? "no table") at the hub")
            }
            if differing.isEmpty {
                print("The replica of \(replica.node) equals the hub in every table.")
            } else {
                print("Tables that differ: \(differing.joined(separator: ", "))." + (pending > 0 ? " \(pending) local changes are not pushed yet: run `wirsync sync` first." : ""))
            }
        }
        if !differing.isEmpty { throw ExitCode.failure }
    }
}
