/* The thermostat's temperature history (docs/thermostat.md "Temperature
 * history", docs/privacy.md): a bounded ring in memory of the measured
 * temperature every --history-interval seconds (default 300; the last
 * THERMO_HISTORY_MAX samples, 24 h at the default), lost at a restart and
 * never written to disk. The device shows it to its users
 * (GET /api/v1/thermostat/history); the runtime sends it to the service
 * only while the temperature_history consent is given (hearth_app's
 * share_json), because a temperature history reveals when people are at
 * home. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thermo_history.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void thermo_history_init(thermo_history *h, hearth_thermo *thermo, uint32_t interval_s)
{
    memset(h, 0, sizeof *h);
    h->thermo = thermo;
    h->interval_s = interval_s;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
}

void thermo_history_destroy(thermo_history *h)
{
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

void thermo_history_add(thermo_history *h, int64_t t_ms, double c)
{
    pthread_mutex_lock(&h->mu);
    size_t slot = (h->head + h->count) % THERMO_HISTORY_MAX;
    if (h->count == THERMO_HISTORY_MAX) h->head = (h->head + 1) % THERMO_HISTORY_MAX;
    else h->count++;
    h->s[slot] = (thermo_sample){t_ms, c};
    pthread_mutex_unlock(&h->mu);
}

static void sample(thermo_history *h)
{
    hearth_thermo_status s;
    hearth_thermo_get(h->thermo, &s);
    if (s.ticks > 0 && isfinite(s.current_c)) thermo_history_add(h, now_ms(), s.current_c);
}

static void *run(void *arg)
{
    thermo_history *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += h->interval_s;
        int rc = 0;
        while (!h->stop && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&h->cv, &h->mu, &dl);
        if (h->stop) break;
        pthread_mutex_unlock(&h->mu);
        sample(h);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

hearth_status thermo_history_start(thermo_history *h)
{
    h->stop = false;
    if (pthread_create(&h->thread, NULL, run, h) != 0)
        return hearth_err(HEARTH_ERR_NOMEM, "thermostat: cannot start the history thread");
    h->running = true;
    return HEARTH_OK;
}

void thermo_history_stop(thermo_history *h)
{
    if (!h->running) return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    h->running = false;
}

size_t thermo_history_count(thermo_history *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->count;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void thermo_history_clear(thermo_history *h)
{
    pthread_mutex_lock(&h->mu);
    memset(h->s, 0, sizeof h->s);
    h->head = h->count = 0;
    pthread_mutex_unlock(&h->mu);
}

hearth_status thermo_history_json(thermo_history *h, int64_t after_ms, size_t max, char *buf, size_t cap,
                                  size_t *count, int64_t *last_ms)
{
    HEARTH_ENSURE(cap >= 3, hearth_err(HEARTH_ERR_TOO_LARGE, "thermostat: history buffer"));
    size_t o = 0, n = 0;
    buf[o++] = '[';
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->count && n < max; i++) {
        const thermo_sample *s = &h->s[(h->head + i) % THERMO_HISTORY_MAX];
        if (s->t_ms <= after_ms) continue;
        int w = snprintf(buf + o, cap - o, "%s{\"t\":%lld,\"c\":%.2f}", n ? "," : "", (long long)s->t_ms, s->c);
        if (w < 0 || (size_t)w >= cap - o - 1) break; /* full: the rest goes next time */
        o += (size_t)w;
        n++;
        if (last_ms != NULL) *last_ms = s->t_ms;
    }
    pthread_mutex_unlock(&h->mu);
    buf[o++] = ']';
    buf[o] = '\0';
    if (count != NULL) *count = n;
    return HEARTH_OK;
}
