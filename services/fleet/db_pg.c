/* The fleet database on PostgreSQL (docs/fleet.md, "Several instances"),
 * with libpq: what db.c does on SQLite, for several `run` instances that
 * share one database and split the broker's stream (MQTT 5 shared
 * subscriptions).
 *  - The same tables and meanings as db.c, plus what the rules need to be
 *    shared (device_counters, rule_windows, rule_hits); the schema version
 *    in fleet_schema, created under an advisory lock so two instances
 *    starting at once create it once; a newer version is refused.
 *  - Every statement prepared once per connection (and pipelined: a batch
 *    costs one round trip per 500 statements); parameters sent apart
 *    from the SQL (nothing a device sent is ever part of a statement's
 *    text); the values are the validated fleet_msg fields (message.c).
 *  - A redelivered message is stored once, whichever instance receives it:
 *    telemetry and events are unique by (device, ep, seq) (ep: the device's
 *    reset epoch, docs/mqtt.md) and inserted with ON CONFLICT DO NOTHING;
 *    the device's counts move only when the row was inserted, its last
 *    state and report only for a message of its current epoch.
 *  - Ingest is batched like SQLite's: fleet_db_store keeps a copy of the
 *    message, fleet_db_commit writes the batch in one transaction. The
 *    batch is written sorted by device id, so two instances lock device
 *    rows in the same order and do not deadlock each other; should
 *    PostgreSQL still abort it (deadlock, serialization failure, a
 *    connection lost and re-established), the whole batch is written again,
 *    up to 5 times.
 *  - The rules' state (anomaly.c, shared mode) goes through a second
 *    connection in transactions of their own (short row locks, never held
 *    across a batch), committed asynchronously (synchronous_commit off):
 *    the counters of each device's reports, the ports each device
 *    listens on, and each rule's window of devices (locked while a device
 *    is counted, so two instances raise an anomaly once). The loads,
 *    counters and ports of a group of messages go in one exchange
 *    (pg_rules_batch), not one round trip per message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "store.h"

#define BATCH_BYTES (16u << 20) /* copies kept for the open batch */
#define ATTEMPTS 5
#define EVIDENCE_LISTED 200
#define HITS_KEPT_S (31 * 86400) /* longest window (30 days) and a day */

static const char SCHEMA_V1[] =
    "CREATE TABLE fleet_schema(version integer NOT NULL);"
    "CREATE TABLE devices("
    " id text PRIMARY KEY, model text, sw text,"
    " first_seen bigint NOT NULL, last_seen bigint NOT NULL,"
    " online integer, status_at bigint,"
    " state text, state_seq bigint, state_at bigint,"
    " telemetry text, telemetry_seq bigint, telemetry_at bigint,"
    " telemetry_count bigint NOT NULL DEFAULT 0,"
    " events_count bigint NOT NULL DEFAULT 0,"
    " announced_version text, announced_at bigint, announced_delay_s bigint);"
    "CREATE TABLE telemetry(device text NOT NULL, received bigint NOT NULL, seq bigint,"
    " ts bigint, report text NOT NULL, UNIQUE(device, seq));"
    "CREATE INDEX telemetry_received ON telemetry(received);"
    "CREATE TABLE events(device text NOT NULL, received bigint NOT NULL, seq bigint,"
    " ts bigint, sev text NOT NULL, event text NOT NULL, detail text NOT NULL, UNIQUE(device, seq));"
    "CREATE INDEX events_received ON events(received);"
    "CREATE TABLE cmd_results(device text NOT NULL, reqid text NOT NULL, status integer NOT NULL,"
    " received bigint NOT NULL, reply text NOT NULL, PRIMARY KEY(device, reqid));"
    "CREATE TABLE device_ports(device text NOT NULL, port integer NOT NULL,"
    " first_seen bigint NOT NULL, PRIMARY KEY(device, port));"
    "CREATE TABLE anomalies(id bigserial PRIMARY KEY, rule text NOT NULL, key text NOT NULL,"
    " raised bigint NOT NULL, window_s integer NOT NULL, threshold integer NOT NULL,"
    " devices integer NOT NULL, evidence text NOT NULL);"
    "CREATE TABLE rejections(reason text PRIMARY KEY, count bigint NOT NULL, last_at bigint NOT NULL);"
    "CREATE TABLE announcements(id bigserial PRIMARY KEY, version text NOT NULL,"
    " created bigint NOT NULL, batch integer NOT NULL, spread_s integer NOT NULL,"
    " devices integer NOT NULL, batches integer NOT NULL);"
    /* the rules' shared state */
    "CREATE TABLE report_counters(device text NOT NULL, seq bigint NOT NULL, received bigint NOT NULL,"
    " lf bigint, uvf bigint, PRIMARY KEY(device, seq));"
    "CREATE INDEX report_counters_received ON report_counters(received);"
    "CREATE TABLE rule_windows(rule text NOT NULL, key text NOT NULL, epoch bigint NOT NULL,"
    " PRIMARY KEY(rule, key));"
    "CREATE TABLE rule_hits(rule text NOT NULL, key text NOT NULL, epoch bigint NOT NULL,"
    " device text NOT NULL, seq bigint, at bigint NOT NULL, what text NOT NULL,"
    " UNIQUE(rule, key, device, seq));"
    "CREATE INDEX rule_hits_window ON rule_hits(rule, key, epoch, at);"
    "CREATE INDEX rule_hits_device ON rule_hits(rule, key, device, at);"
    "INSERT INTO fleet_schema(version) VALUES(1);";

/* Version 2 (db.c's SCHEMA_V2): the personal-data tables, an erasure once
 * per (device, request), events unique by (device, seq, ts) (docs/mqtt.md,
 * "At-least-once"), the device's change of hands. */
static const char SCHEMA_V2[] =
    "CREATE TABLE privacy_consents(device text NOT NULL, purpose text NOT NULL, granted integer NOT NULL,"
    " at bigint NOT NULL, ts bigint, seq bigint, PRIMARY KEY(device, purpose));"
    "CREATE TABLE privacy_history(device text NOT NULL, received bigint NOT NULL, ts bigint NOT NULL,"
    " app text NOT NULL, samples text NOT NULL);"
    "CREATE INDEX privacy_history_device ON privacy_history(device, received);"
    "CREATE TABLE privacy_erasures(device text NOT NULL, request text NOT NULL, received bigint NOT NULL,"
    " receipt text NOT NULL, PRIMARY KEY(device, request));"
    "ALTER TABLE events DROP CONSTRAINT events_device_seq_key;"
    "ALTER TABLE events ADD CONSTRAINT events_message UNIQUE(device, seq, ts);"
    "ALTER TABLE devices ADD COLUMN reset_count bigint, ADD COLUMN reset_at bigint,"
    " ADD COLUMN changed_hands_at bigint;"
    "UPDATE fleet_schema SET version = 2;";

/* Version 3 (db.c's SCHEMA_V3): a device's messages ordered by its reset
 * epoch and seq. Telemetry and events unique by (device, ep, seq) (events'
 * (device, seq, ts) goes); the rules' counters keyed and compared by
 * (device, ep, seq), a hit counted once per (rule, key, device, ep, seq);
 * the device row keeps the epoch of its last state and report. Existing
 * rows get ep 0, except events sharing a (device, seq) with an earlier one
 * (a reused seq: only a reset does that), which get 1, 2, ... in ts order
 * so that every row is kept under the new key. */
