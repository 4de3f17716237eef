/**
 * @file app.h
 * @brief Applications on the Hearth core: what a device does (heat a room,
 *        switch a plug, lock a door) as one registered table, the way the
 *        Matter SDK puts device types on one stack.
 *
 * The core (accounts, sessions, TLS, the HTTPS API, secure updates, the
 * secure store) names no application. A product is the core plus one or more
 * ::hearth_app tables handed to the runtime (hearth/runtime.h). Each table is
 * const data and functions:
 *
 *  - name, display name, command-line options;
 *  - HTTP routes (method, path, minimum role, handler). The core does the
 *    routing, the factory-default lockdown, Bearer authentication and the
 *    role check before a handler runs; the handler validates its body with a
 *    ::hearth_json_field schema (hearth_req_parse_json()) and answers through
 *    the hearth_req_* functions below, so an application never sees the
 *    transport or the API's internals;
 *  - lifecycle: open (with the device's secure store and a store lock),
 *    start (threads), stop, close;
 *  - a self-test the post-update self-test runs before a new software version
 *    confirms itself (hearth/updater.h), e.g. "control loop ticking";
 *  - a state summary (a JSON object) served by GET /api/v1/apps;
 *  - the sentences the update notice uses to say what installing an update
 *    does to this function (EN 303 645 5.3-12);
 *  - erasure (EN 303 645 5.11-1): erase_user (one user's data) and
 *    factory_reset (drop in-memory state; the core crypto-erases the store).
 *
 * Call order (the runtime, tests and ::hearth_apps do exactly this):
 * open (every app, in table order) -> the API serves its routes -> start
 * (every app, in order; after the daemon forked) -> self-test (post-update,
 * any time after start, from another thread) -> stop (reverse order) ->
 * close (reverse order; after the API is gone).
 *
 * Threading: route handlers, selftest() and state_json() run on the core's
 * threads (the HTTPS event loop, the self-test thread) while the
 * application's own threads run: the state behind them must be thread-safe.
 * Handlers run on the event loop: they must not block for long (no password
 * hashing, no network; one store commit is fine). The store is internally
 * synchronised; hold hearth_app_env::store_lock around a sequence of store
 * operations that must not interleave with another thread's.
 *
 * Application routes always need a session (there are no public application
 * routes) and take no query string (400 otherwise). A path that another
 * route already serves is refused when the API is created. Writing a new
 * application: docs/architecture.md; the reference application:
 * apps/thermostat/ (docs/thermostat.md).
 */
#ifndef HEARTH_APP_H
#define HEARTH_APP_H

#include <pthread.h>

#include "hearth/auth.h"
#include "hearth/common.h"
#include "hearth/json.h"
#include "hearth/port.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest state summary an application may write (bytes, NUL included). */
#define HEARTH_APP_STATE_MAX 1024

/* ------------------------------------------------ request context (handlers) */

/** One request being answered; valid only during the handler call. */
typedef struct hearth_req hearth_req;

/**
 * Check the Content-Type (application/json) and parse the body strictly
 * against @p schema (hearth/json.h). On failure the error reply (415, 413,
 * 400 or 422 with the offending field) is already made and false returned;
 * on success the caller frees *doc with hearth_json_doc_free().
 */
bool hearth_req_parse_json(hearth_req *r, const hearth_json_field *schema, size_t n,
                           hearth_json_value *values, hearth_json_doc **doc);
/** Start a JSON reply with HTTP @p status (discards anything written so far). */
void hearth_req_reply_begin(hearth_req *r, int status);
/** Append raw JSON text, printf style. Overflowing the reply bound makes it a 500. */
void hearth_req_out(hearth_req *r, const char *fmt, ...) HEARTH_PRINTF(2, 3);
/** Append @p s as a JSON string literal (quoted, escaped). */
void hearth_req_out_str(hearth_req *r, const char *s);
/** Finish the reply started by hearth_req_reply_begin(). */
void hearth_req_reply_end(hearth_req *r);
/** The whole reply in one call: HTTP @p status with the JSON text @p json. */
void hearth_req_reply_json(hearth_req *r, int status, const char *json);
/**
 * The uniform error reply `{"error":code,"message":msg[,"field":field]}`;
 * @p field may be NULL. Use a 4xx @p status and an actionable message.
 */
