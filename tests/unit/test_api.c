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
    for (size_t i = 0; i < api_route_count(); i++) {
        const hearth_api_route *r = api_route_at(i);
        if (strcmp(r->pattern, "/api/v1/setup") == 0) continue;
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
    for (size_t i = 0; i < api_route_count(); i++) {
        const hearth_api_route *r = api_route_at(i);
        if (r->flags & (HEARTH_ROUTE_PUBLIC | HEARTH_ROUTE_FACTORY)) continue;
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
    for (size_t i = 0; i < api_route_count(); i++) {
        const hearth_api_route *r = api_route_at(i);
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
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
