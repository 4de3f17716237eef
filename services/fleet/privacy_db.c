/* The personal-data storage of hearth-fleet (erase.c decides, this file
 * stores; docs/fleet.md "Personal data and erasure"), in both dialects:
 * SQLite (db.c's file) and PostgreSQL (db_pg.c's database, shared by
 * several instances). Each operation is one transaction of its own:
 *  - a consent change, applied only when it is newer than the recorded one
 *    (the device's ts, then its seq: two instances may receive a device's
 *    consecutive changes in either order); a withdrawal deletes the
 *    purpose's data in the same transaction;
 *  - shared history, stored only while the consent is recorded (on
 *    PostgreSQL the consent row is locked FOR SHARE, so a withdrawal
 *    committed by another instance either comes first and refuses it, or
 *    waits and then deletes it);
 *  - an erasure, once per (device, request): the erasure row is claimed
 *    first (a unique key), so of two instances receiving the same request
 *    one deletes and the other gets the recorded receipt;
 *  - a factory reset (from the device's factory_reset event, in the ingest
 *    batch): the device changed hands, its earlier consents are withdrawn
 *    and their data deleted, once per reset_count.
 * On PostgreSQL every transaction that changes a device's data locks its
 * device row first, as the ingest batch does, so they cannot deadlock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"

#define HISTORY_RETAIN_S (30 * 86400) /* docs/privacy-notice.md */

/* ------------------------------------------------------------ SQLite */

typedef struct {
    const char *s; /* text, or NULL for an integer */
    int64_t i;
} sqv;
#define TX(x) ((sqv){(x), 0})
#define IN(x) ((sqv){NULL, (x)})

/* Run @p q with ?1..?n = v; *changes: rows changed; *text: the first
 * column of the first row (malloc'd), when asked. */
