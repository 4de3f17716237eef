/* The evidence: the build's label map (test-provisions.tsv, written by
 * cmake/Testing.cmake) and the JUnit XML of the ctest run
 * (`ctest --output-junit FILE`). The JUnit reader is a bounded scanner for
 * the subset ctest writes (and generic JUnit): testsuite, testcase with
 * name and status, failure / error / skipped children; comments, the XML
 * declaration and CDATA are skipped; anything malformed is an error. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ics_internal.h"

static int case_cmp(const void *a, const void *b)
{
    return strcmp(((const ics_test *)a)->name, ((const ics_test *)b)->name);
}

static void tests_free(ics_test *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].kind);
        free(t[i].provisions);
    }
    free(t);
}

/* Append a zeroed test to the growing array *@p t (*@p n used of *@p cap);
 * at most ICS_MAX_TESTS, the error naming the input @p name and @p what. */
static hearth_status tests_push(ics_test **t, size_t *n, size_t *cap, const char *name, const char *what,
                                ics_test **out)
{
    if (*n >= ICS_MAX_TESTS) return hearth_err(HEARTH_ERR_TOO_LARGE, "%s: more than %d %s", name, ICS_MAX_TESTS, what);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        ics_test *nt = realloc(*t, nc * sizeof *nt);
        if (nt == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        *t = nt;
        *cap = nc;
    }
    *out = &(*t)[(*n)++];
    memset(*out, 0, sizeof **out);
    return HEARTH_OK;
}

hearth_status hearth_ics_load_map(hearth_ics *ics, const char *name, const char *text, size_t len)
{
    HEARTH_GUARD(ics_check_text(name, text, len));
    if (ics->have_map) return hearth_err(HEARTH_ERR_STATE, "%s: a map is already loaded", name);
    ics_test *t = NULL;
    size_t n_t = 0, cap = 0, pos = 0, lineno = 0;
    const char *line;
    size_t n;
    hearth_status st = HEARTH_OK;
    while (ics_next_line(text, len, &pos, &line, &n)) {
        lineno++;
        if (n > ICS_MAX_LINE) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "%s:%zu: line too long", name, lineno);
            goto fail;
        }
        if (lineno == 1) {
            if (n != 20 || memcmp(line, "test\tkind\tprovisions", 20) != 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:1: expected the header 'test<TAB>kind<TAB>provisions'", name);
                goto fail;
            }
            continue;
        }
        if (n == 0) continue;
        const char *t1 = memchr(line, '\t', n);
        const char *t2 = t1 != NULL ? memchr(t1 + 1, '\t', n - (size_t)(t1 + 1 - line)) : NULL;
        if (t2 == NULL || memchr(t2 + 1, '\t', n - (size_t)(t2 + 1 - line)) != NULL || t1 == line) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: expected test<TAB>kind<TAB>provisions", name, lineno);
            goto fail;
        }
        const char *pv = t2 + 1;
        size_t pn = n - (size_t)(pv - line);
        /* every id named must be a provision */
        for (size_t i = 0; i < pn;) {
            while (i < pn && pv[i] == ' ') i++;
            size_t j = i;
            while (j < pn && pv[j] != ' ') j++;
            if (j > i && ics_provision_index(pv + i, j - i) < 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: '%.*s' is not an EN 303 645 v2 provision", name, lineno,
                                (int)(j - i), pv + i);
                goto fail;
            }
            i = j;
        }
        ics_test *x = NULL;
        st = tests_push(&t, &n_t, &cap, name, "tests", &x);
        if (st != HEARTH_OK) goto fail;
        x->name = ics_strndup(line, (size_t)(t1 - line));
        x->kind = ics_strndup(t1 + 1, (size_t)(t2 - t1 - 1));
        x->provisions = ics_strndup(pv, pn);
        if (x->name == NULL || x->kind == NULL || x->provisions == NULL) {
            st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i + 1 < n_t; i++)
            if (strcmp(t[i].name, x->name) == 0) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: test %s listed twice", name, lineno, x->name);
                goto fail;
            }
    }
    if (n_t == 0) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: no tests in the map", name);
        goto fail;
    }
    ics->tests = t;
    ics->n_tests = n_t;
    snprintf(ics->map_name, sizeof ics->map_name, "%s", name);
    ics->have_map = true;
    ics->evaluated = false;
    return HEARTH_OK;
