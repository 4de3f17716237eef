/**
 * @file backoff.h
 * @brief The one retry policy of every path that talks to a service (MQTT
 *        connect, update checks and downloads, telemetry flush, enrolment):
 *        exponential backoff with full jitter (EN 303 645 5.9-1, 5.9-3).
 *
 * The delay before retry n (n = 1, 2, ...) is uniform in [0, W(n)] where
 * W(n) = min(cap, base * 2^(n-1)), computed in saturating 64-bit arithmetic
 * so no attempt count, however large, wraps to a short delay (a LoRa stack
 * computed `(1 << n) * 60` and retried every minute after 26 h offline).
 *
 * Beyond plain full jitter (AWS's "exponential backoff and jitter" study):
 *  - the first attempt after power is restored, and after a disconnect the
 *    whole fleet saw at once (a broker restart), waits a random first delay
 *    in [0, first_max] so a fleet does not come back in lock step; until
 *    the count next resets, failures then draw from windows of at least
 *    first_max (W(n + s) with s the doublings from base to first_max), so
 *    the fleet's retries are not squeezed back into 1 s windows;
 *  - the attempt count is reset only after a connection stayed up for
 *    stable_ms (AWS CRT: 30 s), so a broker that accepts and then drops
 *    (a permission failure after CONNACK) cannot cause a tight loop;
 *  - an authentication or authorisation refusal uses the longer
 *    refused_base/refused_cap schedule and logs a security event
 *    ("service_auth_refused"): a fleet retrying a bad credential every
 *    second once reached 50,000 attempts a minute against its own broker;
 *  - a server that says it is busy (MQTT 5 0x89 server busy, 0x97 quota
 *    exceeded, 0x9F connection rate exceeded; HTTP 429/503) is honoured: the
 *    delay is max(hint, W(n)) + uniform[0, W(n)]: at least the server's
 *    hint (Retry-After, Server Keep Alive; bounded to
 *    HEARTH_BACKOFF_REFUSED_CAP_MS) and the whole current window, with the
 *    jitter on top so a fleet given the same hint does not return at once.
 *
 * The clock and the random source are injectable (hearth_backoff_config) so
 * unit tests assert the distribution, not just a range. The state is a
 * caller-owned struct; nothing allocates. Not thread-safe: one retry path
 * owns one hearth_backoff. Documented in docs/backoff.md.
 */
#ifndef HEARTH_BACKOFF_H
#define HEARTH_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Defaults (docs/backoff.md says why each). */
#define HEARTH_BACKOFF_BASE_MS 1000u          /**< first window */
#define HEARTH_BACKOFF_CAP_MS 120000u         /**< largest window: 2 min */
#define HEARTH_BACKOFF_REFUSED_BASE_MS 60000u /**< after an auth refusal: 1 min */
#define HEARTH_BACKOFF_REFUSED_CAP_MS 3600000u /**< ... up to 1 h */
#define HEARTH_BACKOFF_STABLE_MS 30000u       /**< connected this long resets the count */
#define HEARTH_BACKOFF_FIRST_MAX_MS 30000u    /**< random first delay window */

/** A uniform 64-bit random value (default: OpenSSL's RAND_bytes). */
typedef uint64_t (*hearth_backoff_rand_fn)(void *arg);
/** Monotonic milliseconds (default: hearth_mono_ms()). */
typedef int64_t (*hearth_backoff_clock_fn)(void *arg);

/** Policy; fill with hearth_backoff_config_default() and adjust. */
typedef struct {
    const char *name;         /**< retry path for the security event ("mqtt", "update-check") */
    uint64_t base_ms;         /**< > 0 */
    uint64_t cap_ms;          /**< >= base_ms */
    uint64_t refused_base_ms; /**< > 0 */
    uint64_t refused_cap_ms;  /**< >= refused_base_ms */
    uint64_t stable_ms;       /**< connected at least this long before the count resets */
    uint64_t first_max_ms;    /**< random first delay in [0, first_max_ms]; 0: none */
    hearth_backoff_rand_fn rand;   /**< NULL: RAND_bytes */
    void *rand_arg;
    hearth_backoff_clock_fn clock; /**< NULL: hearth_mono_ms */
    void *clock_arg;
} hearth_backoff_config;

