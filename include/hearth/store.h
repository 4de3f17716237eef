/**
 * @file store.h
 * @brief Encrypted, integrity-protected, crash-safe store for security
 *        parameters and user data (EN 303 645 5.4-1), keyed from a
 *        root-of-trust backend (file key or TPM 2.0 sealed key).
 *
 * The store is one file (`<dir>/store.hst`) of named records. The whole file
 * is re-encrypted and replaced atomically on every commit (temp file, fsync,
 * rename, directory fsync), so after a crash it holds the old or the new
 * state. Each record is sealed with an AEAD (algorithm id stored in the
 * header, 5.5-3) whose associated data binds the device id, the record name
 * and the store generation; a flipped bit, a record moved between names, or a
 * file copied from another device fails with HEARTH_ERR_TAMPERED.
 * Format: docs/store-format.md.
 */
#ifndef HEARTH_STORE_H
#define HEARTH_STORE_H

#include "hearth/common.h"
#include "hearth/sandbox.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_STORE_KEY_LEN 32         /**< storage root key length */
#define HEARTH_STORE_NAME_MAX 64        /**< max record-name length (bytes, excl. NUL) */
#define HEARTH_STORE_VALUE_MAX (64 * 1024) /**< max record value length */
#define HEARTH_STORE_RECORDS_MAX 256    /**< max number of records */
#define HEARTH_STORE_FILE_MAX (4 * 1024 * 1024) /**< max store file size */

/* ------------------------------------------------------- root of trust */

/** Root-of-trust backend that yields the storage root key. */
typedef struct hearth_rot hearth_rot;

/** Kind of backend, recorded in the device state so the daemon reopens it. */
typedef enum { HEARTH_ROT_FILE = 1, HEARTH_ROT_TPM = 2 } hearth_rot_kind;

/**
 * Create a file-backed root of trust: a fresh random 256-bit key written to
 * `<keydir>/storage.key`, mode 0600, directory 0700. Fails with
 * HEARTH_ERR_EXISTS if a key is already there (never overwrites a key).
 */
hearth_status hearth_rot_file_create(const char *keydir) HEARTH_MUST_CHECK;
/** Open an existing file-backed root of trust (checks mode 0600, length). */
hearth_status hearth_rot_file_open(const char *keydir, hearth_rot **out) HEARTH_MUST_CHECK;

/* ------------------------------------------------ TPM connection (TCTI) */

/** Longest TPM connection string accepted (excl. NUL). */
#define HEARTH_TCTI_MAX 127

/** The TPM transports Hearth opens (each by a fixed, linked-in module). */
typedef enum {
    HEARTH_TCTI_DEVICE = 1, /**< kernel TPM device, e.g. "device:/dev/tpmrm0" */
    HEARTH_TCTI_SWTPM = 2,  /**< swtpm socket, "swtpm:host=127.0.0.1,port=2321" */
    HEARTH_TCTI_MSSIM = 3,  /**< Microsoft simulator protocol, same options as swtpm */
    HEARTH_TCTI_TABRMD = 4  /**< tpm2-abrmd over D-Bus, "tabrmd:bus_name=..,bus_type=system" */
} hearth_tcti_kind;

/** A validated TPM connection (docs/provisioning.md, "TPM connection"). */
typedef struct {
    hearth_tcti_kind kind;
    /** Options handed to the transport's init, rebuilt from the parsed
     *  values: the device path, or "host=H,port=P", or
     *  "bus_name=N,bus_type=T" (tabrmd; "" for its defaults). */
    char conf[HEARTH_TCTI_MAX + 1];
    /** Canonical "name:conf" form, for messages and logs. */
    char text[HEARTH_TCTI_MAX + 1];
} hearth_tcti;

/**
 * Parse and validate a TPM connection string. Only these forms are accepted
 * (tpm2-tss option syntax, a subset of it):
 *   device:/dev/NAME          NAME components from [A-Za-z0-9_-] (sub-
 *                             directories of /dev allowed, no "." or "..")
 *   swtpm[:[host=H][,port=P]] H a host name or IPv4/IPv6 address literal
 *                             ([A-Za-z0-9.:-], at most 63), P 1..65534;
 *                             defaults localhost / 2321 as in tpm2-tss
 *   mssim[:...]               the same options
 *   tabrmd[:[bus_name=N][,bus_type=system|session]]   N a dotted D-Bus
 *                             name ([A-Za-z0-9_-] elements); defaults
 *                             com.intel.tss2.Tabrmd / system
 * Anything else (another module name, a library file name or path, an
 * unknown option, a duplicate option, control or odd characters, more than
 * HEARTH_TCTI_MAX bytes) fails with HEARTH_ERR_INVALID and a reason. No
 * accepted string can make Hearth load a library it names: each transport
 * is linked in or, for tabrmd, loaded by its fixed soname.
 */
