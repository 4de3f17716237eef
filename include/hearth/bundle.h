/**
 * @file bundle.h
 * @brief Signed software-update bundles, signing keys, the root-signed key set
 *        and verified A/B slot directories (EN 303 645 5.3-7, 5.3-9, 5.3-10,
 *        5.3-11, 5.3-12, 5.5-3, 5.7-1).
 *
 * Trust chain (docs/signing-keys.md):
 *
 *     trust anchor (root public keys + threshold, read-only, outside the slots)
 *       └─ signs ─> key set (version, expiry, update-signing keys active/revoked)
 *                     └─ an active key signs ─> bundle manifest
 *                                                 └─ per-chunk SHA-256 ─> payload bytes
 *
 * A bundle is one file (docs/update-format.md, byte-exact):
 *
 *     [64-byte header][signed manifest][signature block][payload 0][payload 1]...
 *
 * The manifest carries every field a device decides on (model, hardware id,
 * software version, monotonic security version, expiry, release notes with
 * the risks mitigated, disruption flag + downtime) and, for every payload, its
 * name, size, chunk size, digest algorithm and the digest of every chunk.
 * Algorithms are named by id in the data (5.5-3): signatures Ed25519 (default)
 * or ECDSA P-256/SHA-256, digests SHA-256, all through OpenSSL 3 EVP.
 *
 * Order of checks when a bundle is opened (MCUboot style: nothing is trusted
 * before it is checked): header magic/version/lengths bounded -> signature
 * block parsed (bounded) -> signature over the raw manifest bytes verified
 * with an active key of a verified key set -> manifest parsed by the one
 * bounded parser -> file size cross-checked. Policy (model, hardware id,
 * rollback/replay, expiry) is a separate call so the CLI can show a
 * manifest's fields even when policy would reject it. Payload bytes are
 * checked chunk by chunk: streaming (hearth_stream_*), whole-file in parallel
 * (hearth_bundle_verify_payloads), while installing
 * (hearth_bundle_extract_verified) and at boot (hearth_slot_verify_dir).
 *
 * Status codes used consistently by every function here:
 *  - HEARTH_ERR_INVALID      malformed input (bad magic, bad lengths, bad field)
 *  - HEARTH_ERR_TOO_LARGE    a documented limit exceeded (incl. endless data)
 *  - HEARTH_ERR_UNSUPPORTED  unknown format version / algorithm / critical field
 *  - HEARTH_ERR_TAMPERED     signature missing/invalid/unknown key, digest
 *                            mismatch, size mismatch, mix-and-match
 *  - HEARTH_ERR_REVOKED      only signed by key(s) the key set marks revoked
 *  - HEARTH_ERR_ROLLBACK     security version (or key-set version) too old
 *  - HEARTH_ERR_EXISTS       replay: same security and software version as installed
 *  - HEARTH_ERR_EXPIRED      manifest or key set past its expiry time
 *  - HEARTH_ERR_POLICY       model or hardware id does not match this device
 *  - HEARTH_ERR_STATE        API misuse (e.g. unverified key set used to verify)
 * hearth_err_msg() then holds a message a release engineer can act on, e.g.
 * "payload 'rootfs' is 12 bytes longer than its manifest entry".
 *
 * Thread safety: objects are immutable after creation and may be shared by
 * threads for reading; a stream verifier belongs to one thread at a time.
 */
#ifndef HEARTH_BUNDLE_H
#define HEARTH_BUNDLE_H

#include "hearth/common.h"
#include "hearth/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- limits */

