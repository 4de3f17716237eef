/**
 * @file slots.h
 * @brief A/B software slots and the authenticated boot state that drives
 *        secure boot, trial boots of updates, revert and anti-rollback
 *        (EN 303 645 5.7-1, 5.7-2, 5.3-2, 5.3-9, 5.3-10). Docs: docs/boot.md.
 *
 * Layout inside a device state directory `<state>`:
 *   slots/a/, slots/b/   one installed, signed bundle each (manifest,
 *                        signature block, payload files, e.g. `hearthd`)
 *   boot/state           boot state, binary, HMAC-SHA256 authenticated,
 *                        replaced atomically (hearth_fs_write_atomic)
 *   boot/lock            flock(2) serialising read-modify-write of boot/state
 *                        between hearth-boot and the running software
 *   boot/recovery        written by hearth-boot in recovery mode (reason)
 *
 * The boot state is NOT kept in the secure store on purpose: hearth-boot runs
 * before, and supervises, hearthd, and two processes must never both write
 * the store. Its MAC key is derived (HKDF-SHA256) from the device's storage
 * root key, so only code holding the root of trust can forge it.
 *
 * Life of an update (MCUboot "test" swap / RAUC mark-good / AWS OTA image
 * states): the updater writes the inactive slot from the download stream
 * (hearth_slot_writer_*, which takes the slot as hearth_slots_prepare_install()
 * does; a local upload: prepare_install + hearth_bundle_extract_verified()),
 * then hearth_slots_mark_pending()
 * (state "pending", N boot attempts) and exits with HEARTH_SLOTS_EXIT_RESTART.
 * hearth-boot decrements the attempts, persists, verifies and launches the
 * pending slot ("self-test"); the new software calls hearth_slots_confirm()
 * after its self-test ("accepted": becomes active, minimum security version
 * advanced). No confirmation within the timeout, crashes until the attempts
 * run out, or a failed verification -> "rejected": back to the active slot.
 */
#ifndef HEARTH_SLOTS_H
#define HEARTH_SLOTS_H

#include "hearth/bundle.h"
#include "hearth/common.h"
#include "hearth/identity.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Slot identifiers. */
#define HEARTH_SLOT_NONE (-1)
#define HEARTH_SLOT_A 0
#define HEARTH_SLOT_B 1
#define HEARTH_SLOT_COUNT 2

/** Boot attempts a pending slot gets before it is reverted. */
#define HEARTH_SLOTS_ATTEMPTS 3
/** Alerts kept in the boot state (most recent; older ones are in events.log). */
#define HEARTH_SLOTS_ALERTS_MAX 8
/** Max length of a software version string (excl. NUL). */
#define HEARTH_SLOTS_VERSION_MAX 64
/** Max length of an alert's file name / reason (excl. NUL). */
#define HEARTH_SLOTS_FILE_MAX 127
#define HEARTH_SLOTS_REASON_MAX 127

/**
 * Exit status with which the software in a slot asks hearth-boot to boot
 * again (e.g. the updater after mark-pending: "restart into the new slot").
 * 75 = EX_TEMPFAIL.
 */
#define HEARTH_SLOTS_EXIT_RESTART 75
/** hearth-boot exit status when it ends in recovery mode (--once). */
#define HEARTH_SLOTS_EXIT_RECOVERY 3

/** Result of the last verification of a slot. */
typedef enum {
    HEARTH_SLOT_UNKNOWN = 0,    /**< never verified / empty */
    HEARTH_SLOT_VERIFIED = 1,   /**< signature, key set and every payload digest good */
    HEARTH_SLOT_INVALID = 2,    /**< verification failed: unauthorised change or damage */
    HEARTH_SLOT_INSTALLING = 3, /**< being written by the updater; not bootable */
    HEARTH_SLOT_ROLLBACK = 4    /**< validly signed but security version below minimum */
} hearth_slot_verify;

