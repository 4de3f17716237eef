/* hearth-fleet run: ingest the fleet's messages (docs/fleet.md). The main
 * thread owns the broker connection: it reads, hands each message to the
 * database writer thread (writer.c: validation in message.c, the fleet
 * rules in anomaly.c, storage in db.c, a batch committed every --batch
 * messages or 200 ms), and reconnects with the backoff module when the
 * broker goes away. With --report-listen another thread serves the report
 * read-only on loopback (report_http.c); checkpoint.c's thread copies the
 * WAL into the database. */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "commands.h"
#include "erase.h"
#include "fleet.h"
#include "fleet_mqtt.h"
#include "hearth/backoff.h"

#define SESSION_S 86400u /* the broker keeps our session and its queue a day */

#define GROUP_MAX 32

typedef struct {
    fleet_writer *w;
    int connected;
    bool erase;                                  /* hearth/+/privacy handled (erase.c) */
    char subs[FLEET_T_COUNT][FLEET_TOPIC_MAX];   /* the filters, $share/GROUP/... with --shared */
} ingest;

static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* The MQTT thread only hands the message over (writer.c): validation,
 * rules and SQLite run in the writer thread. libmosquitto has already sent
 * the PUBACK of a QoS 1 message when this runs (docs/fleet.md, "Delivery"). */
static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m;
    ingest *in = ud;
    if (in->erase && fleet_erase_message(m, msg, hearth_time_now())) return; /* hearth/<id>/privacy: erase.c */
    fleet_writer_put(in->w, msg->topic, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
                     hearth_time_now());
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
    for (int k = 0; k < FLEET_T_COUNT; k++) subs[k] = in->subs[k];
    int src = mosquitto_subscribe_multiple(m, NULL, FLEET_T_COUNT, subs, 1, 0, NULL);
    if (in->erase) fleet_erase_subscribe(m);
    if (src != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "hearth-fleet: subscribe failed: %s\n", mosquitto_strerror(src));
    else
        fprintf(stderr, "hearth-fleet: connected, subscribed to %s{state,telemetry,events,status,cmd/res}\n",
                strncmp(in->subs[0], "$share/", 7) == 0 ? "(shared) " : "hearth/+/");
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
    fprintf(f, "usage: hearth-fleet run --db FILE|postgresql://... --broker HOST:PORT [--broker ...] --ca FILE\n"
               "                        --cert FILE --key FILE\n"
               "                        [--report-listen ADDR:PORT] [--rule NAME=DEVICES/WINDOW_S ...]\n"
               "                        [--batch N] [--retain-days D] [--client-id ID] [--mqtt-protocol 5|3.1.1]\n"
               "                        [--device-ca FILE] [--shared GROUP]\n"
               "--shared GROUP: one of several instances (PostgreSQL only, each its own --client-id): the broker\n"
               "                splits the stream among them ($share/GROUP/hearth/+/...)\n"
               "rules (docs/fleet.md): update_verification login_failures offline new_port\n");
}

/* Declared here: main.c's table is the only other place that names it. */
int fleet_cmd_run(int argc, char **argv);
int fleet_cmd_run(int argc, char **argv)
{
    fleet_conn conn = {.client_id = "hearth-fleet"};
    const char *listen = NULL, *group = NULL;
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
            else if (strcmp(o, "--device-ca") == 0) fleet_erase_set_device_ca(v);
            else if (strcmp(o, "--shared") == 0) {
                group = v;
                if (strlen(v) > GROUP_MAX || !fleet_id_valid(v, strlen(v)))
                    st = hearth_err(HEARTH_ERR_INVALID, "--shared: 1..%d of [A-Za-z0-9_-]", GROUP_MAX);
            } else {
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
    bool pg = fleet_db_is_url(dbpath);
    if (group != NULL && !pg) {
        /* Several processes on one SQLite file would each keep the rules'
         * state in memory and count a device's split messages apart. */
        fprintf(stderr, "hearth-fleet run: --shared needs a PostgreSQL --db (postgresql://...)\n");
        return 2;
    }

    ingest in = {0};
    /* Privacy messages (erase.c), on either backend; with --shared each goes
     * to one instance, and a redelivered erase request erases once whichever
     * instances receive it (privacy_db.c). */
    in.erase = true;
    fleet_erase_set_signer(conn.cert, conn.key, dbpath);
    fleet_erase_set_group(group);
    for (int k = 0; k < FLEET_T_COUNT; k++) {
        int n = group != NULL ? snprintf(in.subs[k], sizeof in.subs[k], "$share/%s/%s", group, fleet_subscriptions[k])
                              : snprintf(in.subs[k], sizeof in.subs[k], "%s", fleet_subscriptions[k]);
        if (n < 0 || (size_t)n >= sizeof in.subs[k]) return 2;
    }
    fleet_db *db = NULL;
    fleet_anomaly *an = NULL;
    fleet_report_server *srv = NULL;
    fleet_checkpointer *ckpt = NULL;
    struct mosquitto *m = NULL;
    fleet_writer_stats ws = {0};
    int ret = 1;
    if (fleet_db_open(dbpath, false, &db) != HEARTH_OK || fleet_anomaly_new(th, db, &an) != HEARTH_OK ||
        (!pg && fleet_checkpointer_start(db, dbpath, &ckpt) != HEARTH_OK)) {
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
    /* From here until fleet_writer_stop() the database and the rules
     * belong to the writer thread. */
    if (fleet_writer_start(db, an, (size_t)batch, (unsigned)retain_days, &in.w) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet run: %s\n", hearth_err_msg());
        goto out;
    }

    hearth_backoff_config bc;
    hearth_backoff_config_default(&bc, "fleet-mqtt");
    bc.first_max_ms = 0; /* one service, not a fleet: no random first delay */
    hearth_backoff bo;
    if (hearth_backoff_init(&bo, &bc) != HEARTH_OK ||
        fleet_mqtt_connect(m, &conn, SESSION_S, &bo, &g_stop) != HEARTH_OK)
        goto stopped;
    hearth_backoff_connected(&bo);
    while (!g_stop) {
        /* max_packets 1: libmosquitto 2.0 loops max_packets times in
         * mosquitto_loop_write(), locking two mutexes per turn even with
         * nothing to send; 1000 spent half the ingest CPU there. */
        int rc = mosquitto_loop(m, 50, 1);
        if (rc == MOSQ_ERR_SUCCESS || g_stop) continue;
        /* The connection is gone (the writer keeps committing what it
         * has): reconnect paced by the backoff module, in order through
         * --broker. */
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
    /* Everything handed over is stored and committed before we leave. */
    fleet_writer_stop(in.w, &ws);
    in.w = NULL;
    if (m != NULL) mosquitto_disconnect(m);
    ret = ws.failed == 0 ? 0 : 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "hearth-fleet: stopped: stored %llu messages (%llu telemetry), rejected %llu, "
            "anomalies %llu, first_rx %.6f, last_commit %.6f, cpu_s %.3f\n",
            (unsigned long long)ws.stored, (unsigned long long)ws.telemetry,
            (unsigned long long)ws.rejected, (unsigned long long)fleet_anomaly_raised(an), ws.first_rx,
            ws.last_commit,
            (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
out:
    fleet_writer_stop(in.w, NULL);
    if (m != NULL) mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    fleet_report_server_stop(srv);
    fleet_checkpointer_stop(ckpt);
    fleet_anomaly_free(an);
    fleet_db_close(db);
    return ret;
}
