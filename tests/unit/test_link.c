/* The link's command parser, request-id memory, broker option, update
 * announcement and event filter (hearth/link.h): hostile payloads refused
 * with nothing taken from them, the memory bounded and persisted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hearth/link.h"
#include "hearth/reset.h"
#include "hearth/util.h"

static hearth_status parse(const char *s, hearth_link_command *c)
{
    return hearth_link_command_parse((const uint8_t *)s, strlen(s), c);
}

static void test_command_ok(void **state)
{
    (void)state;
    hearth_link_command c;
    const char *p = " {\"v\":1,\"id\":\"Req_1-a\",\"method\":\"PUT\",\"path\":\"/api/v1/thermostat\","
                    "\"body\":{\"target_c\":21.5,\"s\":\"}{\\\"\"}} ";
    assert_int_equal(parse(p, &c), HEARTH_OK);
    assert_string_equal(c.id, "Req_1-a");
    assert_string_equal(c.method, "PUT");
    assert_string_equal(c.path, "/api/v1/thermostat");
    assert_non_null(c.body);
    assert_int_equal(c.body_len, strlen("{\"target_c\":21.5,\"s\":\"}{\\\"\"}"));
    assert_memory_equal(c.body, "{\"target_c\":21.5,", 17);
    assert_int_equal(parse("{\"id\":\"g\",\"path\":\"/api/v1/thermostat\",\"method\":\"GET\",\"v\":1}", &c), HEARTH_OK);
    assert_null(c.body);
}

static void test_command_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "not json",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",\"body\":{}} x",
        "{\"v\":2,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":\"1\",\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1.0,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",\"extra\":1}",
        "{\"v\":1,\"id\":\"a b\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"id\":\"\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"id\":\"a\\u0041\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PATCH\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"put\",\"path\":\"/api/v1/t\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/etc/passwd\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/../x\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api//v1\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t?x=1\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",\"body\":[1]}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",\"body\":{\"a\":[}}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",\"body\":{\"a\":\"}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"GET\",\"path\":\"/api/v1/t\",\"body\":{}}",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"",
        "{\"v\":1,\"id\":\"a\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",}",
        "{\"v\":1,\"id\":1,\"method\":\"PUT\",\"path\":\"/api/v1/t\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_link_command c;
        if (parse(bad[i], &c) == HEARTH_OK) fail_msg("accepted: %s", bad[i]);
    }
    /* 65-character id: refused, and not echoed back. */
    char id65[200];
    snprintf(id65, sizeof id65, "{\"v\":1,\"id\":\"%065d\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}", 0);
    hearth_link_command c;
    assert_int_not_equal(parse(id65, &c), HEARTH_OK);
    assert_string_equal(c.id, "");
    /* Nesting deeper than the scanner follows. */
    char deep[400];
    size_t dl = (size_t)snprintf(deep, sizeof deep, "%s", "{\"v\":1,\"id\":\"d\",\"method\":\"PUT\",\"path\":\"/api/v1/t\",\"body\":");
    for (int i = 0; i < 20; i++) dl += (size_t)snprintf(deep + dl, sizeof deep - dl, "{\"a\":");
    dl += (size_t)snprintf(deep + dl, sizeof deep - dl, "1");
    for (int i = 0; i < 21; i++) dl += (size_t)snprintf(deep + dl, sizeof deep - dl, "}");
    assert_true(dl < sizeof deep);
    assert_int_not_equal(parse(deep, &c), HEARTH_OK);
    assert_string_equal(c.id, "d"); /* a refusal can be answered */
    /* Oversized, and NUL bytes. */
    size_t big = HEARTH_LINK_CMD_MAX + 1;
    uint8_t *b = malloc(big);
    assert_non_null(b);
    memset(b, ' ', big);
    assert_int_equal(hearth_link_command_parse(b, big, &c), HEARTH_ERR_TOO_LARGE);
    free(b);
    const char nul[] = "{\"v\":1,\"id\":\"a\0b\",\"method\":\"PUT\",\"path\":\"/api/v1/t\"}";
    assert_int_not_equal(hearth_link_command_parse((const uint8_t *)nul, sizeof nul - 1, &c), HEARTH_OK);
}

