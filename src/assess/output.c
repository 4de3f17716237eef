/*
 * The assessment's outputs: JSON (schema hearth-assessment/1, the form
 * `hearth ics` reads as evidence), Markdown and a self-contained HTML page
 * (docs/assessment.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/assess.h"
#include "hearth/json.h"
#include "hearth/util.h"

static void json_str(FILE *f, const char *s)
{
    (void)fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else (void)fputc(c, f);
    }
    (void)fputc('"', f);
}

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

static hearth_status done(FILE *f)
{
    if (fflush(f) != 0 || ferror(f)) return hearth_err(HEARTH_ERR_IO, "assess: write failed");
    return HEARTH_OK;
}

/* Append the JSON string for @p s to @p buf (hearth_json_escape; text that
 * is not UTF-8, such as a banner seen on the wire, is written with every
 * byte outside printable ASCII as '?'). */
static hearth_status put_str(const char *s, char *buf, size_t cap)
{
    if (hearth_json_escape(s, strlen(s), buf, cap) == HEARTH_OK) return HEARTH_OK;
    char ascii[HEARTH_ASSESS_EVIDENCE_MAX];
    size_t n = 0;
    for (; *s && n + 1 < sizeof ascii; s++) {
        ascii[n] = *s;
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) ascii[n] = '?';
        n++;
    }
    ascii[n] = '\0';
    return hearth_json_escape(ascii, n, buf, cap);
}

static hearth_status put_raw(const char *s, char *buf, size_t cap)
{
    size_t len = strlen(buf), n = strlen(s);
    if (len + n + 1 > cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "assess: units exceed %zu bytes", cap);
    memcpy(buf + len, s, n + 1);
    return HEARTH_OK;
}

hearth_status hearth_assess_units_json(const hearth_assess_report *r, char *buf, size_t cap)
{
    if (r == NULL || buf == NULL || cap == 0) return hearth_err(HEARTH_ERR_INVALID, "assess: no buffer");
    buf[0] = '\0';
    HEARTH_GUARD(put_raw("[", buf, cap));
    for (size_t i = 0; i < r->n; i++) {
        const hearth_assess_result *x = &r->results[i];
        HEARTH_GUARD(put_raw(i ? ",{\"id\":" : "{\"id\":", buf, cap));
        HEARTH_GUARD(put_str(x->unit->id, buf, cap));
        HEARTH_GUARD(put_raw(",\"title\":", buf, cap));
        HEARTH_GUARD(put_str(x->unit->title, buf, cap));
        HEARTH_GUARD(put_raw(",\"provisions\":[", buf, cap));
        char prov[64];
        snprintf(prov, sizeof prov, "%s", x->unit->provisions);
        char *save = NULL;
        int k = 0;
        for (char *t = strtok_r(prov, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            if (k++) HEARTH_GUARD(put_raw(",", buf, cap));
            HEARTH_GUARD(put_str(t, buf, cap));
        }
        HEARTH_GUARD(put_raw("],\"verdict\":", buf, cap));
        HEARTH_GUARD(put_str(hearth_verdict_name(x->verdict), buf, cap));
        HEARTH_GUARD(put_raw(",\"evidence\":", buf, cap));
        HEARTH_GUARD(put_str(x->evidence, buf, cap));
        HEARTH_GUARD(put_raw("}", buf, cap));
    }
    return put_raw("]", buf, cap);
}

/* The counts of PASS, FAIL, INCONCLUSIVE, N/A, in that order. */
static void counts(const hearth_assess_report *r, size_t c[4])
{
    static const hearth_verdict order[4] = {HEARTH_VERDICT_PASS, HEARTH_VERDICT_FAIL,
                                            HEARTH_VERDICT_INCONCLUSIVE, HEARTH_VERDICT_NA};
    for (size_t i = 0; i < 4; i++) c[i] = hearth_assess_count(r, order[i]);
}

hearth_status hearth_assess_write_json(const hearth_assess_report *r, FILE *f)
{
    char *units = malloc(HEARTH_ASSESS_UNITS_JSON_MAX);
    if (units == NULL) return hearth_err(HEARTH_ERR_NOMEM, "assess: out of memory");
    hearth_status st = hearth_assess_units_json(r, units, HEARTH_ASSESS_UNITS_JSON_MAX);
    if (st != HEARTH_OK) {
        free(units);
        return st;
    }
    char s[32], e[32];
    iso_time(r->started, s);
    iso_time(r->finished, e);
    fprintf(f, "{\n  \"schema\": \"hearth-assessment/1\",\n  \"tool\": ");
    char tool[64];
    snprintf(tool, sizeof tool, "hearth assess %s", hearth_version());
    json_str(f, tool);
    fprintf(f, ",\n  \"target\": ");
    json_str(f, r->target);
    fprintf(f, ",\n  \"started\": \"%s\",\n  \"finished\": \"%s\",\n", s, e);
    fprintf(f, "  \"bounds\": {\"max_requests\": %u, \"max_seconds\": %u, \"requests\": %u},\n",
            r->max_requests, r->max_seconds, r->requests);
    size_t c[4];
    counts(r, c);
    fprintf(f, "  \"summary\": {\"PASS\": %zu, \"FAIL\": %zu, \"INCONCLUSIVE\": %zu, \"N/A\": %zu},\n", c[0], c[1], c[2], c[3]);
    fprintf(f, "  \"units\": %s\n}\n", units);
    free(units);
    return done(f);
}

/* Markdown table cell: '|' escaped, no newlines (evidence has none). */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') (void)fputs("\\|", f);
        else (void)fputc(*s, f);
    }
}

