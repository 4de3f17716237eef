/* The key set: a root-signed, versioned, expiring list of update-signing keys
 * with their status (active/revoked). Rotation = a new key set with a higher
 * version; a device never accepts a version lower than it has seen (TUF-style
 * rollback protection for keys). Format: docs/signing-keys.md. */
#include <stdlib.h>
#include <string.h>

#include "bundle_internal.h"

struct hearth_keyset {
    uint64_t version;
    int64_t created;
    int64_t expires;
    bool verified;
    size_t count;
    hearth_keyset_entry entries[HEARTH_KEYSET_KEYS_MAX];
    hearth_key *keys[HEARTH_KEYSET_KEYS_MAX];
    hb_sigblock sigs;
};

void hearth_keyset_free(hearth_keyset *ks)
{
    if (ks != NULL) hearth_keys_free(ks->keys, ks->count);
    free(ks);
}

uint64_t hearth_keyset_version(const hearth_keyset *ks) { return ks->version; }
int64_t hearth_keyset_created(const hearth_keyset *ks) { return ks->created; }
int64_t hearth_keyset_expires(const hearth_keyset *ks) { return ks->expires; }
bool hearth_keyset_verified(const hearth_keyset *ks) { return ks->verified; }
size_t hearth_keyset_count(const hearth_keyset *ks) { return ks->count; }
size_t hearth_keyset_sig_count(const hearth_keyset *ks) { return ks->sigs.count; }

const hearth_keyset_entry *hearth_keyset_entry_at(const hearth_keyset *ks, size_t i)
{
    return i < ks->count ? &ks->entries[i] : NULL;
}

const uint8_t *hearth_keyset_sig_key_id(const hearth_keyset *ks, size_t i)
{
    return i < ks->sigs.count ? ks->sigs.sigs[i].key_id : NULL;
}

const hearth_keyset_entry *hb_keyset_find(const hearth_keyset *ks,
                                          const uint8_t id[HEARTH_KEY_ID_LEN],
                                          const hearth_key **key)
{
    for (size_t i = 0; i < ks->count; i++) {
        if (memcmp(ks->entries[i].key_id, id, HEARTH_KEY_ID_LEN) == 0) {
            if (key) *key = ks->keys[i];
            return &ks->entries[i];
        }
    }
    return NULL;
}

static hearth_status read_time(hearth_cursor *v, const char *what, int64_t *out)
{
    uint64_t t = 0;
    if (hearth_cursor_remaining(v) != 8)
        return hearth_err(HEARTH_ERR_INVALID, "%s must be 8 bytes", what);
    HEARTH_GUARD(hearth_cursor_u64(v, &t));
    if (t > (uint64_t)INT64_MAX) return hearth_err(HEARTH_ERR_INVALID, "%s out of range", what);
    *out = (int64_t)t;
    return HEARTH_OK;
}

static hearth_status parse_key(hearth_keyset *ks, hearth_cursor *v)
{
    if (ks->count == HEARTH_KEYSET_KEYS_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "key set lists more than %u keys",
                          HEARTH_KEYSET_KEYS_MAX);
    hearth_keyset_entry *e = &ks->entries[ks->count];
    uint8_t alg = 0, status = 0;
    uint16_t slen = 0;
    HEARTH_GUARD(hearth_cursor_u8(v, &alg));
    HEARTH_GUARD(hearth_cursor_u8(v, &status));
    HEARTH_GUARD(hearth_cursor_u16(v, &slen));
    if (slen == 0 || slen > HEARTH_SPKI_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "key %zu: public key of %u bytes (max %u)",
                          ks->count, slen, HEARTH_SPKI_MAX);
    if (hearth_cursor_remaining(v) != slen)
        return hearth_err(HEARTH_ERR_INVALID, "key %zu: length mismatch", ks->count);
    HEARTH_GUARD(hearth_cursor_copy(v, e->spki, slen));
    e->spki_len = slen;
    if (alg != HEARTH_SIG_ED25519 && alg != HEARTH_SIG_ECDSA_P256_SHA256)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "key %zu: algorithm id %u not supported",
                          ks->count, alg);
    if (status != HEARTH_KEY_ACTIVE && status != HEARTH_KEY_REVOKED)
        return hearth_err(HEARTH_ERR_INVALID, "key %zu: status %u unknown", ks->count, status);
    hearth_key *k = NULL;
    HEARTH_GUARD(hearth_key_from_spki(e->spki, slen, &k));
    if ((uint8_t)k->alg != alg) {
        hearth_sig_alg real = k->alg; /* read before the free (found by fuzz_bundle_keyset) */
        hearth_key_free(k);
        return hearth_err(HEARTH_ERR_INVALID, "key %zu: listed as %s but is %s", ks->count,
                          hearth_sig_alg_name(alg), hearth_sig_alg_name(real));
    }
    if (hb_keyset_find(ks, k->id, NULL) != NULL) {
        hearth_key_free(k);
        return hearth_err(HEARTH_ERR_INVALID, "key %zu listed twice", ks->count);
    }
    memcpy(e->key_id, k->id, HEARTH_KEY_ID_LEN);
    e->alg = (hearth_sig_alg)alg;
    e->status = (hearth_key_status)status;
    ks->keys[ks->count++] = k;
    return HEARTH_OK;
}

