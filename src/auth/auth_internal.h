/**
 * @file auth_internal.h
 * @brief Internals of src/auth shared between its files, and TEST HOOKS.
 *
 * Nothing here is part of the public contract (include/hearth/auth.h). The
 * hooks exist so unit tests can run the real code paths fast and
 * deterministically: a lower Argon2id cost, a counter of hash computations
 * (to prove an attempt was rejected WITHOUT hashing), an injectable random
 * source for the limiter and a pause point inside the hashing slot. They
 * are compiled only with HEARTH_TEST_HOOKS, which only the unit tests' object
 * library sets; the record decoders at the end are pure functions (no state
 * changed) and stay for the fuzz harnesses. The daemon and tools never
 * include this header.
 */
#ifndef HEARTH_AUTH_INTERNAL_H
#define HEARTH_AUTH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "hearth/auth.h"
#include "hearth/util.h"
#include "ratelimit.h"

/** libsodium initialisation, once per process (pthread_once). */
hearth_status hearth_auth_sodium_init(void) HEARTH_MUST_CHECK;

/**
 * true if @p hash was made with other parameters (or algorithm) than the
 * current ones, so a successful login should store a fresh hash.
 */
bool hearth_pw_needs_rehash(const char *hash);

/** Username syntax: [a-z0-9._-]{1,32}. */
bool hearth_auth_username_valid(const char *user);

/* ================================================================ module
 * The state and functions the files of src/auth share. Which file holds what:
 *   auth.c      the handle: configuration, open/close, clocks, the two locks,
 *               hashing slots, account look-up, test hooks
 *   records.c   the store record formats: encoders, decoders, reading them
 *   persist.c   writing: the batch committed outside the lock, the limiter
 *               record, loading everything at open
 *   sessions.c  the session table, tokens, hearth_auth_session/_logout
 *   flows.c     the password checks: factory default, setup, login, change
 *   users.c     user management by an admin
 *
 * Concurrency: `mu` guards the in-memory state and is what every request
 * takes (a session look-up); it is never held across a store commit.
 * `persist_mu` orders the writers: an operation that changes persisted state
 * takes it first, builds its batch under `mu`, commits with `mu` released and
 * applies the result under `mu` again, so no other writer can interleave and
 * memory only ever holds what the store holds (plus, during a commit, a
 * tentative state nobody has been told about). Argon2id runs with the mutex
 * RELEASED, inside one of hash_concurrency slots (an atomic counter; no slot
 * free -> HEARTH_ERR_BUSY at once). Every password check is admitted by the
 * limiter before hashing and settled after it, so rejected attempts cost no
 * hash and are not counted as guesses.
 *
 * Records (docs/authentication.md):
 *   auth.state       u8 version, u8 state (1 factory default, 2 initialized)
 *   auth.setup       Argon2id encoded hash of the setup password (factory only)
 *   auth.user.<name> u8 version, u8 role, u64 created, u16 len, encoded hash
 *   auth.sessions    u8 version, u16 n, n x (32 SHA-256(token), u8 len, name,
 *                    u64 created, u64 expires)
 *   auth.ratelimit   limiter state, fixed size (ratelimit.c)
 */
#define AUTH_REC_STATE "auth.state"
#define AUTH_REC_SETUP "auth.setup"
#define AUTH_REC_SESSIONS "auth.sessions"
#define AUTH_REC_RL "auth.ratelimit"
#define AUTH_USER_PREFIX "auth.user."
#define AUTH_FMT_VERSION 1
#define AUTH_STATE_FACTORY 1
#define AUTH_STATE_INITIALIZED 2
#define AUTH_USERS_LIMIT 64     /* hard bound of users_max (store has 256 records) */
#define AUTH_SESSIONS_LIMIT 256 /* hard bound of sessions_max (record stays < 64 KiB) */
#define AUTH_SERIAL_MAX 128
/* Most records one operation writes at once (setup: account, setup
 * password, state, limiter). */