/** What the boot state knows about one slot. */
typedef struct {
    uint8_t verify;             /**< ::hearth_slot_verify */
    uint64_t security_version;  /**< from the manifest at the last successful verification */
    int64_t verified_at;        /**< wall-clock seconds of that verification, 0 if never */
    char version[HEARTH_SLOTS_VERSION_MAX + 1]; /**< software version string */
} hearth_slot_info;

/** One recorded unauthorised change (5.7-2). */
typedef struct {
    int8_t slot;                /**< slot it concerns, or HEARTH_SLOT_NONE (boot state) */
    int64_t time;               /**< wall-clock seconds */
    char file[HEARTH_SLOTS_FILE_MAX + 1];     /**< offending file ("" if unknown) */
    char reason[HEARTH_SLOTS_REASON_MAX + 1]; /**< e.g. "digest mismatch" */
} hearth_slot_alert;

/** The decoded boot state (plain data; encode/decode in slots.c). */
typedef struct {
    uint64_t generation;        /**< incremented on every write */
    int8_t active;              /**< confirmed slot, or HEARTH_SLOT_NONE before first install */
    int8_t pending;             /**< slot on trial, or HEARTH_SLOT_NONE */
    uint8_t attempts_left;      /**< boot attempts left for @ref pending */
    int8_t booted;              /**< slot hearth-boot last launched, or NONE */
    uint64_t min_security_version; /**< anti-rollback floor; only ever increases */
    /** Key-set anti-rollback floor for hearth-boot: the newest key-set version
     *  this device has accepted (updater, `hearth slot install|stage`, or
     *  hearth-boot itself on loading a newer verified key set). hearth-boot
     *  refuses a key set below it. Only ever increases (format 2 and later;
     *  0 after migrating a format-1 state). */
    uint64_t min_keyset_version;
    hearth_slot_info slot[HEARTH_SLOT_COUNT];
    uint32_t alerts_total;      /**< alerts ever recorded */
    uint8_t n_alerts;           /**< entries valid in @ref alerts (ring, oldest first) */
    hearth_slot_alert alerts[HEARTH_SLOTS_ALERTS_MAX];
    uint32_t reverts_total;     /**< updates rejected / reverted so far */
    int8_t last_reverted;       /**< slot of the last revert, or NONE */
    int64_t last_reverted_at;   /**< time of the last revert, 0 if never */
} hearth_boot_state;

/** "a" / "b" / "none". */
const char *hearth_slot_name(int slot);
/** Parse "a" or "b"; HEARTH_ERR_INVALID otherwise. */
hearth_status hearth_slot_parse(const char *s, int *slot) HEARTH_MUST_CHECK;
/** The other slot of an A/B pair. */
static inline int hearth_slot_other(int slot) { return slot == HEARTH_SLOT_A ? HEARTH_SLOT_B : HEARTH_SLOT_A; }
/** "unknown" / "verified" / "invalid" / "installing" / "rollback". */
const char *hearth_slot_verify_name(int v);

/* ------------------------------------------------------ encoding (pure) */

/** Upper bound of an encoded boot state, bytes. */
#define HEARTH_BOOT_STATE_MAX 4096

/**
 * Encode and MAC a boot state into @p buf (format: docs/boot.md).
 * @param[in] key  32-byte boot-state MAC key (hearth_slots_derive_key())
 */
hearth_status hearth_boot_state_encode(const hearth_boot_state *bs, const uint8_t key[32],
                                       uint8_t *buf, size_t cap,
                                       size_t *len) HEARTH_MUST_CHECK;
/** Format version written by hearth_boot_state_encode(). */
#define HEARTH_BOOT_STATE_FORMAT 2

/**
 * Check the MAC (constant time) and decode. A bad MAC, wrong magic, bad
 * length, truncation or an out-of-range field fails with HEARTH_ERR_TAMPERED
 * (HEARTH_ERR_UNSUPPORTED for an unknown format version); @p bs is then
 * left zeroed. An authentic format-1 state (written before the key-set floor
 * existed) is migrated: decoded with min_keyset_version 0; the next write
 * stores it as format 2 (docs/boot.md, "Format versions").
 */
