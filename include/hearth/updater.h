/**
 * @file updater.h
 * @brief Secure software updates: periodic randomised checks, an mTLS
 *        download pinned to the manufacturer CA with Range resume and
 *        chunk-by-chunk verification, install into the inactive A/B slot,
 *        the user's update policy, self-test + confirm after restart, and a
 *        streaming sink for local uploads (EN 303 645 5.3-1..5.3-12, 5.5-1,
 *        5.7-2). Repository layout, flow and attack coverage: docs/updates.md.
 *
 * Order of trust: nothing fetched is acted on before it is verified. A check
 * downloads the repository's key set (verified against the read-only trust
 * anchor, never older than the newest one accepted) and the signed manifest
 * prefix of the latest bundle for this hardware id; the signature, key
 * status, model, hardware id, expiry and security version are checked BEFORE
 * a payload byte is requested. The payload then streams into a staging file
 * through the bundle module's incremental verifier (a tampered chunk stops
 * the transfer at that chunk; more bytes than the manifest says stop it too),
 * and is re-hashed while being written into the inactive slot.
 *
 * Every rejection is a security event ("update_rejected", WARNING, ALERT for
 * signature/integrity failures) kept for the administrator; the repository
 * is told nothing (5.3-9 example 9).
 *
 * Threading: hearth_updater_start() runs checks on the updater's own thread,
 * so the applications' threads (hearth/app.h) never wait for the network or
 * the disk.
 * All public functions are thread-safe. Store access is serialised through
 * the caller's lock (hearth_updater_config::store_lock).
 */
#ifndef HEARTH_UPDATER_H
#define HEARTH_UPDATER_H

#include <pthread.h>

#include "hearth/app.h"
#include "hearth/common.h"
#include "hearth/identity.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Secure-store record holding the update policy (binary, see docs/updates.md). */
#define HEARTH_REC_UPDATE_POLICY "update.policy"
/** Secure-store record holding the highest key-set version accepted (anti-rollback). */
#define HEARTH_REC_UPDATE_KEYSET_VERSION "update.keyset_version"
/** Longest postponement an administrator may ask for (30 days). */
#define HEARTH_UPDATE_POSTPONE_MAX_HOURS 720
/** Secure-store record holding the announced installation time of a
 *  disruptive update (binary, see docs/updates.md). */
#define HEARTH_REC_UPDATE_WINDOW "update.window"
/** Default advance notice of a disruptive update before it installs
 *  automatically (5.3-12): one day. */
#define HEARTH_UPDATE_NOTICE_DEFAULT_S 86400u
/** How far ahead the installation of a disruptive update may be moved: as
 *  far as a postponement (30 days). */
#define HEARTH_UPDATE_WINDOW_MAX_S ((int64_t)HEARTH_UPDATE_POSTPONE_MAX_HOURS * 3600)
/** A requested time this far in the past (a slow clock in the browser) is
 *  taken as "now"; further back it is refused. */
#define HEARTH_UPDATE_WINDOW_SLACK_S 300
/** Default period between checks (one day, 5.3-5 example 7). */
#define HEARTH_UPDATE_PERIOD_DEFAULT_S 86400u
/** Default bound on a bundle (payloads + prefix). */
#define HEARTH_UPDATE_MAX_BUNDLE_DEFAULT (1024ull * 1024u * 1024u)
/** Recent update events kept in memory for GET /api/v1/updates. */
#define HEARTH_UPDATE_EVENTS_MAX 16
/** Bytes kept per event line. */
#define HEARTH_UPDATE_EVENT_LEN 320

