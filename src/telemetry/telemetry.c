/*
 * The telemetry object: its configuration, the seclog hook that feeds the
 * counters, what persists in the secure store (the run record: boot count,
 * unexpected restarts, the run marker; the owner's consent to usage
 * telemetry) and the sample. The rules are in rules.c, the report in
 * report.c, the /proc readers in proc.c.
 */
#include <stdlib.h>
#include <string.h>

#include "hearth/privacy.h"
#include "hearth/util.h"
#include "telemetry_internal.h"

/* Store records (values in big-endian binary). */
#define REC_RUN "telemetry.run"         /* boots u64, unexpected u64, running u8 */
#define REC_CONSENT "telemetry.consent" /* usage u8 (0/1) */
#define RUN_LEN 17

static const char *const counter_keys[TM_NCOUNTERS] = {"lf", "lo", "uvf", "iff", "sc"};

int64_t tm_now_ms(const hearth_telemetry *t)
{
    return t->cfg.clock_ms != NULL ? t->cfg.clock_ms(t->cfg.clock_arg) : hearth_mono_ms();
}

/* The event name of a seclog line: {"ts":..,"seq":..,"severity":..,"event":"NAME",...}. */
static bool line_event(const char *line, char *name, size_t cap)
{
    const char *p = strstr(line, "\"event\":\"");
    if (p == NULL) return false;
    p += 9;
    size_t n = 0;
    while (p[n] != '"' && p[n] != '\0') n++;
    if (p[n] != '"' || n == 0 || n >= cap) return false;
    memcpy(name, p, n);
    name[n] = '\0';
    return true;
}

/* Runs under the log's lock on the logging thread: count, nothing else. Only
 * the event's name is read; the rest of the line (user names, addresses)
 * is never looked at. */
static void hook(hearth_severity sev, const char *line, void *arg)
{
    (void)sev;
    hearth_telemetry *t = arg;
    char name[64];
    if (!line_event(line, name, sizeof name)) return;
    for (size_t i = 0; i < tm_n_event_maps; i++) {
        if (strcmp(tm_event_maps[i].event, name) != 0 || t->map_counter[i] < 0) continue;
        int64_t now = tm_now_ms(t);
        pthread_mutex_lock(&t->mu);
        t->counters[t->map_counter[i]]++;
        if (t->map_counter[i] == TM_LF) {
            t->login_times[t->login_next] = now;
            t->login_next = (t->login_next + 1) % TM_LOGIN_RING;
        }
        pthread_mutex_unlock(&t->mu);
    }
}

/* Count this start; an unclean previous run is an unexpected restart. */
static hearth_status run_begin(hearth_telemetry *t)
{
    uint8_t rec[RUN_LEN] = {0};
    size_t len = 0;
    hearth_status st = hearth_store_get(t->cfg.store, REC_RUN, rec, sizeof rec, &len);
    if (st == HEARTH_OK && len == RUN_LEN) {
        t->boots = hearth_be64_get(rec);
        t->unexpected = hearth_be64_get(rec + 8);
        if (rec[16] != 0) {
            t->unexpected++;
            t->unexpected_pending = true;
        }
    } else if (st != HEARTH_ERR_NOT_FOUND && st != HEARTH_OK) {
        return st;
    }
    t->boots++;
    hearth_be64_put(rec, t->boots);
    hearth_be64_put(rec + 8, t->unexpected);
    rec[16] = 1;
    return hearth_store_put(t->cfg.store, REC_RUN, rec, sizeof rec);
}

hearth_status hearth_telemetry_open(const hearth_telemetry_config *cfg, hearth_telemetry **out)
{
    HEARTH_ENSURE(out != NULL, HEARTH_ERR_INVALID);
    *out = NULL;
    hearth_telemetry *t = calloc(1, sizeof *t);
    if (t == NULL) return hearth_err(HEARTH_ERR_NOMEM, "telemetry: out of memory");
    if (cfg != NULL) t->cfg = *cfg;
    const char *dir = t->cfg.proc_dir != NULL ? t->cfg.proc_dir : "/proc/self";
    if (strlen(dir) >= sizeof t->proc_dir) {
        free(t);
        return hearth_err(HEARTH_ERR_INVALID, "telemetry: proc directory name too long");
    }
    memcpy(t->proc_dir, dir, strlen(dir) + 1);
    t->cfg.proc_dir = t->proc_dir;
    if (tm_n_event_maps > sizeof t->map_counter) {
        free(t);
        return hearth_err(HEARTH_ERR_INTERNAL, "telemetry: schema names too many events");
    }
    for (size_t i = 0; i < tm_n_event_maps; i++) {
        t->map_counter[i] = -1;
        for (int c = 0; c < TM_NCOUNTERS; c++)
            if (strcmp(tm_event_maps[i].key, counter_keys[c]) == 0) t->map_counter[i] = (int8_t)c;
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return hearth_err(HEARTH_ERR_NOMEM, "telemetry: mutex");
    }
    hearth_status st = HEARTH_OK;
    if (t->cfg.store != NULL) {
        uint8_t c = 0;
        size_t len = 0;
        st = t->cfg.privacy != NULL ? HEARTH_ERR_NOT_FOUND
                                    : hearth_store_get(t->cfg.store, REC_CONSENT, &c, 1, &len);
        if (st == HEARTH_OK) t->consent = len == 1 && c == 1;
        if (st == HEARTH_ERR_NOT_FOUND) st = HEARTH_OK;
        if (st == HEARTH_OK) st = run_begin(t);
    }
    t->started_ms = tm_now_ms(t);
    if (st == HEARTH_OK) st = hearth_seclog_add_hook(hook, t);
    if (st != HEARTH_OK) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        return st;
    }
    *out = t;
    return HEARTH_OK;
}