/** Why an attempt failed. */
typedef enum {
    HEARTH_BACKOFF_FAILED = 0,   /**< network error, timeout, connection refused, TLS failure */
    HEARTH_BACKOFF_REFUSED_AUTH, /**< the service refused our identity or rights (MQTT 0x86,
                                      0x87, 0x8C, 0x05/0x04 in 3.1.1; HTTP 401/403) */
    HEARTH_BACKOFF_BUSY,         /**< the service asked us to slow down (MQTT 0x89, 0x97, 0x9F;
                                      HTTP 429/503), optionally with a hint */
} hearth_backoff_reason;

/** The state of one retry path. Treat the fields as private. */
typedef struct {
    hearth_backoff_config cfg;
    uint32_t attempts;        /**< failed attempts since the last reset */
    bool refused;             /**< the last failure was an auth refusal */
    bool connected;
    int64_t connected_at_ms;
    uint32_t spread;          /**< doublings added to n after a first delay */
} hearth_backoff;

/** Fill @p cfg with the defaults above and @p name. */
void hearth_backoff_config_default(hearth_backoff_config *cfg, const char *name);

/**
 * Check @p cfg (bounds above; HEARTH_ERR_INVALID with a message) and start
 * @p b with no failed attempts.
 */
hearth_status hearth_backoff_init(hearth_backoff *b, const hearth_backoff_config *cfg) HEARTH_MUST_CHECK;

/**
 * The upper bound of the jitter window for failed attempt @p n (1-based)
 * on a base/cap schedule, saturating: min(cap, base * 2^(n-1)); 0 for n = 0.
 */
uint64_t hearth_backoff_window_ms(uint64_t base_ms, uint64_t cap_ms, uint32_t n);

/**
 * Delay before the first attempt after power-up or after a fleet-wide
 * disconnect: uniform in [0, first_max_ms]. Until the count next resets,
 * failed attempts use windows of at least first_max_ms (see above).
 */
uint64_t hearth_backoff_first_delay(hearth_backoff *b);

/**
 * Record a failed attempt and return the delay before the next one.
 * @param[in] why          what failed (see ::hearth_backoff_reason)
 * @param[in] server_hint_ms  for HEARTH_BACKOFF_BUSY: the server's requested
 *                         wait (0: none); ignored otherwise
 * A refusal logs the security event "service_auth_refused" with the path's
 * name and the attempt count.
 */
uint64_t hearth_backoff_failed(hearth_backoff *b, hearth_backoff_reason why, uint64_t server_hint_ms);

/** The attempt succeeded: the connection is up (starts the stability timer). */
void hearth_backoff_connected(hearth_backoff *b);

/**
 * The connection went down. If it had been up at least stable_ms the count
 * resets; the return value is the delay before reconnecting: the random
 * first delay when @p fleet_wide (the broker went away for everyone), else
 * as hearth_backoff_failed(b, HEARTH_BACKOFF_FAILED, 0) would give.
 */
uint64_t hearth_backoff_disconnected(hearth_backoff *b, bool fleet_wide);

/** Failed attempts since the last reset. */
uint32_t hearth_backoff_attempts(const hearth_backoff *b);

/**
 * The reason for the HTTP status @p status of a failed request: 401 and 403
 * HEARTH_BACKOFF_REFUSED_AUTH, 429 and 503 HEARTH_BACKOFF_BUSY, anything
 * else (0: no response at all) HEARTH_BACKOFF_FAILED.
 */
hearth_backoff_reason hearth_backoff_reason_http(long status);

/**
 * The reason for an MQTT CONNACK (or MQTT 5 DISCONNECT) code @p code.
 * MQTT 5 (@p v5): 0x86, 0x87, 0x8C HEARTH_BACKOFF_REFUSED_AUTH; 0x89, 0x97,
 * 0x9F HEARTH_BACKOFF_BUSY. MQTT 3.1.1 return codes: 0x04, 0x05
 * HEARTH_BACKOFF_REFUSED_AUTH. Everything else HEARTH_BACKOFF_FAILED.
 */
hearth_backoff_reason hearth_backoff_reason_mqtt(int code, bool v5);

#ifdef __cplusplus
}
#endif
#endif
