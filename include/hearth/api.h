/**
 * @file api.h
 * @brief The device's local HTTPS API as a transport-independent request
 *        layer (EN 303 645 5.5-4, 5.5-5, 5.6-2, 5.13-1, 5.3-16, 5.1-5).
 *
 * hearth_api_handle() takes one already-framed HTTP request (method, path,
 * query, Authorization header, Content-Type, body, client address) and fills
 * a response (status, JSON body in a bounded buffer, Retry-After, Allow).
 * Routing, Bearer authentication, role checks, strict JSON validation and the
 * mapping of ::hearth_status to HTTP errors all live here, with no sockets, so
 * the same code is unit-tested, fuzzed and served by the device runtime (daemon/, hearthd).
 *
 * Every rejection is a 4xx with the uniform body
 * `{"error":"<code>","message":"<actionable text>","field":"<name>"}` (field
 * only when one input field is at fault) and changes no state. In the
 * factory-default state the only network function is POST /api/v1/setup
 * (EN 303 645 Annex A); everything else answers 409.
 *
 * Threading: hearth_api_handle() may run on several threads at once (the
 * daemon runs password-hashing routes, see hearth_api_is_slow(), on a small
 * worker pool and the rest on its event loop). Endpoints: docs/openapi.yaml;
 * mapping to provisions and limits: docs/api.md.
 */
#ifndef HEARTH_API_H
#define HEARTH_API_H

#include "hearth/app.h"
#include "hearth/auth.h"
#include "hearth/common.h"
#include "hearth/disclosure.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_API_RESP_MAX (16 * 1024) /**< response body bound, bytes */
#define HEARTH_API_ALLOW_MAX 64          /**< Allow header value bound */
#define HEARTH_API_PATH_MAX 256          /**< longer paths are answered 404 */
#define HEARTH_API_EVENTS_MAX 64         /**< most events GET /api/v1/events serves */
#define HEARTH_API_EVENTS_DEFAULT 20     /**< GET /api/v1/events default limit */
/** Request target of the streamed bundle upload, which the transport hands
 *  to the updater chunk by chunk (docs/api.md). */
#define HEARTH_API_UPLOAD_PATH "/api/v1/updates/upload"

/** One HTTP request, already framed by the transport. Strings NUL-terminated. */
typedef struct {
    const char *method;        /**< "GET", "POST", ... */
    const char *path;          /**< decoded-free path without the query, e.g. "/api/v1/login" */
    const char *query;         /**< raw query string without '?', NULL or "" if none */
    const char *authorization; /**< Authorization header value or NULL */
    const char *content_type;  /**< Content-Type header value or NULL */
    const uint8_t *body;       /**< request body (need not be NUL-terminated) */
    size_t body_len;           /**< body length */
    const char *source;        /**< client address for rate limiting, e.g. "127.0.0.1" */
} hearth_api_request;

/** The answer: a JSON body in @c body unless status is 204, or, for the few
 *  routes that serve a document (security.txt, the SBOM, static assets),
 *  @c content_type and optionally @c ext_body. */
typedef struct {
    int status;                           /**< HTTP status code */
    char body[HEARTH_API_RESP_MAX];       /**< JSON text, NUL-terminated */
    size_t body_len;                      /**< bytes in body */
    const char *content_type;             /**< NULL: application/json; else a static string,
                                               e.g. "text/plain; charset=utf-8" */
    const uint8_t *ext_body;              /**< non-NULL: send these ext_len bytes instead of
                                               body; immutable data that outlives the API
                                               (loaded at start or built into the program) */
    size_t ext_len;                       /**< bytes at ext_body */
    uint32_t retry_after;                 /**< >0: send Retry-After: <seconds> */
    char allow[HEARTH_API_ALLOW_MAX];     /**< non-empty: send Allow: <value> (405) */
    bool www_authenticate;                /**< send WWW-Authenticate: Bearer (401) */
} hearth_api_response;

