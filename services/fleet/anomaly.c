/* Fleet-level anomaly rules (docs/fleet.md, "Anomaly rules"): what no
 * single device can see. Each rule counts distinct devices within a sliding
 * window of receive time (the service's clock, never a device's "ts"); when
 * the count reaches the rule's threshold an anomaly is recorded with its
 * evidence (which devices, when, what) and the window starts afresh, so the
 * next anomaly of that rule needs new evidence.
 *   update_verification: devices reporting an update rejected (signature,
 *       key set, rollback) or whose update-failure counter rose;
 *   login_failures: devices reporting failed logins or lockouts
 *       (credential stuffing spreads a few tries over many devices);
 *   offline: devices whose status turned offline (the broker publishes
 *       their will when the connection drops);
 *   new_port: devices of one kind (their applications, from their state:
 *       "thermostat") starting to listen on the same TCP port that their
 *       first report did not list; keyed by kind and port.
 * A device counts once per window in each rule.
 * With one process (SQLite) the windows and each device's last counters are
 * kept here in memory; with a shared database (PostgreSQL, several `run`
 * instances splitting the stream) they are the database's
 * (fleet_db_counters, fleet_db_rule_hit), since a device's consecutive
 * messages may land on different instances.
 * A device's reports are ordered by (ep, seq): its reset epoch ("ep", its
 * reset count; a factory reset restarts its outbox seq and its counters)
 * and the report id. Counter deltas are computed within an epoch only: the
 * first report after a reset has no earlier one to compare with, like a
 * device's first report. In memory, a report at or before the last one the
 * rules saw of the device by (ep, seq) (a redelivery, or a report of an
 * older epoch arriving late) neither counts nor moves the device's last
 * counters (telemetry_position); in the database, a report recorded after
 * one of a later epoch of the device does not count (later_epoch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

#define RING_MAX 4096u       /* entries per window: bounds every threshold */
#define KEYED_MAX 256u       /* (model, port) windows kept */
#define DEVICES_MAX 2000000u /* devices tracked in memory */
#define EVIDENCE_LISTED 200u /* devices listed in one anomaly's evidence */

static const char *const RULE_NAMES[FLEET_RULE_COUNT] = {
    [FLEET_RULE_UPDATE_FAIL] = "update_verification",
    [FLEET_RULE_LOGIN_FAIL] = "login_failures",
    [FLEET_RULE_OFFLINE] = "offline",
    [FLEET_RULE_NEW_PORT] = "new_port",
};

/* Device events that count (seclog names, docs/security-events.md). */
static const char *const UPDATE_EVENTS[] = {"update_rejected", "keyset_rollback", "rollback_blocked",
                                            "update_verification_failed", NULL};
static const char *const LOGIN_EVENTS[] = {"login_failed", "lockout", "failed_login_spike", NULL};

const char *fleet_rule_name(fleet_rule r)
{
    return (unsigned)r < FLEET_RULE_COUNT ? RULE_NAMES[r] : "?";
}

void fleet_thresholds_default(fleet_threshold t[FLEET_RULE_COUNT])
{
    t[FLEET_RULE_UPDATE_FAIL] = (fleet_threshold){5, 600};
    t[FLEET_RULE_LOGIN_FAIL] = (fleet_threshold){10, 300};
    t[FLEET_RULE_OFFLINE] = (fleet_threshold){20, 60};
    t[FLEET_RULE_NEW_PORT] = (fleet_threshold){3, 3600};
}

typedef struct dev {
    char id[FLEET_ID_MAX + 1];
    char kind[FLEET_MODEL_MAX + 1]; /* its applications, from its state */
    bool has_baseline;
    uint16_t ports[FLEET_PORTS_MAX];
    uint8_t nports;
    int64_t failed_logins, update_failures; /* last telemetry counters, -1 unknown */
    int64_t ep, seq;                        /* their report's position, seq -1: none yet */
    int64_t last_hit[FLEET_RULE_COUNT];
} dev;

typedef struct {
    int64_t t;
    const dev *d;
    char what[FLEET_EVENT_MAX + 1];
} entry;

typedef struct {
    fleet_rule rule;
    char key[FLEET_MODEL_MAX + 8];
    entry *ring;
    unsigned head, len;
    int64_t active; /* last hit, for evicting keyed windows */
} window;