static const char SCHEMA_V3[] =
    "ALTER TABLE telemetry ADD COLUMN ep bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE telemetry DROP CONSTRAINT telemetry_device_seq_key;"
    "ALTER TABLE telemetry ADD CONSTRAINT telemetry_message UNIQUE(device, ep, seq);"
    "ALTER TABLE events ADD COLUMN ep bigint NOT NULL DEFAULT 0;"
    "UPDATE events e SET ep = r.n FROM (SELECT ctid AS id, row_number() OVER"
    " (PARTITION BY device, seq ORDER BY ts, received) - 1 AS n FROM events) r WHERE e.ctid = r.id AND r.n > 0;"
    "ALTER TABLE events DROP CONSTRAINT events_message;"
    "ALTER TABLE events ADD CONSTRAINT events_message UNIQUE(device, ep, seq);"
    "ALTER TABLE devices ADD COLUMN state_ep bigint, ADD COLUMN telemetry_ep bigint;"
    "ALTER TABLE report_counters ADD COLUMN ep bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE report_counters DROP CONSTRAINT report_counters_pkey;"
    "ALTER TABLE report_counters ADD PRIMARY KEY(device, ep, seq);"
    "ALTER TABLE rule_hits ADD COLUMN ep bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE rule_hits DROP CONSTRAINT rule_hits_rule_key_device_seq_key;"
    "ALTER TABLE rule_hits ADD CONSTRAINT rule_hits_message UNIQUE(rule, key, device, ep, seq);"
    "UPDATE fleet_schema SET version = 3;";

/* A message of an older epoch than the device's recorded reset or its last
 * state or report is history (stored in its table), not the device's
 * current state: these guard the device row's columns. */
#define TEL_CURRENT "excluded.telemetry_ep >= coalesce(d.reset_count, 0) AND excluded.telemetry_ep >= coalesce(d.telemetry_ep, 0)"
#define STATE_CURRENT "excluded.state_ep >= coalesce(d.reset_count, 0) AND excluded.state_ep >= coalesce(d.state_ep, 0)"

/* ------------------------------------------------------------ statements */

enum { P_TEL, P_EVT, P_STATE, P_STATUS, P_CMDRES, P_REJECT, P_RESET, P_COUNT };
enum {
    R_PORT,
    R_DEV_LOAD,
    R_PORTS_LOAD,
    R_COUNTERS,
    R_NEIGHBOURS,
    R_ANOMALY,
    R_WIN_ENSURE,
    R_WIN_LOCK,
    R_HIT_INS,
    R_HIT_COUNT,
    R_WIN_NEXT,
    R_B_LOAD,
    R_B_COUNTERS,
    R_B_PORTS,
    R_B_NEIGHBOURS,
    R_COUNT
};

static const char *const PSQL[P_COUNT] = {
    /* $1 device $2 received $3 seq $4 ts $5 report $6 ep */
    [P_TEL] = ("WITH ins AS (INSERT INTO telemetry(device, received, seq, ts, report, ep)"
              " VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (device, ep, seq) DO NOTHING RETURNING 1)"
              " INSERT INTO devices AS d (id, first_seen, last_seen, telemetry, telemetry_seq, telemetry_ep,"
              " telemetry_at, telemetry_count) SELECT $1, $2, $2, $5, $3, $6, $2, 1 FROM ins"
              " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen,"
              " telemetry = CASE WHEN " TEL_CURRENT " THEN excluded.telemetry ELSE d.telemetry END,"
              " telemetry_seq = CASE WHEN " TEL_CURRENT " THEN excluded.telemetry_seq ELSE d.telemetry_seq END,"
              " telemetry_at = CASE WHEN " TEL_CURRENT " THEN excluded.telemetry_at ELSE d.telemetry_at END,"
              " telemetry_ep = CASE WHEN " TEL_CURRENT " THEN excluded.telemetry_ep ELSE d.telemetry_ep END,"
              " telemetry_count = d.telemetry_count + 1"),
    /* $1 device $2 received $3 seq $4 ts $5 sev $6 event $7 detail $8 ep */
    [P_EVT] = ("WITH ins AS (INSERT INTO events(device, received, seq, ts, sev, event, detail, ep)"
              " VALUES($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (device, ep, seq) DO NOTHING RETURNING 1)"
              " INSERT INTO devices AS d (id, first_seen, last_seen, events_count)"
              " SELECT $1, $2, $2, 1 FROM ins"
              " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen,"
              " events_count = d.events_count + 1"),
    /* $1 device $2 state $3 seq $4 received $5 sw $6 model $7 ep */
    [P_STATE] = ("INSERT INTO devices AS d (id, first_seen, last_seen, state, state_seq, state_at, sw, model, state_ep)"
                " VALUES($1, $4, $4, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET"
                " last_seen = excluded.last_seen,"
                " state = CASE WHEN " STATE_CURRENT " THEN excluded.state ELSE d.state END,"
                " state_seq = CASE WHEN " STATE_CURRENT " THEN excluded.state_seq ELSE d.state_seq END,"
                " state_at = CASE WHEN " STATE_CURRENT " THEN excluded.state_at ELSE d.state_at END,"
                " sw = CASE WHEN " STATE_CURRENT " THEN excluded.sw ELSE d.sw END,"
                " model = CASE WHEN " STATE_CURRENT " THEN coalesce(excluded.model, d.model) ELSE d.model END,"
                " state_ep = CASE WHEN " STATE_CURRENT " THEN excluded.state_ep ELSE d.state_ep END"),
    /* $1 device $2 online $3 received */
    [P_STATUS] = ("INSERT INTO devices AS d (id, first_seen, last_seen, online, status_at)"
                 " VALUES($1, $3, $3, $2, $3) ON CONFLICT (id) DO UPDATE SET"
                 " last_seen = excluded.last_seen, online = excluded.online, status_at = excluded.status_at"),
    /* $1 device $2 reqid $3 status $4 received $5 reply */
    [P_CMDRES] = ("WITH up AS (INSERT INTO cmd_results(device, reqid, status, received, reply)"
                 " VALUES($1, $2, $3, $4, $5) ON CONFLICT (device, reqid) DO UPDATE SET"
                 " status = excluded.status, received = excluded.received, reply = excluded.reply RETURNING 1)"
                 " INSERT INTO devices AS d (id, first_seen, last_seen) SELECT $1, $4, $4 FROM up"
                 " ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen"),
    /* $1 reason $2 at */
    [P_REJECT] = ("INSERT INTO rejections AS r (reason, count, last_at) VALUES($1, 1, $2)"
                 " ON CONFLICT (reason) DO UPDATE SET count = r.count + 1, last_at = excluded.last_at"),
    /* $1 device $2 reset_count $3 reset_at $4 received (privacy_db.c) */
    [P_RESET] = fleet_pg_reset_sql,
};

/* The next report's counters and seq when of epoch @p ep, and 1 when it is
 * of a later epoch (the report is older than the device's reset). */
#define NEXT_COLS(ep)                                                                                      \
    "CASE WHEN n.ep = " ep " THEN n.lf END, CASE WHEN n.ep = " ep " THEN n.uvf END,"                       \
    " CASE WHEN n.ep = " ep " THEN n.seq END, CASE WHEN n.ep > " ep " THEN 1 ELSE 0 END"

