/* Store file format v1: encode, structural parse and full verification.
 * Layout and rationale: docs/store-format.md. Every read of file bytes goes
 * through hearth_cursor; lengths are checked against the HEARTH_STORE_*
 * limits before they are used. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "store_format.h"

#define STORE_NONCE_LEN 12
/* Nonce domains: records and the trailer never share a nonce under one
 * commit key (the key itself is fresh for every commit). */
#define NONCE_DOMAIN_RECORD 0x52454331u  /* "REC1" */
#define NONCE_DOMAIN_TRAILER 0x54524c31u /* "TRL1" */

static const char BINDING_LABEL[] = "hearth.store.v1.device-id";
static const char INFO_AEAD[] = "hearth.store.v1.aead-key";
static const char INFO_CHECK[] = "hearth.store.v1.key-check";

/* ------------------------------------------------------------ helpers */

hearth_status store_name_check(const char *name)
{
    return hearth_text_check(name, HEARTH_STORE_NAME_MAX, HEARTH_TEXT_NO_CONTROL,
                             HEARTH_ERR_TOO_LARGE, "record name", NULL);
}

static const EVP_CIPHER *alg_cipher(uint16_t alg)
{
    switch (alg) {
    case STORE_ALG_AES256GCM: return EVP_aes_256_gcm();
    case STORE_ALG_CHACHA20POLY1305: return EVP_chacha20_poly1305();
    default: return NULL;
    }
}

static void make_nonce(uint8_t nonce[STORE_NONCE_LEN], uint32_t domain, uint64_t index)
{
    hearth_be32_put(nonce, domain);
    hearth_be64_put(nonce + 4, index);
}

/* SHA-256(label || 0x00 || device_id): binds the file to the device without
 * storing the identifier itself. */
static hearth_status device_binding(const char *device_id, uint8_t out[STORE_BINDING_LEN])
{
    if (device_id == NULL || device_id[0] == '\0')
        return hearth_err(HEARTH_ERR_INVALID, "device id is empty");
    size_t dl = strnlen(device_id, 257);
    if (dl > 256) return hearth_err(HEARTH_ERR_TOO_LARGE, "device id longer than 256 bytes");
    uint8_t tmp[sizeof BINDING_LABEL + 256];
    memcpy(tmp, BINDING_LABEL, sizeof BINDING_LABEL); /* includes the NUL separator */
    memcpy(tmp + sizeof BINDING_LABEL, device_id, dl);
    return hearth_sha256(tmp, sizeof BINDING_LABEL + dl, out);
}

/* HKDF-SHA256(ikm = root key, salt = commit salt, info = label || alg || binding). */
static hearth_status derive(const uint8_t key[HEARTH_STORE_KEY_LEN], const uint8_t *salt,
                            const char *label, uint16_t alg, const uint8_t *binding,
                            uint8_t *out, size_t outlen)
{
    uint8_t info[64 + 2 + STORE_BINDING_LEN];
    size_t ll = strlen(label);
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): HKDF info is bytes, not a string
    memcpy(info, label, ll);
    info[ll] = (uint8_t)(alg >> 8);
    info[ll + 1] = (uint8_t)alg;
    memcpy(info + ll + 2, binding, STORE_BINDING_LEN);
    size_t il = ll + 2 + STORE_BINDING_LEN;

    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) return hearth_err(HEARTH_ERR_CRYPTO, "HKDF not available");
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (kctx == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory (HKDF)");
    OSSL_PARAM params[5];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key,
                                                  HEARTH_STORE_KEY_LEN);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                                  STORE_SALT_LEN);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, il);
    params[4] = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(kctx, out, outlen, params);
    EVP_KDF_CTX_free(kctx);
    if (ok != 1) return hearth_err(HEARTH_ERR_CRYPTO, "HKDF derivation failed");
    return HEARTH_OK;
}

/* One AEAD operation. enc: writes ct and tag. !enc: checks tag, writes pt.
 * Returns HEARTH_ERR_TAMPERED (no message) on a tag mismatch. */