/** Updater configuration; start from hearth_updater_config_default(). */
typedef struct {
    /** Repository base URL ("https://host:port/path"), NULL: network checks off
     *  (uploads still work). */
    const char *repo_url;
    /** Trust anchor directory (root public keys), read-only, outside the device
     *  state; NULL: hearth_trust_default_dir() (build option HEARTH_TRUST_DIR). */
    const char *trust_dir;
    /** The device's current key set file; NULL: <state>/keyset.hks. */
    const char *keyset_path;
    /** Staging directory for downloads; NULL: <state>/updates. */
    const char *download_dir;
    /** Optional pin of the repository's public key, with the syntax of curl's
     *  CURLOPT_PINNEDPUBLICKEY ("sha256//<base64>[;sha256//...]" or a public
     *  key file); checked by hearthd after the TLS handshake. */
    const char *pinned_pubkey;
    /** Unix socket where a hearth-fetch is started per connection (systemd
     *  hearth-fetch.socket, Accept=yes, its own user); NULL: hearthd spawns
     *  hearth-fetch itself (docs/architecture.md "Update transfers"). */
    const char *fetch_socket;
    /** Largest bundle accepted, bytes (prefix + payloads). */
    uint64_t max_bundle_size;
    /** First check: at a random time in [first_delay_s, first_delay_s + first_window_s]
     *  after hearth_updater_start() (5.3-5 "after initialization"). */
    uint32_t first_delay_s;
    uint32_t first_window_s;
    /** Then one check in every period, at a uniformly random time within it. */
    uint32_t period_s;
    /** Download attempts per check (each resumes where the last stopped). */
    uint32_t download_attempts;
    /** Seconds without progress before a transfer is abandoned. */
    uint32_t stall_timeout_s;
    /** Lock the caller holds around every use of the device's secure store
     *  (the store is not internally synchronised); NULL if single-threaded. */
    pthread_mutex_t *store_lock;
    /** Called (from the updater thread) after a successful install: the update
     *  is marked pending and the process should exit with
     *  HEARTH_SLOTS_EXIT_RESTART. May be NULL. */
    void (*on_restart)(void *arg);
    void *on_restart_arg;
    /** Advance notice of a disruptive update (5.3-12): when a verified update
     *  marked disruptive would be installed automatically, it is announced
     *  (security event update_disruption_announced, the status document's
     *  "window") and installed no earlier than this many seconds later, at a
     *  time an administrator can move (hearth_updater_set_window()).
     *  Default HEARTH_UPDATE_NOTICE_DEFAULT_S; 0: install at once, announced. */
    uint32_t disruptive_notice_s;
    /** The device's applications: their sentences make the status document's
     *  disruption_notice (hearth_apps_update_notice()). NULL: none. */
    const hearth_apps *apps;
    /** TEST HOOK ONLY (tests/integration): called with the path of the last
     *  payload file in the inactive slot once every payload byte of a
     *  download was verified and written there, before the slot is
     *  committed and marked pending, so a test can change the slot after
     *  verification and show hearth-boot's re-verification catches it.
     *  NULL in production. */
    void (*test_before_install)(const char *slot_payload_path, void *arg);
    void *test_arg;
} hearth_updater_config;

/** Fill @p c with defaults: period one day, first check 30..330 s after start,
 *  3 download attempts, 30 s stall timeout, 1 GiB bound. */
void hearth_updater_config_default(hearth_updater_config *c);

/** The administrator's update policy (5.3-4, 5.3-6). */
typedef struct {
    bool automatic;          /**< install verified updates without asking (default true) */
    int64_t postpone_until;  /**< no automatic install before this epoch second (0: none) */
} hearth_update_policy;

/** Encode/decode the HEARTH_REC_UPDATE_POLICY record (pure, for tests). */
hearth_status hearth_update_policy_encode(const hearth_update_policy *p, uint8_t out[16],
                                          size_t *len) HEARTH_MUST_CHECK;
hearth_status hearth_update_policy_decode(const uint8_t *in, size_t len,
                                          hearth_update_policy *p) HEARTH_MUST_CHECK;

/** The announced installation time of a disruptive update (5.3-12). */
typedef struct {
    int64_t at;            /**< installs automatically at or after this epoch second (0: none) */
    int64_t announced_at;  /**< when it was announced (0: nothing announced) */
    char version[65];      /**< the version announced ("" none) */
} hearth_update_window;

/** Encode/decode the HEARTH_REC_UPDATE_WINDOW record (pure, for tests);
 *  @p out holds at least HEARTH_UPDATE_WINDOW_REC_MAX bytes. */
