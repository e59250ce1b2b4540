/// A version as stored: the version plus, at the hub, the hub sequence that applied it.
public struct Stamp: Hashable, Sendable {
    public var version: Version
    /// The hub log sequence that applied this version (hub only; nil on replicas).
    public var seq: Int64?

    public init(_ version: Version, seq: Int64? = nil) {
        self.version = version
        self.seq = seq
    }
}

/// The deletion register of a row: alive or deleted, last writer wins.
public struct Register: Hashable, Sendable {
    public var alive: Bool
    public var stamp: Stamp

    public init(alive: Bool, stamp: Stamp) {
        self.alive = alive
        self.stamp = stamp
    }
}

/// Everything the merge rule needs to know about one row: its register and the version
/// of every column.
///
/// Column versions are stored compactly: `base` is the version of the insert that last
/// won, and every column written later by an update has an entry in `overrides`. An
/// override is always newer than `base`, and on a deleted row newer than the deletion.
/// A row is visible (materialized in its domain table) exactly when the register says
/// alive. This state is canonical: the same set of changes gives the same state in any
/// order of arrival.
public struct RowVersions: Hashable, Sendable {
    public var register: Register?
    public var base: Stamp?
    public var overrides: [Int: Stamp]

    public init(register: Register? = nil, base: Stamp? = nil, overrides: [Int: Stamp] = [:]) {
        self.register = register
        self.base = base
        self.overrides = overrides
    }

    public var isAlive: Bool { register?.alive ?? false }

    /// The version of one column's current value, if any write has reached it.
    public func stamp(ofColumn column: Int) -> Stamp? { overrides[column] ?? base }

    /// The highest hub sequence among the row's versions: at the hub, its live log entry.
    public var lastSeq: Int64? { ([register?.stamp.seq, base?.seq] + overrides.values.map(\.seq)).compactMap { $0 }.max() }
}

/// What applying one change to one row does, decided by the merge rule alone.
///
/// The storage layer (`SyncStore`) carries the plan out; the hub reads `displaced` and
/// `lost` to write conflict records, and a replica reads `displaced` to keep a pending
/// local value that a remote change overwrote.
public struct MergePlan: Hashable, Sendable {
    public var before: RowVersions
    public var after: RowVersions
    /// Columns whose value this change sets, with the version each one displaces.
    public var won: [Int: Stamp?]
    /// Columns of the change that lost, with the newer version that beat each one.
    public var lost: [Int: Stamp]
    /// Whether the change won the row's deletion register (inserts and deletes only).
    public var registerWon: Bool
    /// The register version that beat this change's insert or delete.
    public var registerLostTo: Stamp?
    /// The change was already applied (same version): nothing to do.
    public var isDuplicate: Bool

    /// The row appears in its domain table because of this change.
    public var materializes: Bool { !before.isAlive && after.isAlive }
    /// The row disappears from its domain table because of this change.
    public var dematerializes: Bool { before.isAlive && !after.isAlive }
    /// Nothing in the row's state changes.
    public var changesNothing: Bool { before == after }
}

/// The merge rule: per-column last-writer-wins on `(hlc, origin)`, with row deletion as an
/// LWW register of its own. Applying the same changes in any order gives the same state.
public enum Merge {
    /// Decides what `op`, written at `stamp`, does to a row in state `state`.
    ///
    /// - Parameter columns: for an insert, every column of the table except the primary key;
    ///   for an update, the columns it changes; ignored for a delete.
    public static func plan(_ state: RowVersions, op: Change.Op, columns: [Int], stamp: Stamp) -> MergePlan {
        var plan = MergePlan(
            before: state, after: state, won: [:], lost: [:],
            registerWon: false, registerLostTo: nil, isDuplicate: false)
        let incoming = stamp.version

        func mergeRegister(alive: Bool) {
            if let current = state.register {
                if current.stamp.version == incoming {
                    plan.isDuplicate = true
                    return
                }
                if current.stamp.version > incoming {
                    plan.registerLostTo = current.stamp
                    return
                }
            }
            plan.after.register = Register(alive: alive, stamp: stamp)
            plan.registerWon = true
        }

        switch op {
        case .insert:
            mergeRegister(alive: true)
            if let base = state.base, base.version >= incoming {
                if base.version == incoming {
                    // A column whose version is below the row's base is one the replica has no value
                    // of yet: a placeholder left by a schema upgrade (docs/schema-evolution.md). The
                    // insert gives it its value; every other column has it already.
                    let unknown = columns.filter { column in state.overrides[column].map { $0.version < incoming } ?? false }
                    guard !unknown.isEmpty else {
                        plan.isDuplicate = true
                        return plan
                    }
                    plan.isDuplicate = false
                    for column in unknown {
                        plan.won[column] = state.overrides[column]
                        plan.after.overrides[column] = nil
                    }
                } else {
                    for column in columns { plan.lost[column] = state.stamp(ofColumn: column) ?? base }
                }
                return plan
            }
            plan.after.base = stamp
            for column in columns {
                if let override = state.overrides[column], override.version > incoming {
                    plan.lost[column] = override
                } else {
                    plan.won[column] = state.stamp(ofColumn: column)
                    plan.after.overrides[column] = nil
                }
            }
        case .update:
            for column in columns {
                // A deleted row keeps no column version older than its deletion: any later
                // re-insert is newer still and replaces them all.
                if let register = state.register, !register.alive, register.stamp.version > incoming {
                    plan.lost[column] = register.stamp
                    continue
                }
                let current = state.stamp(ofColumn: column)
                if let current, current.version >= incoming {
                    if current.version == incoming {
                        plan.isDuplicate = true
                    } else {
                        plan.lost[column] = current
                    }
                } else {
                    plan.won[column] = current
                    plan.after.overrides[column] = stamp
                }
            }
        case .delete:
            mergeRegister(alive: false)
            if plan.registerWon {
                plan.after.overrides = state.overrides.filter { $0.value.version > incoming }
            }
        }
        return plan
    }
}
