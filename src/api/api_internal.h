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
#include "hearth/json.h"

/* Route flags. */
#define HEARTH_ROUTE_PUBLIC (1u << 0)  /**< no session needed (login) */
#define HEARTH_ROUTE_FACTORY (1u << 1) /**< the only kind served in factory-default state */
#define HEARTH_ROUTE_ADMIN (1u << 2)   /**< admin role required */
#define HEARTH_ROUTE_SLOW (1u << 3)    /**< hashes a password: daemon runs it on a worker */
#define HEARTH_ROUTE_QUERY (1u << 4)   /**< accepts a query string (others reject one) */

#define HEARTH_API_PARAMS_MAX 2
#define HEARTH_API_PARAM_MAX 64

typedef struct hearth_api_ctx hearth_api_ctx;
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

/* Events ring fed by the seclog hook. */
typedef struct {
    pthread_mutex_t mu;
    char *lines[HEARTH_API_EVENTS_MAX];
    size_t next;  /* slot the next event goes to */
    size_t count; /* events held, <= HEARTH_API_EVENTS_MAX */
} hearth_api_events;

struct hearth_api {
    hearth_api_config cfg;
    hearth_api_events events;
    /* hearth_thermo_set writes the store on the caller's thread; serialise
     * concurrent PUTs (auth serialises its own store use). */
    pthread_mutex_t thermo_mu;
};

/** Everything a route handler sees. */
struct hearth_api_ctx {
    hearth_api *api;
    const hearth_api_request *req;
    hearth_api_response *resp;
    const hearth_api_route *route;
    bool authed;
    hearth_session_info session;
    char token[HEARTH_TOKEN_STR_MAX]; /* the caller's bearer token (wiped after) */
    char params[HEARTH_API_PARAMS_MAX][HEARTH_API_PARAM_MAX];
    size_t nparams;
};

/* ---- response helpers (api.c) ---- */

/** Reset the body and start a JSON reply with @p status. */
void api_reply_begin(hearth_api_ctx *c, int status);
/** Append raw JSON text (printf style). Overflow turns the reply into a 500. */
void api_out(hearth_api_ctx *c, const char *fmt, ...) HEARTH_PRINTF(2, 3);
/** Append a JSON string literal (quoted, escaped). */
void api_out_str(hearth_api_ctx *c, const char *s);
/** Finish the reply (checks overflow). */
void api_reply_end(hearth_api_ctx *c);

/**
 * Uniform error: {"error":code,"message":msg[,"field":field]}.
 * @p field may be NULL or "".
 */
void api_error(hearth_api_ctx *c, int status, const char *code, const char *field,
               const char *fmt, ...) HEARTH_PRINTF(5, 6);
/** Map a library status to the HTTP error (429/503 carry @p retry_after). */
void api_error_status(hearth_api_ctx *c, hearth_status st, uint32_t retry_after);

/**
 * Check Content-Type and parse the body against @p schema (415, 413, 400 or
 * 422 already answered on failure). Caller frees *doc.
 */
bool api_parse_body(hearth_api_ctx *c, const hearth_json_field *schema, size_t n,
                    hearth_json_value *values, hearth_json_doc **doc);

/** The charset of user names (auth.h: [a-z0-9._-]). */
#define HEARTH_API_USER_CHARSET "abcdefghijklmnopqrstuvwxyz0123456789._-"

/** Every registered route, across all route files (for tests and docs checks). */
size_t api_route_count(void);
const hearth_api_route *api_route_at(size_t i);

/** Ring access for routes_device.c. Calls @p fn for the newest @p limit events, oldest first. */
void api_events_visit(hearth_api *api, size_t limit, void (*fn)(const char *line, void *arg),
                      void *arg);

#endif