#define AUTH_BATCH_MAX 4

typedef struct {
    char name[HEARTH_USERNAME_MAX + 1];
    hearth_role role;
    int64_t created;
    char hash[HEARTH_PW_HASH_MAX];
} auth_user;

typedef struct {
    uint8_t th[32]; /* SHA-256 of the token; the token itself is never kept */
    char user[HEARTH_USERNAME_MAX + 1];
    int64_t created;
    int64_t expires;
} auth_session;

struct hearth_auth {
    pthread_mutex_t mu;
    pthread_mutex_t persist_mu; /* writers, taken before mu (see above) */
    bool rl_dirty;              /* failures counted in memory, not yet in the store */
    bool rl_written;            /* rl_written_ms is meaningful */
    int64_t rl_written_ms;      /* limiter clock of the last write of auth.ratelimit */
    hearth_store *st;
    hearth_auth_config cfg;
    char serial[AUTH_SERIAL_MAX + 1];
    bool initialized;
    char setup_hash[HEARTH_PW_HASH_MAX];
    char dummy_hash[HEARTH_PW_HASH_MAX];
    auth_user users[AUTH_USERS_LIMIT];
    uint32_t nusers;
    auth_session sessions[AUTH_SESSIONS_LIMIT];
    uint32_t nsessions;
    hearth_rl *rl;
    atomic_uint hashing;
#ifdef HEARTH_TEST_HOOKS
    void (*hash_hook)(void *);
    void *hash_hook_arg;
#endif
};

/* --- auth.c: the handle */

/** Wall-clock seconds (cfg.now, or the system clock). */
int64_t auth_now(const hearth_auth *a);
/** The limiter's clock in ms: monotonic, so stepping the wall clock neither
 * ends a delay nor stretches one. */
int64_t auth_mono_ms(const hearth_auth *a);
/** Tell the limiter wall - monotonic, for its record (which holds wall-clock times). */
void auth_rl_sync_offset(hearth_auth *a);
/** `mu` only: a reader, or the in-memory phase of a writer. */
void auth_lock(hearth_auth *a);
void auth_unlock(hearth_auth *a);
/** Both locks, in their order (`persist_mu`, then `mu`): the phase of an
 * operation that commits. */
void auth_wlock(hearth_auth *a);
void auth_wunlock(hearth_auth *a);
/** The account named @p name, or NULL (also for an invalid name). Under mu. */
auth_user *auth_find_user(hearth_auth *a, const char *name);
/** Take a hashing slot (HEARTH_ERR_BUSY if all are in use); no lock held. */
hearth_status auth_slot_acquire(hearth_auth *a) HEARTH_MUST_CHECK;
void auth_slot_release(hearth_auth *a);
/** @p v in decimal, for event fields. */
void auth_u64str(uint64_t v, char out[24]);

/* --- records.c: the store record formats */

/** "auth.user.<user>". */
void auth_user_record_name(const char *user, char out[HEARTH_STORE_NAME_MAX + 1]);
hearth_status auth_enc_state(uint8_t state, hearth_buf *b) HEARTH_MUST_CHECK;
hearth_status auth_enc_user(const auth_user *u, hearth_buf *b) HEARTH_MUST_CHECK;
hearth_status auth_enc_sessions(const hearth_auth *a, hearth_buf *b) HEARTH_MUST_CHECK;
/** hearth_store_foreach visitor for "auth.user.*" (@p arg: the hearth_auth):
 * decodes the record and appends the account. */
hearth_status auth_load_user(const char *name, const uint8_t *val, size_t len,
                             void *arg) HEARTH_MUST_CHECK;
/** Decode an "auth.sessions" record into the session table (the newest
 * sessions_max kept). Sessions are only a convenience: a malformed record
 * leaves the table empty (everyone logs in again) and returns its error. */
