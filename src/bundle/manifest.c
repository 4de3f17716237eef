/* The signed manifest: the one bounded parser (fuzzed), its builder, the
 * device policy checks and the manifest signature check against a key set.
 * Format: docs/update-format.md. */
#include <stdlib.h>
#include <string.h>

#include "bundle_internal.h"

void hearth_manifest_free(hearth_manifest *m)
{
    if (m == NULL) return;
    free(m->notes);
    free(m->mitigates);
    free(m->sbom);
    free(m->raw);
    free(m);
}

/* Identifiers: printable ASCII (space allowed), non-empty, bounded. */
static hearth_status read_ident(hearth_cursor *v, const char *what, char out[HEARTH_BUNDLE_ID_MAX + 1])
{
    size_t n = hearth_cursor_remaining(v);
    if (n == 0) return hearth_err(HEARTH_ERR_INVALID, "%s is empty", what);
    if (n > HEARTH_BUNDLE_ID_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "%s is %zu bytes (max %u)", what, n, HEARTH_BUNDLE_ID_MAX);
    HEARTH_GUARD(hearth_cursor_copy(v, out, n));
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
            return hearth_err(HEARTH_ERR_INVALID, "%s contains a non-printable byte", what);
    return HEARTH_OK;
}

/* Free text: UTF-8, no control characters except \n and \t, so showing it on
 * a terminal or web page cannot inject escape sequences. */
static bool text_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        if (b < 0x80) {
            if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f) return false;
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (b >= 0xc2 && b <= 0xdf) { len = 2; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) { len = 3; cp = b & 0x0f; }
        else if (b >= 0xf0 && b <= 0xf4) { len = 4; cp = b & 0x07; }
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += len;
    }
    return true;
}

static hearth_status read_text(hearth_cursor *v, const char *what, size_t max, char **out)
{
    size_t n = hearth_cursor_remaining(v);
    if (n > max) return hearth_err(HEARTH_ERR_TOO_LARGE, "%s is %zu bytes (max %zu)", what, n, max);
    const uint8_t *p = NULL;
    HEARTH_GUARD(hearth_cursor_ptr(v, n, &p));
    if (!text_ok(p, n))
        return hearth_err(HEARTH_ERR_INVALID, "%s is not UTF-8 text without control characters", what);
    char *s = malloc(n + 1);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    free(*out);
    *out = s;
    return HEARTH_OK;
}