hearth_status hearth_boot_state_decode(const uint8_t *buf, size_t len, const uint8_t key[32],
                                       hearth_boot_state *bs) HEARTH_MUST_CHECK;
/** Derive the boot-state MAC key from the 32-byte storage root key (HKDF-SHA256). */
hearth_status hearth_slots_derive_key(const uint8_t root_key[32],
                                      uint8_t key[32]) HEARTH_MUST_CHECK;

/* ------------------------------------------------- boot decision (pure) */

/** Outcome of verifying one slot, supplied to hearth_slots_choose(). */
typedef struct {
    bool checked;               /**< false: not verified yet */
    bool valid;                 /**< signature + key set + all payload digests good */
    uint64_t security_version;  /**< from the verified manifest (valid only) */
} hearth_slot_check;

/** What hearth_slots_choose() decided. */
typedef enum {
    HEARTH_BOOT_NEED_VERIFY = 0, /**< verify @ref slot, fill its check, call again */
    HEARTH_BOOT_TRIAL = 1,       /**< boot the pending slot on trial */
    HEARTH_BOOT_ACTIVE = 2,      /**< boot the active (confirmed) slot */
    HEARTH_BOOT_FALLBACK = 3,    /**< active slot unusable; boot the other, now active */
    HEARTH_BOOT_RECOVERY = 4     /**< no bootable slot: recovery mode */
} hearth_boot_action;

/** Decision plus the events to report. */
typedef struct {
    hearth_boot_action action;
    int slot;                   /**< slot to verify or boot; NONE for recovery */
    bool reverted;              /**< a pending update was abandoned (attempts exhausted) */
    bool rejected;              /**< a pending update failed verification/anti-rollback */
    int reverted_slot;          /**< slot abandoned/rejected, or NONE */
    bool integrity_alert;       /**< some slot failed verification (5.7-2) */
    int alert_slot;             /**< first slot that failed verification, or NONE */
    bool rollback_blocked;      /**< some slot verified but is below the minimum */
} hearth_boot_choice;

/**
 * The boot decision, pure and deterministic (no I/O). Called repeatedly:
 * while it answers HEARTH_BOOT_NEED_VERIFY, the caller verifies that slot and
 * fills @p checks[slot]; so only slots that matter are verified (lazily).
 *
 * Order: a pending slot with attempts left is tried first (attempts are
 * decremented in @p next, which the caller persists BEFORE launching); a
 * pending slot with no attempts left, or that fails verification or is below
 * the minimum security version, is dropped (revert). Then the active slot;
 * if it fails, the other slot (it becomes active). A slot whose security
 * version is below @p in->min_security_version is never chosen, on any path.
 * @param[in]  in      boot state as read (may be a "safe" state, see docs)
 * @param[in]  checks  per-slot verification results so far
 * @param[out] next    the state to persist before launching (or for recovery)
 * @param[out] out     the decision
 */
hearth_status hearth_slots_choose(const hearth_boot_state *in,
                                  const hearth_slot_check checks[HEARTH_SLOT_COUNT],
                                  hearth_boot_state *next,
                                  hearth_boot_choice *out) HEARTH_MUST_CHECK;

/**
 * Build the state used when boot/state is missing or fails authentication:
 * no pending slot, no confirmed slot, minimum security version and key-set
 * floor 0 (hearth-boot raises the latter to the key set it loads); the
 * caller then verifies both slots and boots the valid one with the HIGHEST
 * security version (hearth_slots_choose_safe()).
 */
void hearth_boot_state_init_empty(hearth_boot_state *bs);
/**
 * Safe choice without a trustworthy boot state: among slots whose checks
 * are valid pick the one with the highest security version (ties: A).
 * @return the slot or HEARTH_SLOT_NONE.
 */
