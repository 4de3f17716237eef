/* The fleet database (docs/fleet.md, "Database"): SQLite in WAL mode, the
 * schema versioned with PRAGMA user_version, every statement prepared once,
 * ingest batched into transactions (the caller commits every N messages or
 * every few hundred milliseconds), a busy timeout so a report reading the
 * database while `run` writes waits instead of failing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"

static const char SCHEMA_V1[] =
    /* A rowid table: its rows carry the last state and report (~1 KiB),
     * too large for WITHOUT ROWID's clustered B-tree. */
    "CREATE TABLE devices("
    " id TEXT NOT NULL UNIQUE, model TEXT, sw TEXT,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " online INTEGER, status_at INTEGER,"
    " state TEXT, state_seq INTEGER, state_at INTEGER,"
    " telemetry TEXT, telemetry_seq INTEGER, telemetry_at INTEGER,"
    " telemetry_count INTEGER NOT NULL DEFAULT 0,"
    " events_count INTEGER NOT NULL DEFAULT 0,"
    " announced_version TEXT, announced_at INTEGER, announced_delay_s INTEGER"
    ");"
    "CREATE TABLE telemetry(device TEXT NOT NULL, received INTEGER NOT NULL, seq INTEGER,"
    " ts INTEGER, report TEXT NOT NULL);"
    "CREATE INDEX telemetry_received ON telemetry(received);"
    "CREATE TABLE events(device TEXT NOT NULL, received INTEGER NOT NULL, seq INTEGER,"
    " ts INTEGER, sev TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX events_received ON events(received);"
    "CREATE TABLE cmd_results(device TEXT NOT NULL, reqid TEXT NOT NULL, status INTEGER NOT NULL,"
    " received INTEGER NOT NULL, reply TEXT NOT NULL, UNIQUE(device, reqid));"
    "CREATE TABLE device_ports(device TEXT NOT NULL, port INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL, PRIMARY KEY(device, port)) WITHOUT ROWID;"
    "CREATE TABLE anomalies(id INTEGER PRIMARY KEY, rule TEXT NOT NULL, key TEXT NOT NULL,"
    " raised INTEGER NOT NULL, window_s INTEGER NOT NULL, threshold INTEGER NOT NULL,"
    " devices INTEGER NOT NULL, evidence TEXT NOT NULL);"
    "CREATE TABLE rejections(reason TEXT PRIMARY KEY, count INTEGER NOT NULL,"
    " last_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE announcements(id INTEGER PRIMARY KEY, version TEXT NOT NULL,"
    " created INTEGER NOT NULL, batch INTEGER NOT NULL, spread_s INTEGER NOT NULL,"
    " devices INTEGER NOT NULL, batches INTEGER NOT NULL);";

/* Version 2: the personal-data tables (erase.c created them itself before,
 * without the device's time and seq of a consent), an erasure once per
 * request, events unique by (device, seq, ts) (replaced by version 3's
 * (device, ep, seq)), and the device's change of hands. */
static const char SCHEMA_V2[] =
    "CREATE TABLE IF NOT EXISTS privacy_consents(device TEXT NOT NULL, purpose TEXT NOT NULL,"
    " granted INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(device, purpose)) WITHOUT ROWID;"
    "ALTER TABLE privacy_consents ADD COLUMN ts INTEGER;"
    "ALTER TABLE privacy_consents ADD COLUMN seq INTEGER;"
    "CREATE TABLE IF NOT EXISTS privacy_history(device TEXT NOT NULL, received INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, app TEXT NOT NULL, samples TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS privacy_history_device ON privacy_history(device, received);"
    "CREATE TABLE IF NOT EXISTS privacy_erasures(device TEXT NOT NULL, request TEXT NOT NULL,"
    " received INTEGER NOT NULL, receipt TEXT NOT NULL);"
    "DELETE FROM privacy_erasures WHERE rowid NOT IN"
    " (SELECT min(rowid) FROM privacy_erasures GROUP BY device, request);"
    "CREATE UNIQUE INDEX privacy_erasures_request ON privacy_erasures(device, request);"
    "DELETE FROM events WHERE rowid NOT IN (SELECT min(rowid) FROM events GROUP BY device, seq, ts);"
    "CREATE UNIQUE INDEX events_message ON events(device, seq, ts);"
    "ALTER TABLE devices ADD COLUMN reset_count INTEGER;"
    "ALTER TABLE devices ADD COLUMN reset_at INTEGER;"
    "ALTER TABLE devices ADD COLUMN changed_hands_at INTEGER;";

