/* Unit tests for src/json: strict request-body validation (EN 303 645 5.13-1).
 * Mostly hostile input: every class of malformed, over-long, over-deep,
 * mistyped, out-of-range or unexpected body must be rejected with a message
 * naming the field, and never half-filled output. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hearth/json.h"

static const char *const MODES[] = {"off", "heat", NULL};

enum { F_TARGET, F_MODE, F_NAME, F_LABEL, F_COUNT, F_ENABLED, F_N };

static const hearth_json_field SCHEMA[F_N] = {
    [F_TARGET] = {.name = "target_c", .type = HEARTH_JSON_NUMBER, .required = true, .min = 5, .max = 30},
    [F_MODE] = {.name = "mode", .type = HEARTH_JSON_STRING, .min_len = 1, .max_len = 8, .enum_values = MODES},
    [F_NAME] = {.name = "name", .type = HEARTH_JSON_STRING, .min_len = 1, .max_len = 16,
                .charset = "abcdefghijklmnopqrstuvwxyz0123456789_-"},
    [F_LABEL] = {.name = "label", .type = HEARTH_JSON_STRING, .min_len = 0, .max_len = 32},
    [F_COUNT] = {.name = "count", .type = HEARTH_JSON_INT, .min = 0, .max = 100},
    [F_ENABLED] = {.name = "enabled", .type = HEARTH_JSON_BOOL},
};

typedef struct {
    hearth_json_value v[F_N];
    hearth_json_doc *doc;
    char err[160];
    char field[80];
} result;

static hearth_status run(result *r, const char *body, size_t len)
{
    memset(r, 0, sizeof *r);
    return hearth_json_parse(body, len, SCHEMA, F_N, r->v, &r->doc, r->err, sizeof r->err, r->field,
                             sizeof r->field);
}

static hearth_status runs(result *r, const char *body)
{
    return run(r, body, strlen(body));
}

/* A rejected body leaves no document and no value marked present. */
static void assert_clean_failure(const result *r)
{
    assert_null(r->doc);
    for (int i = 0; i < F_N; i++) assert_false(r->v[i].present);
    assert_true(strlen(r->err) > 0);
}

static void test_5_13_1_valid_body_fills_values(void **state)
{
    (void)state;
    result r;
    const char *body = " {\"target_c\": 21.5, \"mode\":\"heat\", \"name\":\"living_room-1\",\n"
                       "\"label\":\"K\\u00fcche \\\"2\\\"\", \"count\": 42, \"enabled\": false}\r\n";
    assert_int_equal(runs(&r, body), HEARTH_OK);
    assert_non_null(r.doc);
    assert_true(r.v[F_TARGET].present);
    assert_true(r.v[F_TARGET].num == 21.5);
    assert_string_equal(r.v[F_MODE].str, "heat");
    assert_int_equal(r.v[F_MODE].str_len, 4);
    assert_string_equal(r.v[F_NAME].str, "living_room-1");
    assert_string_equal(r.v[F_LABEL].str, "K\xc3\xbc" "che \"2\"");
    assert_int_equal(r.v[F_LABEL].str_len, strlen("K\xc3\xbc" "che \"2\""));
    assert_int_equal(r.v[F_COUNT].i, 42);
    assert_true(r.v[F_ENABLED].present);
    assert_false(r.v[F_ENABLED].b);
    assert_string_equal(r.err, "");
    hearth_json_doc_free(r.doc);

    assert_int_equal(runs(&r, "{\"target_c\":5,\"enabled\":true,\"count\":-0}"), HEARTH_OK);
    assert_true(r.v[F_TARGET].num == 5.0);
    assert_true(r.v[F_ENABLED].b);
    assert_int_equal(r.v[F_COUNT].i, 0);
    assert_false(r.v[F_MODE].present);
    assert_null(r.v[F_MODE].str);
    hearth_json_doc_free(r.doc);

    /* Band edges are inclusive, exponent form accepted. */
    assert_int_equal(runs(&r, "{\"target_c\":3e1,\"count\":1E2,\"label\":\"\"}"), HEARTH_OK);
    assert_true(r.v[F_TARGET].num == 30.0);
    assert_int_equal(r.v[F_COUNT].i, 100);
    assert_int_equal(r.v[F_LABEL].str_len, 0);
    hearth_json_doc_free(r.doc);
}

