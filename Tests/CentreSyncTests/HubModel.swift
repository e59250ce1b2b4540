import Foundation
import GRDB
import HubStore
import SyncCore
import SyncStore

/// An independent model of the hub's merge and conflict rule (DESIGN.md), for cells of rows
/// that were never deleted: per column, the newer `(hlc, origin)` wins, and the loser is a
/// conflict when the current version came from another origin and the writer had not seen
/// it (its hub sequence is above the change's `seen`). It reads only facts from the hub
/// (which log sequence applied which write, the final rows, the recorded conflicts), never
/// its decisions.
struct HubModel {
    let store: HubStore

    struct Loser: Hashable, CustomStringConvertible {
        var table, pk, column: String
        var value: Value
        var origin: String
        var hlc: HLC
        var description: String { "\(table) \(pk).\(column) = \(value) by \(origin)@\(hlc)" }
    }

    struct Result {
        var expected = 0
        var missingConflicts: [Loser] = []
        var unexpectedConflicts: [Loser] = []
        var wrongCells: [String] = []
    }

    private struct Cell: Hashable { var table, pk, column: String }
    private struct Row: Hashable { var table, pk: String }
    private struct Write: Hashable { var origin: String; var hlc: Int64; var table, pk: String }

    func replay(_ pushes: [PushRecorder.Push]) async throws -> Result {
        // Facts: the hub sequence of every applied write.
        let applied = try await store.read { db in
            Dictionary(try SQLRow.fetchAll(db, sql: """
                SELECT l.seq, n.name AS origin, l.hlc, t.name AS tbl, l.pk FROM sync_hub_log l
                JOIN sync_nodes n ON n.id = l.origin JOIN sync_tables t ON t.id = l.tbl WHERE l.op < 4
                """).map { (Write(origin: $0["origin"], hlc: $0["hlc"], table: $0["tbl"], pk: $0["pk"]), $0["seq"] as Int64) }) { first, _ in first }
        }
        var deletedRows = Set<Row>()
        for push in pushes {
            for change in push.request.changes where change.op == .delete { deletedRows.insert(Row(table: change.table, pk: change.pk)) }
        }

        var cells: [Cell: (value: Value, version: Version, seq: Int64)] = [:]
        var expected = Set<Loser>()
        var acked: [String: Int64] = [:]
        for push in pushes {
            let replica = push.node + "/" + push.request.replicaID
            let handled = acked[replica] ?? 0
            for change in push.request.changes where change.seq > handled && !deletedRows.contains(Row(table: change.table, pk: change.pk)) {
                let incoming = change.version
                let seq = applied[Write(origin: change.origin, hlc: change.hlc.rawValue, table: change.table, pk: change.pk)]
                for (column, value) in change.values {
                    let cell = Cell(table: change.table, pk: change.pk, column: column)
                    guard let current = cells[cell] else {
                        cells[cell] = (value, incoming, seq ?? 0)
                        continue
                    }
                    if incoming == current.version { continue }
                    let concurrent = current.version.origin != change.origin && current.seq > change.seen
                    if incoming > current.version {
                        if concurrent {
                            expected.insert(Loser(table: cell.table, pk: cell.pk, column: column, value: current.value, origin: current.version.origin, hlc: current.version.hlc))
                        }
                        cells[cell] = (value, incoming, seq ?? 0)
                    } else if concurrent {
                        expected.insert(Loser(table: cell.table, pk: cell.pk, column: column, value: value, origin: change.origin, hlc: change.hlc))
                    }
                }
            }
            acked[replica] = max(handled, push.request.lastSeq)
        }

        let recorded = try await store.conflicts().filter { record in
            record.column != nil && !deletedRows.contains(Row(table: record.table, pk: record.pk))
        }.map { Loser(table: $0.table, pk: $0.pk, column: $0.column!, value: $0.loser.value, origin: $0.loser.origin, hlc: $0.loser.hlc) }

        var result = Result(expected: expected.count)
        result.missingConflicts = expected.subtracting(recorded).sorted { $0.description < $1.description }
        result.unexpectedConflicts = Set(recorded).subtracting(expected).sorted { $0.description < $1.description }
        for (cell, model) in cells {
            let type = store.schema.table(named: cell.table)?.column(named: cell.column)?.type ?? "ANY"
            let actual = try await store.read { db in
                try SQLRow.fetchOne(db, sql: "SELECT \"\(cell.column)\" FROM \"\(cell.table)\" WHERE id = ?", arguments: [cell.pk])
                    .map { db.read($0.values[0], declared: type) }
            }
            if actual != model.value {
                result.wrongCells.append("\(cell.table) \(cell.pk).\(cell.column): hub \(actual.map { "\($0)" } ?? "no row"), model \(model.value)")
            }
        }
        return result
    }
}