int hearth_slots_choose_safe(const hearth_slot_check checks[HEARTH_SLOT_COUNT]);

/* --------------------------------------------- the state on the device */

/** Handle on a device's slots: state directory + derived MAC key. */
typedef struct hearth_slots hearth_slots;

/**
 * Open the slots of @p state_dir: hearth_device_config_load() (platform
 * configuration, strict device.json, root of trust opened from keys/,
 * device.mac checked), derives the boot-state key and closes the RoT again
 * (the secure store is NOT opened, so this is safe while another process
 * holds it). Creates slots/a, slots/b and boot/ (0700) if absent.
 */
hearth_status hearth_slots_open(const char *state_dir, hearth_slots **out) HEARTH_MUST_CHECK;
/**
 * The authenticated device configuration hearth_slots_open() loaded (model
 * and hardware id for the bundle policy), or NULL for slots opened with
 * hearth_slots_open_key(), which has none.
 */
const hearth_device_config *hearth_slots_device_config(const hearth_slots *s);
/** Same, with the 32-byte storage root key supplied by the caller. */
hearth_status hearth_slots_open_key(const char *state_dir, const uint8_t root_key[32],
                                    hearth_slots **out) HEARTH_MUST_CHECK;
/** Wipe the key and free. NULL is allowed. */
void hearth_slots_close(hearth_slots *s);
/** The state directory. */
const char *hearth_slots_state_dir(const hearth_slots *s);
/** `<state>/slots/<x>` into @p buf. */
hearth_status hearth_slots_path(const hearth_slots *s, int slot, char *buf,
                                size_t cap) HEARTH_MUST_CHECK;

/**
 * Read and authenticate boot/state. HEARTH_ERR_NOT_FOUND if there is none
 * yet; HEARTH_ERR_TAMPERED (reason in hearth_err_msg()) if it fails the MAC
 * or is malformed -- the caller must then not trust any field.
 */
hearth_status hearth_slots_read(hearth_slots *s, hearth_boot_state *bs) HEARTH_MUST_CHECK;
/** Where the floors of a decision come from (hearth_slots_load()). */
typedef struct {
    hearth_status state;        /**< boot/state: OK, NOT_FOUND, TAMPERED, UNSUPPORTED, IO */
    hearth_status record;       /**< floor record: OK, NOT_FOUND, TAMPERED, IO, ... */
    bool record_in_tpm;         /**< the floor record is a TPM NV index */
    /** Some authentic source of both floors exists: the record, or an
     *  authentic state while the record is absent (not yet written) or, on
     *  the file backend only, unauthentic. false: fail closed. */
    bool floors_known;
    bool state_behind;          /**< authentic state with floors below the record (replayed
                                 *   older state, or a power cut between the two writes) */
    hearth_floor_values record_floors; /**< the record's floors (record == OK) */
    char state_why[160];        /**< why the state failed (state != OK) */
    char record_why[160];       /**< why the record failed (record != OK) */
} hearth_slots_load_info;

/**
 * Read boot/state AND the floor record (TPM NV or the file record,
 * docs/boot.md "Floor record") and combine them; used by every decision.
 * @p bs is the authentic state, or the empty state when it is missing or
 * unauthentic, in both cases with its floors raised to the record's. Returns
 * HEARTH_OK when @p info->floors_known (check @p info->state before trusting
 * anything but the floors), else the error; never writes anything.
 */
hearth_status hearth_slots_load(hearth_slots *s, hearth_boot_state *bs,
                                hearth_slots_load_info *info) HEARTH_MUST_CHECK;
/**
 * The installed release of @p bs for the update policy (pure): security
 * version max(floor, active slot's), software version of the active slot
 * ("" if none). With hearth_manifest_check_policy() this is THE rollback and
 * replay decision of the updater, `hearth slot install|stage` and (given the
 * same numbers) `hearth bundle verify --installed-*`.
 */