static void test_5_13_1_body_need_not_be_nul_terminated(void **state)
{
    (void)state;
    char buf[64];
    const char *body = "{\"target_c\":7}";
    size_t n = strlen(body);
    memcpy(buf, body, n);
    memset(buf + n, 'x', sizeof buf - n); /* garbage right after, no NUL */
    result r;
    assert_int_equal(run(&r, buf, n), HEARTH_OK);
    assert_true(r.v[F_TARGET].num == 7.0);
    hearth_json_doc_free(r.doc);
    /* ...and the garbage is rejected once it is part of the length. */
    assert_int_equal(run(&r, buf, n + 3), HEARTH_ERR_INVALID);
    assert_clean_failure(&r);
}

typedef struct {
    const char *body;
    const char *field; /* expected err_field */
    const char *msg;   /* substring expected in err */
} neg_case;

static const neg_case NEGATIVE[] = {
    /* structure and syntax */
    {"", "", "empty"},
    {"   ", "", "object"},
    {"[]", "", "object"},
    {"\"x\"", "", "object"},
    {"42", "", "object"},
    {"null", "", "object"},
    {"{\"target_c\":7", "", "truncated"},
    {"{\"target_c\":7}}", "", "after"},
    {"{\"target_c\":7} {}", "", "after"},
    {"{\"target_c\":7} x", "", "after"},
    {"{\"target_c\":7,}", "", "not valid JSON"},
    {"{\"target_c\" 7}", "", "not valid JSON"},
    {"{\"target_c\":7;}", "", "number"},
    {"{target_c:7}", "", "not valid JSON"},
    {"{'target_c':7}", "", "not valid JSON"},
    {"{\"target_c\":7]", "", "not valid JSON"},
    {"{\"target_c\":7 /* c */}", "", "not valid JSON"},
    {"\xef\xbb\xbf{\"target_c\":7}", "", "object"},               /* BOM */
    {"{\"target_c\":7,\x01\"count\":1}", "", "not valid JSON"},     /* control as whitespace */
    {"{\"target_c\":7,\x0b\"count\":1}", "", "not valid JSON"},     /* VT as whitespace */
    {"{\"target_c\":tru}", "", "not valid JSON"},
    {"{\"target_c\":7,\"enabled\":truex}", "", "not valid JSON"},
    {"{\"target_c\":7,\"enabled\":True}", "", "not valid JSON"},
    /* numbers outside the RFC 8259 grammar */
    {"{\"target_c\":07}", "", "number"},
    {"{\"target_c\":+7}", "", "not valid JSON"},
    {"{\"target_c\":.5}", "", "not valid JSON"},
    {"{\"target_c\":7.}", "", "number"},
    {"{\"target_c\":7e}", "", "number"},
    {"{\"target_c\":7e+}", "", "number"},
    {"{\"target_c\":-}", "", "number"},
    {"{\"target_c\":0x10}", "", "number"},
    {"{\"target_c\":1e5e5}", "", "number"},
    {"{\"target_c\":NaN}", "", "not valid JSON"},
    {"{\"target_c\":Infinity}", "", "not valid JSON"},
    {"{\"target_c\":-Infinity}", "", "number"},
    /* strings and encoding */
    {"{\"target_c\":7,\"label\":\"a\tb\"}", "", "control character"},
    {"{\"target_c\":7,\"label\":\"a\nb\"}", "", "control character"},
    {"{\"target_c\":7,\"label\":\"a\\u0000b\"}", "", "NUL"},
    {"{\"target_c\":7,\"label\":\"a\\x41\"}", "", "escape"},
    {"{\"target_c\":7,\"label\":\"a\\u12\"}", "", "escape"},
    {"{\"target_c\":7,\"label\":\"a\\ud800\"}", "", "not valid JSON"},  /* lone surrogate */
    {"{\"target_c\":7,\"label\":\"a\\udc00\"}", "", "not valid JSON"},
    {"{\"target_c\":7,\"label\":\"abc}", "", "unterminated"},
    {"{\"target_c\":7,\"label\":\"\xc3\"}", "", "UTF-8"},               /* truncated sequence */
    {"{\"target_c\":7,\"label\":\"\xc0\xaf\"}", "", "UTF-8"},           /* overlong '/' */
    {"{\"target_c\":7,\"label\":\"\xed\xa0\x80\"}", "", "UTF-8"},       /* raw surrogate */
    {"{\"target_c\":7,\"label\":\"\xf4\x90\x80\x80\"}", "", "UTF-8"},   /* > U+10FFFF */
    {"{\"target_c\":7,\"label\":\"\xff\"}", "", "UTF-8"},
    /* depth: the pre-scan stops this before cJSON recurses */
    {"{\"label\":[[[[1]]]]}", "", "deeper than 4"},
    {"{\"label\":{\"a\":{\"b\":{\"c\":{}}}}}", "", "deeper than 4"},
    /* schema: unknown, duplicate, missing */
    {"{}", "target_c", "required"},
    {"{\"count\":1}", "target_c", "required"},
    {"{\"target_c\":7,\"extra\":1}", "extra", "unknown field 'extra'"},
    {"{\"target_c\":7,\"Target_c\":8}", "Target_c", "unknown"},
    {"{\"target_c\":7,\"\":8}", "", "unknown field ''"},
    {"{\"target_c\":7,\"target_c\":8}", "target_c", "more than once"},
    {"{\"target_c\":7,\"targe\\u0074_c\":8}", "target_c", "more than once"},
    {"{\"target_c\":7,\"mode\":\"off\",\"mode\":\"off\"}", "mode", "more than once"},
    /* types: no coercion */
    {"{\"target_c\":\"7\"}", "target_c", "must be a number between 5 and 30"},
    {"{\"target_c\":null}", "target_c", "must be a number"},
    {"{\"target_c\":true}", "target_c", "must be a number"},
    {"{\"target_c\":[7]}", "target_c", "must be a number"},
    {"{\"target_c\":{}}", "target_c", "must be a number"},
    {"{\"target_c\":7,\"count\":1.5}", "count", "must be an integer between 0 and 100"},
    {"{\"target_c\":7,\"count\":\"1\"}", "count", "integer"},
    {"{\"target_c\":7,\"count\":1e-3}", "count", "integer"},
    {"{\"target_c\":7,\"enabled\":1}", "enabled", "true or false"},
    {"{\"target_c\":7,\"enabled\":0}", "enabled", "true or false"},
    {"{\"target_c\":7,\"enabled\":\"true\"}", "enabled", "true or false"},
    {"{\"target_c\":7,\"enabled\":null}", "enabled", "true or false"},
    {"{\"target_c\":7,\"mode\":1}", "mode", "must be a string"},
    {"{\"target_c\":7,\"mode\":null}", "mode", "must be a string"},
    /* ranges */
    {"{\"target_c\":4.999}", "target_c", "between 5 and 30"},
    {"{\"target_c\":30.0001}", "target_c", "between 5 and 30"},
    {"{\"target_c\":-7}", "target_c", "between"},
    {"{\"target_c\":1e400}", "target_c", "between"},    /* overflows to inf */
    {"{\"target_c\":-1e400}", "target_c", "between"},
    {"{\"target_c\":7,\"count\":101}", "count", "between 0 and 100"},
    {"{\"target_c\":7,\"count\":-1}", "count", "between"},
    /* string bounds, charset, enum */
    {"{\"target_c\":7,\"name\":\"\"}", "name", "1 to 16 bytes"},
    {"{\"target_c\":7,\"name\":\"abcdefghijklmnopq\"}", "name", "1 to 16 bytes"},
    {"{\"target_c\":7,\"name\":\"Kitchen\"}", "name", "not allowed"},
    {"{\"target_c\":7,\"name\":\"a b\"}", "name", "not allowed"},
    {"{\"target_c\":7,\"name\":\"a/../b\"}", "name", "not allowed"},
    {"{\"target_c\":7,\"name\":\"k\xc3\xbc\"}", "name", "not allowed"},
    {"{\"target_c\":7,\"label\":\"a\\u0001b\"}", "label", "not allowed"},
    {"{\"target_c\":7,\"label\":\"a\\u007fb\"}", "label", "not allowed"},
    {"{\"target_c\":7,\"label\":\"a\\u0085b\"}", "label", "not allowed"},  /* C1 NEL */
    {"{\"target_c\":7,\"label\":\"a\\nb\"}", "label", "not allowed"},
    {"{\"target_c\":7,\"label\":\"123456789012345678901234567890123\"}", "label", "0 to 32 bytes"},
    {"{\"target_c\":7,\"mode\":\"cool\"}", "mode", "must be one of: off, heat"},
    {"{\"target_c\":7,\"mode\":\"HEAT\"}", "mode", "one of"},
    {"{\"target_c\":7,\"mode\":\"heat \"}", "mode", "one of"},
};

