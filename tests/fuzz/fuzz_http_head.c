/*
 * libFuzzer harness for hearthd's request-head pre-parser,
 * hearth_http_head_parse() (src/api/http_head.c; EN 303 645 5.13-1, 5.5-5).
 * The input is the raw (decrypted) byte stream of a connection.
 *
 * Checked on every input, against an independent line scanner:
 * - no read outside buf[0..n) (the input is copied into a heap block of
 *   exactly n bytes; ASan reports any overrun);
 * - MORE exactly when no empty line follows the request line; OK only
 *   then, with 0 < len <= n and len at the end of the FIRST empty line
 *   (buf[len-2..len) = "\n\n" or buf[len-3..len) = "\n\r\n");
 * - body == 0 whenever opaque or without Content-Length; a tracked (not
 *   opaque) block has at most one numeric Content-Length, no
 *   Transfer-Encoding, no folded line, no NUL byte, and a body only on
 *   POST/PUT/PATCH;
 * - auth/ctype NUL-terminated inside their arrays, empty when flagged too
 *   long, otherwise found verbatim in the block;
 * - upload only for "POST <path>[?...] ..." exactly;
 * - prefix stability: buf[0..len) alone, and buf[0..len) plus other bytes,
 *   parse to the same result (the next request cannot change this one);
 *   every shorter prefix of an incomplete input is incomplete too;
 * - the shared header rules, on the parsed auth/ctype and on the raw input:
 *   hearth_http_bearer_token() yields only the whole base64url rest of
 *   "Bearer <token>" within the bound (and writes nothing otherwise),
 *   hearth_http_is_octet_stream() only that media type.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hearth/api.h"
#include "hearth/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UP HEARTH_API_UPLOAD_PATH

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_http_head: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static int parse_copy(const uint8_t *d, size_t n, hearth_http_head *h)
{
    char *b = malloc(n > 0 ? n : 1);
    CHECK(b != NULL);
    if (n > 0) memcpy(b, d, n);
    int r = hearth_http_head_parse(b, n, UP, h);
    free(b);
    return r;
}

/* Oracle: end offset of the first empty line after the request line
 * (lines end in LF, an optional CR before it belongs to the terminator),
 * or 0 when there is none in d[0..n). */
static size_t first_empty_line_end(const uint8_t *d, size_t n)
{
    size_t start = 0;
    unsigned lineno = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '\n') continue;
        size_t l = i - start;
        if (l > 0 && d[i - 1] == '\r') l--;
        if (lineno > 0 && l == 0) return i + 1;
        lineno++;
        start = i + 1;
    }
    return 0;
}

static bool contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0) return true;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return true;
    return false;
}

static bool same(const hearth_http_head *a, const hearth_http_head *b)
{
    return a->len == b->len && a->upload == b->upload && a->query == b->query &&
           a->opaque == b->opaque && a->body == b->body && a->n_cl == b->n_cl &&
           a->cl_bad == b->cl_bad && a->te == b->te && a->expect_continue == b->expect_continue &&
           a->auth_long == b->auth_long && a->ctype_long == b->ctype_long &&
           strcmp(a->auth, b->auth) == 0 && strcmp(a->ctype, b->ctype) == 0;
}

/* Any line in d[0..len) after the first that starts with SP or HT. */
static bool has_folded_line(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (d[i] == '\n' && (d[i + 1] == ' ' || d[i + 1] == '\t')) return true;
    return false;
}

/* The shared header rules (hearth_http_bearer_token, hearth_http_is_octet_stream)
 * on hostile values: a token comes back only as the whole rest of
 * "Bearer <token>", base64url, within the bound; octet-stream only for that
 * media type followed by the end, ';' or ' '. */
