/* Validation of what a device publishes (docs/fleet.md, "Messages"). A
 * payload is untrusted network input, whatever certificate the broker
 * checked: bounded, strictly parsed (jsonscan.c), every known field typed
 * and ranged, personal fields dropped, and only the validated document,
 * re-serialised, is ever stored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "fleet_json.h"

#define DEPTH_MAX 6
#define INT_LIMIT 9007199254740991.0 /* 2^53 - 1: exact in a double */
#define EXTRA_MAX 16                 /* extra scalar fields of an event */
#define EXTRA_STR_MAX 128

static const char NAME_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
static const char SW_CHARS[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-~";
static const char *const SEVERITIES[] = {"debug", "info", "notice", "warning", "error", "critical", "alert", NULL};
/* Personal fields a device must strip from events (BRIEF, 5.8/6): if one
 * arrives anyway it is dropped here, never stored. */
static const char *const PERSONAL[] = {"user", "source", "addr", "address", "ip", "peer", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

static hearth_status get_int(const cJSON *o, const char *name, bool required, double min,
                             double max, int64_t *out, char *err, size_t errcap)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (f == NULL) {
        if (!required) return HEARTH_OK;
        snprintf(err, errcap, "field '%s' missing", name);
        return HEARTH_ERR_INVALID;
    }
    double d = f->valuedouble;
    if (!cJSON_IsNumber(f) || !isfinite(d) || d != floor(d) || d < min || d > max ||
        fabs(d) > INT_LIMIT) {
        snprintf(err, errcap, "field '%s' must be an integer in [%.0f, %.0f]", name, min, max);
        return HEARTH_ERR_INVALID;
    }
    *out = (int64_t)d;
    return HEARTH_OK;
}

static hearth_status get_str(const cJSON *o, const char *name, bool required, size_t maxlen,
                             const char *charset, char *out, char *err, size_t errcap)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (f == NULL) {
        if (!required) return HEARTH_OK;
        snprintf(err, errcap, "field '%s' missing", name);
        return HEARTH_ERR_INVALID;
    }
    size_t n = cJSON_IsString(f) && f->valuestring != NULL ? strlen(f->valuestring) : 0;
    if (n == 0 || n > maxlen || strspn(f->valuestring, charset) != n) {
        snprintf(err, errcap, "field '%s' must be 1..%zu characters of [%s]", name, maxlen,
                 charset == NAME_CHARS ? "A-Za-z0-9_-" : "A-Za-z0-9._+~-");
        return HEARTH_ERR_INVALID;
    }
    memcpy(out, f->valuestring, n + 1);
    return HEARTH_OK;
}

/* Refuse any key not in @p allowed (NULL-terminated). */
static hearth_status only_keys(const cJSON *o, const char *const *allowed, char *err, size_t errcap)
{
    for (const cJSON *c = o->child; c != NULL; c = c->next)
        if (!in_list(c->string, allowed)) {
            char k[33];
            size_t i = 0;
            for (; i < sizeof k - 1 && c->string[i] != '\0'; i++)
                k[i] = (char)((c->string[i] >= 0x20 && c->string[i] < 0x7f) ? c->string[i] : '?');
            k[i] = '\0';
            snprintf(err, errcap, "unknown field '%s'", k);
            return HEARTH_ERR_INVALID;
        }
    return HEARTH_OK;
}

#define TRY(x)                                                                                   \
    do {                                                                                         \
        if ((x) != HEARTH_OK) return HEARTH_ERR_INVALID;                                         \
    } while (0)

static hearth_status need_object(const cJSON *o, const char *name, char *err, size_t errcap);

/* "seq": the device's outbox sequence number, which its link adds to every
 * message it queues (docs/mqtt.md); optional, an integer when present. */
static hearth_status check_outbox_seq(const cJSON *o, char *err, size_t errcap)
{
    int64_t seq = 0;
    return get_int(o, "seq", false, 0, INT_LIMIT, &seq, err, errcap);
}