static void test_5_13_1_rejects_hostile_and_malformed_bodies(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < sizeof NEGATIVE / sizeof NEGATIVE[0]; i++) {
        const neg_case *c = &NEGATIVE[i];
        result r;
        hearth_status st = runs(&r, c->body);
        if (st != HEARTH_ERR_INVALID || strstr(r.err, c->msg) == NULL || strcmp(r.field, c->field) != 0) {
            print_error("case %zu body=%s: status %d err='%s' field='%s' (want '%s' / '%s')\n", i, c->body,
                        st, r.err, r.field, c->msg, c->field);
            bad++;
        }
        hearth_json_doc_free(r.doc); /* NULL unless the case wrongly passed */
        if (st != HEARTH_OK) assert_clean_failure(&r);
    }
    assert_int_equal(bad, 0);
}

static void test_5_13_1_exact_client_message(void **state)
{
    (void)state;
    result r;
    assert_int_equal(runs(&r, "{\"target_c\":31}"), HEARTH_ERR_INVALID);
    assert_string_equal(r.err, "field 'target_c' must be a number between 5 and 30");
    assert_string_equal(r.field, "target_c");
    /* The thread's reason carries the same text for logging. */
    assert_string_equal(hearth_err_msg(), r.err);
}

static void test_5_13_1_nul_bytes_rejected(void **state)
{
    (void)state;
    const char body[] = "{\"target_c\":7,\"label\":\"a\0b\"}";
    result r;
    assert_int_equal(run(&r, body, sizeof body - 1), HEARTH_ERR_INVALID);
    assert_non_null(strstr(r.err, "NUL"));
    assert_clean_failure(&r);
    const char body2[] = "{\"target_c\":7}\0";
    assert_int_equal(run(&r, body2, sizeof body2 - 1), HEARTH_ERR_INVALID);
    assert_clean_failure(&r);
}

