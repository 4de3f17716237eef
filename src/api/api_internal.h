/*
 * Internal interface of the API module: the route table each routes_*.c file
 * contributes, the per-request context and the response helpers.
 *
 * Adding endpoints: create src/api/routes_<name>.c defining
 *     static const hearth_api_route routes[] = { ... };
 *     HEARTH_API_ROUTE_TABLE(<name>, routes);
 * CMake globs routes_*.c and generates the list of tables the dispatcher
 * walks (api_route_files.h), so no other file needs editing. Document every
 * new route in docs/openapi.yaml: tests/integration/test_api_authz.sh derives
 * its list of endpoints from there and checks each is refused without
 * authentication.
 */
#ifndef HEARTH_API_INTERNAL_H
#define HEARTH_API_INTERNAL_H

#include <pthread.h>

#include "hearth/api.h"
#include "hearth/app.h"
#include "hearth/json.h"

/* Route flags. */
#define HEARTH_ROUTE_PUBLIC (1u << 0)  /**< no session needed (login) */
#define HEARTH_ROUTE_FACTORY (1u << 1) /**< the only kind served in factory-default state */
#define HEARTH_ROUTE_ADMIN (1u << 2)   /**< admin role required */
#define HEARTH_ROUTE_SLOW (1u << 3)    /**< hashes a password: daemon runs it on a worker */
#define HEARTH_ROUTE_QUERY (1u << 4)   /**< accepts a query string (others reject one) */
#define HEARTH_ROUTE_OPEN (1u << 5)    /**< no session and served in EVERY state: public
                                            documents only (security.txt, static assets) */
#define HEARTH_ROUTE_SERVICE (1u << 6) /**< only the service principal (an MQTT command), never a
                                            local user: the handler checks what it carries */

#define HEARTH_API_PARAMS_MAX 2
#define HEARTH_API_PARAM_MAX 64

/* The request context is the public ::hearth_req (hearth/app.h): core route
 * handlers and application handlers answer through the same functions. */
typedef struct hearth_req hearth_api_ctx;
typedef void (*hearth_api_route_fn)(hearth_api_ctx *c);

/** One endpoint. Pattern segments "{x}" match one non-empty path segment. */
typedef struct {
    const char *method;
    const char *pattern;
    unsigned flags;
    hearth_api_route_fn fn;
} hearth_api_route;

typedef struct {
    const hearth_api_route *routes;
    size_t n;
} hearth_api_route_table;

#define HEARTH_API_ROUTE_TABLE(name, arr)                                                   \
    const hearth_api_route_table hearth_api_routes_##name = {arr, sizeof(arr) / sizeof((arr)[0])}

/* One entry of an API's route list: a core route (fn set) or an
 * application's route (app set, handler called with app_state). */
typedef struct {
    hearth_api_route r;          /* r.fn NULL for an application route */
    const hearth_app_route *app;
    void *app_state;
} api_route_entry;

struct hearth_api {
    hearth_api_config cfg;
    api_route_entry *routes; /* the core tables, then every application's routes */
    size_t n_routes;
};

/** Everything a route handler sees. */
struct hearth_req {
    hearth_api *api;
    const hearth_api_request *req;
    hearth_api_response *resp;
    const api_route_entry *route;
    bool authed;
    bool service; /* hearth_api_handle_service(): the service principal, no token */
    hearth_session_info session;
    char token[HEARTH_TOKEN_STR_MAX]; /* the caller's bearer token (wiped after) */
    char params[HEARTH_API_PARAMS_MAX][HEARTH_API_PARAM_MAX];
    size_t nparams;
};

/* Response helpers and body parsing: the public hearth_req_* functions
 * (hearth/app.h), implemented in api.c. */

/**
 * Answer @p status with a document that is not JSON: @p len bytes at @p data
 * (copied into the response body when they fit, otherwise referenced, so
 * @p data must outlive the API) with Content-Type @p content_type (a static
 * string).
 */
void api_reply_document(hearth_api_ctx *c, int status, const char *content_type, const void *data,
                        size_t len);

/** The charset of user names (auth.h: [a-z0-9._-]). */
#define HEARTH_API_USER_CHARSET "abcdefghijklmnopqrstuvwxyz0123456789._-"

/** Every route @p api serves: all route files, then the applications' routes
 *  (for tests and docs checks). */
size_t api_route_count(const hearth_api *api);
const hearth_api_route *api_route_at(const hearth_api *api, size_t i);


/** @p service if it is configured (non-NULL); otherwise answer 503 with
 *  @p code and "@p what is not ... on this device" and return NULL. */
void *api_service_or_503(hearth_api_ctx *c, void *service, const char *code, const char *what);

#endif