hearth_status hearth_assess_write_markdown(const hearth_assess_report *r, FILE *f)
{
    char s[32];
    iso_time(r->started, s);
    fprintf(f, "# Assessment of %s\n\n", r->target);
    fprintf(f, "%s, hearth assess %s; %u requests (at most %u), at most %u s.\n\n", s,
            hearth_version(), r->requests, r->max_requests, r->max_seconds);
    size_t c[4];
    counts(r, c);
    fprintf(f, "PASS %zu, FAIL %zu, INCONCLUSIVE %zu, N/A %zu\n\n", c[0], c[1], c[2], c[3]);
    fprintf(f, "| unit | provisions | verdict | evidence |\n|---|---|---|---|\n");
    for (size_t i = 0; i < r->n; i++) {
        const hearth_assess_result *x = &r->results[i];
        fprintf(f, "| `%s` %s | %s | **%s** | ", x->unit->id, x->unit->title, x->unit->provisions,
                hearth_verdict_name(x->verdict));
        md_cell(f, x->evidence);
        (void)fputs(" |\n", f);
    }
    return done(f);
}

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': (void)fputs("&amp;", f); break;
        case '<': (void)fputs("&lt;", f); break;
        case '>': (void)fputs("&gt;", f); break;
        case '"': (void)fputs("&quot;", f); break;
        case '\'': (void)fputs("&#39;", f); break;
        default: (void)fputc(*s, f);
        }
    }
}

hearth_status hearth_assess_write_html(const hearth_assess_report *r, FILE *f)
{
    char s[32];
    iso_time(r->started, s);
    (void)fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Assessment of ",
          f);
    html_text(f, r->target);
    (void)fputs("</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{border:1px solid #999;padding:.3em .6em;vertical-align:top;text-align:left}"
          ".PASS{background:#cfc}.FAIL{background:#fcc}.INCONCLUSIVE{background:#ffc}"
          ".NA{background:#eee}</style></head><body>\n<h1>Assessment of ",
          f);
    html_text(f, r->target);
    fprintf(f, "</h1>\n<p>%s, hearth assess ", s);
    html_text(f, hearth_version());
    fprintf(f, "; %u requests (at most %u), at most %u s.</p>\n", r->requests, r->max_requests,
            r->max_seconds);
    size_t c[4];
    counts(r, c);
    fprintf(f, "<p id=\"summary\">PASS %zu, FAIL %zu, INCONCLUSIVE %zu, N/A %zu</p>\n", c[0], c[1], c[2], c[3]);
    (void)fputs("<table><tr><th>unit</th><th>title</th><th>provisions</th><th>verdict</th>"
          "<th>evidence</th></tr>\n",
          f);
    for (size_t i = 0; i < r->n; i++) {
        const hearth_assess_result *x = &r->results[i];
        const char *v = hearth_verdict_name(x->verdict);
        fprintf(f, "<tr id=\"%s\"><td><code>%s</code></td><td>", x->unit->id, x->unit->id);
        html_text(f, x->unit->title);
        fprintf(f, "</td><td>%s</td><td class=\"%s\">%s</td><td>", x->unit->provisions,
                x->verdict == HEARTH_VERDICT_NA ? "NA" : v, v);
        html_text(f, x->evidence);
        (void)fputs("</td></tr>\n", f);
    }
    (void)fputs("</table>\n</body></html>\n", f);
    return done(f);
}
