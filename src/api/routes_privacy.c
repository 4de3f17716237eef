/*
 * Personal data and consent on the local API (EN 303 645 6-1..6-3, 5.8-3,
 * 5.11-2, 5.11-4; docs/privacy.md). The registry is
 * hearth_api_config::privacy; without one these routes answer 503 (the
 * notice is the build's and is always served).
 *
 *   GET  /api/v1/privacy                        user: notice version, the inventory, what the
 *                                               device holds now, its sensors
 *   GET  /api/v1/consents                       user: each purpose needing consent, its state
 *   PUT  /api/v1/consents/{purpose}             admin: {"granted":bool}
 *   GET  /api/v1/consents/receipt               user: the consent receipt (Kantara CR 1.1 fields)
 *   POST /api/v1/privacy/service-erase          admin: ask the service to erase (202)
 *   GET  /api/v1/privacy/service-erase          user: where the erase stands, the service's receipt
 *   POST /api/v1/privacy/service-erase/receipt  the service principal only (MQTT command):
 *                                               the signed receipt, checked before it is kept
 */
#include <string.h>

#include "api_internal.h"
#include "hearth/privacy.h"
#include "hearth/util.h"

static hearth_privacy *privacy_of(hearth_api_ctx *c)
{
    return api_service_or_503(c, c->api->cfg.privacy, "privacy_unavailable", "the consent registry is not running");
}

typedef struct {
    hearth_api_ctx *c;
    size_t n;
} holds_ctx;

static void count_user(const char *user, hearth_role role, void *arg)
{
    (void)user, (void)role;
    (*(size_t *)arg)++;
}

static void out_hold(const char *item, size_t count, void *arg)
{
    holds_ctx *h = arg;
    hearth_req_out(h->c, "%s{\"item\":", h->n++ ? "," : "");
    hearth_req_out_str(h->c, item);
    hearth_req_out(h->c, ",\"count\":%zu}", count);
}

static void route_privacy(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"notice_version\":");
    hearth_req_out_str(c, hearth_privacy_notice_version());
    hearth_req_out(c, ",\"notice\":%s,\"holds\":[", hearth_privacy_inventory_json());
    holds_ctx h = {c, 0};
    /* The number of accounts is an administrator's to see (user names are
     * listed only to admins, GET /api/v1/users). */
    if (hearth_req_role(c) == HEARTH_ROLE_ADMIN) {
        size_t users = 0;
        if (hearth_auth_user_list(c->api->cfg.auth, &c->session, count_user, &users) == HEARTH_OK)
            out_hold("user_names", users, &h);
        else
            hearth_err_clear();
    }
    hearth_privacy_visit_holders(p, out_hold, &h);
    hearth_req_out(c, "],\"sensors\":[");
    for (size_t i = 0; hearth_privacy_sensor_at(i) != NULL; i++) {
        const hearth_privacy_sensor *s = hearth_privacy_sensor_at(i);
        hearth_req_out(c, "%s{\"id\":", i ? "," : "");
        hearth_req_out_str(c, s->id);
        hearth_req_out(c, ",\"app\":");
        hearth_req_out_str(c, s->app);
        hearth_req_out(c, ",\"kind\":");
        hearth_req_out_str(c, s->kind);
        hearth_req_out(c, ",\"unit\":");
        hearth_req_out_str(c, s->unit);
        hearth_req_out(c, ",\"what\":");
        hearth_req_out_str(c, s->what);
        hearth_req_out(c, "}");
    }
    hearth_req_out(c, "]}");
    hearth_req_reply_end(c);
}

static void route_consents(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    char buf[4096];
    hearth_status st = hearth_privacy_consents_json(p, buf, sizeof buf);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"purposes\":%s}", buf);
    hearth_req_reply_end(c);
}