static const char *const RSQL[R_COUNT] = {
    [R_PORT] = ("INSERT INTO device_ports(device, port, first_seen) VALUES($1, $2, $3)"
               " ON CONFLICT DO NOTHING"),
    [R_DEV_LOAD] = ("SELECT telemetry_count, model FROM devices WHERE id = $1"),
    [R_PORTS_LOAD] = ("SELECT port FROM device_ports WHERE device = $1 ORDER BY port LIMIT 64"),
    /* $1 device $2 ep $3 seq $4 received $5 lf $6 uvf; a redelivery inserts nothing */
    [R_COUNTERS] = ("INSERT INTO report_counters(device, ep, seq, received, lf, uvf) VALUES($1, $2, $3, $4, $5, $6)"
                   " ON CONFLICT DO NOTHING"),
    /* $1 device $2 ep $3 seq: the reports just before and after by (ep, seq),
     * their counters only when of the same epoch (a reset restarts them),
     * and whether the next is of a later epoch */
    [R_NEIGHBOURS] = ("SELECT p.lf, p.uvf, " NEXT_COLS("$2::bigint") " FROM (SELECT 1) x"
                     " LEFT JOIN LATERAL (SELECT ep, lf, uvf FROM report_counters WHERE device = $1"
                     " AND (ep, seq) < ($2::bigint, $3::bigint) ORDER BY ep DESC, seq DESC LIMIT 1) p ON p.ep = $2::bigint"
                     " LEFT JOIN LATERAL (SELECT ep, lf, uvf, seq FROM report_counters WHERE device = $1"
                     " AND (ep, seq) > ($2::bigint, $3::bigint) ORDER BY ep, seq LIMIT 1) n ON true"),
    [R_ANOMALY] = ("INSERT INTO anomalies(rule, key, raised, window_s, threshold, devices, evidence)"
                  " VALUES($1, $2, $3, $4, $5, $6, $7)"),
    [R_WIN_ENSURE] = ("INSERT INTO rule_windows(rule, key, epoch) VALUES($1, $2, 0) ON CONFLICT DO NOTHING"),
    [R_WIN_LOCK] = ("SELECT epoch FROM rule_windows WHERE rule = $1 AND key = $2 FOR UPDATE"),
    /* $1 rule $2 key $3 epoch (the window's) $4 device $5 seq $6 at $7 what
     * $8 ep (the device's reset epoch) */
    [R_HIT_INS] = ("INSERT INTO rule_hits(rule, key, epoch, device, seq, at, what, ep)"
                  " VALUES($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (rule, key, device, ep, seq) DO NOTHING"),
    /* the distinct devices of the window (epoch $3, after $4) that were not
     * counted already in an earlier window within the same period */
    [R_HIT_COUNT] = ("SELECT h.device, min(h.at), min(h.what) FROM rule_hits h"
                    " WHERE h.rule = $1 AND h.key = $2 AND h.epoch = $3 AND h.at > $4"
                    " AND NOT EXISTS (SELECT 1 FROM rule_hits p WHERE p.rule = $1 AND p.key = $2"
                    " AND p.device = h.device AND p.epoch < $3 AND p.at > $4)"
                    " GROUP BY h.device ORDER BY 2, 1 LIMIT 4096"),
    [R_WIN_NEXT] = ("UPDATE rule_windows SET epoch = epoch + 1 WHERE rule = $1 AND key = $2"),
    /* A group of messages at once (fleet_db_rules_batch): the arrays'
     * elements are validated ids and integers. $1 ids */
    [R_B_LOAD] = ("SELECT u.i, d.telemetry_count, d.model, (SELECT string_agg(p.port::text, ',' ORDER BY p.port)"
                 " FROM (SELECT port FROM device_ports WHERE device = u.id ORDER BY port LIMIT 64) p)"
                 " FROM unnest($1::text[]) WITH ORDINALITY AS u(id, i) LEFT JOIN devices d ON d.id = u.id"),
    /* $1 devices $2 seqs $3 received $4 lfs $5 uvfs $6 eps; a redelivery inserts nothing */
    [R_B_COUNTERS] = ("INSERT INTO report_counters(device, ep, seq, received, lf, uvf)"
                     " SELECT u.d, u.e, u.s, $3::bigint, u.l, u.f"
                     " FROM unnest($1::text[], $2::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS u(d, s, l, f, e)"
                     " ON CONFLICT DO NOTHING RETURNING device, ep, seq"),
    /* $1 devices $2 ports $3 first seen */
    [R_B_PORTS] = ("INSERT INTO device_ports(device, port, first_seen) SELECT u.d, u.p, $3::bigint"
                  " FROM unnest($1::text[], $2::integer[]) AS u(d, p) ON CONFLICT DO NOTHING RETURNING device, port"),
    /* $1 devices $2 seqs $3 eps: as R_NEIGHBOURS */
    [R_B_NEIGHBOURS] = ("SELECT u.i, p.lf, p.uvf, " NEXT_COLS("u.e")
                       " FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS u(d, s, e, i)"
                       " LEFT JOIN LATERAL (SELECT ep, lf, uvf FROM report_counters WHERE device = u.d"
                       " AND (ep, seq) < (u.e, u.s) ORDER BY ep DESC, seq DESC LIMIT 1) p ON p.ep = u.e"
                       " LEFT JOIN LATERAL (SELECT ep, lf, uvf, seq FROM report_counters WHERE device = u.d"
                       " AND (ep, seq) > (u.e, u.s) ORDER BY ep, seq LIMIT 1) n ON true"),
};

/* ------------------------------------------------------------ the handle */

typedef struct {
    int kind;          /* fleet_kind, or -1: a rejection (reason in json) */
    size_t order;      /* arrival order, kept within a device */
    char id[FLEET_ID_MAX + 1];
    int64_t seq, ts, now, ep;
    char sw[FLEET_SW_MAX + 1], model[FLEET_MODEL_MAX + 1];
    char event[FLEET_EVENT_MAX + 1], sev[16], reqid[FLEET_REQID_MAX + 1];
    int status;
    bool online;
    int64_t reset_count, reset_at;
    char *json;
} pg_item;

typedef struct {
    fleet_db base; /* store.h: the operations */
    char *url;
    PGconn *c;     /* ingest: the batches */
    PGconn *r;     /* the rules: short transactions of their own */
    pg_item *batch;
    size_t n, cap, bytes;
    char sqlstate[6];
} pg_db;

static const fleet_store_ops PG_OPS;
/* An integer column (row @p r, column @p c): -1 when NULL or not a
 * non-negative decimal (every integer column here is >= 0). */
static int64_t ival(const PGresult *res, int r, int c)
{
    if (PQgetisnull(res, r, c)) return -1;
    const char *v = PQgetvalue(res, r, c);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < 0) return -1;
    return (int64_t)x;
}

static pg_db *PG(fleet_db *d) { return (pg_db *)(void *)d; }
static const pg_db *PGC(const fleet_db *d) { return (const pg_db *)(const void *)d; }

/* Run a prepared statement (@p name) with text parameters (NULL = SQL
 * NULL). On failure the SQLSTATE is kept for the retry decision. */
static hearth_status px(pg_db *db, PGconn *c, const char *name, int n, const char *const *v, PGresult **out)
{
    if (out != NULL) *out = NULL;
    PGresult *res = PQexecPrepared(c, name, n, v, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(res);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return HEARTH_OK;
    }
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", ss != NULL ? ss : "");
    hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s: %s", name,
                                  res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(c));
    PQclear(res);
    return st;
}

static hearth_status pexec(pg_db *db, PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType es = PQresultStatus(res);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        PQclear(res);
        return HEARTH_OK;
    }
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", ss != NULL ? ss : "");
    hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    PQclear(res);
    return st;
}

static hearth_status prepare(pg_db *db, PGconn *c, char prefix, const char *const *sql, int n)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "%c%d", prefix, i);
        PGresult *res = PQprepare(c, name, sql[i], 0, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) {
            hearth_status st = hearth_err(HEARTH_ERR_IO, "database: prepare %s: %s", name, PQerrorMessage(c));
            PQclear(res);
            (void)db;
            return st;
        }
        PQclear(res);
    }
    return HEARTH_OK;
}