fail:
    tests_free(t, n_t);
    return st;
}

/* ------------------------------------------------------------------ JUnit */

typedef struct {
    const char *s;
    size_t len, pos;
    const char *name; /* file name for messages */
} xml;

static size_t line_of(const xml *x)
{
    size_t l = 1;
    for (size_t i = 0; i < x->pos && i < x->len; i++)
        if (x->s[i] == '\n') l++;
    return l;
}

static hearth_status skip_past(xml *x, const char *end)
{
    size_t el = strlen(end);
    for (size_t i = x->pos; i + el <= x->len; i++)
        if (memcmp(x->s + i, end, el) == 0) {
            x->pos = i + el;
            return HEARTH_OK;
        }
    return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unterminated markup (no '%s')", x->name, line_of(x), end);
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == ':';
}

/* Decode an attribute value's entities into a new string. */
static hearth_status unescape(const xml *x, const char *v, size_t n, char **out)
{
    char *d = malloc(n + 1);
    if (d == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (v[i] != '&') {
            d[o++] = v[i++];
            continue;
        }
        const char *semi = memchr(v + i, ';', n - i);
        if (semi == NULL || semi - (v + i) > 10) goto bad;
        size_t en = (size_t)(semi - (v + i)) + 1;
        static const struct { const char *e; char c; } ents[] = {
            {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++)
            if (strlen(ents[k].e) == en && memcmp(v + i, ents[k].e, en) == 0) {
                d[o++] = ents[k].c;
                done = true;
            }
        if (!done) {
            if (en < 4 || v[i + 1] != '#') goto bad;
            char *e;
            unsigned long cp = v[i + 2] == 'x' ? strtoul(v + i + 3, &e, 16) : strtoul(v + i + 2, &e, 10);
            if (e != semi || cp == 0 || cp > 0x7e || cp < 0x20) goto bad; /* test names are ASCII */
            d[o++] = (char)cp;
        }
        i += en;
    }
    d[o] = '\0';
    *out = d;
    return HEARTH_OK;
bad:
    free(d);
    return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: bad character reference in an attribute", x->name, line_of(x));
}

typedef struct {
    char tag[32];
    bool end, self_closing;
    char *name, *status, *timestamp; /* attributes we read */
} xml_tag;

static void tag_clear(xml_tag *t)
{
    free(t->name);
    free(t->status);
    free(t->timestamp);
    memset(t, 0, sizeof *t);
}

/* Read a tag starting at x->pos ('<' already consumed). */
static hearth_status read_tag(xml *x, xml_tag *t)
{
    memset(t, 0, sizeof *t);
    if (x->pos < x->len && x->s[x->pos] == '/') {
        t->end = true;
        x->pos++;
    }
    size_t b = x->pos;
    while (x->pos < x->len && name_char(x->s[x->pos])) x->pos++;
    size_t tn = x->pos - b;
    if (tn == 0 || tn >= sizeof t->tag) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: bad tag name", x->name, line_of(x));
    memcpy(t->tag, x->s + b, tn);
    for (;;) {
        while (x->pos < x->len && isspace((unsigned char)x->s[x->pos])) x->pos++;
        if (x->pos >= x->len) return hearth_err(HEARTH_ERR_INVALID, "%s: unterminated tag <%s", x->name, t->tag);
        char c = x->s[x->pos];
        if (c == '>') {
            x->pos++;
            return HEARTH_OK;
        }
        if (c == '/' && x->pos + 1 < x->len && x->s[x->pos + 1] == '>' && !t->end) {
            t->self_closing = true;
            x->pos += 2;
            return HEARTH_OK;
        }
        if (t->end) return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: junk in </%s>", x->name, line_of(x), t->tag);
        size_t ab = x->pos;
        while (x->pos < x->len && name_char(x->s[x->pos])) x->pos++;
        size_t an = x->pos - ab;
        if (an == 0 || x->pos >= x->len || x->s[x->pos] != '=')
            return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: bad attribute in <%s>", x->name, line_of(x), t->tag);
        x->pos++;
        if (x->pos >= x->len || (x->s[x->pos] != '"' && x->s[x->pos] != '\''))
            return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unquoted attribute in <%s>", x->name, line_of(x), t->tag);
        char q = x->s[x->pos++];
        const char *vb = x->s + x->pos;
        const char *ve = memchr(vb, q, x->len - x->pos);
        if (ve == NULL || memchr(vb, '<', (size_t)(ve - vb)) != NULL)
            return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: bad attribute value in <%s>", x->name, line_of(x), t->tag);
        x->pos = (size_t)(ve - x->s) + 1;
        char **slot = NULL;
        if (an == 4 && memcmp(x->s + ab, "name", 4) == 0) slot = &t->name;
        else if (an == 6 && memcmp(x->s + ab, "status", 6) == 0) slot = &t->status;
        else if (an == 9 && memcmp(x->s + ab, "timestamp", 9) == 0) slot = &t->timestamp;
        if (slot != NULL) {
            if (*slot != NULL)
                return hearth_err(HEARTH_ERR_INVALID, "%s:%zu: attribute given twice", x->name, line_of(x));
            HEARTH_GUARD(unescape(x, vb, (size_t)(ve - vb), slot));
        }
    }
}

static bool is_hex_commit(const char *c)
{
    size_t n = strlen(c);
    if (n < 7 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)c[i])) return false;
    return true;
}

