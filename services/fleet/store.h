/* The storage backends behind fleet.h's fleet_db_* functions (store.c
 * dispatches): db.c, SQLite, one file, the default; db_pg.c, PostgreSQL,
 * which several `run` instances can share (docs/fleet.md, "Several
 * instances"). Every backend's handle starts with its operations. */
#ifndef HEARTH_FLEET_STORE_H
#define HEARTH_FLEET_STORE_H

#include "fleet.h"

typedef struct {
    const char *name;
    /* the rules' per-device state and windows live in the database */
    bool shared;
    void (*close)(fleet_db *db);
    hearth_status (*begin)(fleet_db *db);
    hearth_status (*commit)(fleet_db *db);
    size_t (*pending)(const fleet_db *db);
    hearth_status (*store)(fleet_db *db, const fleet_msg *m, int64_t now);
    hearth_status (*reject)(fleet_db *db, const char *reason, int64_t now);
    hearth_status (*port_seen)(fleet_db *db, const char *id, unsigned port, int64_t now, bool *is_new);
    hearth_status (*device_load)(fleet_db *db, const char *id, bool *has_telemetry, char *kind,
                                 size_t kindcap, uint16_t *ports, size_t cap, size_t *nports);
    hearth_status (*anomaly)(fleet_db *db, const char *rule, const char *key, int64_t now,
                             unsigned window_s, unsigned threshold, unsigned devices,
                             const char *evidence_json);
    hearth_status (*prune)(fleet_db *db, int64_t before);
    hearth_status (*query)(fleet_db *db, const fleet_sql *q, fleet_rows *out);
    /* personal data (privacy_db.c) and announcements (announce_db.c) */
    hearth_status (*consent)(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                             int64_t seq, int64_t now, bool *applied, int64_t *deleted);
    hearth_status (*history)(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                             int64_t now);
    hearth_status (*erase)(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                           void *ctx, char **receipt, bool *again);
    hearth_status (*device_ids)(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1], size_t *n);
    hearth_status (*announced)(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                               uint64_t batch, uint64_t spread, int64_t now);
    /* shared backends only (NULL otherwise) */
    hearth_status (*counters)(fleet_db *db, const char *id, int64_t ep, int64_t seq, int64_t lf, int64_t uvf,
                              fleet_counters *out);
    hearth_status (*rule_hit)(fleet_db *db, const fleet_rule_hit *h, bool *raised);
    hearth_status (*rules_batch)(fleet_db *db, fleet_rules_item *items, size_t n, int64_t now);
} fleet_store_ops;

/** The head of every backend's handle. */
struct fleet_db {
    const fleet_store_ops *ops;
};

hearth_status fleet_db_open_sqlite(const char *path, bool readonly, fleet_db **out) HEARTH_MUST_CHECK;
/** @p readonly: the report's connection (a read-only session; the schema must exist). */
hearth_status fleet_db_open_pg(const char *url, bool readonly, fleet_db **out) HEARTH_MUST_CHECK;
/** Append a row of @p ncols values (copied; NULL stays NULL) to @p r. */
hearth_status fleet_rows_add(fleet_rows *r, const char *const *vals, size_t ncols) HEARTH_MUST_CHECK;
/** The SQLite handle (db.c), for fleet_db_handle. */
struct sqlite3 *fleet_db_sqlite_handle(fleet_db *db);
/** The PostgreSQL ingest connection (db_pg.c; NULL for SQLite): the privacy
 *  and announce operations use it on a handle that holds no batch. */
struct pg_conn *fleet_db_pg_conn(fleet_db *db);

/* privacy_db.c: the personal-data operations in each dialect */
hearth_status fleet_sq_consent(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                               int64_t seq, int64_t now, bool *applied, int64_t *deleted);
hearth_status fleet_sq_history(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                               int64_t now);
hearth_status fleet_sq_erase(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                             void *ctx, char **receipt, bool *again);
hearth_status fleet_pg_consent(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                               int64_t seq, int64_t now, bool *applied, int64_t *deleted);
hearth_status fleet_pg_history(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                               int64_t now);
hearth_status fleet_pg_erase(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                             void *ctx, char **receipt, bool *again);
/**
 * A device's factory reset (its factory_reset event, inside the ingest
 * batch on SQLite's connection): when @p count is newer than the last
 * reset acted on, record it on the device row, withdraw the consents the
 * device gave before @p reset_at and delete the purposes' data from before
 * it (*acted true). The same or an older count does nothing.
 */
hearth_status fleet_sq_reset(struct sqlite3 *h, const char *id, int64_t count, int64_t reset_at, int64_t now,
                             bool *acted);
/** The same as one PostgreSQL statement ($1 device, $2 count, $3 reset_at,
 *  $4 now), pipelined in the ingest batch (db_pg.c). */
extern const char fleet_pg_reset_sql[];

/* announce_db.c */
hearth_status fleet_sq_device_ids(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1], size_t *n);
hearth_status fleet_sq_announced(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                                 uint64_t batch, uint64_t spread, int64_t now);
hearth_status fleet_pg_device_ids(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1], size_t *n);
hearth_status fleet_pg_announced(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                                 uint64_t batch, uint64_t spread, int64_t now);

#endif
