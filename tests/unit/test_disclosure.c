/*
 * The manufacturer's disclosure configuration and security.txt
 * (include/hearth/disclosure.h, src/api/routes_disclosure.c): the built-in
 * configuration parses; hostile or mistaken configuration files are refused
 * with the line at fault; security.txt carries every field RFC 9116 needs;
 * an expired security.txt is refused by the library and by the device's
 * route (503 security_txt_expired, the security event logged once), in the
 * factory-default state too, while a fresh one is served as text/plain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "api/api_internal.h"
#include "hearth/disclosure.h"
#include "test_api_fixture.h"

static const char good[] =
    "# comment\n"
    "manufacturer = Example Devices GmbH\n"
    "contact = mailto:psirt@example.com\n"
    "contact = https://example.com/report\n"
    "policy = https://example.com/policy\n"
    "canonical = https://example.com/.well-known/security.txt\n"
    "encryption = https://example.com/pgp.asc\n"
    "preferred_languages = en, de-AT\n"
    "support_until = 2032-02-29\n"
    "expires_days = 30\n";

static void test_builtin_parses(void **st)
{
    (void)st;
    hearth_manufacturer m;
    assert_int_equal(hearth_manufacturer_builtin(&m), HEARTH_OK);
    assert_true(m.n_contact >= 1);
    assert_true(m.built > 1700000000);
    assert_true(m.expires_days >= 1 && m.expires_days <= 365);
    assert_true(hearth_manufacturer_support_end(&m) > m.built);
}

static void test_parse_good(void **st)
{
    (void)st;
    hearth_manufacturer m;
    assert_int_equal(hearth_manufacturer_parse(good, strlen(good), &m), HEARTH_OK);
    assert_string_equal(m.manufacturer, "Example Devices GmbH");
    assert_int_equal(m.n_contact, 2);
    assert_string_equal(m.contact[1], "https://example.com/report");
    assert_string_equal(m.languages, "en, de-AT");
    assert_string_equal(m.support_until, "2032-02-29");
    assert_int_equal(m.expires_days, 30);
    /* 2032-02-29T23:59:59Z */
    assert_int_equal(hearth_manufacturer_support_end(&m), 1961711999);
}

