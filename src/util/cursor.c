/* Bounded cursor for untrusted input and a size-capped output buffer. */
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"

void hearth_cursor_init(hearth_cursor *c, const void *data, size_t len)
{
    c->data = data;
    c->len = len;
    c->pos = 0;
}

size_t hearth_cursor_remaining(const hearth_cursor *c) { return c->len - c->pos; }

hearth_status hearth_cursor_ptr(hearth_cursor *c, size_t n, const uint8_t **out)
{
    if (n > c->len - c->pos) return hearth_err(HEARTH_ERR_INVALID, "input truncated");
    *out = c->data + c->pos;
    c->pos += n;
    return HEARTH_OK;
}

hearth_status hearth_cursor_copy(hearth_cursor *c, void *out, size_t n)
{
    const uint8_t *p = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(c, n, &p));
    if (n > 0) memcpy(out, p, n);
    return HEARTH_OK;
}

static hearth_status read_be(hearth_cursor *c, size_t n, uint64_t *out)
{
    const uint8_t *p = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(c, n, &p));
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    *out = v;
    return HEARTH_OK;
}

hearth_status hearth_cursor_u8(hearth_cursor *c, uint8_t *out)
{
    uint64_t v;
    HEARTH_GUARD(read_be(c, 1, &v));
    *out = (uint8_t)v;
    return HEARTH_OK;
}

hearth_status hearth_cursor_u16(hearth_cursor *c, uint16_t *out)
{
    uint64_t v;
    HEARTH_GUARD(read_be(c, 2, &v));
    *out = (uint16_t)v;
    return HEARTH_OK;
}

hearth_status hearth_cursor_u32(hearth_cursor *c, uint32_t *out)
{
    uint64_t v;
    HEARTH_GUARD(read_be(c, 4, &v));
    *out = (uint32_t)v;
    return HEARTH_OK;
}

hearth_status hearth_cursor_u64(hearth_cursor *c, uint64_t *out) { return read_be(c, 8, out); }

void hearth_buf_init(hearth_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

hearth_status hearth_buf_append(hearth_buf *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "buffer limit of %zu bytes reached", b->max);
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n) ncap = ncap > b->max / 2 ? b->max : ncap * 2;
        uint8_t *nd = malloc(ncap);
        if (nd == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        if (b->len) memcpy(nd, b->data, b->len);
        hearth_memzero(b->data, b->cap);
        free(b->data);
        b->data = nd;
        b->cap = ncap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return HEARTH_OK;
}

static hearth_status put_be(hearth_buf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return hearth_buf_append(b, tmp, n);
}

hearth_status hearth_buf_u8(hearth_buf *b, uint8_t v) { return put_be(b, v, 1); }
hearth_status hearth_buf_u16(hearth_buf *b, uint16_t v) { return put_be(b, v, 2); }
hearth_status hearth_buf_u32(hearth_buf *b, uint32_t v) { return put_be(b, v, 4); }
hearth_status hearth_buf_u64(hearth_buf *b, uint64_t v) { return put_be(b, v, 8); }

void hearth_be32_put(uint8_t out[4], uint32_t v)
{
    for (size_t i = 0; i < 4; i++) out[i] = (uint8_t)(v >> (24 - 8 * i));
}

void hearth_be64_put(uint8_t out[8], uint64_t v)
{
    hearth_be32_put(out, (uint32_t)(v >> 32));
    hearth_be32_put(out + 4, (uint32_t)v);
}

uint32_t hearth_be32_get(const uint8_t in[4])
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

uint64_t hearth_be64_get(const uint8_t in[8])
{
    return (uint64_t)hearth_be32_get(in) << 32 | hearth_be32_get(in + 4);
}

void hearth_buf_free(hearth_buf *b)
{
    hearth_memzero(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