void hearth_telemetry_close(hearth_telemetry *t)
{
    if (t == NULL) return;
    hearth_seclog_remove_hook(hook, t);
    if (t->cfg.store != NULL) {
        uint8_t rec[RUN_LEN];
        hearth_be64_put(rec, t->boots);
        hearth_be64_put(rec + 8, t->unexpected);
        rec[16] = 0;
        if (hearth_store_put(t->cfg.store, REC_RUN, rec, sizeof rec) != HEARTH_OK)
            hearth_seclog(HEARTH_SEV_WARNING, "telemetry_run_record_failed", "reason",
                          hearth_err_msg(), NULL);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

hearth_status hearth_telemetry_declare(hearth_telemetry *t, hearth_telemetry_port_kind kind,
                                       uint16_t port)
{
    HEARTH_ENSURE(t != NULL && port != 0, hearth_err(HEARTH_ERR_INVALID, "telemetry: port 0"));
    pthread_mutex_lock(&t->mu);
    uint16_t *set = kind == HEARTH_TELEMETRY_LISTEN ? t->listen : t->dest;
    size_t *n = kind == HEARTH_TELEMETRY_LISTEN ? &t->n_listen : &t->n_dest;
    hearth_status st = HEARTH_OK;
    bool have = false;
    for (size_t i = 0; i < *n; i++) have = have || set[i] == port;
    if (!have && *n >= HEARTH_TELEMETRY_DECLARED_MAX)
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "telemetry: more than %d declared ports",
                        HEARTH_TELEMETRY_DECLARED_MAX);
    else if (!have)
        set[(*n)++] = port;
    pthread_mutex_unlock(&t->mu);
    return st;
}

size_t hearth_telemetry_declared(hearth_telemetry *t, hearth_telemetry_port_kind kind,
                                 uint16_t *out, size_t cap)
{
    if (t == NULL) return 0;
    pthread_mutex_lock(&t->mu);
    const uint16_t *set = kind == HEARTH_TELEMETRY_LISTEN ? t->listen : t->dest;
    size_t n = kind == HEARTH_TELEMETRY_LISTEN ? t->n_listen : t->n_dest;
    if (n > cap) n = cap;
    memcpy(out, set, n * sizeof *out);
    pthread_mutex_unlock(&t->mu);
    return n;
}

hearth_status hearth_telemetry_sample(hearth_telemetry *t, hearth_telemetry_snapshot *s)
{
    HEARTH_ENSURE(t != NULL && s != NULL, HEARTH_ERR_INVALID);
    memset(s, 0, sizeof *s);
    s->at_ms = tm_now_ms(t);
    HEARTH_GUARD(tm_read_sockets(t->proc_dir, s));
    HEARTH_GUARD(tm_read_netdev(t->proc_dir, s));
    return tm_read_status(t->proc_dir, s);
}

bool hearth_telemetry_usage_consent(hearth_telemetry *t)
{
    if (t == NULL) return false;
    if (t->cfg.privacy != NULL) return hearth_privacy_granted(t->cfg.privacy, HEARTH_PURPOSE_USAGE_TELEMETRY);
    pthread_mutex_lock(&t->mu);
    bool on = t->consent;
    pthread_mutex_unlock(&t->mu);
    return on;
}

hearth_status hearth_telemetry_set_usage_consent(hearth_telemetry *t, bool on)
{
    HEARTH_ENSURE(t != NULL, HEARTH_ERR_INVALID);
    if (t->cfg.privacy != NULL)
        return hearth_privacy_set(t->cfg.privacy, HEARTH_PURPOSE_USAGE_TELEMETRY, on, "owner");
    if (t->cfg.store == NULL)
        return hearth_err(HEARTH_ERR_STATE, "telemetry: no store to keep the consent in");
    uint8_t c = on ? 1 : 0;
    HEARTH_GUARD(hearth_store_put(t->cfg.store, REC_CONSENT, &c, 1));
    pthread_mutex_lock(&t->mu);
    t->consent = on;
    pthread_mutex_unlock(&t->mu);
    return HEARTH_OK;
}

const char *hearth_telemetry_disclosure(size_t *len)
{
    if (len != NULL) *len = tm_disclosure_md_len;
    return tm_disclosure_md;
}
