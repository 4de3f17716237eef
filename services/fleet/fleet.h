/* Internal interfaces of hearth-fleet (docs/fleet.md). One concern per file:
 * topic.c / message.c validate what arrives from the broker, store.c the
 * storage (db.c SQLite, db_pg.c PostgreSQL), anomaly.c the fleet rules, report.c the JSON and HTML report,
 * cmd_*.c the subcommands. */
#ifndef HEARTH_FLEET_H
#define HEARTH_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/common.h"

/* ------------------------------------------------------------ topics */

#define FLEET_ID_MAX 64       /* device id: 1..64 of [A-Za-z0-9_-] */
#define FLEET_TOPIC_MAX 128   /* longest topic accepted */
#define FLEET_PORTS_MAX 64    /* listening ports per report */
#define FLEET_MODEL_MAX 32
#define FLEET_SW_MAX 32
#define FLEET_EVENT_MAX 64
#define FLEET_REQID_MAX 64
#define FLEET_EP_MAX 4294967295.0 /* largest reset epoch ("ep") accepted */

/** What a device publishes (BRIEF topics, docs/fleet.md). */
typedef enum {
    FLEET_T_STATE = 0,
    FLEET_T_TELEMETRY,
    FLEET_T_EVENTS,
    FLEET_T_STATUS,
    FLEET_T_CMDRES,
    FLEET_T_COUNT
} fleet_kind;

/** The topic filters the service subscribes to, one per kind. */
extern const char *const fleet_subscriptions[FLEET_T_COUNT];
/** A kind's name as stored ("state", "telemetry", ...). */
const char *fleet_kind_name(fleet_kind k);
/** Largest payload accepted for a kind, bytes. */
size_t fleet_payload_max(fleet_kind k);

/** true if @p s[0..len) is a valid device id (1..64 of [A-Za-z0-9_-]). */
bool fleet_id_valid(const char *s, size_t len);

/**
 * Split hearth/<id>/<kind> into the device id and the kind. Anything else
 * (wildcards, other prefixes, extra levels, an id outside the charset such
 * as "a+b") is HEARTH_ERR_INVALID.
 */
hearth_status fleet_topic_parse(const char *topic, char id[FLEET_ID_MAX + 1],
                                fleet_kind *kind) HEARTH_MUST_CHECK;

/* ------------------------------------------------------------ messages */

/** One validated message. Strings are NUL-terminated copies. */
typedef struct {
    fleet_kind kind;
    char id[FLEET_ID_MAX + 1];
    int64_t seq, ts;          /* -1 when the kind has none */
    /* the device's reset epoch ("ep": its reset count when it queued the
     * message, 0 when absent): a device's messages are ordered by (ep, seq) */
    int64_t ep;
    /* state */
    char sw[FLEET_SW_MAX + 1];
    /* state: the device's kind, its applications' names joined by '+' */
    char model[FLEET_MODEL_MAX + 1];
    /* telemetry */
    uint16_t tcp_ports[FLEET_PORTS_MAX];
    size_t n_tcp_ports;
    int64_t failed_logins;    /* -1 when absent */
    int64_t update_failures;  /* -1 when absent */
    /* events */
    char event[FLEET_EVENT_MAX + 1];
    char sev[16];
    /* events: factory_reset's reset_count and reset_at (-1 otherwise) */
    int64_t reset_count, reset_at;
    /* status */
    bool online;
    /* cmd/res */
    char reqid[FLEET_REQID_MAX + 1];
    int status;
    /* the validated payload as stored: the received bytes after every check
     * passed, or re-serialised when a personal field was dropped
     * (rewritten); cJSON_malloc'd, free with fleet_msg_clear() */
    char *json;
    bool rewritten;
} fleet_msg;

/**
 * Validate @p payload (@p len bytes, untrusted) as a message of kind
 * @p kind from device @p id and fill @p out. Rejects oversized payloads,
 * invalid UTF-8, NUL bytes, bad JSON, nesting deeper than 6, duplicate keys,
 * a missing or wrong "v", wrong types and out-of-range values, with a short
 * reason in @p err. Nothing is kept on failure.
 */