static void test_5_13_1_size_limit(void **state)
{
    (void)state;
    char *body = malloc(HEARTH_JSON_BODY_MAX + 2);
    assert_non_null(body);
    /* Exactly the limit, padded with legal whitespace, is accepted. */
    const char *obj = "{\"target_c\":7}";
    size_t ol = strlen(obj);
    memcpy(body, obj, ol);
    memset(body + ol, ' ', HEARTH_JSON_BODY_MAX - ol);
    result r;
    assert_int_equal(run(&r, body, HEARTH_JSON_BODY_MAX), HEARTH_OK);
    hearth_json_doc_free(r.doc);
    /* One byte more is refused before any parsing. */
    body[HEARTH_JSON_BODY_MAX] = ' ';
    assert_int_equal(run(&r, body, HEARTH_JSON_BODY_MAX + 1), HEARTH_ERR_TOO_LARGE);
    assert_non_null(strstr(r.err, "4096"));
    assert_clean_failure(&r);
    free(body);
}

static void test_5_13_1_deep_nesting_stopped_by_prescan(void **state)
{
    (void)state;
    /* 4000 open brackets: cJSON would recurse up to its own limit of 1000;
     * the pre-scan refuses at level 5 with the depth message. */
    size_t n = 4000;
    char *body = malloc(n + 16);
    assert_non_null(body);
    body[0] = '{';
    memcpy(body + 1, "\"label\":", 8);
    memset(body + 9, '[', n - 9);
    result r;
    assert_int_equal(run(&r, body, n), HEARTH_ERR_INVALID);
    assert_non_null(strstr(r.err, "deeper than 4"));
    assert_clean_failure(&r);
    free(body);
    /* Depth exactly 4 passes the pre-scan and fails only on the type. */
    assert_int_equal(runs(&r, "{\"target_c\":7,\"label\":[[[1]]]}"), HEARTH_ERR_INVALID);
    assert_non_null(strstr(r.err, "must be a string"));
    assert_string_equal(r.field, "label");
    /* Brackets inside strings do not count as nesting. */
    assert_int_equal(runs(&r, "{\"target_c\":7,\"label\":\"[[[[[{{{{{\"}"), HEARTH_OK);
    assert_string_equal(r.v[F_LABEL].str, "[[[[[{{{{{");
    hearth_json_doc_free(r.doc);
}

