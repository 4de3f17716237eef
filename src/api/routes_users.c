/*
 * Account management for administrators (EN 303 645 5.5-5: permission
 * management is a security-relevant change and needs an authenticated admin).
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "hearth/util.h"

/* Path parameter {name}: same charset and length as a user name. */
static bool valid_user_param(hearth_api_ctx *c, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > HEARTH_USERNAME_MAX || strspn(name, HEARTH_API_USER_CHARSET) != len) {
        hearth_req_error(c, 422, "invalid_field", "name",
                         "user names are 1..%d characters of a-z 0-9 . _ -", HEARTH_USERNAME_MAX);
        return false;
    }
    return true;
}

typedef struct {
    hearth_api_ctx *c;
    size_t n;
} list_ctx;

static void list_one(const char *user, hearth_role role, void *arg)
{
    list_ctx *l = arg;
    hearth_req_out(l->c, "%s{\"username\":", l->n++ ? "," : "");
    hearth_req_out_str(l->c, user);
    hearth_req_out(l->c, ",\"role\":");
    hearth_req_out_str(l->c, hearth_role_name(role));
    hearth_req_out(l->c, "}");
}

static void route_users_list(hearth_api_ctx *c)
{
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"users\":[");
    list_ctx l = {c, 0};
    hearth_status st = hearth_auth_user_list(c->api->cfg.auth, &c->session, list_one, &l);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_out(c, "]}");
    hearth_req_reply_end(c);
}

static const char *const role_names[] = {"user", "admin", NULL};

static void route_users_add(hearth_api_ctx *c)
{
    static const hearth_json_field schema[] = {
        {.name = "username", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = HEARTH_USERNAME_MAX, .charset = HEARTH_API_USER_CHARSET},
        {.name = "password", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = HEARTH_PW_MAX},
        {.name = "role", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = 8, .enum_values = role_names},
    };
    hearth_json_value v[3];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 3, v, &doc)) return;
    hearth_role role = strcmp(v[2].str, "admin") == 0 ? HEARTH_ROLE_ADMIN : HEARTH_ROLE_USER;
    hearth_status st = hearth_auth_user_add(c->api->cfg.auth, &c->session, v[0].str, v[1].str, role);
    if (st == HEARTH_OK) {
        hearth_req_reply_begin(c, 201);
        hearth_req_out(c, "{\"username\":");
        hearth_req_out_str(c, v[0].str);
        hearth_req_out(c, ",\"role\":");
        hearth_req_out_str(c, hearth_role_name(role));
        hearth_req_out(c, "}");
        hearth_req_reply_end(c);
    } else {
        hearth_req_error_status(c, st, 0);
    }
    hearth_json_doc_free(doc);
}

/* Erasure of one user (EN 303 645 5.11-1): the account and its sessions in
 * one store commit (the last admin is refused: 409, nothing changes), then
 * what the applications keep (their erase_user hooks) and what other core
 * modules keep (hearth_api_config::erase_user). If a later step fails the
 * account is already gone: the answer is 500 "erase_incomplete" and the
 * administrator repeats the request. For a name with no account (404; only
 * an admin gets that far) the later steps run all the same, so a repeated
 * request finishes an interrupted erasure. */
static hearth_status erase_user_data(hearth_api_ctx *c, const char *user)
{
    hearth_status st = hearth_apps_erase_user(c->api->cfg.apps, user);
    if (st == HEARTH_OK && c->api->cfg.erase_user != NULL)
        st = c->api->cfg.erase_user(c->api->cfg.erase_user_arg, user);
    if (st != HEARTH_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        hearth_seclog(HEARTH_SEV_WARNING, "user_erase_incomplete", "user", user, "error", why,
                      NULL);
        hearth_req_error(c, 500, "erase_incomplete", NULL,
                         "the account is deleted but not all of the user's data could be erased; "
                         "repeat the request");
    }
    return st;
}

static void route_users_delete(hearth_api_ctx *c)
{
    if (!valid_user_param(c, c->params[0])) return;
    const char *user = c->params[0];
    hearth_status st = hearth_auth_user_delete(c->api->cfg.auth, &c->session, user);
    if (st == HEARTH_ERR_NOT_FOUND) {
        if (erase_user_data(c, user) != HEARTH_OK) return;
        hearth_req_error(c, 404, "not_found", NULL,
                         "no such user; no data is kept under that name");
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    if (erase_user_data(c, user) != HEARTH_OK) return;
    hearth_seclog(HEARTH_SEV_INFO, "user_erased", "user", user, "by", c->session.username, NULL);
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"deleted\":");
    hearth_req_out_str(c, user);
    hearth_req_out(c, ",\"erased\":[\"account\",\"sessions\",\"application_data\"%s]}",
                   c->api->cfg.erase_user != NULL ? ",\"core_data\"" : "");
    hearth_req_reply_end(c);
}

/* An admin forces a user's sessions out (EN 303 645 5.1-4 support: a
 * credential thought compromised stops working at once). */
static void route_users_logout(hearth_api_ctx *c)
{
    if (!valid_user_param(c, c->params[0])) return;
    uint32_t revoked = 0;
    hearth_status st = hearth_auth_user_logout(c->api->cfg.auth, &c->session, c->params[0], &revoked);
    if (st != HEARTH_OK) {
        hearth_req_error_status(c, st, 0);
        return;
    }
    hearth_req_reply_begin(c, 200);
    hearth_req_out(c, "{\"username\":");
    hearth_req_out_str(c, c->params[0]);
    hearth_req_out(c, ",\"revoked\":%u}", revoked);
    hearth_req_reply_end(c);
}

static void route_users_set_password(hearth_api_ctx *c)
{
    if (!valid_user_param(c, c->params[0])) return;
    static const hearth_json_field schema[] = {
        {.name = "password", .type = HEARTH_JSON_STRING, .required = true, .min_len = 1,
         .max_len = HEARTH_PW_MAX},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(c, schema, 1, v, &doc)) return;
    hearth_status st =
        hearth_auth_user_set_password(c->api->cfg.auth, &c->session, c->params[0], v[0].str);
    if (st == HEARTH_OK) {
        hearth_req_reply_begin(c, 200);
        hearth_req_out(c, "{\"username\":");
        hearth_req_out_str(c, c->params[0]);
        hearth_req_out(c, ",\"message\":\"password set; the user's sessions are revoked\"}");
        hearth_req_reply_end(c);
    } else {
        hearth_req_error_status(c, st, 0);
    }
    hearth_json_doc_free(doc);
}

static const hearth_api_route routes[] = {
    {"GET", "/api/v1/users", HEARTH_ROUTE_ADMIN, route_users_list},
    {"POST", "/api/v1/users", HEARTH_ROUTE_ADMIN | HEARTH_ROUTE_SLOW, route_users_add},
    {"DELETE", "/api/v1/users/{name}", HEARTH_ROUTE_ADMIN, route_users_delete},
    {"POST", "/api/v1/users/{name}/logout", HEARTH_ROUTE_ADMIN, route_users_logout},
    {"PUT", "/api/v1/users/{name}/password", HEARTH_ROUTE_ADMIN | HEARTH_ROUTE_SLOW,
     route_users_set_password},
};
HEARTH_API_ROUTE_TABLE(users, routes);