static hearth_status aead(int enc, uint16_t alg, const uint8_t key[32],
                          const uint8_t nonce[STORE_NONCE_LEN], const uint8_t *aad,
                          size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out,
                          uint8_t tag[STORE_TAG_LEN])
{
    const EVP_CIPHER *c = alg_cipher(alg);
    if (c == NULL) return hearth_err(HEARTH_ERR_UNSUPPORTED, "unknown AEAD algorithm %u", alg);
    if (inlen > INT32_MAX || aadlen > INT32_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "AEAD input too large");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory (cipher)");
    hearth_status st = HEARTH_ERR_CRYPTO;
    int outl = 0;
    if (EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc) != 1) goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, STORE_NONCE_LEN, NULL) != 1) goto done;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1) goto done;
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, STORE_TAG_LEN, tag) != 1)
        goto done;
    if (aadlen > 0 && EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1) goto done;
    if (inlen > 0) {
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)inlen) != 1) goto done;
        if ((size_t)outl != inlen) goto done;
    }
    int fin = 0;
    uint8_t scratch[32] = {0}; /* AEAD finals write nothing; never hand OpenSSL NULL */
    if (EVP_CipherFinal_ex(ctx, out == NULL ? scratch : out + inlen, &fin) != 1) {
        st = enc ? HEARTH_ERR_CRYPTO : HEARTH_ERR_TAMPERED;
        goto done;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, STORE_TAG_LEN, tag) != 1) goto done;
    st = HEARTH_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (st == HEARTH_ERR_CRYPTO) return hearth_err(st, "AEAD operation failed");
    return st;
}

/* AAD of record i: the fixed header, the record index and its name. */
static size_t record_aad(uint8_t *aad, const uint8_t *header, uint32_t index,
                         const uint8_t *name, uint8_t name_len)
{
    memcpy(aad, header, STORE_HEADER_LEN);
    hearth_be32_put(aad + STORE_HEADER_LEN, index);
    aad[STORE_HEADER_LEN + 4] = name_len;
    memcpy(aad + STORE_HEADER_LEN + 5, name, name_len);
    return STORE_HEADER_LEN + 5 + (size_t)name_len;
}

void store_image_clear(store_image *img)
{
    for (size_t i = 0; i < img->count; i++) {
        if (img->rec[i].val != NULL) {
            hearth_memzero(img->rec[i].val, img->rec[i].len);
            free(img->rec[i].val);
        }
        hearth_memzero(&img->rec[i], sizeof img->rec[i]);
    }
    img->count = 0;
}

/* -------------------------------------------------------------- parse */

static hearth_status truncated(const char *what)
{
    return hearth_err(HEARTH_ERR_TAMPERED, "store file truncated or malformed (%s)", what);
}