static void test_reply(void **state)
{
    (void)state;
    char buf[256];
    size_t n = 0;
    assert_int_equal(hearth_link_reply_format("r1", 200, "{\"a\":1}", true, buf, sizeof buf, &n), HEARTH_OK);
    assert_string_equal(buf, "{\"v\":1,\"id\":\"r1\",\"status\":200,\"body\":{\"a\":1},\"duplicate\":true}");
    assert_int_equal(n, strlen(buf));
    assert_int_equal(hearth_link_reply_format("r1", 204, "", false, buf, sizeof buf, &n), HEARTH_OK);
    assert_string_equal(buf, "{\"v\":1,\"id\":\"r1\",\"status\":204,\"body\":null,\"duplicate\":false}");
    assert_int_equal(hearth_link_reply_format("r1", 200, "{\"a\":1}", false, buf, 20, &n), HEARTH_ERR_TOO_LARGE);
}

static void test_reqids(void **state)
{
    (void)state;
    hearth_link_reqids *r = NULL;
    assert_int_equal(hearth_link_reqids_open(NULL, &r), HEARTH_OK);
    int st = 0;
    char body[HEARTH_LINK_REPLY_KEPT_MAX + 1];
    assert_false(hearth_link_reqids_find(r, "a", &st, body, sizeof body));
    assert_int_equal(hearth_link_reqids_put(r, "a", 200, "{\"x\":1}"), HEARTH_OK);
    assert_true(hearth_link_reqids_find(r, "a", &st, body, sizeof body));
    assert_int_equal(st, 200);
    assert_string_equal(body, "{\"x\":1}");
    assert_int_not_equal(hearth_link_reqids_put(r, "bad id", 200, "{}"), HEARTH_OK);
    /* Bounded: the oldest is forgotten once HEARTH_LINK_REQIDS_KEPT more arrive. */
    char id[16];
    for (int i = 0; i < HEARTH_LINK_REQIDS_KEPT; i++) {
        snprintf(id, sizeof id, "n%d", i);
        assert_int_equal(hearth_link_reqids_put(r, id, 201, "{}"), HEARTH_OK);
    }
    assert_false(hearth_link_reqids_find(r, "a", &st, body, sizeof body));
    assert_true(hearth_link_reqids_find(r, "n0", &st, body, sizeof body));
    assert_true(hearth_link_reqids_find(r, "n63", &st, body, sizeof body));
    /* A reply too large to keep is remembered with its status, body "". */
    char large[HEARTH_LINK_REPLY_KEPT_MAX + 2];
    memset(large, 'x', sizeof large - 1);
    large[sizeof large - 1] = '\0';
    assert_int_equal(hearth_link_reqids_put(r, "big", 200, large), HEARTH_OK);
    assert_true(hearth_link_reqids_find(r, "big", &st, body, sizeof body));
    assert_string_equal(body, "");
    hearth_link_reqids_close(r);
}