/* Version 3: the device's reset epoch ("ep", docs/mqtt.md). A device's
 * messages are ordered by (ep, seq): telemetry and events unique by
 * (device, ep, seq) (this replaces events' (device, seq, ts)), and the
 * device row remembers the epoch of its last state and report so that an
 * older epoch's message does not replace them. Existing rows get ep 0,
 * except rows that share a (device, seq) with an earlier one (only a reset
 * reuses a seq): those get 1, 2, ... in ts order, so that every row is kept
 * under the new key. Telemetry had no unique key: exact redeliveries
 * (same device, seq and report) are dropped first. */
static const char SCHEMA_V3[] =
    "ALTER TABLE telemetry ADD COLUMN ep INTEGER NOT NULL DEFAULT 0;"
    "DELETE FROM telemetry WHERE rowid NOT IN (SELECT min(rowid) FROM telemetry GROUP BY device, seq, report);"
    "UPDATE telemetry SET ep = r.n FROM (SELECT rowid AS id, row_number() OVER"
    " (PARTITION BY device, seq ORDER BY ts, rowid) - 1 AS n FROM telemetry) AS r"
    " WHERE telemetry.rowid = r.id AND r.n > 0;"
    "CREATE UNIQUE INDEX telemetry_message ON telemetry(device, ep, seq);"
    "ALTER TABLE events ADD COLUMN ep INTEGER NOT NULL DEFAULT 0;"
    "UPDATE events SET ep = r.n FROM (SELECT rowid AS id, row_number() OVER"
    " (PARTITION BY device, seq ORDER BY ts, rowid) - 1 AS n FROM events) AS r"
    " WHERE events.rowid = r.id AND r.n > 0;"
    "DROP INDEX events_message;"
    "CREATE UNIQUE INDEX events_message ON events(device, ep, seq);"
    "ALTER TABLE devices ADD COLUMN state_ep INTEGER;"
    "ALTER TABLE devices ADD COLUMN telemetry_ep INTEGER;";

/* A message of an older epoch than the device's recorded reset or than its
 * last state or report is history (stored in its table), not the device's
 * current state: these conditions guard the device row's columns. */
#define STATE_CURRENT "?7 >= coalesce(reset_count, 0) AND ?7 >= coalesce(state_ep, 0)"
#define TEL_CURRENT "?5 >= coalesce(reset_count, 0) AND ?5 >= coalesce(telemetry_ep, 0)"

enum {
    S_DEV_SEEN,
    S_DEV_STATE,
    S_DEV_TELEMETRY,
    S_DEV_EVENTS,
    S_DEV_STATUS,
    S_TELEMETRY,
    S_EVENT,
    S_CMDRES,
    S_PORT,
    S_ANOMALY,
    S_REJECT,
    S_DEV_LOAD,
    S_PORTS_LOAD,
    S_COUNT
};

