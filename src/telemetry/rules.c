/*
 * The on-device rules (EN 303 645 5.10-1; docs/telemetry.md "On-device
 * rules", thresholds from docs/telemetry/schema-v1.json through the
 * generated telemetry_schema_gen.h). Each raises one security event per
 * episode: an undeclared port or destination when it first appears (again
 * only after it has gone), a login spike when the window first holds the
 * threshold (again only after it fell below), integrity failures at the
 * first sample that finds new ones (again only after a sample without), an
 * unexpected restart once per start.
 *
 * The decisions are made under the object's lock and the events logged
 * after it is released: the seclog hook takes that lock under the log's.
 */
#include <stdio.h>
#include <string.h>

#include "hearth/util.h"
#include "telemetry_internal.h"
#include "telemetry_schema_gen.h"

#define EVENTS_PER_CHECK 24

typedef struct {
    const char *event;
    hearth_severity sev;
    char k1[24], v1[HEARTH_TELEMETRY_ADDR_MAX], k2[24], v2[24];
} pending;

typedef struct {
    pending ev[EVENTS_PER_CHECK];
    size_t n;
} pending_list;

static pending *add(pending_list *l, const char *event, hearth_severity sev)
{
    if (l->n >= EVENTS_PER_CHECK) return NULL;
    pending *p = &l->ev[l->n++];
    memset(p, 0, sizeof *p);
    p->event = event;
    p->sev = sev;
    return p;
}

static bool declared(const uint16_t *set, size_t n, uint16_t port)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == port) return true;
    return false;
}

/* The alerted entry for (kind, port, addr), or NULL. */
static tm_alerted *find_alerted(hearth_telemetry *t, uint8_t kind, uint16_t port, const char *addr)
{
    for (size_t i = 0; i < t->n_alerted; i++) {
        tm_alerted *a = &t->alerted[i];
        if (a->kind == kind && a->port == port && strcmp(a->addr, addr) == 0) return a;
    }
    return NULL;
}

/* Episode of one undeclared port or destination: raise when it is new. */
static void episode(hearth_telemetry *t, pending_list *l, uint8_t kind, uint16_t port,
                    const char *addr)
{
    tm_alerted *a = find_alerted(t, kind, port, addr);
    if (a != NULL) {
        a->seen = true;
        return;
    }
    if (t->n_alerted >= TM_ALERTED_MAX) return;
    const char *event = kind == 'd' ? "telemetry_undeclared_destination" : "telemetry_undeclared_port";
    pending *p = add(l, event, HEARTH_SEV_ALERT);
    if (p == NULL) return; /* raised at a later check: not remembered yet */
    a = &t->alerted[t->n_alerted++];
    a->kind = kind;
    a->port = port;
    snprintf(a->addr, sizeof a->addr, "%s", addr);
    a->seen = true;
    if (kind == 'd') {
        snprintf(p->k1, sizeof p->k1, "remote");
        snprintf(p->v1, sizeof p->v1, "%s", addr);
    } else {
        snprintf(p->k1, sizeof p->k1, "protocol");
        snprintf(p->v1, sizeof p->v1, "%s", kind == 't' ? "tcp" : "udp");
        snprintf(p->k2, sizeof p->k2, "port");
        snprintf(p->v2, sizeof p->v2, "%u", port);
    }
}

/* Forget the episodes that ended (not seen in this sample). */
static void end_episodes(hearth_telemetry *t)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n_alerted; i++) {
        if (!t->alerted[i].seen) continue;
        t->alerted[k] = t->alerted[i];
        t->alerted[k++].seen = false;
    }
    t->n_alerted = k;
}