/* "ep": the device's reset epoch (its reset count), which its link adds
 * next to "seq" once the device has been factory reset (docs/mqtt.md);
 * optional (0), a bounded non-negative integer when present. */
static hearth_status get_epoch(const cJSON *o, fleet_msg *m, char *err, size_t errcap)
{
    return get_int(o, "ep", false, 0, FLEET_EP_MAX, &m->ep, err, errcap);
}

static hearth_status parse_state(cJSON *o, fleet_msg *m, char *err, size_t errcap)
{
    static const char *const keys[] = {"v", "seq", "ep", "ts", "sw", "apps", NULL};
    TRY(only_keys(o, keys, err, errcap));
    TRY(get_epoch(o, m, err, errcap));
    TRY(get_int(o, "seq", true, 0, INT_LIMIT, &m->seq, err, errcap));
    TRY(get_int(o, "ts", true, 0, 4102444800.0, &m->ts, err, errcap));
    TRY(get_str(o, "sw", true, FLEET_SW_MAX, SW_CHARS, m->sw, err, errcap));
    const cJSON *apps = cJSON_GetObjectItemCaseSensitive(o, "apps");
    TRY(need_object(apps, "apps", err, errcap));
    /* The device's kind, for the new-port rule: its applications' names
     * ("thermostat", "plug"), as telemetry/v1 carries no model. */
    for (const cJSON *a = apps != NULL ? apps->child : NULL; a != NULL; a = a->next) {
        size_t n = strlen(a->string), have = strlen(m->model);
        if (n == 0 || strspn(a->string, NAME_CHARS) != n || have + n + 1 > FLEET_MODEL_MAX) {
            snprintf(err, errcap, "application names must be short [A-Za-z0-9_-]");
            return HEARTH_ERR_INVALID;
        }
        if (have > 0) m->model[have++] = '+';
        memcpy(m->model + have, a->string, n + 1);
    }
    return HEARTH_OK;
}

/* telemetry/v1 (docs/telemetry/schema-v1.json, Device Defender's short
 * keys): met.tp.pts[].pt are the listening TCP ports. */
static hearth_status get_ports(const cJSON *tp, fleet_msg *m, char *err, size_t errcap)
{
    const cJSON *pts = cJSON_IsObject(tp) ? cJSON_GetObjectItemCaseSensitive(tp, "pts") : NULL;
    if (tp == NULL) return HEARTH_OK;
    if (pts == NULL || !cJSON_IsArray(pts)) {
        snprintf(err, errcap, "met.tp.pts must be a list");
        return HEARTH_ERR_INVALID;
    }
    for (const cJSON *p = pts->child; p != NULL; p = p->next) {
        const cJSON *v = cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "pt") : NULL;
        double d = v != NULL && cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (d < 1 || d > 65535 || d != floor(d)) {
            snprintf(err, errcap, "met.tp.pts[].pt must be an integer in [1, 65535]");
            return HEARTH_ERR_INVALID;
        }
        if (m->n_tcp_ports >= FLEET_PORTS_MAX) {
            snprintf(err, errcap, "more than %d listening ports", FLEET_PORTS_MAX);
            return HEARTH_ERR_INVALID;
        }
        m->tcp_ports[m->n_tcp_ports++] = (uint16_t)d;
    }
    return HEARTH_OK;
}

static hearth_status need_object(const cJSON *o, const char *name, char *err, size_t errcap)
{
    if (o == NULL || cJSON_IsObject(o)) return HEARTH_OK;
    snprintf(err, errcap, "field '%s' must be an object", name);
    return HEARTH_ERR_INVALID;
}

