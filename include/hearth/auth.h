/**
 * @file auth.h
 * @brief Passwords, accounts, sessions and brute-force protection
 *        (EN 303 645 5.1-1, 5.1-3, 5.1-4, 5.1-5, 5.5-4, 5.5-5).
 *
 * All state lives in the secure store (records named "auth.*"), so it
 * survives restarts, brute-force counters included. Thread-safe: the daemon
 * calls these from a small pool of worker threads; no lock is held while a
 * password is being hashed. Design and limits: docs/authentication.md,
 * docs/threat-model.md.
 */
#ifndef HEARTH_AUTH_H
#define HEARTH_AUTH_H

#include "hearth/common.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Argon2id parameters: m=32 MiB, t=6, p=1, above OWASP's minimum (m=19 MiB,
 * t=2, p=1) and sized so a login takes 50-300 ms on the reference machine
 * (docs/authentication.md, bench/bench_pwhash). */
#define HEARTH_ARGON2_MEMLIMIT (32u * 1024u * 1024u)
#define HEARTH_ARGON2_OPSLIMIT 6u
#define HEARTH_PW_HASH_MAX 128   /**< encoded hash string incl. NUL */
#define HEARTH_PW_MIN 8          /**< NIST SP 800-63B minimum length */
#define HEARTH_PW_MAX 128        /**< accepted maximum (long passphrases) */
#define HEARTH_USERNAME_MAX 32   /**< [a-z0-9._-], 1..32 chars */
#define HEARTH_TOKEN_STR_MAX 48  /**< 256-bit token, base64url, incl. NUL */
#define HEARTH_SOURCE_MAX 64     /**< textual source address incl. NUL */

/** Hash a password with Argon2id (libsodium crypto_pwhash_str). */
hearth_status hearth_pw_hash(const char *pw, size_t len,
                             char out[HEARTH_PW_HASH_MAX]) HEARTH_MUST_CHECK;
/** HEARTH_OK if @p pw matches @p hash, HEARTH_ERR_AUTH otherwise. */
hearth_status hearth_pw_verify(const char *hash, const char *pw, size_t len) HEARTH_MUST_CHECK;
/**
 * NIST SP 800-63B policy for user-chosen passwords: 8..128 bytes of valid
 * UTF-8, not in the blocklist of common/breached passwords, not a trivial
 * pattern (one repeated character, a keyboard or numeric sequence), not the
 * username or the device serial. No composition rules. HEARTH_ERR_POLICY
 * with the reason in hearth_err_msg().
 */
hearth_status hearth_pw_policy_check(const char *pw, size_t len, const char *username,
                                     const char *serial) HEARTH_MUST_CHECK;
/** true if @p pw (case-insensitively) is in the built-in blocklist. */
bool hearth_pw_blocklisted(const char *pw, size_t len);

typedef enum { HEARTH_ROLE_USER = 1, HEARTH_ROLE_ADMIN = 2 } hearth_role;
/** "user" / "admin" */
const char *hearth_role_name(hearth_role r);

/** What a valid session token resolves to. */
typedef struct {
    char username[HEARTH_USERNAME_MAX + 1];
    hearth_role role;
    int64_t created;  /**< epoch seconds */
    int64_t expires;  /**< epoch seconds */
} hearth_session_info;

/** Tunables; hearth_auth_config_default() fills documented defaults. */
typedef struct {
    uint32_t session_ttl_s;         /**< default 3600 */
    uint32_t sessions_max;          /**< per device, default 64 */
    uint32_t sessions_per_user;     /**< per account, default 4 (1..sessions_max); a login
                                         evicts only its own account's oldest session */
    uint32_t users_max;             /**< default 16 */
    uint32_t hash_concurrency;      /**< simultaneous Argon2id hashes, default 2 */
    uint32_t rl_sources;            /**< fixed rate-limit table size, default 128 */
    uint32_t rl_free_failures;      /**< failures per source before delays, default 3 */
    uint32_t rl_max_delay_s;        /**< cap of the per-source delay, default 900 */
    uint32_t rl_global_burst;       /**< device-wide failure burst, default 9 (9 + one
                                         refill keeps any 60 s window at <= 10 guesses) */
    uint32_t rl_global_refill_s;    /**< seconds per device-wide token, default 44 (< 2000/day) */
    uint32_t rl_persist_interval_s; /**< limiter state written at most once per this many
                                         seconds after failures, default 60 (0..3600; 0: on
                                         every failure) */
    const char *serial;             /**< for the password policy, may be NULL */
    /** Wall-clock override for tests (NULL: hearth_time_now), epoch seconds:
     *  session times and the limiter record's times. */
    int64_t (*now)(void *arg);
    void *now_arg;
    /** Monotonic-clock override for tests, milliseconds (NULL: hearth_mono_ms(),
     *  or now() x 1000 when only @c now is overridden): the limiter's clock. */
    int64_t (*mono_ms)(void *arg);
    void *mono_arg;
} hearth_auth_config;

void hearth_auth_config_default(hearth_auth_config *cfg);

typedef struct hearth_auth hearth_auth;

