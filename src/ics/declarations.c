/* The manufacturer's declarations: what no software test can show
 * (docs/conformance.md "Declarations file"). One "key: value" a line,
 * '#' comments, the first key "format: hearth-declarations/1". Keys:
 *   manufacturer, product, model, version           (once each)
 *   condition <key>: yes|no                         (keys from data/en303645-v2.tsv)
 *   disclosure-policy, disclosure-contact           (5.2-1)
 *   support-period-end (YYYY-MM-DD), support-period-reasons,
 *   support-period-published                        (5.3-13)
 *   debug-interface: text   (repeatable; 5.6-3, 5.6-4)
 *   sensing: text           (repeatable; 5.8-3)
 *   declare <id>: how the provision is met
 *   todo <id>: what the manufacturer still has to do for it
 *   justify <id>: why a recommendation is not followed
 * Anything else is an error: a typo must not silently drop a declaration. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ics_internal.h"

/* Is @p fact (length n) a condition fact some provision uses? */
static bool condition_known(const char *fact, size_t n)
{
    for (size_t i = 0; i < ics_provision_count; i++) {
        const char *p = ics_provision_table[i].condition;
        while (*p != '\0' && *p != '-') {
            const char *eq = strchr(p, '=');
            if (eq == NULL) break;
            if ((size_t)(eq - p) == n && memcmp(p, fact, n) == 0) return true;
            const char *c = strchr(eq, ',');
            if (c == NULL) break;
            p = c + 1;
        }
    }
    return false;
}

static bool date_ok(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strlen(s) != 10) return false;
    const char *e = strptime(s, "%Y-%m-%d", &tm);
    return e != NULL && *e == '\0';
}

/* Declarations parsed into a scratch statement, moved over on success. */
typedef struct {
    char *manufacturer, *product, *model, *version;
    char *policy, *contact, *end, *reasons, *published;
    char *debug[ICS_MAX_ITEMS];
    size_t n_debug;
    char *sensing[ICS_MAX_ITEMS];
    size_t n_sensing;
    ics_condition cond[ICS_MAX_CONDITIONS];
    size_t n_cond;
    char *declare[ICS_MAX_PROVISIONS], *todo[ICS_MAX_PROVISIONS], *justify[ICS_MAX_PROVISIONS];
} decl_tmp;

static void tmp_free(decl_tmp *d)
{
    free(d->manufacturer);
    free(d->product);
    free(d->model);
    free(d->version);
    free(d->policy);
    free(d->contact);
    free(d->end);
    free(d->reasons);
    free(d->published);
    for (size_t i = 0; i < d->n_debug; i++) free(d->debug[i]);
    for (size_t i = 0; i < d->n_sensing; i++) free(d->sensing[i]);
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
        free(d->declare[i]);
        free(d->todo[i]);
        free(d->justify[i]);
    }
}

static hearth_status set_once(char **slot, const char *v, size_t n, const char *name, size_t lineno, const char *key)
{
    if (*slot != NULL) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: %s given twice", name, lineno, key);
    *slot = ics_strndup(v, n);
    return *slot == NULL ? hearth_err(HEARTH_ERR_NOMEM, "out of memory") : HEARTH_OK;
}