static hearth_status body_field(void *ctx, uint16_t tag, hearth_cursor *v, bool *known)
{
    hearth_keyset *ks = ctx;
    switch (tag) {
    case HB_KTAG_VERSION:
        if (hearth_cursor_remaining(v) != 8)
            return hearth_err(HEARTH_ERR_INVALID, "key set version must be 8 bytes");
        return hearth_cursor_u64(v, &ks->version);
    case HB_KTAG_CREATED: return read_time(v, "key set creation time", &ks->created);
    case HB_KTAG_EXPIRES: return read_time(v, "key set expiry", &ks->expires);
    case HB_KTAG_KEY: return parse_key(ks, v);
    default: *known = false; return HEARTH_OK;
    }
}

static const hb_tlv_body KEYSET_BODY = {HB_KEYSET_BODY_MAGIC, HB_KEYSET_FORMAT_VERSION,
                                        HB_KTAG_KEY, "key set body"};

static hearth_status parse_body(hearth_keyset *ks, const uint8_t *body, size_t len)
{
    uint32_t seen = 0;
    HEARTH_GUARD(hb_tlv_parse(body, len, &KEYSET_BODY, body_field, ks, &seen));
    const uint32_t required = (1u << HB_KTAG_VERSION) | (1u << HB_KTAG_CREATED) |
                              (1u << HB_KTAG_EXPIRES) | (1u << HB_KTAG_KEY);
    if ((seen & required) != required)
        return hearth_err(HEARTH_ERR_INVALID, "key set lacks a required field (version, created, "
                          "expires, at least one key)");
    if (ks->version == 0) return hearth_err(HEARTH_ERR_INVALID, "key set version 0 is reserved");
    return HEARTH_OK;
}

/* Count distinct trust-anchor roots whose signature verifies. */
static hearth_status verify_roots(const hearth_keyset *ks, const hearth_trust *trust,
                                  const uint8_t *body, size_t len)
{
    unsigned good = 0, unknown = 0, bad = 0;
    for (size_t i = 0; i < ks->sigs.count; i++) {
        const hearth_key *root = hb_trust_root(trust, ks->sigs.sigs[i].key_id);
        if (root == NULL) {
            unknown++;
            continue;
        }
        if (hb_sig_verify(root, &ks->sigs.sigs[i], HB_CTX_KEYSET, body, len) == HEARTH_OK)
            good++;
        else
            bad++;
    }
    hearth_err_clear();
    if (good >= hearth_trust_threshold(trust)) return HEARTH_OK;
    return hearth_err(HEARTH_ERR_TAMPERED,
                      "key set not signed by the trust anchor: %u valid root signature(s), %u "
                      "required (%u invalid, %u by unknown keys)",
                      good, hearth_trust_threshold(trust), bad, unknown);
}