hearth_status auth_load_sessions(hearth_auth *a, const uint8_t *val, size_t len) HEARTH_MUST_CHECK;
/** The whole record @p name, in a malloc'd buffer the caller frees. */
hearth_status auth_read_record(hearth_store *st, const char *name, uint8_t **out,
                               size_t *len) HEARTH_MUST_CHECK;
/** The auth.state record (HEARTH_ERR_STATE: none, not provisioned). */
hearth_status auth_read_state(hearth_store *st, uint8_t *state) HEARTH_MUST_CHECK;

/* --- persist.c: writing the store */

/** The records one operation commits in one store transaction. */
typedef struct {
    hearth_store_op ops[AUTH_BATCH_MAX];
    hearth_buf bufs[AUTH_BATCH_MAX];
    char names[AUTH_BATCH_MAX][HEARTH_STORE_NAME_MAX + 1];
    size_t n;
    bool overflow;    /* more than AUTH_BATCH_MAX records asked for: commit refuses */
    bool has_rl;      /* carries auth.ratelimit */
    hearth_buf spill; /* handed out when full; max 0, so every write to it fails */
} auth_batch;

void auth_batch_init(auth_batch *b);
/** A buffer for the new value of record @p name. */
hearth_buf *auth_batch_put(auth_batch *b, const char *name);
/** Delete record @p name in this batch. */
void auth_batch_delete(auth_batch *b, const char *name);
hearth_status auth_batch_add_user(auth_batch *b, const auth_user *u) HEARTH_MUST_CHECK;
/**
 * Finish an operation's write: if @p s (the status of building @p b) is
 * HEARTH_OK, commit @p b, with @p source's successful check (ticket @p t)
 * in the limiter record if @p source is given. mu is released during the
 * commit. The success counts in the limiter only once committed; otherwise
 * the ticket is handed back (not committed: the check did not happen).
 * Frees @p b. Called under wlock.
 */
hearth_status auth_batch_finish(hearth_auth *a, auth_batch *b, hearth_status s,
                                const char *source, const hearth_rl_ticket *t) HEARTH_MUST_CHECK;
/**
 * auth_batch_finish() with the session table as it is now added to @p b;
 * if that fails the table is put back as it was in @p saved (@p nsaved
 * entries), so memory never runs ahead of the store; with @p saved NULL the
 * caller puts it back. Called under wlock.
 */
hearth_status auth_commit_sessions(hearth_auth *a, auth_batch *b, hearth_status s,
                                   const auth_session *saved, uint32_t nsaved,
                                   const char *source,
                                   const hearth_rl_ticket *t) HEARTH_MUST_CHECK;
/**
 * Revoke @p user's sessions (all but the one hashing to @p keep, if any)
 * and commit that in ONE store transaction with the account's new record
 * @p put or the deletion of record @p del (and the limiter success, see
 * auth_batch_finish). *revoked: how many went. Called under wlock.
 */
hearth_status auth_commit_revoking(hearth_auth *a, const char *user, const uint8_t *keep,
                                   const auth_user *put, const char *del, const char *source,
                                   const hearth_rl_ticket *t, uint32_t *revoked) HEARTH_MUST_CHECK;
/**
 * Write the limiter state if failures are pending and the last write is
 * old enough (rl_persist_interval_s), or @p force. Called under wlock.
 */
void auth_persist_rl_due(hearth_auth *a, bool force);
/** Read every record into a freshly opened handle. */
hearth_status auth_load(hearth_auth *a) HEARTH_MUST_CHECK;

/* --- sessions.c: the session table */

/** Drop sessions until at most @p max are left, oldest first. */
void auth_sessions_keep_newest(hearth_auth *a, uint32_t max);
/** Revoke every session of @p user except the one hashing to @p keep (if
 * not NULL); returns how many went. */
uint32_t auth_sessions_revoke_user(hearth_auth *a, const char *user, const uint8_t *keep);
/** SHA-256 of a well-formed token; false for anything else. */
bool auth_token_hash(const char *token, uint8_t th[32]);
/**
 * The live session hashing to @p th and its account (under mu):
 * HEARTH_ERR_AUTH (unknown, revoked, account gone) or HEARTH_ERR_EXPIRED.
 */
