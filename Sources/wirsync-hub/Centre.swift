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
            abstract: "Create a centre's token and print it, alone, on standard output.",
            discussion: """
                The token is shown this once: the hub keeps only its SHA-256. Hand it to the \
                centre's operator, who stores it in a file readable only by the sync daemon. \
                ID is one of the 33 centre ids (e.g. landkreis-kassel) or hmsi.
                """
        )

        @Argument(help: "The centre's id, or hmsi.") var id: String
        @OptionGroup var store: StoreOption
        @Flag(help: "Replace a token the centre already has; the old one fails from then on.") var rotate = false

        func run() async throws {
            let hub = try store.open()
            do {
                print(try await hub.addClient(id, rotate: rotate))
            } catch {
                throw fail(error)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every centre: token state, last push and pull, open conflicts.")

        @OptionGroup var store: StoreOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let hub = try store.open()
            let clients: [ClientInfo]
            do {
                clients = try await hub.clients()
            } catch {
                throw fail(error)
            }
            if json { return try printJSON(clients) }
            print("centre".padding(toLength: 30, withPad: " ", startingAt: 0), "token  ", "last push           ", "last pull           ", "open conflicts")
            for client in clients {
                print(
                    client.node.padding(toLength: 30, withPad: " ", startingAt: 0),
                    client.token.padding(toLength: 7, withPad: " ", startingAt: 0),
                    timestamp(client.lastPushAt).padding(toLength: 20, withPad: " ", startingAt: 0),
                    timestamp(client.lastPullAt).padding(toLength: 20, withPad: " ", startingAt: 0),
                    client.openConflicts)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a centre's token fail from the next request on.")

        @Argument(help: "The centre's id, or hmsi.") var id: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try store.open()
            do {
                try await hub.revokeClient(id)
                print("Revoked the token of \(id). Give a new one with `wirsync-hub centre add \(id)`.")
            } catch {
                throw fail(error)
            }
        }
    }
}
