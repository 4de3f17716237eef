/* The enrolment thread of the device program (docs/operational-identity.md):
 * enrol at once when there is no valid operational certificate, renew when
 * 2/3 of its lifetime has passed, retry on the backoff module's schedule
 * (its long schedule and security event on a refusal), and keep using the
 * old certificate until a new one is stored. The network being gone costs
 * the device nothing but the link to its service.
 *
 *   --enrol-url URL   https://HOST[:PORT]/enrol, the service's endpoint
 *   --enrol-ca FILE   the service CA certificate: the endpoint's trust anchor
 *                     and the issuer operational certificates must chain to
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrol_glue.h"
#include "hearth/backoff.h"
#include "hearth/fetch_proto.h"
#include "hearth/util.h"

#define KEY_DER_MAX 4096
#define REQUEST_TIMEOUT_S 30
/* Re-evaluate at least this often (a clock step, a swapped file). */
#define RECHECK_MAX_S 3600

static struct {
    const char *url;
    const char *ca;
    uint16_t port;
    hearth_device *dev;
    hearth_enrol_identity id;
    bool id_set;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

void hearthd_enrol_usage(FILE *f)
{
    fprintf(f, "  --enrol-url URL    the service's enrolment endpoint (https://HOST[:PORT]/enrol):\n"
               "                     enrol for an operational certificate and renew it\n"
               "  --enrol-ca FILE    the service CA certificate (trust anchor of the endpoint\n"
               "                     and of operational certificates)\n");
}

int hearthd_enrol_args(const char *prog, int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        bool url = strcmp(argv[i], "--enrol-url") == 0, ca = strcmp(argv[i], "--enrol-ca") == 0;
        if (!url && !ca) {
            argv[out++] = argv[i];
            continue;
        }
        if (i + 1 >= *argc || (url ? g.url : g.ca) != NULL) {
            fprintf(stderr, "%s: %s needs one value\n", prog, argv[i]);
            return 2;
        }
        if (url) g.url = argv[++i];
        else g.ca = argv[++i];
    }
    *argc = out;
    argv[out] = NULL;
    if (g.url != NULL) {
        hearth_fetch_url u;
        if (g.ca == NULL || hearth_fetch_url_split(g.url, &u) != HEARTH_OK) {
            fprintf(stderr, "%s: --enrol-url needs an https:// URL and --enrol-ca FILE%s%s\n", prog,
                    g.ca != NULL ? ": " : "", g.ca != NULL ? hearth_err_msg() : "");
            return 2;
        }
        g.port = u.port;
    }
    return 0;
}

void hearthd_enrol_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *port)
{
    *port = g.url != NULL ? g.port : 0;
    if (g.ca != NULL && *n < cap) paths[(*n)++] = (hearth_sandbox_path){g.ca, HEARTH_SANDBOX_READ};
}

const hearth_enrol_identity *hearthd_enrol_identity(void)
{
    return g.id_set ? &g.id : NULL;
}

static hearth_enrol_outcome enrol_once(hearth_enrol_validity *v, uint32_t *retry_after_s)
{
    uint8_t *key = hearth_wipe_malloc(KEY_DER_MAX);
    size_t kl = 0;
    hearth_enrol_outcome out = HEARTH_ENROL_FAILED;
    hearth_status st = key != NULL ? hearth_device_private_key_der(g.dev, key, KEY_DER_MAX, &kl)
                                   : hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (st == HEARTH_OK) st = hearth_enrol_request(&g.id, g.url, key, kl, REQUEST_TIMEOUT_S, &out, v, retry_after_s);
    hearth_wipe_free(key);
    if (st == HEARTH_OK) {
        char na[24];
        snprintf(na, sizeof na, "%lld", (long long)v->not_after);
        hearth_seclog(HEARTH_SEV_INFO, "enrolled", "not_after", na, NULL);
    } else {
        hearth_seclog(HEARTH_SEV_WARNING, "enrol_failed", "reason", hearth_err_msg(), NULL);
    }
    return out;
}