hearth_status fleet_msg_parse(fleet_kind kind, const char *id, const void *payload, size_t len,
                              fleet_msg *out, char *err, size_t errcap) HEARTH_MUST_CHECK;
void fleet_msg_clear(fleet_msg *m);

/* ------------------------------------------------------------ storage */

typedef struct fleet_db fleet_db;

#define FLEET_DB_SCHEMA_VERSION 3

/** true if @p where names a PostgreSQL database (postgresql:// or postgres://). */
bool fleet_db_is_url(const char *where);
/**
 * Open the database @p where names (store.c). A path: the SQLite file
 * (db.c), created if needed: WAL, a busy timeout, the schema created or
 * checked (a newer schema is refused), all statements prepared; @p readonly
 * opens an existing one for reading. A postgresql:// URI: PostgreSQL
 * (db_pg.c), for `run` only (@p readonly is refused: the report and
 * announce read SQLite).
 */
hearth_status fleet_db_open(const char *where, bool readonly, fleet_db **out) HEARTH_MUST_CHECK;
void fleet_db_close(fleet_db *db);
/** The SQLite handle, for the report's and announce's queries (NULL for PostgreSQL). */
struct sqlite3 *fleet_db_handle(fleet_db *db);
/** "sqlite" or "postgresql". */
const char *fleet_db_backend(const fleet_db *db);
/** true when the rules' state lives in the database (PostgreSQL), so that
 *  several `run` instances sharing it count a device once wherever its
 *  messages land. */
bool fleet_db_shared(const fleet_db *db);

/** Begin a batch if none is open (ingest is batched into transactions). */
hearth_status fleet_db_begin(fleet_db *db) HEARTH_MUST_CHECK;
/** Commit the open batch, if any. */
hearth_status fleet_db_commit(fleet_db *db) HEARTH_MUST_CHECK;
/** Messages stored in the open batch. */
size_t fleet_db_pending(const fleet_db *db);

/** Store one validated message (inside the open batch). @p now: receive time. */
hearth_status fleet_db_store(fleet_db *db, const fleet_msg *m, int64_t now) HEARTH_MUST_CHECK;
/** Count a rejected message by reason (bounded table). */
hearth_status fleet_db_reject(fleet_db *db, const char *reason, int64_t now) HEARTH_MUST_CHECK;
/** Record that @p id listens on TCP @p port; *is_new = first time seen. */
hearth_status fleet_db_port_seen(fleet_db *db, const char *id, unsigned port, int64_t now,
                                 bool *is_new) HEARTH_MUST_CHECK;
/** What the database knows of a device the process has not seen yet. */
hearth_status fleet_db_device_load(fleet_db *db, const char *id, bool *has_telemetry, char *kind,
                                   size_t kindcap, uint16_t *ports, size_t cap,
                                   size_t *nports) HEARTH_MUST_CHECK;
/** Record an anomaly with its evidence (a JSON array). */
hearth_status fleet_db_anomaly(fleet_db *db, const char *rule, const char *key, int64_t now,
                               unsigned window_s, unsigned threshold, unsigned devices,
                               const char *evidence_json) HEARTH_MUST_CHECK;
/** Delete telemetry and events received before @p before. */
hearth_status fleet_db_prune(fleet_db *db, int64_t before) HEARTH_MUST_CHECK;

/* Personal data (erase.c; privacy_db.c holds both dialects): each call is
 * one transaction of its own, on a handle that holds no open batch. */

/**
 * Record device @p id's consent change for @p purpose (the device's @p ts
 * and @p seq order the changes: an older one than the recorded one changes
 * nothing, *applied false). A withdrawal deletes the purpose's data in the
 * same transaction; *deleted: rows deleted or changed.
 */
