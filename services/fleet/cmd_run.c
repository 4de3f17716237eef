/* hearth-fleet run: ingest the fleet's messages (docs/fleet.md). One thread
 * owns the broker connection and the database: it validates each message
 * (message.c), feeds the fleet rules (anomaly.c), stores it (db.c) in a
 * batch committed every --batch messages or 200 ms, and reconnects with the
 * backoff module when the broker goes away. With --report-listen a second
 * thread serves the report read-only on loopback (report_http.c). */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "commands.h"
#include "fleet.h"
#include "fleet_mqtt.h"
#include "hearth/backoff.h"

#define COMMIT_MS 200
#define PRUNE_S 3600
#define SESSION_S 86400u /* the broker keeps our session and its queue a day */
#define REJECT_LOG_PER_MIN 20

typedef struct {
    fleet_db *db;
    fleet_anomaly *an;
    size_t batch;
    uint64_t stored, telemetry, rejected, failed;
    double first_rx, last_commit; /* wall clock, for the benchmark */
    int64_t reject_log_minute;
    unsigned reject_logged;
    int connected;
} ingest;

static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void commit(ingest *in)
{
    if (fleet_db_pending(in->db) == 0) return;
    if (fleet_db_commit(in->db) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: commit failed: %s\n", hearth_err_msg());
        in->failed++;
        return;
    }
    in->last_commit = now_real();
}

static void reject(ingest *in, const char *topic_kind, hearth_status st, const char *why, int64_t now)
{
    in->rejected++;
    /* The reason kept in the database is from a fixed set (kind/status),
     * never text the sender chose: the table stays bounded. */
    char reason[48];
    snprintf(reason, sizeof reason, "%s/%s", topic_kind, hearth_status_name(st));
    if (fleet_db_reject(in->db, reason, now) != HEARTH_OK) in->failed++;
    if (now / 60 != in->reject_log_minute) {
        in->reject_log_minute = now / 60;
        in->reject_logged = 0;
    }
    if (in->reject_logged++ < REJECT_LOG_PER_MIN)
        fprintf(stderr, "hearth-fleet: rejected a message (%s): %s\n", reason, why);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m;
    ingest *in = ud;
    int64_t now = hearth_time_now();
    char id[FLEET_ID_MAX + 1];
    fleet_kind kind;
    if (fleet_topic_parse(msg->topic, id, &kind) != HEARTH_OK) {
        reject(in, "topic", HEARTH_ERR_INVALID, hearth_err_msg(), now);
        return;
    }
    if (msg->payloadlen < 0 || (size_t)msg->payloadlen > fleet_payload_max(kind)) {
        reject(in, fleet_kind_name(kind), HEARTH_ERR_TOO_LARGE, "payload too large", now);
        return;
    }
    fleet_msg fm;
    char err[160];
    hearth_status st = fleet_msg_parse(kind, id, msg->payload, (size_t)msg->payloadlen, &fm, err, sizeof err);
    if (st != HEARTH_OK) {
        reject(in, fleet_kind_name(kind), st, err, now);
        return;
    }
    if (in->stored == 0 && in->first_rx == 0) in->first_rx = now_real();
    /* Rules first: they compare with what the database knew before. */
    st = fleet_anomaly_feed(in->an, &fm, now);
    if (st == HEARTH_OK) st = fleet_db_store(in->db, &fm, now);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: storing a message from %s failed: %s\n", id, hearth_err_msg());
        in->failed++;
    } else {
        in->stored++;
        if (kind == FLEET_T_TELEMETRY) in->telemetry++;
    }
    fleet_msg_clear(&fm);
    if (fleet_db_pending(in->db) >= in->batch) commit(in);
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags, const mosquitto_property *p)
{
    (void)flags, (void)p;
    ingest *in = ud;
    if (rc != 0) {
        fprintf(stderr, "hearth-fleet: broker refused the connection: %s\n", mosquitto_reason_string(rc));
        return;
    }
    in->connected = 1;
    char *subs[FLEET_T_COUNT];
    for (int k = 0; k < FLEET_T_COUNT; k++) subs[k] = (char *)fleet_subscriptions[k];
    int src = mosquitto_subscribe_multiple(m, NULL, FLEET_T_COUNT, subs, 1, 0, NULL);
    if (src != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "hearth-fleet: subscribe failed: %s\n", mosquitto_strerror(src));
    else
        fprintf(stderr, "hearth-fleet: connected, subscribed to hearth/+/{state,telemetry,events,status,cmd/res}\n");
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc, const mosquitto_property *p)
{
    (void)m, (void)p;
    ingest *in = ud;
    in->connected = 0;
    if (rc != 0) fprintf(stderr, "hearth-fleet: disconnected from the broker (%s)\n", mosquitto_reason_string(rc));
}