static hearth_status add_item(char **items, size_t *count, const char *v, size_t n, const char *name, size_t lineno)
{
    if (*count >= ICS_MAX_ITEMS) return hearth_err(HEARTH_ERR_TOO_LARGE, "%s:%zu: more than %d items", name, lineno, ICS_MAX_ITEMS);
    items[*count] = ics_strndup(v, n);
    if (items[*count] == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    (*count)++;
    return HEARTH_OK;
}

static bool key_is(const char *k, size_t kn, const char *w)
{
    return strlen(w) == kn && memcmp(k, w, kn) == 0;
}

static hearth_status parse_line(decl_tmp *d, const char *name, size_t lineno, const char *k, size_t kn,
                                const char *v, size_t vn)
{
    /* "<word> <arg>" keys */
    const char *sp = memchr(k, ' ', kn);
    if (sp != NULL) {
        size_t wn = (size_t)(sp - k);
        const char *arg = sp + 1;
        size_t an = kn - wn - 1;
        ics_trim(&arg, &an);
        if (key_is(k, wn, "condition")) {
            if (!condition_known(arg, an))
                return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unknown condition '%.*s' (docs/conformance.md lists them)",
                                  name, lineno, (int)an, arg);
            bool yes = vn == 3 && memcmp(v, "yes", 3) == 0;
            bool no = vn == 2 && memcmp(v, "no", 2) == 0;
            if (!yes && !no) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: a condition is yes or no", name, lineno);
            for (size_t i = 0; i < d->n_cond; i++)
                if (strlen(d->cond[i].name) == an && memcmp(d->cond[i].name, arg, an) == 0)
                    return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: condition %.*s given twice", name, lineno, (int)an, arg);
            if (d->n_cond >= ICS_MAX_CONDITIONS || an >= sizeof d->cond[0].name)
                return hearth_err(HEARTH_ERR_TOO_LARGE, "%s:%zu: too many conditions", name, lineno);
            memcpy(d->cond[d->n_cond].name, arg, an);
            d->cond[d->n_cond].name[an] = '\0';
            snprintf(d->cond[d->n_cond].value, sizeof d->cond[0].value, "%s", yes ? "yes" : "no");
            d->n_cond++;
            return HEARTH_OK;
        }
        char **table = key_is(k, wn, "declare") ? d->declare
                       : key_is(k, wn, "todo")  ? d->todo
                       : key_is(k, wn, "justify") ? d->justify
                                                  : NULL;
        if (table == NULL) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unknown key '%.*s'", name, lineno, (int)kn, k);
        int i = ics_provision_index(arg, an);
        if (i < 0)
            return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: '%.*s' is not an EN 303 645 v2 provision", name, lineno,
                              (int)an, arg);
        if (table == d->justify && hearth_ics_mandatory(&ics_provision_table[i]))
            return hearth_err(HEARTH_ERR_INVALID,
                              "%s:%zu: %s is mandatory: clause 4 allows justifying only recommendations not followed",
                              name, lineno, ics_provision_table[i].id);
        char what[48];
        snprintf(what, sizeof what, "%s %s", table == d->declare ? "declare" : table == d->todo ? "todo" : "justify",
                 ics_provision_table[i].id);
        return set_once(&table[i], v, vn, name, lineno, what);
    }
    if (key_is(k, kn, "manufacturer")) return set_once(&d->manufacturer, v, vn, name, lineno, "manufacturer");
    if (key_is(k, kn, "product")) return set_once(&d->product, v, vn, name, lineno, "product");
    if (key_is(k, kn, "model")) return set_once(&d->model, v, vn, name, lineno, "model");
    if (key_is(k, kn, "version")) return set_once(&d->version, v, vn, name, lineno, "version");
    if (key_is(k, kn, "disclosure-policy")) return set_once(&d->policy, v, vn, name, lineno, "disclosure-policy");
    if (key_is(k, kn, "disclosure-contact")) return set_once(&d->contact, v, vn, name, lineno, "disclosure-contact");
    if (key_is(k, kn, "support-period-reasons"))
        return set_once(&d->reasons, v, vn, name, lineno, "support-period-reasons");
    if (key_is(k, kn, "support-period-published"))
        return set_once(&d->published, v, vn, name, lineno, "support-period-published");
    if (key_is(k, kn, "support-period-end")) {
        HEARTH_GUARD(set_once(&d->end, v, vn, name, lineno, "support-period-end"));
        if (!date_ok(d->end)) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: support-period-end is not YYYY-MM-DD", name, lineno);
        return HEARTH_OK;
    }
    if (key_is(k, kn, "debug-interface")) return add_item(d->debug, &d->n_debug, v, vn, name, lineno);
    if (key_is(k, kn, "sensing")) return add_item(d->sensing, &d->n_sensing, v, vn, name, lineno);
    return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unknown key '%.*s'", name, lineno, (int)kn, k);
}

