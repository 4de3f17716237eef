/*
 * hearthd's MQTT link (docs/mqtt.md): options, the outbox and request-id
 * memory, the TLS context from the device identity, and the callbacks that
 * run commands through the local API and describe the applications' state.
 *
 *   --mqtt-broker HOST:PORT     a broker, tried in the order given (up to 8);
 *                               none: no link, nothing changes
 *   --mqtt-ca FILE              the service CA: the only trust anchor for brokers
 *   --mqtt-server-name NAME     name the broker certificates must carry
 *                               (default: the broker's host)
 *   --mqtt-protocol 5|3.1.1     MQTT version (default 5)
 *   --mqtt-first-delay-max MS   random first delay window after start and
 *                               after a fleet-wide disconnect (default 30000)
 *   --mqtt-connect-timeout MS   TLS handshake + CONNACK deadline (default 10000)
 *   --mqtt-session persistent|clean  a session kept at the broker (default) or none
 *
 * The private key is read from the secure store (or the TPM) into the TLS
 * context for each connection and never written anywhere; the outbox MAC
 * key is derived (HKDF-SHA256) from a random secret kept in the secure store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "enrol_glue.h"
#include "hearth/enrol.h"
#include "hearth/link.h"
#include "hearth/outbox.h"
#include "hearth/reset.h"
#include "hearth/store.h"
#include "hearth/tls_client.h"
#include "hearth/util.h"
#include "link_glue.h"
#include "reset_glue.h"
#include "update_glue.h"

#define KEY_DER_MAX 4096
#define OUTBOX_SECRET_RECORD "link.outbox_secret"
#define OUTBOX_KDF_INFO "hearth outbox mac v1"

static struct {
    const char *prog;
    hearth_link_config cfg;
    const char *ca;
    hearth_device *dev;
    hearth_api *api;
    hearth_apps *apps;
    hearth_outbox *outbox;
    hearth_link_reqids *reqids;
    hearth_link *link; /* set and cleared under mu: the telemetry sink runs on another thread */
    pthread_mutex_t mu;
    char outbox_dir[4096];
    const char *state_dir;
    char op_cert[4096];
} g = {.prog = "hearthd", .mu = PTHREAD_MUTEX_INITIALIZER, .cfg = {.protocol = 5, .first_delay_max_ms = HEARTH_BACKOFF_FIRST_MAX_MS}};

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s[0] < '0' || s[0] > '9') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) return false;
    *out = v;
    return true;
}

int hearthd_link_args(const char *prog, int *argc, char **argv)
{
    g.prog = prog;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (a == NULL) break;
        if (strncmp(a, "--mqtt-", 7) != 0) {
            argv[out++] = argv[i];
            continue;
        }
        const char *v = i + 1 < *argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "%s: %s needs a value\n", g.prog, a);
            return 2;
        }
        bool ok = true;
        if (strcmp(a, "--mqtt-broker") == 0) {
            if (g.cfg.nbrokers >= HEARTH_LINK_BROKERS_MAX) {
                fprintf(stderr, "%s: at most %d --mqtt-broker\n", g.prog, HEARTH_LINK_BROKERS_MAX);
                return 2;
            }
            ok = hearth_link_broker_parse(v, &g.cfg.brokers[g.cfg.nbrokers]) == HEARTH_OK;
            if (ok) g.cfg.nbrokers++;
        } else if (strcmp(a, "--mqtt-ca") == 0) {
            g.ca = v;
            ok = v[0] != '\0';
        } else if (strcmp(a, "--mqtt-server-name") == 0) {
            g.cfg.server_name = v;
            ok = v[0] != '\0' && strlen(v) <= HEARTH_LINK_HOST_MAX;
        } else if (strcmp(a, "--mqtt-protocol") == 0) {
            if (strcmp(v, "5") == 0) g.cfg.protocol = 5;
            else if (strcmp(v, "3.1.1") == 0) g.cfg.protocol = 4;
            else ok = false;
        } else if (strcmp(a, "--mqtt-first-delay-max") == 0) {
            ok = parse_u64(v, 3600000, &g.cfg.first_delay_max_ms);
        } else if (strcmp(a, "--mqtt-connect-timeout") == 0) {
            ok = parse_u64(v, HEARTH_LINK_CONNECT_TIMEOUT_MAX_MS, &g.cfg.connect_timeout_ms) && g.cfg.connect_timeout_ms >= 100;
        } else if (strcmp(a, "--mqtt-session") == 0) {
            if (strcmp(v, "persistent") == 0) g.cfg.clean_session = false;
            else if (strcmp(v, "clean") == 0) g.cfg.clean_session = true;
            else ok = false;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", g.prog, a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "%s: invalid value for %s: %s\n", g.prog, a,
                    strcmp(a, "--mqtt-broker") == 0 ? hearth_err_msg() : v);
            return 2;
        }
        i++;
    }
    argv[out] = NULL;
    *argc = out;
    if (g.cfg.nbrokers > 0 && g.ca == NULL) {
        fprintf(stderr, "%s: --mqtt-broker needs --mqtt-ca (the service CA)\n", g.prog);
        return 2;
    }
    return 0;
}

