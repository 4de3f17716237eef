/* Outbox log records and the recovery scanner (docs/outbox.md).
 *
 * Every record is framed as
 *   magic "HOBX" | version 2 | type | MAC alg 1 | 0 | body length (u32 BE)
 *   | body | HMAC-SHA256(key, file id || frame || body)
 * A DATA body (version 2) carries topic and payload encrypted with
 * AES-256-GCM under HKDF-SHA256(key, info "hearth.outbox.v2.aead"), a random
 * nonce per record, so erasing the key (a factory reset destroys the store
 * it comes from) crypto-erases the queued messages. Version-1 records (DATA
 * in clear) are still read; the outbox rewrites a version-1 log at open.
 * The file id is random per file generation (the header carries it), so a
 * record cannot be spliced in from another outbox file, an older
 * generation of this one or another device (other key). The scanner checks
 * each length against its type's bound and the file size before reading
 * what it covers, and authenticates a record before anything in it is
 * used. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "outbox_format.h"

bool obx_topic_valid(const char *topic, size_t len)
{
    if (len == 0 || len >= HEARTH_OUTBOX_TOPIC_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = topic[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

size_t obx_data_rec_len(uint8_t version, size_t topic_len, size_t payload_len)
{
    return OBX_REC_OVERHEAD + (version == OBX_VERSION_V1 ? OBX_DATA_FIXED_V1 : OBX_DATA_FIXED) +
           topic_len + payload_len;
}

/* The AEAD key: HKDF-SHA256(ikm = the outbox key, no salt, info label). */
static hearth_status aead_key(const uint8_t *key, uint8_t out[32])
{
    static const char info[] = "hearth.outbox.v2.aead";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, HEARTH_OUTBOX_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, sizeof info - 1),
        OSSL_PARAM_construct_end(),
    };
    hearth_status st = HEARTH_OK;
    if (kc == NULL || EVP_KDF_derive(kc, out, 32, p) != 1)
        st = hearth_err(HEARTH_ERR_CRYPTO, "HKDF for the outbox AEAD key failed");
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    return st;
}

/* AES-256-GCM over @p len bytes at @p data, in place; @p aad authenticated.
 * enc: writes the tag to @p tag; else checks it (HEARTH_ERR_TAMPERED). */
static hearth_status aead(bool enc, const uint8_t *key, const uint8_t nonce[OBX_AEAD_NONCE],
                          const uint8_t *aad, size_t aad_len, uint8_t *data, size_t len,
                          uint8_t tag[OBX_AEAD_TAG])
{
    uint8_t k[32];
    HEARTH_GUARD(aead_key(key, k));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0;
    bool ok = c != NULL &&
              EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, OBX_AEAD_NONCE, NULL) == 1 &&
              EVP_CipherInit_ex(c, NULL, NULL, k, nonce, enc ? 1 : 0) == 1 &&
              EVP_CipherUpdate(c, NULL, &ol, aad, (int)aad_len) == 1 &&
              (len == 0 || EVP_CipherUpdate(c, data, &ol, data, (int)len) == 1);
    hearth_memzero(k, sizeof k);
    if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, OBX_AEAD_TAG, tag) == 1;
    bool fin = ok && EVP_CipherFinal_ex(c, data + (len > 0 ? (size_t)ol : 0), &fl) == 1;
    if (fin && enc) fin = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, OBX_AEAD_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) return hearth_err(HEARTH_ERR_CRYPTO, "AES-256-GCM failed");
    if (!fin) {
        if (!enc) hearth_memzero(data, len);
        return enc ? hearth_err(HEARTH_ERR_CRYPTO, "AES-256-GCM failed")
                   : hearth_err(HEARTH_ERR_TAMPERED, "outbox record fails its AEAD tag");
    }
    return HEARTH_OK;
}

static hearth_status obx_mac(const uint8_t *key, const uint8_t *file_id, const uint8_t *data, size_t len,
                             uint8_t out[OBX_MAC_LEN])
{
    hearth_status st = HEARTH_OK;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t ol = 0;
    if (ctx == NULL || EVP_MAC_init(ctx, key, HEARTH_OUTBOX_KEY_LEN, params) != 1 ||
        EVP_MAC_update(ctx, file_id, OBX_FILE_ID_LEN) != 1 || EVP_MAC_update(ctx, data, len) != 1 ||
        EVP_MAC_final(ctx, out, &ol, OBX_MAC_LEN) != 1 || ol != OBX_MAC_LEN)
        st = hearth_err(HEARTH_ERR_CRYPTO, "HMAC-SHA256 failed");
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return st;
}