static hearth_status parse_rule(const char *v, fleet_threshold t[FLEET_RULE_COUNT])
{
    /* NAME=DEVICES/WINDOW_S */
    const char *eq = strchr(v, '=');
    const char *sl = eq != NULL ? strchr(eq, '/') : NULL;
    if (eq == NULL || sl == NULL) return hearth_err(HEARTH_ERR_INVALID, "--rule NAME=DEVICES/WINDOW_S");
    for (int r = 0; r < FLEET_RULE_COUNT; r++) {
        const char *name = fleet_rule_name((fleet_rule)r);
        if (strlen(name) != (size_t)(eq - v) || strncmp(v, name, (size_t)(eq - v)) != 0) continue;
        char dev[16];
        size_t n = (size_t)(sl - eq - 1);
        if (n == 0 || n >= sizeof dev) break;
        memcpy(dev, eq + 1, n);
        dev[n] = '\0';
        uint64_t d = 0, w = 0;
        HEARTH_GUARD(fleet_uint(dev, 1, 4096, &d));
        HEARTH_GUARD(fleet_uint(sl + 1, 1, 30 * 86400, &w));
        t[r] = (fleet_threshold){(unsigned)d, (unsigned)w};
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_INVALID, "--rule: unknown rule or bad value in '%s'", v);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet run --db FILE --broker HOST:PORT [--broker ...] --ca FILE --cert FILE --key FILE\n"
               "                        [--report-listen ADDR:PORT] [--rule NAME=DEVICES/WINDOW_S ...]\n"
               "                        [--batch N] [--retain-days D] [--client-id ID]\n"
               "rules (docs/fleet.md): update_verification login_failures offline new_port\n");
}