static void test_broker(void **state)
{
    (void)state;
    hearth_link_broker b;
    assert_int_equal(hearth_link_broker_parse("broker.example.com:8883", &b), HEARTH_OK);
    assert_string_equal(b.host, "broker.example.com");
    assert_int_equal(b.port, 8883);
    assert_int_equal(hearth_link_broker_parse("[::1]:8883", &b), HEARTH_OK);
    assert_string_equal(b.host, "::1");
    static const char *const bad[] = {"", "host", "host:", ":1", "host:0", "host:65536", "host:12a",
                                      "ho st:1", "-h:1", "[::1]8883", "[zz]:1", "host:+1", "h/x:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hearth_link_broker_parse(bad[i], &b) == HEARTH_OK) fail_msg("accepted: %s", bad[i]);
}

static void test_update(void **state)
{
    (void)state;
    hearth_link_update_hint h;
    const char *ok = "{\"v\":1,\"version\":\"1.2.3\",\"delay_s\":10,\"spread_s\":600}";
    assert_int_equal(hearth_link_update_parse((const uint8_t *)ok, strlen(ok), &h), HEARTH_OK);
    assert_string_equal(h.version, "1.2.3");
    assert_int_equal(h.delay_s, 10);
    assert_int_equal(h.spread_s, 600);
    /* When a device acts on it: delay_s plus a uniform share of spread_s. */
    uint64_t due = 0, lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(hearth_link_update_due_ms(&h, &due), HEARTH_OK);
        lo = due < lo ? due : lo;
        hi = due > hi ? due : hi;
    }
    assert_true(lo >= 10000 && hi <= 610000);
    assert_true(lo < 10000 + 60000 && hi > 610000 - 60000); /* spread over the window, not bunched */
    h.spread_s = 0;
    assert_int_equal(hearth_link_update_due_ms(&h, &due), HEARTH_OK);
    assert_int_equal(due, 10000);
    h.spread_s = 600;
    static const char *const bad[] = {
        "{\"v\":1,\"version\":\"1.2.3\",\"delay_s\":-1,\"spread_s\":0}",
        "{\"v\":1,\"version\":\"1.2.3\",\"delay_s\":0,\"spread_s\":999999999}",
        "{\"v\":1,\"version\":\"1.2.3\",\"delay_s\":0}",
        "{\"v\":1,\"version\":\"1.2;rm\",\"delay_s\":0,\"spread_s\":0}",
        "{\"v\":1,\"version\":\"1.2.3\",\"delay_s\":0,\"spread_s\":0,\"url\":\"http://x\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hearth_link_update_parse((const uint8_t *)bad[i], strlen(bad[i]), &h) == HEARTH_OK)
            fail_msg("accepted: %s", bad[i]);
}

static void test_event(void **state)
{
    (void)state;
    char buf[512];
    size_t n = 0;
    const char *line = "{\"ts\":\"2026-01-01T00:00:00.000Z\",\"seq\":4,\"severity\":\"warning\",\"event\":"
                       "\"login_failed\",\"source\":\"192.0.2.7\",\"user\":\"alice\",\"by\":\"bob\",\"peer_ip\":\"x\","
                       "\"reason\":\"bad password\"}";
    assert_int_equal(hearth_link_event_payload(line, 1700000000, buf, sizeof buf, &n), HEARTH_OK);
    assert_string_equal(buf, "{\"v\":1,\"ts\":1700000000,\"sev\":\"warning\",\"event\":\"login_failed\","
                             "\"reason\":\"bad password\"}");
    assert_int_not_equal(hearth_link_event_payload("garbage", 1, buf, sizeof buf, &n), HEARTH_OK);
}

/* The factory_reset event made from a reset notice (hearth/reset.h,
 * docs/erasure.md): time, count and reason, nothing personal. */
static void test_reset_event(void **state)
{
    (void)state;
    char buf[256];
    size_t n = 0;
    hearth_reset_notice rn = {.count = 3, .at_unix = 1700000000, .reason = HEARTH_RESET_BY_BUTTON, .pending = true};
    assert_int_equal(hearth_reset_notice_event(&rn, 1700000100, buf, sizeof buf, &n), HEARTH_OK);
    assert_string_equal(buf, "{\"v\":1,\"ts\":1700000100,\"sev\":\"warning\",\"event\":\"factory_reset\","
                             "\"reset_at\":1700000000,\"reset_count\":3,\"reason\":\"button\"}");
    assert_int_equal(n, strlen(buf));
    rn.reason = HEARTH_RESET_BY_API;
    assert_int_equal(hearth_reset_notice_event(&rn, 1, buf, sizeof buf, &n), HEARTH_OK);
    assert_non_null(strstr(buf, "\"reason\":\"api\"}"));
    assert_int_equal(hearth_reset_notice_event(&rn, 1, buf, 20, &n), HEARTH_ERR_TOO_LARGE);
}

/* The envelope of every published message (docs/mqtt.md): "seq" and, once
 * the device has been reset, its reset epoch "ep" right after "v"; the
 * service orders a device's messages by (ep, seq). */
static void test_envelope(void **state)
{
    (void)state;
    static const char body[] = "{\"v\":1,\"ts\":5,\"event\":\"boot\"}";
    const uint8_t *p = (const uint8_t *)body;
    char buf[128];
    size_t n = 0;
    /* never reset: no "ep" (the service reads its absence as 0) */
    assert_int_equal(hearth_link_envelope(7, 0, p, strlen(body), buf, sizeof buf, &n), HEARTH_OK);
    assert_int_equal(n, strlen("{\"v\":1,\"seq\":7,\"ts\":5,\"event\":\"boot\"}"));
    assert_memory_equal(buf, "{\"v\":1,\"seq\":7,\"ts\":5,\"event\":\"boot\"}", n);
    /* after the first reset: the same seq carries ep 1, a different message */
    assert_int_equal(hearth_link_envelope(7, 1, p, strlen(body), buf, sizeof buf, &n), HEARTH_OK);
    assert_memory_equal(buf, "{\"v\":1,\"seq\":7,\"ep\":1,\"ts\":5,\"event\":\"boot\"}", n);
    assert_int_equal(n, strlen("{\"v\":1,\"seq\":7,\"ep\":1,\"ts\":5,\"event\":\"boot\"}"));
    /* an empty object and the largest numbers fit within the documented extra */
    assert_int_equal(hearth_link_envelope(UINT64_MAX, UINT64_MAX, (const uint8_t *)"{\"v\":1}", 7, buf,
                                          7 + HEARTH_LINK_ENVELOPE_EXTRA, &n),
                     HEARTH_OK);
    assert_memory_equal(buf, "{\"v\":1,\"seq\":18446744073709551615,\"ep\":18446744073709551615}", n);
    /* too small a buffer, and payloads this link never queues */
    assert_int_equal(hearth_link_envelope(7, 1, p, strlen(body), buf, 20, &n), HEARTH_ERR_TOO_LARGE);
    assert_int_equal(hearth_link_envelope(7, 1, (const uint8_t *)"{\"v\":10}", 8, buf, sizeof buf, &n),
                     HEARTH_ERR_INVALID);
    assert_int_equal(hearth_link_envelope(7, 1, (const uint8_t *)"{\"v\":2}", 7, buf, sizeof buf, &n),
                     HEARTH_ERR_INVALID);
    assert_int_equal(hearth_link_envelope(7, 1, (const uint8_t *)"{\"v\":1", 6, buf, sizeof buf, &n),
                     HEARTH_ERR_INVALID);
    assert_int_equal(n, 0);
}

static void test_connack(void **state)
{
    (void)state;
    bool other = true;
    assert_int_equal(hearth_link_connack_reason(5, 0x87, &other), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_false(other);
    assert_int_equal(hearth_link_connack_reason(5, 0x86, &other), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_int_equal(hearth_link_connack_reason(5, 0x8C, &other), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_int_equal(hearth_link_connack_reason(4, 5, &other), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_int_equal(hearth_link_connack_reason(4, 4, &other), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_int_equal(hearth_link_connack_reason(5, 0x89, &other), HEARTH_BACKOFF_BUSY);
    assert_int_equal(hearth_link_connack_reason(5, 0x97, &other), HEARTH_BACKOFF_BUSY);
    assert_int_equal(hearth_link_connack_reason(5, 0x9F, &other), HEARTH_BACKOFF_BUSY);
    assert_false(other);
    assert_int_equal(hearth_link_connack_reason(5, 0x9C, &other), HEARTH_BACKOFF_FAILED);
    assert_true(other);
    assert_int_equal(hearth_link_connack_reason(5, 0x9D, &other), HEARTH_BACKOFF_FAILED);
    assert_true(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_ok), cmocka_unit_test(test_command_hostile),
        cmocka_unit_test(test_reply),      cmocka_unit_test(test_reqids),
        cmocka_unit_test(test_broker),     cmocka_unit_test(test_update),
        cmocka_unit_test(test_event),      cmocka_unit_test(test_reset_event),
        cmocka_unit_test(test_connack),    cmocka_unit_test(test_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