/**
 * Factory provisioning: store the Argon2id hash of the setup password and
 * mark the device as in the factory-default state (one atomic commit).
 * HEARTH_ERR_EXISTS if the store already holds an authentication state.
 */
hearth_status hearth_auth_factory_init(hearth_store *st, const char *setup_pw) HEARTH_MUST_CHECK;
/**
 * As hearth_auth_factory_init() with the setup password's Argon2id hash
 * (@p verifier, "$argon2id$..."), already made: provisioning makes it once
 * for the store and the signed factory record, and a factory reset takes it
 * from that record (hearth/reset.h).
 */
hearth_status hearth_auth_factory_init_verifier(hearth_store *st,
                                                const char *verifier) HEARTH_MUST_CHECK;

/**
 * Load accounts, sessions and rate-limit state from @p st (@p cfg NULL:
 * defaults). HEARTH_ERR_STATE if the store was never provisioned with
 * hearth_auth_factory_init(); HEARTH_ERR_RANGE for an out-of-range tunable.
 */
hearth_status hearth_auth_open(hearth_store *st, const hearth_auth_config *cfg,
                               hearth_auth **out) HEARTH_MUST_CHECK;
void hearth_auth_close(hearth_auth *a);

/** false while the device is in the factory-default state. */
bool hearth_auth_initialized(hearth_auth *a);

/*
 * Every call that checks a password takes the client's @p source address. It
 * fails with HEARTH_ERR_LOCKED (and sets *retry_after_s) without hashing when
 * the source or the device is in a delay; with HEARTH_ERR_AUTH for a wrong
 * credential (the same for an unknown user, in the same time); with
 * HEARTH_ERR_BUSY when hash_concurrency hashes are already running.
 */

/**
 * Leave the factory-default state: check the setup password, create the
 * first admin account with a user-chosen password (policy-checked), and
 * retire the setup password for good.
 */
hearth_status hearth_auth_setup(hearth_auth *a, const char *source, const char *setup_pw,
                                const char *admin_user, const char *admin_pw,
                                uint32_t *retry_after_s) HEARTH_MUST_CHECK;
/**
 * Log in; on success writes a fresh 256-bit session token (base64url) to
 * @p token. Only its SHA-256 is stored.
 */
hearth_status hearth_auth_login(hearth_auth *a, const char *source, const char *user,
                                const char *pw, char token[HEARTH_TOKEN_STR_MAX],
                                hearth_session_info *info,
                                uint32_t *retry_after_s) HEARTH_MUST_CHECK;
/** Resolve a token; HEARTH_ERR_AUTH if unknown, HEARTH_ERR_EXPIRED if expired. */
hearth_status hearth_auth_session(hearth_auth *a, const char *token,
                                  hearth_session_info *info) HEARTH_MUST_CHECK;
/** Revoke one session. */
hearth_status hearth_auth_logout(hearth_auth *a, const char *token) HEARTH_MUST_CHECK;
/**
 * Change the caller's own password in one step (old password re-checked,
 * rate-limited). Revokes every other session of that account; the calling
 * session stays valid.
 */
hearth_status hearth_auth_change_password(hearth_auth *a, const char *source, const char *token,
                                          const char *old_pw, const char *new_pw,
                                          uint32_t *retry_after_s) HEARTH_MUST_CHECK;

/**
 * Re-check the password of the account behind session @p token before an
 * irreversible action (a factory reset): rate-limited like a login, a wrong
 * password counts as a guess (HEARTH_ERR_AUTH). Changes nothing.
 */
hearth_status hearth_auth_recheck(hearth_auth *a, const char *source, const char *token,
                                  const char *pw, uint32_t *retry_after_s) HEARTH_MUST_CHECK;

/* User management: @p actor must be an admin (HEARTH_ERR_FORBIDDEN). */
hearth_status hearth_auth_user_add(hearth_auth *a, const hearth_session_info *actor,
                                   const char *user, const char *pw,
                                   hearth_role role) HEARTH_MUST_CHECK;
/** Deleting a user revokes their sessions; the last admin cannot be deleted. */
hearth_status hearth_auth_user_delete(hearth_auth *a, const hearth_session_info *actor,
                                      const char *user) HEARTH_MUST_CHECK;
typedef void (*hearth_user_visit)(const char *user, hearth_role role, void *arg);
hearth_status hearth_auth_user_list(hearth_auth *a, const hearth_session_info *actor,
                                    hearth_user_visit fn, void *arg) HEARTH_MUST_CHECK;
/**
 * Force @p user's sessions out (all of them; the admin's own too if @p user
 * is the actor); *revoked: how many ended. HEARTH_ERR_NOT_FOUND: no such user.
 */
hearth_status hearth_auth_user_logout(hearth_auth *a, const hearth_session_info *actor,
                                      const char *user, uint32_t *revoked) HEARTH_MUST_CHECK;
/** Admin-initiated reset of another user's password; revokes their sessions. */
hearth_status hearth_auth_user_set_password(hearth_auth *a, const hearth_session_info *actor,
                                            const char *user,
                                            const char *pw) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
