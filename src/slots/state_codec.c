/*
 * Boot-state file format (docs/boot.md): a small binary record read through
 * the bounded cursor and authenticated with HMAC-SHA256 under a key derived
 * from the storage root key. The MAC is checked (constant time) over the raw
 * bytes BEFORE any field is parsed, so a forged or corrupted file never
 * reaches the decoder's logic (MCUboot: nothing trusted before it is checked).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "hearth/slots.h"
#include "hearth/util.h"

#define BS_MAGIC "HBS1"
#define BS_FORMAT HEARTH_BOOT_STATE_FORMAT
/* Format 1 (before the key-set floor): same header, MAC and key; the body
 * lacks min_keyset_version. An authentic format-1 file can only have been
 * written by this device's own older software, so it is migrated rather
 * than treated as tampered (which would raise a false alarm on every device
 * at the upgrade). Replaying it gains an attacker nothing that replaying any
 * older authentic state would not (docs/boot.md, "Format versions"). */
#define BS_FORMAT_V1 1
#define BS_MAC_HMAC_SHA256 1 /* algorithm id in the data (5.5-3) */
#define BS_HEADER_LEN 12     /* magic 4, format u16, mac alg u8, reserved u8, body len u32 */
#define BS_MAC_LEN 32
#define BS_NONE 0xFF

static const char kdf_salt[] = "hearth boot-state salt v1";
static const char kdf_info[] = "hearth boot-state hmac-sha256 v1";

hearth_status hearth_slots_derive_key(const uint8_t root_key[32], uint8_t key[32])
{
    if (root_key == NULL || key == NULL) return hearth_err(HEARTH_ERR_INVALID, "no key");
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (ctx == NULL) return hearth_err(HEARTH_ERR_CRYPTO, "HKDF unavailable");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)root_key, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)kdf_salt,
                                          sizeof kdf_salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)kdf_info,
                                          sizeof kdf_info - 1),
        OSSL_PARAM_construct_end()};
    int ok = EVP_KDF_derive(ctx, key, 32, params);
    EVP_KDF_CTX_free(ctx);
    if (ok != 1) {
        hearth_memzero(key, 32);
        return hearth_err(HEARTH_ERR_CRYPTO, "HKDF derivation failed");
    }
    return HEARTH_OK;
}

static hearth_status mac(const uint8_t key[32], const uint8_t *data, size_t len,
                         uint8_t out[BS_MAC_LEN])
{
    unsigned int ol = 0;
    if (HMAC(EVP_sha256(), key, 32, data, len, out, &ol) == NULL || ol != BS_MAC_LEN)
        return hearth_err(HEARTH_ERR_CRYPTO, "HMAC-SHA256 failed");
    return HEARTH_OK;
}

static uint8_t slot_byte(int s)
{
    return (s == HEARTH_SLOT_A || s == HEARTH_SLOT_B) ? (uint8_t)s : BS_NONE;
}

static hearth_status put_str(hearth_buf *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max) return hearth_err(HEARTH_ERR_TOO_LARGE, "boot-state string too long");
    HEARTH_GUARD(hearth_buf_u8(b, (uint8_t)n));
    return hearth_buf_append(b, s, n);
}

static hearth_status encode_body(const hearth_boot_state *bs, hearth_buf *b)
{
    HEARTH_GUARD(hearth_buf_u64(b, bs->generation));
    HEARTH_GUARD(hearth_buf_u8(b, slot_byte(bs->active)));
    HEARTH_GUARD(hearth_buf_u8(b, slot_byte(bs->pending)));
    HEARTH_GUARD(hearth_buf_u8(b, bs->attempts_left));
    HEARTH_GUARD(hearth_buf_u8(b, slot_byte(bs->booted)));
    HEARTH_GUARD(hearth_buf_u64(b, bs->min_security_version));
    HEARTH_GUARD(hearth_buf_u64(b, bs->min_keyset_version));
    for (int i = 0; i < HEARTH_SLOT_COUNT; i++) {
        const hearth_slot_info *si = &bs->slot[i];
        HEARTH_GUARD(hearth_buf_u8(b, si->verify));
        HEARTH_GUARD(hearth_buf_u64(b, si->security_version));
        HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)si->verified_at));
        HEARTH_GUARD(put_str(b, si->version, HEARTH_SLOTS_VERSION_MAX));
    }
    HEARTH_GUARD(hearth_buf_u32(b, bs->alerts_total));
    HEARTH_GUARD(hearth_buf_u32(b, bs->reverts_total));
    HEARTH_GUARD(hearth_buf_u8(b, slot_byte(bs->last_reverted)));
    HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)bs->last_reverted_at));
    HEARTH_GUARD(hearth_buf_u8(b, bs->n_alerts));
    for (unsigned i = 0; i < bs->n_alerts; i++) {
        const hearth_slot_alert *al = &bs->alerts[i];
        HEARTH_GUARD(hearth_buf_u8(b, slot_byte(al->slot)));
        HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)al->time));
        HEARTH_GUARD(put_str(b, al->file, HEARTH_SLOTS_FILE_MAX));
        HEARTH_GUARD(put_str(b, al->reason, HEARTH_SLOTS_REASON_MAX));
    }
    return HEARTH_OK;
}