static hearth_status read_u64_field(hearth_cursor *v, const char *what, uint64_t *out)
{
    if (hearth_cursor_remaining(v) != 8) return hearth_err(HEARTH_ERR_INVALID, "%s must be 8 bytes", what);
    return hearth_cursor_u64(v, out);
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static hearth_status parse_payload(hearth_manifest *m, hearth_cursor *v)
{
    if (m->payload_count == HEARTH_BUNDLE_PAYLOADS_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "more than %u payloads", HEARTH_BUNDLE_PAYLOADS_MAX);
    size_t idx = m->payload_count;
    hearth_payload_info *p = &m->payloads[idx];
    uint8_t nlen = 0, dalg = 0;
    HEARTH_GUARD(hearth_cursor_u8(v, &nlen));
    if (nlen == 0 || nlen > HEARTH_BUNDLE_ID_MAX)
        return hearth_err(nlen ? HEARTH_ERR_TOO_LARGE : HEARTH_ERR_INVALID,
                          "payload %zu name length %u (1..%u)", idx, nlen, HEARTH_BUNDLE_ID_MAX);
    HEARTH_GUARD(hearth_cursor_copy(v, p->name, nlen));
    p->name[nlen] = '\0';
    if (!name_ok(p->name, nlen))
        return hearth_err(HEARTH_ERR_INVALID, "payload %zu name is not [A-Za-z0-9._-] without a "
                          "leading dot", idx);
    for (size_t j = 0; j < idx; j++)
        if (strcmp(m->payloads[j].name, p->name) == 0)
            return hearth_err(HEARTH_ERR_INVALID, "payload '%s' listed twice", p->name);
    HEARTH_GUARD(hearth_cursor_u64(v, &p->size));
    HEARTH_GUARD(hearth_cursor_u32(v, &p->chunk_size));
    HEARTH_GUARD(hearth_cursor_u8(v, &dalg));
    HEARTH_GUARD(hearth_cursor_u32(v, &p->chunk_count));
    if (p->size > HEARTH_BUNDLE_PAYLOAD_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "payload '%s' is %llu bytes (max %llu)", p->name,
                          (unsigned long long)p->size, (unsigned long long)HEARTH_BUNDLE_PAYLOAD_MAX);
    if (p->chunk_size < HEARTH_BUNDLE_CHUNK_MIN || p->chunk_size > HEARTH_BUNDLE_CHUNK_MAX ||
        (p->chunk_size & (p->chunk_size - 1)) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "payload '%s' chunk size %u is not a power of two "
                          "in %u..%u", p->name, p->chunk_size, HEARTH_BUNDLE_CHUNK_MIN,
                          HEARTH_BUNDLE_CHUNK_MAX);
    if (dalg != HEARTH_DIGEST_SHA256)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "payload '%s' digest algorithm %u not supported",
                          p->name, dalg);
    p->digest_alg = (hearth_digest_alg)dalg;
    uint64_t want = (p->size + p->chunk_size - 1) / p->chunk_size;
    if (p->chunk_count != want)
        return hearth_err(HEARTH_ERR_INVALID, "payload '%s' lists %u chunks, its size needs %llu",
                          p->name, p->chunk_count, (unsigned long long)want);
    /* chunk_count <= 2^30 / 2^12, so the product cannot overflow. */
    size_t dlen = (size_t)p->chunk_count * HEARTH_DIGEST_LEN;
    if (hearth_cursor_remaining(v) != dlen)
        return hearth_err(HEARTH_ERR_INVALID, "payload '%s' digest table is %zu bytes, expected %zu",
                          p->name, hearth_cursor_remaining(v), dlen);
    HEARTH_GUARD(hearth_cursor_ptr(v, dlen, &p->chunk_digests));
    p->offset = m->payload_total;
    m->payload_total += p->size;
    m->payload_count++;
    return HEARTH_OK;
}

static hearth_status manifest_field(void *ctx, uint16_t tag, hearth_cursor *v, bool *known)
{
    hearth_manifest *m = ctx;
    uint64_t u = 0;
    switch (tag) {
    case HB_TAG_MODEL: return read_ident(v, "model", m->model);
    case HB_TAG_HW_ID: return read_ident(v, "hardware id", m->hw_id);
    case HB_TAG_SW_VERSION: return read_ident(v, "software version", m->sw_version);
    case HB_TAG_SECURITY_VERSION:
        return read_u64_field(v, "security version", &m->security_version);
    case HB_TAG_CREATED:
    case HB_TAG_EXPIRES:
        HEARTH_GUARD(read_u64_field(v, "time", &u));
        if (u > (uint64_t)INT64_MAX) return hearth_err(HEARTH_ERR_INVALID, "time out of range");
        if (tag == HB_TAG_CREATED) m->created = (int64_t)u;
        else m->expires = (int64_t)u;
        return HEARTH_OK;
    case HB_TAG_NOTES:
        return read_text(v, "release notes", HEARTH_BUNDLE_NOTES_MAX, &m->notes);
    case HB_TAG_MITIGATES:
        return read_text(v, "mitigated risks", HEARTH_BUNDLE_MITIGATES_MAX, &m->mitigates);
    case HB_TAG_DISRUPTION: {
        uint8_t flag = 0;
        if (hearth_cursor_remaining(v) != 5)
            return hearth_err(HEARTH_ERR_INVALID, "disruption field must be 5 bytes");
        HEARTH_GUARD(hearth_cursor_u8(v, &flag));
        HEARTH_GUARD(hearth_cursor_u32(v, &m->downtime_s));
        if (flag > 1) return hearth_err(HEARTH_ERR_INVALID, "disruption flag must be 0 or 1");
        m->disruptive = flag == 1;
        return HEARTH_OK;
    }
    case HB_TAG_SBOM:
        if (hearth_cursor_remaining(v) == 0) return hearth_err(HEARTH_ERR_INVALID, "SBOM is empty");
        HEARTH_GUARD(read_text(v, "SBOM", HEARTH_BUNDLE_SBOM_MAX, &m->sbom));
        m->sbom_len = strlen(m->sbom);
        return HEARTH_OK;
    case HB_TAG_PAYLOAD: return parse_payload(m, v);
    default: *known = false; return HEARTH_OK;
    }
}