#define HEARTH_UPDATE_WINDOW_REC_MAX 96
hearth_status hearth_update_window_encode(const hearth_update_window *w, uint8_t *out,
                                          size_t *len) HEARTH_MUST_CHECK;
hearth_status hearth_update_window_decode(const uint8_t *in, size_t len,
                                          hearth_update_window *w) HEARTH_MUST_CHECK;

/**
 * The automatic policy's decision for a verified disruptive update of
 * @p version at @p now (pure): a version not announced yet is announced now
 * (@p w updated: version, announced_at = @p now, at = @p now + @p notice_s;
 * *@p announce set), and it installs only once @p now reaches w->at.
 * @return true to install now
 */
bool hearth_update_window_plan(hearth_update_window *w, const char *version, int64_t now,
                               uint32_t notice_s, bool *announce);

/**
 * Scheduling (pure; the random value comes from the caller so tests are
 * deterministic): the next check time for the window starting at
 * @p window_start of length @p period_s, at offset @p rnd % period_s.
 */
int64_t hearth_updater_schedule(int64_t window_start, uint32_t period_s, uint32_t rnd);

/** The longest a busy repository's Retry-After defers the next check (24 h;
 *  equal to HEARTH_FETCH_RETRY_AFTER_MAX_S). */
#define HEARTH_UPDATE_RETRY_AFTER_MAX_S 86400u

/**
 * When to retry a failed scheduled check (pure, like the above): @p now plus
 * the larger of the backoff's delay @p backoff_ms (rounded up to seconds)
 * and the repository's Retry-After @p hint_s (capped at
 * HEARTH_UPDATE_RETRY_AFTER_MAX_S; 0: none) plus @p jitter_s, so a fleet
 * told "come back in an hour" does not come back in the same second; at
 * least @p now + 1.
 */
int64_t hearth_updater_retry_at(int64_t now, uint64_t backoff_ms, uint32_t hint_s, uint32_t jitter_s);

/** What the updater is doing. */
typedef enum {
    HEARTH_UPD_IDLE = 0,          /**< nothing in progress, nothing available */
    HEARTH_UPD_CHECKING = 1,      /**< fetching and verifying the manifest */
    HEARTH_UPD_DOWNLOADING = 2,   /**< streaming + verifying the payload */
    HEARTH_UPD_INSTALLING = 3,    /**< writing the inactive slot */
    HEARTH_UPD_AVAILABLE = 4,     /**< verified update waiting (automatic off / postponed) */
    HEARTH_UPD_RESTART_REQUIRED = 5 /**< installed and pending; restart to try it */
} hearth_update_state;

/** "idle", "checking", ... */
const char *hearth_update_state_name(hearth_update_state s);

/** Outcome of one check / install / upload. */
typedef enum {
    HEARTH_UPD_OUT_NONE = 0,      /**< no check finished yet */
    HEARTH_UPD_OUT_UP_TO_DATE = 1,/**< nothing newer (or the same version replayed) */
    HEARTH_UPD_OUT_AVAILABLE = 2, /**< verified, not installed because of the policy */
    HEARTH_UPD_OUT_INSTALLED = 3, /**< installed into the inactive slot, restart required */
    HEARTH_UPD_OUT_REJECTED = 4,  /**< failed verification: security event logged */
    HEARTH_UPD_OUT_FAILED = 5     /**< transient failure (network, disk); retried later */
} hearth_update_outcome;

/** "none", "up_to_date", ... */
const char *hearth_update_outcome_name(hearth_update_outcome o);

/** How a check may proceed. */
typedef enum {
    HEARTH_UPD_MODE_POLICY = 0,   /**< install only if the policy allows it now */
    HEARTH_UPD_MODE_CHECK_ONLY = 1, /**< verify the manifest, never download */
    HEARTH_UPD_MODE_INSTALL = 2   /**< administrator asked to install now */
} hearth_update_mode;

