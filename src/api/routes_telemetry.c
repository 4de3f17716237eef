/*
 * Security telemetry on the local API (EN 303 645 5.10-1, 6-5; docs/telemetry.md).
 * The telemetry object is hearth_api_config::telemetry; without one the
 * report and consent routes answer 503 (the disclosure is the build's and
 * is always served).
 *
 *   GET /api/v1/telemetry/disclosure  every user: what is sent, why, how often,
 *                                     to whom, how long it is kept (generated
 *                                     from the schema, byte-identical to
 *                                     docs/telemetry.md)
 *   GET /api/v1/telemetry             admin: a report built now, exactly as it
 *                                     would be sent
 *   GET /api/v1/telemetry/consent     admin: {"usage":bool}
 *   PUT /api/v1/telemetry/consent     admin: {"usage":bool} turns the optional
 *                                     usage telemetry on or off: the same consent as
 *                                     PUT /api/v1/consents/usage_telemetry (the registry)
 */
#include "api_internal.h"
#include "hearth/privacy.h"
#include "hearth/telemetry.h"
#include "hearth/util.h"

static hearth_telemetry *telemetry_of(hearth_api_ctx *c)
{
    return api_service_or_503(c, c->api->cfg.telemetry, "telemetry_unavailable",
                              "telemetry is not running");
}

static void route_disclosure(hearth_api_ctx *c)
{
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"schema\":\"telemetry/v1\",\"format\":\"text/markdown\",\"text\":");
    hearth_req_out_str(c, hearth_telemetry_disclosure(NULL));
    hearth_req_out(c, "}");
    hearth_req_reply_end(c);
}

static void route_report(hearth_api_ctx *c)
{
    hearth_telemetry *t = telemetry_of(c);
    if (t == NULL) return;
    hearth_telemetry_snapshot s;
    char buf[HEARTH_TELEMETRY_REPORT_MAX];
    size_t len = 0;
    hearth_status st = hearth_telemetry_sample(t, &s);
    if (st == HEARTH_OK) st = hearth_telemetry_report(t, &s, buf, sizeof buf, &len);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_json(c, 200, buf);
}

static void consent_reply(hearth_api_ctx *c, bool on)
{
    hearth_req_reply_json(c, 200, on ? "{\"usage\":true}" : "{\"usage\":false}");
}

static void route_consent_get(hearth_api_ctx *c)
{
    hearth_telemetry *t = telemetry_of(c);
    if (t != NULL) consent_reply(c, hearth_telemetry_usage_consent(t));
}

static void route_consent_put(hearth_api_ctx *c)
{
    hearth_telemetry *t = telemetry_of(c);
    if (t == NULL) return;
    static const hearth_json_field schema[] = {
        {.name = "usage", .type = HEARTH_JSON_BOOL, .required = true},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 1, v, &doc)) return;
    bool on = v[0].b;
    hearth_json_doc_free(doc);
    /* The usage consent is the consent registry's purpose usage_telemetry
     * (routes_privacy.c): recorded there with the caller's name. */
    hearth_status st = c->api->cfg.privacy != NULL
                           ? hearth_privacy_set(c->api->cfg.privacy, HEARTH_PURPOSE_USAGE_TELEMETRY, on,
                                                hearth_req_user(c))
                           : hearth_telemetry_set_usage_consent(t, on);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_seclog(HEARTH_SEV_INFO, "telemetry_consent_changed", "usage", on ? "on" : "off", "by",
                  hearth_req_user(c), NULL);
    consent_reply(c, on);
}

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/telemetry", HEARTH_ROUTE_ADMIN, route_report},
    {"GET", "/api/v1/telemetry/disclosure", 0, route_disclosure},
    {"GET", "/api/v1/telemetry/consent", HEARTH_ROUTE_ADMIN, route_consent_get},
    {"PUT", "/api/v1/telemetry/consent", HEARTH_ROUTE_ADMIN, route_consent_put},
};
HEARTH_API_ROUTE_TABLE(telemetry, routes);