void hearthd_link_usage(FILE *f)
{
    fprintf(f, "  --mqtt-broker HOST:PORT  MQTT broker of the service, repeatable (up to %d,\n"
               "                     tried in order); none: no service link\n"
               "  --mqtt-ca FILE     the service CA, the only trust anchor for brokers\n"
               "  --mqtt-server-name NAME  name the broker certificate must carry\n"
               "                     (default: the broker's host)\n"
               "  --mqtt-protocol 5|3.1.1  MQTT version (default 5)\n"
               "  --mqtt-first-delay-max MS  random delay window before the first\n"
               "                     connection and after a fleet-wide disconnect (default %u)\n"
               "  --mqtt-connect-timeout MS  TLS handshake + CONNACK deadline (default %u)\n"
               "  --mqtt-session persistent|clean  persistent (default): the broker keeps\n"
               "                     the session a day, with commands sent meanwhile; clean: none\n",
            HEARTH_LINK_BROKERS_MAX, (unsigned)HEARTH_BACKOFF_FIRST_MAX_MS, (unsigned)HEARTH_LINK_CONNECT_TIMEOUT_MS);
}

void hearthd_link_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *ports, size_t pcap,
                          size_t *np)
{
    if (g.cfg.nbrokers == 0) return;
    if (*n < cap) paths[(*n)++] = (hearth_sandbox_path){g.ca, HEARTH_SANDBOX_READ};
    for (size_t i = 0; i < g.cfg.nbrokers; i++) {
        bool dup = false;
        for (size_t j = 0; j < *np; j++) dup = dup || ports[j] == g.cfg.brokers[i].port;
        if (!dup && *np < pcap) ports[(*np)++] = g.cfg.brokers[i].port;
    }
}

/* ------------------------------------------------------------ callbacks */

static hearth_status tls_ctx(void *arg, SSL_CTX **out)
{
    (void)arg;
    uint8_t *der = malloc(KEY_DER_MAX);
    HEARTH_ENSURE(der != NULL, hearth_err(HEARTH_ERR_NOMEM, "link: out of memory"));
    size_t len = 0;
    hearth_status st = hearth_device_private_key_der(g.dev, der, KEY_DER_MAX, &len);
    /* The operational certificate when the stored one is valid now (the
     * enrolment module re-checks it on every call against the CA that
     * issues them, --enrol-ca, which need not be the CA of the broker's
     * own certificate, --mqtt-ca), else the factory certificate, which a
     * broker accepts only when configured to trust the manufacturer CA
     * (docs/mqtt.md). Without --enrol-ca there is no operational one. */
    const char *cert = hearth_device_cert_path(g.dev);
    const hearth_enrol_identity *id = hearthd_enrol_identity();
    char *pem = st == HEARTH_OK && id != NULL ? malloc(HEARTH_ENROL_CERT_MAX + 1) : NULL;
    size_t pl = 0;
    bool operational = false;
    if (pem != NULL && hearth_enrol_current_cert(id, hearth_time_now(), pem, HEARTH_ENROL_CERT_MAX + 1, &pl,
                                                 &operational, NULL) == HEARTH_OK && operational &&
        snprintf(g.op_cert, sizeof g.op_cert, "%s/%s", g.state_dir, HEARTH_ENROL_CERT_FILE) <
            (int)sizeof g.op_cert)
        cert = g.op_cert;
    if (pem != NULL) hearth_err_clear(); /* no operational certificate: the factory one */
    free(pem);
    if (st == HEARTH_OK) st = hearth_tls_client_ctx_new("broker", g.ca, cert, der, len, out);
    hearth_memzero(der, KEY_DER_MAX);
    free(der);
    return st;
}

static void run_command(void *arg, const hearth_link_command *cmd, int *status, char *body, size_t cap)
{
    (void)arg;
    hearth_api_request req = {
        .method = cmd->method,
        .path = cmd->path,
        .content_type = cmd->body != NULL ? "application/json" : NULL,
        .body = cmd->body,
        .body_len = cmd->body_len,
        .source = "service",
    };
    hearth_api_response *resp = malloc(sizeof *resp);
    if (resp == NULL) {
        *status = 503;
        snprintf(body, cap, "{\"error\":\"busy\"}");
        return;
    }
    hearth_api_handle_service(g.api, &req, cmd->id, resp);
    *status = resp->status;
    if (resp->body_len < cap) {
        memcpy(body, resp->body, resp->body_len);
        body[resp->body_len] = '\0';
    } else {
        body[0] = '\0';
    }
    hearth_memzero(resp, sizeof *resp);
    free(resp);
}

static hearth_status apps_state(void *arg, char *buf, size_t cap)
{
    (void)arg;
    size_t o = 0;
    HEARTH_ENSURE(cap > 2, HEARTH_ERR_TOO_LARGE);
    buf[o++] = '{';
    for (size_t i = 0; i < hearth_apps_count(g.apps); i++) {
        const hearth_app *a = hearth_apps_app(g.apps, i);
        if (a->state_json == NULL) continue;
        int n = snprintf(buf + o, cap - o, "%s\"%s\":", o > 1 ? "," : "", a->name);
        if (n < 0 || (size_t)n >= cap - o) return hearth_err(HEARTH_ERR_TOO_LARGE, "link: state too large");
        o += (size_t)n;
        HEARTH_GUARD(a->state_json(hearth_apps_state(g.apps, i), buf + o, cap - o));
        o += strlen(buf + o);
    }
    if (o + 2 > cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "link: state too large");
    buf[o++] = '}';
    buf[o] = '\0';
    return HEARTH_OK;
}

