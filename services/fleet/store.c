/* fleet.h's storage functions, dispatched to the backend the --db value
 * names (store.h): a postgresql:// or postgres:// URI is PostgreSQL
 * (db_pg.c), anything else the path of an SQLite file (db.c). */
#include <stdlib.h>
#include <string.h>

#include "store.h"

bool fleet_db_is_url(const char *where)
{
    return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

hearth_status fleet_db_open(const char *where, bool readonly, fleet_db **out)
{
    *out = NULL;
    if (!fleet_db_is_url(where)) return fleet_db_open_sqlite(where, readonly, out);
    return fleet_db_open_pg(where, readonly, out);
}

void fleet_db_close(fleet_db *db)
{
    if (db != NULL) db->ops->close(db);
}

struct sqlite3 *fleet_db_handle(fleet_db *db) { return fleet_db_sqlite_handle(db); }
bool fleet_db_shared(const fleet_db *db) { return db->ops->shared; }
const char *fleet_db_backend(const fleet_db *db) { return db->ops->name; }
hearth_status fleet_db_begin(fleet_db *db) { return db->ops->begin(db); }
hearth_status fleet_db_commit(fleet_db *db) { return db->ops->commit(db); }
size_t fleet_db_pending(const fleet_db *db) { return db->ops->pending(db); }

hearth_status fleet_db_store(fleet_db *db, const fleet_msg *m, int64_t now)
{
    return db->ops->store(db, m, now);
}

hearth_status fleet_db_reject(fleet_db *db, const char *reason, int64_t now)
{
    return db->ops->reject(db, reason, now);
}

hearth_status fleet_db_port_seen(fleet_db *db, const char *id, unsigned port, int64_t now, bool *is_new)
{
    return db->ops->port_seen(db, id, port, now, is_new);
}

hearth_status fleet_db_device_load(fleet_db *db, const char *id, bool *has_telemetry, char *kind,
                                   size_t kindcap, uint16_t *ports, size_t cap, size_t *nports)
{
    return db->ops->device_load(db, id, has_telemetry, kind, kindcap, ports, cap, nports);
}

hearth_status fleet_db_anomaly(fleet_db *db, const char *rule, const char *key, int64_t now,
                               unsigned window_s, unsigned threshold, unsigned devices,
                               const char *evidence_json)
{
    return db->ops->anomaly(db, rule, key, now, window_s, threshold, devices, evidence_json);
}

hearth_status fleet_db_prune(fleet_db *db, int64_t before) { return db->ops->prune(db, before); }

hearth_status fleet_db_counters(fleet_db *db, const char *id, int64_t ep, int64_t seq, int64_t lf, int64_t uvf,
                                fleet_counters *out)
{
    *out = (fleet_counters){-1, -1, -1, -1, -1, false};
    if (db->ops->counters == NULL) return hearth_err(HEARTH_ERR_UNSUPPORTED, "not a shared database");
    return db->ops->counters(db, id, ep, seq, lf, uvf, out);
}

hearth_status fleet_db_rule_hit(fleet_db *db, const fleet_rule_hit *h, bool *raised)
{
    *raised = false;
    if (db->ops->rule_hit == NULL) return hearth_err(HEARTH_ERR_UNSUPPORTED, "not a shared database");
    return db->ops->rule_hit(db, h, raised);
}

void fleet_rules_items_reset(fleet_rules_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        items[i].c = (fleet_counters){-1, -1, -1, -1, -1, false};
        items[i].new_ports = 0;
        items[i].has_telemetry = false;
        items[i].kind[0] = '\0';
        items[i].nknown = 0;
    }
}

hearth_status fleet_db_rules_batch(fleet_db *db, fleet_rules_item *items, size_t n, int64_t now)
{
    fleet_rules_items_reset(items, n);
    if (db->ops->rules_batch == NULL) return hearth_err(HEARTH_ERR_UNSUPPORTED, "not a shared database");
    return db->ops->rules_batch(db, items, n, now);
}

hearth_status fleet_db_consent(fleet_db *db, const char *id, const char *purpose, bool granted, int64_t ts,
                               int64_t seq, int64_t now, bool *applied, int64_t *deleted)
{
    *applied = false;
    *deleted = 0;
    return db->ops->consent(db, id, purpose, granted, ts, seq, now, applied, deleted);
}

hearth_status fleet_db_history(fleet_db *db, const char *id, const char *app, int64_t ts, const char *samples,
                               int64_t now)
{
    return db->ops->history(db, id, app, ts, samples, now);
}

hearth_status fleet_db_erase(fleet_db *db, const char *id, const char *reqid, int64_t now, fleet_receipt_fn build,
                             void *ctx, char **receipt, bool *again)
{
    *receipt = NULL;
    *again = false;
    return db->ops->erase(db, id, reqid, now, build, ctx, receipt, again);
}

hearth_status fleet_db_device_ids(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1], size_t *n)
{
    *ids = NULL;
    *n = 0;
    hearth_status st = db->ops->device_ids(db, max, ids, n);
    if (st != HEARTH_OK) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return st;
}

hearth_status fleet_db_announced(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                                 uint64_t batch, uint64_t spread, int64_t now)
{
    if (batch == 0) return hearth_err(HEARTH_ERR_INVALID, "batch of 0");
    return db->ops->announced(db, ids, n, version, batch, spread, now);
}

hearth_status fleet_db_query(fleet_db *db, const fleet_sql *q, fleet_rows *out)
{
    *out = (fleet_rows){0};
    hearth_status st = db->ops->query(db, q, out);
    if (st != HEARTH_OK) fleet_rows_free(out);
    return st;
}

hearth_status fleet_rows_add(fleet_rows *r, const char *const *vals, size_t ncols)
{
    if (r->nrows > 0 && ncols != r->ncols) return hearth_err(HEARTH_ERR_INTERNAL, "rows of different widths");
    r->ncols = ncols;
    char **v = realloc(r->v, (r->nrows + 1) * ncols * sizeof *v + 1);
    if (v == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    r->v = v;
    char **row = v + r->nrows * ncols;
    for (size_t c = 0; c < ncols; c++) row[c] = NULL;
    r->nrows++;
    for (size_t c = 0; c < ncols; c++)
        if (vals[c] != NULL && (row[c] = strdup(vals[c])) == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    return HEARTH_OK;
}

void fleet_rows_free(fleet_rows *r)
{
    if (r->v != NULL)
        for (size_t i = 0; i < r->nrows * r->ncols; i++) free(r->v[i]);
    free(r->v);
    *r = (fleet_rows){0};
}
