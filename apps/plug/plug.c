/* The smart plug as a Hearth application (include/hearth/app.h): routes,
 * self-test, state summary and update-notice sentences. The state and the
 * relay are plug_state.c; docs/plug.md. */
#include <stdio.h>
#include <string.h>

#include "hearth/util.h"
#include "plug_internal.h"

/* ---------------------------------------------------------------- state */

static hearth_status plug_state_json(void *state, char *buf, size_t cap)
{
    plug_status s;
    plug_get(state, &s);
    char power[32] = "null";
    if (s.power_ok) snprintf(power, sizeof power, "%.2f", s.power_w);
    int n = snprintf(buf, cap, "{\"on\":%s,\"power_w\":%s,\"power_on\":\"%s\"}",
                     s.on ? "true" : "false", power, plug_power_on_names[s.power_on]);
    if (n < 0 || (size_t)n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "plug: state");
    return HEARTH_OK;
}

/* --------------------------------------------------------------- routes */

/* Answer with the state summary, or with why there is none. */
static void answer(hearth_req *r, void *state, hearth_status st)
{
    char json[HEARTH_APP_STATE_MAX];
    if (st == HEARTH_OK) st = plug_state_json(state, json, sizeof json);
    if (st != HEARTH_OK) {
        hearth_req_error_status(r, st, 0);
        return;
    }
    hearth_req_reply_begin(r, 200);
    hearth_req_out(r, "%s", json);
    hearth_req_reply_end(r);
}

static void route_get(hearth_req *r, void *state)
{
    answer(r, state, HEARTH_OK);
}

static void route_put(hearth_req *r, void *state)
{
    static const hearth_json_field schema[] = {
        {.name = "on", .type = HEARTH_JSON_BOOL, .required = true},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(r, schema, 1, v, &doc)) return;
    bool on = v[0].b;
    hearth_json_doc_free(doc);
    hearth_status st = plug_switch(state, on);
    if (st == HEARTH_OK)
        hearth_seclog(HEARTH_SEV_INFO, "plug_switched", "user", hearth_req_user(r), "on",
                      on ? "true" : "false", NULL);
    answer(r, state, st);
}

static void route_settings(hearth_req *r, void *state)
{
    static const hearth_json_field schema[] = {
        {.name = "power_on", .type = HEARTH_JSON_STRING, .required = true, .min_len = 2,
         .max_len = 4, .enum_values = plug_power_on_names},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    if (!hearth_req_parse_json(r, schema, 1, v, &doc)) return;
    plug_power_on po = PLUG_POWER_ON_LAST;
    for (int i = 0; plug_power_on_names[i] != NULL; i++)
        if (strcmp(v[0].str, plug_power_on_names[i]) == 0) po = (plug_power_on)i;
    hearth_json_doc_free(doc);
    hearth_status st = plug_set_power_on(state, po);
    if (st == HEARTH_OK)
        hearth_seclog(HEARTH_SEV_INFO, "plug_settings_changed", "user", hearth_req_user(r),
                      "power_on", plug_power_on_names[po], NULL);
    answer(r, state, st);
}

static const hearth_app_route routes[] = {
    {"GET", "/api/v1/plug", HEARTH_ROLE_USER, route_get},
    {"PUT", "/api/v1/plug", HEARTH_ROLE_USER, route_put},
    {"PUT", "/api/v1/plug/settings", HEARTH_ROLE_ADMIN, route_settings},
};

/* ------------------------------------------------------------ lifecycle */

static hearth_status plug_app_open(const hearth_app_env *env, void **state)
{
    return plug_open(env->port, env->store, env->store_lock, (plug **)state);
}

static hearth_status plug_app_start(void *state)
{
    return plug_power_up(state);
}

static void plug_app_stop(void *state)
{
    plug_power_down(state);
}

static void plug_app_close(void *state)
{
    plug_close(state);
}

static hearth_status plug_selftest(void *state, uint32_t timeout_ms)
{
    (void)timeout_ms; /* two driver calls; nothing to wait for */
    return plug_check(state);
}

const hearth_app hearth_plug_app = {
    .name = "plug",
    .display_name = "Smart plug",
    .routes = routes,
    .n_routes = sizeof routes / sizeof routes[0],
    .open = plug_app_open,
    .start = plug_app_start,
    .stop = plug_app_stop,
    .close = plug_app_close,
    .selftest = plug_selftest,
    .state_json = plug_state_json,
    .notice_restart = "The plug switches off while the device restarts and then takes its "
                      "power-on state.",
    .notice_live = "The plug switches off during the restart and then takes its power-on state.",
};
