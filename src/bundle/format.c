/* Wire formats shared by bundles and key sets: the fixed bundle header, the
 * bounded TLV reader and the signature block. Everything untrusted is read
 * through hearth_cursor, and every length is checked before it is used. */
#include <stdlib.h>
#include <string.h>

#include "bundle_internal.h"

/* ------------------------------------------------------------ header */

hearth_status hb_header_parse(const uint8_t *buf, size_t len, hb_header *out)
{
    if (len < HEARTH_BUNDLE_HEADER_SIZE)
        return hearth_err(HEARTH_ERR_INVALID, "bundle shorter than its %u-byte header",
                          HEARTH_BUNDLE_HEADER_SIZE);
    hearth_cursor c;
    hearth_cursor_init(&c, buf, HEARTH_BUNDLE_HEADER_SIZE);
    const uint8_t *magic = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(&c, 8, &magic));
    if (memcmp(magic, HB_BUNDLE_MAGIC, 8) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "not a hearth bundle (bad magic)");
    uint16_t ver = 0, hsize = 0;
    uint32_t flags = 0;
    HEARTH_GUARD(hearth_cursor_u16(&c, &ver));
    if (ver != HEARTH_BUNDLE_FORMAT_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "bundle format version %u not supported (this "
                          "build reads version %u)", ver, HEARTH_BUNDLE_FORMAT_VERSION);
    HEARTH_GUARD(hearth_cursor_u16(&c, &hsize));
    if (hsize != HEARTH_BUNDLE_HEADER_SIZE)
        return hearth_err(HEARTH_ERR_INVALID, "bundle header size %u, expected %u", hsize,
                          HEARTH_BUNDLE_HEADER_SIZE);
    HEARTH_GUARD(hearth_cursor_u32(&c, &out->manifest_len));
    HEARTH_GUARD(hearth_cursor_u32(&c, &out->sigblock_len));
    HEARTH_GUARD(hearth_cursor_u32(&c, &flags));
    HEARTH_GUARD(hearth_cursor_u64(&c, &out->payload_total));
    if (out->manifest_len == 0 || out->manifest_len > HEARTH_BUNDLE_MANIFEST_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "manifest length %u outside 1..%u",
                          out->manifest_len, HEARTH_BUNDLE_MANIFEST_MAX);
    if (out->sigblock_len == 0 || out->sigblock_len > HEARTH_SIGBLOCK_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "signature block length %u outside 1..%u",
                          out->sigblock_len, HEARTH_SIGBLOCK_MAX);
    if (flags != 0)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "bundle header flags 0x%x not supported", flags);
    if (out->payload_total > (uint64_t)HEARTH_BUNDLE_PAYLOADS_MAX * HEARTH_BUNDLE_PAYLOAD_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "payload total %llu too large",
                          (unsigned long long)out->payload_total);
    const uint8_t *rsv = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(&c, 32, &rsv));
    for (size_t i = 0; i < 32; i++)
        if (rsv[i] != 0) return hearth_err(HEARTH_ERR_INVALID, "reserved header bytes not zero");
    out->format_version = ver;
    return HEARTH_OK;
}

void hb_header_encode(const hb_header *h, uint8_t out[HEARTH_BUNDLE_HEADER_SIZE])
{
    memset(out, 0, HEARTH_BUNDLE_HEADER_SIZE);
    memcpy(out, HB_BUNDLE_MAGIC, 8);
    out[8] = (uint8_t)(h->format_version >> 8);
    out[9] = (uint8_t)h->format_version;
    out[10] = 0;
    out[11] = HEARTH_BUNDLE_HEADER_SIZE;
    hearth_be32_put(out + 12, h->manifest_len);
    hearth_be32_put(out + 16, h->sigblock_len);
    hearth_be64_put(out + 24, h->payload_total);
}

hearth_status hearth_bundle_prefix_len(const uint8_t *buf, size_t len, size_t *prefix_len,
                                       uint64_t *total_len)
{
    hb_header h;
    HEARTH_GUARD(hb_header_parse(buf, len, &h));
    size_t p = HEARTH_BUNDLE_HEADER_SIZE + (size_t)h.manifest_len + h.sigblock_len;
    if (prefix_len) *prefix_len = p;
    if (total_len) *total_len = (uint64_t)p + h.payload_total;
    return HEARTH_OK;
}