/* Sleep @p ms unless stopped; true when stopped. */
static bool wait_ms(uint64_t ms)
{
    /* hearth_mono_ms() is CLOCK_MONOTONIC, the condition variable's clock. */
    int64_t at = hearth_mono_ms() + (int64_t)(ms < INT32_MAX ? ms : INT32_MAX);
    struct timespec ts = {.tv_sec = (time_t)(at / 1000), .tv_nsec = (long)(at % 1000) * 1000000L};
    pthread_mutex_lock(&g.mu);
    while (!g.stop && pthread_cond_timedwait(&g.cv, &g.mu, &ts) != ETIMEDOUT) {
    }
    bool stop = g.stop;
    pthread_mutex_unlock(&g.mu);
    return stop;
}

static void *enrol_thread(void *arg)
{
    (void)arg;
    hearth_backoff_config cfg;
    hearth_backoff_config_default(&cfg, "enrol");
    hearth_backoff b;
    if (hearth_backoff_init(&b, &cfg) != HEARTH_OK) return NULL;
    for (;;) {
        int64_t now = (int64_t)time(NULL);
        char pem[HEARTH_ENROL_CERT_MAX];
        size_t pl = 0;
        bool op = false;
        hearth_enrol_validity v = {0, 0};
        uint64_t delay_ms;
        if (hearth_enrol_current_cert(&g.id, now, pem, sizeof pem, &pl, &op, &v) != HEARTH_OK) op = false;
        int64_t due = hearth_enrol_renew_at(&v);
        if (op && now < due) {
            int64_t s = due - now < RECHECK_MAX_S ? due - now : RECHECK_MAX_S;
            delay_ms = (uint64_t)s * 1000;
        } else {
            uint32_t hint_s = 0;
            hearth_enrol_outcome out = enrol_once(&v, &hint_s);
            if (out == HEARTH_ENROL_DONE) {
                /* The count starts over. */
                if (hearth_backoff_init(&b, &cfg) != HEARTH_OK) return NULL;
                continue;
            }
            delay_ms = hearth_backoff_failed(&b,
                                             out == HEARTH_ENROL_REFUSED ? HEARTH_BACKOFF_REFUSED_AUTH
                                             : out == HEARTH_ENROL_BUSY  ? HEARTH_BACKOFF_BUSY
                                                                         : HEARTH_BACKOFF_FAILED,
                                             (uint64_t)hint_s * 1000); /* a busy service's Retry-After */
        }
        if (wait_ms(delay_ms)) return NULL;
    }
}

int hearthd_enrol_start(hearth_device *dev, const char *state)
{
    if (g.ca == NULL) return 0;
    g.dev = dev;
    g.id = (hearth_enrol_identity){.state_dir = state, .service_ca = g.ca,
                                   .factory_cert = hearth_device_cert_path(dev),
                                   .cn = hearth_device_serial(dev)};
    g.id_set = true;
    if (g.url == NULL) return 0;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&g.cv, &ca) != 0) {
        fprintf(stderr, "enrolment: cannot create its condition variable\n");
        return 1;
    }
    pthread_condattr_destroy(&ca);
    const hearth_thread t = {.mu = &g.mu, .cv = &g.cv, .thread = &g.thread, .running = &g.running,
                             .stop = &g.stop};
    if (hearth_thread_start(&t, enrol_thread, NULL, "enrolment") != HEARTH_OK) {
        fprintf(stderr, "enrolment: %s\n", hearth_err_msg());
        return 1;
    }
    return 0;
}

void hearthd_enrol_stop(void)
{
    if (g.url == NULL || !g.running) return;
    const hearth_thread t = {.mu = &g.mu, .cv = &g.cv, .thread = &g.thread, .running = &g.running,
                             .stop = &g.stop};
    hearth_thread_stop(&t);
}