#define HEARTH_BUNDLE_FORMAT_VERSION 1u          /**< bundle header + manifest format */
#define HEARTH_BUNDLE_HEADER_SIZE 64u            /**< fixed header size */
#define HEARTH_BUNDLE_MANIFEST_MAX (1024u * 1024u) /**< max signed manifest bytes */
#define HEARTH_SIGBLOCK_MAX 4096u                /**< max signature block bytes */
#define HEARTH_SIGS_MAX 8u                       /**< max signatures in a block */
#define HEARTH_SIG_MAX 128u                      /**< max bytes of one signature */
#define HEARTH_BUNDLE_PAYLOADS_MAX 16u           /**< max payloads per bundle */
#define HEARTH_BUNDLE_PAYLOAD_MAX (1024ull * 1024u * 1024u) /**< max payload size (1 GiB) */
#define HEARTH_BUNDLE_CHUNK_DEFAULT (1024u * 1024u) /**< default chunk size (1 MiB) */
#define HEARTH_BUNDLE_CHUNK_MIN (4u * 1024u)     /**< min chunk size (power of two) */
#define HEARTH_BUNDLE_CHUNK_MAX (16u * 1024u * 1024u) /**< max chunk size (power of two) */
#define HEARTH_BUNDLE_ID_MAX 64u      /**< max model / hw id / sw version / payload name bytes */
#define HEARTH_BUNDLE_NOTES_MAX (16u * 1024u)    /**< max release-notes bytes */
#define HEARTH_BUNDLE_MITIGATES_MAX (4u * 1024u) /**< max "risks mitigated" bytes */
#define HEARTH_BUNDLE_SBOM_MAX (256u * 1024u)    /**< max SBOM bytes (optional field 0x000A) */
#define HEARTH_DIGEST_LEN 32u                    /**< SHA-256 digest length */
#define HEARTH_KEY_ID_LEN 32u                    /**< key id = SHA-256(SubjectPublicKeyInfo DER) */
#define HEARTH_SPKI_MAX 128u                     /**< max SubjectPublicKeyInfo DER bytes */
#define HEARTH_KEYSET_MAX (64u * 1024u)          /**< max key-set file bytes */
#define HEARTH_KEYSET_KEYS_MAX 32u               /**< max keys in a key set */
#define HEARTH_TRUST_ROOTS_MAX 8u                /**< max root keys in a trust anchor */

/** Files of an installed slot directory (written by hearth_bundle_extract_verified()). */
#define HEARTH_SLOT_MANIFEST "manifest.bin"      /**< the signed manifest bytes */
#define HEARTH_SLOT_SIGNATURE "manifest.sig"     /**< the signature block bytes */
#define HEARTH_SLOT_PAYLOAD_DIR "payload"        /**< payload files: payload/<name> */

/** Signature algorithm ids as stored in signature blocks and key sets (5.5-3). */
typedef enum {
    HEARTH_SIG_ED25519 = 1,         /**< Ed25519 (RFC 8032), pure, one-shot EVP */
    HEARTH_SIG_ECDSA_P256_SHA256 = 2 /**< ECDSA on P-256 over SHA-256, DER signature */
} hearth_sig_alg;

/** Digest algorithm ids as stored in manifests (5.5-3). */
typedef enum {
    HEARTH_DIGEST_SHA256 = 1 /**< SHA-256 through EVP (SHA-NI accelerated where present) */
} hearth_digest_alg;

/** Progress callback: @p done of @p total bytes processed. May be called from
 *  worker threads, but never concurrently (serialised internally). */
