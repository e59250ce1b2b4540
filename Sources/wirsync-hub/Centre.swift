import ArgumentParser
import Foundation
import HubStore
import SyncCore

struct Centre: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Provision centres: give out tokens, list them, revoke them.",
        subcommands: [Add.self, List.self, Revoke.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the token of a centre's first PC and print it, alone, on standard output.",
            discussion: """
                The token is shown this once: the hub keeps only its SHA-256. Hand it to the \
                centre's operator, who stores it in a file readable only by the sync daemon. \
                ID is one of the 33 centre ids (e.g. landkreis-kassel) or hmsi. A further PC of \
                the centre gets its own token from `wirsync-hub replica add`.
                """
        )

        @Argument(help: "The centre's id, or hmsi.") var id: String
        @Option(help: "What the PC is, for the replica list (e.g. \"Büro\").") var label: String?
        @OptionGroup var store: StoreOption
        @Flag(help: "Replace every token the centre has; the old ones fail from then on.") var rotate = false

        func run() async throws {
            let hub = try await store.open()
            do {
                print(try await hub.addClient(id, rotate: rotate, label: label))
            } catch {
                throw fail(error)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every centre: token state, replicas, last push and pull, open conflicts.")

        @OptionGroup var store: StoreOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let hub = try await store.open()
            let clients: [ClientInfo]
            do {
                clients = try await hub.clients()
            } catch {
                throw fail(error)
            }
            if json { return try printJSON(clients) }
            print(
                "centre".padding(toLength: 30, withPad: " ", startingAt: 0), "token  ", "replicas", "last push           ",
                "last pull           ", "open conflicts")
            for client in clients {
                print(
                    client.node.padding(toLength: 30, withPad: " ", startingAt: 0),
                    client.token.padding(toLength: 7, withPad: " ", startingAt: 0),
                    String(client.activeReplicas).padding(toLength: 8, withPad: " ", startingAt: 0),
                    timestamp(client.lastPushAt).padding(toLength: 20, withPad: " ", startingAt: 0),
                    timestamp(client.lastPullAt).padding(toLength: 20, withPad: " ", startingAt: 0),
                    client.openConflicts)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make every token of a centre fail from the next request on (one PC: `wirsync-hub replica revoke`).")

        @Argument(help: "The centre's id, or hmsi.") var id: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            do {
                try await hub.revokeClient(id)
                print("Revoked every token of \(id). Give a new one with `wirsync-hub centre add \(id)`.")
            } catch {
                throw fail(error)
            }
        }
    }
}
