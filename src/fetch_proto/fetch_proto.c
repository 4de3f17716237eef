/* The updater <-> hearth-fetch wire protocol: request record and RESULT
 * payload, encoded and decoded in one place (format in
 * include/hearth/fetch_proto.h). Every decoder treats its input as hostile:
 * the helper's request may come from anyone who can start it, and the
 * daemon must survive a compromised helper. */
#include <stdlib.h>
#include <string.h>

#include "hearth/fetch_proto.h"

/* ------------------------------------------------------------ request */

static hearth_status str16(hearth_buf *b, const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n > max) return hearth_err(HEARTH_ERR_TOO_LARGE, "transfer parameter too long");
    HEARTH_GUARD(hearth_buf_u16(b, (uint16_t)n));
    return n > 0 ? hearth_buf_append(b, s, n) : HEARTH_OK;
}

hearth_status hearth_fetch_request_encode(const hearth_fetch_request *r, hearth_buf *out)
{
    HEARTH_ENSURE(r != NULL && out != NULL, HEARTH_ERR_INVALID);
    if (r->key == NULL || r->key_len == 0 || r->key_len > HEARTH_FETCH_REQ_KEY_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "device key PEM size out of range");
    HEARTH_GUARD(hearth_buf_u32(out, HEARTH_FETCH_MAGIC));
    HEARTH_GUARD(str16(out, r->url, HEARTH_FETCH_REQ_URL_MAX));
    HEARTH_GUARD(hearth_buf_u64(out, r->offset));
    HEARTH_GUARD(hearth_buf_u64(out, r->max_bytes));
    HEARTH_GUARD(str16(out, r->ca_path, HEARTH_FETCH_REQ_PATH_MAX));
    HEARTH_GUARD(str16(out, r->cert_path, HEARTH_FETCH_REQ_PATH_MAX));
    HEARTH_GUARD(str16(out, r->pinned_pubkey, HEARTH_FETCH_REQ_PIN_MAX));
    HEARTH_GUARD(hearth_buf_u32(out, r->connect_timeout_s));
    HEARTH_GUARD(hearth_buf_u32(out, r->stall_timeout_s));
    HEARTH_GUARD(hearth_buf_u32(out, (uint32_t)r->key_len));
    return hearth_buf_append(out, r->key, r->key_len);
}

/* A u16-length string: bounded, no embedded NUL, copied and terminated. */
static hearth_status take_str(hearth_cursor *c, size_t max, bool required, const char **out)
{
    uint16_t n = 0;
    const uint8_t *p = NULL;
    HEARTH_GUARD(hearth_cursor_u16(c, &n));
    if (n > max) return hearth_err(HEARTH_ERR_TOO_LARGE, "request field too long");
    if (n == 0) {
        if (required) return hearth_err(HEARTH_ERR_INVALID, "request field missing");
        *out = NULL;
        return HEARTH_OK;
    }
    HEARTH_GUARD(hearth_cursor_ptr(c, n, &p));
    if (memchr(p, '\0', n) != NULL) return hearth_err(HEARTH_ERR_INVALID, "NUL in request field");
    char *s = malloc((size_t)n + 1);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return HEARTH_OK;
}

static hearth_status decode_fields(hearth_cursor *c, hearth_fetch_request *r)
{
    uint32_t magic = 0, key_len = 0;
    if (hearth_cursor_u32(c, &magic) != HEARTH_OK || magic != HEARTH_FETCH_MAGIC)
        return hearth_err(HEARTH_ERR_INVALID, "not a hearth-fetch request");
    HEARTH_GUARD(take_str(c, HEARTH_FETCH_REQ_URL_MAX, true, &r->url));
    HEARTH_GUARD(hearth_cursor_u64(c, &r->offset));
    HEARTH_GUARD(hearth_cursor_u64(c, &r->max_bytes));
    HEARTH_GUARD(take_str(c, HEARTH_FETCH_REQ_PATH_MAX, true, &r->ca_path));
    HEARTH_GUARD(take_str(c, HEARTH_FETCH_REQ_PATH_MAX, true, &r->cert_path));
    HEARTH_GUARD(take_str(c, HEARTH_FETCH_REQ_PIN_MAX, false, &r->pinned_pubkey));
    HEARTH_GUARD(hearth_cursor_u32(c, &r->connect_timeout_s));
    HEARTH_GUARD(hearth_cursor_u32(c, &r->stall_timeout_s));
    HEARTH_GUARD(hearth_cursor_u32(c, &key_len));
    if (key_len == 0 || key_len > HEARTH_FETCH_REQ_KEY_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "device key size out of range");
    HEARTH_GUARD(hearth_cursor_ptr(c, key_len, &r->key));
    r->key_len = key_len;
    if (hearth_cursor_remaining(c) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "trailing bytes after the request");
    if (strncmp(r->url, "https://", 8) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "update repository must be https://");
    if (r->connect_timeout_s == 0 || r->connect_timeout_s > HEARTH_FETCH_TIMEOUT_MAX_S ||
        r->stall_timeout_s == 0 || r->stall_timeout_s > HEARTH_FETCH_TIMEOUT_MAX_S)
        return hearth_err(HEARTH_ERR_RANGE, "timeouts out of range");
    if (r->offset > (uint64_t)INT64_MAX || r->max_bytes > (uint64_t)INT64_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "offset or size out of range");
    return HEARTH_OK;
}

