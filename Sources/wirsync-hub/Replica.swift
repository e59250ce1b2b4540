import ArgumentParser
import Foundation
import HubStore
import SyncCore

struct Replica: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The replicas (PCs) of the centres: give a further PC a token, list them, cut one off.",
        discussion: """
            A centre may run several replicas: a second office PC, a laptop, the PC that replaces \
            a broken one. Each is a node of its own, named by its origin (landkreis-kassel.3f9a21c0), \
            and registers under the token it presents on its first sync. A copy of a replica's \
            file that goes on by itself (a restored backup used beside the original) registers as \
            a new origin under the same token.
            """,
        subcommands: [Add.self, List.self, Revoke.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token for a further PC of a centre and print it, alone, on standard output.",
            discussion: """
                The token is shown this once: the hub keeps only its SHA-256. The centre's first PC \
                gets its token from `wirsync-hub centre add`.
                """
        )

        @Argument(help: "The centre's id, or hmsi.") var centre: String
        @Option(help: "What the PC is, for the replica list (e.g. \"Laptop Beratung\").") var label: String?
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            do {
                print(try await hub.addReplicaToken(centre, label: label))
            } catch {
                throw fail(error)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every replica that has synced: its token, state, acknowledged sequence and last contact.")

        @OptionGroup var store: StoreOption
        @Option(help: "Only the replicas of this centre.") var centre: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let hub = try await store.open()
            let replicas: [ReplicaInfo]
            do {
                replicas = try await hub.replicas(centre: centre)
            } catch {
                throw fail(error)
            }
            if json { return try printJSON(replicas) }
            if replicas.isEmpty {
                print("No replica\(centre.map { " of \($0)" } ?? "") has synced yet.")
                return
            }
            print(
                "replica".padding(toLength: 34, withPad: " ", startingAt: 0), "state   ", "token              ", "acked     ",
                "last sync           ", "notes")
            for replica in replicas {
                let token = "#\(replica.token)" + (replica.tokenLabel.map { " \($0)" } ?? "")
                let contact = [replica.lastSessionAt, replica.lastPushAt, replica.lastPullAt].compactMap { $0 }.max()
                print(
                    replica.origin.padding(toLength: 34, withPad: " ", startingAt: 0),
                    replica.state.padding(toLength: 8, withPad: " ", startingAt: 0),
                    token.padding(toLength: 19, withPad: " ", startingAt: 0),
                    String(replica.acked).padding(toLength: 10, withPad: " ", startingAt: 0),
                    timestamp(contact).padding(toLength: 20, withPad: " ", startingAt: 0),
                    replica.forkedFrom.map { "copy of \($0)'s file" } ?? "")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cut off one replica (a lost or stolen PC), and the token it uses; the rest of its centre goes on.",
            discussion: """
                The replica's origin can never sync again, and its token fails from the next request \
                on, for every replica that uses it (they are listed). To let the PC sync again, give \
                it a new token with `wirsync-hub replica add`: it then goes on as a new replica, \
                keeping what it had not sent.
                """
        )

        @Argument(help: "The replica's origin, as `wirsync-hub replica list` shows it.") var origin: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            do {
                let cut = try await hub.revokeReplica(origin)
                print("Revoked the replica \(origin) and its token; cut off: \(cut.joined(separator: ", ")).")
            } catch {
                throw fail(error)
            }
        }
    }
}