hearth_status hearth_keyset_parse(const uint8_t *data, size_t len, const hearth_trust *trust,
                                  uint64_t min_version, int64_t now, hearth_keyset **out)
{
    *out = NULL;
    hearth_cursor c;
    HEARTH_GUARD(hearth_cursor_init_max(&c, data, len, HEARTH_KEYSET_MAX, HEARTH_ERR_TOO_LARGE,
                                        "key set"));
    const uint8_t *magic = NULL;
    uint16_t ver = 0, rsv = 0;
    uint32_t blen = 0, slen = 0;
    if (len < HB_KEYSET_HEADER_SIZE) return hearth_err(HEARTH_ERR_INVALID, "key set truncated");
    HEARTH_GUARD(hearth_cursor_ptr(&c, 8, &magic));
    if (memcmp(magic, HB_KEYSET_MAGIC, 8) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "not a hearth key set (bad magic)");
    HEARTH_GUARD(hearth_cursor_u16(&c, &ver));
    if (ver != HB_KEYSET_FORMAT_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "key set format version %u not supported", ver);
    HEARTH_GUARD(hearth_cursor_u16(&c, &rsv));
    HEARTH_GUARD(hearth_cursor_u32(&c, &blen));
    HEARTH_GUARD(hearth_cursor_u32(&c, &slen));
    if (rsv != 0) return hearth_err(HEARTH_ERR_INVALID, "key set reserved field not zero");
    if ((uint64_t)blen + slen != hearth_cursor_remaining(&c))
        return hearth_err(HEARTH_ERR_INVALID, "key set lengths (%u + %u) do not match the file (%zu)",
                          blen, slen, hearth_cursor_remaining(&c));
    const uint8_t *body = NULL, *sig = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(&c, blen, &body));
    HEARTH_GUARD(hearth_cursor_ptr(&c, slen, &sig));
    hearth_keyset *ks = calloc(1, sizeof *ks);
    if (ks == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = hb_sigblock_parse(sig, slen, &ks->sigs);
    /* Check the root signatures before parsing the body, so an attacker's
     * unsigned bytes only ever meet the small signature-block parser. */
    if (st == HEARTH_OK && trust != NULL) {
        if (ks->sigs.count == 0)
            st = hearth_err(HEARTH_ERR_TAMPERED, "key set is not signed");
        else
            st = verify_roots(ks, trust, body, blen);
    }
    if (st == HEARTH_OK) st = parse_body(ks, body, blen);
    if (st == HEARTH_OK && trust != NULL) {
        if (now == 0) now = hearth_time_now();
        if (ks->version < min_version)
            st = hearth_err(HEARTH_ERR_ROLLBACK,
                            "key set version %llu is older than the accepted version %llu",
                            (unsigned long long)ks->version, (unsigned long long)min_version);
        else if (now >= ks->expires)
            st = hearth_err(HEARTH_ERR_EXPIRED, "key set version %llu expired at %lld",
                            (unsigned long long)ks->version, (long long)ks->expires);
        else
            ks->verified = true;
    }
    if (st != HEARTH_OK) {
        hearth_keyset_free(ks);
        return st;
    }
    *out = ks;
    return HEARTH_OK;
}

hearth_status hearth_keyset_load(const char *path, const hearth_trust *trust, uint64_t min_version,
                                 int64_t now, hearth_keyset **out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    HEARTH_GUARD(hearth_fs_read_file(path, HEARTH_KEYSET_MAX, &data, &len));
    hearth_status st = hearth_keyset_parse(data, len, trust, min_version, now, out);
    free(data);
    return st;
}

