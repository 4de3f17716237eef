/* Unit tests for src/api/http_head.c (include/hearth/http.h): hearthd's
 * pre-parser of raw request header blocks (the input filter in
 * daemon/filter.c runs it on decrypted TLS bytes before evhttp sees them),
 * and the bearer-token and octet-stream rules the API and the upload share.
 * Evidences 5.13-1 (hostile network input is validated; framing is never
 * read differently from evhttp, so no request can be smuggled past the
 * filter) and 5.5-5 (only the exact upload route is diverted to the
 * authenticated streaming path; everything else stays with evhttp and the
 * API's own authentication).
 *
 * Every input is copied into a heap block of exactly its length (no NUL
 * after it), so a read past the end is caught by ASan in the sanitizer
 * build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hearth/api.h"
#include "hearth/http.h"

#define UP HEARTH_API_UPLOAD_PATH

/* Parse n bytes of @p s from a heap copy of exactly n bytes. */
static int parse_mem(const char *s, size_t n, hearth_http_head *h)
{
    char *b = malloc(n > 0 ? n : 1);
    assert_non_null(b);
    if (n > 0) memcpy(b, s, n);
    int r = hearth_http_head_parse(b, n, UP, h);
    free(b);
    return r;
}

static int parse_str(const char *s, hearth_http_head *h)
{
    return parse_mem(s, strlen(s), h);
}

/* A block that parses OK and is tracked (not opaque). */
static void expect_tracked(const char *s, size_t len, uint64_t body, hearth_http_head *h)
{
    assert_int_equal(parse_str(s, h), HEARTH_HTTP_HEAD_OK);
    assert_int_equal(h->len, len);
    assert_false(h->opaque);
    assert_true(h->body == body);
}

/* The whole of @p s is one tracked block. */
static void expect_block(const char *s, uint64_t body, hearth_http_head *h)
{
    expect_tracked(s, strlen(s), body, h);
}

static void expect_opaque(const char *s, hearth_http_head *h)
{
    assert_int_equal(parse_str(s, h), HEARTH_HTTP_HEAD_OK);
    assert_true(h->opaque);
    assert_true(h->body == 0);
}

static void test_5_13_1_crlf_and_bare_lf_lines(void **state)
{
    (void)state;
    hearth_http_head h;
    static const char crlf[] = "GET /api/v1/device HTTP/1.1\r\nHost: d\r\n\r\n";
    expect_tracked(crlf, sizeof crlf - 1, 0, &h);
    static const char lf[] = "GET /api/v1/device HTTP/1.1\nHost: d\n\n";
    expect_tracked(lf, sizeof lf - 1, 0, &h);
    /* Mixed, as evhttp's EVBUFFER_EOL_CRLF accepts: LF with optional CR. */
    static const char mixed[] = "GET / HTTP/1.1\r\nHost: d\n\r\n";
    expect_tracked(mixed, sizeof mixed - 1, 0, &h);
    static const char mixed2[] = "GET / HTTP/1.1\nHost: d\r\n\n";
    expect_tracked(mixed2, sizeof mixed2 - 1, 0, &h);
    /* The block ends at the first empty line; what follows (a pipelined
     * request) is not part of it. */
    static const char two[] = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    expect_tracked(two, strlen("GET /a HTTP/1.1\r\n\r\n"), 0, &h);
    /* A bare CR is not a line end (as in evhttp): "\r\r\n" leaves a line
     * holding "\r", which is no header line. */
    assert_int_equal(parse_str("GET / HTTP/1.1\r\n\r\r\n", &h), HEARTH_HTTP_HEAD_OPAQUE);
    assert_int_equal(parse_str("GET / HTTP/1.1\r\rHost: d\r\n\r\n", &h), HEARTH_HTTP_HEAD_OK);
    assert_int_equal(h.len, strlen("GET / HTTP/1.1\r\rHost: d\r\n\r\n"));
}