hearth_status hearth_boot_state_encode(const hearth_boot_state *bs, const uint8_t key[32],
                                       uint8_t *buf, size_t cap, size_t *len)
{
    if (bs == NULL || key == NULL || buf == NULL || len == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "boot state encode: missing argument");
    HEARTH_ENSURE(bs->n_alerts <= HEARTH_SLOTS_ALERTS_MAX,
                  hearth_err(HEARTH_ERR_INVALID, "too many alerts"));
    HEARTH_ENSURE(bs->attempts_left <= HEARTH_SLOTS_ATTEMPTS,
                  hearth_err(HEARTH_ERR_INVALID, "attempts out of range"));
    hearth_buf body;
    hearth_buf_init(&body, HEARTH_BOOT_STATE_MAX);
    hearth_status st = encode_body(bs, &body);
    if (st != HEARTH_OK) {
        hearth_buf_free(&body);
        return st;
    }
    size_t total = BS_HEADER_LEN + body.len + BS_MAC_LEN;
    if (total > cap || total > HEARTH_BOOT_STATE_MAX) {
        hearth_buf_free(&body);
        return hearth_err(HEARTH_ERR_TOO_LARGE, "boot state does not fit");
    }
    memcpy(buf, BS_MAGIC, 4);
    buf[4] = 0;
    buf[5] = BS_FORMAT;
    buf[6] = BS_MAC_HMAC_SHA256;
    buf[7] = 0;
    hearth_be32_put(buf + 8, (uint32_t)body.len);
    memcpy(buf + BS_HEADER_LEN, body.data, body.len);
    hearth_buf_free(&body);
    HEARTH_GUARD(mac(key, buf, total - BS_MAC_LEN, buf + total - BS_MAC_LEN));
    *len = total;
    return HEARTH_OK;
}

static hearth_status get_slot(hearth_cursor *c, bool none_ok, int8_t *out)
{
    uint8_t v;
    HEARTH_GUARD(hearth_cursor_u8(c, &v));
    if (v == BS_NONE && none_ok) {
        *out = HEARTH_SLOT_NONE;
        return HEARTH_OK;
    }
    if (v != HEARTH_SLOT_A && v != HEARTH_SLOT_B)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state: bad slot id %u", v);
    *out = (int8_t)v;
    return HEARTH_OK;
}

static hearth_status get_str(hearth_cursor *c, char *out, size_t max)
{
    uint8_t n;
    const uint8_t *p;
    HEARTH_GUARD(hearth_cursor_u8(c, &n));
    if (n > max) return hearth_err(HEARTH_ERR_TAMPERED, "boot state: string too long");
    HEARTH_GUARD(hearth_cursor_ptr(c, n, &p));
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return hearth_err(HEARTH_ERR_TAMPERED, "boot state: control byte in string");
    memcpy(out, p, n);
    out[n] = '\0';
    return HEARTH_OK;
}

static hearth_status decode_body(hearth_cursor *c, uint16_t fmt, hearth_boot_state *bs)
{
    uint64_t u;
    HEARTH_GUARD(hearth_cursor_u64(c, &bs->generation));
    HEARTH_GUARD(get_slot(c, true, &bs->active));
    HEARTH_GUARD(get_slot(c, true, &bs->pending));
    HEARTH_GUARD(hearth_cursor_u8(c, &bs->attempts_left));
    if (bs->attempts_left > HEARTH_SLOTS_ATTEMPTS)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state: attempts out of range");
    HEARTH_GUARD(get_slot(c, true, &bs->booted));
    HEARTH_GUARD(hearth_cursor_u64(c, &bs->min_security_version));
    bs->min_keyset_version = 0; /* format 1: no floor recorded yet */
    if (fmt >= 2) HEARTH_GUARD(hearth_cursor_u64(c, &bs->min_keyset_version));
    for (int i = 0; i < HEARTH_SLOT_COUNT; i++) {
        hearth_slot_info *si = &bs->slot[i];
        HEARTH_GUARD(hearth_cursor_u8(c, &si->verify));
        if (si->verify > HEARTH_SLOT_ROLLBACK)
            return hearth_err(HEARTH_ERR_TAMPERED, "boot state: bad verification result");
        HEARTH_GUARD(hearth_cursor_u64(c, &si->security_version));
        HEARTH_GUARD(hearth_cursor_u64(c, &u));
        si->verified_at = (int64_t)u;
        HEARTH_GUARD(get_str(c, si->version, HEARTH_SLOTS_VERSION_MAX));
    }
    HEARTH_GUARD(hearth_cursor_u32(c, &bs->alerts_total));
    HEARTH_GUARD(hearth_cursor_u32(c, &bs->reverts_total));
    HEARTH_GUARD(get_slot(c, true, &bs->last_reverted));
    HEARTH_GUARD(hearth_cursor_u64(c, &u));
    bs->last_reverted_at = (int64_t)u;
    HEARTH_GUARD(hearth_cursor_u8(c, &bs->n_alerts));
    if (bs->n_alerts > HEARTH_SLOTS_ALERTS_MAX)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state: too many alerts");
    for (unsigned i = 0; i < bs->n_alerts; i++) {
        hearth_slot_alert *al = &bs->alerts[i];
        HEARTH_GUARD(get_slot(c, true, &al->slot));
        HEARTH_GUARD(hearth_cursor_u64(c, &u));
        al->time = (int64_t)u;
        HEARTH_GUARD(get_str(c, al->file, HEARTH_SLOTS_FILE_MAX));
        HEARTH_GUARD(get_str(c, al->reason, HEARTH_SLOTS_REASON_MAX));
    }
    if (hearth_cursor_remaining(c) != 0)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state: trailing bytes");
    /* Semantic invariants a correct writer always keeps. */
    if (bs->pending != HEARTH_SLOT_NONE && bs->pending == bs->active)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state: pending slot is the active slot");
    return HEARTH_OK;
}

