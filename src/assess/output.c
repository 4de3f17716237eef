/*
 * The assessment's outputs: JSON (schema hearth-assessment/1, the form
 * `hearth ics` reads as evidence), Markdown and a self-contained HTML page
 * (docs/assessment.md).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/assess.h"
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

hearth_status hearth_assess_write_json(const hearth_assess_report *r, FILE *f)
{
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
    fprintf(f, "  \"summary\": {\"PASS\": %zu, \"FAIL\": %zu, \"INCONCLUSIVE\": %zu, \"N/A\": %zu},\n",
            hearth_assess_count(r, HEARTH_VERDICT_PASS), hearth_assess_count(r, HEARTH_VERDICT_FAIL),
            hearth_assess_count(r, HEARTH_VERDICT_INCONCLUSIVE),
            hearth_assess_count(r, HEARTH_VERDICT_NA));
    fprintf(f, "  \"units\": [");
    for (size_t i = 0; i < r->n; i++) {
        const hearth_assess_result *x = &r->results[i];
        fprintf(f, "%s\n    {\"id\": ", i ? "," : "");
        json_str(f, x->unit->id);
        fprintf(f, ", \"title\": ");
        json_str(f, x->unit->title);
        fprintf(f, ", \"provisions\": [");
        char prov[64];
        snprintf(prov, sizeof prov, "%s", x->unit->provisions);
        char *save = NULL;
        int k = 0;
        for (char *t = strtok_r(prov, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            if (k++) (void)fputs(", ", f);
            json_str(f, t);
        }
        fprintf(f, "], \"verdict\": \"%s\", \"evidence\": ", hearth_verdict_name(x->verdict));
        json_str(f, x->evidence);
        (void)fputc('}', f);
    }
    fprintf(f, "\n  ]\n}\n");
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
    fprintf(f, "PASS %zu, FAIL %zu, INCONCLUSIVE %zu, N/A %zu\n\n",
            hearth_assess_count(r, HEARTH_VERDICT_PASS), hearth_assess_count(r, HEARTH_VERDICT_FAIL),
            hearth_assess_count(r, HEARTH_VERDICT_INCONCLUSIVE),
            hearth_assess_count(r, HEARTH_VERDICT_NA));
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
    fprintf(f, "<p id=\"summary\">PASS %zu, FAIL %zu, INCONCLUSIVE %zu, N/A %zu</p>\n",
            hearth_assess_count(r, HEARTH_VERDICT_PASS), hearth_assess_count(r, HEARTH_VERDICT_FAIL),
            hearth_assess_count(r, HEARTH_VERDICT_INCONCLUSIVE),
            hearth_assess_count(r, HEARTH_VERDICT_NA));
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
