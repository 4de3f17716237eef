/* An assessment as evidence: the JSON report of `hearth assess` (schema
 * hearth-assessment/1, docs/assessment.md). Each unit names EN 303 645
 * provisions; its verdict is evidence for each of them: PASS for, FAIL
 * against, INCONCLUSIVE and N/A neither (docs/conformance.md "How support is
 * decided"). The file is untrusted: bounded, parsed strictly with cJSON,
 * every key and value checked; on any error nothing is kept. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ics_internal.h"

/* A string member of @p o named @p key: present, a string, 1..max bytes, no
 * control characters. NULL (with the error set) otherwise. */
static const char *str_member(const cJSON *o, const char *key, size_t max, const char *name, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        (void)hearth_err(HEARTH_ERR_INVALID, "%s: %s: \"%s\" missing or not a string", name, where, key);
        return NULL;
    }
    size_t n = strlen(v->valuestring);
    if (n == 0 || n > max) {
        (void)hearth_err(HEARTH_ERR_INVALID, "%s: %s: \"%s\" empty or longer than %zu bytes", name, where, key, max);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f) {
            (void)hearth_err(HEARTH_ERR_INVALID, "%s: %s: \"%s\" holds a control character", name, where, key);
            return NULL;
        }
    return v->valuestring;
}

/* Only the keys in @p allowed (NULL-terminated). */
static hearth_status only_keys(const cJSON *o, const char *const *allowed, const char *name, const char *where)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++) ok = c->string != NULL && strcmp(c->string, allowed[i]) == 0;
        if (!ok)
            return hearth_err(HEARTH_ERR_INVALID, "%s: %s: unexpected key \"%s\"", name, where,
                              c->string != NULL ? c->string : "?");
    }
    return HEARTH_OK;
}

static bool unit_id_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return false;
    return true;
}

/* "2026-12-07T18:20:14Z" */
static bool iso_time_ok(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof pat - 1) return false;
    for (size_t i = 0; pat[i] != '\0'; i++)
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i]) return false;
    return true;
}

static void entries_free(ics_assess_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) free(e[i].unit);
    free(e);
}

