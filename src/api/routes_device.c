/*
 * Device information: the device identity (EN 303 645 5.3-16: model
 * designation after authentication; 5.6-2: never disclosed
 * unauthenticated), the registered applications with their state summaries
 * (hearth/app.h) and the recent security events (admin).
 */
#include <string.h>

#include "api_internal.h"
#include "hearth/util.h"

static void route_device(hearth_api_ctx *c)
{
    const hearth_api_config *cfg = &c->api->cfg;
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"model\":");
    hearth_req_out_str(c, cfg->model);
    hearth_req_out(c, ",\"serial\":");
    hearth_req_out_str(c, cfg->serial);
    hearth_req_out(c, ",\"hw_id\":");
    hearth_req_out_str(c, cfg->hw_id);
    hearth_req_out(c, ",\"software_version\":");
    hearth_req_out_str(c, cfg->software_version);
    hearth_req_out(c, ",\"certificate_fingerprint\":");
    hearth_req_out_str(c, cfg->fingerprint);
    /* The support period (EN 303 645 5.3-13): the last day of security updates. */
    hearth_req_out(c, ",\"support_until\":");
    if (cfg->manufacturer != NULL)
        hearth_req_out_str(c, cfg->manufacturer->support_until);
    else
        hearth_req_out(c, "null");
    hearth_req_out(c, "}");
    hearth_req_reply_end(c);
}

/* {"apps":[{"name":..,"display_name":..,"state":{..}}, ...]} in registration order. */
static void route_apps(hearth_api_ctx *c)
{
    hearth_apps *apps = c->api->cfg.apps;
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"apps\":[");
    for (size_t i = 0; i < hearth_apps_count(apps); i++) {
        const hearth_app *app = hearth_apps_app(apps, i);
        char state[HEARTH_APP_STATE_MAX];
        hearth_status st = app->state_json(hearth_apps_state(apps, i), state, sizeof state);
        if (st != HEARTH_OK) {
            hearth_req_error_status(c, st, 0);
            return;
        }
        hearth_req_out(c, "%s{\"name\":", i ? "," : "");
        hearth_req_out_str(c, app->name);
        hearth_req_out(c, ",\"display_name\":");
        hearth_req_out_str(c, app->display_name);
        hearth_req_out(c, ",\"state\":%s}", state);
    }
    hearth_req_out(c, "]}");
    hearth_req_reply_end(c);
}

/* Query "limit=N", N in 1..HEARTH_API_EVENTS_MAX; nothing else accepted. */
static bool parse_limit(hearth_api_ctx *c, size_t *limit)
{
    *limit = HEARTH_API_EVENTS_DEFAULT;
    const char *q = c->req->query;
    if (q == NULL || q[0] == '\0') return true;
    static const char key[] = "limit=";
    if (strncmp(q, key, sizeof key - 1) != 0) {
        hearth_req_error(c, 400, "unexpected_query", "query", "the only query parameter is limit");
        return false;
    }
    const char *d = q + sizeof key - 1;
    size_t len = strlen(d);
    size_t val = 0;
    bool ok = len >= 1 && len <= 3 && strspn(d, "0123456789") == len;
    for (size_t i = 0; ok && i < len; i++) val = val * 10 + (size_t)(d[i] - '0');
    if (!ok || val < 1 || val > HEARTH_API_EVENTS_MAX) {
        hearth_req_error(c, 422, "invalid_field", "limit", "limit must be an integer from 1 to %d",
                         HEARTH_API_EVENTS_MAX);
        return false;
    }
    *limit = val;
    return true;
}

typedef struct {
    hearth_api_ctx *c;
    size_t n;
    size_t dropped;
} events_ctx;

static void event_one(const char *line, void *arg)
{
    events_ctx *e = arg;
    /* Keep the reply within its bound: skip what does not fit and say so,
     * rather than failing the whole request. 64 bytes reserve the tail. */
    if (e->c->resp->body_len + strlen(line) + 64 >= HEARTH_API_RESP_MAX) {
        e->dropped++;
        return;
    }
    /* Lines are JSON objects: the log's lines with their personal values
     * opened (hearth_seclog_line_open() escapes them again). */
    hearth_req_out(e->c, "%s%s", e->n++ ? "," : "", line);
}

static void route_events(hearth_api_ctx *c)
{
    size_t limit;
    if (!parse_limit(c, &limit)) return;
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"events\":[");
    events_ctx e = {c, 0, 0};
    /* From the log file (hearthd's, hearth-boot's and the tools' events),
     * personal values opened with the key of this device's store; a value
     * that does not open is shown "(unreadable)". No file (the log goes to
     * stderr): no events. */
    if (hearth_seclog_recent(limit, event_one, &e) != HEARTH_OK) e.n = 0;
    hearth_req_out(c, "],\"truncated\":%s}", e.dropped ? "true" : "false");
    hearth_req_reply_end(c);
}

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/device", 0, route_device},
    {"GET", "/api/v1/apps", 0, route_apps},
    {"GET", "/api/v1/events", HEARTH_ROUTE_ADMIN | HEARTH_ROUTE_QUERY, route_events},
};
HEARTH_API_ROUTE_TABLE(device, routes);
