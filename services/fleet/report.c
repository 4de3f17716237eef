/* The fleet report (docs/fleet.md, "Report"): JSON for programs, one HTML
 * page for a person. Both read the database only. Every string that came
 * from a device is escaped for where it goes (JSON string, HTML text); the
 * HTML page has no script at all and one style block whose hash is the only
 * thing its Content-Security-Policy allows. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sqlite3.h>

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

static const char *col(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t != NULL ? (const char *)t : "";
}

static void fmt_time(char out[32], sqlite3_stmt *q, int i)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        snprintf(out, 32, "-");
        return;
    }
    time_t t = (time_t)sqlite3_column_int64(q, i);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

static const char *status_word(sqlite3_stmt *q, int i)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) return "unknown";
    return sqlite3_column_int(q, i) != 0 ? "online" : "offline";
}

static hearth_status prep(sqlite3 *h, const char *sql, sqlite3_stmt **q)
{
    if (sqlite3_prepare_v2(h, sql, -1, q, NULL) != SQLITE_OK)
        return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    return HEARTH_OK;
}

static hearth_status step_done(sqlite3 *h, sqlite3_stmt *q, int rc)
{
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    return HEARTH_OK;
}

static const char SQL_SUMMARY[] =
    "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM devices WHERE online = 1),"
    " (SELECT count(*) FROM devices WHERE online = 0), (SELECT count(*) FROM devices WHERE online IS NULL),"
    " (SELECT coalesce(sum(telemetry_count), 0) FROM devices), (SELECT coalesce(sum(events_count), 0) FROM devices),"
    " (SELECT count(*) FROM anomalies), (SELECT coalesce(sum(count), 0) FROM rejections)";
static const char *const SUMMARY_NAMES[] = {"devices", "online", "offline", "status_unknown",
                                            "telemetry", "events", "anomalies", "rejected"};
static const char SQL_DEVICES[] =
    "SELECT id, model, sw, online, status_at, first_seen, last_seen, telemetry_at, telemetry_count,"
    " events_count, announced_version, CASE WHEN json_valid(telemetry) THEN telemetry END,"
    " (SELECT group_concat(port, ' ') FROM (SELECT port FROM device_ports p WHERE p.device = d.id ORDER BY port))"
    " FROM devices d ORDER BY id LIMIT " STR(DEVICES_LISTED);
static const char SQL_EVENTS[] =
    "SELECT device, received, sev, event FROM events ORDER BY rowid DESC LIMIT " STR(EVENTS_LISTED);
static const char SQL_ANOMALIES[] =
    "SELECT id, rule, key, raised, window_s, threshold, devices,"
    " CASE WHEN json_valid(evidence) THEN evidence ELSE '[]' END FROM anomalies"
    " ORDER BY id DESC LIMIT " STR(ANOMALIES_LISTED);

static void json_time(fleet_buf *b, const char *name, sqlite3_stmt *q, int i)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL)
        fleet_buf_printf(b, ",\"%s\":null", name);
    else
        fleet_buf_printf(b, ",\"%s\":%lld", name, (long long)sqlite3_column_int64(q, i));
}

static void json_text(fleet_buf *b, const char *name, sqlite3_stmt *q, int i)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        fleet_buf_printf(b, ",\"%s\":null", name);
        return;
    }
    fleet_buf_printf(b, ",\"%s\":", name);
    fleet_buf_json_str(b, col(q, i));
}

/* A run of columns of the current row as JSON members: 't' text, 'i' integer. */
typedef struct {
    const char *name;
    char kind;
} jcol;

static void json_cols(fleet_buf *b, sqlite3_stmt *q, int first, const jcol *c, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (c[k].kind == 't')
            json_text(b, c[k].name, q, first + (int)k);
        else
            json_time(b, c[k].name, q, first + (int)k);
    }
}

static const jcol DEVICE_TIMES[] = {{"status_at", 'i'}, {"first_seen", 'i'}, {"last_seen", 'i'},
                                   {"telemetry_at", 'i'}, {"telemetry_count", 'i'},
                                   {"events_count", 'i'}, {"announced_version", 't'}};
static const jcol EVENT_COLS[] = {{"received", 'i'}, {"sev", 't'}, {"event", 't'}};
static const jcol ANOMALY_COLS[] = {{"rule", 't'}, {"key", 't'}, {"raised", 'i'},
                                   {"window_s", 'i'}, {"threshold", 'i'}, {"devices", 'i'}};