/** Facts about a verified, available (or just installed) update, for the UI
 *  (5.3-11 risks mitigated, 5.3-12 disruption and downtime). */
typedef struct {
    bool present;
    char sw_version[65];
    uint64_t security_version;
    uint64_t size;               /**< bundle bytes to download */
    int64_t expires;
    bool disruptive;
    uint32_t downtime_s;
    char notes[2048];            /**< release notes (truncated for display) */
    char mitigates[1024];        /**< risks mitigated (truncated for display) */
} hearth_update_info;

/** Result details of one operation. */
typedef struct {
    hearth_update_outcome outcome;
    hearth_status status;        /**< HEARTH_OK or the failure */
    char reason[192];            /**< short reason (never sent to the repository) */
    uint64_t bytes_downloaded;   /**< payload bytes received over the network */
    uint64_t resumed_from;       /**< offset of the last resume (0: none) */
    uint32_t attempts;           /**< transfer attempts used */
    hearth_update_info info;     /**< the update concerned, if one was verified */
} hearth_update_result;

typedef struct hearth_updater hearth_updater;

/**
 * Create the updater for an opened device (hw id, model, certificate, key,
 * store). Reads the policy (absent: automatic on, 5.3-6), creates the
 * download directory (0700). Does not touch the network.
 * @param[in] dev  opened device; must outlive the updater
 * @param[in] cfg  configuration (copied, strings included)
 */
hearth_status hearth_updater_create(hearth_device *dev, const hearth_updater_config *cfg,
                                    hearth_updater **out) HEARTH_MUST_CHECK;
/** Stop the thread if running and free. NULL is allowed. */
void hearth_updater_destroy(hearth_updater *u);

/** Start the updater thread (scheduled checks + requests from the API). */
hearth_status hearth_updater_start(hearth_updater *u) HEARTH_MUST_CHECK;
/** Stop and join the thread; an ongoing transfer is abandoned (resumed next time). */
void hearth_updater_stop(hearth_updater *u);

/**
 * Run one check synchronously on the caller's thread (tests, the CLI and the
 * updater thread itself). @p res is filled in every case.
 * @return HEARTH_OK for up-to-date / available / installed; the failure
 *         status for rejected / failed.
 */
hearth_status hearth_updater_check(hearth_updater *u, hearth_update_mode mode,
                                   hearth_update_result *res) HEARTH_MUST_CHECK;

/** Ask the updater thread to check now (POST /updates/check, an update
 *  announcement); returns at once. HEARTH_ERR_BUSY, and nothing is asked of
 *  the repository, while the repository's last answer to a check (429/503
 *  with Retry-After) still says to wait: hearth_updater_repo_wait_s(). */
hearth_status hearth_updater_request_check(hearth_updater *u) HEARTH_MUST_CHECK;
/** Seconds the update repository still asked the device to wait (its
 *  Retry-After on a failed check, from when the check ended); 0: none. */
uint32_t hearth_updater_repo_wait_s(hearth_updater *u);
/** Ask the updater thread to install the available update now (POST
 *  /updates/install). HEARTH_ERR_STATE if none is available. */
hearth_status hearth_updater_request_install(hearth_updater *u) HEARTH_MUST_CHECK;

/** Current policy. */
hearth_update_policy hearth_updater_policy(hearth_updater *u);
/**
 * Change the policy and persist it (store record HEARTH_REC_UPDATE_POLICY).
 * @param[in] automatic       automatic installation on/off
 * @param[in] postpone_hours  0..HEARTH_UPDATE_POSTPONE_MAX_HOURS from now (0 clears)
 * @param[in] who             user name for the security log
 */
hearth_status hearth_updater_set_policy(hearth_updater *u, bool automatic,
                                        uint32_t postpone_hours,
                                        const char *who) HEARTH_MUST_CHECK;

