/* The thermostat as a Hearth application (include/hearth/app.h): its
 * command-line options, its HTTP routes (GET/PUT /api/v1/thermostat, any
 * logged-in user), its post-update self-test (the control loop is ticking),
 * its state summary and its sentences for the update notice. The control
 * loop itself is thermostat.c; docs/thermostat.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hearth/thermostat.h"
#include "hearth/util.h"
#include "thermo_history.h"

typedef struct {
    hearth_thermo *thermo;
    pthread_mutex_t *store_lock; /* held around hearth_thermo_set's store commit */
    thermo_history history;      /* history.c: bounded, in memory only */
} thermo_app;

/* ---------------------------------------------------------------- state */

static hearth_status app_state_json(void *state, char *buf, size_t cap)
{
    thermo_app *a = state;
    hearth_thermo_status s;
    hearth_thermo_get(a->thermo, &s);
    int n = snprintf(buf, cap, "{\"current_c\":%.2f,\"target_c\":%.2f,\"mode\":\"%s\",\"heating\":%s}",
                     isfinite(s.current_c) ? s.current_c : 0.0, s.target_c,
                     hearth_thermo_mode_name(s.mode), s.heating ? "true" : "false");
    if (n < 0 || (size_t)n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "thermostat: state");
    return HEARTH_OK;
}

/* --------------------------------------------------------------- routes */

static void reply_state(hearth_req *r, thermo_app *a)
{
    char json[HEARTH_APP_STATE_MAX];
    hearth_status st = app_state_json(a, json, sizeof json);
    if (st != HEARTH_OK) {
        hearth_req_error_status(r, st, 0);
        return;
    }
    hearth_req_reply_json(r, 200, json);
}

static void route_get(hearth_req *r, void *state)
{
    reply_state(r, state);
}

static const char *const mode_names[] = {"off", "heat", NULL};

static void route_put(hearth_req *r, void *state)
{
    thermo_app *a = state;
    static const hearth_json_field schema[] = {
        {.name = "target_c", .type = HEARTH_JSON_NUMBER, .required = false,
         .min = HEARTH_TARGET_MIN_C, .max = HEARTH_TARGET_MAX_C},
        {.name = "mode", .type = HEARTH_JSON_STRING, .required = false, .min_len = 1,
         .max_len = 8, .enum_values = mode_names},
    };
    hearth_json_value v[2];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(r, schema, 2, v, &doc)) return;
    if (!v[0].present && !v[1].present) {
        hearth_req_error(r, 422, "invalid_field", "target_c",
                         "give at least one of target_c (%.0f..%.0f) or mode (off, heat)",
                         HEARTH_TARGET_MIN_C, HEARTH_TARGET_MAX_C);
        hearth_json_doc_free(doc);
        return;
    }
    double target = v[0].num;
    hearth_thermo_mode mode = HEARTH_MODE_HEAT;
    if (v[1].present && hearth_thermo_mode_parse(v[1].str, &mode) != HEARTH_OK) {
        hearth_req_error(r, 422, "invalid_field", "mode", "mode must be one of: off, heat");
        hearth_json_doc_free(doc);
        return;
    }
    if (a->store_lock != NULL) pthread_mutex_lock(a->store_lock);
    hearth_status st = hearth_thermo_set(a->thermo, v[0].present ? &target : NULL,
                                         v[1].present ? &mode : NULL);
    if (a->store_lock != NULL) pthread_mutex_unlock(a->store_lock);
    hearth_json_doc_free(doc);
    if (st == HEARTH_ERR_RANGE) {
        hearth_req_error(r, 422, "invalid_field", "target_c",
                         "target_c must be between %.0f and %.0f", HEARTH_TARGET_MIN_C,
                         HEARTH_TARGET_MAX_C);
        return;
    }
    if (st != HEARTH_OK) {
        hearth_req_error_status(r, st, 0);
        return;
    }
    hearth_seclog(HEARTH_SEV_INFO, "thermostat_changed", "user", hearth_req_user(r), NULL);
    reply_state(r, a);
}

/* The temperature history the device holds (docs/privacy.md): every user
 * of the device may see it; it reaches the service only with consent. */
static void route_history(hearth_req *r, void *state)
{
    thermo_app *a = state;
    static char buf[THERMO_HISTORY_MAX * 40 + 64];
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    size_t n = 0;
    hearth_status st = thermo_history_json(&a->history, 0, THERMO_HISTORY_MAX, buf, sizeof buf, &n, NULL);
    if (st != HEARTH_OK) {
        pthread_mutex_unlock(&mu);
        hearth_req_error_status(r, st, 0);
        return;
    }
    hearth_req_reply_begin(r, 200);
    hearth_req_out(r, "{\"interval_s\":%u,\"max\":%d,\"samples\":%s}", a->history.interval_s,
                   THERMO_HISTORY_MAX, buf);
    hearth_req_reply_end(r);
    pthread_mutex_unlock(&mu);
}

static const hearth_app_route routes[] = {
    {"GET", "/api/v1/thermostat", HEARTH_ROLE_USER, route_get},
    {"GET", "/api/v1/thermostat/history", HEARTH_ROLE_USER, route_history},
    {"PUT", "/api/v1/thermostat", HEARTH_ROLE_USER, route_put},
};

