/**
 * @file store_format.h
 * @brief Internal: encode/verify/decode of the store file (docs/store-format.md).
 *
 * Kept separate from store.c so the parser can be fuzzed and unit-tested
 * from a buffer, without a directory or a root of trust.
 */
#ifndef HEARTH_STORE_FORMAT_H
#define HEARTH_STORE_FORMAT_H

#include "hearth/store.h"
#include "hearth/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STORE_MAGIC "HEARTHST"     /**< 8 bytes, no NUL */
#define STORE_MAGIC_LEN 8
#define STORE_FORMAT_VERSION 1
#define STORE_ALG_AES256GCM 1      /**< AES-256-GCM, 12-byte nonce, 16-byte tag */
#define STORE_ALG_CHACHA20POLY1305 2 /**< ChaCha20-Poly1305 (RFC 8439) */
#define STORE_ALG_DEFAULT STORE_ALG_AES256GCM
#define STORE_KDF_HKDF_SHA256 1
#define STORE_HEADER_LEN 108       /**< fixed header, see docs/store-format.md */
#define STORE_TAG_LEN 16
#define STORE_SALT_LEN 32
#define STORE_BINDING_LEN 32
#define STORE_KEYCHECK_LEN 16
#define STORE_FILE_NAME "store.hst"
/** Smallest valid file: header + trailer tag, zero records. */
#define STORE_MIN_FILE_LEN (STORE_HEADER_LEN + STORE_TAG_LEN)

/** One record of a decoded (plaintext) store image. */
typedef struct {
    char name[HEARTH_STORE_NAME_MAX + 1];
    uint8_t *val; /**< malloc'd, wiped on free; NULL when len == 0 is allowed */
    size_t len;
} store_record;

/** A plaintext store: records sorted strictly by name (memcmp order). */
typedef struct {
    uint64_t generation;
    uint16_t alg;
    size_t count;
    store_record rec[HEARTH_STORE_RECORDS_MAX];
} store_image;

/** Structural view of one record in an encoded file (pointers into it). */
typedef struct {
    const uint8_t *name;
    uint8_t name_len;
    const uint8_t *ct;
    uint32_t ct_len;
    const uint8_t *tag;
} store_layout_record;

/** Structural view of an encoded file; nothing authenticated yet. */
typedef struct {
    uint16_t version;
    uint16_t alg;
    uint16_t kdf;
    uint64_t generation;
    const uint8_t *binding;
    const uint8_t *salt;
    const uint8_t *key_check;
    uint32_t count;
    store_layout_record rec[HEARTH_STORE_RECORDS_MAX];
    const uint8_t *trailer_tag;
    size_t body_len; /**< bytes covered by the trailer tag */
} store_layout;

/**
 * Check a record name: 1..HEARTH_STORE_NAME_MAX bytes, no control bytes.
 * @return HEARTH_ERR_INVALID / HEARTH_ERR_TOO_LARGE with a reason.
 */
hearth_status store_name_check(const char *name) HEARTH_MUST_CHECK;

/**
 * Parse the structure of an encoded store through a bounded cursor: magic,
 * version, algorithm, lengths, name order, exact file length. Authenticates
 * nothing. Failures: HEARTH_ERR_TAMPERED, or HEARTH_ERR_UNSUPPORTED for an
 * unknown version/algorithm.
 */
hearth_status store_format_parse(const uint8_t *buf, size_t len,
                                 store_layout *out) HEARTH_MUST_CHECK;

/**
 * Fully verify and decrypt an encoded store into @p img (which the caller
 * releases with store_image_clear()). Checks, in order: structure, device-id
 * binding, key check value, trailer tag over the whole file, each record's
 * tag. On failure @p img is left empty.
 */
hearth_status store_format_decode(const uint8_t *buf, size_t len,
                                  const uint8_t key[HEARTH_STORE_KEY_LEN],
                                  const char *device_id, store_image *img) HEARTH_MUST_CHECK;

/**
 * Encode @p img (records sorted, names valid) with a fresh random commit salt
 * into @p out (initialised by the caller with max HEARTH_STORE_FILE_MAX).
 */
hearth_status store_format_encode(const store_image *img,
                                  const uint8_t key[HEARTH_STORE_KEY_LEN],
                                  const char *device_id, hearth_buf *out) HEARTH_MUST_CHECK;

/** Exact encoded size of @p img, for limit checks before any work. */
size_t store_format_encoded_size(const store_image *img);

/** Wipe and free every record value; leaves an empty image. */
void store_image_clear(store_image *img);

#ifdef __cplusplus
}
#endif
#endif
