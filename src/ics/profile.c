/* The product profile: which provisions the manufacturer selects for the
 * product. Two forms (docs/conformance.md "Product profile"):
 *  - the ETSI export (as /work/shared/etsi/product-profile-selection.txt):
 *    a record starts "<row> [<category>] <TS 103 645 id> ..." and ends with a
 *    line "Yes View" or "No View"; description lines between are ignored;
 *    a trailer "Records : N of N" gives the count;
 *  - CSV: "provision,include[,...]", one id (EN 303 645 or TS 103 645
 *    numbering) and yes/no a line, '#' comments;
 *  - JSON (hearth-profile/1): the same ids and an include boolean.
 * TS ids map to EN ids through the ts103645 column of data/en303645-v2.tsv. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ics_internal.h"

#define MAX_TS 64

typedef struct {
    ics_profile_state state[ICS_MAX_PROVISIONS];
    char src[ICS_MAX_PROVISIONS][64];
} profile_tmp;

/* Is @p id (length n) one of the TS 103 645 ids the data file maps? */
static bool ts_known(const char *id, size_t n)
{
    for (size_t i = 0; i < ics_provision_count; i++) {
        const char *p = ics_provision_table[i].ts103645;
        while (*p != '\0') {
            const char *e = strchr(p, ',');
            size_t l = e != NULL ? (size_t)(e - p) : strlen(p);
            if (l == n && memcmp(p, id, n) == 0) return true;
            p += l + (e != NULL ? 1 : 0);
        }
    }
    return false;
}

/* Set every EN provision @p ts (TS id or EN id, length n) maps to. */
static hearth_status apply(profile_tmp *t, const char *name, size_t lineno, const char *id, size_t n,
                           bool include)
{
    char idz[32];
    if (n >= sizeof idz) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: id too long", name, lineno);
    memcpy(idz, id, n);
    idz[n] = '\0';
    size_t hits = 0;
    int en = ics_provision_index(id, n);
    for (size_t i = 0; i < ics_provision_count; i++) {
        bool match = (int)i == en;
        if (!match) {
            const char *p = ics_provision_table[i].ts103645;
            while (*p != '\0' && !match) {
                const char *e = strchr(p, ',');
                size_t l = e != NULL ? (size_t)(e - p) : strlen(p);
                match = l == n && memcmp(p, id, n) == 0;
                p += l + (e != NULL ? 1 : 0);
            }
        }
        if (!match) continue;
        hits++;
        ics_profile_state s = include ? ICS_PROFILE_INCLUDED : ICS_PROFILE_EXCLUDED;
        if (t->state[i] != ICS_PROFILE_NOT_LISTED && t->state[i] != s)
            return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: %s contradicts %s for provision %s", name,
                              lineno, idz, t->src[i], ics_provision_table[i].id);
        if (t->state[i] == s) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: %s listed twice", name, lineno, idz);
        t->state[i] = s;
        snprintf(t->src[i], sizeof t->src[i], "%s", idz);
    }
    if (hits == 0)
        return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: '%s' is neither an EN 303 645 v2 nor a mapped TS 103 645 provision",
                          name, lineno, idz);
    return HEARTH_OK;
}