static void test_5_13_1_every_prefix_is_incomplete(void **state)
{
    (void)state;
    static const char *blocks[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "POST /api/v1/login HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
        "Content-Length: 42\r\n\r\n",
        "POST " UP " HTTP/1.1\nAuthorization: Bearer abc\nContent-Length: 9\n\n",
        "PUT /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n X: folded\r\n\r\n",
    };
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        size_t len = strlen(blocks[b]);
        hearth_http_head h;
        for (size_t k = 0; k < len; k++) {
            assert_int_equal(parse_mem(blocks[b], k, &h), HEARTH_HTTP_HEAD_MORE);
        }
        assert_int_equal(parse_mem(blocks[b], len, &h), HEARTH_HTTP_HEAD_OK);
        assert_int_equal(h.len, len);
    }
    /* A long block with no empty line stays incomplete at any size: the
     * caller (hearthd) bounds it with its header cap. */
    size_t big = 20000;
    char *p = malloc(big);
    assert_non_null(p);
    memcpy(p, "GET / HTTP/1.1\r\n", 16);
    for (size_t i = 16; i < big; i++) p[i] = (i % 50 == 49) ? '\n' : 'a';
    for (size_t i = 16; i < big; i++)
        if (p[i] == '\n') p[i - 1] = ':';
    hearth_http_head h;
    assert_int_equal(hearth_http_head_parse(p, big, UP, &h), HEARTH_HTTP_HEAD_MORE);
    free(p);
}