static hearth_status put_frame(hearth_buf *b, uint8_t type, size_t body_len)
{
    HEARTH_GUARD(hearth_buf_u32(b, OBX_MAGIC));
    HEARTH_GUARD(hearth_buf_u8(b, OBX_VERSION));
    HEARTH_GUARD(hearth_buf_u8(b, type));
    HEARTH_GUARD(hearth_buf_u8(b, OBX_MAC_HMAC_SHA256));
    HEARTH_GUARD(hearth_buf_u8(b, 0));
    return hearth_buf_u32(b, (uint32_t)body_len);
}

/* MAC everything from @p start to the end of @p b and append the tag. */
static hearth_status put_mac(hearth_buf *b, size_t start, const uint8_t *key, const uint8_t *file_id)
{
    uint8_t tag[OBX_MAC_LEN];
    HEARTH_GUARD(obx_mac(key, file_id, b->data + start, b->len - start, tag));
    return hearth_buf_append(b, tag, sizeof tag);
}

hearth_status obx_encode_header(hearth_buf *b, const uint8_t *key, const obx_header *h)
{
    size_t start = b->len;
    HEARTH_GUARD(put_frame(b, OBX_T_HEADER, OBX_HEADER_BODY));
    HEARTH_GUARD(hearth_buf_append(b, h->file_id, OBX_FILE_ID_LEN));
    HEARTH_GUARD(hearth_buf_u64(b, h->next_seq));
    HEARTH_GUARD(hearth_buf_u64(b, h->dropped));
    HEARTH_GUARD(hearth_buf_u64(b, h->rejected));
    return put_mac(b, start, key, h->file_id);
}

hearth_status obx_encode_data(hearth_buf *b, const uint8_t *key, const uint8_t *file_id, uint64_t seq,
                              hearth_outbox_class cls, int64_t created, const char *topic,
                              const uint8_t *payload, size_t len)
{
    size_t tl = strlen(topic);
    if (!obx_topic_valid(topic, tl) || len > HEARTH_OUTBOX_PAYLOAD_MAX)
        return hearth_err(HEARTH_ERR_INTERNAL, "outbox record out of bounds");
    size_t start = b->len;
    uint8_t nonce[OBX_AEAD_NONCE], tag[OBX_AEAD_TAG];
    HEARTH_GUARD(hearth_random(nonce, sizeof nonce));
    HEARTH_GUARD(put_frame(b, OBX_T_DATA, OBX_DATA_FIXED + tl + len));
    HEARTH_GUARD(hearth_buf_u64(b, seq));
    HEARTH_GUARD(hearth_buf_u8(b, (uint8_t)cls));
    HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)created));
    HEARTH_GUARD(hearth_buf_append(b, nonce, sizeof nonce));
    size_t pt = b->len; /* AAD: frame, seq, class, created, nonce */
    HEARTH_GUARD(hearth_buf_u8(b, (uint8_t)tl));
    HEARTH_GUARD(hearth_buf_append(b, topic, tl));
    HEARTH_GUARD(hearth_buf_u32(b, (uint32_t)len));
    if (len > 0) HEARTH_GUARD(hearth_buf_append(b, payload, len));
    hearth_status st = aead(true, key, nonce, b->data + start, pt - start, b->data + pt,
                            b->len - pt, tag);
    if (st != HEARTH_OK) {
        hearth_memzero(b->data + pt, b->len - pt);
        return st;
    }
    HEARTH_GUARD(hearth_buf_append(b, tag, sizeof tag));
    return put_mac(b, start, key, file_id);
}

hearth_status obx_encode_mark(hearth_buf *b, const uint8_t *key, const uint8_t *file_id, uint8_t type,
                              uint64_t seq)
{
    size_t start = b->len;
    HEARTH_GUARD(put_frame(b, type, OBX_MARK_BODY));
    HEARTH_GUARD(hearth_buf_u64(b, seq));
    return put_mac(b, start, key, file_id);
}

/* Frame checks on the first min(n, OBX_FRAME_LEN) bytes: what a prefix of a
 * real record can be. */
