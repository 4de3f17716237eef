/**
 * @file http.h
 * @brief HTTP/1.1 request heads as hearthd reads them: the request-head
 *        pre-parser of its input filter and the two header rules every
 *        transport shares (bearer token, octet-stream body)
 *        (EN 303 645 5.13-1, 5.5-5).
 *
 * hearth_http_head_parse() runs on the decrypted bytes of each TLS
 * connection BEFORE libevent's evhttp reads them (daemon/filter.c, the
 * input filter). It finds where one request's header block ends, whether it
 * carries a body of a known length, and whether it is the streamed bundle
 * upload, so the daemon can divert that one request and pass every other
 * byte to evhttp unchanged.
 *
 * The input is hostile network data (EN 303 645 5.13-1) and the parser must
 * never disagree with evhttp about where a request ends and the next one
 * begins (request smuggling). Whenever it cannot be sure -- folded header
 * lines, NUL bytes, Transfer-Encoding, several or non-numeric Content-Length
 * headers, a length on a method without a body -- it says so (opaque) and the daemon
 * stops interpreting the connection. Tested by tests/unit/test_http_head.c,
 * tests/fuzz/fuzz_http_head.c and a differential test against a real evhttp.
 *
 * hearth_http_bearer_token() and hearth_http_is_octet_stream() are the one
 * place that reads an Authorization or Content-Type value: the API layer
 * (src/api) and hearthd's streaming upload (which answers before the API
 * sees the request) call the same functions, so both accept exactly the
 * same headers. Implemented in src/api/http_head.c (library hearth_api).
 */
#ifndef HEARTH_HTTP_H
#define HEARTH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/auth.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest Authorization value kept, NUL included (longer: auth_long). */
#define HEARTH_HTTP_HEAD_AUTH_MAX 160
/** Largest Content-Type value kept, NUL included (longer: ctype_long). */
#define HEARTH_HTTP_HEAD_CTYPE_MAX 128

/** What the parser learnt from one request header block. */
typedef struct {
    size_t len;           /**< bytes of the block, empty line included */
    bool upload;          /**< POST to the upload path (any query) */
    bool query;           /**< a non-empty query string */
    bool opaque;          /**< framing the parser does not track (see parse) */
    uint64_t body;        /**< Content-Length of a tracked request, else 0 */
    unsigned n_cl;        /**< Content-Length headers seen */
    bool cl_bad;          /**< a Content-Length that is not a decimal number */
    bool te;              /**< Transfer-Encoding present */
    bool expect_continue; /**< Expect: 100-continue */
    bool auth_long;       /**< Authorization too long to keep, or repeated: auth is "" */
    bool ctype_long;      /**< Content-Type too long to keep, or repeated: ctype is "" */
    char auth[HEARTH_HTTP_HEAD_AUTH_MAX];   /**< Authorization value ("" if absent) */
    char ctype[HEARTH_HTTP_HEAD_CTYPE_MAX]; /**< Content-Type value ("" if absent) */
} hearth_http_head;

/** Results of hearth_http_head_parse(). */
enum {
    HEARTH_HTTP_HEAD_OK = 0,     /**< a complete block; @p h filled in */
    HEARTH_HTTP_HEAD_MORE = 1,   /**< no empty line yet: need more bytes */
    HEARTH_HTTP_HEAD_OPAQUE = 2, /**< malformed request line or header line */
};

/**
 * Parse the request header block at the start of buf[0..n) the way evhttp
 * reads it: lines end in LF or CRLF, the block ends with the first empty
 * line. Never reads outside buf[0..n) and needs no NUL terminator.
 *
 * A tracked request (OK, not opaque) has a body only for POST/PUT/PATCH with
 * exactly one decimal Content-Length (at most 19 digits) and no
 * Transfer-Encoding; any other use of those headers, folded header lines
 * and NUL bytes anywhere in the block make it opaque, with body 0. A folded
 * or NUL-holding block is never flagged as the upload (evhttp, which would
 * read its headers differently, handles it).
 *
 * @param[in]  buf          the bytes received so far (may hold more than one request)
 * @param[in]  n            their number
 * @param[in]  upload_path  request path that marks the upload (exact match, before '?')
 * @param[out] h            the result; always written (zeroed first)
 * @return HEARTH_HTTP_HEAD_OK, HEARTH_HTTP_HEAD_MORE or HEARTH_HTTP_HEAD_OPAQUE.
 *         The caller wipes @p h after use: it may hold a bearer token.
 */
int hearth_http_head_parse(const char *buf, size_t n, const char *upload_path,
                           hearth_http_head *h);

/**
 * Read a bearer token: @p authorization must be "Bearer " (scheme matched
 * case-insensitively, one space) followed by 1..HEARTH_TOKEN_STR_MAX-1
 * base64url characters ([A-Za-z0-9_-]) and nothing else.
 *
 * @param[in]  authorization  the Authorization header value (NULL: absent)
 * @param[out] out            the token, NUL-terminated; written only on success
 * @return true with the token in @p out, false if absent or malformed.
 *         The caller wipes @p out after use.
 */
bool hearth_http_bearer_token(const char *authorization, char out[HEARTH_TOKEN_STR_MAX]);

/**
 * Whether a Content-Type value names application/octet-stream (matched
 * case-insensitively), alone or followed by parameters (';' or ' ').
 *
 * @param[in] content_type  the Content-Type header value (NULL: absent)
 * @return true for an octet-stream body, false otherwise (absent included).
 */
bool hearth_http_is_octet_stream(const char *content_type);

#ifdef __cplusplus
}
#endif

#endif