static hearth_status sq(sqlite3 *h, const char *q, const sqv *v, int n, int64_t *changes, char **text)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, q, -1, &st, NULL) != SQLITE_OK)
        return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    for (int k = 0; k < n; k++) {
        if (v[k].s != NULL)
            sqlite3_bind_text(st, k + 1, v[k].s, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(st, k + 1, v[k].i);
    }
    int rc = sqlite3_step(st);
    if (text != NULL) {
        *text = NULL;
        const char *t = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (t != NULL && (*text = strdup(t)) == NULL) {
            sqlite3_finalize(st);
            return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    if (changes != NULL) *changes = sqlite3_changes(h);
    return HEARTH_OK;
}

static hearth_status sq_exec(sqlite3 *h, const char *q) { return sq(h, q, NULL, 0, NULL, NULL); }

static hearth_status sq_end(sqlite3 *h, hearth_status st)
{
    if (st == HEARTH_OK) st = sq_exec(h, "COMMIT");
    if (st != HEARTH_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", hearth_err_msg());
        (void)sq_exec(h, "ROLLBACK");
        return hearth_err(st, "%s", msg);
    }
    return HEARTH_OK;
}

/* A purpose's data of a device: what a withdrawal deletes. */
static hearth_status sq_delete_purpose(sqlite3 *h, const char *id, const char *purpose, int64_t *rows)
{
    const sqv v[] = {TX(id)};
    int64_t a = 0, b = 0;
    if (strcmp(purpose, "temperature_history") == 0) {
        HEARTH_GUARD(sq(h, "DELETE FROM privacy_history WHERE device = ?1", v, 1, &a, NULL));
    } else { /* usage_telemetry: the "use" class of the stored reports */
        HEARTH_GUARD(sq(h, "UPDATE telemetry SET report = json_remove(report, '$.use') WHERE device = ?1"
                           " AND json_extract(report, '$.use') IS NOT NULL", v, 1, &a, NULL));
        HEARTH_GUARD(sq(h, "UPDATE devices SET telemetry = json_remove(telemetry, '$.use') WHERE id = ?1"
                           " AND json_extract(telemetry, '$.use') IS NOT NULL", v, 1, &b, NULL));
    }
    *rows += a + b;
    return HEARTH_OK;
}

hearth_status fleet_sq_consent(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                               int64_t seq, int64_t now, bool *applied, int64_t *deleted)
{
    sqlite3 *h = fleet_db_sqlite_handle(db);
    HEARTH_GUARD(sq_exec(h, "BEGIN IMMEDIATE"));
    const sqv v[] = {TX(id), TX(purpose), IN(granted ? 1 : 0), IN(now), IN(ts), IN(seq)};
    int64_t n = 0;
    hearth_status st = sq(h,
                          "INSERT INTO privacy_consents(device, purpose, granted, at, ts, seq)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(device, purpose) DO UPDATE SET"
                          " granted = ?3, at = ?4, ts = ?5, seq = ?6 WHERE ts IS NULL OR ?5 > ts"
                          " OR (?5 = ts AND ?6 > coalesce(seq, -1))",
                          v, 6, &n, NULL);
    *applied = n > 0;
    if (st == HEARTH_OK && *applied && !granted) st = sq_delete_purpose(h, id, purpose, deleted);
    return sq_end(h, st);
}

hearth_status fleet_sq_history(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                               int64_t now)
{
    sqlite3 *h = fleet_db_sqlite_handle(db);
    HEARTH_GUARD(sq_exec(h, "BEGIN IMMEDIATE"));
    const sqv v[] = {TX(id), TX(app), IN(now), IN(ts), TX(samples)};
    int64_t n = 0;
    hearth_status st = sq(h,
                          "INSERT INTO privacy_history(device, app, received, ts, samples)"
                          " SELECT ?1, ?2, ?3, ?4, json(?5) WHERE EXISTS(SELECT 1 FROM privacy_consents"
                          " WHERE device = ?1 AND purpose = 'temperature_history' AND granted = 1)",
                          v, 5, &n, NULL);
    if (st == HEARTH_OK && n == 0) st = hearth_err(HEARTH_ERR_FORBIDDEN, "history without consent on record");
    const sqv old[] = {TX(id), IN(now - HISTORY_RETAIN_S)};
    if (st == HEARTH_OK) st = sq(h, "DELETE FROM privacy_history WHERE device = ?1 AND received < ?2", old, 2, NULL, NULL);
    return sq_end(h, st);
}

/* The device row keeps its id, model, software and times (the receipt's "kept"). */
static const char SQ_ERASE_DEVICE[] =
    "UPDATE devices SET state = NULL, state_seq = NULL, state_at = NULL, telemetry = NULL,"
    " telemetry_seq = NULL, telemetry_at = NULL, telemetry_count = 0, events_count = 0 WHERE id = ?1";

/* What an erasure deletes (the order of erase.c's receipt). */
static const char *const SQ_ERASE[FLEET_ERASE_STEPS] = {
    "DELETE FROM privacy_history WHERE device = ?1",
    "DELETE FROM telemetry WHERE device = ?1",
    "DELETE FROM events WHERE device = ?1",
    "DELETE FROM cmd_results WHERE device = ?1",
    "DELETE FROM device_ports WHERE device = ?1",
    SQ_ERASE_DEVICE,
};

hearth_status fleet_sq_erase(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                             void *ctx, char **receipt, bool *again)
{
    sqlite3 *h = fleet_db_sqlite_handle(db);
    /* Deleted content overwritten, not only unlinked. */
    HEARTH_GUARD(sq_exec(h, "PRAGMA secure_delete = ON"));
    hearth_status st = sq_exec(h, "BEGIN IMMEDIATE");
    if (st != HEARTH_OK) {
        (void)sq_exec(h, "PRAGMA secure_delete = OFF");
        return st;
    }
    const sqv v[] = {TX(id), TX(reqid), IN(now)};
    int64_t n = 0;
    st = sq(h, "INSERT INTO privacy_erasures(device, request, received, receipt) VALUES(?1, ?2, ?3, '')"
               " ON CONFLICT(device, request) DO NOTHING", v, 3, &n, NULL);
    if (st == HEARTH_OK && n == 0) {
        *again = true;
        st = sq(h, "SELECT receipt FROM privacy_erasures WHERE device = ?1 AND request = ?2", v, 2, NULL, receipt);
        if (st == HEARTH_OK && (*receipt == NULL || (*receipt)[0] == '\0'))
            st = hearth_err(HEARTH_ERR_STATE, "erasure recorded without a receipt");
    } else {
        int64_t rows[FLEET_ERASE_STEPS] = {0};
        for (int k = 0; st == HEARTH_OK && k < FLEET_ERASE_STEPS; k++) st = sq(h, SQ_ERASE[k], v, 1, &rows[k], NULL);
        if (st == HEARTH_OK) st = build(ctx, rows, receipt);
        const sqv r[] = {TX(id), TX(reqid), TX(*receipt)};
        if (st == HEARTH_OK)
            st = sq(h, "UPDATE privacy_erasures SET receipt = ?3 WHERE device = ?1 AND request = ?2", r, 3, NULL, NULL);
    }
    st = sq_end(h, st);
    (void)sq_exec(h, "PRAGMA secure_delete = OFF");
    if (st != HEARTH_OK) {
        free(*receipt);
        *receipt = NULL;
    }
    return st;
}

hearth_status fleet_sq_reset(struct sqlite3 *h, const char *id, int64_t count, int64_t reset_at, int64_t now,
                             bool *acted)
{
    *acted = false;
    const sqv v[] = {TX(id), IN(count), IN(reset_at), IN(now)};
    int64_t n = 0;
    /* The latest report's "use" goes too when it was sent before the reset
     * (telemetry_seq is its report id, milliseconds of the device's clock). */
    HEARTH_GUARD(sq(h,
                    "UPDATE devices SET reset_count = ?2, reset_at = ?3, changed_hands_at = ?4,"
                    " telemetry = CASE WHEN telemetry_seq / 1000 < ?3 AND json_extract(telemetry, '$.use')"
                    " IS NOT NULL THEN json_remove(telemetry, '$.use') ELSE telemetry END"
                    " WHERE id = ?1 AND (reset_count IS NULL OR reset_count < ?2)",
                    v, 4, &n, NULL));
    if (n == 0) return HEARTH_OK; /* this reset (or a later one) was acted on already */
    *acted = true;
    /* Every consent the old owner gave is withdrawn; its time becomes the
     * reset's, so that a late change of the old owner's is older than it. */
    HEARTH_GUARD(sq(h,
                    "UPDATE privacy_consents SET granted = 0, at = ?4, ts = ?3, seq = NULL"
                    " WHERE device = ?1 AND (ts IS NULL OR ts < ?3) AND ?2 > 0",
                    v, 4, NULL, NULL));
    HEARTH_GUARD(sq(h, "DELETE FROM privacy_history WHERE device = ?1 AND ts < ?3 AND ?2 > 0", v, 3, NULL, NULL));
    return sq(h,
              "UPDATE telemetry SET report = json_remove(report, '$.use') WHERE device = ?1 AND ts < ?3"
              " AND json_extract(report, '$.use') IS NOT NULL AND ?2 > 0",
              v, 3, NULL, NULL);
}

/* ------------------------------------------------------------ PostgreSQL */

const char fleet_pg_reset_sql[] =
    "WITH d AS (UPDATE devices SET reset_count = $2::bigint, reset_at = $3::bigint,"
    " changed_hands_at = $4::bigint, telemetry = CASE WHEN telemetry_seq / 1000 < $3::bigint"
    " AND telemetry::jsonb ? 'use' THEN (telemetry::jsonb - 'use')::text ELSE telemetry END"
    " WHERE id = $1 AND (reset_count IS NULL OR reset_count < $2::bigint) RETURNING id),"
    " c AS (UPDATE privacy_consents SET granted = 0, at = $4::bigint, ts = $3::bigint, seq = NULL"
    " WHERE device IN (SELECT id FROM d) AND (ts IS NULL OR ts < $3::bigint) RETURNING 1),"
    " h AS (DELETE FROM privacy_history WHERE device IN (SELECT id FROM d) AND ts < $3::bigint RETURNING 1),"
    " t AS (UPDATE telemetry SET report = (report::jsonb - 'use')::text WHERE device IN (SELECT id FROM d)"
    " AND ts < $3::bigint AND report::jsonb ? 'use' RETURNING 1)"
    " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM c), (SELECT count(*) FROM h), (SELECT count(*) FROM t)";

/* One statement with text parameters (NULL = SQL NULL); *affected: rows
 * changed; *res: the result when asked (tuples). */
static hearth_status pq(PGconn *c, const char *q, int n, const char *const *v, int64_t *affected, PGresult **res)
{
    if (res != NULL) *res = NULL;
    if (c == NULL) return hearth_err(HEARTH_ERR_STATE, "database: no connection");
    PGresult *r = PQexecParams(c, q, n, NULL, v, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
        hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s", r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQclear(r);
        return st;
    }
    if (affected != NULL) {
        const char *t = PQcmdTuples(r);
        *affected = t != NULL && t[0] != '\0' ? strtoll(t, NULL, 10) : 0;
    }
    if (res != NULL)
        *res = r;
    else
        PQclear(r);
    return HEARTH_OK;
}

static hearth_status pq_exec(PGconn *c, const char *q) { return pq(c, q, 0, NULL, NULL, NULL); }

static hearth_status pq_end(PGconn *c, hearth_status st)
{
    if (st == HEARTH_OK) st = pq_exec(c, "COMMIT");
    if (st != HEARTH_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", hearth_err_msg());
        if (PQstatus(c) == CONNECTION_OK) (void)pq_exec(c, "ROLLBACK");
        return hearth_err(st, "%s", msg);
    }
    return HEARTH_OK;
}

typedef struct {
    char v[4][24];
} pnum;
static const char *pn(pnum *b, int i, int64_t x)
{
    snprintf(b->v[i], sizeof b->v[i], "%lld", (long long)x);
    return b->v[i];
}

/* The device row first (the ingest batch's lock order), then the rest. */
static hearth_status pq_begin_device(PGconn *c, const char *id)
{
    /* A lost connection fails this message; counting its rejection
     * (fleet_db_reject, then commit) reconnects the handle. */
    HEARTH_GUARD(pq_exec(c, "BEGIN"));
    const char *v[] = {id};
    return pq(c, "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", 1, v, NULL, NULL);
}

hearth_status fleet_pg_consent(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                               int64_t seq, int64_t now, bool *applied, int64_t *deleted)
{
    PGconn *c = fleet_db_pg_conn(db);
    hearth_status st = pq_begin_device(c, id);
    pnum b;
    const char *v[] = {id, purpose, granted ? "1" : "0", pn(&b, 0, now), pn(&b, 1, ts), pn(&b, 2, seq)};
    int64_t n = 0;
    if (st == HEARTH_OK)
        st = pq(c,
                "INSERT INTO privacy_consents AS p (device, purpose, granted, at, ts, seq)"
                " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (device, purpose) DO UPDATE SET"
                " granted = excluded.granted, at = excluded.at, ts = excluded.ts, seq = excluded.seq"
                " WHERE p.ts IS NULL OR excluded.ts > p.ts OR (excluded.ts = p.ts AND excluded.seq > coalesce(p.seq, -1))",
                6, v, &n, NULL);
    *applied = n > 0;
    if (st == HEARTH_OK && *applied && !granted) {
        int64_t a = 0, d = 0;
        if (strcmp(purpose, "temperature_history") == 0) {
            st = pq(c, "DELETE FROM privacy_history WHERE device = $1", 1, v, &a, NULL);
        } else {
            st = pq(c, "UPDATE telemetry SET report = (report::jsonb - 'use')::text WHERE device = $1"
                       " AND report::jsonb ? 'use'", 1, v, &a, NULL);
            if (st == HEARTH_OK)
                st = pq(c, "UPDATE devices SET telemetry = (telemetry::jsonb - 'use')::text WHERE id = $1"
                           " AND telemetry::jsonb ? 'use'", 1, v, &d, NULL);
        }
        *deleted = a + d;
    }
    return pq_end(c, st);
}

hearth_status fleet_pg_history(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                               int64_t now)
{
    PGconn *c = fleet_db_pg_conn(db);
    HEARTH_GUARD(pq_exec(c, "BEGIN"));
    /* FOR SHARE: a withdrawal by another instance waits for this insert
     * and then deletes it, or comes first and this sees it. */
    const char *v[] = {id};
    PGresult *r = NULL;
    hearth_status st = pq(c, "SELECT granted FROM privacy_consents WHERE device = $1"
                             " AND purpose = 'temperature_history' FOR SHARE", 1, v, NULL, &r);
    if (st == HEARTH_OK && !(PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "1") == 0))
        st = hearth_err(HEARTH_ERR_FORBIDDEN, "history without consent on record");
    PQclear(r);
    pnum b;
    const char *ins[] = {id, app, pn(&b, 0, now), pn(&b, 1, ts), samples};
    if (st == HEARTH_OK)
        st = pq(c, "INSERT INTO privacy_history(device, app, received, ts, samples) VALUES($1, $2, $3, $4, $5)", 5,
                ins, NULL, NULL);
    const char *old[] = {id, pn(&b, 2, now - HISTORY_RETAIN_S)};
    if (st == HEARTH_OK) st = pq(c, "DELETE FROM privacy_history WHERE device = $1 AND received < $2", 2, old, NULL, NULL);
    return pq_end(c, st);
}

static const char PG_ERASE_DEVICE[] =
    "UPDATE devices SET state = NULL, state_seq = NULL, state_at = NULL, telemetry = NULL,"
    " telemetry_seq = NULL, telemetry_at = NULL, telemetry_count = 0, events_count = 0 WHERE id = $1";

static const char *const PG_ERASE[FLEET_ERASE_STEPS] = {
    "DELETE FROM privacy_history WHERE device = $1",
    /* with the rules' copy of each report's counters */
    "WITH rc AS (DELETE FROM report_counters WHERE device = $1) DELETE FROM telemetry WHERE device = $1",
    "DELETE FROM events WHERE device = $1",
    "DELETE FROM cmd_results WHERE device = $1",
    "DELETE FROM device_ports WHERE device = $1",
    PG_ERASE_DEVICE,
};

hearth_status fleet_pg_erase(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                             void *ctx, char **receipt, bool *again)
{
    PGconn *c = fleet_db_pg_conn(db);
    hearth_status st = pq_begin_device(c, id);
    pnum b;
    const char *v[] = {id, reqid, pn(&b, 0, now)};
    int64_t n = 0;
    /* The claim: a second instance's insert waits for this transaction and
     * then inserts nothing. */
    if (st == HEARTH_OK)
        st = pq(c, "INSERT INTO privacy_erasures(device, request, received, receipt) VALUES($1, $2, $3, '')"
                   " ON CONFLICT (device, request) DO NOTHING", 3, v, &n, NULL);
    if (st == HEARTH_OK && n == 0) {
        *again = true;
        PGresult *r = NULL;
        st = pq(c, "SELECT receipt FROM privacy_erasures WHERE device = $1 AND request = $2", 2, v, NULL, &r);
        if (st == HEARTH_OK && (PQntuples(r) != 1 || PQgetvalue(r, 0, 0)[0] == '\0'))
            st = hearth_err(HEARTH_ERR_STATE, "erasure recorded without a receipt");
        if (st == HEARTH_OK && (*receipt = strdup(PQgetvalue(r, 0, 0))) == NULL)
            st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        PQclear(r);
    } else if (st == HEARTH_OK) {
        int64_t rows[FLEET_ERASE_STEPS] = {0};
        for (int k = 0; st == HEARTH_OK && k < FLEET_ERASE_STEPS; k++) st = pq(c, PG_ERASE[k], 1, v, &rows[k], NULL);
        if (st == HEARTH_OK) st = build(ctx, rows, receipt);
        const char *r[] = {id, reqid, *receipt};
        if (st == HEARTH_OK)
            st = pq(c, "UPDATE privacy_erasures SET receipt = $3 WHERE device = $1 AND request = $2", 3, r, NULL, NULL);
    }
    st = pq_end(c, st);
    if (st != HEARTH_OK) {
        free(*receipt);
        *receipt = NULL;
    }
    return st;
}