static const char *pname(char prefix, int i)
{
    static const char names[2][R_COUNT][4] = {
        {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14"},
        {"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14"},
    };
    return names[prefix == 'r'][i];
}

static hearth_status schema(pg_db *db);

static hearth_status connect_one(pg_db *db, PGconn **c, bool rules)
{
    if (*c != NULL) PQfinish(*c);
    *c = PQconnectdb(db->url);
    if (PQstatus(*c) != CONNECTION_OK)
        return hearth_err(HEARTH_ERR_IO, "database: cannot connect: %s", PQerrorMessage(*c));
    if (PQsetClientEncoding(*c, "UTF8") != 0)
        return hearth_err(HEARTH_ERR_IO, "database: cannot use UTF-8: %s", PQerrorMessage(*c));
    /* A fixed search path: nothing in the database chooses which table a
     * statement means. */
    HEARTH_GUARD(pexec(db, *c, "SET search_path = public, pg_catalog"));
    if (rules) {
        /* The rules' state: a crash of the database server may lose its
         * last fraction of a second (a counter, a port, a hit), never
         * corrupt it; one fsync per report would cost the ingest rate. */
        HEARTH_GUARD(pexec(db, *c, "SET synchronous_commit = off"));
        return prepare(db, *c, 'r', RSQL, R_COUNT);
    }
    /* The schema is created or checked before the statements that use it. */
    HEARTH_GUARD(schema(db));
    return prepare(db, *c, 'p', PSQL, P_COUNT);
}

static hearth_status schema(pg_db *db)
{
    PGconn *c = db->c;
    HEARTH_GUARD(pexec(db, c, "BEGIN"));
    hearth_status st = pexec(db, c, "SELECT pg_advisory_xact_lock(4851726301)"); /* one creator at a time */
    int v = -1;
    if (st == HEARTH_OK) {
        PGresult *res = PQexec(c, "SELECT to_regclass('public.fleet_schema') IS NOT NULL");
        bool exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                      strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        if (PQresultStatus(res) != PGRES_TUPLES_OK) st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
        PQclear(res);
        if (st == HEARTH_OK && exists) {
            res = PQexec(c, "SELECT max(version) FROM fleet_schema");
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && ival(res, 0, 0) >= 0)
                v = ival(res, 0, 0) > 1000 ? 1000 : (int)ival(res, 0, 0);
            else
                st = hearth_err(HEARTH_ERR_IO, "database: no schema version: %s", PQerrorMessage(c));
            PQclear(res);
        } else if (st == HEARTH_OK) {
            st = pexec(db, c, SCHEMA_V1);
            v = 1;
        }
        /* one step per version, in the same locked transaction */
        if (st == HEARTH_OK && v == 1) {
            st = pexec(db, c, SCHEMA_V2);
            v = 2;
        }
        if (st == HEARTH_OK && v == 2) {
            st = pexec(db, c, SCHEMA_V3);
            v = 3;
        }
    }
    if (st == HEARTH_OK && v > FLEET_DB_SCHEMA_VERSION)
        st = hearth_err(HEARTH_ERR_UNSUPPORTED, "database schema %d is newer than this hearth-fleet (%d)", v,
                        FLEET_DB_SCHEMA_VERSION);
    else if (st == HEARTH_OK && v < 1)
        st = hearth_err(HEARTH_ERR_INVALID, "database: schema version %d", v);
    if (st != HEARTH_OK) {
        hearth_status keep = st;
        (void)pexec(db, c, "ROLLBACK");
        return keep;
    }
    return pexec(db, c, "COMMIT");
}

static void pg_close(fleet_db *d);
static hearth_status pg_commit(fleet_db *d);

/* The report's connection: a read-only session on an existing schema. */
static hearth_status connect_ro(pg_db *db)
{
    PGconn *c = db->c = PQconnectdb(db->url);
    if (PQstatus(c) != CONNECTION_OK)
        return hearth_err(HEARTH_ERR_IO, "database: cannot connect: %s", PQerrorMessage(c));
    if (PQsetClientEncoding(c, "UTF8") != 0)
        return hearth_err(HEARTH_ERR_IO, "database: cannot use UTF-8: %s", PQerrorMessage(c));
    HEARTH_GUARD(pexec(db, c, "SET search_path = public, pg_catalog"));
    HEARTH_GUARD(pexec(db, c, "SET default_transaction_read_only = on"));
    PGresult *res = PQexec(c, "SELECT CASE WHEN to_regclass('public.fleet_schema') IS NULL THEN -1 ELSE 0 END");
    bool exists = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") == 0;
    PQclear(res);
    if (!exists) return hearth_err(HEARTH_ERR_NOT_FOUND, "not a fleet database (no schema)");
    res = PQexec(c, "SELECT max(version) FROM fleet_schema");
    int64_t v = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ? ival(res, 0, 0) : -1;
    PQclear(res);
    if (v < 1) return hearth_err(HEARTH_ERR_INVALID, "database: no schema version");
    if (v > FLEET_DB_SCHEMA_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "database schema %lld is newer than this hearth-fleet (%d)",
                          (long long)v, FLEET_DB_SCHEMA_VERSION);
    return HEARTH_OK;
}