static bool word_eq(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* A TS 103 645 id token "4.N-M" (digits only), length into *n. */
static bool ts_token(const char *s, size_t avail, size_t *n)
{
    size_t i = 0;
    if (avail < 5 || s[0] != '4' || s[1] != '.') return false;
    i = 2;
    size_t d = i;
    while (i < avail && isdigit((unsigned char)s[i])) i++;
    if (i == d || i >= avail || s[i] != '-') return false;
    i++;
    d = i;
    while (i < avail && isdigit((unsigned char)s[i])) i++;
    if (i == d) return false;
    if (i < avail && s[i] != ' ' && s[i] != '\t') return false;
    *n = i;
    return true;
}

/* A category token "4.N" followed by a space. */
static bool cat_token(const char *s, size_t avail, size_t *n)
{
    if (avail < 4 || s[0] != '4' || s[1] != '.') return false;
    size_t i = 2;
    while (i < avail && isdigit((unsigned char)s[i])) i++;
    if (i == 2 || i >= avail || s[i] != ' ') return false;
    *n = i;
    return true;
}

static hearth_status parse_etsi(hearth_ics *ics, profile_tmp *t, const char *name, const char *text,
                                size_t len)
{
    size_t pos = 0, lineno = 0, records = 0, open_line = 0;
    unsigned long last_row = 0;
    bool open = false, have_trailer = false;
    char open_id[32] = "";
    const char *line;
    size_t n;
    char *pending_notes[8];
    size_t n_pending = 0;
    hearth_status st = HEARTH_OK;
    while (ics_next_line(text, len, &pos, &line, &n)) {
        lineno++;
        if (n > 65536) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "%s:%zu: line too long", name, lineno);
            goto out;
        }
        const char *s = line;
        size_t l = n;
        ics_trim(&s, &l);
        if (word_eq(s, l, "Yes View") || word_eq(s, l, "No View")) {
            if (!open) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: Include column without a record", name, lineno);
                goto out;
            }
            bool inc = s[0] == 'Y' || s[0] == 'y';
            HEARTH_GUARD_GOTO(st, apply(t, name, open_line, open_id, strlen(open_id), inc), out);
            open = false;
            continue;
        }
        if (l >= 7 && strncmp(s, "Records", 7) == 0) {
            /* "Records : 37 of 37 | Page ...": parsed from a NUL-terminated copy
             * (the text need not end in NUL). */
            char tb[96];
            snprintf(tb, sizeof tb, "%.*s", (int)(l < sizeof tb - 1 ? l : sizeof tb - 1), s);
            const char *p = tb + 7;
            while (*p == ' ' || *p == ':') p++;
            char *e;
            unsigned long a = strtoul(p, &e, 10);
            if (e == p || strncmp(e, " of ", 4) != 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unreadable trailer", name, lineno);
                goto out;
            }
            unsigned long b = strtoul(e + 4, NULL, 10);
            if (a != records || b != records) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: trailer says %lu of %lu records, read %zu", name,
                                lineno, a, b, records);
                goto out;
            }
            have_trailer = true;
            continue;
        }
        /* record start: "<row> [<cat>] <id> ..." */
        size_t i = 0;
        while (i < l && isdigit((unsigned char)s[i])) i++;
        if (i == 0 || i > 4 || i >= l || s[i] != ' ') continue;
        size_t c = 0, idn = 0;
        const char *r = s + i + 1;
        size_t rl = l - i - 1;
        const char *cat = NULL;
        size_t catn = 0;
        if (cat_token(r, rl, &c) && ts_token(r + c + 1, rl - c - 1, &idn)) {
            cat = r;
            catn = c;
            r += c + 1;
        } else if (!ts_token(r, rl, &idn)) {
            continue; /* a description line that starts with a number */
        }
        if (open) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: record %s (line %zu) has no Include column (Yes View / No View)",
                            name, lineno, open_id, open_line);
            goto out;
        }
        unsigned long row = strtoul(s, NULL, 10);
        if (row != last_row + 1) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: record number %lu follows %lu", name, lineno, row, last_row);
            goto out;
        }
        last_row = row;
        if (idn >= sizeof open_id) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: id too long", name, lineno);
            goto out;
        }
        memcpy(open_id, r, idn);
        open_id[idn] = '\0';
        if (!ts_known(open_id, idn)) {
            /* A footnote mark glued to the id by the PDF extraction: "4.8-21" is 4.8-2 (footnote 1). */
            if (idn > 5 && ts_known(open_id, idn - 1)) {
                char orig[32];
                memcpy(orig, open_id, idn + 1);
                open_id[idn - 1] = '\0';
                if (n_pending < 8) {
                    char buf[200];
                    snprintf(buf, sizeof buf, "%s:%zu: read '%s' as %s (a footnote mark glued to the id)", name,
                             lineno, orig, open_id);
                    pending_notes[n_pending] = ics_strdup(buf);
                    if (pending_notes[n_pending] != NULL) n_pending++;
                }
            } else {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: '%s' is not a TS 103 645 provision", name, lineno, open_id);
                goto out;
            }
        }
        if (cat != NULL) {
            size_t pl = strchr(open_id, '-') - open_id;
            if (pl != catn || memcmp(cat, open_id, catn) != 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: category %.*s does not match %s", name, lineno,
                                (int)catn, cat, open_id);
                goto out;
            }
        } else if (n_pending < 8) {
            char buf[200];
            snprintf(buf, sizeof buf, "%s:%zu: record %lu (%s) has no category column", name, lineno, row, open_id);
            pending_notes[n_pending] = ics_strdup(buf);
            if (pending_notes[n_pending] != NULL) n_pending++;
        }
        open = true;
        open_line = lineno;
        records++;
    }
    if (open) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: record %s has no Include column (Yes View / No View)", name,
                        open_line, open_id);
        goto out;
    }
    if (records == 0) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: no profile records (neither the ETSI export nor provision,include CSV)", name);
        goto out;
    }
    if (!have_trailer) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: no 'Records : N of N' trailer: the export may be cut short", name);
        goto out;
    }
out:
    for (size_t k = 0; k < n_pending; k++) {
        if (st == HEARTH_OK) ics_note(ics, "%s", pending_notes[k]);
        free(pending_notes[k]);
    }
    return st;
}