static const char *const SQL[S_COUNT] = {
    [S_DEV_SEEN] = "INSERT INTO devices(id, first_seen, last_seen) VALUES(?1, ?2, ?2)"
                   " ON CONFLICT(id) DO UPDATE SET last_seen = ?2",
    [S_DEV_STATE] = "UPDATE devices SET state = ?2, state_seq = ?3, state_at = ?4, sw = ?5,"
                    " model = coalesce(?6, model), state_ep = ?7 WHERE id = ?1 AND " STATE_CURRENT,
    /* The hot path: one upsert per new report (no separate "seen" step). */
    [S_DEV_TELEMETRY] = "INSERT INTO devices(id, first_seen, last_seen, telemetry, telemetry_seq, telemetry_ep,"
                        " telemetry_at, telemetry_count) VALUES(?1, ?4, ?4, ?2, ?3, ?5, ?4, 1) ON CONFLICT(id)"
                        " DO UPDATE SET last_seen = ?4, telemetry_count = telemetry_count + 1,"
                        " telemetry = CASE WHEN " TEL_CURRENT " THEN ?2 ELSE telemetry END,"
                        " telemetry_seq = CASE WHEN " TEL_CURRENT " THEN ?3 ELSE telemetry_seq END,"
                        " telemetry_at = CASE WHEN " TEL_CURRENT " THEN ?4 ELSE telemetry_at END,"
                        " telemetry_ep = CASE WHEN " TEL_CURRENT " THEN ?5 ELSE telemetry_ep END",
    [S_DEV_EVENTS] = "UPDATE devices SET events_count = events_count + 1 WHERE id = ?1",
    [S_DEV_STATUS] = "UPDATE devices SET online = ?2, status_at = ?3 WHERE id = ?1",
    /* a redelivery (same device, ep and seq) inserts nothing */
    [S_TELEMETRY] = "INSERT INTO telemetry(device, received, seq, ts, report, ep) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
                    " ON CONFLICT(device, ep, seq) DO NOTHING",
    [S_EVENT] = "INSERT INTO events(device, received, seq, ts, sev, event, detail, ep)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(device, ep, seq) DO NOTHING",
    [S_CMDRES] = "INSERT INTO cmd_results(device, reqid, status, received, reply) VALUES(?1, ?2, ?3, ?4, ?5)"
                 " ON CONFLICT(device, reqid) DO UPDATE SET status = ?3, received = ?4, reply = ?5",
    [S_PORT] = "INSERT OR IGNORE INTO device_ports(device, port, first_seen) VALUES(?1, ?2, ?3)",
    [S_ANOMALY] = "INSERT INTO anomalies(rule, key, raised, window_s, threshold, devices, evidence)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_REJECT] = "INSERT INTO rejections(reason, count, last_at) VALUES(?1, 1, ?2)"
                 " ON CONFLICT(reason) DO UPDATE SET count = count + 1, last_at = ?2",
    [S_DEV_LOAD] = "SELECT telemetry_count, model FROM devices WHERE id = ?1",
    [S_PORTS_LOAD] = "SELECT port FROM device_ports WHERE device = ?1 ORDER BY port",
};

typedef struct {
    fleet_db base; /* store.h: the operations */
    sqlite3 *h;
    sqlite3_stmt *st[S_COUNT];
    bool in_tx;
    size_t pending;
} sq_db;

static void sq_close(fleet_db *d);
static hearth_status sq_commit(fleet_db *d);
static const fleet_store_ops SQLITE_OPS;

/* The handle given out is the base of an sq_db. */
static sq_db *SQ(fleet_db *d) { return (sq_db *)(void *)d; }
static const sq_db *SQC(const fleet_db *d) { return (const sq_db *)(const void *)d; }

static hearth_status db_err(sq_db *db, const char *what)
{
    return hearth_err(HEARTH_ERR_IO, "database: %s: %s", what, sqlite3_errmsg(db->h));
}

static hearth_status exec(sq_db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s", msg != NULL ? msg : "error");
        sqlite3_free(msg);
        return st;
    }
    return HEARTH_OK;
}

static hearth_status schema(sq_db *db, bool readonly)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return db_err(db, "schema version");
    int v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    if (v < 0) return db_err(db, "schema version");
    if (v > FLEET_DB_SCHEMA_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED,
                          "database schema %d is newer than this hearth-fleet (%d)", v,
                          FLEET_DB_SCHEMA_VERSION);
    if (v == FLEET_DB_SCHEMA_VERSION) return HEARTH_OK;
    if (readonly && v == 0) return hearth_err(HEARTH_ERR_NOT_FOUND, "not a fleet database (no schema)");
    if (readonly)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "database schema %d is older than this hearth-fleet (%d):"
                          " `hearth-fleet run` migrates it", v, FLEET_DB_SCHEMA_VERSION);
    /* v == 0: a new database; then one step per version. */
    HEARTH_GUARD(exec(db, "BEGIN IMMEDIATE"));
    hearth_status st = v < 1 ? exec(db, SCHEMA_V1) : HEARTH_OK;
    if (st == HEARTH_OK && v < 2) st = exec(db, SCHEMA_V2);
    if (st == HEARTH_OK) st = exec(db, SCHEMA_V3);
    if (st == HEARTH_OK) st = exec(db, "PRAGMA user_version = 3");
    if (st != HEARTH_OK) {
        (void)exec(db, "ROLLBACK");
        return st;
    }
    return exec(db, "COMMIT");
}