void hearth_slots_installed(const hearth_boot_state *bs, uint64_t *security_version,
                            char *version, size_t cap);
/**
 * hearth_slots_load() + hearth_slots_installed(). Fails closed when a floor
 * record exists but is unusable (a TPM index this key cannot read, TPM
 * unreachable). When nothing authentic is left (no/unauthentic state and no
 * usable record: a fresh device, or every copy deleted on the file backend)
 * it reports security version 0 and "" (a factory install; @p info tells).
 * @param[out] bs    optional: the state as hearth_slots_load() gave it
 * @param[out] info  optional: where the floors came from
 */
hearth_status hearth_slots_installed_policy(hearth_slots *s, uint64_t *security_version,
                                            char *version, size_t cap, hearth_boot_state *bs,
                                            hearth_slots_load_info *info) HEARTH_MUST_CHECK;
/** Read the floor record alone (status display). */
hearth_status hearth_slots_floor_record(hearth_slots *s, hearth_floor_values *out,
                                        bool *in_tpm) HEARTH_MUST_CHECK;
/**
 * Write @p bs (generation incremented) atomically. Callers normally use the
 * verbs below. The floor record is written FIRST, raised to @p bs's floors,
 * and @p bs's floors are raised to the record's, so no write ever lowers a
 * floor; refused (nothing written) when the record exists but is unusable.
 * Fault point "slots.floors_raised" between the two writes.
 */
hearth_status hearth_slots_write(hearth_slots *s, hearth_boot_state *bs) HEARTH_MUST_CHECK;

/**
 * Factory / first install: make @p slot the active slot with the given
 * verified manifest facts, no pending slot, minimum security version =
 * max(current minimum, @p security_version). Creates boot/state if absent;
 * if one exists and authenticates, keeps its history (alerts, minimum) and
 * refuses (HEARTH_ERR_ROLLBACK) a version below the minimum. A state that
 * fails authentication is replaced, and an alert is recorded in the new one.
 */
hearth_status hearth_slots_init(hearth_slots *s, int slot, const char *version,
                                uint64_t security_version) HEARTH_MUST_CHECK;

/**
 * Start installing an update: pick the inactive slot (not the active one),
 * refuse (HEARTH_ERR_STATE) while a pending slot is on trial (booted and not
 * yet confirmed), drop any pending mark on that slot, record it as
 * "installing" (persisted), and empty its directory. The caller then
 * extracts a verified bundle into @p path (bundle module).
 * @param[out] slot  slot to install into
 * @param[out] path  `<state>/slots/<x>`
 */
hearth_status hearth_slots_prepare_install(hearth_slots *s, int *slot, char *path,
                                           size_t cap) HEARTH_MUST_CHECK;
/* ------------------------------------------- streaming install (updater) */

/**
 * File in a slot being written by a ::hearth_slot_writer: the release id
 * (SHA-256 of the signed manifest) and size of the bundle whose verified
 * bytes the slot holds, so an interrupted install resumes only with the
 * same release. Removed once the slot is committed.
 */
#define HEARTH_SLOT_INSTALL_RECORD "install.rec"

/**
 * Install from a stream (RAUC/Mender style): the payload bytes of a bundle
 * whose signed manifest is already verified go straight into the inactive
 * slot as they arrive, each byte hashed once (by the bundle stream verifier,
 * chunk by chunk against the signed digests) and written once, with no
 * staging copy. The slot is recorded "installing" before the first byte
 * and has no manifest until hearth_slot_writer_commit(), so it is never
 * bootable while incomplete; hearth-boot still re-verifies the whole slot
 * before it starts it (hearth_boot_decide()).
 */
typedef struct hearth_slot_writer hearth_slot_writer;

