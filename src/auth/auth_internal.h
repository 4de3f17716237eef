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

#include "hearth/auth.h"
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

#ifdef HEARTH_TEST_HOOKS
/* Defined only in the unit tests' build of auth.c/pwhash.c (object library
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