hearth_status hearth_tcti_parse(const char *text, hearth_tcti *out) HEARTH_MUST_CHECK;

/* ------------------------------------------- platform configuration */

/**
 * The platform configuration: which root of trust this device uses and how
 * it reaches its TPM. It never comes from the (writable) device state
 * directory: the build sets the defaults (CMake HEARTH_PLATFORM_ROT,
 * HEARTH_PLATFORM_TCTI), a program's platform port may replace them
 * (hearth_platform_set_defaults()) and the service manager may override them through
 * the process environment (HEARTH_ROT = "file" | "tpm", HEARTH_TPM_TCTI).
 * docs/provisioning.md, "Platform configuration".
 */
typedef struct {
    hearth_rot_kind rot;  /**< the only root-of-trust kind this platform opens */
    hearth_tcti tcti;     /**< TPM connection (validated even for file devices) */
} hearth_platform;

/**
 * The platform configuration, environment before build default (one rule,
 * here only). An environment value that is set but invalid is an error,
 * never a fall back to the default.
 */
hearth_status hearth_platform_load(hearth_platform *out) HEARTH_MUST_CHECK;

/**
 * What the platform's root of trust needs under a program's sandbox
 * (hearth/sandbox.h): with a TPM device node, that node (read-write), added
 * to @p paths (*n used of @p cap); with a simulator (swtpm, mssim), its
 * command and platform TCP ports, added to @p ports (*np used of @p pcap).
 * Nothing for the file root of trust or tabrmd (D-Bus: a unix socket).
 */
void hearth_platform_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *ports,
                             size_t pcap, size_t *np);
/**
 * Replace the build defaults of the platform configuration with a platform
 * port's (include/hearth/port.h, hearth_port_use()); @p origin names them in
 * messages ("port sim"). The precedence becomes: environment, then these,
 * then the build. NULL @p rot or @p tcti keeps the build default for that
 * setting. Both are validated here (an invalid default is an error now, not
 * at first use). Once per process, before any other thread runs: a second
 * call is HEARTH_ERR_STATE.
 */
hearth_status hearth_platform_set_defaults(const char *origin, const char *rot,
                                           const char *tcti) HEARTH_MUST_CHECK;
/** "file" / "tpm" / "unknown". */
const char *hearth_rot_kind_name(hearth_rot_kind kind);

/**
 * Create a TPM 2.0 root of trust: a fresh random storage key sealed under a
 * primary key of the TPM's storage hierarchy; the sealed public/private blobs
 * are written to `<keydir>/tpm-sealed.bin` (useless without that TPM). Also
 * defines an NV counter index (owner hierarchy, empty owner auth assumed)
 * used to detect rollback of the store.
 * @param[in] tcti  TPM connection string (hearth_tcti_parse() forms), e.g.
 *                  "swtpm:host=127.0.0.1,port=2321"; NULL or "" uses the
 *                  platform configuration (hearth_platform_load()).
 */
hearth_status hearth_rot_tpm_create(const char *keydir, const char *tcti) HEARTH_MUST_CHECK;
/**
 * Open a TPM root of trust: unseals the key through the TPM. The returned
 * object also carries the TPM NV rollback counter that stores opened with it
 * bind their generation to (each commit then needs the TPM reachable).
 * @p tcti as for hearth_rot_tpm_create().
 */
hearth_status hearth_rot_tpm_open(const char *keydir, const char *tcti,
                                  hearth_rot **out) HEARTH_MUST_CHECK;

/**
 * Factory reset, TPM root (docs/erasure.md): seal a new random storage key in
 * @p keydir as the successor of the key in @p cur_keydir, bound by its
 * authPolicy (TPM2_PolicyNV) to the next value of the device's erase-epoch NV
 * counter (defined here if the current key predates it). The new key is not
 * unsealable until hearth_rot_tpm_epoch_advance(); the current one stops
 * being unsealable then. Also defines the new key's rollback counter.
 * Returns the new root of trust open in *@p out (its key is known here).
 */
hearth_status hearth_rot_tpm_create_successor(const char *keydir, const char *cur_keydir,
                                              const char *tcti,
                                              hearth_rot **out) HEARTH_MUST_CHECK;
/**
 * Advance the erase epoch to the value the key in @p keydir is sealed for
 * (one NV increment at most; nothing when it is already there, so it may be
 * repeated after a power cut), after checking that the sealed object's
 * policy is exactly that. From then on this TPM refuses every key sealed for
 * an earlier value. A key sealed without a policy (version 1): nothing.
 */
hearth_status hearth_rot_tpm_epoch_advance(const char *keydir,
                                           const char *tcti) HEARTH_MUST_CHECK;