struct fleet_anomaly {
    fleet_threshold th[FLEET_RULE_COUNT];
    fleet_db *db;
    dev **slots; /* open addressing on the id */
    size_t nslots, ndevs;
    window plain[FLEET_RULE_COUNT];
    window keyed[KEYED_MAX];
    unsigned nkeyed;
    bool shared; /* the windows and counters are in the database (fleet_db_shared) */
    uint64_t raised;
    /* the group prepared by fleet_anomaly_prepare, fed next in order */
    fleet_rules_item *work;
    const fleet_msg **wmsg;
    uint16_t (*wports)[FLEET_PORTS_MAX];
    size_t nwork, cursor, capwork;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static hearth_status grow(fleet_anomaly *a)
{
    size_t n = a->nslots * 2;
    dev **s = calloc(n, sizeof(dev *));
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < a->nslots; i++) {
        if (a->slots[i] == NULL) continue;
        size_t j = hash(a->slots[i]->id) & (n - 1);
        while (s[j] != NULL) j = (j + 1) & (n - 1);
        s[j] = a->slots[i];
    }
    free(a->slots);
    a->slots = s;
    a->nslots = n;
    return HEARTH_OK;
}

/* The device's record when it is cached; else NULL and *slot where it goes. */
static dev *find(const fleet_anomaly *a, const char *id, size_t *slot)
{
    size_t i = hash(id) & (a->nslots - 1);
    while (a->slots[i] != NULL) {
        if (strcmp(a->slots[i]->id, id) == 0) return a->slots[i];
        i = (i + 1) & (a->nslots - 1);
    }
    *slot = i;
    return NULL;
}