/* --------------------------------------------------------------- TLV */

/* Reader state: tags strictly increasing except @p repeatable, which may
 * repeat back to back. */
typedef struct {
    hearth_cursor c;
    uint32_t last; /* last tag seen, 0 before the first */
    uint16_t repeatable;
} hb_tlv;

/* *tag = 0 (a reserved tag) at the end of input. @p value borrows the
 * field's bytes. */
static hearth_status tlv_next(hb_tlv *t, uint16_t *tag, hearth_cursor *value)
{
    *tag = 0;
    if (hearth_cursor_remaining(&t->c) == 0) return HEARTH_OK;
    uint16_t tg = 0;
    uint32_t len = 0;
    HEARTH_GUARD(hearth_cursor_u16(&t->c, &tg));
    HEARTH_GUARD(hearth_cursor_u32(&t->c, &len));
    if (tg == 0) return hearth_err(HEARTH_ERR_INVALID, "field tag 0 is reserved");
    /* Canonical order: one encoding per content, so a signature covers
     * exactly one meaning (no duplicate fields to disagree about). */
    if (tg < t->last || (tg == t->last && tg != t->repeatable))
        return hearth_err(HEARTH_ERR_INVALID, "field 0x%04x out of order or repeated", tg);
    if (len > hearth_cursor_remaining(&t->c))
        return hearth_err(HEARTH_ERR_INVALID, "field 0x%04x claims %u bytes, only %zu left", tg,
                          len, hearth_cursor_remaining(&t->c));
    const uint8_t *p = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(&t->c, len, &p));
    hearth_cursor_init(value, p, len);
    t->last = tg;
    *tag = tg;
    return HEARTH_OK;
}

hearth_status hb_tlv_parse(const uint8_t *data, size_t len, const hb_tlv_body *body,
                           hb_tlv_field_fn field, void *ctx, uint32_t *seen)
{
    *seen = 0;
    hb_tlv t = {.last = 0, .repeatable = body->repeatable};
    hearth_cursor_init(&t.c, data, len);
    const uint8_t *magic = NULL;
    uint16_t ver = 0;
    HEARTH_GUARD(hearth_cursor_ptr(&t.c, 4, &magic));
    if (memcmp(magic, body->magic, 4) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "not a hearth %s (bad magic)", body->what);
    HEARTH_GUARD(hearth_cursor_u16(&t.c, &ver));
    if (ver != body->version)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "%s format version %u not supported",
                          body->what, ver);
    for (;;) {
        uint16_t tag = 0;
        hearth_cursor v;
        HEARTH_GUARD(tlv_next(&t, &tag, &v));
        if (tag == 0) return HEARTH_OK;
        bool known = true;
        HEARTH_GUARD(field(ctx, tag, &v, &known));
        if (!known && (tag & HB_TAG_CRITICAL))
            return hearth_err(HEARTH_ERR_UNSUPPORTED, "%s has unknown critical field 0x%04x",
                              body->what, tag);
        /* An unknown non-critical field is an extension: ignored. */
        if (known && tag < 32) *seen |= 1u << tag;
    }
}

hearth_status hb_tlv_put(hearth_buf *b, uint16_t tag, const void *v, size_t n)
{
    if (n > UINT32_MAX) return hearth_err(HEARTH_ERR_TOO_LARGE, "field too large");
    HEARTH_GUARD(hearth_buf_u16(b, tag));
    HEARTH_GUARD(hearth_buf_u32(b, (uint32_t)n));
    return hearth_buf_append(b, v, n);
}

hearth_status hb_tlv_put_u64(hearth_buf *b, uint16_t tag, uint64_t v)
{
    HEARTH_GUARD(hearth_buf_u16(b, tag));
    HEARTH_GUARD(hearth_buf_u32(b, 8));
    return hearth_buf_u64(b, v);
}

/* --------------------------------------------------- signature block */