/**
 * Record in @p keydir (file `retired-nv`) the TPM NV indices of the root of
 * trust @p old that its successor @p neu does not use (its store rollback
 * counter and anti-rollback floor index). Nothing for a file root.
 */
hearth_status hearth_rot_tpm_retire_plan(const hearth_rot *old, const hearth_rot *neu,
                                         const char *keydir) HEARTH_MUST_CHECK;
/**
 * Undefine (owner authorisation) the indices recorded by
 * hearth_rot_tpm_retire_plan() in @p keydir; each only if it is in Hearth's
 * handle ranges and has the public area Hearth defines, already-gone ones
 * are skipped (idempotent). No record: nothing.
 */
hearth_status hearth_rot_tpm_retire_run(const char *keydir, const char *tcti) HEARTH_MUST_CHECK;

/** Which backend a root of trust is. */
hearth_rot_kind hearth_rot_kind_of(const hearth_rot *rot);
/** Copy the 32-byte storage root key out (caller wipes it). */
hearth_status hearth_rot_storage_key(hearth_rot *rot,
                                     uint8_t key[HEARTH_STORE_KEY_LEN]) HEARTH_MUST_CHECK;
/** Wipe and free. NULL is allowed. */
void hearth_rot_close(hearth_rot *rot);

/* ------------------------------------------- anti-rollback floor record */

/**
 * The two anti-rollback floors of the boot state (docs/boot.md, "Floor
 * record"): the lowest security version and the lowest key-set version this
 * device may still run.
 */
typedef struct {
    uint64_t security_version; /**< min_security_version */
    uint64_t keyset_version;   /**< min_keyset_version */
} hearth_floor_values;

/**
 * Where the root of trust keeps the floors, apart from `boot/state`:
 * - TPM backend: a TPM NV index (ordinary, 16 bytes, not orderly, authRead
 *   and authWrite with a value derived from the storage root key, handle
 *   derived from it too); written only forward (read, compare, write the
 *   per-field maximum).
 * - File backend: `<keydir>/boot-floors`, HMAC-SHA256 under a key derived
 *   from the storage root key, replaced atomically, written only forward.
 */
typedef struct hearth_floors hearth_floors;

/** The floor record of @p rot (keys in @p keydir). Talks to no TPM yet. */
hearth_status hearth_floors_open(const hearth_rot *rot, const char *keydir,
                                 hearth_floors **out) HEARTH_MUST_CHECK;
/** File-backed floor record under @p keydir keyed from @p root_key (tests, tools). */
hearth_status hearth_floors_open_file(const char *keydir,
                                      const uint8_t root_key[HEARTH_STORE_KEY_LEN],
                                      hearth_floors **out) HEARTH_MUST_CHECK;
/** True if the record is in TPM NV (false: a file on the same medium as boot/state). */
bool hearth_floors_in_tpm(const hearth_floors *f);
/**
 * Read the floors. HEARTH_ERR_NOT_FOUND: never written (no file / no NV
 * index / index defined but never written); HEARTH_ERR_TAMPERED: present but
 * not authentic (bad MAC, wrong size, an NV index this key cannot read or
 * with other attributes); HEARTH_ERR_IO: TPM unreachable. @p out is zeroed
 * on every failure.
 */
hearth_status hearth_floors_read(hearth_floors *f, hearth_floor_values *out) HEARTH_MUST_CHECK;
/**
 * Raise the floors to at least @p want, field by field; never lowers one
 * (a lower or equal value writes nothing). A record that does not exist yet is
 * created (TPM: the NV index is defined, owner authorisation assumed empty).
 * An unauthentic record is refused (HEARTH_ERR_TAMPERED) unless
 * @p replace_unauthentic is set, which only the file backend honours: the
 * caller then holds an authentic boot state whose floors it writes as they
 * are. Fault points "floors.write" (file) / "floors.tpm_define",
 * "floors.tpm_write" (TPM) before the write.
 * @param[out] now  optional: the floors in the record afterwards
 */
hearth_status hearth_floors_raise(hearth_floors *f, const hearth_floor_values *want,
                                  bool replace_unauthentic,
                                  hearth_floor_values *now) HEARTH_MUST_CHECK;
/** Wipe and free. NULL is allowed. */
void hearth_floors_close(hearth_floors *f);

/* ---------------------------------------------------------------- store */

typedef struct hearth_store hearth_store;

/**
 * Create an empty store in @p dir (directory created 0700) bound to
 * @p device_id (e.g. the serial number; part of every record's AAD).
 * Fails with HEARTH_ERR_EXISTS if a store is already there.
 */
hearth_status hearth_store_create(const char *dir, hearth_rot *rot,
                                  const char *device_id) HEARTH_MUST_CHECK;