void hearth_req_error(hearth_req *r, int status, const char *code, const char *field,
                      const char *fmt, ...) HEARTH_PRINTF(5, 6);
/**
 * Answer a library failure the way the core does (e.g. HEARTH_ERR_RANGE ->
 * 422, HEARTH_ERR_BUSY -> 503 with Retry-After, storage failures -> 500 with
 * details only in the security log). @p retry_after: seconds for 429/503.
 */
void hearth_req_error_status(hearth_req *r, hearth_status st, uint32_t retry_after);
/** The authenticated caller's user name (never NULL inside a handler). */
const char *hearth_req_user(const hearth_req *r);
/** The authenticated caller's role. */
hearth_role hearth_req_role(const hearth_req *r);

/* ----------------------------------------------------- the application table */

/**
 * A route handler. @p state is what the application's open() returned. The
 * handler must answer (reply or error); an empty answer becomes a 500.
 */
typedef void (*hearth_app_handler)(hearth_req *r, void *state);

/** One HTTP endpoint of an application. */
typedef struct {
    const char *method;     /**< "GET", "PUT", "POST", "DELETE" */
    const char *path;       /**< exact path under /api/, e.g. "/api/v1/thermostat" (no "{x}"
                                 parameters); document it in docs/openapi.yaml */
    hearth_role min_role;   /**< HEARTH_ROLE_USER: any logged-in user; HEARTH_ROLE_ADMIN */
    hearth_app_handler handler;
} hearth_app_route;

/** One command-line option of the device program; every option takes a value. */
typedef struct {
    const char *name;  /**< "--heartbeat" */
    const char *arg;   /**< value placeholder for the usage text, "FILE" */
    const char *help;  /**< one line for the usage text */
} hearth_app_option;

/** What an application gets when it opens. Pointers outlive the application. */
typedef struct {
    hearth_store *store;          /**< the device's secure store; NULL: keep settings in memory */
    pthread_mutex_t *store_lock;  /**< see the file comment; NULL if single-threaded */
    hearth_port_dev *port;        /**< the device's hardware (hearth/port.h): read sensors,
                                       switch actuators; NULL when the program has no port */
    const char *const *options;   /**< values of hearth_app::options in the same order,
                                       NULL for an option not given (NULL if none) */
} hearth_app_env;

/** An application: const data and functions (define one `const hearth_app`). */
typedef struct hearth_app {
    const char *name;           /**< short id, [a-z0-9_-], unique on the device ("thermostat") */
    const char *display_name;   /**< for people ("Thermostat") */
    const hearth_app_option *options; /**< NULL if none */
    size_t n_options;
    const hearth_app_route *routes;   /**< NULL if none */
    size_t n_routes;

    /** Create the application's state (no threads yet). Required. */
    hearth_status (*open)(const hearth_app_env *env, void **state);
    /** Start its threads. NULL: nothing to start. */
    hearth_status (*start)(void *state);
    /** Stop and join its threads; leave outputs safe (heater off). Idempotent. NULL allowed. */
    void (*stop)(void *state);
    /** Free the state (after stop). Required. */
    void (*close)(void *state);
    /**
     * Post-update self-test: HEARTH_OK if the basic function works, within
     * @p timeout_ms; otherwise an error with a reason (hearth_err), which the
     * administrator sees in the update_selftest_failed event. NULL: nothing
     * beyond the core checks.
     */
    hearth_status (*selftest)(void *state, uint32_t timeout_ms);
    /** Write the state summary, one JSON object, into @p buf (NUL-terminated). */
    hearth_status (*state_json)(void *state, char *buf, size_t cap);

    /** Update notice for a disruptive update (downtime given by its
     *  manifest): what this function does meanwhile. NULL: none. */
    const char *notice_restart;
    /** Update notice for an update that is not disruptive: what the few
     *  seconds of the restart do to this function. NULL: none. */
    const char *notice_live;

    /**
     * Erasure of one user (EN 303 645 5.11-1, shared-use devices): remove
     * everything the application keeps about @p user (records in the store,
     * in-memory state). Called by the core (hearth_apps_erase_user()) when an
     * administrator erases that user, after the account and its sessions are
     * gone; may run on the event loop (one store commit is fine). An error
     * is reported to the administrator and the erasure can be repeated. NULL:
     * the application keeps nothing about users.
     */
    hearth_status (*erase_user)(void *state, const char *user);
    /**
     * Factory reset (EN 303 645 5.11-1): drop every in-memory copy of user
     * data and settings. The core crypto-erases the store itself (the key
     * that protects it is destroyed: docs/erasure.md); the application must
     * not write to the store after this call. Called once, after stop(),
     * before close(). NULL: nothing in memory to drop.
     */
    void (*factory_reset)(void *state);

    /* Personal data sent to the service only under consent (EN 303 645 6-2,
     * 6-3; hearth/privacy.h, docs/privacy.md). All NULL: none. */
    /** The consent purpose the data of share_json needs ("temperature_history"). */
    const char *share_purpose;
    /**
     * Write the records taken after @p after_ms (unix ms), oldest first, at
     * most @p max of them, as one JSON array into @p buf; *@p count: how
     * many; *@p last_ms: the newest one's time (unchanged when none). The
     * runtime calls it only while the purpose's consent is given, and sends
     * only records taken after the consent was given.
     */
    hearth_status (*share_json)(void *state, int64_t after_ms, size_t max, char *buf, size_t cap,
                                size_t *count, int64_t *last_ms);
    /** How many such records the application holds now (GET /api/v1/privacy "holds"). */
    size_t (*share_held)(void *state);
} hearth_app;