hearth_status hb_sigblock_parse(const uint8_t *data, size_t len, hb_sigblock *out)
{
    memset(out, 0, sizeof *out);
    hearth_cursor c;
    HEARTH_GUARD(hearth_cursor_init_max(&c, data, len, HEARTH_SIGBLOCK_MAX, HEARTH_ERR_TOO_LARGE,
                                        "signature block"));
    uint8_t count = 0;
    HEARTH_GUARD(hearth_cursor_u8(&c, &count));
    if (count > HEARTH_SIGS_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "%u signatures (max %u)", count, HEARTH_SIGS_MAX);
    for (size_t i = 0; i < count; i++) {
        hb_sig *s = &out->sigs[i];
        HEARTH_GUARD(hearth_cursor_u8(&c, &s->alg));
        HEARTH_GUARD(hearth_cursor_copy(&c, s->key_id, HEARTH_KEY_ID_LEN));
        HEARTH_GUARD(hearth_cursor_u16(&c, &s->len));
        if (s->len == 0 || s->len > HEARTH_SIG_MAX)
            return hearth_err(HEARTH_ERR_INVALID, "signature %zu has length %u (1..%u)", i,
                              s->len, HEARTH_SIG_MAX);
        HEARTH_GUARD(hearth_cursor_copy(&c, s->sig, s->len));
        /* Distinct signers only, so a threshold counts distinct keys. */
        for (size_t j = 0; j < i; j++)
            if (memcmp(out->sigs[j].key_id, s->key_id, HEARTH_KEY_ID_LEN) == 0)
                return hearth_err(HEARTH_ERR_INVALID, "two signatures by the same key");
    }
    if (hearth_cursor_remaining(&c) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "%zu stray bytes after the signatures",
                          hearth_cursor_remaining(&c));
    out->count = count;
    return HEARTH_OK;
}

hearth_status hb_sigblock_encode(const hb_sigblock *sb, hearth_buf *out)
{
    HEARTH_GUARD(hearth_buf_u8(out, (uint8_t)sb->count));
    for (size_t i = 0; i < sb->count; i++) {
        const hb_sig *s = &sb->sigs[i];
        HEARTH_GUARD(hearth_buf_u8(out, s->alg));
        HEARTH_GUARD(hearth_buf_append(out, s->key_id, HEARTH_KEY_ID_LEN));
        HEARTH_GUARD(hearth_buf_u16(out, s->len));
        HEARTH_GUARD(hearth_buf_append(out, s->sig, s->len));
    }
    return HEARTH_OK;
}

/* ctx || NUL || msg, in one buffer: Ed25519 is one-shot (no streaming). */
static hearth_status signed_message(const char *ctx, const uint8_t *msg, size_t len,
                                    hearth_buf *out)
{
    hearth_buf_init(out, strlen(ctx) + 1 + len);
    HEARTH_GUARD(hearth_buf_append(out, ctx, strlen(ctx) + 1));
    return hearth_buf_append(out, msg, len);
}

hearth_status hb_sigblock_add(hb_sigblock *sb, const hearth_key *key, const char *ctx,
                              const uint8_t *msg, size_t len)
{
    size_t slot = sb->count;
    for (size_t i = 0; i < sb->count; i++)
        if (memcmp(sb->sigs[i].key_id, key->id, HEARTH_KEY_ID_LEN) == 0) slot = i;
    if (slot == HEARTH_SIGS_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "already %u signatures", HEARTH_SIGS_MAX);
    hearth_buf m;
    hearth_status st = signed_message(ctx, msg, len, &m);
    hb_sig s;
    memset(&s, 0, sizeof s);
    size_t sl = 0;
    if (st == HEARTH_OK) st = hearth_key_sign(key, m.data, m.len, s.sig, sizeof s.sig, &sl);
    hearth_buf_free(&m);
    HEARTH_GUARD(st);
    s.alg = (uint8_t)key->alg;
    memcpy(s.key_id, key->id, HEARTH_KEY_ID_LEN);
    s.len = (uint16_t)sl;
    sb->sigs[slot] = s;
    if (slot == sb->count) sb->count++;
    return HEARTH_OK;
}

hearth_status hb_sig_verify(const hearth_key *key, const hb_sig *sig, const char *ctx,
                            const uint8_t *msg, size_t len)
{
    if (sig->alg != (uint8_t)key->alg)
        return hearth_err(HEARTH_ERR_TAMPERED, "signature algorithm %s does not match the key's %s",
                          hearth_sig_alg_name(sig->alg), hearth_sig_alg_name(key->alg));
    hearth_buf m;
    hearth_status st = signed_message(ctx, msg, len, &m);
    if (st == HEARTH_OK) st = hearth_key_verify(key, m.data, m.len, sig->sig, sig->len);
    hearth_buf_free(&m);
    return st;
}
