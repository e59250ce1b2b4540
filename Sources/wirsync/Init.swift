import ArgumentParser
import Foundation
import CentreSync
import ReplicaStore
import SyncCore
import SyncStore
import WIRSchema

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a centre's replica, or migrate an existing one to a newer schema.",
        discussion: """
            Creates the SQLite file (WAL mode) with the WIR domain tables, the capture \
            triggers and the engine's sync_* tables, and records which centre it belongs to. \
            On an existing replica it refuses, unless this program brings a newer schema \
            version, in which case it migrates the replica and keeps its data and change log.

            Centre ids are the slugs of the 33 official names, e.g. landkreis-kassel, kassel, \
            ruesselsheim-am-main; `hmsi` is the ministry's own replica, which may write everything.
            """
    )

    @OptionGroup var replica: ReplicaOption

    @Option(name: .long, help: ArgumentHelp("The centre this replica belongs to (or hmsi).", valueName: "id"))
    var centre: String

    @Option(name: .long, help: ArgumentHelp("The hub's URL, e.g. https://wir-sync.hessen.example.", valueName: "url"))
    var hub: String?

    @Flag(help: "Accept an http:// hub URL to another machine (sync needs the same, e.g. `allow-plain-http = yes` in <db>.conf).")
    var allowPlainHttp = false

    @Option(name: .long, help: ArgumentHelp("Use the schema in this directory instead of the built-in one.", valueName: "dir"))
    var schema: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Create the replica at this older schema version (default: the newest); `wirsync upgrade` moves it on.", valueName: "n"))
    var schemaVersion: Int?

    func validate() throws {
        guard centre == Node.hmsi || WIRSchema.centre(id: centre) != nil else {
            let close = WIRSchema.centres.map(\.id).filter { $0.contains(centre) || centre.contains($0) }
            let hint = close.isEmpty ? "run `wirsync init --help` for the form of an id" : "did you mean \(close.joined(separator: ", "))?"
            throw ValidationError("\(centre) is not one of the 33 WIR-Vielfaltszentren; \(hint)")
        }
        if let hub {
            do throws(SyncError) {
                try HubURL.check(hub, allowPlainHTTP: allowPlainHttp || HubURL.isYes(ProcessInfo.processInfo.environment["WIRSYNC_ALLOW_PLAIN_HTTP"]))
            } catch {
                throw ValidationError("--hub: \(error)")
            }
        }
    }

    func run() throws {
        do {
            let newest = try schema.map { try SchemaDefinition.load(directory: URL(fileURLWithPath: $0)) } ?? WIRSchema.definition()
            let definition = try schemaVersion.map { try newest.at(version: $0) } ?? newest
            let (created, outcome) = try Replica.initialise(path: replica.db, node: centre, hubURL: hub, schema: definition)
            switch outcome {
            case .created:
                print("Created replica \(replica.db) for \(centre) (schema \(definition.name) v\(definition.version), WAL mode).")
                print("Every write to its \(created.schema.tables.count) domain tables is captured, by any tool.")
            case .migrated(let from):
                Upgrade.report(path: replica.db, from: from, to: definition.version)
            }
        } catch let error as ReplicaError {
            throw fail(error)
        } catch let error as SchemaError {
            throw fail(error)
        }
    }
}

struct Upgrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upgrade a replica to the schema version of this wirsync, offline, keeping everything.",
        discussion: """
            Runs the schema's new migrations on the replica in one transaction and re-installs \
            the capture triggers. Pending changes, open conflicts and the cursor stay: changes \
            captured under the old version are pushed on the next sync. That sync also pulls \
            the centre's rows once more, whole, to fill the new tables and columns \
            (docs/schema-evolution.md). A hub serves older versions beside its own, so a centre \
            may upgrade when it suits; `wirsync status` says when an upgrade is available.
            """
    )

    @OptionGroup var replica: ReplicaOption

    @Option(name: .long, help: ArgumentHelp("Use the schema in this directory instead of the built-in one.", valueName: "dir"))
    var schema: String?

    @Option(name: .long, help: ArgumentHelp("Upgrade to this version instead of the newest.", valueName: "n"))
    var schemaVersion: Int?

    func run() throws {
        do {
            let newest = try schema.map { try SchemaDefinition.load(directory: URL(fileURLWithPath: $0)) } ?? WIRSchema.definition()
            let definition = try schemaVersion.map { try newest.at(version: $0) } ?? newest
            let current = try Replica.open(path: replica.db)
            guard current.schema.version < definition.version else {
                print("Replica \(replica.db) is at schema version \(current.schema.version); this wirsync has \(definition.version): nothing to upgrade.")
                return
            }
            let (_, outcome) = try Replica.initialise(path: replica.db, node: current.node, hubURL: nil, schema: definition)
            if case .migrated(let from) = outcome { Self.report(path: replica.db, from: from, to: definition.version) }
        } catch let error as ReplicaError {
            throw fail(error)
        } catch let error as SchemaError {
            throw fail(error)
        }
    }

    static func report(path: String, from: Int, to: Int) {
        print("Upgraded replica \(path) from schema version \(from) to \(to); pending changes, conflicts and cursor are kept.")
        print("The next `wirsync sync` pushes what is pending and pulls the centre's rows once more, whole, for the new tables and columns.")
    }
}