static void check_header_rules(const char *auth, const char *ctype)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char tok[HEARTH_TOKEN_STR_MAX];
    memset(tok, 0x55, sizeof tok);
    if (hearth_http_bearer_token(auth, tok)) {
        size_t tl = strnlen(tok, sizeof tok);
        CHECK(tl > 0 && tl < sizeof tok);
        CHECK(strncasecmp(auth, "bearer ", 7) == 0 && strcmp(auth + 7, tok) == 0);
        CHECK(strspn(tok, b64url) == tl);
    } else {
        CHECK((unsigned char)tok[0] == 0x55); /* nothing written */
    }
    if (hearth_http_is_octet_stream(ctype)) {
        CHECK(strncasecmp(ctype, "application/octet-stream", 24) == 0);
        CHECK(ctype[24] == '\0' || ctype[24] == ';' || ctype[24] == ' ');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The raw input as one header value, too (up to the first NUL). */
    char raw[256];
    size_t rn = size < sizeof raw ? size : sizeof raw - 1;
    if (rn > 0) memcpy(raw, data, rn);
    raw[rn] = '\0';
    check_header_rules(raw, raw);

    hearth_http_head h;
    int r = parse_copy(data, size, &h);
    CHECK(r == HEARTH_HTTP_HEAD_OK || r == HEARTH_HTTP_HEAD_MORE || r == HEARTH_HTTP_HEAD_OPAQUE);
    CHECK(memchr(h.auth, '\0', sizeof h.auth) != NULL);
    CHECK(memchr(h.ctype, '\0', sizeof h.ctype) != NULL);
    size_t end = first_empty_line_end(data, size);

    if (r == HEARTH_HTTP_HEAD_MORE) {
        CHECK(end == 0);
        CHECK(h.len == 0);
        hearth_http_head p;
        CHECK(parse_copy(data, size / 2, &p) == HEARTH_HTTP_HEAD_MORE);
        return 0;
    }
    if (r == HEARTH_HTTP_HEAD_OPAQUE) {
        /* Rejected as soon as a bad line is complete: more bytes cannot
         * make it acceptable. */
        CHECK(h.len == 0);
        return 0;
    }

    CHECK(end != 0);
    CHECK(h.len == end);
    CHECK(h.len > 0 && h.len <= size);
    const uint8_t *b = data;
    size_t len = h.len;
    CHECK(len >= 2 && b[len - 1] == '\n' &&
          (b[len - 2] == '\n' || (len >= 3 && b[len - 2] == '\r' && b[len - 3] == '\n')));
    if (h.opaque || h.n_cl == 0) CHECK(h.body == 0);
    if (h.auth_long) CHECK(h.auth[0] == '\0');
    if (h.ctype_long) CHECK(h.ctype[0] == '\0');
    CHECK(contains(b, len, h.auth));
    CHECK(contains(b, len, h.ctype));
    check_header_rules(h.auth, h.ctype);
    if (!h.opaque) {
        CHECK(h.n_cl <= 1 && !h.te && !h.cl_bad);
        CHECK(memchr(b, '\0', len) == NULL);
        CHECK(!has_folded_line(b, len));
        if (h.body > 0)
            CHECK((len > 5 && memcmp(b, "POST ", 5) == 0) || (len > 4 && memcmp(b, "PUT ", 4) == 0) ||
                  (len > 6 && memcmp(b, "PATCH ", 6) == 0));
    }
    if (h.upload) {
        size_t k = strlen("POST " UP);
        CHECK(len > k && memcmp(b, "POST " UP, k) == 0 && (b[k] == ' ' || b[k] == '?'));
        CHECK(!has_folded_line(b, len) && memchr(b, '\0', len) == NULL);
    }

    /* Prefix stability: the block alone, and the block followed by other
     * bytes than the input had, give the same answer. */
    hearth_http_head p;
    CHECK(parse_copy(b, len, &p) == HEARTH_HTTP_HEAD_OK);
    CHECK(same(&h, &p));
    uint8_t *ext = malloc(len + 3);
    CHECK(ext != NULL);
    memcpy(ext, b, len);
    memcpy(ext + len, "\n\0 ", 3);
    CHECK(parse_copy(ext, len + 3, &p) == HEARTH_HTTP_HEAD_OK);
    CHECK(same(&h, &p));
    free(ext);
    if (len > 0) CHECK(parse_copy(b, len - 1, &p) == HEARTH_HTTP_HEAD_MORE);
    return 0;
}
