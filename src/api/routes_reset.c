/*
 * Factory reset through the API (EN 303 645 5.11-1): an administrator asks
 * for it with their own password (re-checked, rate-limited like a login:
 * a stolen session alone cannot wipe the device) and the literal
 * confirmation "factory reset". The erasure itself is the runtime's
 * (hearth_api_config::factory_reset, hearth/reset.h): the keys protecting
 * the store are destroyed, then the device restarts in factory default.
 * Design and instructions: docs/erasure.md.
 */
#include <string.h>

#include "api_internal.h"

#define RESET_CONFIRM "factory reset"

static const char *const confirm_values[] = {RESET_CONFIRM, NULL};

static void route_factory_reset(hearth_api_ctx *c)
{
    if (c->api->cfg.factory_reset == NULL) {
        hearth_req_error(c, 503, "reset_unavailable", NULL,
                         "factory reset is not available on this device");
        return;
    }
    static const hearth_json_field schema[] = {
        {.name = "password", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = HEARTH_PW_MAX},
        {.name = "confirm", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = 32, .enum_values = confirm_values},
    };
    hearth_json_value v[2];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 2, v, &doc)) return;
    uint32_t retry = 0;
    hearth_status st = hearth_auth_recheck(c->api->cfg.auth, c->req->source, c->token, v[0].str,
                                           &retry);
    hearth_json_doc_free(doc);
    if (st == HEARTH_ERR_AUTH) {
        hearth_req_error(c, 403, "wrong_password", "password",
                         "the password is wrong; the device was not reset");
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, retry);
        return;
    }
    st = c->api->cfg.factory_reset(c->api->cfg.factory_reset_arg, c->session.username);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_json(c, 202,
                          "{\"reset\":true,\"message\":\"the device is erased and restarts in its "
                          "factory-default state; set it up again with the setup password on its "
                          "label\"}");
}

static const hearth_api_route routes[] = {
    {"POST", "/api/v1/factory-reset", HEARTH_ROUTE_ADMIN | HEARTH_ROUTE_SLOW, route_factory_reset},
};
HEARTH_API_ROUTE_TABLE(reset, routes);