/* Cache a new record (@p slot from find); NULL when DEVICES_MAX are tracked. */
static hearth_status insert(fleet_anomaly *a, size_t slot, const char *id, dev **out)
{
    *out = NULL;
    if (a->ndevs >= DEVICES_MAX) return HEARTH_OK;
    dev *d = calloc(1, sizeof *d);
    if (d == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    snprintf(d->id, sizeof d->id, "%s", id);
    d->failed_logins = d->update_failures = -1;
    d->seq = -1;
    a->slots[slot] = d;
    a->ndevs++;
    *out = d;
    if (a->ndevs * 10 > a->nslots * 7) HEARTH_GUARD(grow(a));
    return HEARTH_OK;
}

/* The device's record, loaded from the database the first time; NULL when
 * DEVICES_MAX are tracked (the rules then skip it; ingest goes on). */
static hearth_status lookup(fleet_anomaly *a, const char *id, dev **out)
{
    size_t slot = 0;
    *out = find(a, id, &slot);
    if (*out != NULL || a->ndevs >= DEVICES_MAX) return HEARTH_OK;
    bool base = false;
    char kind[FLEET_MODEL_MAX + 1] = "";
    uint16_t ports[FLEET_PORTS_MAX];
    size_t n = 0;
    HEARTH_GUARD(fleet_db_device_load(a->db, id, &base, kind, sizeof kind, ports, FLEET_PORTS_MAX, &n));
    dev *d = NULL;
    HEARTH_GUARD(insert(a, slot, id, &d));
    if (d == NULL) return HEARTH_OK;
    d->has_baseline = base;
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    memcpy(d->ports, ports, n * sizeof *ports);
    d->nports = (uint8_t)n;
    *out = d;
    return HEARTH_OK;
}

hearth_status fleet_anomaly_new(const fleet_threshold t[FLEET_RULE_COUNT], fleet_db *db,
                                fleet_anomaly **out)
{
    *out = NULL;
    for (int r = 0; r < FLEET_RULE_COUNT; r++)
        if (t[r].devices < 1 || t[r].devices > RING_MAX || t[r].window_s < 1 || t[r].window_s > 30 * 86400)
            return hearth_err(HEARTH_ERR_INVALID, "rule %s: devices must be 1..%u, window 1..%u s",
                              RULE_NAMES[r], RING_MAX, 30 * 86400);
    fleet_anomaly *a = calloc(1, sizeof *a);
    if (a == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    memcpy(a->th, t, sizeof a->th);
    a->db = db;
    a->shared = fleet_db_shared(db);
    a->nslots = 1024;
    a->slots = calloc(a->nslots, sizeof(dev *));
    if (a->slots == NULL) {
        free(a);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    for (int r = 0; r < FLEET_RULE_COUNT; r++) a->plain[r].rule = (fleet_rule)r;
    *out = a;
    return HEARTH_OK;
}

void fleet_anomaly_free(fleet_anomaly *a)
{
    if (a == NULL) return;
    for (size_t i = 0; i < a->nslots; i++) free(a->slots[i]);
    free(a->slots);
    for (int r = 0; r < FLEET_RULE_COUNT; r++) free(a->plain[r].ring);
    for (unsigned k = 0; k < a->nkeyed; k++) free(a->keyed[k].ring);
    free(a->work);
    free(a->wmsg);
    free(a->wports);
    free(a);
}

uint64_t fleet_anomaly_raised(const fleet_anomaly *a) { return a->raised; }

static hearth_status raise_anomaly(fleet_anomaly *a, window *w, int64_t now)
{
    const fleet_threshold *th = &a->th[w->rule];
    fleet_buf ev;
    fleet_buf_init(&ev, 64u * 1024u);
    fleet_buf_str(&ev, "[");
    for (unsigned i = 0; i < w->len && i < EVIDENCE_LISTED; i++) {
        const entry *e = &w->ring[(w->head + i) % RING_MAX];
        fleet_buf_str(&ev, i == 0 ? "{\"device\":" : ",{\"device\":");
        fleet_buf_json_str(&ev, e->d->id);
        fleet_buf_printf(&ev, ",\"at\":%lld,\"what\":", (long long)e->t);
        fleet_buf_json_str(&ev, e->what);
        fleet_buf_str(&ev, "}");
    }
    fleet_buf_str(&ev, "]");
    hearth_status st = ev.failed ? hearth_err(HEARTH_ERR_NOMEM, "evidence too large")
                                 : fleet_db_anomaly(a->db, RULE_NAMES[w->rule], w->key, now, th->window_s,
                                                    th->devices, w->len, ev.p);
    fleet_buf_free(&ev);
    if (st == HEARTH_OK) {
        a->raised++;
        fprintf(stderr, "hearth-fleet: anomaly %s%s%s: %u devices within %u s\n", RULE_NAMES[w->rule],
                w->key[0] != '\0' ? " " : "", w->key, w->len, th->window_s);
    }
    w->head = w->len = 0;
    return st;
}

/* A shared database (PostgreSQL, several instances): the window is in the
 * database, so a device counts once wherever its messages land. */
static hearth_status hit_shared(fleet_anomaly *a, const window *w, const dev *d, int64_t now, int64_t ep,
                                int64_t seq, const char *what)
{
    const fleet_threshold *th = &a->th[w->rule];
    fleet_rule_hit h = {.rule = RULE_NAMES[w->rule], .key = w->key, .device = d->id, .what = what,
                        .ep = ep, .seq = seq, .now = now, .window_s = th->window_s, .threshold = th->devices};
    bool raised = false;
    HEARTH_GUARD(fleet_db_rule_hit(a->db, &h, &raised));
    if (raised) {
        a->raised++;
        fprintf(stderr, "hearth-fleet: anomaly %s%s%s: %u devices within %u s\n", RULE_NAMES[w->rule],
                w->key[0] != '\0' ? " " : "", w->key, th->devices, th->window_s);
    }
    return HEARTH_OK;
}

static hearth_status hit(fleet_anomaly *a, window *w, dev *d, int64_t now, int64_t ep, int64_t seq,
                         const char *what)
{
    if (a->shared) return hit_shared(a, w, d, now, ep, seq, what);
    const fleet_threshold *th = &a->th[w->rule];
    if (w->ring == NULL) {
        w->ring = calloc(RING_MAX, sizeof *w->ring);
        if (w->ring == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    while (w->len > 0 && w->ring[w->head].t <= now - (int64_t)th->window_s) {
        w->head = (w->head + 1) % RING_MAX;
        w->len--;
    }
    w->active = now;
    bool keyed = w->key[0] != '\0';
    if (!keyed) {
        if (d->last_hit[w->rule] != 0 && d->last_hit[w->rule] > now - (int64_t)th->window_s)
            return HEARTH_OK; /* already counted in this window */
        d->last_hit[w->rule] = now;
    }
    if (w->len == RING_MAX) { /* cannot happen with devices <= RING_MAX; keep it bounded anyway */
        w->head = (w->head + 1) % RING_MAX;
        w->len--;
    }
    entry *e = &w->ring[(w->head + w->len) % RING_MAX];
    e->t = now;
    e->d = d;
    snprintf(e->what, sizeof e->what, "%s", what);
    w->len++;
    if (w->len >= th->devices) return raise_anomaly(a, w, now);
    return HEARTH_OK;
}

static window *keyed_window(fleet_anomaly *a, const char *key)
{
    for (unsigned k = 0; k < a->nkeyed; k++)
        if (strcmp(a->keyed[k].key, key) == 0) return &a->keyed[k];
    window *w;
    if (a->nkeyed < KEYED_MAX) {
        w = &a->keyed[a->nkeyed++];
    } else { /* evict the window idle longest */
        w = &a->keyed[0];
        for (unsigned k = 1; k < KEYED_MAX; k++)
            if (a->keyed[k].active < w->active) w = &a->keyed[k];
        w->head = w->len = 0;
    }
    w->rule = FLEET_RULE_NEW_PORT;
    snprintf(w->key, sizeof w->key, "%s", key);
    return w;
}

/* Where report (@p ep, @p seq) stands against the last one the in-memory
 * rules saw of the device (@p last_ep, @p last_seq; last_seq -1: none). */
typedef enum {
    POS_NEXT,  /* after it, same epoch: compare with its counters */
    POS_RESET, /* a later epoch: the counters restarted, nothing to compare with */
    POS_STALE  /* at or before it: a redelivery or a late report; not counted */
} telemetry_pos;

static telemetry_pos telemetry_position(int64_t last_ep, int64_t last_seq, int64_t ep, int64_t seq)
{
    if (last_seq < 0) return POS_RESET;
    if (ep > last_ep) return POS_RESET;
    if (ep < last_ep || seq <= last_seq) return POS_STALE;
    return POS_NEXT;
}

static hearth_status telemetry(fleet_anomaly *a, dev *d, const fleet_msg *m, int64_t now,
                               const fleet_rules_item *pre)
{
    char what[FLEET_EVENT_MAX + 1];
    fleet_counters c = {d->failed_logins, d->update_failures, -1, -1, -1, false};
    bool counters = true; /* the report's counters count and become the device's last */
    if (!a->shared) {
        telemetry_pos pos = telemetry_position(d->ep, d->seq, m->ep, m->seq);
        if (pos == POS_RESET) c.prev_lf = c.prev_uvf = d->failed_logins = d->update_failures = -1;
        counters = pos != POS_STALE;
        if (counters) d->ep = m->ep, d->seq = m->seq;
    } else if (pre != NULL) {
        c = pre->c; /* fleet_anomaly_prepare loaded the device and recorded the counters */
    } else {
        /* Another instance may have stored this device's earlier reports:
         * its baseline and its counters are the database's. */
        if (!d->has_baseline) {
            size_t n = 0;
            HEARTH_GUARD(fleet_db_device_load(a->db, d->id, &d->has_baseline, d->kind, sizeof d->kind, d->ports,
                                              FLEET_PORTS_MAX, &n));
            d->nports = (uint8_t)n;
        }
        HEARTH_GUARD(fleet_db_counters(a->db, d->id, m->ep, m->seq, m->failed_logins, m->update_failures, &c));
    }
    if (a->shared) counters = !c.later_epoch;
    for (size_t i = 0; i < m->n_tcp_ports; i++) {
        uint16_t p = m->tcp_ports[i];
        bool cached = false;
        for (unsigned j = 0; j < d->nports && !cached; j++) cached = d->ports[j] == p;
        if (cached) continue;
        bool is_new = false, recorded = false;
        for (size_t j = 0; pre != NULL && j < pre->nports && !recorded; j++)
            if (pre->ports[j] == p) {
                recorded = true;
                is_new = (pre->new_ports >> j) & 1u;
            }
        if (!recorded) HEARTH_GUARD(fleet_db_port_seen(a->db, d->id, p, now, &is_new));
        if (d->nports < FLEET_PORTS_MAX) d->ports[d->nports++] = p;
        if (!is_new || !d->has_baseline) continue;
        char key[sizeof a->keyed[0].key];
        snprintf(key, sizeof key, "%s:%u", d->kind[0] != '\0' ? d->kind : "unknown", p);
        snprintf(what, sizeof what, "tcp/%u", p);
        HEARTH_GUARD(hit(a, keyed_window(a, key), d, now, m->ep, m->seq, what));
    }
    if (!counters) return HEARTH_OK;
    if (m->failed_logins >= 0) {
        if (c.prev_lf >= 0 && m->failed_logins > c.prev_lf) {
            snprintf(what, sizeof what, "failed_logins+%lld", (long long)(m->failed_logins - c.prev_lf));
            HEARTH_GUARD(hit(a, &a->plain[FLEET_RULE_LOGIN_FAIL], d, now, m->ep, m->seq, what));
        }
        /* shared: the next report was stored first (another instance) and
         * compared with nothing or an older one; the rise is the next's */
        if (c.next_lf > m->failed_logins) {
            snprintf(what, sizeof what, "failed_logins+%lld", (long long)(c.next_lf - m->failed_logins));
            HEARTH_GUARD(hit(a, &a->plain[FLEET_RULE_LOGIN_FAIL], d, now, m->ep, c.next_seq, what));
        }
        d->failed_logins = m->failed_logins;
    }
    if (m->update_failures >= 0) {
        if (c.prev_uvf >= 0 && m->update_failures > c.prev_uvf)
            HEARTH_GUARD(hit(a, &a->plain[FLEET_RULE_UPDATE_FAIL], d, now, m->ep, m->seq, "update_failures"));
        if (c.next_uvf > m->update_failures)
            HEARTH_GUARD(hit(a, &a->plain[FLEET_RULE_UPDATE_FAIL], d, now, m->ep, c.next_seq, "update_failures"));
        d->update_failures = m->update_failures;
    }
    d->has_baseline = true;
    return HEARTH_OK;
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

/* Shared: one round trip for the group's loads, counters and ports. */
hearth_status fleet_anomaly_prepare(fleet_anomaly *a, const fleet_msg *m, size_t n, int64_t now)
{
    a->nwork = a->cursor = 0;
    if (!a->shared || n == 0) return HEARTH_OK;
    if (n > a->capwork) {
        free(a->work);
        free(a->wmsg);
        free(a->wports);
        a->capwork = 0;
        a->work = calloc(n, sizeof *a->work);
        a->wmsg = calloc(n, sizeof(const fleet_msg *));
        a->wports = calloc(n, sizeof *a->wports);
        if (a->work == NULL || a->wmsg == NULL || a->wports == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        a->capwork = n;
    }
    for (size_t i = 0; i < n; i++) {
        fleet_rules_item *it = &a->work[i];
        size_t slot = 0;
        const dev *d = find(a, m[i].id, &slot);
        bool tel = m[i].kind == FLEET_T_TELEMETRY;
        *it = (fleet_rules_item){.id = m[i].id, .ep = m[i].ep, .seq = -1, .lf = -1, .uvf = -1, .ports = a->wports[i]};
        /* the device's record is loaded once, by its first message here */
        it->load = d == NULL || (tel && !d->has_baseline);
        for (size_t k = 0; k < i && it->load; k++)
            if (a->work[k].load && strcmp(a->work[k].id, m[i].id) == 0) it->load = false;
        a->wmsg[i] = &m[i];
        if (!tel) continue;
        it->seq = m[i].seq, it->lf = m[i].failed_logins, it->uvf = m[i].update_failures;
        for (size_t j = 0; j < m[i].n_tcp_ports; j++) {
            bool cached = false;
            for (unsigned k = 0; d != NULL && k < d->nports && !cached; k++) cached = d->ports[k] == m[i].tcp_ports[j];
            if (!cached) a->wports[i][it->nports++] = m[i].tcp_ports[j];
        }
    }
    HEARTH_GUARD(fleet_db_rules_batch(a->db, a->work, n, now));
    for (size_t i = 0; i < n; i++) {
        const fleet_rules_item *it = &a->work[i];
        if (!it->load) continue;
        size_t slot = 0;
        dev *d = find(a, it->id, &slot);
        if (d == NULL) HEARTH_GUARD(insert(a, slot, it->id, &d));
        if (d == NULL) continue;
        d->has_baseline = it->has_telemetry;
        snprintf(d->kind, sizeof d->kind, "%s", it->kind);
        memcpy(d->ports, it->known, it->nknown * sizeof *it->known);
        d->nports = (uint8_t)it->nknown;
    }
    a->nwork = n;
    return HEARTH_OK;
}

hearth_status fleet_anomaly_feed(fleet_anomaly *a, const fleet_msg *m, int64_t now)
{
    const fleet_rules_item *pre = NULL;
    if (a->cursor < a->nwork && a->wmsg[a->cursor] == m) pre = &a->work[a->cursor++];
    dev *d = NULL;
    HEARTH_GUARD(lookup(a, m->id, &d));
    if (d == NULL) return HEARTH_OK;
    switch (m->kind) {
    case FLEET_T_TELEMETRY: return telemetry(a, d, m, now, pre);
    case FLEET_T_EVENTS:
        if (in_list(m->event, UPDATE_EVENTS))
            return hit(a, &a->plain[FLEET_RULE_UPDATE_FAIL], d, now, m->ep, m->seq, m->event);
        if (in_list(m->event, LOGIN_EVENTS))
            return hit(a, &a->plain[FLEET_RULE_LOGIN_FAIL], d, now, m->ep, m->seq, m->event);
        return HEARTH_OK;
    case FLEET_T_STATE:
        if (m->model[0] != '\0') snprintf(d->kind, sizeof d->kind, "%s", m->model);
        return HEARTH_OK;
    case FLEET_T_STATUS:
        if (!m->online) return hit(a, &a->plain[FLEET_RULE_OFFLINE], d, now, 0, -1, "offline");
        return HEARTH_OK;
    default: return HEARTH_OK;
    }
}
