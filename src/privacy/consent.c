/*
 * The consent registry (EN 303 645 6-2, 6-3; docs/privacy.md): per purpose
 * whose basis is consent, the consent in force and a bounded log of every
 * change, kept as one JSON record of the secure store. A change is written
 * to the store first and takes effect (and the listener hears of it) only
 * once written: after a power cut the device holds either the old or the
 * new state, never a consent it did not record.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "privacy_internal.h"

#define RECORD_MAX (16 * 1024)

/* ------------------------------------------------------------ the notice */

const char *hearth_privacy_notice_version(void) { return pv_notice_version; }

const char *hearth_privacy_notice_md(size_t *len)
{
    if (len != NULL) *len = strlen(pv_notice_md);
    return pv_notice_md;
}

const char *hearth_privacy_inventory_json(void) { return pv_inventory_json; }

const hearth_privacy_purpose *hearth_privacy_purpose_at(size_t i)
{
    return i < pv_n_purposes ? &pv_purposes[i] : NULL;
}

const hearth_privacy_purpose *hearth_privacy_purpose_find(const char *id)
{
    for (size_t i = 0; id != NULL && i < pv_n_purposes; i++)
        if (strcmp(pv_purposes[i].id, id) == 0) return &pv_purposes[i];
    return NULL;
}

const hearth_privacy_sensor *hearth_privacy_sensor_at(size_t i)
{
    return i < pv_n_sensors ? &pv_sensors[i] : NULL;
}

/* ------------------------------------------------------------ registry */

static int find(const hearth_privacy *p, const char *purpose)
{
    for (size_t i = 0; purpose != NULL && i < p->n; i++)
        if (strcmp(p->ids[i], purpose) == 0) return (int)i;
    return -1;
}

static bool copy_str(char *dst, size_t cap, const cJSON *v, bool may_be_empty)
{
    if (!cJSON_IsString(v)) return false;
    size_t n = strlen(v->valuestring);
    if (n >= cap || (n == 0 && !may_be_empty)) return false;
    memcpy(dst, v->valuestring, n + 1);
    return true;
}

/* One {"purpose","granted","since","by","notice","id"} object. */
static bool entry_parse(const hearth_privacy *p, const cJSON *o, int *idx, hearth_privacy_consent *c)
{
    const cJSON *pu = cJSON_GetObjectItemCaseSensitive(o, "purpose");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "granted");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "since");
    if (!cJSON_IsString(pu) || !cJSON_IsBool(g) || !cJSON_IsNumber(s) || s->valuedouble < 0 ||
        s->valuedouble > 4e12)
        return false;
    memset(c, 0, sizeof *c);
    c->granted = cJSON_IsTrue(g);
    c->since = (int64_t)s->valuedouble;
    if (!copy_str(c->by, sizeof c->by, cJSON_GetObjectItemCaseSensitive(o, "by"), true) ||
        !copy_str(c->notice_version, sizeof c->notice_version,
                  cJSON_GetObjectItemCaseSensitive(o, "notice"), true) ||
        !copy_str(c->receipt_id, sizeof c->receipt_id, cJSON_GetObjectItemCaseSensitive(o, "id"), true))
        return false;
    *idx = find(p, pu->valuestring); /* -1: a purpose this software no longer has */
    return true;
}

