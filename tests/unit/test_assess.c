/*
 * Unit tests of the assessment library (include/hearth/assess.h): the UDP
 * and update-path judges (a unit must never PASS on missing or partial
 * evidence) and the units JSON that `hearth assess` and the device's
 * GET /api/v1/setup-check share (valid JSON whatever the evidence holds,
 * bounded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/assess.h"

static void test_judge_udp(void **state)
{
    (void)state;
    char ev[HEARTH_ASSESS_EVIDENCE_MAX];
    const uint16_t open[] = {5683}, maybe[] = {5684}, declared[] = {5683};
    assert_int_equal(hearth_assess_judge_udp(NULL, 0, NULL, 0, NULL, 0, ev, sizeof ev),
                     HEARTH_VERDICT_PASS);
    assert_non_null(strstr(ev, "open UDP (answered): none"));
    assert_int_equal(hearth_assess_judge_udp(open, 1, NULL, 0, NULL, 0, ev, sizeof ev),
                     HEARTH_VERDICT_FAIL);
    assert_non_null(strstr(ev, "UDP NOT DECLARED: 5683"));
    assert_int_equal(hearth_assess_judge_udp(open, 1, NULL, 0, declared, 1, ev, sizeof ev),
                     HEARTH_VERDICT_PASS);
    /* Silence is open|filtered: never a PASS, never a FAIL on its own. */
    assert_int_equal(hearth_assess_judge_udp(NULL, 0, maybe, 1, NULL, 0, ev, sizeof ev),
                     HEARTH_VERDICT_INCONCLUSIVE);
    assert_non_null(strstr(ev, "open|filtered"));
    assert_int_equal(hearth_assess_judge_udp(open, 1, maybe, 1, NULL, 0, ev, sizeof ev),
                     HEARTH_VERDICT_FAIL);
}

static void test_judge_update(void **state)
{
    (void)state;
    char ev[HEARTH_ASSESS_EVIDENCE_MAX];
    hearth_assess_upload_probe p[3] = {
        {.what = "tampered", .status = 422, .documented = true, .unchanged = true, .state_known = true},
        {.what = "foreign-key", .status = 422, .documented = true, .unchanged = true, .state_known = true},
        {.what = "older", .status = 422, .documented = true, .unchanged = true, .state_known = true},
    };
    assert_int_equal(hearth_assess_judge_update(p, 3, ev, sizeof ev), HEARTH_VERDICT_PASS);
    assert_int_equal(hearth_assess_judge_update(p, 0, ev, sizeof ev), HEARTH_VERDICT_INCONCLUSIVE);
    /* Refused, but with another error: not the documented refusal. */
    p[1].documented = false;
    assert_int_equal(hearth_assess_judge_update(p, 3, ev, sizeof ev), HEARTH_VERDICT_INCONCLUSIVE);
    p[1].documented = true;
    /* The state not read afterwards: no PASS. */
    p[2].state_known = false;
    p[2].unchanged = false;
    assert_int_equal(hearth_assess_judge_update(p, 3, ev, sizeof ev), HEARTH_VERDICT_INCONCLUSIVE);
    p[2].state_known = true;
    p[2].unchanged = true;
    /* Refused with the right error, yet the state changed: FAIL. */
    p[0].unchanged = false;
    assert_int_equal(hearth_assess_judge_update(p, 3, ev, sizeof ev), HEARTH_VERDICT_FAIL);
    assert_non_null(strstr(ev, "UPDATE STATE CHANGED"));
    p[0].unchanged = true;
    /* Accepted: FAIL. */
    p[2].status = 200;
    assert_int_equal(hearth_assess_judge_update(p, 3, ev, sizeof ev), HEARTH_VERDICT_FAIL);
    assert_non_null(strstr(ev, "older bundle: ACCEPTED (200)"));
    /* No answer at all: INCONCLUSIVE. */
    p[2].status = -1;
    assert_int_equal(hearth_assess_judge_update(p, 3, ev, sizeof ev), HEARTH_VERDICT_INCONCLUSIVE);
}

static void test_units_json(void **state)
{
    (void)state;
    static hearth_assess_report r;
    memset(&r, 0, sizeof r);
    hearth_assess_add(&r, "open-ports", HEARTH_VERDICT_FAIL, "banner \"%s\" \\ <b>\xff\xfe", "x\ty");
    hearth_assess_add(&r, "update-path", HEARTH_VERDICT_PASS, "%s", "ok");
    char *buf = malloc(HEARTH_ASSESS_UNITS_JSON_MAX);
    assert_non_null(buf);
    assert_int_equal(hearth_assess_units_json(&r, buf, HEARTH_ASSESS_UNITS_JSON_MAX), HEARTH_OK);
    cJSON *a = cJSON_Parse(buf);
    assert_true(cJSON_IsArray(a));
    assert_int_equal(cJSON_GetArraySize(a), 2);
    cJSON *u = cJSON_GetArrayItem(a, 0);
    assert_string_equal(cJSON_GetObjectItem(u, "id")->valuestring, "open-ports");
    assert_string_equal(cJSON_GetObjectItem(u, "verdict")->valuestring, "FAIL");
    /* Not UTF-8: every byte outside printable ASCII is '?', control characters spaces. */
    assert_string_equal(cJSON_GetObjectItem(u, "evidence")->valuestring, "banner \"x y\" \\ <b>??");
    cJSON *p = cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "provisions");
    assert_int_equal(cJSON_GetArraySize(p), 2);
    assert_string_equal(cJSON_GetArrayItem(p, 0)->valuestring, "5.3-9");
    assert_string_equal(cJSON_GetArrayItem(p, 1)->valuestring, "5.3-10");
    cJSON_Delete(a);
    /* Too small a buffer is an error, never a cut JSON text. */
    assert_int_equal(hearth_assess_units_json(&r, buf, 64), HEARTH_ERR_TOO_LARGE);
    /* Every unit of the catalogue at the largest evidence fits the documented bound. */
    size_t n = 0;
    const hearth_assess_unit *units = hearth_assess_units(&n);
    memset(&r, 0, sizeof r);
    char big[HEARTH_ASSESS_EVIDENCE_MAX];
    memset(big, '<', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (size_t i = 0; i < n; i++) hearth_assess_add(&r, units[i].id, HEARTH_VERDICT_PASS, "%s", big);
    assert_int_equal(hearth_assess_units_json(&r, buf, HEARTH_ASSESS_UNITS_JSON_MAX), HEARTH_OK);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge_udp),
        cmocka_unit_test(test_judge_update),
        cmocka_unit_test(test_units_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
