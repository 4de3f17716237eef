/* The fleet report (docs/fleet.md, "Report"): JSON for programs, one HTML
 * page for a person. Both read the database only, SQLite or PostgreSQL
 * (the same tables; each query in both dialects, results as text). Every string that came
 * from a device is escaped for where it goes (JSON string, HTML text); the
 * HTML page has no script at all and one style block whose hash is the only
 * thing its Content-Security-Policy allows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "fleet.h"
#include "hearth/util.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define DEVICES_LISTED 10000 /* rows in one report; the summary counts all */
#define EVENTS_LISTED 200
#define ANOMALIES_LISTED 200

static const char STYLE[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#eee}.offline{color:#a00}.online{color:#070}"
    ".anomaly td{background:#fee}code{font-size:90%}";

/* A cell of row @p r: NULL for SQL NULL. */
static const char *cell(const fleet_rows *t, size_t r, size_t c) { return t->v[r * t->ncols + c]; }
static const char *col(const fleet_rows *t, size_t r, size_t c)
{
    const char *v = cell(t, r, c);
    return v != NULL ? v : "";
}

static long long inum(const fleet_rows *t, size_t r, size_t c)
{
    const char *v = col(t, r, c);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno == 0 && end != v && *end == '\0' ? x : 0;
}

static void fmt_time(char out[32], const fleet_rows *t, size_t r, size_t c)
{
    if (cell(t, r, c) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    time_t tt = (time_t)inum(t, r, c);
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%SZ", &tm) == 0) snprintf(out, 32, "?");
}

static const char *status_word(const fleet_rows *t, size_t r, size_t c)
{
    if (cell(t, r, c) == NULL) return "unknown";
    return inum(t, r, c) != 0 ? "online" : "offline";
}

/* Text the service stored as JSON, checked again before it goes into the
 * report as JSON: NULL when it is not exactly one JSON value. */
static cJSON *json_of(const char *s)
{
    if (s == NULL) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(s, &end, true);
    return j;
}

static bool json_ok(const char *s)
{
    cJSON *j = json_of(s);
    cJSON_Delete(j);
    return j != NULL;
}

static const fleet_sql SQL_SUMMARY = {
    "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM devices WHERE online = 1),"
    " (SELECT count(*) FROM devices WHERE online = 0), (SELECT count(*) FROM devices WHERE online IS NULL),"
    " (SELECT coalesce(sum(telemetry_count), 0) FROM devices), (SELECT coalesce(sum(events_count), 0) FROM devices),"
    " (SELECT count(*) FROM anomalies), (SELECT coalesce(sum(count), 0) FROM rejections)",
    "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM devices WHERE online = 1),"
    " (SELECT count(*) FROM devices WHERE online = 0), (SELECT count(*) FROM devices WHERE online IS NULL),"
    " (SELECT coalesce(sum(telemetry_count), 0) FROM devices), (SELECT coalesce(sum(events_count), 0) FROM devices),"
    " (SELECT count(*) FROM anomalies), (SELECT coalesce(sum(count), 0) FROM rejections)",
};
static const char *const SUMMARY_NAMES[] = {"devices", "online", "offline", "status_unknown",
                                            "telemetry", "events", "anomalies", "rejected"};
static const fleet_sql SQL_DEVICES = {
    "SELECT id, model, sw, online, status_at, first_seen, last_seen, telemetry_at, telemetry_count,"
    " events_count, announced_version, telemetry,"
    " (SELECT group_concat(port, ' ') FROM (SELECT port FROM device_ports p WHERE p.device = d.id ORDER BY port)),"
    " reset_count, reset_at, changed_hands_at"
    " FROM devices d ORDER BY id LIMIT " STR(DEVICES_LISTED),
    "SELECT id, model, sw, online, status_at, first_seen, last_seen, telemetry_at, telemetry_count,"
    " events_count, announced_version, telemetry,"
    " (SELECT string_agg(p.port::text, ' ' ORDER BY p.port) FROM device_ports p WHERE p.device = d.id),"
    " reset_count, reset_at, changed_hands_at"
    " FROM devices d ORDER BY id COLLATE \"C\" LIMIT " STR(DEVICES_LISTED),
};
/* The latest first: SQLite by insertion (rowid); PostgreSQL, whose table
 * has no insertion order, by receive time, then device and seq. */
static const fleet_sql SQL_EVENTS = {
    "SELECT device, received, sev, event FROM events ORDER BY rowid DESC LIMIT " STR(EVENTS_LISTED),
    "SELECT device, received, sev, event FROM events ORDER BY received DESC, device COLLATE \"C\" DESC,"
    " seq DESC LIMIT " STR(EVENTS_LISTED),
};
static const fleet_sql SQL_ANOMALIES = {
    "SELECT id, rule, key, raised, window_s, threshold, devices, evidence FROM anomalies"
    " ORDER BY id DESC LIMIT " STR(ANOMALIES_LISTED),
    "SELECT id, rule, key, raised, window_s, threshold, devices, evidence FROM anomalies"
    " ORDER BY id DESC LIMIT " STR(ANOMALIES_LISTED),
};
static const fleet_sql SQL_REJECTIONS = {
    "SELECT reason, count, last_at FROM rejections ORDER BY reason LIMIT 100",
    "SELECT reason, count, last_at FROM rejections ORDER BY reason COLLATE \"C\" LIMIT 100",
};

static void json_time(fleet_buf *b, const char *name, const fleet_rows *t, size_t r, size_t c)
{
    if (cell(t, r, c) == NULL)
        fleet_buf_printf(b, ",\"%s\":null", name);
    else
        fleet_buf_printf(b, ",\"%s\":%lld", name, inum(t, r, c));
}

static void json_text(fleet_buf *b, const char *name, const fleet_rows *t, size_t r, size_t c)
{
    if (cell(t, r, c) == NULL) {
        fleet_buf_printf(b, ",\"%s\":null", name);
        return;
    }
    fleet_buf_printf(b, ",\"%s\":", name);
    fleet_buf_json_str(b, col(t, r, c));
}

/* A run of columns of a row as JSON members: 't' text, 'i' integer. */
typedef struct {
    const char *name;
    char kind;
} jcol;

static void json_cols(fleet_buf *b, const fleet_rows *t, size_t r, size_t first, const jcol *c, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (c[k].kind == 't')
            json_text(b, c[k].name, t, r, first + k);
        else
            json_time(b, c[k].name, t, r, first + k);
    }
}

static const jcol DEVICE_TIMES[] = {{"status_at", 'i'}, {"first_seen", 'i'}, {"last_seen", 'i'},
                                   {"telemetry_at", 'i'}, {"telemetry_count", 'i'},
                                   {"events_count", 'i'}, {"announced_version", 't'}};
static const jcol EVENT_COLS[] = {{"received", 'i'}, {"sev", 't'}, {"event", 't'}};
static const jcol ANOMALY_COLS[] = {{"rule", 't'}, {"key", 't'}, {"raised", 'i'},
                                   {"window_s", 'i'}, {"threshold", 'i'}, {"devices", 'i'}};
static const jcol DEVICE_NAMES[] = {{"model", 't'}, {"sw", 't'}};

/* The five queries of a report, run one after the other. */
typedef struct {
    fleet_rows summary, devices, events, anomalies, rejections;
} report_rows;

static void rows_free(report_rows *q)
{
    fleet_rows_free(&q->summary);
    fleet_rows_free(&q->devices);
    fleet_rows_free(&q->events);
    fleet_rows_free(&q->anomalies);
    fleet_rows_free(&q->rejections);
}

static hearth_status rows_load(fleet_db *db, report_rows *q)
{
    *q = (report_rows){0};
    hearth_status st = fleet_db_query(db, &SQL_SUMMARY, &q->summary);
    if (st == HEARTH_OK && (q->summary.nrows != 1 || q->summary.ncols != 8))
        st = hearth_err(HEARTH_ERR_IO, "database: no summary");
    if (st == HEARTH_OK) st = fleet_db_query(db, &SQL_DEVICES, &q->devices);
    if (st == HEARTH_OK) st = fleet_db_query(db, &SQL_EVENTS, &q->events);
    if (st == HEARTH_OK) st = fleet_db_query(db, &SQL_ANOMALIES, &q->anomalies);
    if (st == HEARTH_OK) st = fleet_db_query(db, &SQL_REJECTIONS, &q->rejections);
    if (st != HEARTH_OK) rows_free(q);
    return st;
}

static hearth_status report_json(const report_rows *q, int64_t now, fleet_buf *out)
{
    fleet_buf_printf(out, "{\"v\":1,\"generated\":%lld,\"summary\":{", (long long)now);
    for (size_t i = 0; i < 8; i++)
        fleet_buf_printf(out, "%s\"%s\":%lld", i ? "," : "", SUMMARY_NAMES[i], inum(&q->summary, 0, i));

    fleet_buf_str(out, "},\"devices\":[");
    const fleet_rows *t = &q->devices;
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_str(out, r ? ",{\"id\":" : "{\"id\":");
        fleet_buf_json_str(out, col(t, r, 0));
        json_cols(out, t, r, 1, DEVICE_NAMES, 2);
        fleet_buf_printf(out, ",\"status\":\"%s\"", status_word(t, r, 3));
        json_cols(out, t, r, 4, DEVICE_TIMES, sizeof DEVICE_TIMES / sizeof DEVICE_TIMES[0]);
        /* The last report as stored: the validated document, checked to be
         * JSON again here (null otherwise). */
        fleet_buf_str(out, ",\"telemetry\":");
        fleet_buf_str(out, json_ok(cell(t, r, 11)) ? col(t, r, 11) : "null");
        fleet_buf_str(out, ",\"listening_tcp_ports\":[");
        bool sep = false;
        for (const char *p = col(t, r, 12); *p != '\0'; p++) {
            if (*p >= '0' && *p <= '9') {
                fleet_buf_add(out, p, 1);
                sep = true;
            } else if (sep) {
                fleet_buf_str(out, ",");
                sep = false;
            }
        }
        /* A factory reset the service acted on: the device changed hands
         * (docs/erasure.md, change of ownership). */
        if (cell(t, r, 13) != NULL)
            fleet_buf_printf(out, "],\"changed_hands\":{\"reset_count\":%lld,\"reset_at\":%lld,\"recorded_at\":%lld}}",
                             inum(t, r, 13), inum(t, r, 14), inum(t, r, 15));
        else
            fleet_buf_str(out, "],\"changed_hands\":null}");
    }

    fleet_buf_str(out, "],\"events\":[");
    t = &q->events;
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_str(out, r ? ",{\"device\":" : "{\"device\":");
        fleet_buf_json_str(out, col(t, r, 0));
        json_cols(out, t, r, 1, EVENT_COLS, sizeof EVENT_COLS / sizeof EVENT_COLS[0]);
        fleet_buf_str(out, "}");
    }

    fleet_buf_str(out, "],\"anomalies\":[");
    t = &q->anomalies;
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_printf(out, "%s{\"id\":%lld", r ? "," : "", inum(t, r, 0));
        json_cols(out, t, r, 1, ANOMALY_COLS, sizeof ANOMALY_COLS / sizeof ANOMALY_COLS[0]);
        /* Evidence: JSON the service itself wrote (anomaly.c, db_pg.c). */
        fleet_buf_str(out, ",\"evidence\":");
        fleet_buf_str(out, json_ok(cell(t, r, 7)) ? col(t, r, 7) : "[]");
        fleet_buf_str(out, "}");
    }

    fleet_buf_str(out, "],\"rejections\":[");
    t = &q->rejections;
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_str(out, r ? ",{\"reason\":" : "{\"reason\":");
        fleet_buf_json_str(out, col(t, r, 0));
        json_cols(out, t, r, 1, (const jcol[]){{"count", 'i'}, {"last_at", 'i'}}, 2);
        fleet_buf_str(out, "}");
    }
    fleet_buf_str(out, "]}\n");
    if (out->failed) return hearth_err(HEARTH_ERR_TOO_LARGE, "report larger than %zu bytes", out->max);
    return HEARTH_OK;
}

