/*
 * Unit tests of the transport-independent API layer (src/api) over a real
 * provisioned device: factory-default lockdown, authentication and roles,
 * strict input validation with unchanged state, rate limiting, and that
 * every registered route is documented in docs/openapi.yaml.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "api/api_internal.h"
#include "test_api_fixture.h"

static api_fixture fx;
static hearth_api_response resp;
static char admin_token[HEARTH_TOKEN_STR_MAX];
static char user_token[HEARTH_TOKEN_STR_MAX];
static const char ADMIN_PW[] = "correct horse battery staple 7";
static const char USER_PW[] = "plain user passphrase 42";

/* One request; @p token may be NULL, @p body NULL for none. */
static int call(const char *method, const char *path, const char *token, const char *body,
                const char *source)
{
    char authz[128] = "";
    if (token != NULL) snprintf(authz, sizeof authz, "Bearer %s", token);
    hearth_api_request r = {
        .method = method,
        .path = path,
        .query = NULL,
        .authorization = token ? authz : NULL,
        .content_type = body ? "application/json" : NULL,
        .body = (const uint8_t *)body,
        .body_len = body ? strlen(body) : 0,
        .source = source ? source : "10.0.0.1",
    };
    const char *q = strchr(path, '?');
    char p[512];
    if (q != NULL) {
        snprintf(p, sizeof p, "%.*s", (int)(q - path), path);
        r.path = p;
        r.query = q + 1;
    }
    hearth_api_handle(fx.api, &r, &resp);
    assert_true(resp.body_len == strlen(resp.body));
    return resp.status;
}

/* The value of a top-level string field of the last response ("" if none). */
static const char *field(const char *name)
{
    static char out[256];
    out[0] = '\0';
    cJSON *j = cJSON_Parse(resp.body);
    assert_non_null(j); /* every answer is JSON */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (cJSON_IsString(v)) snprintf(out, sizeof out, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) snprintf(out, sizeof out, "%g", v->valuedouble);
    cJSON_Delete(j);
    return out;
}

static int group_setup(void **state)
{
    (void)state;
    return api_fixture_open(&fx);
}

static int group_teardown(void **state)
{
    (void)state;
    api_fixture_close(&fx);
    return 0;
}

/* Runs first: everything but setup is refused in the factory-default state. */
static void test_5_5_4_factory_default_only_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < api_route_count(fx.api); i++) {
        const hearth_api_route *r = api_route_at(fx.api, i);
        if (strcmp(r->pattern, "/api/v1/setup") == 0) continue;
        if (r->flags & HEARTH_ROUTE_OPEN) continue; /* public documents: unit.disclosure */
        char path[128];
        snprintf(path, sizeof path, "%s", r->pattern);
        char *brace = strchr(path, '{');
        if (brace != NULL) memcpy(brace, "x/", 2), memmove(brace + 1, strchr(r->pattern, '}') + 1,
                                                          strlen(strchr(r->pattern, '}') + 1) + 1);
        assert_int_equal(call(r->method, path, NULL, "{}", NULL), 409);
        assert_string_equal(field("error"), "setup_required");
        assert_null(strstr(resp.body, hearth_device_serial(fx.dev)));
        assert_null(strstr(resp.body, hearth_version()));
    }
    /* Wrong setup password, weak password: refused, still factory default. */
    char body[512];
    snprintf(body, sizeof body,
             "{\"setup_password\":\"AAAA-BBBB-CCCC-DDDD\",\"username\":\"admin\",\"password\":\"%s\"}",
             ADMIN_PW);
    assert_int_equal(call("POST", "/api/v1/setup", NULL, body, NULL), 401);
    snprintf(body, sizeof body,
             "{\"setup_password\":\"%s\",\"username\":\"admin\",\"password\":\"password\"}",
             fx.setup_pw);
    assert_int_equal(call("POST", "/api/v1/setup", NULL, body, NULL), 422);
    assert_string_equal(field("error"), "weak_password");
    assert_false(hearth_auth_initialized(fx.auth));
    /* Success, then the setup password is dead. */
    snprintf(body, sizeof body,
             "{\"setup_password\":\"%s\",\"username\":\"admin\",\"password\":\"%s\"}",
             fx.setup_pw, ADMIN_PW);
    assert_int_equal(call("POST", "/api/v1/setup", NULL, body, NULL), 200);
    assert_true(hearth_auth_initialized(fx.auth));
    assert_int_equal(call("POST", "/api/v1/setup", NULL, body, NULL), 409);
    assert_string_equal(field("error"), "already_set_up");

    snprintf(body, sizeof body, "{\"username\":\"admin\",\"password\":\"%s\"}", ADMIN_PW);
    assert_int_equal(call("POST", "/api/v1/login", NULL, body, NULL), 200);
    snprintf(admin_token, sizeof admin_token, "%s", field("token"));
    assert_string_equal(field("role"), "admin");
    assert_int_equal(strlen(admin_token), 43);

    snprintf(body, sizeof body, "{\"username\":\"bob\",\"password\":\"%s\",\"role\":\"user\"}",
             USER_PW);
    assert_int_equal(call("POST", "/api/v1/users", admin_token, body, NULL), 201);
    snprintf(body, sizeof body, "{\"username\":\"bob\",\"password\":\"%s\"}", USER_PW);
    assert_int_equal(call("POST", "/api/v1/login", NULL, body, NULL), 200);
    snprintf(user_token, sizeof user_token, "%s", field("token"));
}