hearth_status auth_session_lookup(hearth_auth *a, const uint8_t th[32], const auth_session **sess,
                                  auth_user **user) HEARTH_MUST_CHECK;
/**
 * A new session of @p user, made room for at the expense of that account
 * only; the token goes to @p token, the entry to *out. Under wlock.
 */
hearth_status auth_session_create(hearth_auth *a, const char *user, int64_t now,
                                  char token[HEARTH_TOKEN_STR_MAX],
                                  auth_session *out) HEARTH_MUST_CHECK;
/** The "session_revoked" event for @p count sessions of @p user. */
void auth_log_revoked(const char *user, const char *reason, uint32_t count);

/* --- flows.c: password checks */

/**
 * Give account @p cu the password hash @p hash and revoke its sessions (all
 * but the one hashing to @p keep) in one commit (with @p source's limiter
 * success if given); then log "password_changed" (by @p by) and the
 * revocation with @p reason. Called under wlock.
 */
hearth_status auth_password_replace(hearth_auth *a, auth_user *cu,
                                    const char hash[HEARTH_PW_HASH_MAX], const uint8_t *keep,
                                    const char *by, const char *source,
                                    const hearth_rl_ticket *t,
                                    const char *reason) HEARTH_MUST_CHECK;

#ifdef HEARTH_TEST_HOOKS
/* Defined only in the unit tests' build of src/auth (object library
 * hearth_auth_test_hooks); absent from libhearth and every program. */
/**
 * TEST ONLY: use another Argon2id cost for every hash made from now on
 * (0, 0 restores HEARTH_ARGON2_OPSLIMIT / HEARTH_ARGON2_MEMLIMIT). Verifying
 * always uses the parameters encoded in the hash, as in production.
 */
void hearth_auth_test_set_pwhash_cost(unsigned long long opslimit, size_t memlimit);
/** TEST ONLY: number of Argon2id computations (hash or verify) so far. */
uint64_t hearth_auth_test_hash_count(void);
/** TEST ONLY: replace the limiter's random source. */
void hearth_auth_test_set_rand(hearth_auth *a, hearth_rl_rand_fn fn, void *arg);
/** TEST ONLY: @p fn runs inside a hashing slot, before the hash, with no lock held. */
void hearth_auth_test_set_hash_hook(hearth_auth *a, void (*fn)(void *arg), void *arg);
/** TEST ONLY: consecutive failures the limiter holds for @p source. */
uint32_t hearth_auth_test_rl_failures(hearth_auth *a, const char *source);
/** TEST ONLY: entries in use in the limiter's per-source table. */
uint32_t hearth_auth_test_rl_used(hearth_auth *a);
#endif

/**
 * FUZZ/TEST ONLY: what hearth_auth_open() does with one "auth.user.<name>"
 * record, without a store: @p record_name is the full record name. On
 * success *loaded is 1 and, if @p reenc is not NULL, the account is
 * re-encoded into it by the real encoder; on failure *loaded is 0.
 */
hearth_status hearth_auth_test_decode_user(const char *record_name, const uint8_t *val,
                                           size_t len, uint32_t *loaded,
                                           hearth_buf *reenc) HEARTH_MUST_CHECK;
/**
 * FUZZ/TEST ONLY: what hearth_auth_open() does with the "auth.sessions"
 * record for a given sessions_max: *kept is the number of sessions held
 * afterwards (0 after a malformed record) and @p reenc, if not NULL, gets
 * that in-memory state re-encoded by the real encoder (also on failure).
 */
hearth_status hearth_auth_test_decode_sessions(const uint8_t *val, size_t len,
                                               uint32_t sessions_max, uint32_t *kept,
                                               hearth_buf *reenc) HEARTH_MUST_CHECK;

#endif