static hearth_status parse_telemetry(cJSON *o, fleet_msg *m, char *err, size_t errcap)
{
    static const char *const keys[] = {"v", "seq", "ep", "hed", "met", "cmet", "use", NULL};
    static const char *const hed_keys[] = {"rid", "v", NULL};
    TRY(only_keys(o, keys, err, errcap));
    TRY(check_outbox_seq(o, err, errcap));
    TRY(get_epoch(o, m, err, errcap));
    const cJSON *hed = cJSON_GetObjectItemCaseSensitive(o, "hed");
    const cJSON *met = cJSON_GetObjectItemCaseSensitive(o, "met");
    const cJSON *cmet = cJSON_GetObjectItemCaseSensitive(o, "cmet");
    if (hed == NULL) {
        snprintf(err, errcap, "field 'hed' missing");
        return HEARTH_ERR_INVALID;
    }
    TRY(need_object(hed, "hed", err, errcap));
    TRY(need_object(met, "met", err, errcap));
    TRY(need_object(cmet, "cmet", err, errcap));
    TRY(need_object(cJSON_GetObjectItemCaseSensitive(o, "use"), "use", err, errcap));
    TRY(only_keys(hed, hed_keys, err, errcap));
    int64_t rid = 0;
    char hv[8];
    TRY(get_int(hed, "rid", true, 0, 4102444800000.0, &rid, err, errcap));
    /* hed.v: Device Defender's format version, the string "1.0". */
    TRY(get_str(hed, "v", false, sizeof hv - 1, SW_CHARS, hv, err, errcap));
    m->seq = rid; /* report id: milliseconds, orders the reports */
    m->ts = rid / 1000;
    if (met != NULL) {
        const cJSON *tp = cJSON_GetObjectItemCaseSensitive(met, "tp");
        TRY(need_object(tp, "met.tp", err, errcap));
        TRY(get_ports(tp, m, err, errcap));
    }
    if (cmet != NULL) {
        /* Every custom metric is a counter or a gauge: an integer >= 0. */
        for (const cJSON *c = cmet->child; c != NULL; c = c->next) {
            int64_t v = 0;
            TRY(get_int(cmet, c->string, true, 0, INT_LIMIT, &v, err, errcap));
            if (strcmp(c->string, "lf") == 0) m->failed_logins = v;
            if (strcmp(c->string, "uvf") == 0) m->update_failures = v;
        }
    }
    return HEARTH_OK;
}

static hearth_status parse_event(cJSON *o, fleet_msg *m, char *err, size_t errcap)
{
    TRY(get_int(o, "seq", true, 0, INT_LIMIT, &m->seq, err, errcap));
    TRY(get_epoch(o, m, err, errcap));
    TRY(get_int(o, "ts", true, 0, 4102444800.0, &m->ts, err, errcap));
    TRY(get_str(o, "event", true, FLEET_EVENT_MAX, NAME_CHARS, m->event, err, errcap));
    TRY(get_str(o, "sev", true, sizeof m->sev - 1, NAME_CHARS, m->sev, err, errcap));
    if (!in_list(m->sev, SEVERITIES)) {
        snprintf(err, errcap, "field 'sev' is not a severity");
        return HEARTH_ERR_INVALID;
    }
    unsigned extra = 0;
    cJSON *c = o->child;
    while (c != NULL) {
        cJSON *next = c->next;
        if (in_list(c->string, PERSONAL)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(o, c));
            m->rewritten = true;
        } else if (!in_list(c->string, (const char *const[]){"v", "seq", "ep", "ts", "event", "sev", NULL})) {
            bool scalar = cJSON_IsNumber(c) || cJSON_IsBool(c) ||
                          (cJSON_IsString(c) && strlen(c->valuestring) <= EXTRA_STR_MAX);
            if (!scalar || ++extra > EXTRA_MAX || strlen(c->string) > FLEET_EVENT_MAX) {
                snprintf(err, errcap, "event details must be at most %d short scalar fields", EXTRA_MAX);
                return HEARTH_ERR_INVALID;
            }
        }
        c = next;
    }
    /* A factory reset (docs/erasure.md, change of ownership): the service
     * acts on it, so its two fields must be there and be numbers. */
    if (strcmp(m->event, "factory_reset") == 0) {
        TRY(get_int(o, "reset_count", true, 1, INT_LIMIT, &m->reset_count, err, errcap));
        TRY(get_int(o, "reset_at", true, 0, 4102444800.0, &m->reset_at, err, errcap));
    }
    return HEARTH_OK;
}

