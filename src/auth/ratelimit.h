/**
 * @file ratelimit.h
 * @brief Brute-force limiter for password checks (EN 303 645 5.1-5), internal
 *        to src/auth.
 *
 * Two layers, both with fixed memory:
 *  - a per-source table of rl_sources entries (failure count, time of the
 *    last failure, end of the current delay). After rl_free_failures
 *    failures each new failure imposes a delay of
 *    min(2^(n - free), max_delay) seconds times a random factor in [1, 1.5).
 *    When the table is full the least-recently-failed entry is replaced, so
 *    a flood of source addresses cannot exhaust memory;
 *  - a device-wide token bucket (burst tokens, one more every refill_s
 *    seconds). Every password check reserves a token before hashing; a
 *    success gives it back, a failure keeps it. An empty bucket locks every
 *    source except the "known sources" (up to HEARTH_RL_KNOWN_MAX addresses
 *    that logged in successfully before), which keep their own per-source
 *    delay but are not stopped by a many-source attack.
 *
 * The random factor comes from a caller-supplied function so tests are
 * deterministic (coreMQTT backoffAlgorithm style). The state serializes to a
 * fixed-size record that depends only on the table size.
 */
#ifndef HEARTH_AUTH_RATELIMIT_H
#define HEARTH_AUTH_RATELIMIT_H

#include "hearth/common.h"
#include "hearth/util.h"

#define HEARTH_RL_SOURCE_MAX 63    /**< bytes of a source address, excl. NUL */
#define HEARTH_RL_KNOWN_MAX 8      /**< remembered successful sources */
#define HEARTH_RL_SOURCES_LIMIT 512 /**< upper bound of rl_sources (record size) */

/** Random integer in [0, bound); tests inject a deterministic one. */
typedef uint32_t (*hearth_rl_rand_fn)(uint32_t bound, void *arg);

typedef struct {
    uint32_t sources;        /**< table size, 1..HEARTH_RL_SOURCES_LIMIT */
    uint32_t free_failures;  /**< failures per source before delays start */
    uint32_t max_delay_s;    /**< cap of the exponential part, >= 1 */
    uint32_t global_burst;   /**< bucket capacity, >= 1 */
    uint32_t global_refill_s;/**< seconds per token, >= 1 */
} hearth_rl_params;

typedef struct hearth_rl hearth_rl;

/** What hearth_rl_begin() reserved; hand it back to _fail/_success/_abort. */
typedef struct {
    bool took_token;  /**< a device-wide token was reserved */
    bool known;       /**< the source is a known (previously successful) one */
} hearth_rl_ticket;

/** Result of a recorded failure, for logging. */
typedef struct {
    uint32_t failures;   /**< consecutive failures of this source now */
    uint32_t delay_ms;   /**< delay imposed on the source (0: none) */
    bool device_locked;  /**< the device-wide bucket is now empty */
} hearth_rl_outcome;

hearth_status hearth_rl_new(const hearth_rl_params *p, hearth_rl **out) HEARTH_MUST_CHECK;
void hearth_rl_free(hearth_rl *rl);
/** Replace the random source (default: hearth_random_uniform). */
void hearth_rl_set_rand(hearth_rl *rl, hearth_rl_rand_fn fn, void *arg);

/**
 * Admit one password check from @p source at @p now_ms or refuse it.
 * Every @p now_ms of this API is clamped to 1970..9999 (see hearth_rl_load),
 * so the state only ever holds times a saved record may carry.
 * @return HEARTH_OK with a reservation in @p t, or HEARTH_ERR_LOCKED with
 *         *retry_after_s (>= 1) when the source is in a delay, already has a
 *         check in flight after its free failures, or the device bucket is
 *         empty (and the source is not known). Nothing is counted then.
 */
hearth_status hearth_rl_begin(hearth_rl *rl, const char *source, int64_t now_ms,
                              hearth_rl_ticket *t, uint32_t *retry_after_s) HEARTH_MUST_CHECK;
/** The admitted check did not happen (policy error, busy): undo the reservation. */
void hearth_rl_abort(hearth_rl *rl, const char *source, const hearth_rl_ticket *t);
/** The admitted check failed: count it and maybe impose a delay. */
void hearth_rl_fail(hearth_rl *rl, const char *source, int64_t now_ms, const hearth_rl_ticket *t,
                    hearth_rl_outcome *out);
/** The admitted check succeeded: reset the source, refund, remember it as known. */
void hearth_rl_success(hearth_rl *rl, const char *source, int64_t now_ms,
                       const hearth_rl_ticket *t);

/** Number of entries in use in the per-source table (<= sources). */
uint32_t hearth_rl_used(const hearth_rl *rl);
/** Tokens left in the device-wide bucket at @p now_ms. */
uint32_t hearth_rl_tokens(hearth_rl *rl, int64_t now_ms);
/** Consecutive failures recorded for @p source (0 if none/evicted). */
uint32_t hearth_rl_failures(const hearth_rl *rl, const char *source);

/**
 * Clocks: the limiter runs on the caller's MONOTONIC clock (auth passes
 * hearth_mono_ms()), so a stepped wall clock neither ends nor stretches a
 * delay. The record holds wall-clock times (a restart resets the monotonic
 * clock): save adds @p wall_off_ms (wall - monotonic, now) to every time and
 * load subtracts it. 0 keeps times as they are.
 */
void hearth_rl_set_wall_offset(hearth_rl *rl, int64_t wall_off_ms);

/**
 * Serialize the state as it will be after hearth_rl_success() for @p source,
 * without changing @p rl: the success is applied only once the record that
 * holds it is committed.
 */
hearth_status hearth_rl_save_with_success(const hearth_rl *rl, const char *source, int64_t now_ms,
                                          const hearth_rl_ticket *t,
                                          hearth_buf *out) HEARTH_MUST_CHECK;

/** Fixed serialized size for a table of @p sources entries. */
size_t hearth_rl_record_size(uint32_t sources);
/** Serialize the whole state (in-flight marks are not persisted). */
hearth_status hearth_rl_save(const hearth_rl *rl, hearth_buf *out) HEARTH_MUST_CHECK;
/**
 * Load a serialized state. Fails with HEARTH_ERR_INVALID on a malformed
 * record (state unchanged), including one holding a time outside
 * 1970-01-01 .. 9999-12-31 (no clock writes those, and they would make the
 * interval arithmetic meaningless). A record written with another table size
 * is accepted: the most recently failed entries that fit are kept. Times
 * later than the caller's clock are legitimate (the clock may have gone
 * back) and are bounded where used: a delay never exceeds 1.5 x max_delay_s
 * + 1 s, the device bucket's next token never more than global_refill_s away.
 */
hearth_status hearth_rl_load(hearth_rl *rl, const uint8_t *data, size_t len) HEARTH_MUST_CHECK;
/** Fail-safe after an unreadable record: empty the device bucket. */
void hearth_rl_drain(hearth_rl *rl, int64_t now_ms);

#endif