static void route_consent_put(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    const char *purpose = c->params[0];
    hearth_privacy_consent cur;
    if (hearth_privacy_get(p, purpose, &cur) != HEARTH_OK) {
        hearth_err_clear();
        hearth_req_error(c, 404, "unknown_purpose", "purpose",
                         "no purpose of this device needs consent under that name; see GET /api/v1/consents");
        return;
    }
    static const hearth_json_field schema[] = {
        {.name = "granted", .type = HEARTH_JSON_BOOL, .required = true},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 1, v, &doc)) return;
    bool on = v[0].b;
    hearth_json_doc_free(doc);
    hearth_status st = hearth_privacy_set(p, purpose, on, hearth_req_user(c));
    if (st == HEARTH_OK) st = hearth_privacy_get(p, purpose, &cur);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"id\":");
    hearth_req_out_str(c, purpose);
    hearth_req_out(c, ",\"granted\":%s,\"since\":%lld,\"by\":", cur.granted ? "true" : "false",
                   (long long)cur.since);
    hearth_req_out_str(c, cur.by);
    hearth_req_out(c, ",\"notice_version\":");
    hearth_req_out_str(c, cur.notice_version);
    hearth_req_out(c, ",\"record_id\":");
    hearth_req_out_str(c, cur.receipt_id);
    hearth_req_out(c, "}");
    hearth_req_reply_end(c);
}

static void route_receipt(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    char buf[HEARTH_PRIVACY_RECEIPT_MAX];
    hearth_status st = hearth_privacy_receipt(p, hearth_req_user(c), c->api->cfg.serial, buf, sizeof buf, NULL);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_json(c, 200, buf);
}

static void out_erase(hearth_api_ctx *c, int status, const hearth_privacy_erase_status *s, const char *receipt)
{
    hearth_req_reply_begin(c, status);
    hearth_req_out(c, "{\"state\":");
    hearth_req_out_str(c, s->state);
    hearth_req_out(c, ",\"request_id\":");
    hearth_req_out_str(c, s->request_id);
    hearth_req_out(c, ",\"requested_at\":%lld,\"requested_by\":", (long long)s->requested_at);
    hearth_req_out_str(c, s->by);
    hearth_req_out(c, ",\"confirmed_at\":%lld,\"receipt\":%s}", (long long)s->confirmed_at,
                   receipt != NULL && receipt[0] ? receipt : "null");
    hearth_req_reply_end(c);
}

static void route_erase_post(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    if (!hearth_privacy_service_configured(p)) {
        hearth_req_error(c, 409, "no_service", NULL,
                         "this device is not linked to a service (no --mqtt-broker): there is nothing to erase there");
        return;
    }
    hearth_privacy_erase_status s;
    hearth_status st = hearth_privacy_erase_request(p, hearth_req_user(c), &s);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    out_erase(c, 202, &s, NULL);
}

static void route_erase_get(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    hearth_privacy_erase_status s;
    char receipt[HEARTH_PRIVACY_ERASE_RECEIPT_MAX];
    hearth_status st = hearth_privacy_erase_get(p, &s, receipt, sizeof receipt);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    out_erase(c, 200, &s, receipt);
}

static void route_erase_receipt(hearth_api_ctx *c)
{
    hearth_privacy *p = privacy_of(c);
    if (p == NULL) return;
    static const hearth_json_field schema[] = {
        {.name = "receipt", .type = HEARTH_JSON_STRING, .required = true, .min_len = 2, .max_len = 2048},
        {.name = "cert", .type = HEARTH_JSON_STRING, .required = true, .min_len = 100, .max_len = 2048},
        {.name = "sig", .type = HEARTH_JSON_STRING, .required = true, .min_len = 16, .max_len = 200},
    };
    hearth_json_value v[3];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 3, v, &doc)) return;
    hearth_status st = hearth_privacy_erase_accept(p, v[0].str, v[1].str, v[2].str);
    hearth_json_doc_free(doc);
    if (st != HEARTH_OK) {
        hearth_seclog(HEARTH_SEV_WARNING, "service_erase_receipt_refused", "reason", hearth_err_msg(), NULL);
        hearth_req_error(c, st == HEARTH_ERR_STATE ? 409 : 422, "receipt_refused", NULL, "%s", hearth_err_msg());
        return;
    }
    hearth_req_reply_json(c, 200, "{\"accepted\":true}");
}

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/privacy", 0, route_privacy},
    {"GET", "/api/v1/consents", 0, route_consents},
    {"GET", "/api/v1/consents/receipt", 0, route_receipt},
    {"PUT", "/api/v1/consents/{purpose}", HEARTH_ROUTE_ADMIN, route_consent_put},
    {"POST", "/api/v1/privacy/service-erase", HEARTH_ROUTE_ADMIN, route_erase_post},
    {"GET", "/api/v1/privacy/service-erase", 0, route_erase_get},
    {"POST", "/api/v1/privacy/service-erase/receipt", HEARTH_ROUTE_SERVICE, route_erase_receipt},
};
HEARTH_API_ROUTE_TABLE(privacy, routes);
