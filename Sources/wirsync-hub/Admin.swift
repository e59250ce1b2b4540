import ArgumentParser
import CLISupport
import Foundation
import HubStore

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Console accounts for HMSI staff: add, reset, remove, list (docs/console.md).",
        subcommands: [Add.self, Reset.self, Remove.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a console account and print its one-time setup secret.",
            discussion: """
                The secret is shown this once and is valid for 7 days: the hub keeps only its \
                SHA-256. Hand it to the person, who opens /console/einrichten on the console's \
                listener (`wirsync-hub serve --console-port`), and sets a password of at least \
                12 characters; the hub keeps its bcrypt hash. NAME is 2 to 64 letters, digits, \
                dots, hyphens or underscores.
                """
        )

        @Argument(help: "The account's name, e.g. m.schneider.") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            do {
                let secret = try await hub.addConsoleAccount(name, reset: false)
                print("Console account \(name) created. One-time setup secret (valid 7 days): \(secret)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give an account a new setup secret (a forgotten password); its sessions end and its password no longer works.")

        @Argument(help: "The account's name.") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            do {
                let secret = try await hub.addConsoleAccount(name, reset: true)
                print("Console account \(name) reset. One-time setup secret (valid 7 days): \(secret)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a console account; its sessions end at once.")

        @Argument(help: "The account's name.") var name: String
        @OptionGroup var store: StoreOption

        func run() async throws {
            let hub = try await store.open()
            do {
                try await hub.removeConsoleAccount(name)
                print("Console account \(name) removed.")
            } catch {
                throw fail(error)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every console account: set up or waiting, and its open sessions.")

        @OptionGroup var store: StoreOption
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let hub = try await store.open()
            do {
                let accounts = try await hub.consoleAccounts()
                if json { return try printJSON(accounts) }
                if accounts.isEmpty { print("No console accounts; `wirsync-hub admin add NAME` creates one.") }
                for account in accounts {
                    let state = account.state == "active" ? "active" : "waiting for setup"
                    print("\(account.name)  \(state)  created \(timestamp(account.createdAt))  sessions \(account.sessions)")
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
