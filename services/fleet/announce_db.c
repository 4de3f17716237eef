/* What `announce` reads and records (cmd_announce.c), in both dialects:
 * the device ids in random order, and per device the version announced,
 * when, and the delay its batch was given, with one row in announcements;
 * the record is one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"

#define PG_CHUNK 20000 /* device ids per UPDATE statement */

/* Append @p id to the list (grown by doubling up to @p max). */
static hearth_status push(char (**ids)[FLEET_ID_MAX + 1], size_t *n, size_t *cap, size_t max, const char *id)
{
    if (id == NULL || !fleet_id_valid(id, strlen(id))) return HEARTH_OK; /* never publish to a bad topic */
    if (*n == *cap) {
        if (*cap >= max) return hearth_err(HEARTH_ERR_TOO_LARGE, "more than %zu devices", max);
        size_t c = *cap ? *cap * 2 : 1024;
        void *p = realloc(*ids, c * sizeof **ids);
        if (p == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        *ids = p;
        *cap = c;
    }
    memcpy((*ids)[(*n)++], id, strlen(id) + 1);
    return HEARTH_OK;
}

/* ------------------------------------------------------------ SQLite */

hearth_status fleet_sq_device_ids(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1], size_t *n)
{
    sqlite3 *h = fleet_db_sqlite_handle(db);
    sqlite3_stmt *q = NULL;
    /* Shuffled: a batch is not a run of consecutive serials (one lot). */
    if (sqlite3_prepare_v2(h, "SELECT id FROM devices ORDER BY random()", -1, &q, NULL) != SQLITE_OK)
        return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    size_t cap = 0;
    hearth_status st = HEARTH_OK;
    int rc;
    while (st == HEARTH_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        st = push(ids, n, &cap, max, (const char *)sqlite3_column_text(q, 0));
    if (st == HEARTH_OK && rc != SQLITE_DONE) st = hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    sqlite3_finalize(q);
    return st;
}

hearth_status fleet_sq_announced(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                                 uint64_t batch, uint64_t spread, int64_t now)
{
    sqlite3 *h = fleet_db_sqlite_handle(db);
    sqlite3_stmt *u = NULL, *a = NULL;
    hearth_status st = HEARTH_OK;
    if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    if (sqlite3_prepare_v2(h, "UPDATE devices SET announced_version = ?2, announced_at = ?3,"
                              " announced_delay_s = ?4 WHERE id = ?1", -1, &u, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "INSERT INTO announcements(version, created, batch, spread_s, devices, batches)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &a, NULL) != SQLITE_OK) {
        st = hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(u, 1, ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(u, 2, version, -1, SQLITE_STATIC);
        sqlite3_bind_int64(u, 3, now);
        sqlite3_bind_int64(u, 4, (int64_t)((i / batch) * spread));
        int rc = sqlite3_step(u);
        sqlite3_reset(u);
        if (rc != SQLITE_DONE) {
            st = hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
            goto out;
        }
    }
    sqlite3_bind_text(a, 1, version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 2, now);
    sqlite3_bind_int64(a, 3, (int64_t)batch);
    sqlite3_bind_int64(a, 4, (int64_t)spread);
    sqlite3_bind_int64(a, 5, (int64_t)n);
    sqlite3_bind_int64(a, 6, (int64_t)((n + batch - 1) / batch));
    if (sqlite3_step(a) != SQLITE_DONE || sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
out:
    if (st != HEARTH_OK) sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(u);
    sqlite3_finalize(a);
    return st;
}

/* ------------------------------------------------------------ PostgreSQL */

static hearth_status pq_ok(PGconn *c, PGresult *r)
{
    ExecStatusType es = PQresultStatus(r);
    hearth_status st = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK
                           ? HEARTH_OK
                           : hearth_err(HEARTH_ERR_IO, "database: %s",
                                        r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
    return st;
}

hearth_status fleet_pg_device_ids(fleet_db *db, size_t max, char (**ids)[FLEET_ID_MAX + 1], size_t *n)
{
    PGconn *c = fleet_db_pg_conn(db);
    if (c == NULL) return hearth_err(HEARTH_ERR_STATE, "database: no connection");
    PGresult *r = PQexec(c, "SELECT id FROM devices ORDER BY random()");
    hearth_status st = pq_ok(c, r);
    size_t cap = 0;
    for (int i = 0; st == HEARTH_OK && i < PQntuples(r); i++) st = push(ids, n, &cap, max, PQgetvalue(r, i, 0));
    PQclear(r);
    return st;
}

hearth_status fleet_pg_announced(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                                 uint64_t batch, uint64_t spread, int64_t now)
{
    PGconn *c = fleet_db_pg_conn(db);
    if (c == NULL) return hearth_err(HEARTH_ERR_STATE, "database: no connection");
    PGresult *r = PQexec(c, "BEGIN");
    hearth_status st = pq_ok(c, r);
    PQclear(r);
    if (st != HEARTH_OK) return st;
    /* The ids (validated: [A-Za-z0-9_-]) as an array literal, a chunk at a
     * time; device k of the whole list is given delay (k / batch) * spread. */
    char *arr = malloc((size_t)PG_CHUNK * (FLEET_ID_MAX + 3) + 3);
    if (arr == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    char nb[5][24];
    snprintf(nb[0], sizeof nb[0], "%lld", (long long)now);
    snprintf(nb[1], sizeof nb[1], "%llu", (unsigned long long)batch);
    snprintf(nb[2], sizeof nb[2], "%llu", (unsigned long long)spread);
    for (size_t off = 0; st == HEARTH_OK && off < n; off += PG_CHUNK) {
        size_t len = 0;
        arr[len++] = '{';
        for (size_t i = off; i < n && i < off + PG_CHUNK; i++) {
            size_t l = strlen(ids[i]);
            if (i > off) arr[len++] = ',';
            memcpy(arr + len, ids[i], l);
            len += l;
        }
        arr[len++] = '}';
        arr[len] = '\0';
        snprintf(nb[3], sizeof nb[3], "%llu", (unsigned long long)off);
        const char *v[] = {version, nb[0], nb[1], nb[2], nb[3], arr};
        r = PQexecParams(c,
                         "UPDATE devices d SET announced_version = $1, announced_at = $2::bigint,"
                         " announced_delay_s = ((u.i - 1 + $5::bigint) / $3::bigint) * $4::bigint"
                         " FROM unnest($6::text[]) WITH ORDINALITY AS u(id, i) WHERE d.id = u.id",
                         6, NULL, v, NULL, NULL, 0);
        st = pq_ok(c, r);
        PQclear(r);
    }
    free(arr);
    snprintf(nb[3], sizeof nb[3], "%zu", n);
    snprintf(nb[4], sizeof nb[4], "%llu", (unsigned long long)((n + batch - 1) / batch));
    const char *a[] = {version, nb[0], nb[1], nb[2], nb[3], nb[4]};
    if (st == HEARTH_OK) {
        r = PQexecParams(c,
                         "INSERT INTO announcements(version, created, batch, spread_s, devices, batches)"
                         " VALUES($1, $2, $3, $4, $5, $6)",
                         6, NULL, a, NULL, NULL, 0);
        st = pq_ok(c, r);
        PQclear(r);
    }
    r = PQexec(c, st == HEARTH_OK ? "COMMIT" : "ROLLBACK");
    if (st == HEARTH_OK) st = pq_ok(c, r);
    PQclear(r);
    return st;
}