static void test_5_5_4_every_route_needs_a_session(void **state)
{
    (void)state;
    for (size_t i = 0; i < api_route_count(fx.api); i++) {
        const hearth_api_route *r = api_route_at(fx.api, i);
        if (r->flags & (HEARTH_ROUTE_PUBLIC | HEARTH_ROUTE_FACTORY | HEARTH_ROUTE_OPEN)) continue;
        char path[128];
        snprintf(path, sizeof path, "%s", r->pattern);
        char *brace = strchr(path, '{');
        if (brace != NULL) snprintf(brace, sizeof path - (size_t)(brace - path), "bob%s",
                                    strchr(r->pattern, '}') + 1);
        assert_int_equal(call(r->method, path, NULL, "{}", NULL), 401);
        assert_true(resp.www_authenticate);
        assert_int_equal(call(r->method, path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{}", NULL), 401);
        assert_int_equal(call(r->method, path, "bad token!", "{}", NULL), 401);
        if (r->flags & HEARTH_ROUTE_ADMIN) {
            assert_int_equal(call(r->method, path, user_token, "{}", NULL), 403);
            assert_string_equal(field("error"), "forbidden");
        }
    }
    /* Login is the only public route, and wrong credentials look alike. */
    assert_int_equal(call("POST", "/api/v1/login", NULL,
                          "{\"username\":\"nobody\",\"password\":\"wrong one\"}", "10.1.0.1"), 401);
    char unknown_body[HEARTH_API_RESP_MAX];
    snprintf(unknown_body, sizeof unknown_body, "%s", resp.body);
    assert_int_equal(call("POST", "/api/v1/login", NULL,
                          "{\"username\":\"admin\",\"password\":\"wrong one\"}", "10.1.0.2"), 401);
    assert_string_equal(unknown_body, resp.body);
}

static void test_5_6_2_device_info_only_after_login(void **state)
{
    (void)state;
    assert_int_equal(call("GET", "/api/v1/device", NULL, NULL, NULL), 401);
    assert_null(strstr(resp.body, "HT-100"));
    assert_null(strstr(resp.body, hearth_version()));
    assert_int_equal(call("GET", "/api/v1/device", user_token, NULL, NULL), 200);
    assert_string_equal(field("model"), "HT-100"); /* 5.3-16 */
    assert_string_equal(field("serial"), hearth_device_serial(fx.dev));
    assert_string_equal(field("software_version"), hearth_version());
    assert_string_equal(field("certificate_fingerprint"), hearth_device_fingerprint(fx.dev));
}

static void thermo_target(double *t, const char **mode)
{
    hearth_thermo_status s;
    hearth_thermo_get(fx.thermo, &s);
    *t = s.target_c;
    *mode = hearth_thermo_mode_name(s.mode);
}

static void test_5_13_1_invalid_bodies_change_nothing(void **state)
{
    (void)state;
    assert_int_equal(call("PUT", "/api/v1/thermostat", user_token, "{\"target_c\":21.5,\"mode\":\"heat\"}", NULL), 200);
    static const struct {
        const char *body;
        int status;
        const char *field;
    } cases[] = {
        {"{\"target_c\":30.01}", 422, "target_c"},
        {"{\"target_c\":4.99}", 422, "target_c"},
        {"{\"target_c\":\"22\"}", 422, "target_c"},
        {"{\"target_c\":null}", 422, "target_c"},
        {"{\"mode\":\"cool\"}", 422, "mode"},
        {"{\"mode\":\"off\",\"x\":1}", 422, "x"},
        {"{}", 422, "target_c"},
        {"{\"target_c\":22", 400, NULL},
        {"[1]", 400, NULL},
        {"", 400, NULL},
        {"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":1}}}}}", 400, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(call("PUT", "/api/v1/thermostat", user_token, cases[i].body, NULL),
                         cases[i].status);
        if (cases[i].field) assert_string_equal(field("field"), cases[i].field);
        assert_true(field("message")[0] != '\0');
        double t;
        const char *m;
        thermo_target(&t, &m);
        assert_true(t == 21.5);
        assert_string_equal(m, "heat");
    }
    /* Wrong media type, oversized body. */
    hearth_api_request r = {.method = "PUT", .path = "/api/v1/thermostat",
                            .authorization = NULL, .content_type = "text/plain",
                            .body = (const uint8_t *)"{\"target_c\":22}", .body_len = 15,
                            .source = "10.0.0.1"};
    char authz[80];
    snprintf(authz, sizeof authz, "Bearer %s", user_token);
    r.authorization = authz;
    hearth_api_handle(fx.api, &r, &resp);
    assert_int_equal(resp.status, 415);
    static char big[HEARTH_JSON_BODY_MAX + 10];
    memset(big, ' ', sizeof big);
    r.content_type = "application/json; charset=utf-8";
    r.body = (const uint8_t *)big;
    r.body_len = sizeof big;
    hearth_api_handle(fx.api, &r, &resp);
    assert_int_equal(resp.status, 413);
    /* Valid change goes through. */
    assert_int_equal(call("PUT", "/api/v1/thermostat", user_token, "{\"mode\":\"off\"}", NULL), 200);
    assert_string_equal(field("mode"), "off");
}

