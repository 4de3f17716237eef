/*
 * hearthd's security telemetry (EN 303 645 5.10-1; docs/telemetry.md): a
 * thread samples the device every interval (Device Defender's 300 s by
 * default), runs the on-device rules, builds the report and hands it to the
 * sink the runtime passes in (the link, which publishes it).
 *
 * Option (removed from argv before the runtime parses its own):
 *   --telemetry-interval S   seconds between samples (default 300, 1..86400)
 *
 * The collector reads /proc/self/net/ and /proc/self/status, which the
 * device program's Landlock rules already allow (/proc/self, read).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/util.h"
#include "telemetry_glue.h"

#define INTERVAL_MAX_S 86400

static struct {
    uint32_t interval_s;
    hearth_telemetry *t;
    hearthd_telemetry_sink sink;
    void *sink_arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop, cv_ready;
} g = {.interval_s = HEARTH_TELEMETRY_INTERVAL_DEFAULT_S, .mu = PTHREAD_MUTEX_INITIALIZER};

int hearthd_telemetry_args(const char *prog, int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (argv[i] == NULL) break;
        if (strcmp(argv[i], "--telemetry-interval") != 0) {
            argv[out++] = argv[i];
            continue;
        }
        char *end = NULL;
        errno = 0;
        unsigned long v = i + 1 < *argc ? strtoul(argv[i + 1], &end, 10) : 0;
        if (i + 1 >= *argc || errno != 0 || end == argv[i + 1] || *end != '\0' || v < 1 ||
            v > INTERVAL_MAX_S) {
            fprintf(stderr, "%s: --telemetry-interval needs SECONDS (1..%d)\n", prog,
                    INTERVAL_MAX_S);
            return 2;
        }
        g.interval_s = (uint32_t)v;
        i++;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

hearth_telemetry *hearthd_telemetry_create(hearth_device *dev, struct hearth_privacy *privacy)
{
    /* The usage consent is the registry's (hearth/privacy.h). */
    hearth_telemetry_config cfg = {.store = hearth_device_store(dev), .privacy = privacy};
    if (hearth_telemetry_open(&cfg, &g.t) != HEARTH_OK) {
        hearth_seclog(HEARTH_SEV_WARNING, "telemetry_unavailable", "reason", hearth_err_msg(),
                      NULL);
        g.t = NULL;
    }
    return g.t;
}

void hearthd_telemetry_declare(hearth_telemetry_port_kind kind, const uint16_t *ports, size_t n)
{
    for (size_t i = 0; g.t != NULL && i < n; i++) {
        if (ports[i] != 0 && hearth_telemetry_declare(g.t, kind, ports[i]) != HEARTH_OK)
            hearth_seclog(HEARTH_SEV_WARNING, "telemetry_declare_failed", "reason",
                          hearth_err_msg(), NULL);
    }
}

/* One sample: rules, report, sink. A failing sample is logged once per run
 * of failures. */
static void tick(bool *failing)
{
    hearth_telemetry_snapshot s;
    static char report[HEARTH_TELEMETRY_REPORT_MAX];
    size_t len = 0;
    hearth_status st = hearth_telemetry_sample(g.t, &s);
    if (st == HEARTH_OK) {
        (void)hearth_telemetry_check(g.t, &s);
        st = hearth_telemetry_report(g.t, &s, report, sizeof report, &len);
    }
    if (st != HEARTH_OK) {
        if (!*failing)
            hearth_seclog(HEARTH_SEV_WARNING, "telemetry_sample_failed", "reason",
                          hearth_err_msg(), NULL);
        *failing = true;
        return;
    }
    *failing = false;
    if (g.sink != NULL) g.sink(report, len, g.sink_arg);
}

static void *run(void *arg)
{
    (void)arg;
    bool failing = false;
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        pthread_mutex_unlock(&g.mu);
        tick(&failing);
        pthread_mutex_lock(&g.mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += g.interval_s;
        while (!g.stop && pthread_cond_timedwait(&g.cv, &g.mu, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

void hearthd_telemetry_start(hearthd_telemetry_sink sink, void *arg)
{
    if (g.t == NULL) return;
    g.sink = sink;
    g.sink_arg = arg;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&g.cv, &ca) != 0) {
        hearth_seclog(HEARTH_SEV_WARNING, "telemetry_unavailable", "reason", "condition variable",
                      NULL);
        return;
    }
    pthread_condattr_destroy(&ca);
    g.cv_ready = true;
    hearth_thread th = {&g.mu, &g.cv, &g.thread, &g.running, &g.stop};
    if (hearth_thread_start(&th, run, NULL, "telemetry") != HEARTH_OK)
        hearth_seclog(HEARTH_SEV_WARNING, "telemetry_unavailable", "reason", hearth_err_msg(),
                      NULL);
}

void hearthd_telemetry_stop(void)
{
    if (g.cv_ready) {
        hearth_thread th = {&g.mu, &g.cv, &g.thread, &g.running, &g.stop};
        hearth_thread_stop(&th);
        pthread_cond_destroy(&g.cv);
        g.cv_ready = false;
    }
    hearth_telemetry_close(g.t);
    g.t = NULL;
}