/**
 * Move the announced installation of the waiting disruptive update to
 * @p at (5.3-12: a time the people using the device can see and move).
 * Persisted (HEARTH_REC_UPDATE_WINDOW), logged (update_window_moved) and
 * shown in the status document. HEARTH_ERR_STATE when no disruptive update
 * is announced; HEARTH_ERR_RANGE unless @p at is within
 * [now - HEARTH_UPDATE_WINDOW_SLACK_S, now + HEARTH_UPDATE_WINDOW_MAX_S]
 * (a time in the slack is taken as now: install at the next wake-up).
 * @param[in] who  user name for the security log
 */
hearth_status hearth_updater_set_window(hearth_updater *u, int64_t at, const char *who) HEARTH_MUST_CHECK;

/** true once an update is installed and pending (the process should restart). */
bool hearth_updater_restart_required(hearth_updater *u);

/**
 * The status document of GET /api/v1/updates as JSON (installed version and
 * security version, policy, state, last check, available/pending update with
 * notes, risks mitigated, disruption and downtime and, with
 * @p include_events (administrators), the recent update security events).
 */
hearth_status hearth_updater_status_json(hearth_updater *u, bool include_events, char *buf,
                                         size_t cap) HEARTH_MUST_CHECK;

/* ------------------------------------------------ local upload (5.3-3) */

/**
 * Streaming sink for a bundle uploaded through the local API (body of
 * POST /api/v1/updates/upload), so memory does not grow with the bundle:
 * begin() with the announced size (bounded by max_bundle_size), write()
 * each body chunk as it arrives (the manifest prefix is verified as soon as
 * it is complete, then every payload chunk as it completes; the first bad
 * chunk fails the write), finish() installs exactly like a downloaded update.
 * Only one upload at a time (HEARTH_ERR_BUSY).
 */
typedef struct hearth_update_upload hearth_update_upload;

hearth_status hearth_updater_upload_begin(hearth_updater *u, uint64_t size, const char *who,
                                          hearth_update_upload **out) HEARTH_MUST_CHECK;
hearth_status hearth_updater_upload_write(hearth_update_upload *up, const void *data,
                                          size_t len) HEARTH_MUST_CHECK;
/** Verify the end, install, mark pending; frees @p up in every case. */
hearth_status hearth_updater_upload_finish(hearth_update_upload *up,
                                           hearth_update_result *res) HEARTH_MUST_CHECK;
/** Abandon an upload (client went away); frees @p up. NULL is allowed. */
void hearth_updater_upload_abort(hearth_update_upload *up);

/* ------------------------------------------- self-test after an update */

/** What the device runtime gives the post-update self-test. */
typedef struct {
    hearth_store *store;          /**< the opened store (a record is read back) */
    pthread_mutex_t *store_lock;  /**< as in the config, or NULL */
    int https_port;               /**< the TLS listener to probe on 127.0.0.1 (0: skip) */
    hearth_apps *apps;            /**< every application's self-test must pass (NULL: none) */
    uint32_t timeout_ms;          /**< how long to wait for the checks (default 5000) */
} hearth_update_selftest;

/**
 * Called by the device runtime after start-up. If the running slot is the
 * pending slot on trial, run the self-test (store readable, TLS listener
 * completes a handshake verified against ca.crt, then every application's
 * self-test, hearth_apps_selftest(), e.g. a control loop ticking) and confirm it
 * (hearth_slots_confirm: it becomes active and the minimum security version
 * advances). If a check fails, nothing is confirmed: hearth-boot reverts the
 * slot when its attempts run out or the confirmation deadline passes
 * (docs/boot.md). Not on trial: HEARTH_OK, nothing done.
 * @param[out] confirmed  true if a pending slot was confirmed now
 */
hearth_status hearth_updater_confirm_if_pending(const char *state_dir,
                                                const hearth_update_selftest *t,
                                                bool *confirmed) HEARTH_MUST_CHECK;

/**
 * The hearth-fetch program a transfer would run (explicit choice, then
 * $HEARTH_FETCH_PROGRAM, then the install location; docs/updates.md), for
 * the device program's sandbox, which must leave it executable.
 * @return HEARTH_OK, or an error when there is none (as for a transfer).
 */
hearth_status hearth_updater_fetch_program(char *out, size_t cap) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
