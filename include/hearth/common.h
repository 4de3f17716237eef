/**
 * @file common.h
 * @brief Status codes, guard macros and secret-handling helpers shared by every
 *        libhearth module.
 *
 * Conventions (docs/architecture.md): every fallible function returns a
 * ::hearth_status, 0 on success, and is marked ::HEARTH_MUST_CHECK. A human
 * readable reason for the last failure on this thread is kept by
 * hearth_err_set() and read with hearth_err_msg(); it never contains secrets.
 */
#ifndef HEARTH_COMMON_H
#define HEARTH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_MUST_CHECK __attribute__((warn_unused_result))
#define HEARTH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/** One status type for the whole library. 0 is success; every error < 0. */
typedef enum {
    HEARTH_OK = 0,
    HEARTH_ERR_INVALID = -1,     /**< malformed or out-of-range input */
    HEARTH_ERR_IO = -2,          /**< file system or OS error */
    HEARTH_ERR_CRYPTO = -3,      /**< a cryptographic primitive failed */
    HEARTH_ERR_NOMEM = -4,       /**< allocation failed */
    HEARTH_ERR_TAMPERED = -5,    /**< integrity/authenticity check failed */
    HEARTH_ERR_NOT_FOUND = -6,   /**< no such item */
    HEARTH_ERR_EXISTS = -7,      /**< item already exists */
    HEARTH_ERR_AUTH = -8,        /**< authentication failed */
    HEARTH_ERR_LOCKED = -9,      /**< rate limited / temporarily locked out */
    HEARTH_ERR_BUSY = -10,       /**< resource cap reached, retry later */
    HEARTH_ERR_RANGE = -11,      /**< value outside the allowed range */
    HEARTH_ERR_STATE = -12,      /**< operation not allowed in current state */
    HEARTH_ERR_TOO_LARGE = -13,  /**< input exceeds a documented bound */
    HEARTH_ERR_UNSUPPORTED = -14,/**< algorithm/format/version not supported */
    HEARTH_ERR_ROLLBACK = -15,   /**< version older than allowed */
    HEARTH_ERR_EXPIRED = -16,    /**< signature/manifest/session expired */
    HEARTH_ERR_FORBIDDEN = -17,  /**< authenticated but role not allowed */
    HEARTH_ERR_POLICY = -18,     /**< rejected by policy (e.g. weak password) */
    HEARTH_ERR_REVOKED = -19,    /**< key or credential revoked */
    HEARTH_ERR_INTERNAL = -20    /**< invariant broken: a bug */
} hearth_status;

/** Short stable identifier for a status ("invalid", "tampered", ...). */
const char *hearth_status_name(hearth_status st);

/**
 * Record a reason for the current failure (thread-local, truncated to 255
 * bytes). Must never be given a secret.
 * @return @p st, so callers can `return hearth_err(st, "...")`.
 */
hearth_status hearth_err(hearth_status st, const char *fmt, ...) HEARTH_PRINTF(2, 3);
#ifdef __clang_analyzer__
/* Seen only by clang-tidy and the clang static analyser, never compiled: the
 * contract above (hearth_err returns @p st), which the analyser cannot see
 * across translation units. Without it, every `return hearth_err(X, ...)`
 * may return HEARTH_OK to the analyser, and it reports the paths that follow
 * (docs/static-analysis.md). */
#define hearth_err(st, ...)                                                    \
    __extension__({                                                            \
        hearth_status hearth_err_st_ = (st);                                   \
        (void)(hearth_err)(hearth_err_st_, __VA_ARGS__);                       \
        hearth_err_st_;                                                        \
    })
#endif
/** The last reason set on this thread, or "" */
const char *hearth_err_msg(void);
/** Clear the thread's reason. */
void hearth_err_clear(void);

/** Propagate a failure: `HEARTH_GUARD(hearth_x(...));` */
#define HEARTH_GUARD(expr)                                                     \
    do {                                                                       \
        hearth_status guard_st_ = (expr);                                      \
        if (guard_st_ != HEARTH_OK) return guard_st_;                          \
    } while (0)
/** Fail with @p st unless @p cond holds. */
#define HEARTH_ENSURE(cond, st)                                                \
    do {                                                                       \
        if (!(cond)) return (st);                                              \
    } while (0)
/** Jump to a cleanup label on failure, keeping the status in @p var. */
#define HEARTH_GUARD_GOTO(var, expr, label)                                    \
    do {                                                                       \
        (var) = (expr);                                                        \
        if ((var) != HEARTH_OK) goto label;                                    \
    } while (0)

/** Wipe memory in a way the compiler cannot elide (OPENSSL_cleanse). */
void hearth_memzero(void *p, size_t n);
/** Constant-time equality of two equal-length buffers; true if equal. */
bool hearth_ct_equal(const void *a, const void *b, size_t n) HEARTH_MUST_CHECK;
/** Fill @p buf with @p n bytes from the OS CSPRNG (OpenSSL RAND_bytes). */
hearth_status hearth_random(void *buf, size_t n) HEARTH_MUST_CHECK;
/** Uniform random integer in [0, bound) without modulo bias; bound > 0. */
hearth_status hearth_random_uniform(uint32_t bound, uint32_t *out) HEARTH_MUST_CHECK;

/** Seconds since the epoch (wall clock, CLOCK_REALTIME). */
int64_t hearth_time_now(void);
/** Monotonic milliseconds (CLOCK_MONOTONIC), for delays and deadlines. */
int64_t hearth_mono_ms(void);

/** Software version of this build, e.g. "0.1.0". */
const char *hearth_version(void);

#ifdef __cplusplus
}
#endif
#endif