hearth_status store_format_parse(const uint8_t *buf, size_t len, store_layout *out)
{
    memset(out, 0, sizeof *out);
    hearth_cursor c;
    HEARTH_GUARD(hearth_cursor_init_max(&c, buf, len, HEARTH_STORE_FILE_MAX, HEARTH_ERR_TAMPERED,
                                        "store file"));
    const uint8_t *magic = NULL;
    if (hearth_cursor_ptr(&c, STORE_MAGIC_LEN, &magic) != HEARTH_OK) return truncated("magic");
    if (memcmp(magic, STORE_MAGIC, STORE_MAGIC_LEN) != 0)
        return hearth_err(HEARTH_ERR_TAMPERED, "not a Hearth store file (bad magic)");
    if (hearth_cursor_u16(&c, &out->version) != HEARTH_OK) return truncated("version");
    if (out->version != STORE_FORMAT_VERSION)
        return hearth_err(HEARTH_ERR_UNSUPPORTED,
                          "store format version %u is not supported (this build reads %d)",
                          out->version, STORE_FORMAT_VERSION);
    if (hearth_cursor_u16(&c, &out->alg) != HEARTH_OK) return truncated("algorithm");
    if (alg_cipher(out->alg) == NULL)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "store AEAD algorithm id %u is not supported",
                          out->alg);
    if (hearth_cursor_u16(&c, &out->kdf) != HEARTH_OK) return truncated("kdf");
    if (out->kdf != STORE_KDF_HKDF_SHA256)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "store KDF id %u is not supported", out->kdf);
    uint16_t reserved = 0;
    if (hearth_cursor_u16(&c, &reserved) != HEARTH_OK) return truncated("reserved");
    if (reserved != 0)
        return hearth_err(HEARTH_ERR_TAMPERED, "store header reserved field is not zero");
    if (hearth_cursor_u64(&c, &out->generation) != HEARTH_OK) return truncated("generation");
    if (hearth_cursor_ptr(&c, STORE_BINDING_LEN, &out->binding) != HEARTH_OK)
        return truncated("device binding");
    if (hearth_cursor_ptr(&c, STORE_SALT_LEN, &out->salt) != HEARTH_OK) return truncated("salt");
    if (hearth_cursor_ptr(&c, STORE_KEYCHECK_LEN, &out->key_check) != HEARTH_OK)
        return truncated("key check");
    if (hearth_cursor_u32(&c, &out->count) != HEARTH_OK) return truncated("record count");
    if (c.pos != STORE_HEADER_LEN) return hearth_err(HEARTH_ERR_INTERNAL, "header size mismatch");
    if (out->count > HEARTH_STORE_RECORDS_MAX)
        return hearth_err(HEARTH_ERR_TAMPERED, "store claims %u records, over the %d limit",
                          out->count, HEARTH_STORE_RECORDS_MAX);

    for (uint32_t i = 0; i < out->count; i++) {
        store_layout_record *r = &out->rec[i];
        if (hearth_cursor_u8(&c, &r->name_len) != HEARTH_OK) return truncated("record name length");
        if (r->name_len == 0 || r->name_len > HEARTH_STORE_NAME_MAX)
            return hearth_err(HEARTH_ERR_TAMPERED, "record %u has an invalid name length %u", i,
                              r->name_len);
        if (hearth_cursor_ptr(&c, r->name_len, &r->name) != HEARTH_OK)
            return truncated("record name");
        for (size_t k = 0; k < r->name_len; k++)
            if (r->name[k] < 0x20 || r->name[k] == 0x7f)
                return hearth_err(HEARTH_ERR_TAMPERED, "record %u name has a control byte", i);
        if (i > 0) {
            /* Strictly increasing names: one canonical encoding, no duplicates. */
            const store_layout_record *p = &out->rec[i - 1];
            size_t m = p->name_len < r->name_len ? p->name_len : r->name_len;
            int cmp = memcmp(p->name, r->name, m);
            if (cmp > 0 || (cmp == 0 && p->name_len >= r->name_len))
                return hearth_err(HEARTH_ERR_TAMPERED, "store records out of order or duplicated");
        }
        if (hearth_cursor_u32(&c, &r->ct_len) != HEARTH_OK) return truncated("record length");
        if (r->ct_len > HEARTH_STORE_VALUE_MAX)
            return hearth_err(HEARTH_ERR_TAMPERED, "record %u claims %u bytes, over the %d limit",
                              i, r->ct_len, HEARTH_STORE_VALUE_MAX);
        if (hearth_cursor_ptr(&c, r->ct_len, &r->ct) != HEARTH_OK) return truncated("record value");
        if (hearth_cursor_ptr(&c, STORE_TAG_LEN, &r->tag) != HEARTH_OK)
            return truncated("record tag");
    }
    out->body_len = c.pos;
    if (hearth_cursor_ptr(&c, STORE_TAG_LEN, &out->trailer_tag) != HEARTH_OK)
        return truncated("trailer tag");
    if (hearth_cursor_remaining(&c) != 0)
        return hearth_err(HEARTH_ERR_TAMPERED, "store file has %zu unexpected trailing bytes",
                          hearth_cursor_remaining(&c));
    return HEARTH_OK;
}

/* ------------------------------------------------------------- decode */