static hearth_status parse_status(cJSON *o, fleet_msg *m, char *err, size_t errcap)
{
    static const char *const keys[] = {"v", "online", NULL};
    TRY(only_keys(o, keys, err, errcap));
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "online");
    if (!cJSON_IsBool(on)) {
        snprintf(err, errcap, "field 'online' must be true or false");
        return HEARTH_ERR_INVALID;
    }
    m->online = cJSON_IsTrue(on);
    return HEARTH_OK;
}

static hearth_status parse_cmdres(cJSON *o, fleet_msg *m, char *err, size_t errcap)
{
    static const char *const keys[] = {"v", "seq", "ep", "id", "status", "body", "duplicate", NULL};
    TRY(only_keys(o, keys, err, errcap));
    TRY(check_outbox_seq(o, err, errcap));
    TRY(get_epoch(o, m, err, errcap));
    TRY(get_str(o, "id", true, FLEET_REQID_MAX, NAME_CHARS, m->reqid, err, errcap));
    int64_t st = 0;
    TRY(get_int(o, "status", true, 100, 599, &st, err, errcap));
    m->status = (int)st;
    const cJSON *dup = cJSON_GetObjectItemCaseSensitive(o, "duplicate");
    if (dup != NULL && !cJSON_IsBool(dup)) {
        snprintf(err, errcap, "field 'duplicate' must be true or false");
        return HEARTH_ERR_INVALID;
    }
    return HEARTH_OK;
}

void fleet_msg_clear(fleet_msg *m)
{
    if (m == NULL) return;
    cJSON_free(m->json);
    memset(m, 0, sizeof *m);
}

hearth_status fleet_msg_parse(fleet_kind kind, const char *id, const void *payload, size_t len,
                              fleet_msg *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->seq = out->ts = out->failed_logins = out->update_failures = -1;
    out->reset_count = out->reset_at = -1;
    if (err != NULL && errcap > 0) err[0] = '\0';
    if ((unsigned)kind >= FLEET_T_COUNT || !fleet_id_valid(id, strlen(id))) {
        snprintf(err, errcap, "bad topic");
        return HEARTH_ERR_INVALID;
    }
    memcpy(out->id, id, strlen(id) + 1);
    cJSON *o = NULL;
    hearth_status st = fleet_json_load(payload, len, fleet_payload_max(kind), DEPTH_MAX, &o);
    if (st != HEARTH_OK) {
        snprintf(err, errcap, "%s", hearth_err_msg());
        return st;
    }
    int64_t v = 0;
    st = get_int(o, "v", true, 1, 1, &v, err, errcap);
    if (st == HEARTH_OK) {
        switch (kind) {
        case FLEET_T_STATE: st = parse_state(o, out, err, errcap); break;
        case FLEET_T_TELEMETRY: st = parse_telemetry(o, out, err, errcap); break;
        case FLEET_T_EVENTS: st = parse_event(o, out, err, errcap); break;
        case FLEET_T_STATUS: st = parse_status(o, out, err, errcap); break;
        case FLEET_T_CMDRES: st = parse_cmdres(o, out, err, errcap); break;
        default: st = HEARTH_ERR_INVALID; break;
        }
    }
    if (st == HEARTH_OK) {
        /* What is stored: the payload itself once every check above passed
         * (strict JSON, UTF-8, no duplicate keys, typed fields), or the
         * document re-serialised when a field had to be dropped. */
        if (out->rewritten) {
            out->json = cJSON_PrintUnformatted(o);
        } else if ((out->json = cJSON_malloc(len + 1)) != NULL) {
            memcpy(out->json, payload, len);
            out->json[len] = '\0';
        }
        if (out->json == NULL) st = HEARTH_ERR_NOMEM;
    }
    cJSON_Delete(o);
    if (st != HEARTH_OK) {
        char keep[sizeof out->id];
        memcpy(keep, out->id, sizeof keep);
        fleet_msg_clear(out);
        memcpy(out->id, keep, sizeof keep);
        out->kind = kind;
    }
    return st;
}