static const jcol DEVICE_NAMES[] = {{"model", 't'}, {"sw", 't'}};

hearth_status fleet_report_json(fleet_db *db, int64_t now, fleet_buf *out)
{
    sqlite3 *h = fleet_db_handle(db);
    sqlite3_stmt *q = NULL;
    int rc;
    fleet_buf_printf(out, "{\"v\":1,\"generated\":%lld,\"summary\":{", (long long)now);
    HEARTH_GUARD(prep(h, SQL_SUMMARY, &q));
    rc = sqlite3_step(q);
    for (int i = 0; rc == SQLITE_ROW && i < 8; i++)
        fleet_buf_printf(out, "%s\"%s\":%lld", i ? "," : "", SUMMARY_NAMES[i],
                         (long long)sqlite3_column_int64(q, i));
    HEARTH_GUARD(step_done(h, q, rc == SQLITE_ROW ? SQLITE_DONE : rc));

    fleet_buf_str(out, "},\"devices\":[");
    HEARTH_GUARD(prep(h, SQL_DEVICES, &q));
    for (int n = 0; (rc = sqlite3_step(q)) == SQLITE_ROW; n++) {
        fleet_buf_str(out, n ? ",{\"id\":" : "{\"id\":");
        fleet_buf_json_str(out, col(q, 0));
        json_cols(out, q, 1, DEVICE_NAMES, 2);
        fleet_buf_printf(out, ",\"status\":\"%s\"", status_word(q, 3));
        json_cols(out, q, 4, DEVICE_TIMES, sizeof DEVICE_TIMES / sizeof DEVICE_TIMES[0]);
        /* The last report as stored: the validated document cJSON printed,
         * so it is JSON already. */
        fleet_buf_str(out, ",\"telemetry\":");
        fleet_buf_str(out, sqlite3_column_type(q, 11) == SQLITE_NULL ? "null" : col(q, 11));
        fleet_buf_str(out, ",\"listening_tcp_ports\":[");
        const char *ports = col(q, 12);
        for (const char *p = ports; *p != '\0'; p++) fleet_buf_add(out, *p == ' ' ? "," : p, 1);
        fleet_buf_str(out, "]}");
    }
    HEARTH_GUARD(step_done(h, q, rc));

    fleet_buf_str(out, "],\"events\":[");
    HEARTH_GUARD(prep(h, SQL_EVENTS, &q));
    for (int n = 0; (rc = sqlite3_step(q)) == SQLITE_ROW; n++) {
        fleet_buf_str(out, n ? ",{\"device\":" : "{\"device\":");
        fleet_buf_json_str(out, col(q, 0));
        json_cols(out, q, 1, EVENT_COLS, sizeof EVENT_COLS / sizeof EVENT_COLS[0]);
        fleet_buf_str(out, "}");
    }
    HEARTH_GUARD(step_done(h, q, rc));

    fleet_buf_str(out, "],\"anomalies\":[");
    HEARTH_GUARD(prep(h, SQL_ANOMALIES, &q));
    for (int n = 0; (rc = sqlite3_step(q)) == SQLITE_ROW; n++) {
        fleet_buf_printf(out, "%s{\"id\":%lld", n ? "," : "", (long long)sqlite3_column_int64(q, 0));
        json_cols(out, q, 1, ANOMALY_COLS, sizeof ANOMALY_COLS / sizeof ANOMALY_COLS[0]);
        /* Evidence: JSON the service itself wrote (anomaly.c). */
        fleet_buf_str(out, ",\"evidence\":");
        fleet_buf_str(out, col(q, 7)[0] != '\0' ? col(q, 7) : "[]");
        fleet_buf_str(out, "}");
    }
    HEARTH_GUARD(step_done(h, q, rc));

    fleet_buf_str(out, "],\"rejections\":[");
    HEARTH_GUARD(prep(h, "SELECT reason, count, last_at FROM rejections ORDER BY reason LIMIT 100", &q));
    for (int n = 0; (rc = sqlite3_step(q)) == SQLITE_ROW; n++) {
        fleet_buf_str(out, n ? ",{\"reason\":" : "{\"reason\":");
        fleet_buf_json_str(out, col(q, 0));
        json_cols(out, q, 1, (const jcol[]){{"count", 'i'}, {"last_at", 'i'}}, 2);
        fleet_buf_str(out, "}");
    }
    HEARTH_GUARD(step_done(h, q, rc));
    fleet_buf_str(out, "]}\n");
    if (out->failed) return hearth_err(HEARTH_ERR_TOO_LARGE, "report larger than %zu bytes", out->max);
    return HEARTH_OK;
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

static void td_time(fleet_buf *b, sqlite3_stmt *q, int i)
{
    char t[32];
    fmt_time(t, q, i);
    td(b, t);
}

hearth_status fleet_report_html(fleet_db *db, int64_t now, fleet_buf *out)
{
    sqlite3 *h = fleet_db_handle(db);
    sqlite3_stmt *q = NULL;
    int rc;
    char gen[32];
    time_t t = (time_t)now;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(gen, sizeof gen, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
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
    HEARTH_GUARD(prep(h, SQL_SUMMARY, &q));
    rc = sqlite3_step(q);
    for (int i = 0; rc == SQLITE_ROW && i < 8; i++)
        fleet_buf_printf(out, "<td>%lld</td>", (long long)sqlite3_column_int64(q, i));
    HEARTH_GUARD(step_done(h, q, rc == SQLITE_ROW ? SQLITE_DONE : rc));
    fleet_buf_str(out, "</tr></table>\n");

    fleet_buf_str(out, "<h2>Anomalies</h2>\n<table id=\"anomalies\"><tr><th>raised</th><th>rule</th>"
                       "<th>key</th><th>devices</th><th>threshold / window</th><th>evidence (device: what)</th></tr>\n");
    HEARTH_GUARD(prep(h, "SELECT raised, rule, key, devices, threshold, window_s, evidence,"
                         " (SELECT group_concat(json_extract(e.value, '$.device') || ': ' ||"
                         "  json_extract(e.value, '$.what'), ', ') FROM json_each(evidence) e)"
                         " FROM anomalies ORDER BY id DESC LIMIT " STR(ANOMALIES_LISTED), &q));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fleet_buf_str(out, "<tr class=\"anomaly\">");
        td_time(out, q, 0);
        td(out, col(q, 1));
        td(out, col(q, 2));
        fleet_buf_printf(out, "<td>%lld</td><td>%lld in %lld s</td>", (long long)sqlite3_column_int64(q, 3),
                         (long long)sqlite3_column_int64(q, 4), (long long)sqlite3_column_int64(q, 5));
        td(out, col(q, 7));
        fleet_buf_str(out, "</tr>\n");
    }
    HEARTH_GUARD(step_done(h, q, rc));
    fleet_buf_str(out, "</table>\n");

    fleet_buf_str(out, "<h2>Devices</h2>\n<table id=\"devices\"><tr><th>device</th><th>model</th><th>software</th>"
                       "<th>status</th><th>since</th><th>last telemetry</th><th>reports</th><th>events</th>"
                       "<th>listening TCP ports</th><th>announced</th></tr>\n");
    HEARTH_GUARD(prep(h, SQL_DEVICES, &q));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fleet_buf_str(out, "<tr class=\"device\">");
        td(out, col(q, 0));
        td(out, col(q, 1));
        td(out, col(q, 2));
        fleet_buf_printf(out, "<td class=\"%s\">%s</td>", status_word(q, 3), status_word(q, 3));
        td_time(out, q, 4);
        td_time(out, q, 7);
        fleet_buf_printf(out, "<td>%lld</td><td>%lld</td>", (long long)sqlite3_column_int64(q, 8),
                         (long long)sqlite3_column_int64(q, 9));
        td(out, col(q, 12));
        td(out, col(q, 10));
        fleet_buf_str(out, "</tr>\n");
    }
    HEARTH_GUARD(step_done(h, q, rc));
    fleet_buf_str(out, "</table>\n");

    fleet_buf_str(out, "<h2>Recent security events</h2>\n<table id=\"events\"><tr><th>received</th><th>device</th>"
                       "<th>severity</th><th>event</th></tr>\n");
    HEARTH_GUARD(prep(h, SQL_EVENTS, &q));
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fleet_buf_str(out, "<tr>");
        td_time(out, q, 1);
        td(out, col(q, 0));
        td(out, col(q, 2));
        td(out, col(q, 3));
        fleet_buf_str(out, "</tr>\n");
    }
    HEARTH_GUARD(step_done(h, q, rc));
    fleet_buf_str(out, "</table>\n</body></html>\n");
    if (out->failed) return hearth_err(HEARTH_ERR_TOO_LARGE, "report larger than %zu bytes", out->max);
    return HEARTH_OK;
}