static bool frame_prefix_ok(const uint8_t *p, size_t n)
{
    uint8_t m[4];
    hearth_be32_put(m, OBX_MAGIC);
    for (size_t i = 0; i < n && i < 4; i++)
        if (p[i] != m[i]) return false;
    if (n > 4 && p[4] != OBX_VERSION && p[4] != OBX_VERSION_V1) return false;
    if (n > 5 && (p[5] < OBX_T_HEADER || p[5] > OBX_T_DROP)) return false;
    if (n > 6 && p[6] != OBX_MAC_HMAC_SHA256) return false;
    if (n > 7 && p[7] != 0) return false;
    return true;
}

/* The body length a frame of @p type and @p version may declare: [min, max]. */
static void body_bounds(uint8_t type, uint8_t version, size_t *min, size_t *max)
{
    size_t fixed = version == OBX_VERSION_V1 ? OBX_DATA_FIXED_V1 : OBX_DATA_FIXED;
    switch (type) {
    case OBX_T_HEADER: *min = *max = OBX_HEADER_BODY; break;
    case OBX_T_DATA:
        *min = fixed + 1;
        *max = fixed + (HEARTH_OUTBOX_TOPIC_MAX - 1) + HEARTH_OUTBOX_PAYLOAD_MAX;
        break;
    default: *min = *max = OBX_MARK_BODY; break;
    }
}

hearth_status obx_decode(uint8_t *rec, size_t len, const uint8_t *key, const uint8_t *file_id,
                         obx_rec *out)
{
    memset(out, 0, sizeof *out);
    if (len < OBX_REC_OVERHEAD || !frame_prefix_ok(rec, OBX_FRAME_LEN))
        return hearth_err(HEARTH_ERR_INVALID, "outbox record: bad frame");
    uint8_t type = rec[5], version = rec[4];
    size_t body = hearth_be32_get(rec + 8), bmin, bmax;
    body_bounds(type, version, &bmin, &bmax);
    if (body < bmin || body > bmax || len != OBX_REC_OVERHEAD + body)
        return hearth_err(HEARTH_ERR_INVALID, "outbox record: bad length");
    if ((file_id == NULL) != (type == OBX_T_HEADER))
        return hearth_err(HEARTH_ERR_INVALID, "outbox record: header out of place");
    const uint8_t *fid = file_id != NULL ? file_id : rec + OBX_FRAME_LEN;
    uint8_t tag[OBX_MAC_LEN];
    HEARTH_GUARD(obx_mac(key, fid, rec, len - OBX_MAC_LEN, tag));
    if (!hearth_ct_equal(tag, rec + len - OBX_MAC_LEN, OBX_MAC_LEN))
        return hearth_err(HEARTH_ERR_TAMPERED, "outbox record fails its MAC");

    /* Authentic from here on; the structure is still checked field by field. */
    hearth_cursor c;
    hearth_cursor_init(&c, rec + OBX_FRAME_LEN, body);
    out->type = type;
    out->version = version;
    if (type == OBX_T_HEADER) {
        HEARTH_GUARD(hearth_cursor_copy(&c, out->hdr.file_id, OBX_FILE_ID_LEN));
        HEARTH_GUARD(hearth_cursor_u64(&c, &out->hdr.next_seq));
        HEARTH_GUARD(hearth_cursor_u64(&c, &out->hdr.dropped));
        HEARTH_GUARD(hearth_cursor_u64(&c, &out->hdr.rejected));
        if (out->hdr.next_seq == 0) return hearth_err(HEARTH_ERR_INVALID, "outbox header: seq 0");
        return HEARTH_OK;
    }
    HEARTH_GUARD(hearth_cursor_u64(&c, &out->seq));
    if (type != OBX_T_DATA) {
        if (out->seq == 0 && type == OBX_T_ACK) return hearth_err(HEARTH_ERR_INVALID, "outbox ack of seq 0");
        return HEARTH_OK;
    }
    uint8_t cls = 0, tl = 0;
    uint64_t created = 0;
    uint32_t pl = 0;
    HEARTH_GUARD(hearth_cursor_u8(&c, &cls));
    HEARTH_GUARD(hearth_cursor_u64(&c, &created));
    if (version != OBX_VERSION_V1) {
        /* Decrypt the rest in place; the cursor then reads the plaintext
         * (topic length, topic, payload length, payload) as in version 1. */
        const uint8_t *nonce = NULL;
        HEARTH_GUARD(hearth_cursor_ptr(&c, OBX_AEAD_NONCE, &nonce));
        size_t ct_off = OBX_FRAME_LEN + c.pos, ct_len = body - c.pos - OBX_AEAD_TAG;
        HEARTH_GUARD(aead(false, key, nonce, rec, ct_off, rec + ct_off, ct_len,
                          rec + ct_off + ct_len));
        hearth_cursor_init(&c, rec + ct_off, ct_len);
    }
    HEARTH_GUARD(hearth_cursor_u8(&c, &tl));
    if (out->seq == 0 || cls > HEARTH_OUTBOX_TELEMETRY || tl == 0 || tl >= HEARTH_OUTBOX_TOPIC_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "outbox record: bad fields");
    HEARTH_GUARD(hearth_cursor_copy(&c, out->topic, tl));
    out->topic[tl] = '\0';
    if (!obx_topic_valid(out->topic, tl)) return hearth_err(HEARTH_ERR_INVALID, "outbox record: bad topic");
    HEARTH_GUARD(hearth_cursor_u32(&c, &pl));
    if (pl > HEARTH_OUTBOX_PAYLOAD_MAX || pl != hearth_cursor_remaining(&c))
        return hearth_err(HEARTH_ERR_INVALID, "outbox record: bad payload length");
    HEARTH_GUARD(hearth_cursor_ptr(&c, pl, &out->payload));
    out->cls = (hearth_outbox_class)cls;
    out->created = (int64_t)created;
    out->payload_len = pl;
    return HEARTH_OK;
}