hearth_status store_format_decode(const uint8_t *buf, size_t len,
                                  const uint8_t key[HEARTH_STORE_KEY_LEN], const char *device_id,
                                  store_image *img)
{
    img->count = 0;
    img->generation = 0;
    img->alg = 0;
    store_layout *lay = malloc(sizeof *lay);
    if (lay == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    uint8_t binding[STORE_BINDING_LEN];
    uint8_t ck[STORE_KEYCHECK_LEN];
    uint8_t aead_key[32];
    uint8_t aad[STORE_HEADER_LEN + 5 + HEARTH_STORE_NAME_MAX];
    uint8_t nonce[STORE_NONCE_LEN];
    hearth_status st;

    HEARTH_GUARD_GOTO(st, store_format_parse(buf, len, lay), out);
    HEARTH_GUARD_GOTO(st, device_binding(device_id, binding), out);
    if (!hearth_ct_equal(binding, lay->binding, STORE_BINDING_LEN)) {
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "store is bound to a different device id (copied from another device?)");
        goto out;
    }
    HEARTH_GUARD_GOTO(st, derive(key, lay->salt, INFO_CHECK, lay->alg, binding, ck, sizeof ck), out);
    if (!hearth_ct_equal(ck, lay->key_check, STORE_KEYCHECK_LEN)) {
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "store was sealed under a different storage key (another device or "
                        "root of trust) or its header was modified");
        goto out;
    }
    HEARTH_GUARD_GOTO(st, derive(key, lay->salt, INFO_AEAD, lay->alg, binding, aead_key,
                                 sizeof aead_key), out);
    /* The trailer authenticates every byte before it, so truncation,
     * reordering or removal of whole records is caught before any record is
     * decrypted. */
    uint8_t tag[STORE_TAG_LEN];
    memcpy(tag, lay->trailer_tag, STORE_TAG_LEN);
    make_nonce(nonce, NONCE_DOMAIN_TRAILER, 0);
    st = aead(0, lay->alg, aead_key, nonce, buf, lay->body_len, NULL, 0, NULL, tag);
    if (st == HEARTH_ERR_TAMPERED) {
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "store file failed its integrity check (modified or corrupted)");
        goto out;
    }
    if (st != HEARTH_OK) goto out;

    for (uint32_t i = 0; i < lay->count; i++) {
        const store_layout_record *r = &lay->rec[i];
        store_record *d = &img->rec[i];
        memcpy(d->name, r->name, r->name_len);
        d->name[r->name_len] = '\0';
        d->len = r->ct_len;
        d->val = malloc(r->ct_len > 0 ? r->ct_len : 1);
        if (d->val == NULL) {
            st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
            goto out;
        }
        img->count = i + 1;
        size_t al = record_aad(aad, buf, i, r->name, r->name_len);
        memcpy(tag, r->tag, STORE_TAG_LEN);
        make_nonce(nonce, NONCE_DOMAIN_RECORD, i);
        st = aead(0, lay->alg, aead_key, nonce, aad, al, r->ct, r->ct_len, d->val, tag);
        if (st == HEARTH_ERR_TAMPERED) {
            st = hearth_err(HEARTH_ERR_TAMPERED, "store record %u ('%s') failed authentication",
                            i, d->name);
            goto out;
        }
        if (st != HEARTH_OK) goto out;
    }
    img->generation = lay->generation;
    img->alg = lay->alg;
    st = HEARTH_OK;
out:
    if (st != HEARTH_OK) store_image_clear(img);
    hearth_memzero(aead_key, sizeof aead_key);
    hearth_memzero(ck, sizeof ck);
    free(lay);
    return st;
}

/* ------------------------------------------------------------- encode */

size_t store_format_encoded_size(const store_image *img)
{
    size_t n = STORE_HEADER_LEN + STORE_TAG_LEN;
    for (size_t i = 0; i < img->count; i++)
        n += 1 + strlen(img->rec[i].name) + 4 + img->rec[i].len + STORE_TAG_LEN;
    return n;
}