static void check_surface(hearth_telemetry *t, const hearth_telemetry_snapshot *s, pending_list *l)
{
    for (size_t i = 0; i < s->n_tcp; i++)
        if (!declared(t->listen, t->n_listen, s->tcp[i])) episode(t, l, 't', s->tcp[i], "");
    for (size_t i = 0; i < s->n_udp; i++)
        if (!declared(t->listen, t->n_listen, s->udp[i])) episode(t, l, 'u', s->udp[i], "");
    for (size_t i = 0; i < s->n_conns; i++)
        if (!declared(t->dest, t->n_dest, s->conns[i].rport))
            episode(t, l, 'd', s->conns[i].rport, s->conns[i].rad);
    end_episodes(t);
}

static void check_logins(hearth_telemetry *t, int64_t now, pending_list *l)
{
    const int64_t window = (int64_t)TM_TELEMETRY_LOGIN_SPIKE_WINDOW_S * 1000;
    _Static_assert(TM_LOGIN_RING >= TM_TELEMETRY_LOGIN_SPIKE_FAILURES, "login ring too small");
    unsigned n = 0;
    uint64_t held = t->counters[TM_LF] < TM_LOGIN_RING ? t->counters[TM_LF] : TM_LOGIN_RING;
    /* cppcheck-suppress knownConditionTrueFalse ; held follows the failed-login counter, which the seclog hook raises at run time (cppcheck 2.10 sees only the zeroed start) */
    for (size_t i = 0; i < held; i++)
        if (now - t->login_times[i] < window) n++;
    bool on = n >= TM_TELEMETRY_LOGIN_SPIKE_FAILURES;
    if (on && !t->spike_on) {
        pending *p = add(l, "telemetry_login_spike", HEARTH_SEV_ALERT);
        if (p == NULL) return;
        snprintf(p->k1, sizeof p->k1, "failures");
        snprintf(p->v1, sizeof p->v1, "%u", n);
        snprintf(p->k2, sizeof p->k2, "window_s");
        snprintf(p->v2, sizeof p->v2, "%d", TM_TELEMETRY_LOGIN_SPIKE_WINDOW_S);
    }
    t->spike_on = on;
}

static void check_integrity(hearth_telemetry *t, pending_list *l)
{
    uint64_t now = t->counters[TM_UVF] + t->counters[TM_IFF];
    bool on = now > t->integrity_seen;
    if (on && !t->integrity_on) {
        pending *p = add(l, "telemetry_integrity_failure", HEARTH_SEV_ALERT);
        if (p == NULL) return;
        snprintf(p->k1, sizeof p->k1, "update_failures");
        snprintf(p->v1, sizeof p->v1, "%llu", (unsigned long long)t->counters[TM_UVF]);
        snprintf(p->k2, sizeof p->k2, "integrity_failures");
        snprintf(p->v2, sizeof p->v2, "%llu", (unsigned long long)t->counters[TM_IFF]);
    }
    t->integrity_on = on;
    t->integrity_seen = now;
}

static void check_restart(hearth_telemetry *t, pending_list *l)
{
    if (!t->unexpected_pending) return;
    pending *p = add(l, "telemetry_unexpected_restart", HEARTH_SEV_WARNING);
    if (p == NULL) return;
    t->unexpected_pending = false;
    snprintf(p->k1, sizeof p->k1, "boot_count");
    snprintf(p->v1, sizeof p->v1, "%llu", (unsigned long long)t->boots);
    snprintf(p->k2, sizeof p->k2, "unexpected");
    snprintf(p->v2, sizeof p->v2, "%llu", (unsigned long long)t->unexpected);
}

unsigned hearth_telemetry_check(hearth_telemetry *t, const hearth_telemetry_snapshot *s)
{
    if (t == NULL || s == NULL) return 0;
    pending_list l;
    l.n = 0;
    pthread_mutex_lock(&t->mu);
    check_restart(t, &l);
    check_integrity(t, &l);
    check_logins(t, s->at_ms, &l);
    check_surface(t, s, &l);
    t->alerts += l.n;
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < l.n; i++) {
        const pending *p = &l.ev[i];
        hearth_seclog(p->sev, p->event, p->k1, p->v1, p->k2[0] ? p->k2 : NULL, p->v2, NULL);
    }
    return (unsigned)l.n;
}
