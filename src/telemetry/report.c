/*
 * The report builder: schema telemetry/v1 (docs/telemetry/schema-v1.json)
 * into a caller-owned buffer. Every string in a report is formatted here
 * from numbers (ports, parsed addresses), so nothing needs escaping; the
 * usage class only with the owner's consent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "telemetry_internal.h"

typedef struct {
    char *buf;
    size_t cap, len;
    bool full;
} out_t;

static void put(out_t *o, const char *fmt, ...) HEARTH_PRINTF(2, 3);
static void put(out_t *o, const char *fmt, ...)
{
    if (o->full) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) o->full = true;
    else o->len += (size_t)n;
}

static void ports(out_t *o, const char *key, const uint16_t *p, size_t n, size_t total)
{
    put(o, "\"%s\":{\"pts\":[", key);
    for (size_t i = 0; i < n; i++) put(o, "%s{\"pt\":%u}", i ? "," : "", p[i]);
    put(o, "],\"t\":%zu}", total);
}

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

hearth_status hearth_telemetry_report(hearth_telemetry *t, const hearth_telemetry_snapshot *s,
                                      char *buf, size_t cap, size_t *len)
{
    HEARTH_ENSURE(t != NULL && s != NULL && buf != NULL && cap > 0 && len != NULL,
                  HEARTH_ERR_INVALID);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t rid = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&t->mu);
    if (rid <= t->last_rid) rid = t->last_rid + 1; /* ordered even if the clock steps back */
    t->last_rid = rid;
    uint64_t c[TM_NCOUNTERS];
    for (int i = 0; i < TM_NCOUNTERS; i++) c[i] = t->counters[i];
    uint64_t boots = t->boots, unexpected = t->unexpected, alerts = t->alerts;
    bool consent = t->consent;
    pthread_mutex_unlock(&t->mu);
    if (t->cfg.privacy != NULL) consent = hearth_telemetry_usage_consent(t);
    int64_t up = (s->at_ms - t->started_ms) / 1000;

    out_t o = {buf, cap, 0, false};
    put(&o, "{\"v\":1,\"hed\":{\"rid\":%lld,\"v\":\"1.0\"},\"met\":{", (long long)rid);
    ports(&o, "tp", s->tcp, s->n_tcp, s->tcp_total);
    put(&o, ",");
    ports(&o, "up", s->udp, s->n_udp, s->udp_total);
    put(&o, ",\"ns\":{\"bi\":%llu,\"bo\":%llu,\"pi\":%llu,\"po\":%llu}", ull(s->bytes_in),
        ull(s->bytes_out), ull(s->packets_in), ull(s->packets_out));
    put(&o, ",\"tc\":{\"ec\":{\"cs\":[");
    for (size_t i = 0; i < s->n_conns; i++)
        put(&o, "%s{\"rad\":\"%s\",\"lp\":%u}", i ? "," : "", s->conns[i].rad, s->conns[i].lport);
    put(&o, "],\"t\":%zu}}}", s->established);
    put(&o,
        ",\"cmet\":{\"lf\":%llu,\"lo\":%llu,\"uvf\":%llu,\"iff\":%llu,\"bc\":%llu,\"ur\":%llu,"
        "\"rss\":%llu,\"ut\":%lld,\"al\":%llu}",
        ull(c[TM_LF]), ull(c[TM_LO]), ull(c[TM_UVF]), ull(c[TM_IFF]), ull(boots), ull(unexpected),
        ull(s->rss_kib), (long long)(up > 0 ? up : 0), ull(alerts));
    if (consent) put(&o, ",\"use\":{\"sc\":%llu}", ull(c[TM_SC]));
    put(&o, "}");
    if (o.full) {
        buf[0] = '\0';
        *len = 0;
        return hearth_err(HEARTH_ERR_TOO_LARGE, "telemetry: report larger than %zu bytes", cap);
    }
    *len = o.len;
    return HEARTH_OK;
}
