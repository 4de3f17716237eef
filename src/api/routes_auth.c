/*
 * Authentication endpoints: setup (factory default only), login, logout and
 * the caller's own password change (EN 303 645 5.1-5, 5.5-4, 5.5-5).
 * All of these except logout hash a password, so they are HEARTH_ROUTE_SLOW
 * and the daemon runs them on its worker pool.
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "hearth/identity.h"

/* Field bounds: generous enough for every legitimate value, tight enough
 * that nothing unbounded reaches the hashing code. */
#define USER_FIELD(n)                                                                      \
    {.name = (n), .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,              \
     .max_len = HEARTH_USERNAME_MAX, .charset = HEARTH_API_USER_CHARSET}
#define PW_FIELD(n)                                                                        \
    {.name = (n), .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,              \
     .max_len = HEARTH_PW_MAX}

static void route_setup(hearth_api_ctx *c)
{
    static const hearth_json_field schema[] = {
        {.name = "setup_password", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = HEARTH_SETUP_PW_MAX - 1},
        USER_FIELD("username"),
        PW_FIELD("password"),
    };
    hearth_json_value v[3];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 3, v, &doc)) return;
    uint32_t retry = 0;
    hearth_status st = hearth_auth_setup(c->api->cfg.auth, c->req->source, v[0].str, v[1].str,
                                         v[2].str, &retry);
    if (st == HEARTH_OK) {
        hearth_req_reply_begin(c, 200);
        hearth_req_out(c, "{\"username\":");
        hearth_req_out_str(c, v[1].str);
        hearth_req_out(c, ",\"role\":\"admin\",\"message\":\"setup complete; log in with POST "
                   "/api/v1/login\"}");
        hearth_req_reply_end(c);
    } else if (st == HEARTH_ERR_STATE) {
        hearth_req_error(c, 409, "already_set_up", NULL,
                         "setup is complete; the setup password is no longer valid");
    } else {
        hearth_req_error_status(c, st, retry);
    }
    hearth_json_doc_free(doc);
}

static void route_login(hearth_api_ctx *c)
{
    char token[HEARTH_TOKEN_STR_MAX];
    hearth_session_info info;
    uint32_t retry = 0;
    static const hearth_json_field schema[] = {USER_FIELD("username"), PW_FIELD("password")};
    hearth_json_value v[2];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 2, v, &doc)) return;
    hearth_status st = hearth_auth_login(c->api->cfg.auth, c->req->source, v[0].str, v[1].str,
                                         token, &info, &retry);
    if (st == HEARTH_OK) {
        hearth_req_reply_begin(c, 200);
        hearth_req_out(c, "{\"token\":");
        hearth_req_out_str(c, token);
        hearth_req_out(c, ",\"expires_at\":%lld,\"role\":", (long long)info.expires);
        hearth_req_out_str(c, hearth_role_name(info.role));
        hearth_req_out(c, "}");
        hearth_req_reply_end(c);
    } else {
        hearth_req_error_status(c, st, retry);
    }
    hearth_memzero(token, sizeof token);
    hearth_memzero(&info, sizeof info);
    hearth_json_doc_free(doc);
}

static void route_logout(hearth_api_ctx *c)
{
    hearth_status st = hearth_auth_logout(c->api->cfg.auth, c->token);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_json(c, 200, "{\"message\":\"logged out; the token is revoked\"}");
}

static void route_password(hearth_api_ctx *c)
{
    static const hearth_json_field schema[] = {PW_FIELD("old_password"), PW_FIELD("new_password")};
    hearth_json_value v[2];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 2, v, &doc)) return;
    uint32_t retry = 0;
    hearth_status st = hearth_auth_change_password(c->api->cfg.auth, c->req->source, c->token,
                                                   v[0].str, v[1].str, &retry);
    if (st == HEARTH_OK) {
        hearth_req_reply_begin(c, 200);
        hearth_req_out(c, "{\"message\":\"password changed; other sessions of this account are "
                   "revoked\"}");
        hearth_req_reply_end(c);
    } else if (st == HEARTH_ERR_POLICY) {
        hearth_req_error_status(c, st, retry);
        /* Name the field the client must change. */
        if (c->resp->status == 422) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s", hearth_err_msg());
            hearth_req_error(c, 422, "weak_password", "new_password", "%s",
                             msg[0] ? msg : "the new password does not meet the password policy");
        }
    } else {
        hearth_req_error_status(c, st, retry);
    }
    hearth_json_doc_free(doc);
}

static const hearth_api_route routes[] = {
    {"POST", "/api/v1/setup", HEARTH_ROUTE_FACTORY | HEARTH_ROUTE_SLOW, route_setup},
    {"POST", "/api/v1/login", HEARTH_ROUTE_PUBLIC | HEARTH_ROUTE_SLOW, route_login},
    {"POST", "/api/v1/logout", 0, route_logout},
    {"POST", "/api/v1/password", HEARTH_ROUTE_SLOW, route_password},
};
HEARTH_API_ROUTE_TABLE(auth, routes);