static hearth_status parse(const cJSON *root, const char *name, size_t file, ics_assess_entry **out, size_t *n_out,
                           const char **target, const char **finished)
{
    static const char *const top_keys[] = {"schema", "tool", "target", "started", "finished",
                                           "bounds", "summary", "units", NULL};
    static const char *const unit_keys[] = {"id", "title", "provisions", "verdict", "evidence", NULL};
    static const char *const verdicts[] = {"PASS", "FAIL", "INCONCLUSIVE", "N/A"};
    if (!cJSON_IsObject(root)) return hearth_err(HEARTH_ERR_INVALID, "%s: not a JSON object", name);
    HEARTH_GUARD(only_keys(root, top_keys, name, "top level"));
    const char *schema = str_member(root, "schema", 64, name, "top level");
    if (schema == NULL) return HEARTH_ERR_INVALID;
    if (strcmp(schema, "hearth-assessment/1") != 0)
        return hearth_err(HEARTH_ERR_INVALID, "%s: schema \"%s\", expected \"hearth-assessment/1\"", name, schema);
    const char *started;
    if ((*target = str_member(root, "target", 256, name, "top level")) == NULL ||
        (started = str_member(root, "started", 32, name, "top level")) == NULL ||
        (*finished = str_member(root, "finished", 32, name, "top level")) == NULL)
        return HEARTH_ERR_INVALID;
    if (!iso_time_ok(started) || !iso_time_ok(*finished) || strcmp(started, *finished) > 0)
        return hearth_err(HEARTH_ERR_INVALID, "%s: started/finished are not YYYY-MM-DDTHH:MM:SSZ in order", name);
    const cJSON *tool = cJSON_GetObjectItemCaseSensitive(root, "tool");
    if (tool != NULL && str_member(root, "tool", 128, name, "top level") == NULL) return HEARTH_ERR_INVALID;
    const cJSON *bounds = cJSON_GetObjectItemCaseSensitive(root, "bounds");
    if (bounds != NULL && !cJSON_IsObject(bounds))
        return hearth_err(HEARTH_ERR_INVALID, "%s: \"bounds\" is not an object", name);
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(root, "units");
    if (!cJSON_IsArray(units)) return hearth_err(HEARTH_ERR_INVALID, "%s: \"units\" missing or not an array", name);
    int nu = cJSON_GetArraySize(units);
    if (nu < 1 || nu > ICS_MAX_ASSESS_UNITS)
        return hearth_err(HEARTH_ERR_INVALID, "%s: %d units (1..%d allowed)", name, nu, ICS_MAX_ASSESS_UNITS);

    size_t cap = (size_t)nu * ICS_MAX_ASSESS_UNIT_PROVISIONS, n = 0, count[4] = {0};
    ics_assess_entry *e = calloc(cap, sizeof *e);
    if (e == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    const cJSON *u;
    int k = 0;
    cJSON_ArrayForEach(u, units)
    {
        char where[48];
        snprintf(where, sizeof where, "units[%d]", k++);
        if (!cJSON_IsObject(u)) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: %s is not an object", name, where);
            goto fail;
        }
        if ((st = only_keys(u, unit_keys, name, where)) != HEARTH_OK) goto fail;
        const char *id = str_member(u, "id", 64, name, where);
        const char *verdict = id != NULL ? str_member(u, "verdict", 16, name, where) : NULL;
        if (verdict == NULL || str_member(u, "title", 256, name, where) == NULL) {
            st = HEARTH_ERR_INVALID;
            goto fail;
        }
        if (!unit_id_ok(id)) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: unit id '%s' is not [A-Za-z0-9._-]", name, where, id);
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            if (strcmp(e[i].unit, id) == 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: unit '%s' listed twice", name, where, id);
                goto fail;
            }
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(u, "evidence");
        if (!cJSON_IsString(ev)) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: \"evidence\" missing or not a string", name, where);
            goto fail;
        }
        int vi = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(verdict, verdicts[i]) == 0) vi = i;
        if (vi < 0) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: verdict '%s' is not PASS, FAIL, INCONCLUSIVE or N/A", name,
                            where, verdict);
            goto fail;
        }
        count[vi]++;
        const cJSON *provs = cJSON_GetObjectItemCaseSensitive(u, "provisions");
        int np = cJSON_IsArray(provs) ? cJSON_GetArraySize(provs) : -1;
        if (np < 1 || np > ICS_MAX_ASSESS_UNIT_PROVISIONS) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: \"provisions\" must be an array of 1..%d ids", name, where,
                            ICS_MAX_ASSESS_UNIT_PROVISIONS);
            goto fail;
        }
        size_t first = n;
        const cJSON *p;
        cJSON_ArrayForEach(p, provs)
        {
            int idx = cJSON_IsString(p) && p->valuestring != NULL
                          ? ics_provision_index(p->valuestring, strlen(p->valuestring))
                          : -1;
            if (idx < 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: provision %s%s%s is not an EN 303 645 v2 provision", name,
                                where, cJSON_IsString(p) ? "'" : "", cJSON_IsString(p) ? p->valuestring : "(not a string)",
                                cJSON_IsString(p) ? "'" : "");
                goto fail;
            }
            for (size_t i = first; i < n; i++)
                if (e[i].prov == (size_t)idx) {
                    st = hearth_err(HEARTH_ERR_INVALID, "%s: %s: provision %s named twice", name, where, p->valuestring);
                    goto fail;
                }
            e[n].prov = (size_t)idx;
            e[n].verdict = (ics_verdict)vi;
            e[n].file = file;
            e[n].unit = ics_strdup(id);
            if (e[n].unit == NULL) {
                st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
                goto fail;
            }
            n++;
        }
    }
    /* The summary, when given, must agree with the units (a report edited by hand would not). */
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
    if (sum != NULL) {
        if (!cJSON_IsObject(sum)) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: \"summary\" is not an object", name);
            goto fail;
        }
        static const char *const sum_keys[] = {"PASS", "FAIL", "INCONCLUSIVE", "N/A", NULL};
        if ((st = only_keys(sum, sum_keys, name, "summary")) != HEARTH_OK) goto fail;
        for (int i = 0; i < 4; i++) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(sum, verdicts[i]);
            if (!cJSON_IsNumber(c) || c->valuedouble != (double)count[i]) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s: summary %s does not match the %zu units with that verdict",
                                name, verdicts[i], count[i]);
                goto fail;
            }
        }
    }
    *out = e;
    *n_out = n;
    return HEARTH_OK;
fail:
    entries_free(e, n);
    return st;
}

hearth_status hearth_ics_load_assessment(hearth_ics *ics, const char *name, const char *text, size_t len)
{
    HEARTH_GUARD(ics_check_text(name, text, len));
    if (len > ICS_MAX_ASSESS_INPUT)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "%s: larger than %u bytes", name, ICS_MAX_ASSESS_INPUT);
    if (ics->n_assessments >= ICS_MAX_ASSESSMENTS)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "%s: at most %d assessments", name, ICS_MAX_ASSESSMENTS);
    /* A NUL-terminated copy: the text need not end in NUL. */
    char *copy = ics_strndup(text, len);
    if (copy == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, true);
    if (root == NULL) {
        size_t off = end != NULL && end >= copy ? (size_t)(end - copy) : 0;
        free(copy);
        return hearth_err(HEARTH_ERR_INVALID, "%s: not valid JSON (near byte %zu)", name, off);
    }
    ics_assess_entry *e = NULL;
    size_t n = 0;
    const char *target = NULL, *finished = NULL;
    hearth_status st = parse(root, name, ics->n_assessments, &e, &n, &target, &finished);
    ics_assess_entry *grown = NULL;
    char *t = NULL, *f = NULL;
    if (st == HEARTH_OK) {
        t = ics_strdup(target);
        f = ics_strdup(finished);
        grown = t != NULL && f != NULL ? realloc(ics->assess, (ics->n_assess + n) * sizeof *grown) : NULL;
        if (grown == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(root);
    free(copy);
    if (st != HEARTH_OK) {
        free(t);
        free(f);
        entries_free(e, n);
        return st;
    }
    ics->assess = grown;
    memcpy(ics->assess + ics->n_assess, e, n * sizeof *e);
    free(e);
    ics->n_assess += n;
    size_t i = ics->n_assessments++;
    snprintf(ics->assessment_names[i], sizeof ics->assessment_names[i], "%s", name);
    ics->assessment_target[i] = t;
    ics->assessment_finished[i] = f;
    ics->evaluated = false;
    return HEARTH_OK;
}