static void test_5_13_1_client_names_sanitised_in_errors(void **state)
{
    (void)state;
    result r;
    assert_int_equal(runs(&r, "{\"target_c\":7,\"a\\u0007\\u00e9<b>\":1}"), HEARTH_ERR_INVALID);
    assert_string_equal(r.field, "a??" "?<b>");
    assert_string_equal(r.err, "unknown field 'a??" "?<b>'");
    /* Long names are truncated to 64 bytes in both outputs. */
    char body[300];
    char name[200];
    memset(name, 'z', 199);
    name[199] = '\0';
    snprintf(body, sizeof body, "{\"%s\":1}", name);
    assert_int_equal(runs(&r, body), HEARTH_ERR_INVALID);
    assert_int_equal(strlen(r.field), 64);
    assert_true(strlen(r.err) < 100);
    /* Tiny caller buffers are truncated, not overrun. */
    hearth_json_value v[F_N];
    hearth_json_doc *doc = (hearth_json_doc *)&r; /* must be reset to NULL */
    char err[8], field[4];
    assert_int_equal(hearth_json_parse("{\"target_c\":99}", 15, SCHEMA, F_N, v, &doc, err, sizeof err,
                                       field, sizeof field),
                     HEARTH_ERR_INVALID);
    assert_null(doc);
    assert_string_equal(err, "field '");
    assert_string_equal(field, "tar");
    /* NULL err buffers are allowed when their capacity is 0. */
    assert_int_equal(hearth_json_parse("{\"target_c\":99}", 15, SCHEMA, F_N, v, &doc, NULL, 0, NULL, 0),
                     HEARTH_ERR_INVALID);
}

static void test_5_13_1_empty_schema_accepts_only_empty_object(void **state)
{
    (void)state;
    hearth_json_doc *doc = NULL;
    char err[100], field[32];
    assert_int_equal(hearth_json_parse("{ }", 3, NULL, 0, NULL, &doc, err, sizeof err, field, sizeof field),
                     HEARTH_OK);
    assert_non_null(doc);
    hearth_json_doc_free(doc);
    assert_int_equal(hearth_json_parse("{\"a\":1}", 7, NULL, 0, NULL, &doc, err, sizeof err, field, sizeof field),
                     HEARTH_ERR_INVALID);
    assert_string_equal(field, "a");
    hearth_json_doc_free(NULL);
}

