#ifndef WIRSYNC_CSQLITESHIM_H
#define WIRSYNC_CSQLITESHIM_H
#include <sqlite3.h>

/// Turns triggers on or off for one connection. The sync engine applies remote
/// changes on a connection with triggers off, so they are not captured again.
/// Wraps sqlite3_db_config, which is variadic and cannot be called from Swift.
static inline int wirsync_set_triggers_enabled(sqlite3 *db, int enabled) {
    int now = -1;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, enabled, &now);
    return rc == SQLITE_OK ? now : -1;
}

#endif