hearth_status hearth_boot_state_decode(const uint8_t *buf, size_t len, const uint8_t key[32],
                                       hearth_boot_state *bs)
{
    if (buf == NULL || key == NULL || bs == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "boot state decode: missing argument");
    memset(bs, 0, sizeof *bs);
    if (len < BS_HEADER_LEN + BS_MAC_LEN)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state truncated (%zu bytes)", len);
    if (len > HEARTH_BOOT_STATE_MAX)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state too large (%zu bytes)", len);
    if (memcmp(buf, BS_MAGIC, 4) != 0)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state: bad magic");
    uint32_t body_len = hearth_be32_get(buf + 8);
    if ((size_t)body_len != len - BS_HEADER_LEN - BS_MAC_LEN)
        return hearth_err(HEARTH_ERR_TAMPERED, "boot state truncated or extended "
                                               "(length field %u, file %zu bytes)",
                          body_len, len);
    uint8_t expect[BS_MAC_LEN];
    HEARTH_GUARD(mac(key, buf, len - BS_MAC_LEN, expect));
    bool ok = hearth_ct_equal(expect, buf + len - BS_MAC_LEN, BS_MAC_LEN);
    hearth_memzero(expect, sizeof expect);
    if (!ok)
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "boot state failed authentication (MAC mismatch): modified, "
                          "corrupted or from another device");
    /* Authentic from here on: version checks can be trusted. */
    uint16_t fmt = (uint16_t)((buf[4] << 8) | buf[5]);
    if ((fmt != BS_FORMAT && fmt != BS_FORMAT_V1) || buf[6] != BS_MAC_HMAC_SHA256)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "boot state format %u / MAC alg %u unsupported",
                          fmt, buf[6]);
    hearth_cursor c;
    hearth_cursor_init(&c, buf + BS_HEADER_LEN, body_len);
    hearth_status st = decode_body(&c, fmt, bs);
    if (st != HEARTH_OK) {
        memset(bs, 0, sizeof *bs);
        if (st == HEARTH_ERR_INVALID)
            st = hearth_err(HEARTH_ERR_TAMPERED, "boot state: malformed body");
    }
    return st;
}

void hearth_boot_state_init_empty(hearth_boot_state *bs)
{
    memset(bs, 0, sizeof *bs);
    bs->active = HEARTH_SLOT_NONE;
    bs->pending = HEARTH_SLOT_NONE;
    bs->booted = HEARTH_SLOT_NONE;
    bs->last_reverted = HEARTH_SLOT_NONE;
}

const char *hearth_slot_name(int slot)
{
    if (slot == HEARTH_SLOT_A) return "a";
    if (slot == HEARTH_SLOT_B) return "b";
    return "none";
}

hearth_status hearth_slot_parse(const char *s, int *slot)
{
    if (s != NULL && strcmp(s, "a") == 0) {
        *slot = HEARTH_SLOT_A;
        return HEARTH_OK;
    }
    if (s != NULL && strcmp(s, "b") == 0) {
        *slot = HEARTH_SLOT_B;
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_INVALID, "slot must be 'a' or 'b'");
}

const char *hearth_slot_verify_name(int v)
{
    switch (v) {
    case HEARTH_SLOT_VERIFIED: return "verified";
    case HEARTH_SLOT_INVALID: return "invalid";
    case HEARTH_SLOT_INSTALLING: return "installing";
    case HEARTH_SLOT_ROLLBACK: return "rollback";
    default: return "unknown";
    }
}