hearth_status fleet_db_open_pg(const char *url, bool readonly, fleet_db **out)
{
    *out = NULL;
    /* No password on the command line (every user of the machine can read
     * it): peer or certificate authentication, or PGPASSFILE. */
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (opts == NULL) {
        hearth_status st = hearth_err(HEARTH_ERR_INVALID, "--db: not a PostgreSQL URI: %s",
                                      err != NULL ? err : "out of memory");
        PQfreemem(err);
        return st;
    }
    bool has_password = false;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0') has_password = true;
    PQconninfoFree(opts);
    if (has_password)
        return hearth_err(HEARTH_ERR_INVALID,
                          "--db: a password in the URI is visible to every user of the machine; use peer or "
                          "certificate authentication or a PGPASSFILE");
    pg_db *db = calloc(1, sizeof *db);
    if (db == NULL || (db->url = strdup(url)) == NULL) {
        free(db);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    db->base.ops = &PG_OPS;
    hearth_status st = readonly ? connect_ro(db) : connect_one(db, &db->c, false);
    if (st == HEARTH_OK && !readonly) st = connect_one(db, &db->r, true);
    if (st != HEARTH_OK) {
        pg_close(&db->base);
        return st;
    }
    *out = &db->base;
    return HEARTH_OK;
}

static void items_free(pg_db *db)
{
    for (size_t i = 0; i < db->n; i++) free(db->batch[i].json);
    db->n = 0;
    db->bytes = 0;
}

static void pg_close(fleet_db *d)
{
    pg_db *db = PG(d);
    if (db == NULL) return;
    if (db->n > 0 && db->c != NULL && pg_commit(d) != HEARTH_OK)
        fprintf(stderr, "hearth-fleet: the last batch was not stored: %s\n", hearth_err_msg());
    items_free(db);
    free(db->batch);
    if (db->c != NULL) PQfinish(db->c);
    if (db->r != NULL) PQfinish(db->r);
    free(db->url);
    free(db);
}

/* ------------------------------------------------------------ ingest */

static hearth_status pg_begin(fleet_db *d)
{
    (void)d; /* the batch is written at commit */
    return HEARTH_OK;
}

static size_t pg_pending(const fleet_db *d)
{
    const pg_db *db = PGC(d);
    /* The copies are bounded too: past BATCH_BYTES the writer commits now. */
    return db->bytes >= BATCH_BYTES ? (size_t)-1 : db->n;
}

static hearth_status add(pg_db *db, pg_item **out)
{
    if (db->n == db->cap) {
        size_t cap = db->cap != 0 ? db->cap * 2 : 1024;
        pg_item *b = realloc(db->batch, cap * sizeof *b);
        if (b == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        db->batch = b;
        db->cap = cap;
    }
    pg_item *it = &db->batch[db->n];
    memset(it, 0, sizeof *it);
    it->order = db->n;
    *out = it;
    return HEARTH_OK;
}

static hearth_status pg_store(fleet_db *d, const fleet_msg *m, int64_t now)
{
    pg_db *db = PG(d);
    if ((unsigned)m->kind >= FLEET_T_COUNT) return hearth_err(HEARTH_ERR_INTERNAL, "unknown message kind");
    pg_item *it = NULL;
    HEARTH_GUARD(add(db, &it));
    if ((it->json = strdup(m->json != NULL ? m->json : "")) == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    it->kind = (int)m->kind;
    memcpy(it->id, m->id, sizeof it->id);
    it->seq = m->seq, it->ts = m->ts, it->now = now, it->ep = m->ep;
    memcpy(it->sw, m->sw, sizeof it->sw);
    memcpy(it->model, m->model, sizeof it->model);
    memcpy(it->event, m->event, sizeof it->event);
    memcpy(it->sev, m->sev, sizeof it->sev);
    memcpy(it->reqid, m->reqid, sizeof it->reqid);
    it->status = m->status;
    it->online = m->online;
    it->reset_count = m->reset_count, it->reset_at = m->reset_at;
    db->n++;
    db->bytes += strlen(it->json) + sizeof *it;
    return HEARTH_OK;
}

static hearth_status pg_reject(fleet_db *d, const char *reason, int64_t now)
{
    pg_db *db = PG(d);
    pg_item *it = NULL;
    HEARTH_GUARD(add(db, &it));
    if ((it->json = strdup(reason)) == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    it->kind = -1;
    it->now = now;
    db->n++;
    db->bytes += strlen(it->json) + sizeof *it;
    return HEARTH_OK;
}

/* Device rows first, in id order, then the rejection counters in reason
 * order: every instance takes its row locks in the same order. */
static int item_cmp(const void *pa, const void *pb)
{
    const pg_item *a = pa, *b = pb;
    if ((a->kind < 0) != (b->kind < 0)) return a->kind < 0 ? 1 : -1;
    int c = a->kind < 0 ? strcmp(a->json, b->json) : strcmp(a->id, b->id);
    if (c != 0) return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

typedef struct {
    char v[8][24];
} numbuf;

/* An integer parameter: NULL when < 0 (absent), like db.c. */
static const char *num(numbuf *nb, int i, int64_t v)
{
    if (v < 0) return NULL;
    snprintf(nb->v[i], sizeof nb->v[i], "%lld", (long long)v);
    return nb->v[i];
}

static const char *txt(const char *s) { return s != NULL && s[0] != '\0' ? s : NULL; }

/* Queue one item's statements on the ingest connection's pipeline: how
 * many (0 on failure). */
static int send_one(pg_db *db, const pg_item *it)
{
    numbuf nb;
    PGconn *c = db->c;
    switch (it->kind) {
    case -1: {
        const char *v[] = {it->json, num(&nb, 0, it->now)};
        return PQsendQueryPrepared(c, pname('p', P_REJECT), 2, v, NULL, NULL, 0) == 1 ? 1 : 0;
    }
    case FLEET_T_TELEMETRY: {
        const char *v[] = {it->id,   num(&nb, 0, it->now), num(&nb, 1, it->seq), num(&nb, 2, it->ts),
                           it->json, num(&nb, 6, it->ep)};
        return PQsendQueryPrepared(c, pname('p', P_TEL), 6, v, NULL, NULL, 0) == 1 ? 1 : 0;
    }
    case FLEET_T_EVENTS: {
        const char *v[] = {it->id,      num(&nb, 0, it->now), num(&nb, 1, it->seq), num(&nb, 2, it->ts),
                           txt(it->sev), txt(it->event),      it->json,             num(&nb, 6, it->ep)};
        if (PQsendQueryPrepared(c, pname('p', P_EVT), 8, v, NULL, NULL, 0) != 1) return 0;
        if (it->reset_count <= 0) return 1;
        /* a factory reset: the device changed hands (docs/erasure.md) */
        const char *r[] = {it->id, num(&nb, 3, it->reset_count), num(&nb, 4, it->reset_at), num(&nb, 5, it->now)};
        return PQsendQueryPrepared(c, pname('p', P_RESET), 4, r, NULL, NULL, 0) == 1 ? 2 : 0;
    }
    case FLEET_T_STATE: {
        const char *v[] = {it->id,      it->json,        num(&nb, 0, it->seq), num(&nb, 1, it->now),
                           txt(it->sw), txt(it->model), num(&nb, 6, it->ep)};
        return PQsendQueryPrepared(c, pname('p', P_STATE), 7, v, NULL, NULL, 0) == 1 ? 1 : 0;
    }
    case FLEET_T_STATUS: {
        const char *v[] = {it->id, it->online ? "1" : "0", num(&nb, 0, it->now)};
        return PQsendQueryPrepared(c, pname('p', P_STATUS), 3, v, NULL, NULL, 0) == 1 ? 1 : 0;
    }
    case FLEET_T_CMDRES: {
        const char *v[] = {it->id, it->reqid, num(&nb, 0, it->status), num(&nb, 1, it->now), it->json};
        return PQsendQueryPrepared(c, pname('p', P_CMDRES), 5, v, NULL, NULL, 0) == 1 ? 1 : 0;
    }
    default: return 0;
    }
}

/* One result of a pipeline: its status; the first failure of the
 * exchange goes to *@p st (and its SQLSTATE to db->sqlstate). */
static ExecStatusType pipe_note(pg_db *db, const PGresult *r, hearth_status *st)
{
    ExecStatusType es = PQresultStatus(r);
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK && *st == HEARTH_OK) {
        const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(db->sqlstate, sizeof db->sqlstate, "%s", ss != NULL ? ss : "");
        *st = hearth_err(HEARTH_ERR_IO, "database: %s",
                         es == PGRES_PIPELINE_ABORTED ? "pipeline aborted" : PQresultErrorMessage(r));
    }
    return es;
}

/* The sync that ends a pipeline segment; its absence is a failure. */
static void pipe_sync(PGconn *c, hearth_status *st)
{
    PGresult *r = PQgetResult(c);
    if ((r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) && *st == HEARTH_OK)
        *st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    PQclear(r);
}

/* Read the results of @p nq pipelined statements and of the sync after
 * them; the first failure (and its SQLSTATE) is returned. */
static hearth_status pipe_read(pg_db *db, PGconn *c, size_t nq, PGresult **last)
{
    hearth_status st = HEARTH_OK;
    if (last != NULL) *last = NULL;
    for (size_t i = 0; i < nq; i++) {
        PGresult *res;
        while ((res = PQgetResult(c)) != NULL) {
            ExecStatusType es = pipe_note(db, res, &st);
            if (last != NULL && i + 1 == nq && *last == NULL && es == PGRES_TUPLES_OK)
                *last = res;
            else
                PQclear(res);
        }
    }
    pipe_sync(c, &st);
    return st;
}

#define PIPE_CHUNK 500 /* statements sent before their results are read */

/* The batch in one transaction, its statements pipelined (one round trip
 * per PIPE_CHUNK statements, not one per message); the results are read
 * every chunk so neither side's socket buffer fills. */
static hearth_status write_batch(pg_db *db)
{
    PGconn *c = db->c;
    if (PQenterPipelineMode(c) != 1) return hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    hearth_status st = HEARTH_OK;
    size_t i = 0;
    bool first = true;
    while (st == HEARTH_OK && (first || i < db->n)) {
        size_t nq = 0;
        bool ok = true;
        if (first) {
            ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
            nq++;
            first = false;
        }
        for (size_t k = 0; ok && k < PIPE_CHUNK && i < db->n; k++, i++) {
            int sent = send_one(db, &db->batch[i]);
            ok = sent > 0;
            nq += (size_t)sent;
        }
        if (ok && i == db->n) {
            ok = PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
            nq++;
        }
        if (!ok || PQpipelineSync(c) != 1) {
            st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
            break;
        }
        st = pipe_read(db, c, nq, NULL);
    }
    (void)PQexitPipelineMode(c);
    if (st != HEARTH_OK) {
        char keep[sizeof db->sqlstate];
        memcpy(keep, db->sqlstate, sizeof keep);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", hearth_err_msg());
        if (PQstatus(c) == CONNECTION_OK) (void)pexec(db, c, "ROLLBACK");
        memcpy(db->sqlstate, keep, sizeof keep);
        return hearth_err(HEARTH_ERR_IO, "%s", msg);
    }
    return HEARTH_OK;
}

static bool retryable(const pg_db *db)
{
    /* deadlock detected, serialization failure, or the connection is gone
     * (server restart, network): the batch is written again whole */
    return strcmp(db->sqlstate, "40P01") == 0 || strcmp(db->sqlstate, "40001") == 0 ||
           PQstatus(db->c) != CONNECTION_OK;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static hearth_status pg_commit(fleet_db *d)
{
    pg_db *db = PG(d);
    if (db->n == 0) return HEARTH_OK;
    qsort(db->batch, db->n, sizeof *db->batch, item_cmp);
    hearth_status st = HEARTH_OK;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        db->sqlstate[0] = '\0';
        if (PQstatus(db->c) != CONNECTION_OK) {
            st = connect_one(db, &db->c, false);
            if (st != HEARTH_OK) {
                nap_ms(200L << attempt);
                continue;
            }
        }
        st = write_batch(db);
        if (st == HEARTH_OK || !retryable(db)) break;
        fprintf(stderr, "hearth-fleet: batch of %zu aborted (%s), writing it again\n", db->n,
                db->sqlstate[0] != '\0' ? db->sqlstate : "connection lost");
        nap_ms(10L << attempt);
    }
    items_free(db);
    return st;
}

static hearth_status pg_prune(fleet_db *d, int64_t before)
{
    pg_db *db = PG(d);
    HEARTH_GUARD(pg_commit(d));
    char sql[256];
    snprintf(sql, sizeof sql,
             "DELETE FROM telemetry WHERE received < %lld; DELETE FROM events WHERE received < %lld;"
             " DELETE FROM report_counters WHERE received < %lld; DELETE FROM rule_hits WHERE at < %lld",
             (long long)before, (long long)before, (long long)before,
             (long long)(hearth_time_now() - HITS_KEPT_S));
    return pexec(db, db->c, sql);
}

/* ------------------------------------------------------------ the rules' state */

/* A statement on the rules' connection, re-established once if it was lost. */
static hearth_status rx(pg_db *db, int which, int n, const char *const *v, PGresult **out)
{
    hearth_status st = px(db, db->r, pname('r', which), n, v, out);
    if (st == HEARTH_OK || PQstatus(db->r) == CONNECTION_OK) return st;
    HEARTH_GUARD(connect_one(db, &db->r, true));
    return px(db, db->r, pname('r', which), n, v, out);
}

static hearth_status pg_port_seen(fleet_db *d, const char *id, unsigned port, int64_t now, bool *is_new)
{
    pg_db *db = PG(d);
    numbuf nb;
    const char *v[] = {id, num(&nb, 0, port), num(&nb, 1, now)};
    PGresult *res = NULL;
    *is_new = false;
    HEARTH_GUARD(rx(db, R_PORT, 3, v, &res));
    *is_new = strcmp(PQcmdTuples(res), "1") == 0; /* inserted: nobody had seen it */
    PQclear(res);
    return HEARTH_OK;
}

static hearth_status pg_device_load(fleet_db *d, const char *id, bool *has_telemetry, char *kind,
                                    size_t kindcap, uint16_t *ports, size_t cap, size_t *nports)
{
    pg_db *db = PG(d);
    *has_telemetry = false;
    *nports = 0;
    kind[0] = '\0';
    const char *v[] = {id};
    PGresult *res = NULL;
    HEARTH_GUARD(rx(db, R_DEV_LOAD, 1, v, &res));
    if (PQntuples(res) == 1) {
        *has_telemetry = ival(res, 0, 0) > 0;
        const char *k = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
        /* Only a name the parser could have produced steers the rules. */
        if (k != NULL && strlen(k) < kindcap &&
            strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-") == strlen(k))
            snprintf(kind, kindcap, "%s", k);
    }
    PQclear(res);
    HEARTH_GUARD(rx(db, R_PORTS_LOAD, 1, v, &res));
    for (int i = 0; i < PQntuples(res) && *nports < cap; i++) {
        int64_t p = ival(res, i, 0);
        if (p >= 1 && p <= 65535) ports[(*nports)++] = (uint16_t)p;
    }
    PQclear(res);
    /* Ports recorded by another instance's first report are a baseline
     * too: its telemetry count may still be in that instance's open batch. */
    if (*nports > 0) *has_telemetry = true;
    return HEARTH_OK;
}

static hearth_status pg_counters(fleet_db *d, const char *id, int64_t ep, int64_t seq, int64_t lf, int64_t uvf,
                                 fleet_counters *out)
{
    pg_db *db = PG(d);
    *out = (fleet_counters){-1, -1, -1, -1, -1, false};
    if (seq < 0 || (lf < 0 && uvf < 0)) return HEARTH_OK;
    numbuf nb;
    const char *v[] = {id,           num(&nb, 4, ep), num(&nb, 0, seq), num(&nb, 1, hearth_time_now()),
                       num(&nb, 2, lf), num(&nb, 3, uvf)};
    /* One round trip: the insert is committed at the first sync, before
     * the neighbours are read, so of two instances recording a device's
     * consecutive reports at once at least one sees the other's. */
    if (PQstatus(db->r) != CONNECTION_OK) HEARTH_GUARD(connect_one(db, &db->r, true));
    PGconn *c = db->r;
    if (PQenterPipelineMode(c) != 1) return hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    hearth_status st = HEARTH_OK;
    PGresult *ins = NULL, *nb_res = NULL;
    if (PQsendQueryPrepared(c, pname('r', R_COUNTERS), 6, v, NULL, NULL, 0) != 1 || PQpipelineSync(c) != 1 ||
        PQsendQueryPrepared(c, pname('r', R_NEIGHBOURS), 3, v, NULL, NULL, 0) != 1 || PQpipelineSync(c) != 1)
        st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    /* the insert's command result is not a tuple set: read its count apart */
    if (st == HEARTH_OK) {
        ins = PQgetResult(c);
        if (PQresultStatus(ins) != PGRES_COMMAND_OK)
            st = hearth_err(HEARTH_ERR_IO, "database: counters: %s", PQresultErrorMessage(ins));
        PGresult *rest;
        while ((rest = PQgetResult(c)) != NULL) PQclear(rest);
        rest = PQgetResult(c); /* the first sync */
        if (PQresultStatus(rest) != PGRES_PIPELINE_SYNC && st == HEARTH_OK)
            st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
        PQclear(rest);
        hearth_status st2 = pipe_read(db, c, 1, &nb_res);
        if (st == HEARTH_OK) st = st2;
    }
    (void)PQexitPipelineMode(c);
    if (st == HEARTH_OK && strcmp(PQcmdTuples(ins), "1") == 0 && nb_res != NULL && PQntuples(nb_res) == 1) {
        out->prev_lf = ival(nb_res, 0, 0), out->prev_uvf = ival(nb_res, 0, 1);
        out->next_lf = ival(nb_res, 0, 2), out->next_uvf = ival(nb_res, 0, 3), out->next_seq = ival(nb_res, 0, 4);
        out->later_epoch = ival(nb_res, 0, 5) == 1;
    }
    PQclear(ins);
    PQclear(nb_res);
    return st;
}

static hearth_status pg_anomaly(fleet_db *d, const char *rule, const char *key, int64_t now, unsigned window_s,
                                unsigned threshold, unsigned devices, const char *evidence_json)
{
    pg_db *db = PG(d);
    numbuf nb;
    const char *v[] = {rule,
                       key,
                       num(&nb, 0, now),
                       num(&nb, 1, window_s),
                       num(&nb, 2, threshold),
                       num(&nb, 3, devices),
                       evidence_json};
    return rx(db, R_ANOMALY, 7, v, NULL);
}

static hearth_status hit_tx(pg_db *db, const fleet_rule_hit *h, bool *raised)
{
    numbuf nb;
    const char *key2[] = {h->rule, h->key};
    HEARTH_GUARD(px(db, db->r, pname('r', R_WIN_ENSURE), 2, key2, NULL));
    PGresult *res = NULL;
    HEARTH_GUARD(px(db, db->r, pname('r', R_WIN_LOCK), 2, key2, &res));
    if (PQntuples(res) != 1) {
        PQclear(res);
        return hearth_err(HEARTH_ERR_IO, "database: rule window missing");
    }
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *ins[] = {h->rule,          h->key,   epoch, h->device, num(&nb, 0, h->seq), num(&nb, 1, h->now),
                         h->what, num(&nb, 3, h->ep)};
    HEARTH_GUARD(px(db, db->r, pname('r', R_HIT_INS), 8, ins, &res));
    bool counted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!counted) return HEARTH_OK; /* this message was counted already (a redelivery) */
    const char *cnt[] = {h->rule, h->key, epoch, num(&nb, 2, h->now - (int64_t)h->window_s)};
    HEARTH_GUARD(px(db, db->r, pname('r', R_HIT_COUNT), 4, cnt, &res));
    int n = PQntuples(res);
    hearth_status st = HEARTH_OK;
    if (n >= 0 && (unsigned)n >= h->threshold) {
        fleet_buf ev;
        fleet_buf_init(&ev, 64u * 1024u);
        fleet_buf_str(&ev, "[");
        for (int i = 0; i < n && i < EVIDENCE_LISTED; i++) {
            fleet_buf_str(&ev, i == 0 ? "{\"device\":" : ",{\"device\":");
            fleet_buf_json_str(&ev, PQgetvalue(res, i, 0));
            fleet_buf_printf(&ev, ",\"at\":%lld,\"what\":", (long long)ival(res, i, 1));
            fleet_buf_json_str(&ev, PQgetvalue(res, i, 2));
            fleet_buf_str(&ev, "}");
        }
        fleet_buf_str(&ev, "]");
        if (ev.failed) {
            st = hearth_err(HEARTH_ERR_NOMEM, "evidence too large");
        } else {
            const char *an[] = {h->rule,
                                h->key,
                                num(&nb, 3, h->now),
                                num(&nb, 4, h->window_s),
                                num(&nb, 5, h->threshold),
                                num(&nb, 6, n),
                                ev.p};
            st = px(db, db->r, pname('r', R_ANOMALY), 7, an, NULL);
            /* the window starts afresh: the next anomaly needs new evidence */
            if (st == HEARTH_OK) st = px(db, db->r, pname('r', R_WIN_NEXT), 2, key2, NULL);
            if (st == HEARTH_OK) *raised = true;
        }
        fleet_buf_free(&ev);
    }
    PQclear(res);
    return st;
}

static hearth_status pg_rule_hit(fleet_db *d, const fleet_rule_hit *h, bool *raised)
{
    pg_db *db = PG(d);
    *raised = false;
    hearth_status st = HEARTH_OK;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        db->sqlstate[0] = '\0';
        if (PQstatus(db->r) != CONNECTION_OK) HEARTH_GUARD(connect_one(db, &db->r, true));
        st = pexec(db, db->r, "BEGIN");
        if (st == HEARTH_OK) st = hit_tx(db, h, raised);
        if (st == HEARTH_OK) st = pexec(db, db->r, "COMMIT");
        if (st == HEARTH_OK) return HEARTH_OK;
        *raised = false;
        char keep[sizeof db->sqlstate];
        memcpy(keep, db->sqlstate, sizeof keep);
        if (PQstatus(db->r) == CONNECTION_OK) (void)pexec(db, db->r, "ROLLBACK");
        bool again = strcmp(keep, "40P01") == 0 || strcmp(keep, "40001") == 0 ||
                     strcmp(keep, "23505") == 0 || PQstatus(db->r) != CONNECTION_OK;
        if (!again) break;
        nap_ms(5L << attempt);
    }
    return st;
}

/* ------------------------------------------------------------ a group at once */

/* One row of the counters' or the ports' arrays, sorted by device then key
 * so that instances take their index locks in the same order. */
typedef struct {
    const char *id;
    int64_t ep;  /* the report's epoch (0 for a port) */
    int64_t key; /* seq or port */
    size_t item;
} brow;

static int brow_cmp(const void *pa, const void *pb)
{
    const brow *a = pa, *b = pb;
    int c = strcmp(a->id, b->id);
    if (c != 0) return c;
    if (a->ep != b->ep) return a->ep < b->ep ? -1 : 1;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->item < b->item ? -1 : a->item > b->item;
}

/* An array literal's element: ids are [A-Za-z0-9_-] (topic.c), checked
 * again here since they are quoted into the literal. */
static bool id_ok(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= FLEET_ID_MAX &&
           strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void arr_open(fleet_buf *b) { fleet_buf_str(b, "{"); }
static void arr_id(fleet_buf *b, bool first, const char *id) { fleet_buf_printf(b, "%s\"%s\"", first ? "" : ",", id); }
static void arr_int(fleet_buf *b, bool first, int64_t v)
{
    if (v < 0)
        fleet_buf_printf(b, "%sNULL", first ? "" : ",");
    else
        fleet_buf_printf(b, "%s%lld", first ? "" : ",", (long long)v);
}

#define B_MAX 16 /* statement results kept by one exchange */

/* Read @p nseg segments of pipelined statements, each ended by a sync:
 * seg[s] statements, their first results kept in res[] in order. */
static hearth_status pipe_collect(pg_db *db, PGconn *c, const int *seg, int nseg, PGresult **res)
{
    hearth_status st = HEARTH_OK;
    int k = 0;
    for (int s = 0; s < nseg; s++) {
        for (int q = 0; q < seg[s]; q++, k++) {
            PGresult *r;
            res[k] = NULL;
            while ((r = PQgetResult(c)) != NULL) {
                (void)pipe_note(db, r, &st);
                if (res[k] == NULL)
                    res[k] = r;
                else
                    PQclear(r);
            }
        }
        pipe_sync(c, &st);
    }
    return st;
}

typedef struct {
    brow *cnt, *port;
    size_t ncnt, nport;
    size_t *load; /* items to load, in order */
    size_t nload;
    fleet_buf a[9]; /* load ids; counters: ids seqs lfs uvfs; ports: ids ports; counters: eps; - */
} bplan;

static hearth_status plan_build(bplan *p, const fleet_rules_item *items, size_t n)
{
    size_t nports = 0;
    for (size_t i = 0; i < n; i++) {
        if (!id_ok(items[i].id)) return hearth_err(HEARTH_ERR_INVALID, "database: not a device id");
        nports += items[i].nports;
    }
    p->cnt = calloc(n + 1, sizeof *p->cnt);
    p->port = calloc(nports + 1, sizeof *p->port);
    p->load = calloc(n + 1, sizeof *p->load);
    for (int k = 0; k < 9; k++) fleet_buf_init(&p->a[k], 4u << 20);
    if (p->cnt == NULL || p->port == NULL || p->load == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const fleet_rules_item *it = &items[i];
        if (it->load) p->load[p->nload++] = i;
        if (it->seq >= 0 && (it->lf >= 0 || it->uvf >= 0)) p->cnt[p->ncnt++] = (brow){it->id, it->ep, it->seq, i};
        for (size_t j = 0; j < it->nports; j++) p->port[p->nport++] = (brow){it->id, 0, it->ports[j], i};
    }
    qsort(p->cnt, p->ncnt, sizeof *p->cnt, brow_cmp);
    qsort(p->port, p->nport, sizeof *p->port, brow_cmp);
    for (int k = 0; k < 9; k++) arr_open(&p->a[k]);
    for (size_t i = 0; i < p->nload; i++) arr_id(&p->a[0], i == 0, items[p->load[i]].id);
    for (size_t i = 0; i < p->ncnt; i++) {
        const fleet_rules_item *it = &items[p->cnt[i].item];
        arr_id(&p->a[1], i == 0, it->id);
        arr_int(&p->a[2], i == 0, it->seq);
        arr_int(&p->a[3], i == 0, it->lf);
        arr_int(&p->a[4], i == 0, it->uvf);
        arr_int(&p->a[7], i == 0, it->ep);
    }
    for (size_t i = 0; i < p->nport; i++) {
        arr_id(&p->a[5], i == 0, p->port[i].id);
        arr_int(&p->a[6], i == 0, p->port[i].key);
    }
    bool failed = false;
    for (int k = 0; k < 9; k++) {
        fleet_buf_str(&p->a[k], "}");
        failed = failed || p->a[k].failed;
    }
    return failed ? hearth_err(HEARTH_ERR_NOMEM, "database: group too large") : HEARTH_OK;
}

static void plan_free(bplan *p)
{
    free(p->cnt);
    free(p->port);
    free(p->load);
    for (int k = 0; k < 9; k++) fleet_buf_free(&p->a[k]);
}

static void apply_load(fleet_rules_item *items, const bplan *p, const PGresult *res)
{
    for (int r = 0; r < PQntuples(res); r++) {
        int64_t ord = ival(res, r, 0);
        if (ord < 1 || (uint64_t)ord > p->nload) continue;
        fleet_rules_item *it = &items[p->load[ord - 1]];
        it->has_telemetry = ival(res, r, 1) > 0;
        const char *k = PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2);
        /* Only a name the parser could have produced steers the rules. */
        if (k != NULL && strlen(k) < sizeof it->kind &&
            strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-") == strlen(k))
            snprintf(it->kind, sizeof it->kind, "%s", k);
        const char *ports = PQgetisnull(res, r, 3) ? "" : PQgetvalue(res, r, 3);
        while (*ports != '\0' && it->nknown < FLEET_PORTS_MAX) {
            char *end = NULL;
            errno = 0;
            long v = strtol(ports, &end, 10);
            if (errno != 0 || end == ports || (*end != ',' && *end != '\0')) break;
            if (v >= 1 && v <= 65535) it->known[it->nknown++] = (uint16_t)v;
            ports = *end == ',' ? end + 1 : end;
        }
        /* as pg_device_load: another instance's first report's ports are a baseline */
        if (it->nknown > 0) it->has_telemetry = true;
    }
}

static void apply_counters(fleet_rules_item *items, const bplan *p, const PGresult *ins, const PGresult *nbr,
                           bool *inserted)
{
    /* which rows this call inserted: the first of equal (device, ep, seq) */
    for (int r = 0; r < PQntuples(ins); r++) {
        const char *id = PQgetvalue(ins, r, 0);
        int64_t ep = ival(ins, r, 1), seq = ival(ins, r, 2);
        for (size_t i = 0; i < p->ncnt; i++)
            if (p->cnt[i].key == seq && p->cnt[i].ep == ep && strcmp(p->cnt[i].id, id) == 0) {
                inserted[i] = true;
                break;
            }
    }
    for (int r = 0; r < PQntuples(nbr); r++) {
        int64_t ord = ival(nbr, r, 0);
        if (ord < 1 || (uint64_t)ord > p->ncnt || !inserted[ord - 1]) continue;
        fleet_counters *c = &items[p->cnt[ord - 1].item].c;
        c->prev_lf = ival(nbr, r, 1), c->prev_uvf = ival(nbr, r, 2);
        c->next_lf = ival(nbr, r, 3), c->next_uvf = ival(nbr, r, 4), c->next_seq = ival(nbr, r, 5);
        c->later_epoch = ival(nbr, r, 6) == 1;
    }
}

static void apply_ports(fleet_rules_item *items, size_t n, const PGresult *res)
{
    /* a port inserted is new for the first item (in order) that lists it */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        int64_t port = ival(res, r, 1);
        bool done = false;
        for (size_t i = 0; i < n && !done; i++) {
            if (strcmp(items[i].id, id) != 0) continue;
            for (size_t j = 0; j < items[i].nports && j < 64 && !done; j++)
                if (items[i].ports[j] == port) {
                    items[i].new_ports |= 1ull << j;
                    done = true;
                }
        }
    }
}

/* The exchange: [load] [counters] [ports] sync [neighbours] sync, sent at
 * once; the counters and ports are committed at the first sync, before the
 * neighbours are read. */
static hearth_status batch_once(pg_db *db, fleet_rules_item *items, size_t n, const bplan *p, int64_t now)
{
    PGconn *c = db->r;
    numbuf nb;
    const char *when = num(&nb, 0, now);
    if (PQenterPipelineMode(c) != 1) return hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    int seg[2] = {0, 0}, which[B_MAX];
    bool ok = true;
    if (p->nload > 0) {
        const char *v[] = {p->a[0].p};
        ok = ok && PQsendQueryPrepared(c, pname('r', R_B_LOAD), 1, v, NULL, NULL, 0) == 1;
        which[seg[0]++] = R_B_LOAD;
    }
    if (p->ncnt > 0) {
        const char *v[] = {p->a[1].p, p->a[2].p, when, p->a[3].p, p->a[4].p, p->a[7].p};
        ok = ok && PQsendQueryPrepared(c, pname('r', R_B_COUNTERS), 6, v, NULL, NULL, 0) == 1;
        which[seg[0]++] = R_B_COUNTERS;
    }
    if (p->nport > 0) {
        const char *v[] = {p->a[5].p, p->a[6].p, when};
        ok = ok && PQsendQueryPrepared(c, pname('r', R_B_PORTS), 3, v, NULL, NULL, 0) == 1;
        which[seg[0]++] = R_B_PORTS;
    }
    ok = ok && PQpipelineSync(c) == 1;
    if (p->ncnt > 0) {
        const char *v[] = {p->a[1].p, p->a[2].p, p->a[7].p};
        ok = ok && PQsendQueryPrepared(c, pname('r', R_B_NEIGHBOURS), 3, v, NULL, NULL, 0) == 1;
        which[seg[0] + seg[1]++] = R_B_NEIGHBOURS;
        ok = ok && PQpipelineSync(c) == 1;
    }
    PGresult *res[B_MAX] = {0};
    hearth_status st = ok ? pipe_collect(db, c, seg, seg[1] > 0 ? 2 : 1, res)
                          : hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(c));
    (void)PQexitPipelineMode(c);
    if (st == HEARTH_OK) {
        const PGresult *ins = NULL, *nbr = NULL;
        for (int k = 0; k < seg[0] + seg[1]; k++) {
            if (which[k] == R_B_LOAD) apply_load(items, p, res[k]);
            if (which[k] == R_B_PORTS) apply_ports(items, n, res[k]);
            if (which[k] == R_B_COUNTERS) ins = res[k];
            if (which[k] == R_B_NEIGHBOURS) nbr = res[k];
        }
        if (ins != NULL && nbr != NULL) {
            bool *inserted = calloc(p->ncnt, sizeof *inserted);
            if (inserted == NULL)
                st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
            else
                apply_counters(items, p, ins, nbr, inserted);
            free(inserted);
        }
    }
    for (int k = 0; k < B_MAX; k++) PQclear(res[k]);
    return st;
}

static hearth_status pg_rules_batch(fleet_db *d, fleet_rules_item *items, size_t n, int64_t now)
{
    pg_db *db = PG(d);
    if (n == 0) return HEARTH_OK;
    bplan p = {0};
    hearth_status st = plan_build(&p, items, n);
    for (int attempt = 0; st == HEARTH_OK && attempt < ATTEMPTS; attempt++) {
        db->sqlstate[0] = '\0';
        if (PQstatus(db->r) != CONNECTION_OK) {
            st = connect_one(db, &db->r, true);
            if (st != HEARTH_OK) break;
        }
        fleet_rules_items_reset(items, n); /* a retry starts from nothing */
        st = batch_once(db, items, n, &p, now);
        if (st == HEARTH_OK) break;
        bool again = strcmp(db->sqlstate, "40P01") == 0 || strcmp(db->sqlstate, "40001") == 0 ||
                     PQstatus(db->r) != CONNECTION_OK;
        if (!again || attempt + 1 == ATTEMPTS) break;
        st = HEARTH_OK;
        nap_ms(5L << attempt);
    }
    plan_free(&p);
    return st;
}

/* The report's queries (text results; no parameters). */
static hearth_status pg_query(fleet_db *d, const fleet_sql *sql, fleet_rows *out)
{
    pg_db *db = PG(d);
    PGresult *res = PQexec(db->c, sql->pg);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s", PQerrorMessage(db->c));
        PQclear(res);
        return st;
    }
    size_t n = (size_t)PQnfields(res);
    const char *vals[32];
    hearth_status st = n <= 32 ? HEARTH_OK : hearth_err(HEARTH_ERR_INTERNAL, "query of %zu columns", n);
    for (int r = 0; st == HEARTH_OK && r < PQntuples(res); r++) {
        for (size_t c = 0; c < n; c++) vals[c] = PQgetisnull(res, r, (int)c) ? NULL : PQgetvalue(res, r, (int)c);
        st = fleet_rows_add(out, vals, n);
    }
    if (st == HEARTH_OK) out->ncols = n;
    PQclear(res);
    return st;
}

struct pg_conn *fleet_db_pg_conn(fleet_db *d)
{
    return d != NULL && d->ops == &PG_OPS ? PG(d)->c : NULL;
}

static const fleet_store_ops PG_OPS = {
    .query = pg_query,
    .name = "postgresql",
    .shared = true,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .pending = pg_pending,
    .store = pg_store,
    .reject = pg_reject,
    .port_seen = pg_port_seen,
    .device_load = pg_device_load,
    .anomaly = pg_anomaly,
    .prune = pg_prune,
    .counters = pg_counters,
    .rule_hit = pg_rule_hit,
    .rules_batch = pg_rules_batch,
    .consent = fleet_pg_consent,
    .history = fleet_pg_history,
    .erase = fleet_pg_erase,
    .device_ids = fleet_pg_device_ids,
    .announced = fleet_pg_announced,
};
