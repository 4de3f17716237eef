/* hearth-fleet announce: tell the fleet an update exists, in batches with a
 * spread, so the update repository is not stormed (EN 303 645 5.9-3, TR 103
 * 621 example 2; docs/fleet.md "Announcing an update"). Every known device,
 * in random order, is put in a batch of --batch devices; batch k is sent
 * hearth/<id>/updates {"v":1,"version":V,"delay_s":k*S,"spread_s":S} and runs
 * its update check after delay_s + uniform(0, spread_s). The announcement
 * is only a hint: the device verifies the bundle as always. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <sqlite3.h>

#include "commands.h"
#include "fleet.h"
#include "fleet_mqtt.h"

#define ANNOUNCE_DEVICES_MAX 10000000
#define ACK_WAIT_S 60

typedef struct {
    volatile int acked;
    volatile int connack; /* 0 waiting, 1 accepted, -1 refused */
} pubstate;

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags, const mosquitto_property *p)
{
    (void)m, (void)flags, (void)p;
    pubstate *s = ud;
    __atomic_store_n(&s->connack, rc == 0 ? 1 : -1, __ATOMIC_RELEASE);
}

static void on_publish(struct mosquitto *m, void *ud, int mid, int rc, const mosquitto_property *p)
{
    (void)m, (void)mid, (void)p;
    pubstate *s = ud;
    if (rc == 0) __atomic_add_fetch(&s->acked, 1, __ATOMIC_RELAXED);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet announce --db FILE --version V --batch N --spread S\n"
               "                             --broker HOST:PORT [--broker ...] --ca FILE --cert FILE --key FILE\n"
               "                             [--client-id ID] [--mqtt-protocol 5|3.1.1] [--dry-run]\n");
}

static bool version_valid(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= FLEET_SW_MAX &&
           strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-~") == n;
}

/* Every device id, shuffled (ORDER BY random()): a batch is not a run of
 * consecutive serials, i.e. not one production lot. */
static hearth_status load_ids(fleet_db *db, char (**ids)[FLEET_ID_MAX + 1], size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3 *h = fleet_db_handle(db);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(h, "SELECT id FROM devices ORDER BY random()", -1, &q, NULL) != SQLITE_OK)
        return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    size_t cap = 0;
    hearth_status st = HEARTH_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        if (id == NULL || !fleet_id_valid(id, strlen(id))) continue; /* never publish to a bad topic */
        if (*n == cap) {
            if (cap >= ANNOUNCE_DEVICES_MAX) {
                st = hearth_err(HEARTH_ERR_TOO_LARGE, "more than %d devices", ANNOUNCE_DEVICES_MAX);
                break;
            }
            cap = cap ? cap * 2 : 1024;
            void *p = realloc(*ids, cap * sizeof **ids);
            if (p == NULL) {
                st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
                break;
            }
            *ids = p;
        }
        memcpy((*ids)[(*n)++], id, strlen(id) + 1);
    }
    if (st == HEARTH_OK && rc != SQLITE_DONE) st = hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    sqlite3_finalize(q);
    return st;
}

