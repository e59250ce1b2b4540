import GRDB
import Foundation
import ReplicaStore
import SyncCore

let kassel = "landkreis-kassel"

/// A remote change as the hub would send it.
func remote(
    _ op: Change.Op, _ table: String, _ pk: String, _ values: [String: Value] = [:],
    at millis: Int64, counter: Int64 = 0, by origin: String = "hmsi", centre: String? = kassel, seq: Int64 = 0
) -> Change {
    Change(
        seq: seq, table: table, pk: pk, op: op, centre: table == "funding_lines" || table == "centres" ? nil : centre,
        values: values, hlc: HLC(millis: millis, counter: counter), origin: origin, seen: 0)
}

/// A full organisations row of the Landkreis Kassel.
func organisation(_ name: String, city: String? = nil) -> [String: Value] {
    [
        "centre_id": .text(kassel), "name": .text(name), "kind": .text("Verein"), "city": city.map(Value.text) ?? .null,
        "contact_email": .null, "founded_year": .integer(1990), "logo": .null,
    ]
}