typedef void (*hearth_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* ---------------------------------------------------------------- keys */

/** A public or private signing key (wraps an OpenSSL EVP_PKEY). */
typedef struct hearth_key hearth_key;

/** Generate a fresh key pair of algorithm @p alg. */
hearth_status hearth_key_generate(hearth_sig_alg alg, hearth_key **out) HEARTH_MUST_CHECK;
/**
 * Write the private key as encrypted PKCS#8 PEM (PBES2, AES-256-CBC, OpenSSL
 * 3 default KDF) to @p path, mode 0600, created with O_EXCL: an existing file
 * is never overwritten (HEARTH_ERR_EXISTS).
 * @param[in] pass     passphrase (at least 8 bytes)
 * @param[in] passlen  its length
 */
hearth_status hearth_key_write_private(const hearth_key *key, const char *path,
                                       const char *pass, size_t passlen) HEARTH_MUST_CHECK;
/** Write the public key as SubjectPublicKeyInfo PEM, mode 0644, O_EXCL. */
hearth_status hearth_key_write_public(const hearth_key *key, const char *path) HEARTH_MUST_CHECK;
/** Load an encrypted PKCS#8 PEM private key; a wrong passphrase gives HEARTH_ERR_AUTH. */
hearth_status hearth_key_load_private(const char *path, const char *pass, size_t passlen,
                                      hearth_key **out) HEARTH_MUST_CHECK;
/** Load a public key (SubjectPublicKeyInfo PEM). Only Ed25519 / P-256 accepted. */
hearth_status hearth_key_load_public(const char *path, hearth_key **out) HEARTH_MUST_CHECK;
/** Parse a public key from SubjectPublicKeyInfo DER (bounded by HEARTH_SPKI_MAX). */
hearth_status hearth_key_from_spki(const uint8_t *der, size_t len,
                                   hearth_key **out) HEARTH_MUST_CHECK;
/** The key's SubjectPublicKeyInfo DER; @p cap >= HEARTH_SPKI_MAX is always enough. */
hearth_status hearth_key_spki(const hearth_key *key, uint8_t *der, size_t cap,
                              size_t *len) HEARTH_MUST_CHECK;
/** Algorithm of a key. */
hearth_sig_alg hearth_key_alg(const hearth_key *key);
/** Key id: SHA-256 of the SubjectPublicKeyInfo DER (computed when the key is made). */
const uint8_t *hearth_key_id(const hearth_key *key);
/** True if the key holds private material (can sign). */
bool hearth_key_is_private(const hearth_key *key);
/**
 * Sign @p msg. Ed25519: one-shot EVP_DigestSign (no pre-hash); P-256:
 * EVP_DigestSign with SHA-256, DER-encoded signature.
 */
hearth_status hearth_key_sign(const hearth_key *key, const uint8_t *msg, size_t len,
                              uint8_t *sig, size_t cap, size_t *siglen) HEARTH_MUST_CHECK;
/** Verify a signature; HEARTH_ERR_TAMPERED if it does not verify. */
hearth_status hearth_key_verify(const hearth_key *key, const uint8_t *msg, size_t len,
                                const uint8_t *sig, size_t siglen) HEARTH_MUST_CHECK;
/** Free a key (private material is wiped by OpenSSL). NULL is ignored. */
void hearth_key_free(hearth_key *key);
/** hearth_key_free() each of @p n keys (NULL entries are ignored). */
void hearth_keys_free(hearth_key *const *keys, size_t n);
/**
 * Read a key passphrase for the tools: from @p pass_file if non-NULL (first
 * line, trailing newline stripped; the file should be mode 0600), else from
 * the environment variable HEARTH_KEY_PASS. Never from the command line,
 * where other local users could read it in /proc. HEARTH_ERR_NOT_FOUND if
 * neither is set. Wipe @p buf with hearth_memzero() after use.
 */
hearth_status hearth_key_passphrase(const char *pass_file, char *buf, size_t cap,
                                    size_t *len) HEARTH_MUST_CHECK;
/** Name of an algorithm id ("ed25519", "ecdsa-p256-sha256") or "unknown". */
const char *hearth_sig_alg_name(int alg);

/* -------------------------------------------------------- trust anchor */

/** Root public keys and the number of distinct root signatures required. */
typedef struct hearth_trust hearth_trust;

/**
 * Load a trust anchor directory: every `*.pub` file is a root public key
 * (PEM); an optional file `threshold` holds the number of distinct root
 * signatures a key set needs (at most the number of roots). The directory
 * is read-only on the device, outside the A/B slots and the device state;
 * it is never written by this library.
 *
 * Refused (HEARTH_ERR_TAMPERED, message naming the path): the directory or a
 * file read from it is a symbolic link or of the wrong type, is owned by
 * another user than root or the effective user, or is writable by its group
 * or others; a `threshold` below hearth_trust_min_threshold() (the build's
 * minimum): the anchor can raise the threshold, never lower it. Without a
 * `threshold` file the build's minimum applies.
 */
hearth_status hearth_trust_load_dir(const char *dir, hearth_trust **out) HEARTH_MUST_CHECK;
/**
 * hearth_trust_load_dir() requiring at least @p min_threshold root
 * signatures; a @p min_threshold below the build's minimum is raised to it.
 */
hearth_status hearth_trust_load_dir_min(const char *dir, unsigned min_threshold,
                                        hearth_trust **out) HEARTH_MUST_CHECK;
/** The key set file hearth-boot and `hearth slot install` read from the
 *  trust anchor directory when no other is named. */
#define HEARTH_TRUST_KEYSET_FILE "keyset"
/** The trust anchor used when none is given (build option HEARTH_TRUST_DIR,
 *  default <sysconfdir>/hearth/trust): outside the writable device state. */
const char *hearth_trust_default_dir(void);
/** Root signatures every key set needs at least (build option
 *  HEARTH_TRUST_MIN_THRESHOLD, default 1). */
unsigned hearth_trust_min_threshold(void);
/** Build a trust anchor from keys already loaded (copies references). */
hearth_status hearth_trust_from_keys(const hearth_key *const *roots, size_t n,
                                     unsigned threshold, hearth_trust **out) HEARTH_MUST_CHECK;
/** Number of root keys. */
size_t hearth_trust_count(const hearth_trust *t);
/** Required number of distinct root signatures. */
unsigned hearth_trust_threshold(const hearth_trust *t);
/** Free a trust anchor. NULL is ignored. */
void hearth_trust_free(hearth_trust *t);

/* ------------------------------------------------------------- key set */

/** Status of an update-signing key in a key set. */
typedef enum {
    HEARTH_KEY_ACTIVE = 1,  /**< may sign manifests */
    HEARTH_KEY_REVOKED = 2  /**< must not be accepted any more */
} hearth_key_status;

/** One entry of a key set, as parsed. */
typedef struct {
    uint8_t key_id[HEARTH_KEY_ID_LEN]; /**< SHA-256 of @ref spki */
    hearth_sig_alg alg;                /**< algorithm of the key */
    hearth_key_status status;          /**< active or revoked */
    uint8_t spki[HEARTH_SPKI_MAX];     /**< SubjectPublicKeyInfo DER */
    size_t spki_len;                   /**< its length */
} hearth_keyset_entry;

/** A parsed (and, if a trust anchor was given, verified) key set. */
typedef struct hearth_keyset hearth_keyset;

/**
 * Parse a key set file image and verify it.
 * With @p trust non-NULL: at least hearth_trust_threshold() distinct root keys
 * must have signed it (else HEARTH_ERR_TAMPERED), its version must be >=
 * @p min_version (else HEARTH_ERR_ROLLBACK; the device persists the highest
 * version it has accepted and passes it here) and it must not be expired at
 * @p now (HEARTH_ERR_EXPIRED; @p now 0 means the current time).
 * With @p trust NULL the file is only parsed (for `hearth keyset inspect` and
 * fuzzing); such a key set is marked unverified and bundle verification
 * refuses it (HEARTH_ERR_STATE).
 */
hearth_status hearth_keyset_parse(const uint8_t *data, size_t len, const hearth_trust *trust,
                                  uint64_t min_version, int64_t now,
                                  hearth_keyset **out) HEARTH_MUST_CHECK;
/** Read @p path (at most HEARTH_KEYSET_MAX bytes) and hearth_keyset_parse() it. */
hearth_status hearth_keyset_load(const char *path, const hearth_trust *trust,
                                 uint64_t min_version, int64_t now,
                                 hearth_keyset **out) HEARTH_MUST_CHECK;
/**
 * Build and sign a key set file image.
 * @param[in] version   monotonic key-set version (>= 1)
 * @param[in] expires   expiry, epoch seconds
 * @param[in] keys      update-signing public keys
 * @param[in] status    status of each key (same length as @p keys)
 * @param[in] nkeys     number of keys (1..HEARTH_KEYSET_KEYS_MAX)
 * @param[in] roots     private root keys to sign with (distinct, 1..HEARTH_SIGS_MAX)
 * @param[in] nroots    number of root keys
 * @param[out] out      receives the file image (caller hearth_buf_free()s it)
 */
hearth_status hearth_keyset_create(uint64_t version, int64_t expires,
                                   const hearth_key *const *keys,
                                   const hearth_key_status *status, size_t nkeys,
                                   const hearth_key *const *roots, size_t nroots,
                                   hearth_buf *out) HEARTH_MUST_CHECK;
/**
 * Add signatures by further root keys to an existing key set file image
 * (threshold signing by separate key holders: each runs `hearth keyset sign`).
 * The body is unchanged; a signature by the same root is replaced.
 * @param[out] out  the new file image (caller hearth_buf_free()s it)
 */
hearth_status hearth_keyset_sign(const uint8_t *data, size_t len,
                                 const hearth_key *const *roots, size_t nroots,
                                 hearth_buf *out) HEARTH_MUST_CHECK;
/** Key-set version. */
uint64_t hearth_keyset_version(const hearth_keyset *ks);
/** Creation time (epoch seconds). */
int64_t hearth_keyset_created(const hearth_keyset *ks);
/** Expiry time (epoch seconds). */
int64_t hearth_keyset_expires(const hearth_keyset *ks);
/** True if the key set's root signatures were verified against a trust anchor. */
bool hearth_keyset_verified(const hearth_keyset *ks);
/** Number of keys. */
size_t hearth_keyset_count(const hearth_keyset *ks);
/** Entry @p i (< hearth_keyset_count()), or NULL. */
const hearth_keyset_entry *hearth_keyset_entry_at(const hearth_keyset *ks, size_t i);
/** Number of signatures in the key set's signature block. */
size_t hearth_keyset_sig_count(const hearth_keyset *ks);
/** Key id of signature @p i of the key set's signature block, or NULL. */
const uint8_t *hearth_keyset_sig_key_id(const hearth_keyset *ks, size_t i);
/** Free a key set. NULL is ignored. */
void hearth_keyset_free(hearth_keyset *ks);

/* ------------------------------------------------------------ manifest */

/** One payload entry of a manifest. */
typedef struct {
    char name[HEARTH_BUNDLE_ID_MAX + 1]; /**< [A-Za-z0-9._-], no leading '.', NUL-terminated */
    uint64_t size;                       /**< exact byte length (<= HEARTH_BUNDLE_PAYLOAD_MAX) */
    uint32_t chunk_size;                 /**< power of two in [CHUNK_MIN, CHUNK_MAX] */
    hearth_digest_alg digest_alg;        /**< digest of every chunk */
    uint32_t chunk_count;                /**< ceil(size / chunk_size) */
    const uint8_t *chunk_digests;        /**< chunk_count * HEARTH_DIGEST_LEN bytes (in the manifest) */
    uint64_t offset;                     /**< byte offset of the payload in the bundle file */
} hearth_payload_info;

/** All fields of a parsed manifest. Strings are NUL-terminated and free of
 *  control characters (notes/mitigates may contain '\n' and '\t'). */
typedef struct {
    uint16_t format_version;             /**< HEARTH_BUNDLE_FORMAT_VERSION */
    char model[HEARTH_BUNDLE_ID_MAX + 1];      /**< product model */
    char hw_id[HEARTH_BUNDLE_ID_MAX + 1];      /**< hardware-compatibility id */
    char sw_version[HEARTH_BUNDLE_ID_MAX + 1]; /**< human software version, e.g. "1.4.2" */
    uint64_t security_version;           /**< monotonic anti-rollback counter */
    int64_t created;                     /**< creation time, epoch seconds (informational) */
    int64_t expires;                     /**< not installable after this (freeze attacks) */
    char *notes;                         /**< release notes (5.3-11) */
    char *mitigates;                     /**< risks the update mitigates (5.3-11) */
    bool disruptive;                     /**< installing disrupts basic functioning (5.3-12) */
    uint32_t downtime_s;                 /**< expected downtime in seconds (5.3-12) */
    char *sbom;                          /**< CycloneDX JSON of the release (5.2-3), NULL if the
                                              bundle has none (optional field; docs/sbom.md) */
    size_t sbom_len;                     /**< its length */
    size_t payload_count;                /**< 1..HEARTH_BUNDLE_PAYLOADS_MAX */
    hearth_payload_info payloads[HEARTH_BUNDLE_PAYLOADS_MAX]; /**< payload entries */
    uint64_t payload_total;              /**< sum of payload sizes */
    uint8_t *raw;                        /**< the manifest bytes (owned) */
    size_t raw_len;                      /**< their length */
} hearth_manifest;

/**
 * The one bounded manifest parser (fuzzed): checks magic, version, tag
 * order, every length against its limit before use, chunk counts against
 * sizes, payload names. Makes an owned copy of @p data. Payload offsets are
 * relative to the start of the payload area (the bundle adds its prefix).
 * Does NOT check any signature: use hearth_bundle_open() for trust.
 */
hearth_status hearth_manifest_parse(const uint8_t *data, size_t len,
                                    hearth_manifest **out) HEARTH_MUST_CHECK;
/** Free a manifest. NULL is ignored. */
void hearth_manifest_free(hearth_manifest *m);

/* -------------------------------------------------------------- policy */

/** What the device requires of a bundle (zero-initialise, then set fields). */
typedef struct {
    const char *model;               /**< required model; NULL = not checked (CLI only) */
    const char *hw_id;               /**< required hardware id; NULL = not checked */
    uint64_t installed_security_version; /**< lower -> HEARTH_ERR_ROLLBACK */
    /** Installed software version; if non-NULL, an equal security version with
     *  this same software version is a replay -> HEARTH_ERR_EXISTS. An equal
     *  security version with a different software version is allowed (a
     *  functional update that fixes no vulnerability). */
    const char *installed_sw_version;
    int64_t now;                     /**< epoch seconds; 0 = current time */
    /** Skip the expiry check. Only for booting an already-installed slot:
     *  expiry guards installation (freeze attacks), it must not brick a device
     *  whose clock moved on. */
    bool ignore_expiry;
} hearth_bundle_policy;

/**
 * Apply @p policy to a manifest. Checks in this order: model
 * (HEARTH_ERR_POLICY), hw id (HEARTH_ERR_POLICY), expiry (HEARTH_ERR_EXPIRED),
 * security version (HEARTH_ERR_ROLLBACK), replay (HEARTH_ERR_EXISTS).
 */
hearth_status hearth_manifest_check_policy(const hearth_manifest *m,
                                           const hearth_bundle_policy *policy) HEARTH_MUST_CHECK;

/* -------------------------------------------------------------- bundle */

/** An opened bundle: header, verified manifest, signature block. */
typedef struct hearth_bundle hearth_bundle;

/**
 * From the first @p len (>= HEARTH_BUNDLE_HEADER_SIZE) bytes of a bundle,
 * compute the prefix length (header + manifest + signature block) that
 * hearth_bundle_open_buffer() needs, and the total bundle size. Checks magic,
 * version and bounds only. Used by the updater to know how much to fetch first.
 */
hearth_status hearth_bundle_prefix_len(const uint8_t *buf, size_t len, size_t *prefix_len,
                                       uint64_t *total_len) HEARTH_MUST_CHECK;
/**
 * Open a bundle from its prefix bytes (header + manifest + signature block;
 * extra bytes after the prefix are ignored) and verify the manifest signature
 * against the verified key set @p ks. Returns HEARTH_ERR_TAMPERED when
 * unsigned / unknown key / bad signature, HEARTH_ERR_REVOKED when the only
 * keys that signed are revoked. Payloads are verified later by a stream.
 */
hearth_status hearth_bundle_open_buffer(const uint8_t *prefix, size_t len,
                                        const hearth_keyset *ks,
                                        hearth_bundle **out) HEARTH_MUST_CHECK;
/**
 * Open a bundle file and verify header + manifest signature (payloads are not
 * read). Also checks the file size equals prefix + sum of payload sizes
 * (HEARTH_ERR_TAMPERED with the difference in the message). The file stays
 * open for hearth_bundle_verify_payloads() / hearth_bundle_extract_verified().
 */
hearth_status hearth_bundle_open(const char *path, const hearth_keyset *ks,
                                 hearth_bundle **out) HEARTH_MUST_CHECK;
/**
 * Open a bundle file WITHOUT any signature check (for `bundle inspect` and
 * `bundle sign`). hearth_bundle_verified() is false; extract refuses it.
 */
hearth_status hearth_bundle_open_unverified(const char *path,
                                            hearth_bundle **out) HEARTH_MUST_CHECK;
/** The parsed manifest (payload offsets are absolute file offsets). */
const hearth_manifest *hearth_bundle_manifest(const hearth_bundle *b);
/** True if the manifest signature was verified against a key set. */
bool hearth_bundle_verified(const hearth_bundle *b);
/** Key id of the active key whose signature verified, or NULL if unverified. */
const uint8_t *hearth_bundle_signer(const hearth_bundle *b);
/** Number of signatures in the signature block. */
size_t hearth_bundle_sig_count(const hearth_bundle *b);
/**
 * The release identity: SHA-256 of the signed manifest bytes. The signature
 * block is NOT part of it: two files with the same manifest and different
 * signature entries (more signers, a key this device does not know, an
 * algorithm id this build does not know) are the same release, and the
 * rollback/replay policy, which reads only signed manifest fields, treats
 * them alike (docs/update-format.md, "Release identity").
 */
hearth_status hearth_bundle_release_id(const hearth_bundle *b,
                                       uint8_t id[HEARTH_DIGEST_LEN]) HEARTH_MUST_CHECK;
/** Algorithm and key id of signature @p i; HEARTH_ERR_RANGE if out of range. */
hearth_status hearth_bundle_sig_info(const hearth_bundle *b, size_t i, int *alg,
                                     const uint8_t **key_id) HEARTH_MUST_CHECK;
/** Prefix length (header + manifest + signature block) = offset of payload 0. */
size_t hearth_bundle_prefix_size(const hearth_bundle *b);
/**
 * The verified prefix bytes (header + manifest + signature block,
 * hearth_bundle_prefix_size() of them; owned by @p b): what a streaming
 * installer writes into a slot as HEARTH_SLOT_MANIFEST and
 * HEARTH_SLOT_SIGNATURE, and feeds a new stream verifier to resume.
 */
const uint8_t *hearth_bundle_prefix(const hearth_bundle *b);
/** Total bundle size = prefix + all payloads. */
uint64_t hearth_bundle_total_size(const hearth_bundle *b);
/** Shortcut for hearth_manifest_check_policy(hearth_bundle_manifest(b), p). */
hearth_status hearth_bundle_check_policy(const hearth_bundle *b,
                                         const hearth_bundle_policy *p) HEARTH_MUST_CHECK;
/**
 * Verify every chunk of every payload of an opened bundle file with @p threads
 * worker threads (1..64; 0 = number of online CPUs). Each thread preads whole
 * chunks through one 1 MiB buffer, so memory is threads x 1 MiB whatever the
 * image size. HEARTH_ERR_TAMPERED names the payload and the first bad chunk.
 */
hearth_status hearth_bundle_verify_payloads(const hearth_bundle *b, unsigned threads,
                                            hearth_progress_fn progress,
                                            void *arg) HEARTH_MUST_CHECK;
/**
 * Install a VERIFIED bundle into @p slot_dir (created 0755 if missing):
 * each payload is copied to `slot_dir/payload/<name>` while re-hashing exactly
 * the bytes written (so a bundle file swapped or modified after verification
 * is caught: HEARTH_ERR_TAMPERED, and the partial file removed), then fsync'd;
 * then HEARTH_SLOT_SIGNATURE and, last, HEARTH_SLOT_MANIFEST are written
 * atomically, so a slot interrupted mid-install never has a manifest that
 * verifies. Files in payload/ that the manifest does not name are removed
 * first. Refuses an unverified bundle (HEARTH_ERR_STATE).
 */
hearth_status hearth_bundle_extract_verified(const hearth_bundle *b, const char *slot_dir,
                                             hearth_progress_fn progress,
                                             void *arg) HEARTH_MUST_CHECK;
/** Close and free. NULL is ignored. */
void hearth_bundle_free(hearth_bundle *b);

/**
 * Verify an installed slot directory on its own (hearth-boot, 5.7-1): reads
 * HEARTH_SLOT_MANIFEST and HEARTH_SLOT_SIGNATURE, verifies the signature with
 * @p ks, parses the manifest, applies @p policy if non-NULL, then checks that
 * payload/ holds exactly the manifest's files (no extra, none missing, exact
 * sizes) and verifies every chunk with @p threads threads.
 * @param[out] out  if non-NULL, receives the verified manifest (caller frees
 *                  with hearth_manifest_free(); payload offsets are 0-based
 *                  within the payload area and not meaningful for a slot).
 */
hearth_status hearth_slot_verify_dir(const char *slot_dir, const hearth_keyset *ks,
                                     const hearth_bundle_policy *policy, unsigned threads,
                                     hearth_manifest **out) HEARTH_MUST_CHECK;

/**
 * hearth_slot_verify_dir(), and the slot's program ready to execute exactly
 * as verified (hearth-boot, 5.7-1): payload @p program is first copied into
 * an anonymous memory file (memfd_create, close-on-exec), sealed against
 * write, grow, shrink and further sealing, and its chunks are verified from
 * THAT copy, not from the slot file. On success @p program_fd receives the
 * sealed copy (caller closes; run it with fexecve()); a rewrite of the slot
 * file at any time after the copy cannot change what runs, and one before
 * or during the copy fails verification. Costs the program's size in
 * memory while the descriptor is open. @p program must be a payload of the
 * manifest (else HEARTH_ERR_TAMPERED). Fault point
 * "bundle.verify_slot.program_loaded" between the copy and its verification.
 */
hearth_status hearth_slot_verify_dir_exec(const char *slot_dir, const hearth_keyset *ks,
                                          const hearth_bundle_policy *policy, unsigned threads,
                                          const char *program, int *program_fd,
                                          hearth_manifest **out) HEARTH_MUST_CHECK;

/* ------------------------------------------------------ stream verifier */

/**
 * Incremental verifier for a bundle arriving as a byte stream (HTTP download).
 * Fed the bundle file bytes from offset 0 in any split: the prefix must match
 * the verified prefix byte for byte, then every payload chunk is hashed as it
 * completes and compared with the manifest. The moment a chunk mismatches,
 * update() fails with HEARTH_ERR_TAMPERED; it never accepts a byte beyond the
 * bundle's total size (HEARTH_ERR_TOO_LARGE: endless-data attack).
 * hearth_stream_good_offset() is the end of the last verified chunk: resume
 * an interrupted or corrupted download with an HTTP Range from there after
 * truncating the partial file to it, and hearth_stream_seek() to it.
 */
typedef struct hearth_stream hearth_stream;

/** Create a stream verifier for an opened, verified bundle (which must outlive it). */
hearth_status hearth_stream_new(const hearth_bundle *b, hearth_stream **out) HEARTH_MUST_CHECK;
/** Feed the next @p len bytes. After a failure every further call fails. */
hearth_status hearth_stream_update(hearth_stream *s, const void *data,
                                   size_t len) HEARTH_MUST_CHECK;
/** All bytes received? HEARTH_ERR_TAMPERED ("truncated") if fewer than the total. */
hearth_status hearth_stream_final(hearth_stream *s) HEARTH_MUST_CHECK;
/** File offset up to which every byte is verified (prefix end or a chunk end). */
uint64_t hearth_stream_good_offset(const hearth_stream *s);
/** Number of payload chunks verified so far (over all payloads). */
uint64_t hearth_stream_good_chunks(const hearth_stream *s);
/**
 * Reposition to @p offset, which must be a verified boundary:
 * <= hearth_stream_good_offset() and either the prefix end or a chunk end
 * (HEARTH_ERR_RANGE otherwise). Clears a failure. Used to resume.
 */
hearth_status hearth_stream_seek(hearth_stream *s, uint64_t offset) HEARTH_MUST_CHECK;
/** Free. NULL is ignored. */
void hearth_stream_free(hearth_stream *s);

/* ------------------------------------------------------------ creating */

/** One payload for hearth_bundle_create(). */
typedef struct {
    const char *name; /**< payload name ([A-Za-z0-9._-], no leading '.') */
    const char *path; /**< source file */
} hearth_bundle_input;

/** Everything hearth_bundle_create() puts in the manifest. */
typedef struct {
    const char *model;          /**< product model */
    const char *hw_id;          /**< hardware-compatibility id */
    const char *sw_version;     /**< software version string */
    uint64_t security_version;  /**< monotonic anti-rollback counter */
    int64_t created;            /**< 0 = now */
    int64_t expires;            /**< epoch seconds, > created */
    const char *notes;          /**< release notes */
    const char *mitigates;      /**< risks this update mitigates ("" if none) */
    bool disruptive;            /**< disrupts basic functioning while installing */
    uint32_t downtime_s;        /**< expected downtime in seconds */
    const char *sbom;           /**< CycloneDX JSON signed into the manifest, NULL for none */
    size_t sbom_len;            /**< its length (1..HEARTH_BUNDLE_SBOM_MAX) */
    uint32_t chunk_size;        /**< 0 = HEARTH_BUNDLE_CHUNK_DEFAULT */
    const hearth_bundle_input *payloads; /**< payloads in order */
    size_t payload_count;       /**< 1..HEARTH_BUNDLE_PAYLOADS_MAX */
    hearth_progress_fn progress; /**< optional, called while hashing */
    void *progress_arg;         /**< its argument */
} hearth_bundle_spec;

/**
 * Create an UNSIGNED bundle at @p out_path (refuses to overwrite:
 * HEARTH_ERR_EXISTS): hashes every payload chunk, writes header, manifest, an
 * empty signature block and the payloads. Sign it with hearth_bundle_sign().
 */
hearth_status hearth_bundle_create(const hearth_bundle_spec *spec,
                                   const char *out_path) HEARTH_MUST_CHECK;
/**
 * Add signatures by @p keys (private) to the bundle at @p path, replacing an
 * existing signature by the same key id; the file is rewritten atomically.
 * The manifest bytes are not changed, so signers can sign one after another.
 */
hearth_status hearth_bundle_sign(const char *path, const hearth_key *const *keys,
                                 size_t nkeys) HEARTH_MUST_CHECK;
/** Build a manifest image from @p spec with given per-payload digests (tests, fuzz seeds). */
hearth_status hearth_manifest_build(const hearth_bundle_spec *spec, const uint64_t *sizes,
                                    const uint8_t *const *digests,
                                    hearth_buf *out) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