static void test_5_13_1_int_bounds_and_precision(void **state)
{
    (void)state;
    static const hearth_json_field big[] = {
        {.name = "n", .type = HEARTH_JSON_INT, .required = true, .min = -1e300, .max = 1e300},
    };
    hearth_json_value v[1];
    hearth_json_doc *doc;
    char err[120], field[16];
    const char *ok = "{\"n\":-9007199254740992}";
    assert_int_equal(hearth_json_parse(ok, strlen(ok), big, 1, v, &doc, err, sizeof err, field, sizeof field),
                     HEARTH_OK);
    assert_true(v[0].i == -9007199254740992LL);
    hearth_json_doc_free(doc);
    /* Beyond 2^53 a double no longer holds every integer: refused. */
    const char *lossy = "{\"n\":9007199254740994}";
    assert_int_equal(hearth_json_parse(lossy, strlen(lossy), big, 1, v, &doc, err, sizeof err, field,
                                       sizeof field),
                     HEARTH_ERR_INVALID);
    const char *huge = "{\"n\":1e300}";
    assert_int_equal(hearth_json_parse(huge, strlen(huge), big, 1, v, &doc, err, sizeof err, field,
                                       sizeof field),
                     HEARTH_ERR_INVALID);
}

static void test_5_13_1_escape_builds_valid_json(void **state)
{
    (void)state;
    char out[96] = "{\"k\":";
    const char in[] = "a\"b\\c\nd\x01<e>&\x7f" "\xc3\xa9";
    assert_int_equal(hearth_json_escape(in, sizeof in - 1, out, sizeof out), HEARTH_OK);
    assert_string_equal(out, "{\"k\":\"a\\\"b\\\\c\\nd\\u0001\\u003ce\\u003e\\u0026\\u007f\xc3\xa9\"");
    /* Round trip: the escaped literal parses back to the input. */
    size_t l = strlen(out);
    out[l] = '}';
    out[l + 1] = '\0';
    static const hearth_json_field f[] = {{.name = "k", .type = HEARTH_JSON_STRING, .max_len = 64,
                                           .charset = NULL}};
    hearth_json_value v[1];
    hearth_json_doc *doc;
    char err[100], field[16];
    /* \x01 and DEL are not printable, so the default charset rejects them... */
    assert_int_equal(hearth_json_parse(out, strlen(out), f, 1, v, &doc, err, sizeof err, field, sizeof field),
                     HEARTH_ERR_INVALID);
    /* ...so check the round trip with an all-printable string. */
    char out2[64] = "{\"k\":";
    const char in2[] = "x\"<y>\\ \xe2\x82\xac";
    assert_int_equal(hearth_json_escape(in2, sizeof in2 - 1, out2, sizeof out2), HEARTH_OK);
    size_t l2 = strlen(out2);
    memcpy(out2 + l2, "}", 2);
    assert_int_equal(hearth_json_parse(out2, strlen(out2), f, 1, v, &doc, err, sizeof err, field, sizeof field),
                     HEARTH_OK);
    assert_int_equal(v[0].str_len, sizeof in2 - 1);
    assert_memory_equal(v[0].str, in2, sizeof in2 - 1);
    hearth_json_doc_free(doc);
}