hearth_status fleet_db_open_sqlite(const char *path, bool readonly, fleet_db **out)
{
    *out = NULL;
    sq_db *db = calloc(1, sizeof *db);
    if (db == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    db->base.ops = &SQLITE_OPS;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
    hearth_status st;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        st = hearth_err(HEARTH_ERR_IO, "database %s: %s", path,
                        db->h != NULL ? sqlite3_errmsg(db->h) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, 5000);
    sqlite3_extended_result_codes(db->h, 1);
    /* Nothing in the database may steer the engine: no extension loading,
     * no triggers or views that a tampered file could hide work in. */
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (!readonly) {
        HEARTH_GUARD_GOTO(st, exec(db, "PRAGMA journal_mode = WAL"), fail);
        /* NORMAL in WAL: a committed batch survives a crash of the
         * service; a power cut may lose the last batches, which devices
         * re-send (QoS 1) or supersede with their next report. */
        HEARTH_GUARD_GOTO(st, exec(db, "PRAGMA synchronous = NORMAL"), fail);
    }
    HEARTH_GUARD_GOTO(st, exec(db, "PRAGMA foreign_keys = ON"), fail);
    HEARTH_GUARD_GOTO(st, schema(db, readonly), fail);
    if (!readonly)
        for (int i = 0; i < S_COUNT; i++)
            if (sqlite3_prepare_v3(db->h, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &db->st[i], NULL) !=
                SQLITE_OK) {
                st = db_err(db, "prepare");
                goto fail;
            }
    *out = &db->base;
    return HEARTH_OK;
fail:
    sq_close(&db->base);
    return st;
}

static void sq_close(fleet_db *d)
{
    sq_db *db = SQ(d);
    if (db == NULL) return;
    if (db->in_tx && sq_commit(d) != HEARTH_OK)
        fprintf(stderr, "hearth-fleet: the last batch was not stored: %s\n", hearth_err_msg());
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(db->st[i]);
    sqlite3_close(db->h);
    free(db);
}

struct sqlite3 *fleet_db_sqlite_handle(fleet_db *db)
{
    return db != NULL && db->ops == &SQLITE_OPS ? SQ(db)->h : NULL;
}

static hearth_status sq_begin(fleet_db *d)
{
    sq_db *db = SQ(d);
    if (db->in_tx) return HEARTH_OK;
    HEARTH_GUARD(exec(db, "BEGIN IMMEDIATE"));
    db->in_tx = true;
    db->pending = 0;
    return HEARTH_OK;
}

static hearth_status sq_commit(fleet_db *d)
{
    sq_db *db = SQ(d);
    if (!db->in_tx) return HEARTH_OK;
    hearth_status st = exec(db, "COMMIT");
    if (st != HEARTH_OK) {
        (void)exec(db, "ROLLBACK");
    }
    db->in_tx = false;
    db->pending = 0;
    return st;
}

static size_t sq_pending(const fleet_db *d) { return SQC(d)->pending; }

/* Bind helpers: text NULL binds NULL; integers < 0 bind NULL (absent). */
static void bt(sqlite3_stmt *s, int i, const char *t)
{
    if (t == NULL || t[0] == '\0')
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}
static void bi(sqlite3_stmt *s, int i, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, v);
}

static hearth_status run(sq_db *db, int which)
{
    sqlite3_stmt *s = db->st[which];
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) return db_err(db, "write");
    return HEARTH_OK;
}