/**
 * Start or resume installing @p b (opened and verified, outliving the
 * writer) into the inactive slot. Takes the inactive slot as
 * hearth_slots_prepare_install() does (same refusals); when that slot is
 * already "installing" and its HEARTH_SLOT_INSTALL_RECORD names this
 * release, what it holds is re-verified chunk by chunk and kept up to the
 * last good chunk (the rest cut off), otherwise it is emptied and a new
 * record written (fsync'd). The slot's manifest is removed first either
 * way. Fault points "slots.writer.invalidated", "slots.writer.recorded".
 * @param[out] out  the writer; hearth_slot_writer_offset() is where the
 *                  transfer continues (0: from the start, prefix included)
 */
hearth_status hearth_slot_writer_open(hearth_slots *s, const hearth_bundle *b,
                                      hearth_slot_writer **out) HEARTH_MUST_CHECK;
/** The slot being written. */
int hearth_slot_writer_slot(const hearth_slot_writer *w);
/** The slot directory being written. */
const char *hearth_slot_writer_dir(const hearth_slot_writer *w);
/** Bundle offset the next hearth_slot_writer_write() byte must have. */
uint64_t hearth_slot_writer_offset(const hearth_slot_writer *w);
/** End of the last verified chunk (what a resume keeps). */
uint64_t hearth_slot_writer_good(const hearth_slot_writer *w);
/** Payload chunks verified so far (over all payloads). */
uint64_t hearth_slot_writer_chunks(const hearth_slot_writer *w);
/**
 * Feed the next @p n bundle bytes (from hearth_slot_writer_offset()). They
 * go through the stream verifier first (a chunk whose digest does not
 * match fails here with HEARTH_ERR_TAMPERED, more bytes than the signed
 * size with HEARTH_ERR_TOO_LARGE, and only the whole good chunks before it
 * are written); then the payload bytes go into `slot/payload/<name>`, in
 * pieces of up to 256 KiB and always before the call that completes a
 * chunk returns (so hearth_slot_writer_chunks() never counts a chunk that
 * is not in the file), with writeback started every 8 MiB. After any
 * failure call hearth_slot_writer_rewind().
 */
hearth_status hearth_slot_writer_write(hearth_slot_writer *w, const void *data,
                                       size_t n) HEARTH_MUST_CHECK;
/**
 * Back to the last verified chunk: the payload files are cut to it and the
 * verifier repositioned (after a write error the slot is re-verified from
 * disk instead, so the resume point never runs ahead of what is written).
 */
hearth_status hearth_slot_writer_rewind(hearth_slot_writer *w) HEARTH_MUST_CHECK;
/**
 * Finish: every byte verified (HEARTH_ERR_TAMPERED "truncated" otherwise),
 * each payload file of exactly its signed size fsync'd, the payload
 * directory synced (fault point "slots.writer.synced"), then
 * HEARTH_SLOT_SIGNATURE and, last, HEARTH_SLOT_MANIFEST written atomically
 * (the slot's commit record), then the install record removed. The slot
 * is NOT marked pending: the caller does that with
 * hearth_slots_mark_pending() once this returned HEARTH_OK.
 */
hearth_status hearth_slot_writer_commit(hearth_slot_writer *w) HEARTH_MUST_CHECK;
/** Free (the slot keeps what was written, for a later resume). NULL is ignored. */
void hearth_slot_writer_free(hearth_slot_writer *w);

/**
 * Mark an installed slot pending (trial on next boot, ::HEARTH_SLOTS_ATTEMPTS
 * attempts). Refuses the active slot (HEARTH_ERR_STATE) and a security version
 * below the minimum (HEARTH_ERR_ROLLBACK). The version facts are recorded for
 * status; hearth-boot re-verifies the slot and overwrites them before the
 * trial. The caller then exits with ::HEARTH_SLOTS_EXIT_RESTART.
 */
hearth_status hearth_slots_mark_pending(hearth_slots *s, int slot, const char *version,
                                        uint64_t security_version) HEARTH_MUST_CHECK;