static void update_due(void *arg)
{
    (void)arg;
    hearthd_update_request_check();
}

/* The outbox MAC key: HKDF-SHA256 over a random secret that lives only in
 * the secure store (created on first use), bound to the device id. */
static hearth_status outbox_key(hearth_store *store, const char *serial, uint8_t key[HEARTH_OUTBOX_KEY_LEN])
{
    return hearth_store_secret_key(store, OUTBOX_SECRET_RECORD, true, serial, OUTBOX_KDF_INFO, key,
                                   HEARTH_OUTBOX_KEY_LEN);
}

/* The reset epoch of every message ("ep", docs/mqtt.md): the reset count
 * of the notice the store holds since its factory reset, constant for the
 * life of the store (a reset makes a new one); 0 for a device never reset.
 * A malformed notice stops the link: its messages could not be ordered. */
static hearth_status reset_epoch(hearth_store *store, uint64_t *epoch)
{
    hearth_reset_notice n = {0};
    hearth_status st = hearth_reset_notice_get(store, &n);
    *epoch = 0;
    if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        return HEARTH_OK;
    }
    HEARTH_GUARD(st);
    *epoch = n.count;
    return HEARTH_OK;
}

int hearthd_link_start(hearth_device *dev, const char *state_dir, hearth_api *api, hearth_apps *apps)
{
    if (g.cfg.nbrokers == 0) return 0;
    g.dev = dev;
    g.state_dir = state_dir;
    g.api = api;
    g.apps = apps;
    hearth_store *store = hearth_device_store(dev);
    uint8_t key[HEARTH_OUTBOX_KEY_LEN];
    hearth_outbox_config oc;
    hearth_outbox_config_default(&oc);
    snprintf(g.outbox_dir, sizeof g.outbox_dir, "%s/outbox", state_dir);
    hearth_status st = outbox_key(store, hearth_device_serial(dev), key);
    if (st == HEARTH_OK && mkdir(g.outbox_dir, 0700) != 0 && errno != EEXIST)
        st = hearth_err(HEARTH_ERR_IO, "link: cannot create %s", g.outbox_dir);
    if (st == HEARTH_OK) st = hearth_outbox_open(g.outbox_dir, key, &oc, &g.outbox);
    hearth_memzero(key, sizeof key);
    if (st == HEARTH_OK) st = hearth_link_reqids_open(store, &g.reqids);
    if (st == HEARTH_OK) st = reset_epoch(store, &g.cfg.reset_epoch);
    if (st == HEARTH_OK) {
        g.cfg.device_id = hearth_device_serial(dev);
        g.cfg.software_version = hearth_version();
        g.cfg.outbox = g.outbox;
        g.cfg.reqids = g.reqids;
        g.cfg.tls = tls_ctx;
        g.cfg.state = apps_state;
        g.cfg.command = run_command;
        g.cfg.update = update_due;
        pthread_mutex_lock(&g.mu);
        st = hearth_link_start(&g.cfg, &g.link);
        pthread_mutex_unlock(&g.mu);
    }
    if (st != HEARTH_OK) {
        fprintf(stderr, "%s: cannot start the service link: %s\n", g.prog, hearth_err_msg());
        hearthd_link_stop();
        return 1;
    }
    hearthd_reset_report(dev); /* a factory reset since the last start (docs/erasure.md) */
    return 0;
}

void hearthd_link_stop(void)
{
    pthread_mutex_lock(&g.mu);
    hearth_link_stop(g.link);
    g.link = NULL;
    pthread_mutex_unlock(&g.mu);
    hearth_link_reqids_close(g.reqids);
    g.reqids = NULL;
    hearth_outbox_close(g.outbox);
    g.outbox = NULL;
}

void hearthd_link_telemetry(const char *json, size_t len, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    if (g.link != NULL && hearth_link_queue(g.link, HEARTH_OUTBOX_TELEMETRY, "telemetry", json, len) != HEARTH_OK)
        fprintf(stderr, "%s: telemetry report not queued: %s\n", g.prog, hearth_err_msg());
    pthread_mutex_unlock(&g.mu);
}

hearth_status hearthd_link_send(const char *topic, int cls, const char *json, size_t len)
{
    pthread_mutex_lock(&g.mu);
    hearth_status st = g.link != NULL ? hearth_link_queue(g.link, (hearth_outbox_class)cls, topic, json, len)
                                      : hearth_err(HEARTH_ERR_STATE, "no service link");
    pthread_mutex_unlock(&g.mu);
    return st;
}

const char *hearthd_link_service_ca(void)
{
    return g.cfg.nbrokers > 0 ? g.ca : NULL;
}