static void test_5_13_1_routing(void **state)
{
    (void)state;
    assert_int_equal(call("GET", "/api/v1/nothing", admin_token, NULL, NULL), 404);
    assert_int_equal(call("GET", "/api/v1/thermostat/", admin_token, NULL, NULL), 404);
    assert_int_equal(call("GET", "/api/v1/users/a/b/c", admin_token, NULL, NULL), 404);
    assert_int_equal(call("DELETE", "/api/v1/thermostat", admin_token, NULL, NULL), 405);
    assert_string_equal(resp.allow, "GET, PUT");
    assert_int_equal(call("GET", "/api/v1/thermostat?x=1", admin_token, NULL, NULL), 400);
    assert_int_equal(call("GET", "/api/v1/events?limit=5", admin_token, NULL, NULL), 200);
    assert_int_equal(call("GET", "/api/v1/events?limit=65", admin_token, NULL, NULL), 422);
    assert_int_equal(call("DELETE", "/api/v1/users/BAD", admin_token, NULL, NULL), 422);
    assert_int_equal(call("DELETE", "/api/v1/users/admin", admin_token, NULL, NULL), 409);
    char longpath[600];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    assert_int_equal(call("GET", longpath, admin_token, NULL, NULL), 404);
    assert_false(hearth_api_is_slow(fx.api, "GET", "/api/v1/thermostat"));
    assert_true(hearth_api_is_slow(fx.api, "POST", "/api/v1/login"));
    assert_true(hearth_api_is_slow(fx.api, "PUT", "/api/v1/users/bob/password"));
}

static void test_5_1_5_login_delay_after_failures(void **state)
{
    (void)state;
    int st = 0;
    int n = 0;
    for (n = 1; n <= 8; n++) {
        st = call("POST", "/api/v1/login", NULL,
                  "{\"username\":\"admin\",\"password\":\"guess guess\"}", "10.9.9.9");
        if (st == 429) break;
        assert_int_equal(st, 401);
    }
    assert_int_equal(st, 429);
    assert_true(n >= 2 && n <= 6);
    assert_true(resp.retry_after >= 1);
    assert_string_equal(field("error"), "locked");
    /* Even the right password is refused while locked. */
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"admin\",\"password\":\"%s\"}", ADMIN_PW);
    assert_int_equal(call("POST", "/api/v1/login", NULL, body, "10.9.9.9"), 429);
}