static cJSON *entry_json(const char *purpose, const hearth_privacy_consent *c)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    bool ok = cJSON_AddStringToObject(o, "purpose", purpose) != NULL &&
              cJSON_AddBoolToObject(o, "granted", c->granted) != NULL &&
              cJSON_AddNumberToObject(o, "since", (double)c->since) != NULL &&
              cJSON_AddStringToObject(o, "by", c->by) != NULL &&
              cJSON_AddStringToObject(o, "notice", c->notice_version) != NULL &&
              cJSON_AddStringToObject(o, "id", c->receipt_id) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static hearth_status load(hearth_privacy *p)
{
    if (p->store == NULL) return HEARTH_OK;
    bool found = false;
    cJSON *doc = NULL;
    HEARTH_GUARD(pv_record_read(p->store, HEARTH_PRIVACY_RECORD, RECORD_MAX, &found, &doc));
    if (!found) return HEARTH_OK;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "v");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(doc, "consents");
    const cJSON *lg = cJSON_GetObjectItemCaseSensitive(doc, "log");
    bool ok = cJSON_IsNumber(v) && v->valuedouble == 1 && cJSON_IsArray(cs) && cJSON_IsArray(lg);
    const cJSON *e;
    const cJSON *cs_ok = ok ? cs : NULL, *lg_ok = ok ? lg : NULL;
    cJSON_ArrayForEach(e, cs_ok)
    {
        int idx = -1;
        hearth_privacy_consent c;
        if (!entry_parse(p, e, &idx, &c)) ok = false;
        else if (idx >= 0) p->c[idx] = c;
    }
    cJSON_ArrayForEach(e, lg_ok)
    {
        int idx = -1;
        hearth_privacy_consent c;
        if (!entry_parse(p, e, &idx, &c)) ok = false;
        else if (idx >= 0 && p->nlog < HEARTH_PRIVACY_LOG_MAX) p->log[p->nlog++] = (pv_log_entry){idx, c};
    }
    cJSON_Delete(doc);
    if (!ok) return hearth_err(HEARTH_ERR_TAMPERED, "privacy: the consent record does not parse");
    return HEARTH_OK;
}

/* Write the registry (under p->mu) from @p c and @p log. */
static hearth_status save(hearth_privacy *p, const hearth_privacy_consent *c, const pv_log_entry *log,
                          size_t nlog)
{
    if (p->store == NULL) return HEARTH_OK;
    cJSON *doc = cJSON_CreateObject();
    cJSON *cs = cJSON_AddArrayToObject(doc, "consents");
    cJSON *lg = cJSON_AddArrayToObject(doc, "log");
    bool ok = doc != NULL && cs != NULL && lg != NULL && cJSON_AddNumberToObject(doc, "v", 1) != NULL;
    for (size_t i = 0; ok && i < p->n; i++) {
        cJSON *o = entry_json(p->ids[i], &c[i]);
        ok = o != NULL && cJSON_AddItemToArray(cs, o);
    }
    for (size_t i = 0; ok && i < nlog; i++) {
        cJSON *o = entry_json(p->ids[log[i].purpose], &log[i].c);
        ok = o != NULL && cJSON_AddItemToArray(lg, o);
    }
    char *text = ok ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text == NULL) return hearth_err(HEARTH_ERR_NOMEM, "privacy: out of memory");
    hearth_status st = strlen(text) > RECORD_MAX
                           ? hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: consent record too large")
                           : hearth_store_put(p->store, HEARTH_PRIVACY_RECORD, text, strlen(text));
    cJSON_free(text);
    return st;
}

hearth_status hearth_privacy_open(hearth_store *store, hearth_privacy **out)
{
    HEARTH_ENSURE(out != NULL, HEARTH_ERR_INVALID);
    hearth_privacy *p = calloc(1, sizeof *p);
    HEARTH_ENSURE(p != NULL, hearth_err(HEARTH_ERR_NOMEM, "privacy: out of memory"));
    p->store = store;
    for (size_t i = 0; i < pv_n_purposes; i++) {
        if (strcmp(pv_purposes[i].basis, "consent") != 0) continue;
        if (p->n == PV_MAX) {
            free(p);
            return hearth_err(HEARTH_ERR_INTERNAL, "privacy: more than %d consent purposes", PV_MAX);
        }
        p->ids[p->n++] = pv_purposes[i].id;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return hearth_err(HEARTH_ERR_NOMEM, "privacy: mutex");
    }
    hearth_status st = load(p);
    if (st == HEARTH_OK) st = pv_erase_load(p);
    if (st != HEARTH_OK) {
        hearth_privacy_close(p);
        return st;
    }
    *out = p;
    return HEARTH_OK;
}

void hearth_privacy_close(hearth_privacy *p)
{
    if (p == NULL) return;
    free(p->ca_file);
    pthread_mutex_destroy(&p->mu);
    hearth_memzero(p, sizeof *p);
    free(p);
}

void hearth_privacy_set_listener(hearth_privacy *p, hearth_privacy_listener fn, void *arg)
{
    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->fn_arg = arg;
    pthread_mutex_unlock(&p->mu);
}

bool hearth_privacy_granted(hearth_privacy *p, const char *purpose)
{
    if (p == NULL) return false;
    pthread_mutex_lock(&p->mu);
    int i = find(p, purpose);
    bool on = i >= 0 && p->c[i].granted;
    pthread_mutex_unlock(&p->mu);
    return on;
}