static hearth_status record(fleet_db *db, char (*ids)[FLEET_ID_MAX + 1], size_t n, const char *version,
                            uint64_t batch, uint64_t spread, int64_t now)
{
    sqlite3 *h = fleet_db_handle(db);
    sqlite3_stmt *u = NULL, *a = NULL;
    hearth_status st = HEARTH_OK;
    if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "UPDATE devices SET announced_version = ?2, announced_at = ?3,"
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

/* Declared here: main.c's table is the only other place that names it. */
int fleet_cmd_announce(int argc, char **argv);
int fleet_cmd_announce(int argc, char **argv)
{
    fleet_conn conn = {.client_id = "hearth-fleet-announce"};
    const char *version = NULL;
    uint64_t batch = 0, spread = 0;
    bool have_batch = false, have_spread = false, dry = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry = true;
            continue;
        }
        const char *o = NULL, *v = NULL;
        bool used = false;
        hearth_status st = fleet_conn_arg(&conn, argc, argv, &i, &o, &v, &used);
        if (st == HEARTH_OK && !used) {
            if (strcmp(o, "--version") == 0) version = v;
            else if (strcmp(o, "--batch") == 0) st = fleet_uint(v, 1, 1000000, &batch), have_batch = true;
            else if (strcmp(o, "--spread") == 0) st = fleet_uint(v, 0, 86400, &spread), have_spread = true;
            else {
                usage(stderr);
                return 2;
            }
        }
        if (st != HEARTH_OK) {
            fprintf(stderr, "hearth-fleet announce: %s\n", hearth_err_msg());
            return 2;
        }
    }
    const char *dbpath = conn.db;
    if (dbpath == NULL || version == NULL || !have_batch || !have_spread ||
        (!dry && fleet_conn_check(&conn) != HEARTH_OK)) {
        usage(stderr);
        return 2;
    }
    if (fleet_db_is_url(dbpath)) {
        fprintf(stderr, "hearth-fleet announce: announcing from a PostgreSQL database is not done\n");
        return 2;
    }
    if (!version_valid(version)) {
        fprintf(stderr, "hearth-fleet announce: --version must be 1..32 of [A-Za-z0-9._+~-]\n");
        return 2;
    }
    fleet_db *db = NULL;
    char (*ids)[FLEET_ID_MAX + 1] = NULL;
    size_t n = 0;
    struct mosquitto *m = NULL;
    pubstate ps = {0};
    int ret = 1;
    if (fleet_db_open(dbpath, false, &db) != HEARTH_OK || load_ids(db, &ids, &n) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet announce: %s\n", hearth_err_msg());
        goto out;
    }
    size_t batches = (n + batch - 1) / batch;
    if (!dry) {
        mosquitto_lib_init();
        hearth_backoff_config bc;
        hearth_backoff_config_default(&bc, "fleet-announce");
        bc.first_max_ms = 0;
        hearth_backoff bo;
        if (fleet_mqtt_new(&conn, conn.client_id, true, &ps, &m) != HEARTH_OK ||
            hearth_backoff_init(&bo, &bc) != HEARTH_OK ||
            fleet_mqtt_connect(m, &conn, 0, &bo, NULL) != HEARTH_OK) {
            fprintf(stderr, "hearth-fleet announce: %s\n", hearth_err_msg());
            goto out;
        }
        mosquitto_publish_v5_callback_set(m, on_publish);
        mosquitto_connect_v5_callback_set(m, on_connect);
        if (mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "hearth-fleet announce: cannot start the MQTT loop\n");
            goto out;
        }
        /* Publish only once the broker has accepted the session: what
         * libmosquitto 2.0 queues before the CONNACK it sends again after
         * it (bench_announce.sh saw most devices get their announcement
         * twice), and a device keeps the earlier of two random times. */
        for (int w = 0; w < ACK_WAIT_S * 100 && __atomic_load_n(&ps.connack, __ATOMIC_ACQUIRE) == 0; w++) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (__atomic_load_n(&ps.connack, __ATOMIC_ACQUIRE) != 1) {
            fprintf(stderr, "hearth-fleet announce: the broker did not accept the connection\n");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            char topic[FLEET_TOPIC_MAX + 1], payload[160];
            snprintf(topic, sizeof topic, "hearth/%s/updates", ids[i]);
            int pl = snprintf(payload, sizeof payload, "{\"v\":1,\"version\":\"%s\",\"delay_s\":%llu,\"spread_s\":%llu}",
                              version, (unsigned long long)((i / batch) * spread), (unsigned long long)spread);
            int rc = mosquitto_publish_v5(m, NULL, topic, pl, payload, 1, false, NULL);
            if (rc != MOSQ_ERR_SUCCESS) {
                fprintf(stderr, "hearth-fleet announce: publish to %s: %s\n", ids[i], mosquitto_strerror(rc));
                goto out;
            }
        }
        for (int w = 0; w < ACK_WAIT_S * 10 && (size_t)__atomic_load_n(&ps.acked, __ATOMIC_RELAXED) < n; w++) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if ((size_t)__atomic_load_n(&ps.acked, __ATOMIC_RELAXED) < n) {
            fprintf(stderr, "hearth-fleet announce: the broker acknowledged %d of %zu announcements\n",
                    __atomic_load_n(&ps.acked, __ATOMIC_RELAXED), n);
            goto out;
        }
    }
    if (record(db, ids, n, version, batch, spread, hearth_time_now()) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet announce: %s\n", hearth_err_msg());
        goto out;
    }
    printf("announced %s to %zu devices in %zu batches of %llu, %llu s apart; every check within %llu s\n",
           version, n, batches, (unsigned long long)batch, (unsigned long long)spread,
           (unsigned long long)(batches * spread));
    ret = 0;
out:
    if (m != NULL) {
        mosquitto_disconnect(m);
        mosquitto_loop_stop(m, false);
        mosquitto_destroy(m);
        mosquitto_lib_cleanup();
    }
    free(ids);
    fleet_db_close(db);
    return ret;
}
