public import PostgresNIO

/// Numbers for the hub log that several hub processes share (docs/postgres.md, "Several hub
/// processes: the log's order").
///
/// A `SEQUENCE` hands out numbers when rows are inserted, not when they commit: transaction A
/// takes 10, B takes 11 and commits first, a pull answers `next_cursor = 11`, and A's entry
/// is never delivered. Here every number comes from one counter row, updated in the writer's
/// transaction just before it commits: its row lock makes the next writer wait for that commit,
/// so numbers commit in the order they are handed out, and every number not yet committed is
/// above every committed one. A pull can never pass an entry that commits later.
public enum LogSequencer {
    /// The counter, created with the store (one statement each: the extended protocol runs one).
    public static let createStatements = [
        "CREATE TABLE wirsync_hub_clock (id integer PRIMARY KEY CHECK (id = 1), last bigint NOT NULL)",
        "INSERT INTO wirsync_hub_clock (id, last) VALUES (1, 0)",
    ]

    /// `count` consecutive numbers, at least `nowMillis << 10` (as SQLite numbers its log, so
    /// entries written after a restore lie above every entry lost), in the transaction of
    /// `connection`, which should commit soon: the next writer waits for it.
    public static func take(_ count: Int, nowMillis: Int64, on connection: PostgresConnection) async throws -> ClosedRange<Int64> {
        precondition(count > 0)
        let n = Int64(count)
        let floor = nowMillis << 10
        let rows = try await connection.query(
            "UPDATE wirsync_hub_clock SET last = greatest(last + \(n), \(floor) + \(n) - 1) WHERE id = 1 RETURNING last",
            logger: connection.logger)
        for try await last in rows.decode(Int64.self) { return (last - n + 1)...last }
        throw PostgresValueError(message: "the log's counter row is missing (wirsync_hub_clock)")
    }
}