hearth_status hearth_privacy_get(hearth_privacy *p, const char *purpose, hearth_privacy_consent *out)
{
    HEARTH_ENSURE(p != NULL && out != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&p->mu);
    int i = find(p, purpose);
    if (i >= 0) *out = p->c[i];
    pthread_mutex_unlock(&p->mu);
    if (i < 0) return hearth_err(HEARTH_ERR_NOT_FOUND, "no purpose '%s' needs consent on this device", purpose);
    return HEARTH_OK;
}

static hearth_status uuid4(char out[37])
{
    uint8_t b[16];
    HEARTH_GUARD(hearth_random(b, sizeof b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return HEARTH_OK;
}

/* Apply a change to purpose @p i (under p->mu): write, then take effect. */
static hearth_status change(hearth_privacy *p, int i, bool granted, const char *by)
{
    hearth_privacy_consent c[PV_MAX];
    pv_log_entry log[HEARTH_PRIVACY_LOG_MAX];
    memcpy(c, p->c, sizeof c);
    c[i].granted = granted;
    c[i].since = hearth_time_now();
    snprintf(c[i].by, sizeof c[i].by, "%s", by != NULL ? by : "");
    snprintf(c[i].notice_version, sizeof c[i].notice_version, "%s", pv_notice_version);
    HEARTH_GUARD(uuid4(c[i].receipt_id));
    size_t nlog = p->nlog;
    memcpy(log, p->log, sizeof log);
    if (nlog == HEARTH_PRIVACY_LOG_MAX) {
        memmove(log, log + 1, (HEARTH_PRIVACY_LOG_MAX - 1) * sizeof log[0]);
        nlog--;
    }
    log[nlog++] = (pv_log_entry){i, c[i]};
    HEARTH_GUARD(save(p, c, log, nlog));
    memcpy(p->c, c, sizeof c);
    memcpy(p->log, log, sizeof log);
    p->nlog = nlog;
    return HEARTH_OK;
}

hearth_status hearth_privacy_set(hearth_privacy *p, const char *purpose, bool granted, const char *by)
{
    HEARTH_ENSURE(p != NULL, HEARTH_ERR_INVALID);
    HEARTH_ENSURE(by == NULL || strlen(by) < HEARTH_PRIVACY_USER_MAX,
                  hearth_err(HEARTH_ERR_INVALID, "privacy: user name too long"));
    pthread_mutex_lock(&p->mu);
    int i = find(p, purpose);
    hearth_status st = HEARTH_OK;
    bool changed = false;
    if (i < 0)
        st = hearth_err(HEARTH_ERR_NOT_FOUND, "no purpose '%s' needs consent on this device", purpose);
    else if (p->c[i].granted != granted) {
        st = change(p, i, granted, by);
        changed = st == HEARTH_OK;
    }
    hearth_privacy_listener fn = p->fn;
    void *arg = p->fn_arg;
    pthread_mutex_unlock(&p->mu);
    if (changed) {
        hearth_seclog(HEARTH_SEV_INFO, granted ? "consent_given" : "consent_withdrawn", "purpose", purpose,
                      "user", by != NULL ? by : "", "notice_version", pv_notice_version, NULL);
        if (fn != NULL) fn(arg, purpose, granted);
    }
    return st;
}

hearth_status hearth_privacy_erase_user(hearth_privacy *p, const char *user, size_t *withdrawn)
{
    HEARTH_ENSURE(p != NULL && user != NULL && user[0] != '\0', HEARTH_ERR_INVALID);
    if (withdrawn != NULL) *withdrawn = 0;
    const char *gone[PV_MAX];
    size_t ngone = 0;
    pthread_mutex_lock(&p->mu);
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; st == HEARTH_OK && i < p->n; i++) {
        if (!p->c[i].granted || strcmp(p->c[i].by, user) != 0) continue;
        st = change(p, (int)i, false, "");
        if (st == HEARTH_OK) gone[ngone++] = p->ids[i];
    }
    /* The user's name leaves the internal record too. */
    bool named = false;
    for (size_t i = 0; i < p->n; i++) named = named || strcmp(p->c[i].by, user) == 0;
    for (size_t i = 0; i < p->nlog; i++) named = named || strcmp(p->log[i].c.by, user) == 0;
    if (st == HEARTH_OK && named) {
        hearth_privacy_consent c[PV_MAX];
        pv_log_entry log[HEARTH_PRIVACY_LOG_MAX];
        memcpy(c, p->c, sizeof c);
        memcpy(log, p->log, sizeof log);
        /* (p->n <= PV_MAX and p->nlog <= the log's size always; said again
         * for the compiler's bounds analysis.) */
        for (size_t i = 0; i < p->n && i < PV_MAX; i++)
            if (strcmp(c[i].by, user) == 0) c[i].by[0] = '\0';
        for (size_t i = 0; i < p->nlog && i < HEARTH_PRIVACY_LOG_MAX; i++)
            if (strcmp(log[i].c.by, user) == 0) log[i].c.by[0] = '\0';
        st = save(p, c, log, p->nlog);
        if (st == HEARTH_OK) {
            memcpy(p->c, c, sizeof c);
            memcpy(p->log, log, sizeof log);
        }
    }
    hearth_privacy_listener fn = p->fn;
    void *arg = p->fn_arg;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < ngone; i++) {
        hearth_seclog(HEARTH_SEV_INFO, "consent_withdrawn", "purpose", gone[i], "reason", "user_erased",
                      NULL);
        if (fn != NULL) fn(arg, gone[i], false);
    }
    if (withdrawn != NULL) *withdrawn = ngone;
    return st;
}

