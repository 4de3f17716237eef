/* Rate limiting of the enrolment endpoint (docs/operational-identity.md
 * "Rate limiting"): one token bucket per device identity and one per client
 * address, each in a fixed-size table, so a request costs no signature and
 * no fsync once its device or its address has used up its allowance, and a
 * flood of distinct keys cannot grow memory.
 *
 * A bucket holds up to `burst` tokens and gets one back every `refill_s`
 * seconds; a request takes one token from its device's bucket and one from
 * its address's, and only when both have one (a refused request takes
 * none). Kept as the generic cell rate algorithm: per key only the time at
 * which its bucket will be full again ("tat"); a key whose bucket is full is
 * the same as an absent one. */
#ifndef HEARTH_FLEET_RATELIMIT_H
#define HEARTH_FLEET_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/common.h"

/** Defaults: a device renews about every 4.7 days (2/3 of 7 days); 5 in a
 *  row, then one every 10 minutes, covers restarts and retries. */
#define FLEET_RATE_DEVICE_BURST 5u
#define FLEET_RATE_DEVICE_REFILL_S 600u
/** An address may front many devices (a NAT): 60 in a row, one a second. */
#define FLEET_RATE_ADDRESS_BURST 60u
#define FLEET_RATE_ADDRESS_REFILL_S 1u
/** Entries per table (device, address): 72 bytes each. */
#define FLEET_RATE_SLOTS 4096u
#define FLEET_RATE_SLOTS_MIN 2u
#define FLEET_RATE_SLOTS_MAX 65536u
#define FLEET_RATE_BURST_MAX 100000u
#define FLEET_RATE_REFILL_MAX_S 86400u
/** A key: a device serial (<= 32), "!" + 40 hex digits, or an address. */
#define FLEET_RATE_KEY_MAX 48

/** One limit: @p burst tokens, one back every @p refill_s seconds; burst 0:
 *  no limit. */
typedef struct {
    uint32_t burst;
    uint32_t refill_s;
} fleet_rate_rule;

typedef struct fleet_rate_table fleet_rate_table;

/** The limiter of one enrol-server: a table per device and per address. */
typedef struct {
    fleet_rate_table *device;
    fleet_rate_table *address;
    unsigned long refused;   /**< requests answered 429 */
    unsigned long evicted;   /**< entries dropped from a full table while not yet full again */
} fleet_rate;

/**
 * Allocate both tables (@p slots entries each; FLEET_RATE_SLOTS_MIN ..
 * FLEET_RATE_SLOTS_MAX). The only allocation: nothing grows afterwards.
 */
hearth_status fleet_rate_init(fleet_rate *r, const fleet_rate_rule *device, const fleet_rate_rule *address,
                              size_t slots) HEARTH_MUST_CHECK;
void fleet_rate_free(fleet_rate *r);

/**
 * The decision for one request at monotonic time @p now_ms: true (admitted,
 * one token taken from each bucket) or false (refused, nothing taken;
 * *@p retry_after_s: whole seconds, at least 1, until both buckets hold a
 * token again; *@p which: "device" or "address", the one that ran out).
 * A key not in its table takes a free entry, else one whose bucket is full
 * again (nothing is forgotten), else the least recently used one: that key
 * starts over with a full bucket when it comes back.
 */
bool fleet_rate_admit(fleet_rate *r, const char *device_key, const char *address_key, int64_t now_ms,
                      uint32_t *retry_after_s, const char **which) HEARTH_MUST_CHECK;


#endif
