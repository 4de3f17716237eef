/*
 * libFuzzer harness for the API request layer (EN 303 645 5.13-1, 5.5-4):
 * arbitrary method, path, query, Authorization, Content-Type and body go
 * through hearth_api_handle() on a real provisioned device (created once
 * per process in a temp dir, set up with an admin and a user).
 *
 * Input format (lines separated by '\n'; missing lines are empty):
 *   method \n path[?query] \n authorization \n content-type \n body...
 * In the authorization line "@admin" and "@user" are replaced by
 * "Bearer <token>" of a live session so the fuzzer reaches handlers behind
 * authentication. Checked on every input: no crash (sanitizers), a status in
 * 200..599, a NUL-terminated body of the stated length that parses as JSON,
 * and that nothing but login/setup answers 2xx without a session.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test_api_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static api_fixture fx;
static char admin_authz[96], user_authz[96];
static bool ready;

static void login(const char *user, const char *pw, char *authz, size_t cap)
{
    static hearth_api_response r;
    char body[200];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    hearth_api_request q = {.method = "POST", .path = "/api/v1/login",
                            .content_type = "application/json", .body = (const uint8_t *)body,
                            .body_len = strlen(body), .source = "192.0.2.1"};
    hearth_api_handle(fx.api, &q, &r);
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    snprintf(authz, cap, "Bearer %s", cJSON_IsString(t) ? t->valuestring : "none");
    cJSON_Delete(j);
}

/* Remove the temp device when the process ends. */
static void teardown(void)
{
    api_fixture_close(&fx);
}

static void setup_once(void)
{
    if (ready) return;
    ready = true;
    if (api_fixture_open(&fx) != 0) abort();
    atexit(teardown);
    static hearth_api_response r;
    char body[256];
    snprintf(body, sizeof body,
             "{\"setup_password\":\"%s\",\"username\":\"admin\",\"password\":\"quiet lantern over hills 1\"}",
             fx.setup_pw);
    hearth_api_request q = {.method = "POST", .path = "/api/v1/setup",
                            .content_type = "application/json", .body = (const uint8_t *)body,
                            .body_len = strlen(body), .source = "192.0.2.1"};
    hearth_api_handle(fx.api, &q, &r);
    if (r.status != 200) abort();
    login("admin", "quiet lantern over hills 1", admin_authz, sizeof admin_authz);
    const char *add = "{\"username\":\"fuzzuser\",\"password\":\"amber river under stone 2\",\"role\":\"user\"}";
    hearth_api_request a = {.method = "POST", .path = "/api/v1/users", .authorization = admin_authz,
                            .content_type = "application/json", .body = (const uint8_t *)add,
                            .body_len = strlen(add), .source = "192.0.2.1"};
    hearth_api_handle(fx.api, &a, &r);
    login("fuzzuser", "amber river under stone 2", user_authz, sizeof user_authz);
}

/* Next '\n'-terminated field of @p in as a NUL-terminated copy (bounded). */
static const uint8_t *next_line(const uint8_t *p, const uint8_t *end, char *out, size_t cap)
{
    size_t n = 0;
    while (p < end && *p != '\n') {
        if (n + 1 < cap) out[n++] = (char)*p;
        p++;
    }
    out[n] = '\0';
    return p < end ? p + 1 : p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    static char method[32], target[1024], authz[512], ctype[256];
    static hearth_api_response resp;
    const uint8_t *p = data, *end = data + size;
    p = next_line(p, end, method, sizeof method);
    p = next_line(p, end, target, sizeof target);
    p = next_line(p, end, authz, sizeof authz);
    p = next_line(p, end, ctype, sizeof ctype);
    char *q = strchr(target, '?');
    if (q != NULL) *q++ = '\0';
    const char *auth = authz;
    if (strcmp(authz, "@admin") == 0) auth = admin_authz;
    else if (strcmp(authz, "@user") == 0) auth = user_authz;
    hearth_api_request req = {
        .method = method, .path = target, .query = q,
        .authorization = authz[0] ? auth : NULL,
        .content_type = ctype[0] ? ctype : NULL,
        .body = p, .body_len = (size_t)(end - p), .source = "198.51.100.7",
    };
    hearth_api_handle(fx.api, &req, &resp);

    if (resp.status < 200 || resp.status > 599) abort();
    if (resp.body_len >= sizeof resp.body || resp.body[resp.body_len] != '\0' ||
        strlen(resp.body) != resp.body_len)
        abort();
    if (resp.status != 204) {
        cJSON *j = cJSON_ParseWithLength(resp.body, resp.body_len);
        if (j == NULL) abort();
        cJSON_Delete(j);
    }
    /* No session, no success -- except the public routes. */
    if (req.authorization == NULL && resp.status < 300 && strcmp(target, "/api/v1/login") != 0 &&
        strcmp(target, "/api/v1/setup") != 0)
        abort();
    return 0;
}