/**
 * Open and fully verify the store. Any corruption, truncation, tampering,
 * or a store from another device or key fails with HEARTH_ERR_TAMPERED (or
 * HEARTH_ERR_UNSUPPORTED for an unknown format version) and a reason in
 * hearth_err_msg(); the caller must not continue on such a store. With the
 * TPM backend, an older copy of the store put back in place fails with
 * HEARTH_ERR_ROLLBACK (NV counter; the file backend cannot detect this, see
 * docs/store-format.md).
 * Leftover temporary files from an interrupted commit are removed.
 */
hearth_status hearth_store_open(const char *dir, hearth_rot *rot, const char *device_id,
                                hearth_store **out) HEARTH_MUST_CHECK;
/** AEAD algorithm of a store (its id is recorded in the file header, 5.5-3). */
typedef enum {
    HEARTH_STORE_ALG_AES256GCM = 1,         /**< AES-256-GCM (default) */
    HEARTH_STORE_ALG_CHACHA20POLY1305 = 2   /**< ChaCha20-Poly1305 (no AES-NI) */
} hearth_store_alg;
/**
 * As hearth_store_create() with an explicit AEAD algorithm. Later commits
 * keep the algorithm recorded in the file; opening reads it from the file.
 */
hearth_status hearth_store_create_with_alg(const char *dir, hearth_rot *rot,
                                           const char *device_id,
                                           hearth_store_alg alg) HEARTH_MUST_CHECK;
/**
 * Retire an open store for a factory reset (hearth/reset.h): wipe its
 * records and key from memory; every later get, put, commit, delete or
 * foreach on it fails with HEARTH_ERR_STATE, so no thread still holding the
 * handle can write the old state back. Close it as usual. NULL allowed.
 */
void hearth_store_retire(hearth_store *st);
/** Close, wiping all decrypted records from memory. NULL is allowed. */
void hearth_store_close(hearth_store *st);

/**
 * Read a record into a caller buffer.
 * @param[out] len  the record's length; if it exceeds @p cap the call fails
 *                  with HEARTH_ERR_TOO_LARGE and @p len says what is needed.
 * @return HEARTH_ERR_NOT_FOUND if there is no such record.
 */
hearth_status hearth_store_get(hearth_store *st, const char *name, void *buf, size_t cap,
                               size_t *len) HEARTH_MUST_CHECK;
/** Insert or replace one record and commit durably. */
hearth_status hearth_store_put(hearth_store *st, const char *name, const void *val,
                               size_t len) HEARTH_MUST_CHECK;
/**
 * A key for one purpose, derived from a random 32-byte secret that lives only
 * in the store under record @p record: HKDF-SHA256(ikm = secret, salt =
 * @p salt, info = @p info) (hearth_hkdf_sha256()). The secret is created on
 * first use when @p create, else HEARTH_ERR_NOT_FOUND. Erasing the store
 * (a factory reset) erases every key derived this way (the outbox's, the
 * security log's fields).
 * @return HEARTH_ERR_TAMPERED if the record is not 32 bytes long.
 */
hearth_status hearth_store_secret_key(hearth_store *st, const char *record, bool create,
                                      const char *salt, const char *info, uint8_t *out,
                                      size_t out_len) HEARTH_MUST_CHECK;
/** Delete one record (HEARTH_ERR_NOT_FOUND if absent) and commit durably. */
hearth_status hearth_store_delete(hearth_store *st, const char *name) HEARTH_MUST_CHECK;

/** One change of a batch: @p val NULL deletes the record. */
typedef struct {
    const char *name;
    const void *val;
    size_t len;
} hearth_store_op;
/**
 * Apply several changes in one atomic commit: all of them or none. Ops are
 * applied in order (a later op on the same name wins); deleting a name that
 * does not exist is a no-op within a batch. Any invalid op, or a result over
 * the HEARTH_STORE_* limits, fails the whole batch and changes nothing.
 */
hearth_status hearth_store_commit(hearth_store *st, const hearth_store_op *ops,
                                  size_t n) HEARTH_MUST_CHECK;

/**
 * Call @p fn for each record whose name starts with @p prefix (sorted by
 * name). Iteration stops at the first non-OK return, which is returned.
 */
typedef hearth_status (*hearth_store_visit)(const char *name, const uint8_t *val, size_t len,
                                            void *arg);
hearth_status hearth_store_foreach(hearth_store *st, const char *prefix, hearth_store_visit fn,
                                   void *arg) HEARTH_MUST_CHECK;
/** Monotonic generation number of the last commit. */
uint64_t hearth_store_generation(const hearth_store *st);

#ifdef __cplusplus
}
#endif
#endif