/**
 * Confirm the running slot after its self-test: if @p slot is the pending
 * slot that hearth-boot launched, it becomes active and the minimum security
 * version is raised to the security version hearth-boot verified for it.
 * Idempotent for the already-active slot with nothing pending. Any other
 * case (not on trial, reverted meanwhile) fails with HEARTH_ERR_STATE.
 */
hearth_status hearth_slots_confirm(hearth_slots *s, int slot) HEARTH_MUST_CHECK;
/**
 * Record an integrity alert (5.7-2) in the boot state (ring of
 * ::HEARTH_SLOTS_ALERTS_MAX) and log ALERT "software_integrity_violation"
 * through hearth_seclog(). @p file / @p reason may be NULL.
 */
hearth_status hearth_slots_record_alert(hearth_slots *s, int slot, const char *file,
                                        const char *reason) HEARTH_MUST_CHECK;

/**
 * Raise the key-set floor (min_keyset_version) of the boot state to
 * @p version under boot/lock. Monotonic: a @p version at or below the
 * current floor changes nothing and writes nothing (HEARTH_OK), so callers
 * may call it on every key-set verification. Callers must only pass the
 * version of a key set file the device ALREADY holds (write the file first,
 * then raise), so a power cut never leaves the floor above the device's key
 * set. HEARTH_ERR_NOT_FOUND if there is no boot state yet (nothing
 * installed), HEARTH_ERR_TAMPERED if it fails authentication (nothing is
 * written then). Fault point "slots.raise_keyset_floor" before the write.
 * @param[out] raised  optional: true if the floor moved
 */
hearth_status hearth_slots_raise_keyset_floor(hearth_slots *s, uint64_t version,
                                              bool *raised) HEARTH_MUST_CHECK;

/**
 * The inactive slot's path, for reading only (e.g. status). Installing goes
 * through hearth_slots_prepare_install().
 */
hearth_status hearth_slots_inactive_path(hearth_slots *s, int *slot, char *path,
                                         size_t cap) HEARTH_MUST_CHECK;

/**
 * Apply a read-modify-write under boot/lock: read (authenticated) state,
 * call @p fn, write if it returns HEARTH_OK. Used by hearth-boot.
 */
typedef hearth_status (*hearth_slots_update_fn)(hearth_boot_state *bs, void *arg);
hearth_status hearth_slots_update(hearth_slots *s, hearth_slots_update_fn fn,
                                  void *arg) HEARTH_MUST_CHECK;
/**
 * Take boot/lock (exclusive flock) for a read-modify-write that must also
 * handle a missing or unauthentic state (hearth-boot); @p fd receives the
 * lock descriptor for hearth_slots_unlock().
 */
hearth_status hearth_slots_lock(hearth_slots *s, int *fd) HEARTH_MUST_CHECK;
/** Release a lock taken with hearth_slots_lock(). */
void hearth_slots_unlock(int fd);
/**
 * Append an alert record to @p bs (ring of ::HEARTH_SLOTS_ALERTS_MAX, the
 * oldest dropped; control bytes replaced) without logging or writing.
 */
void hearth_boot_state_add_alert(hearth_boot_state *bs, int slot, int64_t when,
                                 const char *file, const char *reason);

/* ------------------------------------------------- the boot decision */

/** Options of hearth_boot_decide(). */
typedef struct {
    const char *trust_dir;     /**< read-only trust anchor: root keys (*.pub), threshold */
    const char *keyset_path;   /**< root-signed key set the slots are verified with */
    /** Device model a slot must be built for, from the authenticated device
     *  configuration (hearth_slots_device_config()). Required: NULL or ""
     *  makes every slot invalid (the model check is never switched off). */
    const char *model;
    const char *hw_id;         /**< device hardware id; required as @ref model */
    /** Payload to load for execution (e.g. "hearthd"): verified from a sealed
     *  in-memory copy that hearth_boot_decision::program_fd then holds.
     *  NULL: the slots are verified, nothing is loaded. */
    const char *program;
    unsigned threads;          /**< verification threads, 0 = online CPUs */
    bool verify_only;          /**< decide and verify, write no boot state (health check) */
    /** Why the previous trial ended (for the update_reverted event), or NULL. */
    const char *trial_failure;
} hearth_boot_opts;

