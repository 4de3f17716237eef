/*
 * hearthd's consent registry at work (docs/privacy.md, docs/mqtt.md topic
 * hearth/<id>/privacy):
 *  - every consent change is sent to the service at once (outbox class
 *    "event": it waits while offline and is the last thing dropped), so the
 *    service stops and deletes that purpose's data;
 *  - an erase request is signed with the device key and sent the same way;
 *  - once a second, each application's share_json data (the thermostat's
 *    temperature history) is sent, only while its purpose's consent is
 *    given and only for records taken after the consent was given. The
 *    check and the queueing happen under one lock that the change listener
 *    also takes, so no record is queued after a withdrawal was.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/outbox.h"
#include "hearth/util.h"
#include "link_glue.h"
#include "privacy_glue.h"

#define SHARE_APPS_MAX 8
#define SHARE_BATCH 64
#define SHARE_BUF (SHARE_BATCH * 40 + 256)
#define KEY_DER_MAX 4096
#define CERT_MAX 4096
#define PRIVACY_TOPIC "privacy"

static struct {
    hearth_privacy *p;
    hearth_device *dev;
    hearth_apps *apps;
    pthread_mutex_t send_mu; /* a consent check and its queueing are one step */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool running, stop;
    int64_t sent_ms[SHARE_APPS_MAX];
} g = {.send_mu = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

hearth_privacy *hearthd_privacy_create(hearth_device *dev)
{
    g.dev = dev;
    if (hearth_privacy_open(hearth_device_store(dev), &g.p) != HEARTH_OK) {
        fprintf(stderr, "hearthd: cannot open the consent registry: %s\n", hearth_err_msg());
        return NULL;
    }
    return g.p;
}

static void on_consent(void *arg, const char *purpose, bool granted)
{
    (void)arg;
    char msg[256];
    int n = snprintf(msg, sizeof msg, "{\"v\":1,\"type\":\"consent\",\"purpose\":\"%s\",\"granted\":%s,\"ts\":%lld}",
                     purpose, granted ? "true" : "false", (long long)hearth_time_now());
    if (n <= 0 || (size_t)n >= sizeof msg) return;
    pthread_mutex_lock(&g.send_mu);
    hearth_status st = hearthd_link_send(PRIVACY_TOPIC, HEARTH_OUTBOX_EVENT, msg, (size_t)n);
    pthread_mutex_unlock(&g.send_mu);
    if (st != HEARTH_OK && hearthd_link_service_ca() != NULL)
        hearth_seclog(HEARTH_SEV_WARNING, "consent_notice_not_queued", "purpose", purpose, "reason",
                      hearth_err_msg(), NULL);
}

static hearth_status read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    HEARTH_ENSURE(f != NULL, hearth_err(HEARTH_ERR_IO, "cannot open %s", path));
    size_t n = fread(buf, 1, cap - 1, f);
    bool err = ferror(f) != 0 || n == cap - 1;
    (void)fclose(f);
    HEARTH_ENSURE(!err && n > 0, hearth_err(HEARTH_ERR_IO, "cannot read %s", path));
    buf[n] = '\0';
    return HEARTH_OK;
}

static void on_erase(void *arg, const char *request_id, int64_t ts)
{
    (void)arg;
    uint8_t *der = malloc(KEY_DER_MAX);
    char *cert = malloc(CERT_MAX);
    char *msg = malloc(HEARTH_OUTBOX_PAYLOAD_MAX);
    size_t kl = 0, ml = 0;
    hearth_status st = der != NULL && cert != NULL && msg != NULL ? HEARTH_OK : HEARTH_ERR_NOMEM;
    if (st == HEARTH_OK) st = read_file(hearth_device_cert_path(g.dev), cert, CERT_MAX);
    if (st == HEARTH_OK) st = hearth_device_private_key_der(g.dev, der, KEY_DER_MAX, &kl);
    if (st == HEARTH_OK)
        st = hearth_privacy_erase_sign(hearth_device_serial(g.dev), request_id, ts, der, kl, cert, msg,
                                       HEARTH_OUTBOX_PAYLOAD_MAX, &ml);
    if (der != NULL) hearth_memzero(der, KEY_DER_MAX);
    if (st == HEARTH_OK) st = hearthd_link_send(PRIVACY_TOPIC, HEARTH_OUTBOX_EVENT, msg, ml);
    if (st != HEARTH_OK)
        hearth_seclog(HEARTH_SEV_WARNING, "service_erase_not_queued", "request", request_id, "reason",
                      hearth_err_msg(), NULL);
    free(der);
    free(cert);
    free(msg);
}

static size_t held(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    const hearth_app *a = hearth_apps_app(g.apps, i);
    return a != NULL && a->share_held != NULL ? a->share_held(hearth_apps_state(g.apps, i)) : 0;
}

