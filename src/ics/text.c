/* Small string and line helpers of the conformance statement's parsers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ics_internal.h"

char *ics_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ics_strdup(const char *s)
{
    return ics_strndup(s, strlen(s));
}

void ics_note(hearth_ics *ics, const char *fmt, ...)
{
    if (ics->n_notes >= ICS_MAX_NOTES) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    if (ics->n_notes == ICS_MAX_NOTES - 1) memcpy(buf, "(further notes left out)", sizeof "(further notes left out)");
    char *n = ics_strdup(buf);
    if (n != NULL) ics->notes[ics->n_notes++] = n;
}

bool ics_next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    if (*pos >= len) return false;
    const char *s = text + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t l = nl != NULL ? (size_t)(nl - s) : len - *pos;
    *pos += l + (nl != NULL ? 1 : 0);
    if (l > 0 && s[l - 1] == '\r') l--;
    *line = s;
    *n = l;
    return true;
}

hearth_status ics_check_text(const char *name, const char *text, size_t len)
{
    if (len == 0) return hearth_err(HEARTH_ERR_INVALID, "%s: empty", name);
    if (len > HEARTH_ICS_MAX_INPUT)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "%s: larger than %u bytes", name, HEARTH_ICS_MAX_INPUT);
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t extra;
        if (c == 0) return hearth_err(HEARTH_ERR_INVALID, "%s: NUL byte at offset %zu", name, i);
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) extra = 1;
        else if (c >= 0xe0 && c <= 0xef) extra = 2;
        else if (c >= 0xf0 && c <= 0xf4) extra = 3;
        else return hearth_err(HEARTH_ERR_INVALID, "%s: not UTF-8 at offset %zu", name, i);
        if (len - i <= extra) return hearth_err(HEARTH_ERR_INVALID, "%s: truncated UTF-8 at offset %zu", name, i);
        for (size_t k = 1; k <= extra; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return hearth_err(HEARTH_ERR_INVALID, "%s: not UTF-8 at offset %zu", name, i);
        i += extra + 1;
    }
    return HEARTH_OK;
}

void ics_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

int ics_provision_index(const char *id, size_t n)
{
    for (size_t i = 0; i < ics_provision_count; i++) {
        const char *p = ics_provision_table[i].id;
        if (strlen(p) == n && memcmp(p, id, n) == 0) return (int)i;
    }
    return -1;
}

void ics_str_printf(ics_str *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int w = vsnprintf(b->s != NULL ? b->s + b->len : NULL, b->s != NULL ? room : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->failed = true;
            return;
        }
        if (b->s != NULL && (size_t)w < room) {
            b->len += (size_t)w;
            return;
        }
        size_t need = b->len + (size_t)w + 1;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) cap *= 2;
        if (cap > HEARTH_ICS_MAX_INPUT) {
            b->failed = true;
            return;
        }
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

void ics_fputs(const char *s, ics_str *b)
{
    ics_str_printf(b, "%s", s);
}

hearth_status ics_str_emit(ics_str *b, FILE *f, const char *what)
{
    hearth_status st = HEARTH_OK;
    if (b->failed || b->s == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory building the %s statement", what);
    else if (fwrite(b->s, 1, b->len, f) != b->len || fflush(f) != 0)
        st = hearth_err(HEARTH_ERR_IO, "writing the %s statement failed", what);
    ics_str_free(b);
    return st;
}

void ics_str_free(ics_str *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

const char *ics_result_name(ics_result r)
{
    switch (r) {
    case ICS_RESULT_PASSED: return "passed";
    case ICS_RESULT_FAILED: return "failed";
    case ICS_RESULT_NOT_RUN: return "not run";
    case ICS_RESULT_MISSING: break;
    }
    return "missing from the run";
}

const char *ics_basis_name(ics_basis b)
{
    switch (b) {
    case ICS_BASIS_TESTS: return "tests";
    case ICS_BASIS_ASSESSMENT: return "assessment";
    case ICS_BASIS_DECLARATION: return "declaration";
    case ICS_BASIS_CONDITION: return "condition";
    case ICS_BASIS_PROFILE: return "profile";
    case ICS_BASIS_EVIDENCE_FAILED: return "evidence-failed";
    case ICS_BASIS_TODO: return "manufacturer-todo";
    case ICS_BASIS_NONE: break;
    }
    return "none";
}

const char *ics_profile_name(ics_profile_state p)
{
    switch (p) {
    case ICS_PROFILE_INCLUDED: return "included";
    case ICS_PROFILE_EXCLUDED: return "excluded";
    case ICS_PROFILE_NOT_LISTED: return "not-listed";
    case ICS_PROFILE_NONE: break;
    }
    return "no-profile";
}

bool ics_test_names(const ics_test *t, const char *id)
{
    size_t n = strlen(id);
    const char *p = t->provisions;
    while (*p != '\0') {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e != '\0' && *e != ' ') e++;
        if ((size_t)(e - p) == n && memcmp(p, id, n) == 0) return true;
        p = e;
    }
    return false;
}

const char *ics_verdict_name(ics_verdict v)
{
    switch (v) {
    case ICS_VERDICT_PASS: return "PASS";
    case ICS_VERDICT_FAIL: return "FAIL";
    case ICS_VERDICT_INCONCLUSIVE: return "INCONCLUSIVE";
    case ICS_VERDICT_NA: break;
    }
    return "N/A";
}