void hearth_privacy_reset(hearth_privacy *p)
{
    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    memset(p->c, 0, sizeof p->c);
    memset(p->log, 0, sizeof p->log);
    p->nlog = 0;
    memset(&p->erase, 0, sizeof p->erase);
    snprintf(p->erase.state, sizeof p->erase.state, "none");
    p->erase_receipt[0] = '\0';
    pthread_mutex_unlock(&p->mu);
}

hearth_status hearth_privacy_consents_json(hearth_privacy *p, char *buf, size_t cap)
{
    HEARTH_ENSURE(p != NULL && buf != NULL && cap > 0, HEARTH_ERR_INVALID);
    cJSON *arr = cJSON_CreateArray();
    bool ok = arr != NULL;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; ok && i < p->n; i++) {
        const hearth_privacy_purpose *pp = hearth_privacy_purpose_find(p->ids[i]);
        cJSON *o = cJSON_CreateObject();
        ok = o != NULL && cJSON_AddItemToArray(arr, o) && cJSON_AddStringToObject(o, "id", p->ids[i]) &&
             cJSON_AddBoolToObject(o, "granted", p->c[i].granted) &&
             cJSON_AddStringToObject(o, "basis", pp->basis) &&
             cJSON_AddStringToObject(o, "title", pp->title) &&
             (p->c[i].since > 0 ? cJSON_AddNumberToObject(o, "since", (double)p->c[i].since) != NULL
                                : cJSON_AddNullToObject(o, "since") != NULL) &&
             cJSON_AddStringToObject(o, "notice_version",
                                     p->c[i].since > 0 ? p->c[i].notice_version : pv_notice_version);
    }
    pthread_mutex_unlock(&p->mu);
    ok = ok && cJSON_PrintPreallocated(arr, buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), false);
    cJSON_Delete(arr);
    if (!ok) return hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: consent list does not fit");
    return HEARTH_OK;
}

hearth_status hearth_privacy_add_holder(hearth_privacy *p, const char *item, hearth_privacy_count_fn fn,
                                        void *arg)
{
    HEARTH_ENSURE(p != NULL && item != NULL && fn != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&p->mu);
    hearth_status st = HEARTH_OK;
    if (p->nholders == HEARTH_PRIVACY_HOLDERS_MAX)
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: more than %d holders", HEARTH_PRIVACY_HOLDERS_MAX);
    else
        p->holders[p->nholders++] = (pv_holder){item, fn, arg};
    pthread_mutex_unlock(&p->mu);
    return st;
}

void hearth_privacy_visit_holders(hearth_privacy *p, void (*fn)(const char *item, size_t count, void *arg),
                                  void *arg)
{
    if (p == NULL) return;
    pv_holder h[HEARTH_PRIVACY_HOLDERS_MAX];
    pthread_mutex_lock(&p->mu);
    size_t n = p->nholders;
    memcpy(h, p->holders, sizeof h);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) fn(h[i].item, h[i].fn(h[i].arg), arg);
}