static void test_5_5_5_logout_and_password_change(void **state)
{
    (void)state;
    char body[256], t2[HEARTH_TOKEN_STR_MAX];
    snprintf(body, sizeof body, "{\"username\":\"bob\",\"password\":\"%s\"}", USER_PW);
    assert_int_equal(call("POST", "/api/v1/login", NULL, body, NULL), 200);
    snprintf(t2, sizeof t2, "%s", field("token"));
    snprintf(body, sizeof body,
             "{\"old_password\":\"%s\",\"new_password\":\"a brand new passphrase 8\"}", USER_PW);
    assert_int_equal(call("POST", "/api/v1/password", user_token, body, NULL), 200);
    assert_int_equal(call("GET", "/api/v1/thermostat", t2, NULL, NULL), 401);
    assert_int_equal(call("GET", "/api/v1/thermostat", user_token, NULL, NULL), 200);
    assert_int_equal(call("POST", "/api/v1/logout", user_token, NULL, NULL), 200);
    assert_int_equal(call("GET", "/api/v1/thermostat", user_token, NULL, NULL), 401);
}

/* Every route is in docs/openapi.yaml with its method, so the integration
 * test that derives its endpoint list from the file covers all of them. */
static void test_5_5_4_every_route_documented(void **state)
{
    (void)state;
    const char *src = getenv("HEARTH_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/openapi.yaml", src ? src : ".");
    uint8_t *doc = NULL;
    size_t len = 0;
    assert_int_equal(hearth_fs_read_file(path, 1 << 20, &doc, &len), HEARTH_OK);
    for (size_t i = 0; i < api_route_count(fx.api); i++) {
        const hearth_api_route *r = api_route_at(fx.api, i);
        char key[160];
        snprintf(key, sizeof key, "\n  %s:\n", r->pattern);
        const char *at = strstr((const char *)doc, key);
        if (at == NULL) fail_msg("route %s %s is not documented in openapi.yaml", r->method, r->pattern);
        /* The method appears as "    get:" before the next path entry. */
        char m[16];
        size_t ml = strlen(r->method);
        for (size_t k = 0; k <= ml; k++) m[k] = (char)(r->method[k] >= 'A' && r->method[k] <= 'Z' ? r->method[k] + 32 : r->method[k]);
        char mkey[32];
        snprintf(mkey, sizeof mkey, "\n    %s:", m);
        const char *next = strstr(at + strlen(key), "\n  /");
        const char *mat = strstr(at, mkey);
        if (mat == NULL || (next != NULL && mat > next))
            fail_msg("route %s %s: method not documented", r->method, r->pattern);
    }
    free(doc);
}

/* GET /api/v1/apps: every registered application with its own state
 * summary; the thermostat's is the object GET /api/v1/thermostat serves. */
/* bob logs in again (test_5_5_5 changed his password and logged out). */
static void bob_login(char token[HEARTH_TOKEN_STR_MAX])
{
    assert_int_equal(call("POST", "/api/v1/login", NULL,
                          "{\"username\":\"bob\",\"password\":\"a brand new passphrase 8\"}",
                          "10.0.0.9"),
                     200);
    snprintf(token, HEARTH_TOKEN_STR_MAX, "%s", field("token"));
}

static void test_5_6_2_apps_listed_after_login(void **state)
{
    (void)state;
    bob_login(user_token);
    assert_int_equal(call("GET", "/api/v1/apps", NULL, NULL, NULL), 401);
    assert_null(strstr(resp.body, "thermostat"));
    assert_int_equal(call("GET", "/api/v1/thermostat", user_token, NULL, NULL), 200);
    cJSON *thermo = cJSON_Parse(resp.body);
    assert_non_null(thermo);
    assert_int_equal(call("GET", "/api/v1/apps", user_token, NULL, NULL), 200);
    cJSON *doc = cJSON_Parse(resp.body);
    assert_non_null(doc);
    const cJSON *apps = cJSON_GetObjectItemCaseSensitive(doc, "apps");
    assert_int_equal(cJSON_GetArraySize(apps), 1);
    const cJSON *a = cJSON_GetArrayItem(apps, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "name")->valuestring, "thermostat");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "display_name")->valuestring,
                        "Thermostat");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(a, "state");
    /* current_c moves with the control loop; the settings must agree. */
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(st, "target_c"),
                              cJSON_GetObjectItemCaseSensitive(thermo, "target_c"), true));
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(st, "mode"),
                              cJSON_GetObjectItemCaseSensitive(thermo, "mode"), true));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(st, "current_c")));
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(st, "heating")));
    cJSON_Delete(doc);
    cJSON_Delete(thermo);
}

/* A second, test-only application: an admin route answering with the
 * caller's name and role through the public request API. */