hearth_status fleet_db_consent(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                               int64_t seq, int64_t now, bool *applied, int64_t *deleted) HEARTH_MUST_CHECK;
/** Store shared temperature history (@p samples: a JSON array) only while
 *  @p id's consent is recorded: HEARTH_ERR_FORBIDDEN otherwise. */
hearth_status fleet_db_history(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                               int64_t now) HEARTH_MUST_CHECK;

/** What an erasure deletes, in this order (the receipt lists them). */
#define FLEET_ERASE_STEPS 6
/** Build the receipt (malloc'd text in *text) from the rows each step deleted. */
typedef hearth_status (*fleet_receipt_fn)(void *ctx, const int64_t rows[FLEET_ERASE_STEPS], char **text);
/**
 * Erase device @p id's personal data for request @p reqid, once: the first
 * call deletes, builds the receipt with @p build and records it, all in one
 * transaction; any later call for the same (device, request), from this
 * process or another sharing the database, deletes nothing and returns the
 * recorded receipt (*again true). *receipt: malloc'd.
 */
hearth_status fleet_db_erase(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                             void *ctx, char **receipt, bool *again) HEARTH_MUST_CHECK;

/** Device ids for `announce`, in random order (*ids malloc'd, *n of them;
 *  ids that are not valid device ids are left out). */
hearth_status fleet_db_device_ids(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1],
                                  size_t *n) HEARTH_MUST_CHECK;
/** Record an announcement: device i got delay (i / batch) * spread. One transaction. */
hearth_status fleet_db_announced(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                                 uint64_t batch, uint64_t spread, int64_t now) HEARTH_MUST_CHECK;

/** A device's telemetry counters around one of its reports (-1: none). */
typedef struct {
    int64_t prev_lf, prev_uvf;           /* the report before it (by (ep, seq)), of its epoch */
    int64_t next_lf, next_uvf, next_seq; /* the report after it, of its epoch, when that one was stored first */
    bool later_epoch;                    /* a report of a later epoch was recorded: this one is older than
                                            the device's reset, history that the rules do not count */
} fleet_counters;

/**
 * Shared databases only: record the telemetry counters (login failures,
 * update verification failures; -1 absent) of @p id's report (@p ep,
 * @p seq) and return those of the reports recorded just before and just
 * after it by (ep, seq), whichever instance recorded them, when they are of
 * the same epoch @p ep (a factory reset restarts the device's counters: a
 * neighbour across it compares with nothing), and whether a report of a
 * later epoch was recorded (later_epoch). All -1 (false) when this report was
 * recorded already: a redelivery compares with nothing. Each report is
 * recorded before its neighbours are read, so of two instances handling a
 * device's consecutive reports at the same moment at least one sees the
 * other's.
 */
hearth_status fleet_db_counters(fleet_db *db, const char *id, int64_t ep, int64_t seq, int64_t lf, int64_t uvf,
                                fleet_counters *out) HEARTH_MUST_CHECK;

/** One message of a group, for fleet_db_rules_batch (shared databases). */
typedef struct {
    const char *id;
    /* in: load what the database knows of the device (fleet_db_device_load) */
    bool load;
    /* in: the report's counters to record (seq >= 0 and lf or uvf >= 0) */
    int64_t ep, seq, lf, uvf;
    /* in: ports to record (fleet_db_port_seen) */
    const uint16_t *ports;
    size_t nports;
    /* out: the load (when load) */
    bool has_telemetry;
    char kind[FLEET_MODEL_MAX + 1];
    uint16_t known[FLEET_PORTS_MAX];
    size_t nknown;
    /* out: the counters around the report (all -1: not recorded by this
     * call, or a redelivery) and which of ports[] this call recorded first */
    fleet_counters c;
    uint64_t new_ports; /* bit i: ports[i] */
} fleet_rules_item;

/**
 * Shared databases only: the rules' database work for a group of messages
 * in one round trip, with the meaning of fleet_db_device_load,
 * fleet_db_counters and fleet_db_port_seen for each item in order (the
 * loads read before the ports are recorded; every counter and port is
 * recorded and committed before the neighbours are read). A
 * (device, ep, seq) or (device, port) given twice is recorded by its first item.
 */
