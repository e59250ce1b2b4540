// The memory floor of the daemon's stack, for `wirsync-bench scale`: the Swift runtime,
// Foundation, libcurl and SQLite, each loaded and initialised, and nothing of WIR-Sync.
// `daemon_rss_idle_mb` is measured against what this process holds while it waits.
import CCurl
import CSQLiteShim
import Foundation

guard curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK, let curl = curl_easy_init() else {
    FileHandle.standardError.write(Data("wirsync-bench-floor: libcurl did not initialise\n".utf8))
    exit(1)
}
var db: OpaquePointer?
guard sqlite3_open(":memory:", &db) == SQLITE_OK, sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", nil, nil, nil) == SQLITE_OK
else {
    FileHandle.standardError.write(Data("wirsync-bench-floor: SQLite did not open\n".utf8))
    exit(1)
}
FileHandle.standardOutput.write(Data("ready at \(Date())\n".utf8))
while true { Thread.sleep(forTimeInterval: 3600) }
