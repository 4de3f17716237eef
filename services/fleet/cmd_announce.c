/* hearth-fleet announce: tell the fleet an update exists, in batches with a
 * spread, so the update repository is not stormed (EN 303 645 5.9-3, TR 103
 * 621 example 2; docs/fleet.md "Announcing an update"). Every known device,
 * in random order, is put in a batch of --batch devices; batch k is sent
 * hearth/<id>/updates {"v":1,"version":V,"delay_s":k*S,"spread_s":S} and runs
 * its update check after delay_s + uniform(0, spread_s). The announcement
 * is only a hint: the device verifies the bundle as always. The devices
 * are read and the announcement recorded in SQLite or PostgreSQL
 * (announce_db.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

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
    /* MQTT 5: "no matching subscribers" (16) is the broker's acceptance
     * too: a device that is offline without a kept session is not
     * subscribed, and finds the update on its own schedule. */
    if (rc == 0 || rc == MQTT_RC_NO_MATCHING_SUBSCRIBERS) __atomic_add_fetch(&s->acked, 1, __ATOMIC_RELAXED);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet announce --db FILE|postgresql://... --version V --batch N --spread S\n"
               "                             --broker HOST:PORT [--broker ...] --ca FILE --cert FILE --key FILE\n"
               "                             [--client-id ID] [--mqtt-protocol 5|3.1.1] [--dry-run]\n");
}

static bool version_valid(const char *v)
{
    size_t n = strlen(v);
    return n >= 1 && n <= FLEET_SW_MAX &&
           strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-~") == n;
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
    if (fleet_db_open(dbpath, false, &db) != HEARTH_OK || fleet_db_device_ids(db, ANNOUNCE_DEVICES_MAX, &ids, &n) != HEARTH_OK) {
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
    if (fleet_db_announced(db, ids, n, version, batch, spread, hearth_time_now()) != HEARTH_OK) {
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