/* Send what application @p i has for its purpose, if consent is given. */
static void share_one(size_t i, char *data, char *msg)
{
    const hearth_app *a = hearth_apps_app(g.apps, i);
    if (a->share_purpose == NULL || a->share_json == NULL) return;
    pthread_mutex_lock(&g.send_mu);
    hearth_privacy_consent c;
    if (hearth_privacy_get(g.p, a->share_purpose, &c) != HEARTH_OK || !c.granted) {
        hearth_err_clear();
        pthread_mutex_unlock(&g.send_mu);
        return;
    }
    /* Only records taken after the consent was given (since is whole
     * seconds: the next second on, never a moment before). */
    int64_t from = (c.since + 1) * 1000;
    int64_t after = g.sent_ms[i] > from ? g.sent_ms[i] : from;
    size_t n = 0;
    int64_t last = after;
    hearth_status st = a->share_json(hearth_apps_state(g.apps, i), after, SHARE_BATCH, data, SHARE_BUF, &n, &last);
    if (st == HEARTH_OK && n > 0) {
        int w = snprintf(msg, SHARE_BUF + 256,
                         "{\"v\":1,\"type\":\"history\",\"purpose\":\"%s\",\"app\":\"%s\",\"ts\":%lld,\"samples\":%s}",
                         a->share_purpose, a->name, (long long)hearth_time_now(), data);
        if (w > 0 && (size_t)w < SHARE_BUF + 256 &&
            hearthd_link_send(PRIVACY_TOPIC, HEARTH_OUTBOX_TELEMETRY, msg, (size_t)w) == HEARTH_OK)
            g.sent_ms[i] = last;
        else
            hearth_err_clear();
    }
    pthread_mutex_unlock(&g.send_mu);
}

static void *run(void *arg)
{
    (void)arg;
    char *data = malloc(SHARE_BUF);
    char *msg = malloc(SHARE_BUF + 256);
    pthread_mutex_lock(&g.mu);
    while (!g.stop && data != NULL && msg != NULL) {
        pthread_mutex_unlock(&g.mu);
        size_t n = hearth_apps_count(g.apps);
        for (size_t i = 0; i < n && i < SHARE_APPS_MAX; i++) share_one(i, data, msg);
        pthread_mutex_lock(&g.mu);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        int rc = 0;
        while (!g.stop && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&g.cv, &g.mu, &dl);
    }
    pthread_mutex_unlock(&g.mu);
    free(data);
    free(msg);
    return NULL;
}

void hearthd_privacy_start(hearth_apps *apps)
{
    if (g.p == NULL) return;
    g.apps = apps;
    for (size_t i = 0; i < hearth_apps_count(apps) && i < SHARE_APPS_MAX; i++) {
        const hearth_app *a = hearth_apps_app(apps, i);
        if (a->share_purpose != NULL && a->share_held != NULL &&
            hearth_privacy_add_holder(g.p, a->share_purpose, held, (void *)(uintptr_t)i) != HEARTH_OK)
            fprintf(stderr, "hearthd: %s\n", hearth_err_msg());
    }
    hearth_privacy_set_listener(g.p, on_consent, NULL);
    const char *ca = hearthd_link_service_ca();
    if (ca == NULL) return; /* no service: nothing leaves the device, nothing to erase there */
    hearth_privacy_set_service(g.p, ca, hearth_device_serial(g.dev));
    hearth_privacy_set_erase_listener(g.p, on_erase, NULL);
    /* A request recorded but perhaps not queued before a power cut goes
     * again (the service answers a repeated request with the same kind of
     * receipt; only the pending one is accepted). */
    hearth_privacy_erase_status es;
    if (hearth_privacy_erase_get(g.p, &es, NULL, 0) == HEARTH_OK && strcmp(es.state, "requested") == 0)
        on_erase(NULL, es.request_id, es.requested_at);
    g.stop = false;
    if (pthread_create(&g.th, NULL, run, NULL) == 0) g.running = true;
    else fprintf(stderr, "hearthd: cannot start the privacy thread\n");
}

hearth_status hearthd_privacy_erase_user(void *arg, const char *user)
{
    (void)arg;
    if (g.p == NULL) return HEARTH_OK;
    size_t n = 0;
    return hearth_privacy_erase_user(g.p, user, &n);
}

void hearthd_privacy_quiesce(void)
{
    if (g.running) {
        pthread_mutex_lock(&g.mu);
        g.stop = true;
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
        pthread_join(g.th, NULL);
        g.running = false;
    }
}

void hearthd_privacy_stop(void)
{
    hearthd_privacy_quiesce();
    hearth_privacy_close(g.p);
    g.p = NULL;
}