/* Each line replaces its key's line in `good` (or is added) and must be refused. */
static void test_parse_bad(void **st)
{
    (void)st;
    static const char *const bad[] = {
        "colour = blue\n",                          /* unknown key */
        "contact = http://example.com/report\n",    /* not https */
        "contact = javascript:alert(1)\n",
        "contact = mailto:\n",
        "policy = mailto:a@b.c\n",                  /* policy must be https */
        "policy = https://a.example/ x\n",          /* space */
        "support_until = 2031-02-30\n",             /* no such day */
        "support_until = 2031-13-01\n",
        "support_until = 31-12-2031\n",
        "support_until = 2030-02-29\n",             /* not a leap year */
        "expires_days = 0\n",
        "expires_days = 366\n",                     /* RFC 9116: under a year */
        "expires_days = -5\n",
        "expires_days = 1e2\n",
        "preferred_languages = en;de\n",
        "preferred_languages = en,,de\n",
        "manufacturer = Tab\there\n",               /* control character */
        "manufacturer = \xc3\xa9\n",                /* non-ASCII */
        "manufacturer = Example Devices GmbH\n",    /* given twice */
        "manufacturer\n",                           /* no '=' */
        "manufacturer =\n",                         /* empty */
        "contact = mailto:a@b.c\ncontact = mailto:b@b.c\ncontact = mailto:c@b.c\n", /* 5 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, "%s%s", good, bad[i]);
        hearth_manufacturer m;
        if (hearth_manufacturer_parse(text, strlen(text), &m) != HEARTH_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(hearth_err_msg(), "line"));
    }
    /* Required keys: drop each line of `good` in turn. */
    static const char *const required[] = {"manufacturer", "contact", "policy",
                                           "preferred_languages", "support_until", "expires_days"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char text[2048] = "";
        const char *p = good;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = (size_t)(nl - p) + 1;
            if (strncmp(p, required[i], strlen(required[i])) != 0 || p[strlen(required[i])] != ' ')
                strncat(text, p, n);
            p += n;
        }
        hearth_manufacturer m;
        assert_int_equal(hearth_manufacturer_parse(text, strlen(text), &m), HEARTH_ERR_INVALID);
        assert_non_null(strstr(hearth_err_msg(), required[i]));
    }
    /* A long line and an oversized file. */
    char big[HEARTH_MFR_TEXT_MAX + 2];
    memset(big, '#', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hearth_manufacturer m;
    assert_int_not_equal(hearth_manufacturer_parse(big, strlen(big), &m), HEARTH_OK);
    char longline[600] = "manufacturer = ";
    memset(longline + 15, 'a', 400);
    longline[415] = '\0';
    assert_int_equal(hearth_manufacturer_parse(longline, strlen(longline), &m), HEARTH_ERR_INVALID);
}

static void test_render_and_expiry(void **st)
{
    (void)st;
    hearth_manufacturer m;
    assert_int_equal(hearth_manufacturer_parse(good, strlen(good), &m), HEARTH_OK);
    char txt[HEARTH_SECURITYTXT_MAX];
    size_t len = 0;
    assert_int_equal(hearth_securitytxt_render(&m, 1000, txt, sizeof txt, &len), HEARTH_ERR_STATE);
    m.built = 1798761600; /* 2027-01-01T00:00:00Z */
    int64_t exp = hearth_manufacturer_expires(&m);
    assert_int_equal(exp, 1798761600 + 30 * 86400);
    assert_int_equal(hearth_securitytxt_render(&m, exp - 1, txt, sizeof txt, &len), HEARTH_OK);
    assert_int_equal(len, strlen(txt));
    assert_non_null(strstr(txt, "\nContact: mailto:psirt@example.com\nContact: https://example.com/report\n"));
    assert_non_null(strstr(txt, "\nExpires: 2027-01-31T00:00:00Z\n"));
    assert_non_null(strstr(txt, "\nEncryption: https://example.com/pgp.asc\n"));
    assert_non_null(strstr(txt, "\nPreferred-Languages: en, de-AT\n"));
    assert_non_null(strstr(txt, "\nCanonical: https://example.com/.well-known/security.txt\n"));
    assert_non_null(strstr(txt, "\nPolicy: https://example.com/policy\n"));
    assert_non_null(strstr(txt, "until 2032-02-29 (EN 303 645 5.3-13)"));
    assert_null(strstr(txt, "Acknowledgments")); /* not configured: not emitted */
    /* At and after the expiry: refused. */
    assert_int_equal(hearth_securitytxt_render(&m, exp, txt, sizeof txt, &len), HEARTH_ERR_EXPIRED);
    assert_int_equal(hearth_securitytxt_render(&m, exp + 86400 * 400, txt, sizeof txt, &len),
                     HEARTH_ERR_EXPIRED);
    /* Too small a buffer. */
    assert_int_equal(hearth_securitytxt_render(&m, exp - 1, txt, 64, &len), HEARTH_ERR_TOO_LARGE);
}

static int expired_events;
static void count_hook(hearth_severity sev, const char *line, void *arg)
{
    (void)sev;
    (void)arg;
    if (strstr(line, "\"security_txt_expired\"") != NULL) expired_events++;
}

static void get_txt(api_fixture *fx, hearth_api_response *resp)
{
    hearth_api_request r = {.method = "GET", .path = "/.well-known/security.txt",
                            .source = "10.0.0.9"};
    hearth_api_handle(fx->api, &r, resp);
}

static void test_route(void **st)
{
    (void)st;
    static api_fixture fx;
    static hearth_api_response resp;
    assert_int_equal(api_fixture_open(&fx), 0);
    assert_int_equal(hearth_seclog_add_hook(count_hook, NULL), HEARTH_OK);
    hearth_manufacturer m;
    assert_int_equal(hearth_manufacturer_parse(good, strlen(good), &m), HEARTH_OK);
    hearth_api_config cfg = {.auth = fx.auth, .apps = fx.apps, .manufacturer = &m};
    hearth_api_destroy(fx.api);
    fx.api = NULL;
    assert_int_equal(hearth_api_create(&cfg, &fx.api), HEARTH_OK);

    /* Fresh (built a day ago): served in the factory-default state, as text. */
    m.built = (int64_t)time(NULL) - 86400;
    get_txt(&fx, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
    assert_null(resp.ext_body);
    assert_non_null(strstr(resp.body, "Contact: mailto:psirt@example.com\n"));
    assert_int_equal(expired_events, 0);

    /* Built 31 days ago with expires_days 30: refused and logged, once. */
    m.built = (int64_t)time(NULL) - 31 * 86400;
    get_txt(&fx, &resp);
    assert_int_equal(resp.status, 503);
    assert_null(resp.content_type);
    assert_non_null(strstr(resp.body, "\"security_txt_expired\""));
    assert_null(strstr(resp.body, "Contact"));
    assert_int_equal(expired_events, 1);
    get_txt(&fx, &resp);
    assert_int_equal(resp.status, 503);
    assert_int_equal(expired_events, 1);

    /* Without a configuration: 404. The SBOM route needs a session (409 before setup). */
    hearth_api_destroy(fx.api);
    cfg.manufacturer = NULL;
    assert_int_equal(hearth_api_create(&cfg, &fx.api), HEARTH_OK);
    get_txt(&fx, &resp);
    assert_int_equal(resp.status, 404);
    hearth_api_request r = {.method = "GET", .path = "/api/v1/sbom", .source = "10.0.0.9"};
    hearth_api_handle(fx.api, &r, &resp);
    assert_int_equal(resp.status, 409);
    /* Other methods: 405. */
    r.method = "POST";
    r.path = "/.well-known/security.txt";
    hearth_api_handle(fx.api, &r, &resp);
    assert_int_equal(resp.status, 405);
    hearth_seclog_remove_hook(count_hook, NULL);
    api_fixture_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_parses),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_render_and_expiry),
        cmocka_unit_test(test_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