/* Declared here: main.c's table is the only other place that names it. */
int fleet_cmd_run(int argc, char **argv);
int fleet_cmd_run(int argc, char **argv)
{
    fleet_conn conn = {.client_id = "hearth-fleet"};
    const char *listen = NULL;
    uint64_t batch = 2000, retain_days = 30;
    fleet_threshold th[FLEET_RULE_COUNT];
    fleet_thresholds_default(th);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        const char *o = NULL, *v = NULL;
        bool used = false;
        hearth_status st = fleet_conn_arg(&conn, argc, argv, &i, &o, &v, &used);
        if (st == HEARTH_OK && !used) {
            if (strcmp(o, "--report-listen") == 0) listen = v;
            else if (strcmp(o, "--rule") == 0) st = parse_rule(v, th);
            else if (strcmp(o, "--batch") == 0) st = fleet_uint(v, 1, 100000, &batch);
            else if (strcmp(o, "--retain-days") == 0) st = fleet_uint(v, 1, 3650, &retain_days);
            else {
                fprintf(stderr, "hearth-fleet run: unknown option %s\n", o);
                usage(stderr);
                return 2;
            }
        }
        if (st != HEARTH_OK) {
            fprintf(stderr, "hearth-fleet run: %s\n", hearth_err_msg());
            return 2;
        }
    }
    if (conn.db == NULL || fleet_conn_check(&conn) != HEARTH_OK) {
        usage(stderr);
        return 2;
    }
    const char *dbpath = conn.db;

    ingest in = {.batch = batch};
    fleet_report_server *srv = NULL;
    fleet_checkpointer *ckpt = NULL;
    struct mosquitto *m = NULL;
    int ret = 1;
    if (fleet_db_open(dbpath, false, &in.db) != HEARTH_OK ||
        fleet_anomaly_new(th, in.db, &in.an) != HEARTH_OK ||
        fleet_checkpointer_start(in.db, dbpath, &ckpt) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet run: %s\n", hearth_err_msg());
        goto out;
    }
    if (listen != NULL && fleet_report_server_start(listen, dbpath, &srv) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet run: --report-listen: %s\n", hearth_err_msg());
        goto out;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    mosquitto_lib_init();
    /* A persistent session (clean start off): the broker keeps QoS 1
     * messages for the service while it restarts. */
    if (fleet_mqtt_new(&conn, conn.client_id, false, &in, &m) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet run: %s\n", hearth_err_msg());
        goto out;
    }
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_disconnect_v5_callback_set(m, on_disconnect);
    mosquitto_message_callback_set(m, on_message);

    hearth_backoff_config bc;
    hearth_backoff_config_default(&bc, "fleet-mqtt");
    bc.first_max_ms = 0; /* one service, not a fleet: no random first delay */
    hearth_backoff bo;
    if (hearth_backoff_init(&bo, &bc) != HEARTH_OK ||
        fleet_mqtt_connect(m, &conn, SESSION_S, &bo, &g_stop) != HEARTH_OK)
        goto stopped;
    hearth_backoff_connected(&bo);
    int64_t last_commit = hearth_mono_ms(), last_prune = 0;
    while (!g_stop) {
        /* max_packets 1: libmosquitto 2.0 loops max_packets times in
         * mosquitto_loop_write(), locking two mutexes per turn even with
         * nothing to send; 1000 spent half the ingest CPU there. */
        int rc = mosquitto_loop(m, 50, 1);
        int64_t mono = hearth_mono_ms();
        if (mono - last_commit >= COMMIT_MS) {
            commit(&in);
            last_commit = mono;
        }
        if (mono / 1000 - last_prune >= PRUNE_S) {
            last_prune = mono / 1000;
            if (fleet_db_prune(in.db, hearth_time_now() - (int64_t)retain_days * 86400) != HEARTH_OK)
                fprintf(stderr, "hearth-fleet: pruning failed: %s\n", hearth_err_msg());
        }
        if (rc == MOSQ_ERR_SUCCESS || g_stop) continue;
        /* The connection is gone: commit what we have, then reconnect
         * paced by the backoff module (in order through --broker). */
        commit(&in);
        uint64_t d = hearth_backoff_disconnected(&bo, false);
        fprintf(stderr, "hearth-fleet: connection lost (%s); reconnecting in %llu ms\n",
                mosquitto_strerror(rc), (unsigned long long)d);
        for (uint64_t w = 0; w < d && !g_stop; w += 100) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (fleet_mqtt_connect(m, &conn, SESSION_S, &bo, &g_stop) != HEARTH_OK) break;
        hearth_backoff_connected(&bo);
    }
stopped:
    commit(&in);
    if (m != NULL) mosquitto_disconnect(m);
    ret = in.failed == 0 ? 0 : 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "hearth-fleet: stopped: stored %llu messages (%llu telemetry), rejected %llu, "
            "anomalies %llu, first_rx %.6f, last_commit %.6f, cpu_s %.3f\n",
            (unsigned long long)in.stored, (unsigned long long)in.telemetry,
            (unsigned long long)in.rejected, (unsigned long long)fleet_anomaly_raised(in.an), in.first_rx,
            in.last_commit,
            (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
out:
    if (m != NULL) mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    fleet_report_server_stop(srv);
    fleet_checkpointer_stop(ckpt);
    fleet_anomaly_free(in.an);
    fleet_db_close(in.db);
    return ret;
}