static const hb_tlv_body MANIFEST_BODY = {HB_MANIFEST_MAGIC, HEARTH_BUNDLE_FORMAT_VERSION,
                                          HB_TAG_PAYLOAD, "manifest"};

static hearth_status parse_fields(hearth_manifest *m)
{
    uint32_t seen = 0;
    HEARTH_GUARD(hb_tlv_parse(m->raw, m->raw_len, &MANIFEST_BODY, manifest_field, m, &seen));
    m->format_version = MANIFEST_BODY.version;
    const uint32_t required = (1u << HB_TAG_MODEL) | (1u << HB_TAG_HW_ID) |
                              (1u << HB_TAG_SW_VERSION) | (1u << HB_TAG_SECURITY_VERSION) |
                              (1u << HB_TAG_CREATED) | (1u << HB_TAG_EXPIRES) |
                              (1u << HB_TAG_NOTES) | (1u << HB_TAG_MITIGATES) |
                              (1u << HB_TAG_DISRUPTION) | (1u << HB_TAG_PAYLOAD);
    if ((seen & required) != required)
        return hearth_err(HEARTH_ERR_INVALID, "manifest lacks required field(s) (mask 0x%x)",
                          required & ~seen);
    return HEARTH_OK;
}

hearth_status hearth_manifest_parse(const uint8_t *data, size_t len, hearth_manifest **out)
{
    *out = NULL;
    if (len > HEARTH_BUNDLE_MANIFEST_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "manifest of %zu bytes (max %u)", len,
                          HEARTH_BUNDLE_MANIFEST_MAX);
    hearth_manifest *m = calloc(1, sizeof *m);
    if (m == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    m->raw = malloc(len ? len : 1);
    if (m->raw == NULL) {
        free(m);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    if (len) memcpy(m->raw, data, len);
    m->raw_len = len;
    hearth_status st = parse_fields(m);
    if (st != HEARTH_OK) {
        hearth_manifest_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}

hearth_status hearth_manifest_check_policy(const hearth_manifest *m, const hearth_bundle_policy *p)
{
    if (p->model != NULL && strcmp(p->model, m->model) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "bundle is for model '%s', this device is '%s'",
                          m->model, p->model);
    if (p->hw_id != NULL && strcmp(p->hw_id, m->hw_id) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "bundle is for hardware '%s', this device is '%s'",
                          m->hw_id, p->hw_id);
    int64_t now = p->now != 0 ? p->now : hearth_time_now();
    if (!p->ignore_expiry && now >= m->expires)
        return hearth_err(HEARTH_ERR_EXPIRED, "bundle %s expired at %lld (now %lld)", m->sw_version,
                          (long long)m->expires, (long long)now);
    if (m->security_version < p->installed_security_version)
        return hearth_err(HEARTH_ERR_ROLLBACK,
                          "security version %llu is older than the installed %llu (rollback)",
                          (unsigned long long)m->security_version,
                          (unsigned long long)p->installed_security_version);
    if (m->security_version == p->installed_security_version && p->installed_sw_version != NULL &&
        strcmp(p->installed_sw_version, m->sw_version) == 0)
        return hearth_err(HEARTH_ERR_EXISTS, "version %s (security version %llu) is already "
                          "installed (replay)", m->sw_version,
                          (unsigned long long)m->security_version);
    return HEARTH_OK;
}

hearth_status hb_verify_manifest_sig(const hearth_keyset *ks, const uint8_t *manifest, size_t mlen,
                                     const hb_sigblock *sb, uint8_t signer[HEARTH_KEY_ID_LEN])
{
    if (ks == NULL || !hearth_keyset_verified(ks))
        return hearth_err(HEARTH_ERR_STATE, "key set has not been verified against a trust anchor");
    if (sb->count == 0) return hearth_err(HEARTH_ERR_TAMPERED, "bundle is not signed");
    unsigned revoked = 0, bad = 0, unknown = 0, unsupported = 0;
    char last_unknown[17] = "", last_revoked[17] = "";
    for (size_t i = 0; i < sb->count; i++) {
        const hb_sig *s = &sb->sigs[i];
        if (s->alg != HEARTH_SIG_ED25519 && s->alg != HEARTH_SIG_ECDSA_P256_SHA256) {
            unsupported++;
            continue;
        }
        const hearth_key *key = NULL;
        const hearth_keyset_entry *e = hb_keyset_find(ks, s->key_id, &key);
        if (e == NULL) {
            unknown++;
            hb_key_id_short(s->key_id, last_unknown);
            continue;
        }
        if (hb_sig_verify(key, s, HB_CTX_MANIFEST, manifest, mlen) != HEARTH_OK) {
            bad++;
            continue;
        }
        if (e->status != HEARTH_KEY_ACTIVE) {
            revoked++;
            hb_key_id_short(s->key_id, last_revoked);
            continue;
        }
        memcpy(signer, s->key_id, HEARTH_KEY_ID_LEN);
        hearth_err_clear();
        return HEARTH_OK;
    }
    if (revoked)
        return hearth_err(HEARTH_ERR_REVOKED, "bundle is signed only by revoked key %s", last_revoked);
    if (bad)
        return hearth_err(HEARTH_ERR_TAMPERED, "manifest signature does not verify (manifest or "
                          "signature modified)");
    if (unknown)
        return hearth_err(HEARTH_ERR_TAMPERED, "bundle is signed by key %s, which is not in key set "
                          "version %llu", last_unknown,
                          (unsigned long long)hearth_keyset_version(ks));
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "no signature uses a supported algorithm");
}

hearth_status hearth_manifest_build(const hearth_bundle_spec *spec, const uint64_t *sizes,
                                    const uint8_t *const *digests, hearth_buf *out)
{
    if (spec->payload_count == 0 || spec->payload_count > HEARTH_BUNDLE_PAYLOADS_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "a bundle needs 1..%u payloads", HEARTH_BUNDLE_PAYLOADS_MAX);
    if (spec->model == NULL || spec->hw_id == NULL || spec->sw_version == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "model, hardware id and software version are required");
    uint32_t chunk = spec->chunk_size ? spec->chunk_size : HEARTH_BUNDLE_CHUNK_DEFAULT;
    int64_t created = spec->created ? spec->created : hearth_time_now();
    const char *notes = spec->notes ? spec->notes : "";
    const char *mit = spec->mitigates ? spec->mitigates : "";
    hearth_buf_init(out, HEARTH_BUNDLE_MANIFEST_MAX);
    hearth_status st = hearth_buf_append(out, HB_MANIFEST_MAGIC, 4);
    if (st == HEARTH_OK) st = hearth_buf_u16(out, HEARTH_BUNDLE_FORMAT_VERSION);
    if (st == HEARTH_OK) st = hb_tlv_put(out, HB_TAG_MODEL, spec->model, strlen(spec->model));
    if (st == HEARTH_OK) st = hb_tlv_put(out, HB_TAG_HW_ID, spec->hw_id, strlen(spec->hw_id));
    if (st == HEARTH_OK) st = hb_tlv_put(out, HB_TAG_SW_VERSION, spec->sw_version, strlen(spec->sw_version));
    if (st == HEARTH_OK) st = hb_tlv_put_u64(out, HB_TAG_SECURITY_VERSION, spec->security_version);
    if (st == HEARTH_OK) st = hb_tlv_put_u64(out, HB_TAG_CREATED, (uint64_t)created);
    if (st == HEARTH_OK) st = hb_tlv_put_u64(out, HB_TAG_EXPIRES, (uint64_t)spec->expires);
    if (st == HEARTH_OK) st = hb_tlv_put(out, HB_TAG_NOTES, notes, strlen(notes));
    if (st == HEARTH_OK) st = hb_tlv_put(out, HB_TAG_MITIGATES, mit, strlen(mit));
    uint8_t dis[5] = {spec->disruptive ? 1 : 0, (uint8_t)(spec->downtime_s >> 24),
                      (uint8_t)(spec->downtime_s >> 16), (uint8_t)(spec->downtime_s >> 8),
                      (uint8_t)spec->downtime_s};
    if (st == HEARTH_OK) st = hb_tlv_put(out, HB_TAG_DISRUPTION, dis, sizeof dis);
    if (st == HEARTH_OK && spec->sbom != NULL) {
        if (spec->sbom_len == 0 || spec->sbom_len > HEARTH_BUNDLE_SBOM_MAX)
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "SBOM must be 1..%u bytes", HEARTH_BUNDLE_SBOM_MAX);
        else
            st = hb_tlv_put(out, HB_TAG_SBOM, spec->sbom, spec->sbom_len);
    }
    for (size_t i = 0; st == HEARTH_OK && i < spec->payload_count; i++) {
        const char *name = spec->payloads[i].name;
        size_t nl = name ? strlen(name) : 0;
        if (nl == 0 || nl > HEARTH_BUNDLE_ID_MAX) {
            st = hearth_err(HEARTH_ERR_INVALID, "payload name must be 1..%u bytes", HEARTH_BUNDLE_ID_MAX);
            break;
        }
        if (sizes[i] > HEARTH_BUNDLE_PAYLOAD_MAX) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "payload '%s' is %llu bytes, more than the %llu "
                            "allowed", name, (unsigned long long)sizes[i],
                            (unsigned long long)HEARTH_BUNDLE_PAYLOAD_MAX);
            break;
        }
        uint64_t count = (sizes[i] + chunk - 1) / chunk;
        size_t dlen = (size_t)count * HEARTH_DIGEST_LEN;
        st = hearth_buf_u16(out, HB_TAG_PAYLOAD);
        if (st == HEARTH_OK) st = hearth_buf_u32(out, (uint32_t)(1 + nl + 8 + 4 + 1 + 4 + dlen));
        if (st == HEARTH_OK) st = hearth_buf_u8(out, (uint8_t)nl);
        if (st == HEARTH_OK) st = hearth_buf_append(out, name, nl);
        if (st == HEARTH_OK) st = hearth_buf_u64(out, sizes[i]);
        if (st == HEARTH_OK) st = hearth_buf_u32(out, chunk);
        if (st == HEARTH_OK) st = hearth_buf_u8(out, HEARTH_DIGEST_SHA256);
        if (st == HEARTH_OK) st = hearth_buf_u32(out, (uint32_t)count);
        if (st == HEARTH_OK && dlen) st = hearth_buf_append(out, digests[i], dlen);
    }
    if (st != HEARTH_OK) {
        hearth_buf_free(out);
        return st;
    }
    /* Self-check with the device's parser: never emit what a device rejects. */
    hearth_manifest *m = NULL;
    st = hearth_manifest_parse(out->data, out->len, &m);
    hearth_manifest_free(m);
    if (st != HEARTH_OK) hearth_buf_free(out);
    return st;
}