/** Clear the results of @p n items (what a batch fills in). */
void fleet_rules_items_reset(fleet_rules_item *items, size_t n);
hearth_status fleet_db_rules_batch(fleet_db *db, fleet_rules_item *items, size_t n, int64_t now) HEARTH_MUST_CHECK;

/** One device counted by a rule (shared databases). */
typedef struct {
    const char *rule, *key; /* key "" for an unkeyed rule */
    const char *device, *what;
    int64_t ep, seq;        /* the message's (ep, seq); seq -1 none. A (rule, key, device, ep, seq) counts once */
    int64_t now;
    unsigned window_s, threshold;
} fleet_rule_hit;

/**
 * Shared databases only: count @p h's device in its rule's window, in a
 * transaction of its own that locks the rule's window, and when the window
 * holds the threshold's distinct devices record the anomaly with its
 * evidence and start the window afresh (*raised true). Two instances
 * counting devices of one rule at once raise it once.
 */
hearth_status fleet_db_rule_hit(fleet_db *db, const fleet_rule_hit *h, bool *raised) HEARTH_MUST_CHECK;

/** The WAL checkpointer thread of `run` (checkpoint.c). */
typedef struct fleet_checkpointer fleet_checkpointer;
/** Turn @p db's automatic checkpoints off and checkpoint @p path every second. */
hearth_status fleet_checkpointer_start(fleet_db *db, const char *path,
                                       fleet_checkpointer **out) HEARTH_MUST_CHECK;
void fleet_checkpointer_stop(fleet_checkpointer *c);

/* ------------------------------------------------------------ ingest writer */

/** The database writer thread of `run` (writer.c): validation, rules and
 *  storage of what the MQTT thread receives, off that thread. */
typedef struct fleet_writer fleet_writer;
typedef struct fleet_anomaly fleet_anomaly;

typedef struct {
    uint64_t stored, telemetry, rejected, failed;
    double first_rx, last_commit; /* wall clock, for the benchmark */
} fleet_writer_stats;

/**
 * Start the writer on @p db and @p an (used only by it from now until
 * fleet_writer_stop): batches of @p batch messages or 200 ms, telemetry and
 * events older than @p retain_days pruned hourly.
 */
hearth_status fleet_writer_start(fleet_db *db, fleet_anomaly *an, size_t batch, unsigned retain_days,
                                 fleet_writer **out) HEARTH_MUST_CHECK;
/**
 * Hand over one received message (from the MQTT thread; @p now: receive
 * time, seconds). The topic and the size are checked here, the payload is
 * copied into the queue; waits while the queue is full (8192 messages or
 * 16 MiB).
 */
void fleet_writer_put(fleet_writer *w, const char *topic, const void *payload, size_t len, int64_t now);
/** Store everything queued, commit, end the thread; its counts in @p stats. */
void fleet_writer_stop(fleet_writer *w, fleet_writer_stats *stats);

/* ------------------------------------------------------------ anomalies */

/** The fleet rules (docs/fleet.md, "Anomaly rules"). */
typedef enum {
    FLEET_RULE_UPDATE_FAIL = 0, /* devices failing update verification */
    FLEET_RULE_LOGIN_FAIL,      /* devices seeing failed logins: credential stuffing */
    FLEET_RULE_OFFLINE,         /* devices going offline */
    FLEET_RULE_NEW_PORT,        /* a new listening port across a model */
    FLEET_RULE_COUNT
} fleet_rule;

typedef struct {
    unsigned devices;  /* distinct devices within the window that raise it */
    unsigned window_s; /* sliding window */
} fleet_threshold;

const char *fleet_rule_name(fleet_rule r);
/** Default thresholds (docs/fleet.md). */
void fleet_thresholds_default(fleet_threshold t[FLEET_RULE_COUNT]);
hearth_status fleet_anomaly_new(const fleet_threshold t[FLEET_RULE_COUNT], fleet_db *db,
                                fleet_anomaly **out) HEARTH_MUST_CHECK;