static hearth_status sq_store(fleet_db *d, const fleet_msg *m, int64_t now)
{
    sq_db *db = SQ(d);
    HEARTH_GUARD(sq_begin(d));
    sqlite3_stmt *s = db->st[S_DEV_SEEN];
    if (m->kind != FLEET_T_TELEMETRY) {
        bt(s, 1, m->id);
        bi(s, 2, now);
        HEARTH_GUARD(run(db, S_DEV_SEEN));
    }
    switch (m->kind) {
    case FLEET_T_STATE:
        s = db->st[S_DEV_STATE];
        bt(s, 1, m->id), bt(s, 2, m->json), bi(s, 3, m->seq), bi(s, 4, now), bt(s, 5, m->sw);
        bt(s, 6, m->model), bi(s, 7, m->ep);
        HEARTH_GUARD(run(db, S_DEV_STATE));
        break;
    case FLEET_T_TELEMETRY:
        s = db->st[S_TELEMETRY];
        bt(s, 1, m->id), bi(s, 2, now), bi(s, 3, m->seq), bi(s, 4, m->ts), bt(s, 5, m->json);
        bi(s, 6, m->ep);
        HEARTH_GUARD(run(db, S_TELEMETRY));
        if (sqlite3_changes(db->h) == 0) { /* a redelivery: the device was seen, nothing else */
            s = db->st[S_DEV_SEEN];
            bt(s, 1, m->id), bi(s, 2, now);
            HEARTH_GUARD(run(db, S_DEV_SEEN));
            break;
        }
        s = db->st[S_DEV_TELEMETRY];
        bt(s, 1, m->id), bt(s, 2, m->json), bi(s, 3, m->seq), bi(s, 4, now), bi(s, 5, m->ep);
        HEARTH_GUARD(run(db, S_DEV_TELEMETRY));
        break;
    case FLEET_T_EVENTS:
        s = db->st[S_EVENT];
        bt(s, 1, m->id), bi(s, 2, now), bi(s, 3, m->seq), bi(s, 4, m->ts);
        bt(s, 5, m->sev), bt(s, 6, m->event), bt(s, 7, m->json), bi(s, 8, m->ep);
        HEARTH_GUARD(run(db, S_EVENT));
        /* the device's count moves only when the event was new */
        if (sqlite3_changes(db->h) > 0) {
            s = db->st[S_DEV_EVENTS];
            bt(s, 1, m->id);
            HEARTH_GUARD(run(db, S_DEV_EVENTS));
        }
        if (m->reset_count > 0) {
            bool acted = false;
            HEARTH_GUARD(fleet_sq_reset(db->h, m->id, m->reset_count, m->reset_at, now, &acted));
            if (acted)
                fprintf(stderr, "hearth-fleet: %s was factory reset (reset %lld): it changed hands; its consents"
                                " are withdrawn\n", m->id, (long long)m->reset_count);
        }
        break;
    case FLEET_T_STATUS:
        s = db->st[S_DEV_STATUS];
        bt(s, 1, m->id), bi(s, 2, m->online ? 1 : 0), bi(s, 3, now);
        HEARTH_GUARD(run(db, S_DEV_STATUS));
        break;
    case FLEET_T_CMDRES:
        s = db->st[S_CMDRES];
        bt(s, 1, m->id), bt(s, 2, m->reqid), bi(s, 3, m->status), bi(s, 4, now), bt(s, 5, m->json);
        HEARTH_GUARD(run(db, S_CMDRES));
        break;
    default:
        return hearth_err(HEARTH_ERR_INTERNAL, "unknown message kind");
    }
    db->pending++;
    return HEARTH_OK;
}

static hearth_status sq_reject(fleet_db *d, const char *reason, int64_t now)
{
    sq_db *db = SQ(d);
    HEARTH_GUARD(sq_begin(d));
    sqlite3_stmt *s = db->st[S_REJECT];
    bt(s, 1, reason), bi(s, 2, now);
    HEARTH_GUARD(run(db, S_REJECT));
    db->pending++;
    return HEARTH_OK;
}

static hearth_status sq_port_seen(fleet_db *d, const char *id, unsigned port, int64_t now, bool *is_new)
{
    sq_db *db = SQ(d);
    HEARTH_GUARD(sq_begin(d));
    sqlite3_stmt *s = db->st[S_PORT];
    bt(s, 1, id), bi(s, 2, port), bi(s, 3, now);
    HEARTH_GUARD(run(db, S_PORT));
    *is_new = sqlite3_changes(db->h) > 0;
    return HEARTH_OK;
}

