/* Internal pieces of the bundle module shared between its files and the
 * unit tests / fuzz harnesses (which include this header from src/). */
#ifndef HEARTH_BUNDLE_INTERNAL_H
#define HEARTH_BUNDLE_INTERNAL_H

#include <openssl/evp.h>

#include "hearth/bundle.h"

/* Magic values: 8-byte file magics, 4-byte body magics. */
#define HB_BUNDLE_MAGIC "HRTHBNDL"
#define HB_MANIFEST_MAGIC "HRTM"
#define HB_KEYSET_MAGIC "HRTHKSET"
#define HB_KEYSET_BODY_MAGIC "HRTK"
#define HB_KEYSET_FORMAT_VERSION 1u
#define HB_KEYSET_HEADER_SIZE 20u

/* Domain-separation prefixes of the signed messages: a key-set signature can
 * never be replayed as a manifest signature or vice versa. The NUL is part of
 * the prefix. */
#define HB_CTX_MANIFEST "hearth manifest v1"
#define HB_CTX_KEYSET "hearth key set v1"

/* Manifest TLV tags (docs/update-format.md). */
enum {
    HB_TAG_MODEL = 0x0001,
    HB_TAG_HW_ID = 0x0002,
    HB_TAG_SW_VERSION = 0x0003,
    HB_TAG_SECURITY_VERSION = 0x0004,
    HB_TAG_CREATED = 0x0005,
    HB_TAG_EXPIRES = 0x0006,
    HB_TAG_NOTES = 0x0007,
    HB_TAG_MITIGATES = 0x0008,
    HB_TAG_DISRUPTION = 0x0009,
    HB_TAG_SBOM = 0x000A, /* optional: CycloneDX JSON of the release (docs/sbom.md) */
    HB_TAG_PAYLOAD = 0x0010,
    HB_TAG_CRITICAL = 0x8000
};
/* Key-set body tags. */
enum {
    HB_KTAG_VERSION = 0x0001,
    HB_KTAG_CREATED = 0x0002,
    HB_KTAG_EXPIRES = 0x0003,
    HB_KTAG_KEY = 0x0010
};

struct hearth_key {
    EVP_PKEY *pkey;
    hearth_sig_alg alg;
    bool priv;
    uint8_t id[HEARTH_KEY_ID_LEN];
};

/* One parsed signature of a signature block. */
typedef struct {
    uint8_t alg;
    uint8_t key_id[HEARTH_KEY_ID_LEN];
    uint16_t len;
    uint8_t sig[HEARTH_SIG_MAX];
} hb_sig;

typedef struct {
    size_t count;
    hb_sig sigs[HEARTH_SIGS_MAX];
} hb_sigblock;

/* Signature block: u8 count, then per signature u8 alg, key_id[32],
 * u16 len, sig[len]. No trailing bytes, no duplicate key ids. */
hearth_status hb_sigblock_parse(const uint8_t *data, size_t len, hb_sigblock *out) HEARTH_MUST_CHECK;
hearth_status hb_sigblock_encode(const hb_sigblock *sb, hearth_buf *out) HEARTH_MUST_CHECK;
/* Sign ctx||NUL||msg with @p key and put the result into @p sb, replacing a
 * signature by the same key id. */
hearth_status hb_sigblock_add(hb_sigblock *sb, const hearth_key *key, const char *ctx,
                              const uint8_t *msg, size_t len) HEARTH_MUST_CHECK;
/* Verify one signature over ctx||NUL||msg. */
hearth_status hb_sig_verify(const hearth_key *key, const hb_sig *sig, const char *ctx,
                            const uint8_t *msg, size_t len) HEARTH_MUST_CHECK;

/* Verify a manifest's signature block against a verified key set.
 * OK: @p signer receives the key id of the active key that verified. */
hearth_status hb_verify_manifest_sig(const hearth_keyset *ks, const uint8_t *manifest,
                                     size_t mlen, const hb_sigblock *sb,
                                     uint8_t signer[HEARTH_KEY_ID_LEN]) HEARTH_MUST_CHECK;

/* The bundle header, parsed. */
typedef struct {
    uint16_t format_version;
    uint32_t manifest_len;
    uint32_t sigblock_len;
    uint64_t payload_total;
} hb_header;
hearth_status hb_header_parse(const uint8_t *buf, size_t len, hb_header *out) HEARTH_MUST_CHECK;
void hb_header_encode(const hb_header *h, uint8_t out[HEARTH_BUNDLE_HEADER_SIZE]);

/* A TLV body, as shared by the manifest and the key-set body: a 4-byte
 * magic, a u16 format version, then fields (u16 tag, u32 length, value) in
 * canonical order -- tags strictly increasing, except @p repeatable which may
 * repeat back to back. Tag 0 is reserved. */
typedef struct {
    const char *magic;   /* 4 bytes */
    uint16_t version;    /* the only format version this build reads */
    uint16_t repeatable; /* the one tag that may repeat */
    const char *what;    /* name in messages: "manifest", "key set body" */
} hb_tlv_body;
/* Handle one field: consume @p value for a known @p tag; for an unknown tag
 * set *known = false and do nothing else. */
typedef hearth_status (*hb_tlv_field_fn)(void *ctx, uint16_t tag, hearth_cursor *value,
                                         bool *known);
/* Check the magic and version and hand every field to @p field. Unknown tags
 * with HB_TAG_CRITICAL set are HEARTH_ERR_UNSUPPORTED, other unknown tags are
 * skipped. *@p seen receives the mask (1u << tag) of the known tags below 32
 * that were present, for the caller's check of required fields. */
hearth_status hb_tlv_parse(const uint8_t *data, size_t len, const hb_tlv_body *body,
                           hb_tlv_field_fn field, void *ctx, uint32_t *seen) HEARTH_MUST_CHECK;
hearth_status hb_tlv_put(hearth_buf *b, uint16_t tag, const void *v, size_t n) HEARTH_MUST_CHECK;
hearth_status hb_tlv_put_u64(hearth_buf *b, uint16_t tag, uint64_t v) HEARTH_MUST_CHECK;

/* Key duplication (up-ref), used by trust anchors and key sets. */
hearth_status hb_key_dup(const hearth_key *k, hearth_key **out) HEARTH_MUST_CHECK;
/* Root key of a trust anchor by id, or NULL. */
const hearth_key *hb_trust_root(const hearth_trust *t, const uint8_t id[HEARTH_KEY_ID_LEN]);

/* Key-set lookup. NULL if no entry has that id. */
const hearth_keyset_entry *hb_keyset_find(const hearth_keyset *ks,
                                          const uint8_t id[HEARTH_KEY_ID_LEN],
                                          const hearth_key **key);

/* Short hex prefix of a key id for messages ("3fa1c2d4e5f60718"). */
void hb_key_id_short(const uint8_t id[HEARTH_KEY_ID_LEN], char out[17]);

/* Payload-area layout for the parallel verifier: one fd and base offset per
 * payload (bundle file: same fd, absolute offsets; slot: one file each). */
hearth_status hb_verify_chunks(const hearth_manifest *m, const int *fds, const uint64_t *base,
                               unsigned threads, hearth_progress_fn progress,
                               void *arg) HEARTH_MUST_CHECK;

/* A chunk digest of @p n bytes, SHA-256 via EVP. */
hearth_status hb_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const void *data, size_t n,
                        uint8_t out[HEARTH_DIGEST_LEN]) HEARTH_MUST_CHECK;

#endif
