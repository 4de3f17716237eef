/*
 * Device function and information: the thermostat (any authenticated role),
 * the device identity (EN 303 645 5.3-16: model designation after
 * authentication; 5.6-2: never disclosed unauthenticated) and the recent
 * security events (admin).
 */
#include <math.h>
#include <string.h>

#include "api_internal.h"
#include "hearth/util.h"

static void thermo_json(hearth_api_ctx *c)
{
    hearth_thermo_status s;
    hearth_thermo_get(c->api->cfg.thermo, &s);
    api_reply_begin(c, 200);
    api_out(c, "{\"current_c\":%.2f,\"target_c\":%.2f,\"mode\":",
            isfinite(s.current_c) ? s.current_c : 0.0, s.target_c);
    api_out_str(c, hearth_thermo_mode_name(s.mode));
    api_out(c, ",\"heating\":%s}", s.heating ? "true" : "false");
    api_reply_end(c);
}

static void route_thermo_get(hearth_api_ctx *c)
{
    thermo_json(c);
}

static const char *const mode_names[] = {"off", "heat", NULL};

static void route_thermo_put(hearth_api_ctx *c)
{
    static const hearth_json_field schema[] = {
        {.name = "target_c", .type = HEARTH_JSON_NUMBER, .required = false,
         .min = HEARTH_TARGET_MIN_C, .max = HEARTH_TARGET_MAX_C},
        {.name = "mode", .type = HEARTH_JSON_STRING, .required = false, .min_len = 1,
         .max_len = 8, .enum_values = mode_names},
    };
    hearth_json_value v[2];
    hearth_json_doc *doc;
    if (!api_parse_body(c, schema, 2, v, &doc)) return;
    if (!v[0].present && !v[1].present) {
        api_error(c, 422, "invalid_field", "target_c",
                  "give at least one of target_c (%.0f..%.0f) or mode (off, heat)",
                  HEARTH_TARGET_MIN_C, HEARTH_TARGET_MAX_C);
        hearth_json_doc_free(doc);
        return;
    }
    double target = v[0].num;
    hearth_thermo_mode mode = HEARTH_MODE_HEAT;
    if (v[1].present && hearth_thermo_mode_parse(v[1].str, &mode) != HEARTH_OK) {
        api_error(c, 422, "invalid_field", "mode", "mode must be one of: off, heat");
        hearth_json_doc_free(doc);
        return;
    }
    pthread_mutex_lock(&c->api->thermo_mu);
    hearth_status st = hearth_thermo_set(c->api->cfg.thermo, v[0].present ? &target : NULL,
                                         v[1].present ? &mode : NULL);
    pthread_mutex_unlock(&c->api->thermo_mu);
    hearth_json_doc_free(doc);
    if (st == HEARTH_ERR_RANGE) {
        api_error(c, 422, "invalid_field", "target_c", "target_c must be between %.0f and %.0f",
                  HEARTH_TARGET_MIN_C, HEARTH_TARGET_MAX_C);
        return;
    }
    if (st != HEARTH_OK) {
        api_error_status(c, st, 0);
        return;
    }
    hearth_seclog(HEARTH_SEV_INFO, "thermostat_changed", "user", c->session.username, NULL);
    thermo_json(c);
}

static void route_device(hearth_api_ctx *c)
{
    const hearth_api_config *cfg = &c->api->cfg;
    api_reply_begin(c, 200);
    api_out(c, "{\"model\":");
    api_out_str(c, cfg->model);
    api_out(c, ",\"serial\":");
    api_out_str(c, cfg->serial);
    api_out(c, ",\"hw_id\":");
    api_out_str(c, cfg->hw_id);
    api_out(c, ",\"software_version\":");
    api_out_str(c, cfg->software_version);
    api_out(c, ",\"certificate_fingerprint\":");
    api_out_str(c, cfg->fingerprint);
    api_out(c, "}");
    api_reply_end(c);
}

/* Query "limit=N", N in 1..HEARTH_API_EVENTS_MAX; nothing else accepted. */
static bool parse_limit(hearth_api_ctx *c, size_t *limit)
{
    *limit = HEARTH_API_EVENTS_DEFAULT;
    const char *q = c->req->query;
    if (q == NULL || q[0] == '\0') return true;
    static const char key[] = "limit=";
    if (strncmp(q, key, sizeof key - 1) != 0) {
        api_error(c, 400, "unexpected_query", "query", "the only query parameter is limit");
        return false;
    }
    const char *d = q + sizeof key - 1;
    size_t len = strlen(d);
    size_t val = 0;
    bool ok = len >= 1 && len <= 3 && strspn(d, "0123456789") == len;
    for (size_t i = 0; ok && i < len; i++) val = val * 10 + (size_t)(d[i] - '0');
    if (!ok || val < 1 || val > HEARTH_API_EVENTS_MAX) {
        api_error(c, 422, "invalid_field", "limit", "limit must be an integer from 1 to %d",
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
    /* Lines are JSON objects written by hearth_seclog (values escaped there). */
    api_out(e->c, "%s%s", e->n++ ? "," : "", line);
}

static void route_events(hearth_api_ctx *c)
{
    size_t limit;
    if (!parse_limit(c, &limit)) return;
    api_reply_begin(c, 200);
    api_out(c, "{\"events\":[");
    events_ctx e = {c, 0, 0};
    api_events_visit(c->api, limit, event_one, &e);
    api_out(c, "],\"truncated\":%s}", e.dropped ? "true" : "false");
    api_reply_end(c);
}

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/thermostat", 0, route_thermo_get},
    {"PUT", "/api/v1/thermostat", 0, route_thermo_put},
    {"GET", "/api/v1/device", 0, route_device},
    {"GET", "/api/v1/events", HEARTH_ROUTE_ADMIN | HEARTH_ROUTE_QUERY, route_events},
};
HEARTH_API_ROUTE_TABLE(device, routes);
