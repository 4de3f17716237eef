/*
 * "Check my setup" (EN 303 645 5.12-3; docs/assessment.md): the assessment
 * units that apply from inside the device, judged by the same library
 * functions `hearth assess` uses (include/hearth/assess.h).
 *
 *   GET /api/v1/setup-check  admin: {"units":[{"id","title","provisions",
 *                            "verdict","evidence"}...]}
 *
 * Facts: the account state (set up, administrators), the listening TCP
 * ports of the device's network namespace (/proc/self/net through the
 * telemetry collector) against the ports the device program declared, and
 * the device's own answer to GET /.well-known/security.txt (asked through
 * the API layer, not the network).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "hearth/assess.h"
#include "hearth/telemetry.h"
#include "hearth/util.h"

static void count_admin(const char *user, hearth_role role, void *arg)
{
    (void)user;
    if (role == HEARTH_ROLE_ADMIN) ++*(long *)arg;
}

static void route_setup_check(hearth_api_ctx *c)
{
    hearth_assess_inside_facts f = {.now = hearth_time_now(), .admins = 0};
    hearth_auth *auth = c->api->cfg.auth;
    f.set_up = hearth_auth_initialized(auth);
    if (hearth_auth_user_list(auth, &c->session, count_admin, &f.admins) != HEARTH_OK) f.admins = -1;

    hearth_telemetry_snapshot *snap = calloc(1, sizeof *snap);
    uint16_t declared[HEARTH_TELEMETRY_DECLARED_MAX];
    if (snap != NULL && c->api->cfg.telemetry != NULL &&
        hearth_telemetry_sample(c->api->cfg.telemetry, snap) == HEARTH_OK &&
        snap->n_tcp == snap->tcp_total) {
        f.ports_known = true;
        f.listening = snap->tcp;
        f.n_listening = snap->n_tcp;
        f.n_declared = hearth_telemetry_declared(c->api->cfg.telemetry, HEARTH_TELEMETRY_LISTEN,
                                                 declared, HEARTH_TELEMETRY_DECLARED_MAX);
        f.declared = declared;
    }

    /* The device's own security.txt, through the request layer. */
    hearth_api_response *sr = malloc(sizeof *sr);
    hearth_assess_report *rep = malloc(sizeof *rep);
    if (sr == NULL || rep == NULL) {
        free(snap);
        free(sr);
        free(rep);
        hearth_req_error_status(c, HEARTH_ERR_NOMEM, 0);
        return;
    }
    hearth_api_request sreq = {.method = "GET", .path = "/.well-known/security.txt",
                               .source = c->req->source};
    hearth_api_handle(c->api, &sreq, sr);
    f.sectxt_status = sr->status;
    f.sectxt_type = sr->content_type != NULL ? sr->content_type : "application/json";
    f.sectxt_body = sr->ext_body != NULL ? (const char *)sr->ext_body : sr->body;
    f.sectxt_len = sr->ext_body != NULL ? sr->ext_len : sr->body_len;

    hearth_assess_inside(&f, rep);
    free(snap);
    free(sr);

    /* The units as JSON, rendered as `hearth assess` renders them. */
    char *units = malloc(HEARTH_API_RESP_MAX);
    hearth_status st = units != NULL ? hearth_assess_units_json(rep, units, HEARTH_API_RESP_MAX - 16)
                                     : hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    free(rep);
    if (st != HEARTH_OK) {
        free(units);
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"units\":%s}", units);
    hearth_req_reply_end(c);
    free(units);
}

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/setup-check", HEARTH_ROUTE_ADMIN, route_setup_check},
};
HEARTH_API_ROUTE_TABLE(setup_check, routes);