static hearth_status parse_csv(profile_tmp *t, const char *name, const char *text, size_t len)
{
    size_t pos = 0, lineno = 0, rows = 0;
    bool header = false;
    const char *line;
    size_t n;
    while (ics_next_line(text, len, &pos, &line, &n)) {
        lineno++;
        if (n > ICS_MAX_LINE) return hearth_err(HEARTH_ERR_TOO_LARGE, "%s:%zu: line too long", name, lineno);
        const char *s = line;
        size_t l = n;
        ics_trim(&s, &l);
        if (l == 0 || s[0] == '#') continue;
        if (!header) {
            header = true;
            continue; /* checked by the caller */
        }
        const char *c1 = memchr(s, ',', l);
        if (c1 == NULL) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: expected provision,include", name, lineno);
        const char *id = s;
        size_t idn = (size_t)(c1 - s);
        const char *inc = c1 + 1;
        const char *c2 = memchr(inc, ',', l - idn - 1);
        size_t incn = c2 != NULL ? (size_t)(c2 - inc) : l - idn - 1;
        ics_trim(&id, &idn);
        ics_trim(&inc, &incn);
        bool yes;
        if (word_eq(inc, incn, "yes")) yes = true;
        else if (word_eq(inc, incn, "no")) yes = false;
        else return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: include must be yes or no", name, lineno);
        HEARTH_GUARD(apply(t, name, lineno, id, idn, yes));
        rows++;
    }
    if (rows == 0) return hearth_err(HEARTH_ERR_INVALID, "%s: no provisions listed", name);
    return HEARTH_OK;
}

/* The JSON form (hearth-profile/1): {"format":"hearth-profile/1",
 * "provisions":[{"id":"4.1-1","include":true},...]}, ids as in the CSV form
 * (TS 103 645 or EN 303 645 numbering), known keys only. */
static hearth_status parse_json(profile_tmp *t, const char *name, const char *text, size_t len)
{
    char *copy = ics_strndup(text, len);
    if (copy == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, true);
    hearth_status st = HEARTH_OK;
    if (root == NULL) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: not valid JSON (near byte %zu)", name,
                        end != NULL && end >= copy ? (size_t)(end - copy) : 0);
        goto out;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *provs = cJSON_GetObjectItemCaseSensitive(root, "provisions");
    if (!cJSON_IsObject(root) || cJSON_GetArraySize(root) != 2 || !cJSON_IsString(fmt) ||
        strcmp(fmt->valuestring, "hearth-profile/1") != 0 || !cJSON_IsArray(provs)) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: expected {\"format\":\"hearth-profile/1\",\"provisions\":[...]}",
                        name);
        goto out;
    }
    int np = cJSON_GetArraySize(provs);
    if (np < 1 || np > 4 * ICS_MAX_PROVISIONS) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: %d provisions listed (1..%d allowed)", name, np,
                        4 * ICS_MAX_PROVISIONS);
        goto out;
    }
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, provs)
    {
        k++;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *inc = cJSON_GetObjectItemCaseSensitive(e, "include");
        if (!cJSON_IsObject(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(id) || !cJSON_IsBool(inc)) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: provisions[%zu]: expected {\"id\":\"...\",\"include\":true|false}",
                            name, k - 1);
            goto out;
        }
        /* apply() reports "name:N": N is the entry's position, from 1. */
        if ((st = apply(t, name, k, id->valuestring, strlen(id->valuestring), cJSON_IsTrue(inc))) != HEARTH_OK)
            goto out;
    }
out:
    cJSON_Delete(root);
    free(copy);
    return st;
}

/* Is the first non-blank character '{' (the JSON form)? */
static bool is_json(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') continue;
        return text[i] == '{';
    }
    return false;
}

/* Is the first non-comment line the CSV header? */
static bool is_csv(const char *text, size_t len)
{
    size_t pos = 0;
    const char *line;
    size_t n;
    while (ics_next_line(text, len, &pos, &line, &n)) {
        ics_trim(&line, &n);
        if (n == 0 || line[0] == '#') continue;
        return (n == 17 && strncmp(line, "provision,include", 17) == 0) ||
               (n > 17 && strncmp(line, "provision,include,", 18) == 0);
    }
    return false;
}

hearth_status hearth_ics_load_profile(hearth_ics *ics, const char *name, const char *text, size_t len)
{
    HEARTH_GUARD(ics_check_text(name, text, len));
    if (ics->have_profile) return hearth_err(HEARTH_ERR_STATE, "%s: a profile is already loaded", name);
    profile_tmp *t = calloc(1, sizeof *t);
    if (t == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) t->state[i] = ICS_PROFILE_NOT_LISTED;
    hearth_status st = is_json(text, len) ? parse_json(t, name, text, len)
                       : is_csv(text, len)  ? parse_csv(t, name, text, len)
                                            : parse_etsi(ics, t, name, text, len);
    if (st == HEARTH_OK) {
        for (size_t i = 0; i < ICS_MAX_PROVISIONS; i++) {
            ics->rows[i].profile = t->state[i];
            memcpy(ics->rows[i].profile_src, t->src[i], sizeof t->src[i]);
        }
        snprintf(ics->profile_name, sizeof ics->profile_name, "%s", name);
        ics->have_profile = true;
        ics->evaluated = false;
    }
    free(t);
    return st;
}