/* ------------------------------------------------------------- scanner */

typedef enum { TRY_OK, TRY_TRUNC, TRY_BAD_FRAME, TRY_BAD_RECORD } try_result;

typedef struct {
    obx_read_fn rd;
    void *ctx;
    uint64_t size;
    const uint8_t *key;
    uint8_t file_id[OBX_FILE_ID_LEN];
    uint64_t last_seq;
    uint8_t *buf; /* OBX_REC_MAX bytes */
} scan_state;

/* What starts at @p off: a whole authentic record (its length in *len), a
 * frame cut off by the end of the file, bytes that are no frame, or a
 * framed record that fails authentication or structure (*len: its
 * claimed length). */
static try_result try_at(scan_state *s, uint64_t off, size_t *len, obx_rec *r, hearth_status *fatal)
{
    uint64_t avail = s->size - off;
    size_t n = avail < OBX_FRAME_LEN ? (size_t)avail : OBX_FRAME_LEN;
    *fatal = s->rd(s->ctx, off, s->buf, n);
    if (*fatal != HEARTH_OK) return TRY_BAD_FRAME;
    if (!frame_prefix_ok(s->buf, n)) return TRY_BAD_FRAME;
    if (n < OBX_FRAME_LEN) return TRY_TRUNC;
    size_t body = hearth_be32_get(s->buf + 8), bmin, bmax;
    body_bounds(s->buf[5], s->buf[4], &bmin, &bmax);
    if (body < bmin || body > bmax) return TRY_BAD_FRAME;
    size_t total = OBX_REC_OVERHEAD + body;
    if (total > avail) return TRY_TRUNC;
    *len = total;
    bool header = s->buf[5] == OBX_T_HEADER;
    if (header != (off == 0)) return TRY_BAD_RECORD; /* the header is the first record, only */
    *fatal = s->rd(s->ctx, off, s->buf, total);
    if (*fatal != HEARTH_OK) return TRY_BAD_FRAME;
    hearth_status st = obx_decode(s->buf, total, s->key, header ? NULL : s->file_id, r);
    if (st == HEARTH_ERR_CRYPTO) {
        *fatal = st;
        return TRY_BAD_FRAME;
    }
    if (st != HEARTH_OK) return TRY_BAD_RECORD;
    /* Sequence numbers only grow within a file: a DATA record at or below
     * an earlier one is a replayed or reordered copy. */
    if (r->type == OBX_T_DATA && r->seq <= s->last_seq) return TRY_BAD_RECORD;
    return TRY_OK;
}