static void move(char **dst, char **src)
{
    free(*dst);
    *dst = *src;
    *src = NULL;
}

hearth_status hearth_ics_load_declarations(hearth_ics *ics, const char *name, const char *text, size_t len)
{
    HEARTH_GUARD(ics_check_text(name, text, len));
    if (ics->have_decl) return hearth_err(HEARTH_ERR_STATE, "%s: declarations are already loaded", name);
    decl_tmp *d = calloc(1, sizeof *d);
    if (d == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    size_t pos = 0, lineno = 0;
    bool format = false;
    const char *line;
    size_t n;
    while (ics_next_line(text, len, &pos, &line, &n)) {
        lineno++;
        if (n > ICS_MAX_LINE) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "%s:%zu: line longer than %d bytes", name, lineno, ICS_MAX_LINE);
            goto out;
        }
        ics_trim(&line, &n);
        if (n == 0 || line[0] == '#') continue;
        const char *colon = memchr(line, ':', n);
        if (colon == NULL) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: expected 'key: value'", name, lineno);
            goto out;
        }
        const char *k = line, *v = colon + 1;
        size_t kn = (size_t)(colon - line), vn = n - kn - 1;
        ics_trim(&k, &kn);
        ics_trim(&v, &vn);
        if (kn == 0 || vn == 0) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: empty key or value", name, lineno);
            goto out;
        }
        for (size_t i = 0; i < vn; i++)
            if ((unsigned char)v[i] < 0x20 && v[i] != '\t') {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: control character in value", name, lineno);
                goto out;
            }
        if (!format) {
            if (!key_is(k, kn, "format") || !(vn == 21 && memcmp(v, "hearth-declarations/1", 21) == 0)) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: the first entry must be 'format: hearth-declarations/1'",
                                name, lineno);
                goto out;
            }
            format = true;
            continue;
        }
        HEARTH_GUARD_GOTO(st, parse_line(d, name, lineno, k, kn, v, vn), out);
    }
    if (!format) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: no 'format: hearth-declarations/1' line", name);
        goto out;
    }
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
        int k = (d->declare[i] != NULL) + (d->todo[i] != NULL) + (d->justify[i] != NULL);
        if (k > 1) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: %s has more than one of declare, todo, justify", name,
                            ics_provision_table[i].id);
            goto out;
        }
    }
    /* commit */
    move(&ics->manufacturer, &d->manufacturer);
    move(&ics->product, &d->product);
    move(&ics->model, &d->model);
    move(&ics->version, &d->version);
    move(&ics->disclosure_policy, &d->policy);
    move(&ics->disclosure_contact, &d->contact);
    move(&ics->support_end, &d->end);
    move(&ics->support_reasons, &d->reasons);
    move(&ics->support_published, &d->published);
    memcpy(ics->debug_interfaces, d->debug, sizeof d->debug);
    ics->n_debug = d->n_debug;
    d->n_debug = 0;
    memcpy(ics->sensing, d->sensing, sizeof d->sensing);
    ics->n_sensing = d->n_sensing;
    d->n_sensing = 0;
    memcpy(ics->conditions, d->cond, sizeof d->cond);
    ics->n_conditions = d->n_cond;
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
        move(&ics->rows[i].declare, &d->declare[i]);
        move(&ics->rows[i].todo, &d->todo[i]);
        move(&ics->rows[i].justify, &d->justify[i]);
    }
    snprintf(ics->decl_name, sizeof ics->decl_name, "%s", name);
    ics->have_decl = true;
    ics->evaluated = false;
out:
    tmp_free(d);
    free(d);
    return st;
}