hearth_status hearth_fetch_request_decode(const uint8_t *data, size_t len, hearth_fetch_request *r)
{
    HEARTH_ENSURE(r != NULL && (data != NULL || len == 0), HEARTH_ERR_INVALID);
    memset(r, 0, sizeof *r);
    hearth_cursor c;
    hearth_cursor_init(&c, data, len);
    hearth_status st = decode_fields(&c, r);
    if (st != HEARTH_OK) hearth_fetch_request_clear(r);
    return st;
}

void hearth_fetch_request_clear(hearth_fetch_request *r)
{
    if (r == NULL) return;
    free((void *)r->url);
    free((void *)r->ca_path);
    free((void *)r->cert_path);
    free((void *)r->pinned_pubkey);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------- result */

hearth_status hearth_fetch_result_encode(const hearth_fetch_result *r, uint8_t *out, size_t cap,
                                         size_t *len)
{
    HEARTH_ENSURE(r != NULL && out != NULL && len != NULL, HEARTH_ERR_INVALID);
    hearth_buf b;
    hearth_buf_init(&b, HEARTH_FETCH_FRAME_RESULT_MAX);
    size_t ml = strnlen(r->msg, HEARTH_FETCH_RESULT_MSG_MAX);
    uint8_t flags = (uint8_t)((r->overflow ? HEARTH_FETCH_RESULT_OVERFLOW : 0) |
                              (r->tls_failed ? HEARTH_FETCH_RESULT_TLS_FAILED : 0));
    uint32_t code = r->http_code > 0 && r->http_code <= 999 ? (uint32_t)r->http_code : 0u;
    hearth_status st = hearth_buf_u32(&b, (uint32_t)(int32_t)r->status);
    if (st == HEARTH_OK) st = hearth_buf_u32(&b, code);
    if (st == HEARTH_OK) st = hearth_buf_u64(&b, r->received);
    if (st == HEARTH_OK) st = hearth_buf_u8(&b, flags);
    if (st == HEARTH_OK) st = hearth_buf_u16(&b, (uint16_t)ml);
    if (st == HEARTH_OK && ml > 0) st = hearth_buf_append(&b, r->msg, ml);
    if (st == HEARTH_OK && b.len > cap) st = hearth_err(HEARTH_ERR_TOO_LARGE, "result buffer too small");
    if (st == HEARTH_OK) {
        memcpy(out, b.data, b.len);
        *len = b.len;
    }
    hearth_buf_free(&b);
    return st;
}

hearth_status hearth_fetch_result_decode(const uint8_t *p, size_t n, hearth_fetch_result *r)
{
    uint32_t stu = 0, code = 0;
    uint64_t recv = 0;
    uint8_t flags = 0;
    uint16_t ml = 0;
    const uint8_t *m = NULL;
    HEARTH_ENSURE(r != NULL && (p != NULL || n == 0), HEARTH_ERR_INVALID);
    memset(r, 0, sizeof *r);
    hearth_cursor cur;
    hearth_cursor_init(&cur, p, n);
    if (hearth_cursor_u32(&cur, &stu) != HEARTH_OK || hearth_cursor_u32(&cur, &code) != HEARTH_OK ||
        hearth_cursor_u64(&cur, &recv) != HEARTH_OK || hearth_cursor_u8(&cur, &flags) != HEARTH_OK ||
        hearth_cursor_u16(&cur, &ml) != HEARTH_OK || ml > HEARTH_FETCH_RESULT_MSG_MAX ||
        hearth_cursor_ptr(&cur, ml, &m) != HEARTH_OK || hearth_cursor_remaining(&cur) != 0)
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent a malformed result");
    int32_t sv = (int32_t)stu;
    if (sv > 0 || sv < (int32_t)HEARTH_ERR_INTERNAL || code > 999 ||
        (flags & ~(HEARTH_FETCH_RESULT_OVERFLOW | HEARTH_FETCH_RESULT_TLS_FAILED)) != 0)
        return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an invalid result");
    r->status = (hearth_status)sv;
    r->http_code = (long)code;
    r->received = recv;
    r->overflow = (flags & HEARTH_FETCH_RESULT_OVERFLOW) != 0;
    r->tls_failed = (flags & HEARTH_FETCH_RESULT_TLS_FAILED) != 0;
    for (size_t i = 0; i < ml; i++) r->msg[i] = (m[i] >= 0x20 && m[i] < 0x7f) ? (char)m[i] : '?';
    r->msg[ml] = '\0';
    return HEARTH_OK;
}

/* ------------------------------------------------------------- frames */

void hearth_fetch_frame_header(uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN], uint8_t type, uint32_t len)
{
    hdr[0] = type;
    hearth_be32_put(hdr + 1, len);
}

hearth_status hearth_fetch_frame_parse(const uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN], uint8_t *type,
                                       uint32_t *len)
{
    *type = hdr[0];
    *len = hearth_be32_get(hdr + 1);
    if (*type == HEARTH_FETCH_FRAME_DATA) {
        if (*len == 0 || *len > HEARTH_FETCH_FRAME_DATA_MAX)
            return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an oversized frame (%u bytes)", *len);
        return HEARTH_OK;
    }
    if (*type == HEARTH_FETCH_FRAME_RESULT) {
        if (*len > HEARTH_FETCH_FRAME_RESULT_MAX)
            return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an oversized result (%u bytes)", *len);
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_IO, "hearth-fetch sent an unknown frame type %u", *type);
}