static hearth_status sq_anomaly(fleet_db *d, const char *rule, const char *key, int64_t now,
                               unsigned window_s, unsigned threshold, unsigned devices,
                               const char *evidence_json)
{
    sq_db *db = SQ(d);
    HEARTH_GUARD(sq_begin(d));
    sqlite3_stmt *s = db->st[S_ANOMALY];
    bt(s, 1, rule), bi(s, 3, now);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC); /* "" for an unkeyed rule */
    bi(s, 4, window_s), bi(s, 5, threshold);
    bi(s, 6, devices), bt(s, 7, evidence_json);
    HEARTH_GUARD(run(db, S_ANOMALY));
    /* An anomaly is worth a commit of its own right away. */
    return sq_commit(d);
}

static hearth_status sq_prune(fleet_db *d, int64_t before)
{
    sq_db *db = SQ(d);
    HEARTH_GUARD(sq_commit(d));
    char sql[160];
    snprintf(sql, sizeof sql,
             "DELETE FROM telemetry WHERE received < %lld; DELETE FROM events WHERE received < %lld",
             (long long)before, (long long)before);
    return exec(db, sql);
}

static hearth_status sq_device_load(fleet_db *d, const char *id, bool *has_telemetry, char *kind,
                                   size_t kindcap, uint16_t *ports, size_t cap, size_t *nports)
{
    sq_db *db = SQ(d);
    *has_telemetry = false;
    *nports = 0;
    kind[0] = '\0';
    sqlite3_stmt *q = db->st[S_DEV_LOAD];
    bt(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *has_telemetry = sqlite3_column_int64(q, 0) > 0;
        const char *k = (const char *)sqlite3_column_text(q, 1);
        /* Only a name the parser could have produced steers the rules. */
        if (k != NULL && strlen(k) < kindcap &&
            strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-") == strlen(k))
            snprintf(kind, kindcap, "%s", k);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_err(db, "read device");
    q = db->st[S_PORTS_LOAD];
    bt(q, 1, id);
    while (*nports < cap && sqlite3_step(q) == SQLITE_ROW) {
        int p = sqlite3_column_int(q, 0);
        if (p >= 1 && p <= 65535) ports[(*nports)++] = (uint16_t)p;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return HEARTH_OK;
}

/* The report's queries: every column as text (NULL kept). */
static hearth_status sq_query(fleet_db *d, const fleet_sql *sql, fleet_rows *out)
{
    sq_db *db = SQ(d);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db->h, sql->sqlite, -1, &q, NULL) != SQLITE_OK) return db_err(db, "query");
    size_t n = (size_t)sqlite3_column_count(q);
    const char *vals[32];
    if (n > 32) {
        sqlite3_finalize(q);
        return hearth_err(HEARTH_ERR_INTERNAL, "query of %zu columns", n);
    }
    int rc;
    hearth_status st = HEARTH_OK;
    while (st == HEARTH_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (size_t c = 0; c < n; c++) vals[c] = (const char *)sqlite3_column_text(q, (int)c);
        st = fleet_rows_add(out, vals, n);
    }
    if (st == HEARTH_OK && rc != SQLITE_DONE) st = db_err(db, "query");
    if (st == HEARTH_OK) out->ncols = n;
    sqlite3_finalize(q);
    return st;
}

static const fleet_store_ops SQLITE_OPS = {
    .query = sq_query,
    .name = "sqlite",
    .shared = false, /* one process: the rules keep their state in memory (anomaly.c) */
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .pending = sq_pending,
    .store = sq_store,
    .reject = sq_reject,
    .port_seen = sq_port_seen,
    .device_load = sq_device_load,
    .anomaly = sq_anomaly,
    .prune = sq_prune,
    .consent = fleet_sq_consent,
    .history = fleet_sq_history,
    .erase = fleet_sq_erase,
    .device_ids = fleet_sq_device_ids,
    .announced = fleet_sq_announced,
};