/** Result of hearth_boot_decide(). */
typedef struct {
    hearth_boot_choice choice;  /**< action and slot (TRIAL, ACTIVE, FALLBACK, RECOVERY) */
    char reason[256];           /**< RECOVERY: why (also for boot/recovery) */
    /** Sealed copy of the chosen slot's program, verified byte for byte
     *  (opts.program set, action not RECOVERY), else -1. Run it with
     *  fexecve(); release with hearth_boot_decision_clear(). */
    int program_fd;
    char version[HEARTH_SLOTS_VERSION_MAX + 1]; /**< software version of the chosen slot */
    uint64_t security_version;  /**< security version of the chosen slot */
    bool state_missing;         /**< boot/state was absent: decided from an empty state */
    bool state_tampered;        /**< boot/state failed authentication: decided from empty */
    bool keyset_refused;        /**< key set below the key-set floor (ALERT keyset_rollback) */
    /** No authentic source of the floors (no/unauthentic state and no usable
     *  floor record): RECOVERY, nothing verified, nothing written (ALERT
     *  rollback_floors_unknown). */
    bool floors_unknown;
    bool state_behind;          /**< authentic state below the floor record (older state) */
    bool floor_record_in_tpm;   /**< the floors are kept in TPM NV */
    bool written;               /**< the decision was persisted (not verify_only) */
    unsigned alerts;            /**< ALERT events raised by this decision */
    uint64_t min_security_version; /**< floors after the decision (as persisted) */
    uint64_t min_keyset_version;
    uint64_t keyset_version;    /**< version of the key set loaded, 0 if none */
} hearth_boot_decision;

/**
 * THE boot decision, as hearth-boot takes it before every launch (docs/boot.md
 * "Boot flow"; every test drives this function, none reimplements it):
 * under boot/lock, read the authenticated boot state and the floor record
 * (hearth_slots_load(); missing or unauthentic state: ALERT
 * boot_state_missing|tampered, the bad file kept as boot/state.bad.<time>
 * unless verify_only, decision from an empty state holding the record's
 * floors; no authentic floors at all: ALERT rollback_floors_unknown and
 * RECOVERY without verifying or writing anything); load the trust
 * anchor and the key set (expiry not checked at boot) and hold it against the
 * key-set floor (below: ALERT keyset_rollback, no key set, so no slot
 * verifies); then hearth_slots_choose(), verifying each slot it asks for
 * (signature, model/hw id, every chunk; failure: ALERT
 * software_integrity_violation, recorded once per distinct finding; a
 * slot left "installing" only logs slot_incomplete); raise the key-set floor
 * to a newer verified key set; record verification results, reverts and
 * alerts; and, unless @p o->verify_only, persist the new state (fault point
 * "boot.persist") BEFORE returning, so a spent trial attempt survives a
 * power cut during the launch that follows.
 *
 * @return HEARTH_OK with @p d filled (RECOVERY included); an error if the
 *         lock could not be taken or the state could not be written (the
 *         caller must then treat it as recovery: nothing is launched).
 *         @p d->program_fd is -1 on error.
 */
hearth_status hearth_boot_decide(hearth_slots *s, const hearth_boot_opts *o,
                                 hearth_boot_decision *d) HEARTH_MUST_CHECK;
/** Close the program copy of @p d (if any). Safe to call twice. */
void hearth_boot_decision_clear(hearth_boot_decision *d);
/** "trial" / "active" / "fallback" / "recovery" / "verify". */
const char *hearth_boot_action_name(hearth_boot_action a);

#ifdef __cplusplus
}
#endif
#endif