hearth_status store_format_encode(const store_image *img, const uint8_t key[HEARTH_STORE_KEY_LEN],
                                  const char *device_id, hearth_buf *out)
{
    if (img->count > HEARTH_STORE_RECORDS_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "more than %d records", HEARTH_STORE_RECORDS_MAX);
    if (alg_cipher(img->alg) == NULL)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "unknown AEAD algorithm %u", img->alg);
    size_t total = store_format_encoded_size(img);
    if (total > HEARTH_STORE_FILE_MAX || total > out->max - out->len)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "store would be %zu bytes, over the %d limit",
                          total, HEARTH_STORE_FILE_MAX);

    uint8_t binding[STORE_BINDING_LEN], salt[STORE_SALT_LEN], ck[STORE_KEYCHECK_LEN];
    uint8_t aead_key[32];
    uint8_t aad[STORE_HEADER_LEN + 5 + HEARTH_STORE_NAME_MAX];
    uint8_t nonce[STORE_NONCE_LEN], tag[STORE_TAG_LEN];
    uint8_t *ct = NULL;
    hearth_status st;
    size_t start = out->len;

    HEARTH_GUARD_GOTO(st, device_binding(device_id, binding), fail);
    HEARTH_GUARD_GOTO(st, hearth_random(salt, sizeof salt), fail);
    HEARTH_GUARD_GOTO(st, derive(key, salt, INFO_CHECK, img->alg, binding, ck, sizeof ck), fail);
    HEARTH_GUARD_GOTO(st, derive(key, salt, INFO_AEAD, img->alg, binding, aead_key,
                                 sizeof aead_key), fail);

    HEARTH_GUARD_GOTO(st, hearth_buf_append(out, STORE_MAGIC, STORE_MAGIC_LEN), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_u16(out, STORE_FORMAT_VERSION), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_u16(out, img->alg), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_u16(out, STORE_KDF_HKDF_SHA256), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_u16(out, 0), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_u64(out, img->generation), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_append(out, binding, sizeof binding), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_append(out, salt, sizeof salt), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_append(out, ck, sizeof ck), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_u32(out, (uint32_t)img->count), fail);
    if (out->len - start != STORE_HEADER_LEN) {
        st = hearth_err(HEARTH_ERR_INTERNAL, "header size mismatch");
        goto fail;
    }

    ct = malloc(HEARTH_STORE_VALUE_MAX);
    if (ct == NULL) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < img->count; i++) {
        const store_record *r = &img->rec[i];
        size_t nl = strlen(r->name);
        if (nl == 0 || nl > HEARTH_STORE_NAME_MAX || r->len > HEARTH_STORE_VALUE_MAX) {
            st = hearth_err(HEARTH_ERR_INTERNAL, "invalid record in image");
            goto fail;
        }
        /* The header was appended first, so out->data + start is stable
         * only until the next append may reallocate: build the AAD now. */
        size_t al = record_aad(aad, out->data + start, (uint32_t)i, (const uint8_t *)r->name,
                               (uint8_t)nl);
        make_nonce(nonce, NONCE_DOMAIN_RECORD, i);
        HEARTH_GUARD_GOTO(st, aead(1, img->alg, aead_key, nonce, aad, al, r->val, r->len, ct, tag),
                          fail);
        HEARTH_GUARD_GOTO(st, hearth_buf_u8(out, (uint8_t)nl), fail);
        HEARTH_GUARD_GOTO(st, hearth_buf_append(out, r->name, nl), fail);
        HEARTH_GUARD_GOTO(st, hearth_buf_u32(out, (uint32_t)r->len), fail);
        HEARTH_GUARD_GOTO(st, hearth_buf_append(out, ct, r->len), fail);
        HEARTH_GUARD_GOTO(st, hearth_buf_append(out, tag, sizeof tag), fail);
    }
    make_nonce(nonce, NONCE_DOMAIN_TRAILER, 0);
    HEARTH_GUARD_GOTO(st, aead(1, img->alg, aead_key, nonce, out->data + start, out->len - start,
                               NULL, 0, NULL, tag), fail);
    HEARTH_GUARD_GOTO(st, hearth_buf_append(out, tag, sizeof tag), fail);
    st = HEARTH_OK;
    goto done;
fail:
    out->len = start;
done:
    free(ct); /* ciphertext only: nothing secret to wipe */
    hearth_memzero(aead_key, sizeof aead_key);
    return st;
}