static void test_5_13_1_content_length_parsing(void **state)
{
    (void)state;
    hearth_http_head h;
    expect_block("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 5, &h);
    assert_int_equal(h.n_cl, 1);
    expect_block("POST /x HTTP/1.1\r\ncontent-length:0\r\n\r\n", 0, &h);
    assert_int_equal(h.n_cl, 1);
    /* Spaces and tabs around the value are not part of it. */
    expect_block("PUT /x HTTP/1.1\r\nContent-Length: \t 42 \t\r\n\r\n", 42, &h);
    expect_block("PATCH /x HTTP/1.1\r\nContent-Length: 007\r\n\r\n", 7, &h);
    /* 19 digits: the largest accepted form (fits in 64 bits unsigned). */
    expect_block("POST /x HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n",
                 UINT64_C(9999999999999999999), &h);
    assert_false(h.cl_bad);
    /* 20 digits, even with a small value, is refused: no overflow path. */
    expect_opaque("POST /x HTTP/1.1\r\nContent-Length: 00000000000000000001\r\n\r\n", &h);
    assert_true(h.cl_bad);
    expect_opaque("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", &h);
    assert_true(h.cl_bad);
    static const char *bad[] = {"", "12a", "a12", "-1", "+1", "1 2", "0x10", "1.0", "1,1",
                                "\v1", "1\r", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "POST /x HTTP/1.1\r\nContent-Length: %s\r\n\r\n", bad[i]);
        expect_opaque(req, &h);
        assert_true(h.cl_bad);
    }
    /* Duplicates: opaque even when equal (evhttp takes the first one; a
     * proxy might take the last). */
    expect_opaque("POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h);
    assert_int_equal(h.n_cl, 2);
    expect_opaque("POST /x HTTP/1.1\r\nContent-Length: 5\r\nCONTENT-LENGTH: 50\r\n\r\n", &h);
    /* A name with a space before the colon is another header for evhttp
     * too ("Content-Length " != "Content-Length"): not counted. */
    expect_block("POST /x HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 0, &h);
    assert_int_equal(h.n_cl, 0);
}

static void test_5_13_1_transfer_encoding_is_opaque(void **state)
{
    (void)state;
    hearth_http_head h;
    expect_opaque("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h);
    assert_true(h.te);
    expect_opaque("POST /x HTTP/1.1\r\nContent-Length: 5\r\ntransfer-encoding: identity\r\n\r\n", &h);
    assert_true(h.te);
    expect_opaque("POST /x HTTP/1.1\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\n", &h);
    /* Also on GET. */
    expect_opaque("GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h);
    /* A chunked upload stays an upload, so hearthd refuses it with 411
     * (docs/api.md) instead of handing it to evhttp. */
    expect_opaque("POST " UP " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h);
    assert_true(h.upload);
    assert_true(h.te);
}

static void test_5_13_1_folded_headers_are_opaque(void **state)
{
    (void)state;
    hearth_http_head h;
    expect_opaque("POST /x HTTP/1.1\r\nContent-Length: 1\r\n 0\r\n\r\n", &h);
    expect_opaque("GET /x HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", &h);
    expect_opaque("GET /x HTTP/1.1\nX-A: a\n b\n\n", &h);
    /* A folded upload head is not judged by the filter (evhttp would read
     * its Authorization or Content-Length differently): left to evhttp. */
    expect_opaque("POST " UP " HTTP/1.1\r\nContent-Length: 1\r\n 0\r\n\r\n", &h);
    assert_false(h.upload);
    expect_opaque("POST " UP " HTTP/1.1\r\nAuthorization: Bearer a\r\n b\r\n\r\n", &h);
    assert_false(h.upload);
}

static void test_5_13_1_body_headers_without_body_method_are_opaque(void **state)
{
    (void)state;
    hearth_http_head h;
    /* evhttp reads no body for these methods, whatever Content-Length says,
     * so the filter must not skip one. */
    static const char *m[] = {"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT", "FOO",
                              "post", "Post"};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char req[128];
        snprintf(req, sizeof req, "%s /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n", m[i]);
        expect_opaque(req, &h);
        snprintf(req, sizeof req, "%s /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", m[i]);
        expect_opaque(req, &h);
        snprintf(req, sizeof req, "%s /x HTTP/1.1\r\nHost: d\r\n\r\n", m[i]);
        expect_tracked(req, strlen(req), 0, &h);
    }
    expect_block("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 3, &h);
    expect_block("PUT /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 3, &h);
    expect_block("PATCH /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 3, &h);
    /* A body method without Content-Length has no body. */
    expect_block("POST /x HTTP/1.1\r\n\r\n", 0, &h);
}

static void test_5_5_5_upload_only_for_exact_post_path(void **state)
{
    (void)state;
    hearth_http_head h;
    assert_int_equal(parse_str("POST " UP " HTTP/1.1\r\nContent-Length: 100\r\n\r\n", &h),
                     HEARTH_HTTP_HEAD_OK);
    assert_true(h.upload);
    assert_false(h.query);
    assert_true(h.body == 100);
    /* A lone '?' is an empty query (the API ignores it too). */
    assert_int_equal(parse_str("POST " UP "? HTTP/1.1\r\n\r\n", &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.upload);
    assert_false(h.query);
    assert_int_equal(parse_str("POST " UP "?a=1 HTTP/1.1\r\n\r\n", &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.upload);
    assert_true(h.query);
    static const char *not_upload[] = {
        "POST " UP "X HTTP/1.1\r\n\r\n",
        "POST " UP "/ HTTP/1.1\r\n\r\n",
        "POST /api/v1/updates/uploa HTTP/1.1\r\n\r\n",
        "POST /API/V1/UPDATES/UPLOAD HTTP/1.1\r\n\r\n",
        "POST /api/v1/updates/upload%00 HTTP/1.1\r\n\r\n",
        "POST //api/v1/updates/upload HTTP/1.1\r\n\r\n",
        "POST http://d" UP " HTTP/1.1\r\n\r\n",
        "GET " UP " HTTP/1.1\r\n\r\n",
        "PUT " UP " HTTP/1.1\r\n\r\n",
        "post " UP " HTTP/1.1\r\n\r\n",
        "POSTX " UP " HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof not_upload / sizeof not_upload[0]; i++) {
        assert_int_equal(parse_str(not_upload[i], &h), HEARTH_HTTP_HEAD_OK);
        assert_false(h.upload);
    }
    /* evhttp 2.1.12 takes the target up to the LAST space (after dropping
     * trailing spaces): a request line with extra spaces names another
     * target to it, so it is not the upload here either. */
    static const char *spaced[] = {
        "POST " UP " X HTTP/1.1\r\n\r\n",
        "POST " UP " HTTP/1.1 HTTP/1.1\r\n\r\n",
        "POST " UP "  HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof spaced / sizeof spaced[0]; i++) {
        assert_int_equal(parse_str(spaced[i], &h), HEARTH_HTTP_HEAD_OK);
        assert_false(h.upload);
    }
    assert_int_equal(parse_str("POST " UP " HTTP/1.1   \r\n\r\n", &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.upload);
    assert_int_equal(parse_str("POST " UP "?a b HTTP/1.1\r\n\r\n", &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.upload);
    assert_true(h.query);
    /* The path comes from the caller. */
    char b[] = "POST /elsewhere HTTP/1.1\r\n\r\n";
    assert_int_equal(hearth_http_head_parse(b, sizeof b - 1, "/elsewhere", &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.upload);
    /* Expect: 100-continue is seen (the filter answers it only after the
     * upload's checks passed). */
    assert_int_equal(parse_str("POST " UP " HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n", &h),
                     HEARTH_HTTP_HEAD_OK);
    assert_true(h.expect_continue);
    assert_int_equal(parse_str("POST " UP " HTTP/1.1\r\nExpect: 100-continuex\r\n\r\n", &h),
                     HEARTH_HTTP_HEAD_OK);
    assert_false(h.expect_continue);
}

static void test_5_5_5_long_credentials_flagged_not_overflowed(void **state)
{
    (void)state;
    hearth_http_head h;
    char v[400], req[600];
    /* Largest kept value: cap - 1 bytes. */
    memset(v, 'A', sizeof v);
    for (size_t len = HEARTH_HTTP_HEAD_AUTH_MAX - 2; len < HEARTH_HTTP_HEAD_AUTH_MAX + 2; len++) {
        snprintf(req, sizeof req, "POST " UP " HTTP/1.1\r\nAuthorization: %.*s\r\n"
                 "Content-Length: 70\r\n\r\n", (int)len, v);
        assert_int_equal(parse_str(req, &h), HEARTH_HTTP_HEAD_OK);
        assert_true(h.body == 70); /* later headers still parsed */
        if (len < HEARTH_HTTP_HEAD_AUTH_MAX) {
            assert_false(h.auth_long);
            assert_int_equal(strlen(h.auth), len);
        } else {
            assert_true(h.auth_long);
            assert_string_equal(h.auth, "");
        }
    }
    for (size_t len = HEARTH_HTTP_HEAD_CTYPE_MAX - 2; len < HEARTH_HTTP_HEAD_CTYPE_MAX + 2; len++) {
        snprintf(req, sizeof req, "POST " UP " HTTP/1.1\r\nContent-Type: %.*s\r\n\r\n", (int)len, v);
        assert_int_equal(parse_str(req, &h), HEARTH_HTTP_HEAD_OK);
        if (len < HEARTH_HTTP_HEAD_CTYPE_MAX) {
            assert_false(h.ctype_long);
            assert_int_equal(strlen(h.ctype), len);
        } else {
            assert_true(h.ctype_long);
            assert_string_equal(h.ctype, "");
        }
    }
    /* A repeated header is unusable (which one counts?), whatever the
     * order of long and short values: the flag and the empty value always
     * go together (found by fuzz_http_head: long then short left the flag
     * set next to the short value). */
#define LONGV "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    static const char *dup[] = {
        "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
        "Authorization: Bearer a\r\nauthorization: Bearer a\r\n",
        "Authorization: " LONGV "\r\nAuthorization: Bearer b\r\n",
        "Authorization: Bearer b\r\nAuthorization: " LONGV "\r\n",
        "Content-Type: application/octet-stream\r\nContent-Type: text/plain\r\n",
        "Content-Type: " LONGV "\r\nContent-Type: application/octet-stream\r\n",
    };
#undef LONGV
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
        snprintf(req, sizeof req, "POST " UP " HTTP/1.1\r\n%sContent-Length: 70\r\n\r\n", dup[i]);
        assert_int_equal(parse_str(req, &h), HEARTH_HTTP_HEAD_OK);
        assert_true(h.body == 70);
        bool is_auth = strncmp(dup[i], "Authorization", 13) == 0;
        assert_true(is_auth ? h.auth_long : h.ctype_long);
        assert_string_equal(is_auth ? h.auth : h.ctype, "");
    }
    /* A long value in an earlier header does not leak into a later short
     * one: the kept value is the exact header value. */
    snprintf(req, sizeof req, "POST " UP " HTTP/1.1\r\nAuthorization:   Bearer tok  \r\n"
             "Content-Type: application/octet-stream\r\n\r\n");
    assert_int_equal(parse_str(req, &h), HEARTH_HTTP_HEAD_OK);
    assert_string_equal(h.auth, "Bearer tok");
    assert_string_equal(h.ctype, "application/octet-stream");
}

static void test_5_13_1_malformed_lines(void **state)
{
    (void)state;
    hearth_http_head h;
    static const char *bad[] = {
        "\r\n\r\n",                       /* empty request line */
        "GET\r\n\r\n",                    /* no target */
        "GET /\r\n\r\n",                  /* no version */
        "GET /   \r\n\r\n",               /* no version, trailing spaces */
        " / HTTP/1.1\r\n\r\n",            /* no method */
        "GET  HTTP/1.1\r\n\r\n",          /* empty target */
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: d\r\n\r\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse_str(bad[i], &h), HEARTH_HTTP_HEAD_OPAQUE);
    /* The result is always fully written, also on failure. */
    memset(&h, 0x5a, sizeof h);
    assert_int_equal(parse_str("GET\r\n\r\n", &h), HEARTH_HTTP_HEAD_OPAQUE);
    assert_int_equal(h.len, 0);
    assert_false(h.upload);
    memset(&h, 0x5a, sizeof h);
    assert_int_equal(parse_mem("", 0, &h), HEARTH_HTTP_HEAD_MORE);
    assert_int_equal(h.len, 0);
}

static void test_5_13_1_nul_bytes_inside_block(void **state)
{
    (void)state;
    hearth_http_head h;
    /* evhttp reads each line as a C string. A line that starts with NUL is
     * an empty line to it (end of the headers) but a header line here: the
     * two would disagree about where the body starts, so any NUL in the
     * block makes it opaque. */
    static const char smuggle[] = "POST /a HTTP/1.1\r\n\0:\r\nGET /x:y HTTP/1.1\r\n"
                                  "Content-Length: 10\r\n\r\n0123456789";
    assert_int_equal(parse_mem(smuggle, sizeof smuggle - 1, &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.opaque);
    assert_true(h.body == 0);
    static const char in_value[] = "POST /a HTTP/1.1\r\nContent-Length: 5\0\r\n\r\n";
    assert_int_equal(parse_mem(in_value, sizeof in_value - 1, &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.opaque);
    static const char in_other[] = "GET /a HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
    assert_int_equal(parse_mem(in_other, sizeof in_other - 1, &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.opaque);
    assert_int_equal(h.len, sizeof in_other - 1); /* NUL does not end the scan */
    static const char up_nul[] = "POST " UP " HTTP/1.1\r\nAuthorization: Bearer a\0b\r\n\r\n";
    assert_int_equal(parse_mem(up_nul, sizeof up_nul - 1, &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.opaque);
    assert_false(h.upload);
    static const char in_line[] = "POST " UP "\0 HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_mem(in_line, sizeof in_line - 1, &h), HEARTH_HTTP_HEAD_OK);
    assert_true(h.opaque);
    assert_false(h.upload);
    /* A NUL after the block belongs to the next request, not this one. */
    static const char after[] = "GET /a HTTP/1.1\r\n\r\n\0";
    assert_int_equal(parse_mem(after, sizeof after - 1, &h), HEARTH_HTTP_HEAD_OK);
    assert_false(h.opaque);
    assert_int_equal(h.len, sizeof after - 2);
    /* An incomplete block with NULs is still just incomplete. */
    static const char part[] = "GET /a HTTP/1.1\r\n\0\0";
    assert_int_equal(parse_mem(part, sizeof part - 1, &h), HEARTH_HTTP_HEAD_MORE);
}

/* 5.5-5: the one bearer-token rule hearthd's upload and the API share. */
static void test_5_5_5_bearer_token(void **state)
{
    (void)state;
    char tok[HEARTH_TOKEN_STR_MAX];
    memset(tok, 'x', sizeof tok);
    assert_true(hearth_http_bearer_token("Bearer abc-DEF_123", tok));
    assert_string_equal(tok, "abc-DEF_123");
    assert_true(hearth_http_bearer_token("bEaReR z", tok)); /* scheme is case-insensitive */
    assert_string_equal(tok, "z");
    /* The longest token that fits, and one character more. */
    char h[16 + HEARTH_TOKEN_STR_MAX];
    snprintf(h, sizeof h, "Bearer %.*s", HEARTH_TOKEN_STR_MAX - 1,
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_true(hearth_http_bearer_token(h, tok));
    assert_int_equal(strlen(tok), HEARTH_TOKEN_STR_MAX - 1);
    snprintf(h, sizeof h, "Bearer %.*s", HEARTH_TOKEN_STR_MAX,
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    memset(tok, 'x', sizeof tok);
    assert_false(hearth_http_bearer_token(h, tok));
    assert_int_equal(tok[0], 'x'); /* nothing written on failure */
    static const char *const bad[] = {
        "",          "Bearer",       "Bearer ",        "Bearer  abc", "Basic abc",
        "Bearerabc", "Bearer ab c",  "Bearer abc ",    "Bearer ab=",  "Bearer ab+/",
        "Bearer a.b", "Bearer \tab", "Token Bearer ab",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(hearth_http_bearer_token(bad[i], tok));
        assert_int_equal(tok[0], 'x');
    }
    assert_false(hearth_http_bearer_token(NULL, tok));
}

/* 5.13-1: the one octet-stream rule hearthd's upload and the API share. */
static void test_5_13_1_octet_stream(void **state)
{
    (void)state;
    assert_true(hearth_http_is_octet_stream("application/octet-stream"));
    assert_true(hearth_http_is_octet_stream("Application/Octet-Stream"));
    assert_true(hearth_http_is_octet_stream("application/octet-stream; foo=bar"));
    assert_true(hearth_http_is_octet_stream("application/octet-stream ;x"));
    assert_false(hearth_http_is_octet_stream(NULL));
    assert_false(hearth_http_is_octet_stream(""));
    assert_false(hearth_http_is_octet_stream("application/octet-streamx"));
    assert_false(hearth_http_is_octet_stream("application/octet-strea"));
    assert_false(hearth_http_is_octet_stream("application/json"));
    assert_false(hearth_http_is_octet_stream(" application/octet-stream"));
    assert_false(hearth_http_is_octet_stream("text/application/octet-stream"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_13_1_crlf_and_bare_lf_lines),
        cmocka_unit_test(test_5_13_1_every_prefix_is_incomplete),
        cmocka_unit_test(test_5_13_1_content_length_parsing),
        cmocka_unit_test(test_5_13_1_transfer_encoding_is_opaque),
        cmocka_unit_test(test_5_13_1_folded_headers_are_opaque),
        cmocka_unit_test(test_5_13_1_body_headers_without_body_method_are_opaque),
        cmocka_unit_test(test_5_5_5_upload_only_for_exact_post_path),
        cmocka_unit_test(test_5_5_5_long_credentials_flagged_not_overflowed),
        cmocka_unit_test(test_5_13_1_malformed_lines),
        cmocka_unit_test(test_5_13_1_nul_bytes_inside_block),
        cmocka_unit_test(test_5_5_5_bearer_token),
        cmocka_unit_test(test_5_13_1_octet_stream),
    };
    return cmocka_run_group_tests_name("http_head", tests, NULL, NULL);
}