hearth_status hearth_keyset_create(uint64_t version, int64_t expires,
                                   const hearth_key *const *keys, const hearth_key_status *status,
                                   size_t nkeys, const hearth_key *const *roots, size_t nroots,
                                   hearth_buf *out)
{
    int64_t now = hearth_time_now();
    if (version == 0) return hearth_err(HEARTH_ERR_INVALID, "key set version must be >= 1");
    if (expires <= now) return hearth_err(HEARTH_ERR_INVALID, "key set expiry is in the past");
    if (nkeys == 0 || nkeys > HEARTH_KEYSET_KEYS_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "key set needs 1..%u keys", HEARTH_KEYSET_KEYS_MAX);
    if (nroots == 0 || nroots > HEARTH_SIGS_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "key set needs 1..%u root keys", HEARTH_SIGS_MAX);
    hearth_buf body;
    hearth_buf_init(&body, HEARTH_KEYSET_MAX);
    hearth_status st = hearth_buf_append(&body, HB_KEYSET_BODY_MAGIC, 4);
    if (st == HEARTH_OK) st = hearth_buf_u16(&body, HB_KEYSET_FORMAT_VERSION);
    if (st == HEARTH_OK) st = hb_tlv_put_u64(&body, HB_KTAG_VERSION, version);
    if (st == HEARTH_OK) st = hb_tlv_put_u64(&body, HB_KTAG_CREATED, (uint64_t)now);
    if (st == HEARTH_OK) st = hb_tlv_put_u64(&body, HB_KTAG_EXPIRES, (uint64_t)expires);
    for (size_t i = 0; st == HEARTH_OK && i < nkeys; i++) {
        uint8_t der[HEARTH_SPKI_MAX];
        size_t dl = 0;
        st = hearth_key_spki(keys[i], der, sizeof der, &dl);
        if (st != HEARTH_OK) break;
        if (status[i] != HEARTH_KEY_ACTIVE && status[i] != HEARTH_KEY_REVOKED) {
            st = hearth_err(HEARTH_ERR_INVALID, "bad key status");
            break;
        }
        uint8_t hdr[4] = {(uint8_t)keys[i]->alg, (uint8_t)status[i], (uint8_t)(dl >> 8), (uint8_t)dl};
        st = hearth_buf_u16(&body, HB_KTAG_KEY);
        if (st == HEARTH_OK) st = hearth_buf_u32(&body, (uint32_t)(4 + dl));
        if (st == HEARTH_OK) st = hearth_buf_append(&body, hdr, 4);
        if (st == HEARTH_OK) st = hearth_buf_append(&body, der, dl);
    }
    hb_sigblock sb;
    memset(&sb, 0, sizeof sb);
    for (size_t i = 0; st == HEARTH_OK && i < nroots; i++)
        st = hb_sigblock_add(&sb, roots[i], HB_CTX_KEYSET, body.data, body.len);
    hearth_buf sig;
    hearth_buf_init(&sig, HEARTH_SIGBLOCK_MAX);
    if (st == HEARTH_OK) st = hb_sigblock_encode(&sb, &sig);
    hearth_buf_init(out, HEARTH_KEYSET_MAX);
    if (st == HEARTH_OK) st = hearth_buf_append(out, HB_KEYSET_MAGIC, 8);
    if (st == HEARTH_OK) st = hearth_buf_u16(out, HB_KEYSET_FORMAT_VERSION);
    if (st == HEARTH_OK) st = hearth_buf_u16(out, 0);
    if (st == HEARTH_OK) st = hearth_buf_u32(out, (uint32_t)body.len);
    if (st == HEARTH_OK) st = hearth_buf_u32(out, (uint32_t)sig.len);
    if (st == HEARTH_OK) st = hearth_buf_append(out, body.data, body.len);
    if (st == HEARTH_OK) st = hearth_buf_append(out, sig.data, sig.len);
    hearth_buf_free(&body);
    hearth_buf_free(&sig);
    if (st != HEARTH_OK) {
        hearth_buf_free(out);
        return st;
    }
    /* Self-check: what we emit must parse with the same bounded parser. */
    hearth_keyset *ks = NULL;
    st = hearth_keyset_parse(out->data, out->len, NULL, 0, 0, &ks);
    hearth_keyset_free(ks);
    if (st != HEARTH_OK) hearth_buf_free(out);
    return st;
}

hearth_status hearth_keyset_sign(const uint8_t *data, size_t len, const hearth_key *const *roots,
                                 size_t nroots, hearth_buf *out)
{
    hearth_keyset *ks = NULL;
    HEARTH_GUARD(hearth_keyset_parse(data, len, NULL, 0, 0, &ks));
    hb_sigblock sb = ks->sigs;
    hearth_keyset_free(ks);
    /* parse succeeded, so the header layout is known-good */
    uint32_t blen = hearth_be32_get(data + 12);
    const uint8_t *body = data + HB_KEYSET_HEADER_SIZE;
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; st == HEARTH_OK && i < nroots; i++)
        st = hb_sigblock_add(&sb, roots[i], HB_CTX_KEYSET, body, blen);
    hearth_buf sig;
    hearth_buf_init(&sig, HEARTH_SIGBLOCK_MAX);
    if (st == HEARTH_OK) st = hb_sigblock_encode(&sb, &sig);
    hearth_buf_init(out, HEARTH_KEYSET_MAX);
    if (st == HEARTH_OK) st = hearth_buf_append(out, data, 16);
    if (st == HEARTH_OK) st = hearth_buf_u32(out, (uint32_t)sig.len);
    if (st == HEARTH_OK) st = hearth_buf_append(out, body, blen);
    if (st == HEARTH_OK) st = hearth_buf_append(out, sig.data, sig.len);
    hearth_buf_free(&sig);
    if (st != HEARTH_OK) hearth_buf_free(out);
    return st;
}
