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
            let definition = try schema.map { try SchemaDefinition.load(directory: URL(fileURLWithPath: $0)) } ?? WIRSchema.definition()
            let (created, outcome) = try Replica.initialise(path: replica.db, node: centre, hubURL: hub, schema: definition)
            switch outcome {
            case .created:
                print("Created replica \(replica.db) for \(centre) (schema \(definition.name) v\(definition.version), WAL mode).")
                print("Every write to its \(created.schema.tables.count) domain tables is captured, by any tool.")
            case .migrated(let from):
                print("Migrated replica \(replica.db) of \(centre) from schema v\(from) to v\(definition.version).")
            }
        } catch let error as ReplicaError {
            throw fail(error)
        } catch let error as SchemaError {
            throw fail(error)
        }
    }
}