/* Load the report's rows from @p db and write them with @p render. */
static hearth_status report_render(fleet_db *db, int64_t now, fleet_buf *out,
                                   hearth_status (*render)(const report_rows *, int64_t, fleet_buf *))
{
    report_rows q;
    HEARTH_GUARD(rows_load(db, &q));
    hearth_status st = render(&q, now, out);
    rows_free(&q);
    return st;
}

hearth_status fleet_report_json(fleet_db *db, int64_t now, fleet_buf *out)
{
    return report_render(db, now, out, report_json);
}

const char *fleet_report_csp(bool header)
{
    /* frame-ancestors only works as a header; a meta tag must not carry it
     * (browsers log it as an error). Both computed once. */
    static char csp[320], meta[256];
    if (csp[0] == '\0') {
        unsigned char md[32];
        unsigned char b64[48];
        unsigned int mdlen = 0;
        if (EVP_Digest(STYLE, sizeof STYLE - 1, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
            return "default-src 'none'";
        EVP_EncodeBlock(b64, md, 32);
        snprintf(meta, sizeof meta,
                 "default-src 'none'; style-src 'sha256-%s'; img-src 'none'; base-uri 'none'; "
                 "form-action 'none'",
                 (const char *)b64);
        snprintf(csp, sizeof csp, "%s; frame-ancestors 'none'", meta);
    }
    return header ? csp : meta;
}

static void td(fleet_buf *b, const char *s)
{
    fleet_buf_str(b, "<td>");
    fleet_buf_html(b, s);
    fleet_buf_str(b, "</td>");
}

static void td_time(fleet_buf *b, const fleet_rows *t, size_t r, size_t c)
{
    char s[32];
    fmt_time(s, t, r, c);
    td(b, s);
}

/* The evidence as "device: what, device: what" (HTML-escaped by td). */
static void td_evidence(fleet_buf *b, const char *evidence)
{
    fleet_buf_str(b, "<td>");
    cJSON *j = json_of(evidence);
    const cJSON *e;
    bool first = true;
    const cJSON *arr = cJSON_IsArray(j) ? j : NULL;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "device");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "what");
        if (!cJSON_IsString(d) || !cJSON_IsString(w)) continue;
        if (!first) fleet_buf_str(b, ", ");
        first = false;
        fleet_buf_html(b, d->valuestring);
        fleet_buf_str(b, ": ");
        fleet_buf_html(b, w->valuestring);
    }
    cJSON_Delete(j);
    fleet_buf_str(b, "</td>");
}

