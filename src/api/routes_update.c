/*
 * Software updates (EN 303 645 5.3-3 simple to apply, 5.3-6 enable / disable
 * / postpone, 5.3-11 risks mitigated, 5.3-12 disruption and downtime, 5.3-9
 * example 9: the administrator -- not the update server -- learns why an
 * update was refused). The updater object is hearth_api_config::update
 * (a hearth_updater *); without one the routes answer 503.
 *
 * GET is open to every authenticated user (they see that an update is
 * required, what it fixes and when a disruptive one installs); changing the
 * policy or the installation time, triggering a check or an
 * install and uploading a bundle are for administrators. The security events
 * of the update log are only in the administrator's view.
 */
#include <string.h>

#include "api_internal.h"
#include "hearth/http.h"
#include "hearth/updater.h"
#include "hearth/util.h"

static hearth_updater *updater_of(hearth_api_ctx *c)
{
    return api_service_or_503(c, c->api->cfg.update, "updates_unavailable",
                              "software updates are not configured");
}

static void route_updates_get(hearth_api_ctx *c)
{
    hearth_updater *u = updater_of(c);
    if (u == NULL) return;
    char buf[HEARTH_API_RESP_MAX - 64];
    hearth_status st = hearth_updater_status_json(u, c->session.role == HEARTH_ROLE_ADMIN, buf, sizeof buf);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_json(c, 200, buf);
}

static void route_policy_put(hearth_api_ctx *c)
{
    hearth_updater *u = updater_of(c);
    if (u == NULL) return;
    static const hearth_json_field schema[] = {
        {.name = "automatic", .type = HEARTH_JSON_BOOL, .required = true},
        {.name = "postpone_hours", .type = HEARTH_JSON_INT, .required = false, .min = 0,
         .max = HEARTH_UPDATE_POSTPONE_MAX_HOURS},
    };
    hearth_json_value v[2];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 2, v, &doc)) return;
    bool automatic = v[0].b;
    uint32_t hours = v[1].present ? (uint32_t)v[1].num : 0;
    hearth_json_doc_free(doc);
    hearth_status st = hearth_updater_set_policy(u, automatic, hours, c->session.username);
    if (st == HEARTH_ERR_RANGE) {
        hearth_req_error(c, 422, "out_of_range", "postpone_hours", "postpone_hours must be 0..%d",
                         HEARTH_UPDATE_POSTPONE_MAX_HOURS);
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    route_updates_get(c);
}

/* 5.3-12: move the announced installation of a disruptive update. */
static void route_window_put(hearth_api_ctx *c)
{
    hearth_updater *u = updater_of(c);
    if (u == NULL) return;
    static const hearth_json_field schema[] = {
        {.name = "at", .type = HEARTH_JSON_INT, .required = true, .min = 0, .max = 17179869184.0 /* 2514 CE */},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 1, v, &doc)) return;
    int64_t at = v[0].i;
    hearth_json_doc_free(doc);
    hearth_status st = hearth_updater_set_window(u, at, c->session.username);
    if (st == HEARTH_ERR_RANGE) {
        hearth_req_error(c, 422, "out_of_range", "at", "%s", hearth_err_msg());
        return;
    }
    if (st == HEARTH_ERR_STATE) {
        hearth_req_error(c, 409, "wrong_state", NULL, "%s", hearth_err_msg());
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    route_updates_get(c);
}

/* Ask the updater thread to check or install now: 202 with where to watch,
 * 409 if it cannot take the request (busy, nothing available). */
static void request_op(hearth_api_ctx *c, hearth_status (*op)(hearth_updater *),
                       const char *event)
{
    hearth_updater *u = updater_of(c);
    if (u == NULL) return;
    hearth_status st = op(u);
    if (st == HEARTH_ERR_BUSY) {
        /* The repository's Retry-After (5.9-3), passed on to the client. */
        uint32_t wait = hearth_updater_repo_wait_s(u);
        hearth_req_error(c, 503, "repository_busy", NULL, "%s", hearth_err_msg());
        c->resp->retry_after = wait > 0 ? wait : 1;
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error(c, 409, "conflict", NULL, "%s", hearth_err_msg());
        return;
    }
    hearth_seclog(HEARTH_SEV_INFO, event, "user", c->session.username, NULL);
    hearth_req_reply_json(c, 202, "{\"accepted\":true,\"status\":\"/api/v1/updates\"}");
}

static void route_check(hearth_api_ctx *c)
{
    request_op(c, hearth_updater_request_check, "update_check_requested");
}

static void route_install(hearth_api_ctx *c)
{
    request_op(c, hearth_updater_request_install, "update_install_requested");
}

#ifdef HEARTH_WITH_UPLOAD
/* The whole-body path: used when the transport hands the API a buffered
 * body. hearthd streams large uploads into the same sink instead
 * (daemon/update_glue.c), so the body cap stays small for everything else. */
static void route_upload(hearth_api_ctx *c)
{
    hearth_updater *u = updater_of(c);
    if (u == NULL) return;
    if (!hearth_http_is_octet_stream(c->req->content_type)) {
        hearth_req_error(c, 415, "unsupported_media_type", NULL,
                         "send the bundle as the body with Content-Type: application/octet-stream");
        return;
    }
    hearth_update_upload *up = NULL;
    hearth_status st = hearth_updater_upload_begin(u, c->req->body_len, c->session.username, &up);
    if (st == HEARTH_ERR_BUSY || st == HEARTH_ERR_STATE) {
        hearth_req_error(c, 409, "conflict", NULL, "%s", hearth_err_msg());
        return;
    }
    if (st == HEARTH_ERR_TOO_LARGE) {
        hearth_req_error(c, 413, "too_large", NULL, "%s", hearth_err_msg());
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error(c, 503, "updates_unavailable", NULL, "the device cannot take an update now");
        return;
    }
    st = hearth_updater_upload_write(up, c->req->body, c->req->body_len);
    hearth_update_result r;
    hearth_status fst = hearth_updater_upload_finish(up, &r);
    if (st == HEARTH_OK) st = fst;
    if (st != HEARTH_OK) {
        /* The reason is in the security log and GET /updates (admins). */
        hearth_req_error(c, 422, "update_rejected", NULL,
                         "the bundle was not accepted; see GET /api/v1/updates for the reason");
        return;
    }
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"installed\":");
    hearth_req_out_str(c, r.info.sw_version);
    hearth_req_out(c, ",\"restart_required\":true,\"disruptive\":%s,\"expected_downtime_s\":%u}",
                   r.info.disruptive ? "true" : "false", (unsigned)r.info.downtime_s);
    hearth_req_reply_end(c);
}
#endif

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/updates", 0, route_updates_get},
    {"PUT", "/api/v1/updates/policy", HEARTH_ROUTE_ADMIN, route_policy_put},
    {"PUT", "/api/v1/updates/window", HEARTH_ROUTE_ADMIN, route_window_put},
    {"POST", "/api/v1/updates/check", HEARTH_ROUTE_ADMIN, route_check},
    {"POST", "/api/v1/updates/install", HEARTH_ROUTE_ADMIN, route_install},
#ifdef HEARTH_WITH_UPLOAD /* compiled out with HEARTH_WITH_UPLOAD=OFF (docs/build-options.md) */
    {"POST", HEARTH_API_UPLOAD_PATH, HEARTH_ROUTE_ADMIN, route_upload},
#endif
};
HEARTH_API_ROUTE_TABLE(update, routes);