/** What the API serves; every pointer must outlive the hearth_api. */
typedef struct {
    hearth_auth *auth;             /**< accounts and sessions (required) */
    hearth_apps *apps;             /**< the device's applications, whose routes the API
                                        serves after its own (NULL: none; hearth/app.h) */
    const char *model;             /**< device identity, disclosed only after login */
    const char *serial;
    const char *hw_id;
    const char *fingerprint;       /**< "sha256:<hex>" of the device certificate */
    const char *software_version;  /**< NULL: hearth_version() */
    void *update;                  /**< opaque handle for routes_update.c (may be NULL) */
    struct hearth_telemetry *telemetry; /**< security telemetry for routes_telemetry.c
                                             (NULL: its report and consent routes answer 503) */
    const hearth_manufacturer *manufacturer; /**< disclosure contact and support period:
                                                  security.txt, support_until (NULL: security.txt
                                                  answers 404, support_until is null) */
    const uint8_t *sbom;           /**< CycloneDX JSON of the running software, served by
                                        GET /api/v1/sbom (NULL: 404); must outlive the API */
    size_t sbom_len;               /**< bytes at sbom */
    /**
     * Factory reset (POST /api/v1/factory-reset, routes_reset.c), called
     * after the caller's password was re-checked, with the admin's name in
     * @p by: crypto-erase the device (hearth/reset.h) and arrange the
     * restart into factory default. Runs on a worker thread. NULL: the
     * route answers 503.
     */
    hearth_status (*factory_reset)(void *arg, const char *by);
    void *factory_reset_arg;
    /**
     * Erase what core modules outside the accounts and the applications
     * keep about @p user (DELETE /api/v1/users/{name}, after the account
     * and its sessions are gone and the applications' erase_user hooks
     * ran), e.g. the consent registry. NULL: nothing more to erase.
     */
    hearth_status (*erase_user)(void *arg, const char *user);
    void *erase_user_arg;
    struct hearth_privacy *privacy; /**< consent registry and service erase for routes_privacy.c
                                         (NULL: those routes answer 503; hearth/privacy.h) */
} hearth_api_config;

typedef struct hearth_api hearth_api;

/**
 * Create the API: its own routes, then every application's routes in
 * registration order (HEARTH_ERR_EXISTS if an application route repeats a
 * method and path already served). GET /api/v1/events serves admins the
 * newest (at most HEARTH_API_EVENTS_MAX) lines of the security-event log
 * file, personal values opened (hearth_seclog_recent(), docs/security-log.md).
 * @param[in]  cfg  configuration (copied; the pointed-to objects are not)
 * @param[out] out  the new API
 */
hearth_status hearth_api_create(const hearth_api_config *cfg, hearth_api **out) HEARTH_MUST_CHECK;

/** Remove the event hook and free. NULL is allowed. */
void hearth_api_destroy(hearth_api *api);

/**
 * Handle one request. Never fails: every outcome, including internal errors,
 * is an HTTP status and JSON body in @p resp. Thread-safe.
 * @param[in]  api   the API
 * @param[in]  req   the request (untrusted in every field but source)
 * @param[out] resp  the response; fully overwritten
 */
void hearth_api_handle(hearth_api *api, const hearth_api_request *req,
                       hearth_api_response *resp);

/** The user name route handlers see for a command from the service. */
#define HEARTH_API_SERVICE_PRINCIPAL "service"

/**
 * Handle one request that came from the manufacturer's service (an MQTT
 * command, src/link) through the same routing, schema validation and
 * handlers as hearth_api_handle(), as the service principal: user role,
 * name HEARTH_API_SERVICE_PRINCIPAL, no token. It may use only the
 * applications' routes whose min_role is HEARTH_ROLE_USER; every core route
 * (setup, login, accounts, passwords, updates, events, factory reset) and
 * every admin route answers 403 and changes nothing, except the few core
 * routes meant only for the service (the signed service-erase receipt,
 * POST /api/v1/privacy/service-erase/receipt), which no local user may use. Logs the security event
 * "command_executed" (2xx) or "command_refused" (anything else) with
 * @p request_id, method, path and status. Thread-safe.
 */
void hearth_api_handle_service(hearth_api *api, const hearth_api_request *req, const char *request_id,
                               hearth_api_response *resp);

/**
 * true if @p method @p path names a route that hashes a password (setup,
 * login, password changes, user creation): the daemon runs those off its
 * event loop so Argon2id never stalls other clients or the applications.
 */
bool hearth_api_is_slow(const hearth_api *api, const char *method, const char *path);

/** The fixed error body the daemon uses for a full worker queue (503). */
void hearth_api_busy_response(hearth_api_response *resp, uint32_t retry_after);

#ifdef __cplusplus
}
#endif
#endif