/* Next offset after @p from where the magic starts, or the file size. */
static hearth_status next_magic(scan_state *s, uint64_t from, uint64_t *at)
{
    uint8_t m[4];
    hearth_be32_put(m, OBX_MAGIC);
    uint64_t pos = from;
    while (pos + 4 <= s->size) {
        uint64_t left = s->size - pos;
        size_t n = left < 4096 ? (size_t)left : 4096;
        HEARTH_GUARD(s->rd(s->ctx, pos, s->buf, n));
        for (size_t i = 0; i + 4 <= n; i++) {
            if (memcmp(s->buf + i, m, sizeof m) == 0) {
                *at = pos + i;
                return HEARTH_OK;
            }
        }
        pos += n - 3; /* keep 3 bytes of overlap for a magic across the edge */
    }
    *at = s->size;
    return HEARTH_OK;
}

static hearth_status all_zero(scan_state *s, uint64_t from, bool *zero)
{
    *zero = true;
    for (uint64_t pos = from; pos < s->size;) {
        uint64_t left = s->size - pos;
        size_t n = left < 4096 ? (size_t)left : 4096;
        HEARTH_GUARD(s->rd(s->ctx, pos, s->buf, n));
        for (size_t i = 0; i < n; i++)
            if (s->buf[i] != 0) {
                *zero = false;
                return HEARTH_OK;
            }
        pos += n;
    }
    return HEARTH_OK;
}

static hearth_status scan_run(scan_state *s, obx_record_fn cb, void *cb_arg, obx_scan_result *res)
{
    /* The file id the records are MAC'd under, taken from the header's
     * bytes before the header is authenticated: that is safe because only
     * our key makes a record verify under it. */
    if (s->size >= OBX_HEADER_REC_LEN) {
        HEARTH_GUARD(s->rd(s->ctx, 0, s->buf, OBX_FRAME_LEN + OBX_FILE_ID_LEN));
        if (frame_prefix_ok(s->buf, OBX_FRAME_LEN) && s->buf[5] == OBX_T_HEADER)
            memcpy(s->file_id, s->buf + OBX_FRAME_LEN, OBX_FILE_ID_LEN);
    }
    uint64_t pos = 0, bad_until = 0, region_start = 0, region_counted = 0;
    bool region_open = false, region_torn = false;
    obx_rec r;
    while (pos < s->size) {
        size_t len = 0;
        hearth_status fatal = HEARTH_OK;
        try_result t = try_at(s, pos, &len, &r, &fatal);
        HEARTH_GUARD(fatal);
        if (t == TRY_OK) {
            if (region_open) res->rejected += region_counted > 0 ? region_counted : 1;
            region_open = false;
            if (r.version == OBX_VERSION_V1) res->old_version = true;
            if (r.type == OBX_T_HEADER) {
                res->header_ok = true;
                res->hdr = r.hdr;
            } else {
                if (r.type == OBX_T_DATA) s->last_seq = r.seq;
                HEARTH_GUARD(cb(cb_arg, &r, pos, len));
            }
            pos += len;
            res->valid_end = pos;
            continue;
        }
        if (!region_open) {
            region_open = true;
            region_start = pos;
            region_counted = 0;
            region_torn = t == TRY_TRUNC;
        }
        if (t == TRY_BAD_RECORD && pos >= bad_until) {
            region_counted++;
            bad_until = pos + len;
        }
        HEARTH_GUARD(next_magic(s, pos + 1, &pos));
    }
    if (region_open) {
        /* Nothing authentic follows: a write cut short by a power cut (a
         * frame running past the end, or blocks the file system extended
         * with zeros), or garbage. */
        bool zero = false;
        if (!region_torn) HEARTH_GUARD(all_zero(s, region_start, &zero));
        if (region_torn || zero) res->torn_bytes = s->size - region_start;
        else res->rejected += region_counted > 0 ? region_counted : 1;
    }
    res->last_seq = s->last_seq;
    return HEARTH_OK;
}

hearth_status obx_scan(obx_read_fn rd, void *rd_ctx, uint64_t size, const uint8_t *key, obx_record_fn cb,
                       void *cb_arg, obx_scan_result *res)
{
    memset(res, 0, sizeof *res);
    scan_state s = {.rd = rd, .ctx = rd_ctx, .size = size, .key = key, .buf = malloc(OBX_REC_MAX)};
    if (s.buf == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = scan_run(&s, cb, cb_arg, res);
    hearth_memzero(s.buf, OBX_REC_MAX);
    free(s.buf);
    return st;
}