static hearth_status report_html(const report_rows *q, int64_t now, fleet_buf *out)
{
    char gen[32];
    time_t tt = (time_t)now;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(gen, sizeof gen, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(gen, sizeof gen, "?");
    fleet_buf_str(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                       "<meta http-equiv=\"Content-Security-Policy\" content=\"");
    fleet_buf_str(out, fleet_report_csp(false));
    fleet_buf_str(out, "\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<title>Hearth fleet report</title>\n<style>");
    fleet_buf_str(out, STYLE);
    fleet_buf_printf(out, "</style></head>\n<body>\n<h1>Hearth fleet report</h1>\n<p>Generated %s.</p>\n", gen);

    fleet_buf_str(out, "<h2>Summary</h2>\n<table id=\"summary\"><tr>");
    for (int i = 0; i < 8; i++) fleet_buf_printf(out, "<th>%s</th>", SUMMARY_NAMES[i]);
    fleet_buf_str(out, "</tr><tr>");
    for (size_t i = 0; i < 8; i++) fleet_buf_printf(out, "<td>%lld</td>", inum(&q->summary, 0, i));
    fleet_buf_str(out, "</tr></table>\n");

    fleet_buf_str(out, "<h2>Anomalies</h2>\n<table id=\"anomalies\"><tr><th>raised</th><th>rule</th>"
                       "<th>key</th><th>devices</th><th>threshold / window</th><th>evidence (device: what)</th></tr>\n");
    const fleet_rows *t = &q->anomalies; /* id rule key raised window_s threshold devices evidence */
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_str(out, "<tr class=\"anomaly\">");
        td_time(out, t, r, 3);
        td(out, col(t, r, 1));
        td(out, col(t, r, 2));
        fleet_buf_printf(out, "<td>%lld</td><td>%lld in %lld s</td>", inum(t, r, 6), inum(t, r, 5), inum(t, r, 4));
        td_evidence(out, cell(t, r, 7));
        fleet_buf_str(out, "</tr>\n");
    }
    fleet_buf_str(out, "</table>\n");

    fleet_buf_str(out, "<h2>Devices</h2>\n<table id=\"devices\"><tr><th>device</th><th>model</th><th>software</th>"
                       "<th>status</th><th>since</th><th>last telemetry</th><th>reports</th><th>events</th>"
                       "<th>listening TCP ports</th><th>announced</th><th>changed hands</th></tr>\n");
    t = &q->devices;
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_str(out, "<tr class=\"device\">");
        td(out, col(t, r, 0));
        td(out, col(t, r, 1));
        td(out, col(t, r, 2));
        fleet_buf_printf(out, "<td class=\"%s\">%s</td>", status_word(t, r, 3), status_word(t, r, 3));
        td_time(out, t, r, 4);
        td_time(out, t, r, 7);
        fleet_buf_printf(out, "<td>%lld</td><td>%lld</td>", inum(t, r, 8), inum(t, r, 9));
        td(out, col(t, r, 12));
        td(out, col(t, r, 10));
        if (cell(t, r, 13) != NULL) {
            char at[32];
            fmt_time(at, t, r, 14);
            fleet_buf_printf(out, "<td class=\"changed-hands\">factory reset %lld at %s</td>", inum(t, r, 13), at);
        } else {
            fleet_buf_str(out, "<td>-</td>");
        }
        fleet_buf_str(out, "</tr>\n");
    }
    fleet_buf_str(out, "</table>\n");

    fleet_buf_str(out, "<h2>Recent security events</h2>\n<table id=\"events\"><tr><th>received</th><th>device</th>"
                       "<th>severity</th><th>event</th></tr>\n");
    t = &q->events;
    for (size_t r = 0; r < t->nrows; r++) {
        fleet_buf_str(out, "<tr>");
        td_time(out, t, r, 1);
        td(out, col(t, r, 0));
        td(out, col(t, r, 2));
        td(out, col(t, r, 3));
        fleet_buf_str(out, "</tr>\n");
    }
    fleet_buf_str(out, "</table>\n</body></html>\n");
    if (out->failed) return hearth_err(HEARTH_ERR_TOO_LARGE, "report larger than %zu bytes", out->max);
    return HEARTH_OK;
}

hearth_status fleet_report_html(fleet_db *db, int64_t now, fleet_buf *out)
{
    return report_render(db, now, out, report_html);
}