static void probe_route(hearth_req *r, void *state)
{
    hearth_req_reply_begin(r, 200);
    hearth_req_out(r, "{\"user\":");
    hearth_req_out_str(r, hearth_req_user(r));
    hearth_req_out(r, ",\"admin\":%s,\"state\":%d}",
                   hearth_req_role(r) == HEARTH_ROLE_ADMIN ? "true" : "false", *(int *)state);
    hearth_req_reply_end(r);
}
static int probe_value = 7;
static hearth_status probe_open(const hearth_app_env *env, void **state)
{
    (void)env;
    *state = &probe_value;
    return HEARTH_OK;
}
static void probe_close(void *state)
{
    (void)state;
}
static hearth_status probe_state(void *state, char *buf, size_t cap)
{
    snprintf(buf, cap, "{\"value\":%d}", *(int *)state);
    return HEARTH_OK;
}

static void test_5_5_4_app_routes_registered_through_the_core(void **state)
{
    (void)state;
    static const hearth_app_route probe_routes[] = {
        {"GET", "/api/v1/probe", HEARTH_ROLE_ADMIN, probe_route}};
    static const hearth_app probe = {.name = "probe", .display_name = "Probe",
                                     .routes = probe_routes, .n_routes = 1,
                                     .open = probe_open, .close = probe_close,
                                     .state_json = probe_state};
    static const hearth_app_route taken_routes[] = {
        {"GET", "/api/v1/device", HEARTH_ROLE_USER, probe_route}};
    hearth_app taken = probe; /* the same application on a path the core serves */
    taken.name = "taken";
    taken.routes = taken_routes;
    hearth_apps *set = NULL;
    hearth_api *api2 = NULL;
    hearth_api_config cfg = {.auth = fx.auth};

    /* Two applications with one name, and a route the core already serves. */
    const hearth_app *const twice[] = {&probe, &probe};
    assert_int_equal(hearth_apps_open(twice, 2, NULL, NULL, NULL, NULL, &set), HEARTH_ERR_EXISTS);
    assert_null(set);
    const hearth_app *const clash[] = {&taken};
    assert_int_equal(hearth_apps_open(clash, 1, NULL, NULL, NULL, NULL, &set), HEARTH_OK);
    cfg.apps = set;
    assert_int_equal(hearth_api_create(&cfg, &api2), HEARTH_ERR_EXISTS);
    assert_null(api2);
    hearth_apps_close(set);

    /* The probe: the core authenticates and checks the role first. */
    const hearth_app *const one[] = {&probe};
    assert_int_equal(hearth_apps_open(one, 1, NULL, NULL, NULL, NULL, &set), HEARTH_OK);
    cfg.apps = set;
    assert_int_equal(hearth_api_create(&cfg, &api2), HEARTH_OK);
    hearth_api *saved = fx.api;
    bob_login(user_token);
    fx.api = api2;
    assert_int_equal(call("GET", "/api/v1/probe", NULL, NULL, NULL), 401);
    assert_int_equal(call("GET", "/api/v1/probe", user_token, NULL, NULL), 403);
    assert_int_equal(call("GET", "/api/v1/probe?x=1", admin_token, NULL, NULL), 400);
    assert_int_equal(call("POST", "/api/v1/probe", admin_token, "{}", NULL), 405);
    assert_int_equal(call("GET", "/api/v1/probe", admin_token, NULL, NULL), 200);
    assert_string_equal(resp.body, "{\"user\":\"admin\",\"admin\":true,\"state\":7}");
    assert_int_equal(call("GET", "/api/v1/apps", user_token, NULL, NULL), 200);
    assert_string_equal(resp.body, "{\"apps\":[{\"name\":\"probe\",\"display_name\":"
                                   "\"Probe\",\"state\":{\"value\":7}}]}");
    assert_int_equal(call("GET", "/api/v1/thermostat", user_token, NULL, NULL), 404);
    fx.api = saved;
    hearth_api_destroy(api2);
    hearth_apps_close(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_5_4_factory_default_only_setup),
        cmocka_unit_test(test_5_5_4_every_route_needs_a_session),
        cmocka_unit_test(test_5_6_2_device_info_only_after_login),
        cmocka_unit_test(test_5_13_1_invalid_bodies_change_nothing),
        cmocka_unit_test(test_5_13_1_routing),
        cmocka_unit_test(test_5_1_5_login_delay_after_failures),
        cmocka_unit_test(test_5_5_5_logout_and_password_change),
        cmocka_unit_test(test_5_5_4_every_route_documented),
        cmocka_unit_test(test_5_6_2_apps_listed_after_login),
        /* Last: a second API replaces the event hook of the first. */
        cmocka_unit_test(test_5_5_4_app_routes_registered_through_the_core),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