/* ------------------------------------------------------------ lifecycle */

/* hearthd's options for the thermostat; their values arrive in this order. */
enum { OPT_HEARTBEAT, OPT_HISTORY_INTERVAL, N_OPTS };
static const hearth_app_option options[N_OPTS] = {
    [OPT_HEARTBEAT] = {"--heartbeat", "FILE", "write \"<epoch_ms> <heating>\" to FILE every control tick"},
    [OPT_HISTORY_INTERVAL] = {"--history-interval", "SECONDS",
                              "sample the temperature history every SECONDS (1..3600, default 300)"},
};

static hearth_status app_open(const hearth_app_env *env, void **state)
{
    thermo_app *a = calloc(1, sizeof *a);
    if (a == NULL) return hearth_err(HEARTH_ERR_NOMEM, "thermostat: out of memory");
    hearth_thermo_config cfg;
    hearth_thermo_config_default(&cfg);
    cfg.port = env->port;
    uint32_t interval = THERMO_HISTORY_INTERVAL_S;
    if (env->options != NULL) {
        cfg.heartbeat_path = env->options[OPT_HEARTBEAT];
        const char *hi = env->options[OPT_HISTORY_INTERVAL];
        if (hi != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(hi, &end, 10);
            if (hi[0] < '0' || hi[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > 3600) {
                free(a);
                return hearth_err(HEARTH_ERR_INVALID, "thermostat: --history-interval must be 1..3600 seconds");
            }
            interval = (uint32_t)v;
        }
    }
    a->store_lock = env->store_lock;
    if (a->store_lock != NULL) pthread_mutex_lock(a->store_lock);
    hearth_status st = hearth_thermo_open(env->store, &cfg, &a->thermo);
    if (a->store_lock != NULL) pthread_mutex_unlock(a->store_lock);
    if (st != HEARTH_OK) {
        free(a);
        return st;
    }
    thermo_history_init(&a->history, a->thermo, interval);
    *state = a;
    return HEARTH_OK;
}

static hearth_status app_start(void *state)
{
    thermo_app *a = state;
    HEARTH_GUARD(hearth_thermo_start(a->thermo));
    hearth_status st = thermo_history_start(&a->history);
    if (st != HEARTH_OK) hearth_thermo_stop(a->thermo);
    return st;
}

static void app_stop(void *state)
{
    thermo_app *a = state;
    thermo_history_stop(&a->history);
    hearth_thermo_stop(a->thermo);
}

static void app_close(void *state)
{
    thermo_app *a = state;
    if (a == NULL) return;
    thermo_history_stop(&a->history);
    thermo_history_destroy(&a->history);
    hearth_thermo_close(a->thermo);
    hearth_memzero(a, sizeof *a);
    free(a);
}

static hearth_status app_share_json(void *state, int64_t after_ms, size_t max, char *buf, size_t cap,
                                    size_t *count, int64_t *last_ms)
{
    return thermo_history_json(&((thermo_app *)state)->history, after_ms, max, buf, cap, count, last_ms);
}

static size_t app_share_held(void *state)
{
    return thermo_history_count(&((thermo_app *)state)->history);
}

/* Factory reset (app.h): the history in memory goes with the store. */
static void app_factory_reset(void *state)
{
    thermo_history_clear(&((thermo_app *)state)->history);
}

/* Post-update self-test: the control loop must complete a step in time. */
static hearth_status app_selftest(void *state, uint32_t timeout_ms)
{
    hearth_thermo *th = ((thermo_app *)state)->thermo;
    hearth_thermo_status before, now;
    hearth_thermo_get(th, &before);
    int64_t deadline = hearth_mono_ms() + timeout_ms;
    do {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        hearth_thermo_get(th, &now);
        if (now.ticks > before.ticks) return HEARTH_OK;
    } while (hearth_mono_ms() < deadline);
    return hearth_err(HEARTH_ERR_STATE, "thermostat not ticking");
}

hearth_thermo *hearth_thermostat_app_thermo(void *state)
{
    return state != NULL ? ((thermo_app *)state)->thermo : NULL;
}

const hearth_app hearth_thermostat_app = {
    .name = "thermostat", .display_name = "Thermostat",
    .options = options, .n_options = N_OPTS,
    .routes = routes, .n_routes = sizeof routes / sizeof routes[0],
    /* lifecycle (app.h: open, start, stop, close) */
    .open = app_open, .start = app_start, .stop = app_stop, .close = app_close,
    .selftest = app_selftest,     /* the control loop is ticking */
    .state_json = app_state_json, /* the GET /api/v1/thermostat object */
    /* update notice (5.3-12): every install ends with a restart, during
     * which nothing controls the heater, so it is off (thermostat.md) */
    .notice_restart = "The thermostat keeps heating control during the download; while the device "
                      "restarts the heater is off, then control resumes with the same target.",
    .notice_live = "The heater is off during the restart, then control resumes with the same "
                   "target.",
    /* personal data under consent: the temperature history (history.c) */
    .share_purpose = "temperature_history",
    .share_json = app_share_json,
    .share_held = app_share_held,
    /* erasure (contract A): nothing is kept per user; the history is the room's */
    .factory_reset = app_factory_reset,
};