/* ------------------------------------------------ the registered applications */

/** The applications of a device with their states (what the core holds). */
typedef struct hearth_apps hearth_apps;

/**
 * Check the tables (names unique and well-formed, routes complete, open and
 * close present) and open every application in order; on a failure the ones
 * opened are closed again. @p options: the option values of every
 * application, concatenated in table order (NULL: none given). @p port: the
 * device's open platform port, handed to every application (NULL: none).
 * The arrays must outlive the result.
 */
hearth_status hearth_apps_open(const hearth_app *const *apps, size_t n, hearth_store *store,
                               pthread_mutex_t *store_lock, hearth_port_dev *port,
                               const char *const *options, hearth_apps **out) HEARTH_MUST_CHECK;
/** Start every application in order; on a failure stop those started. */
hearth_status hearth_apps_start(hearth_apps *a) HEARTH_MUST_CHECK;
/** Stop every application in reverse order. Idempotent. NULL allowed. */
void hearth_apps_stop(hearth_apps *a);
/** Stop, then close every application in reverse order, and free. NULL allowed. */
void hearth_apps_close(hearth_apps *a);

/** Number of applications (0 for NULL). */
size_t hearth_apps_count(const hearth_apps *a);
/** The @p i-th table (NULL if out of range). */
const hearth_app *hearth_apps_app(const hearth_apps *a, size_t i);
/** The @p i-th application's state (NULL if out of range). */
void *hearth_apps_state(const hearth_apps *a, size_t i);

/**
 * Call every application's erase_user hook (those that have one) for
 * @p user, in table order. Every hook runs even after one fails; the first
 * failure is returned (with the application's name in hearth_err_msg()).
 * @p a may be NULL (HEARTH_OK).
 */
hearth_status hearth_apps_erase_user(hearth_apps *a, const char *user) HEARTH_MUST_CHECK;
/**
 * Call every application's factory_reset hook (those that have one), in
 * reverse table order, after stopping them (hearth_apps_stop()). @p a may be
 * NULL.
 */
void hearth_apps_factory_reset(hearth_apps *a);

/** Run every application's self-test in order; the first failure is returned. */
hearth_status hearth_apps_selftest(hearth_apps *a, uint32_t timeout_ms) HEARTH_MUST_CHECK;
/**
 * The update notice (5.3-12): for a disruptive update "Installing restarts
 * the device; expected downtime about N s." followed by each notice_restart;
 * otherwise "Installing restarts the device's software, a pause of a few
 * seconds." followed by each notice_live (every install ends with a
 * restart). @p a may be NULL.
 */
hearth_status hearth_apps_update_notice(const hearth_apps *a, bool disruptive,
                                        uint32_t downtime_s, char *buf,
                                        size_t cap) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