static void test_5_13_1_escape_rejects_and_bounds(void **state)
{
    (void)state;
    char out[8] = "ab";
    /* Invalid UTF-8 and NUL: refused, output unchanged. */
    assert_int_equal(hearth_json_escape("\xff", 1, out, sizeof out), HEARTH_ERR_INVALID);
    assert_string_equal(out, "ab");
    assert_int_equal(hearth_json_escape("a\0b", 3, out, sizeof out), HEARTH_ERR_INVALID);
    assert_string_equal(out, "ab");
    /* "ab" + "\"xyz\"" = 7 bytes + NUL = 8: fits exactly. */
    assert_int_equal(hearth_json_escape("xyz", 3, out, sizeof out), HEARTH_OK);
    assert_string_equal(out, "ab\"xyz\"");
    /* One byte too many: refused, unchanged. */
    char small[8] = "ab";
    assert_int_equal(hearth_json_escape("xyzw", 4, small, sizeof small), HEARTH_ERR_TOO_LARGE);
    assert_string_equal(small, "ab");
    /* An escape that would straddle the end is refused as a whole. */
    char s2[9] = "ab";
    assert_int_equal(hearth_json_escape("x<", 2, s2, sizeof s2), HEARTH_ERR_TOO_LARGE);
    assert_string_equal(s2, "ab");
    /* Empty input gives "". */
    char e[3] = "";
    assert_int_equal(hearth_json_escape("", 0, e, sizeof e), HEARTH_OK);
    assert_string_equal(e, "\"\"");
    /* An unterminated output buffer is refused rather than read past. */
    char unterminated[4] = {'a', 'b', 'c', 'd'};
    assert_int_equal(hearth_json_escape("x", 1, unterminated, sizeof unterminated), HEARTH_ERR_INVALID);
}

static void test_5_13_1_utf8_validator_vectors(void **state)
{
    (void)state;
    assert_true(hearth_json_utf8_valid("", 0));
    assert_true(hearth_json_utf8_valid("plain ascii", 11));
    assert_true(hearth_json_utf8_valid("\xc2\x80", 2));
    assert_true(hearth_json_utf8_valid("\xe0\xa0\x80", 3));
    assert_true(hearth_json_utf8_valid("\xed\x9f\xbf", 3));        /* U+D7FF */
    assert_true(hearth_json_utf8_valid("\xee\x80\x80", 3));        /* U+E000 */
    assert_true(hearth_json_utf8_valid("\xf0\x90\x80\x80", 4));
    assert_true(hearth_json_utf8_valid("\xf4\x8f\xbf\xbf", 4));    /* U+10FFFF */
    assert_false(hearth_json_utf8_valid("\x80", 1));
    assert_false(hearth_json_utf8_valid("\xc1\xbf", 2));           /* overlong */
    assert_false(hearth_json_utf8_valid("\xe0\x9f\xbf", 3));       /* overlong */
    assert_false(hearth_json_utf8_valid("\xed\xa0\x80", 3));       /* surrogate */
    assert_false(hearth_json_utf8_valid("\xf0\x8f\xbf\xbf", 4));   /* overlong */
    assert_false(hearth_json_utf8_valid("\xf4\x90\x80\x80", 4));   /* > U+10FFFF */
    assert_false(hearth_json_utf8_valid("\xf5\x80\x80\x80", 4));
    assert_false(hearth_json_utf8_valid("\xe2\x82", 2));           /* truncated */
    assert_false(hearth_json_utf8_valid("\xe2\x28\xa1", 3));       /* bad continuation */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_13_1_valid_body_fills_values),
        cmocka_unit_test(test_5_13_1_body_need_not_be_nul_terminated),
        cmocka_unit_test(test_5_13_1_rejects_hostile_and_malformed_bodies),
        cmocka_unit_test(test_5_13_1_exact_client_message),
        cmocka_unit_test(test_5_13_1_nul_bytes_rejected),
        cmocka_unit_test(test_5_13_1_size_limit),
        cmocka_unit_test(test_5_13_1_deep_nesting_stopped_by_prescan),
        cmocka_unit_test(test_5_13_1_client_names_sanitised_in_errors),
        cmocka_unit_test(test_5_13_1_empty_schema_accepts_only_empty_object),
        cmocka_unit_test(test_5_13_1_int_bounds_and_precision),
        cmocka_unit_test(test_5_13_1_escape_builds_valid_json),
        cmocka_unit_test(test_5_13_1_escape_rejects_and_bounds),
        cmocka_unit_test(test_5_13_1_utf8_validator_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