hearth_status hearth_ics_load_junit(hearth_ics *ics, const char *name, const char *text, size_t len,
                                    const char *commit)
{
    HEARTH_GUARD(ics_check_text(name, text, len));
    if (ics->have_junit) return hearth_err(HEARTH_ERR_STATE, "%s: results are already loaded", name);
    if (commit == NULL || !is_hex_commit(commit))
        return hearth_err(HEARTH_ERR_INVALID, "the commit the run tested is required: 7 to 64 hex digits");
    xml x = {text, len, 0, name};
    ics_test *c = NULL;
    size_t n_c = 0, cap = 0, suites = 0;
    size_t passed = 0, failed = 0, not_run = 0;
    char ts[40] = "";
    bool in_case = false, saw_fail = false, saw_skip = false;
    char *case_name = NULL, *case_status = NULL;
    hearth_status st = HEARTH_OK;
    xml_tag t;
    memset(&t, 0, sizeof t);
    while (x.pos < x.len) {
        const char *lt = memchr(x.s + x.pos, '<', x.len - x.pos);
        if (lt == NULL) break;
        x.pos = (size_t)(lt - x.s) + 1;
        if (x.pos + 1 <= x.len && x.s[x.pos] == '?') {
            HEARTH_GUARD_GOTO(st, skip_past(&x, "?>"), fail);
            continue;
        }
        if (x.len - x.pos >= 3 && memcmp(x.s + x.pos, "!--", 3) == 0) {
            HEARTH_GUARD_GOTO(st, skip_past(&x, "-->"), fail);
            continue;
        }
        if (x.len - x.pos >= 8 && memcmp(x.s + x.pos, "![CDATA[", 8) == 0) {
            HEARTH_GUARD_GOTO(st, skip_past(&x, "]]>"), fail);
            continue;
        }
        if (x.pos < x.len && x.s[x.pos] == '!') {
            st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: DOCTYPE and other declarations are not accepted", name, line_of(&x));
            goto fail;
        }
        HEARTH_GUARD_GOTO(st, read_tag(&x, &t), fail);
        bool close_case = false;
        if (strcmp(t.tag, "testsuite") == 0 && !t.end) {
            suites++;
            if (in_case) {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: testsuite inside a testcase", name, line_of(&x));
                goto fail;
            }
            if (ts[0] == '\0' && t.timestamp != NULL) snprintf(ts, sizeof ts, "%s", t.timestamp);
        } else if (strcmp(t.tag, "testcase") == 0) {
            if (t.end) {
                if (!in_case) {
                    st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: </testcase> without <testcase>", name, line_of(&x));
                    goto fail;
                }
                close_case = true;
            } else {
                if (in_case) {
                    st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: nested testcase", name, line_of(&x));
                    goto fail;
                }
                if (suites == 0) {
                    st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: testcase outside a testsuite", name, line_of(&x));
                    goto fail;
                }
                if (t.name == NULL || t.name[0] == '\0') {
                    st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: testcase without a name", name, line_of(&x));
                    goto fail;
                }
                in_case = true;
                saw_fail = saw_skip = false;
                case_name = t.name;
                case_status = t.status;
                t.name = t.status = NULL;
                close_case = t.self_closing;
            }
        } else if (in_case && !t.end &&
                   (strcmp(t.tag, "failure") == 0 || strcmp(t.tag, "error") == 0)) {
            saw_fail = true;
        } else if (in_case && !t.end && strcmp(t.tag, "skipped") == 0) {
            saw_skip = true;
        }
        tag_clear(&t);
        if (!close_case) continue;
        ics_result r;
        if (case_status != NULL) {
            if (strcmp(case_status, "run") == 0) r = saw_fail ? ICS_RESULT_FAILED : saw_skip ? ICS_RESULT_NOT_RUN : ICS_RESULT_PASSED;
            else if (strcmp(case_status, "fail") == 0) r = ICS_RESULT_FAILED;
            else if (strcmp(case_status, "notrun") == 0 || strcmp(case_status, "disabled") == 0) r = ICS_RESULT_NOT_RUN;
            else {
                st = hearth_err(HEARTH_ERR_INVALID, "%s:%zu: unknown testcase status '%s'", name, line_of(&x), case_status);
                goto fail;
            }
        } else {
            r = saw_fail ? ICS_RESULT_FAILED : saw_skip ? ICS_RESULT_NOT_RUN : ICS_RESULT_PASSED;
        }
        ics_test *tc = NULL;
        st = tests_push(&c, &n_c, &cap, name, "testcases", &tc);
        if (st != HEARTH_OK) goto fail;
        tc->name = case_name;
        tc->result = r;
        case_name = NULL;
        free(case_status);
        case_status = NULL;
        in_case = false;
        if (r == ICS_RESULT_PASSED) passed++;
        else if (r == ICS_RESULT_FAILED) failed++;
        else not_run++;
    }
    if (in_case) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: testcase %s is not closed: the file is cut short", name, case_name);
        goto fail;
    }
    if (suites == 0 || n_c == 0) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: no test results (no testsuite with a testcase)", name);
        goto fail;
    }
    qsort(c, n_c, sizeof *c, case_cmp);
    for (size_t i = 1; i < n_c; i++)
        if (strcmp(c[i - 1].name, c[i].name) == 0) {
            st = hearth_err(HEARTH_ERR_INVALID, "%s: testcase %s appears twice", name, c[i].name);
            goto fail;
        }
    ics->cases = c;
    ics->n_cases = n_c;
    ics->junit_passed = passed;
    ics->junit_failed = failed;
    ics->junit_not_run = not_run;
    snprintf(ics->junit_timestamp, sizeof ics->junit_timestamp, "%s", ts);
    snprintf(ics->commit, sizeof ics->commit, "%s", commit);
    snprintf(ics->junit_name, sizeof ics->junit_name, "%s", name);
    ics->have_junit = true;
    ics->evaluated = false;
    return HEARTH_OK;
fail:
    tag_clear(&t);
    free(case_name);
    free(case_status);
    for (size_t i = 0; i < n_c; i++) free(c[i].name);
    free(c);
    return st;
}