void fleet_anomaly_free(fleet_anomaly *a);
/**
 * Feed one stored message (after fleet_db_store) to the rules at receive
 * time @p now (seconds). Records an anomaly in the database when a rule's
 * threshold is reached.
 */
hearth_status fleet_anomaly_feed(fleet_anomaly *a, const fleet_msg *m, int64_t now) HEARTH_MUST_CHECK;
/**
 * Shared databases: do the rules' database work of the next @p n messages
 * (fed next, in this order, with fleet_anomaly_feed) in one round trip
 * instead of one or more per message. Without it, or after it failed,
 * fleet_anomaly_feed does that work per message. A no-op otherwise.
 */
hearth_status fleet_anomaly_prepare(fleet_anomaly *a, const fleet_msg *m, size_t n, int64_t now) HEARTH_MUST_CHECK;
/** Anomalies raised so far by this process. */
uint64_t fleet_anomaly_raised(const fleet_anomaly *a);

/* ------------------------------------------------------------ report */

/** A growable text buffer with a hard maximum. */
typedef struct {
    char *p;
    size_t len, cap, max;
    bool failed; /* an append did not fit or allocation failed */
} fleet_buf;
void fleet_buf_init(fleet_buf *b, size_t max);
void fleet_buf_free(fleet_buf *b);
void fleet_buf_add(fleet_buf *b, const char *s, size_t n);
void fleet_buf_str(fleet_buf *b, const char *s);
void fleet_buf_printf(fleet_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append @p s as a JSON string literal (quotes included). */
void fleet_buf_json_str(fleet_buf *b, const char *s);
/** Append @p s with HTML's special characters escaped. */
void fleet_buf_html(fleet_buf *b, const char *s);

#define FLEET_REPORT_MAX (64u << 20)

/** A read-only query in each backend's dialect (the report's). */
typedef struct {
    const char *sqlite, *pg;
} fleet_sql;
/** Its rows: v[row * ncols + col] as text, NULL for SQL NULL. */
typedef struct {
    size_t nrows, ncols;
    char **v;
} fleet_rows;
hearth_status fleet_db_query(fleet_db *db, const fleet_sql *q, fleet_rows *out) HEARTH_MUST_CHECK;
void fleet_rows_free(fleet_rows *r);

/** The fleet report as JSON (docs/fleet.md, "Report"). @p now: seconds. */
hearth_status fleet_report_json(fleet_db *db, int64_t now, fleet_buf *out) HEARTH_MUST_CHECK;
/** The fleet report as one HTML page with no script and one hashed style. */
hearth_status fleet_report_html(fleet_db *db, int64_t now, fleet_buf *out) HEARTH_MUST_CHECK;
/** The Content-Security-Policy the HTML page needs (the style's hash); as a
 *  @p header, or for a meta tag (without frame-ancestors). */
const char *fleet_report_csp(bool header);

/** The read-only report server of `run --report-listen` (report_http.c). */
typedef struct fleet_report_server fleet_report_server;
/**
 * Serve GET / (HTML) and GET /report.json on @p listen, which must be a
 * loopback address (127.0.0.0/8 or [::1]), from its own read-only
 * connection to @p dbpath, in a thread of its own.
 */
hearth_status fleet_report_server_start(const char *listen, const char *dbpath,
                                        fleet_report_server **out) HEARTH_MUST_CHECK;
void fleet_report_server_stop(fleet_report_server *s);

/* ------------------------------------------------------------ options */

/** Parse "HOST:PORT" (port 1..65535) into @p host (cap bytes) and @p port. */
hearth_status fleet_hostport(const char *s, char *host, size_t cap, int *port) HEARTH_MUST_CHECK;
/** Parse a decimal in [min, max]. */
hearth_status fleet_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out) HEARTH_MUST_CHECK;

#endif
