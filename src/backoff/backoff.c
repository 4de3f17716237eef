/* The one retry policy: exponential backoff with full jitter, saturating
 * 64-bit windows, a random first delay, a reset only after a stable
 * connection, a longer schedule for authentication refusals and a floor for
 * servers that say they are busy. docs/backoff.md explains each choice. */
#include "hearth/backoff.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "hearth/util.h"

/* A busy server's hint is honoured up to this long: an hour is the longest
 * refusal window, and a hint of years (a broken or hostile proxy) must not
 * park a device for good. */
#define BACKOFF_HINT_MAX_MS HEARTH_BACKOFF_REFUSED_CAP_MS
/* No window may exceed this (30 days): a retry path that waits longer is a
 * configuration error, not a policy. */
#define BACKOFF_WINDOW_MAX_MS (30ull * 24 * 3600 * 1000)
/* Rejection sampling retries at most this often; with a real random source
 * the chance of reaching it is below 2^-64, and an injected source that
 * always returns a rejected value (a constant) cannot hang the caller. */
#define BACKOFF_REJECT_MAX 64

/* The default random source. If the DRBG fails, the top of the window is
 * returned: a long wait, never a tight retry loop. */
static uint64_t backoff_rand_default(void *arg)
{
    (void)arg;
    uint64_t v;
    if (RAND_bytes((unsigned char *)&v, (int)sizeof v) != 1) return UINT64_MAX;
    return v;
}

static int64_t backoff_clock_default(void *arg)
{
    (void)arg;
    return hearth_mono_ms();
}

static uint64_t backoff_rand(const hearth_backoff *b)
{
    return b->cfg.rand ? b->cfg.rand(b->cfg.rand_arg) : backoff_rand_default(NULL);
}

static int64_t backoff_now(const hearth_backoff *b)
{
    return b->cfg.clock ? b->cfg.clock(b->cfg.clock_arg) : backoff_clock_default(NULL);
}

/* The 128-bit product of a and c as high and low halves, in portable C
 * (no __int128 on 32-bit targets such as armhf), so every architecture
 * draws the same delays from the same random values. */
static void mul64(uint64_t a, uint64_t c, uint64_t *hi, uint64_t *lo)
{
    uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, c_lo = (uint32_t)c, c_hi = c >> 32;
    uint64_t ll = a_lo * c_lo, lh = a_lo * c_hi, hl = a_hi * c_lo, hh = a_hi * c_hi;
    uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
    *lo = (mid << 32) | (uint32_t)ll;
    *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

/* Uniform in [0, bound] without modulo bias: Lemire's multiply-high (the
 * high half of random * range) with rejection of the short final interval. */
static uint64_t backoff_uniform(const hearth_backoff *b, uint64_t bound)
{
    if (bound == 0) return 0;
    if (bound == UINT64_MAX) return backoff_rand(b);
    uint64_t range = bound + 1, hi, lo;
    mul64(backoff_rand(b), range, &hi, &lo);
    if (lo < range) {
        uint64_t threshold = (0 - range) % range; /* 2^64 mod range */
        for (int i = 0; lo < threshold && i < BACKOFF_REJECT_MAX; i++)
            mul64(backoff_rand(b), range, &hi, &lo);
    }
    return hi;
}

static uint64_t sat_add(uint64_t a, uint64_t c)
{
    return a > UINT64_MAX - c ? UINT64_MAX : a + c;
}

void hearth_backoff_config_default(hearth_backoff_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->name = name;
    cfg->base_ms = HEARTH_BACKOFF_BASE_MS;
    cfg->cap_ms = HEARTH_BACKOFF_CAP_MS;
    cfg->refused_base_ms = HEARTH_BACKOFF_REFUSED_BASE_MS;
    cfg->refused_cap_ms = HEARTH_BACKOFF_REFUSED_CAP_MS;
    cfg->stable_ms = HEARTH_BACKOFF_STABLE_MS;
    cfg->first_max_ms = HEARTH_BACKOFF_FIRST_MAX_MS;
}

hearth_status hearth_backoff_init(hearth_backoff *b, const hearth_backoff_config *cfg)
{
    if (!b || !cfg) return hearth_err(HEARTH_ERR_INVALID, "backoff: no state or configuration");
    if (!cfg->name || !cfg->name[0])
        return hearth_err(HEARTH_ERR_INVALID, "backoff: the retry path needs a name");
    if (cfg->base_ms == 0 || cfg->cap_ms < cfg->base_ms)
        return hearth_err(HEARTH_ERR_INVALID, "backoff %s: need 0 < base_ms <= cap_ms", cfg->name);
    if (cfg->refused_base_ms == 0 || cfg->refused_cap_ms < cfg->refused_base_ms)
        return hearth_err(HEARTH_ERR_INVALID,
                          "backoff %s: need 0 < refused_base_ms <= refused_cap_ms", cfg->name);
    if (cfg->cap_ms > BACKOFF_WINDOW_MAX_MS || cfg->refused_cap_ms > BACKOFF_WINDOW_MAX_MS ||
        cfg->first_max_ms > BACKOFF_WINDOW_MAX_MS || cfg->stable_ms > BACKOFF_WINDOW_MAX_MS)
        return hearth_err(HEARTH_ERR_INVALID, "backoff %s: a window over 30 days", cfg->name);
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    return HEARTH_OK;
}

uint64_t hearth_backoff_window_ms(uint64_t base_ms, uint64_t cap_ms, uint32_t n)
{
    if (n == 0) return 0;
    /* From n = 65 on, base * 2^(n-1) exceeds any 64-bit cap. */
    if (base_ms >= cap_ms || n > 64) return cap_ms;
    unsigned shift = n - 1; /* 0..63 */
    /* base * 2^shift <= cap exactly when base <= cap >> shift, so the
     * shift below never loses a bit. */
    if (base_ms > (cap_ms >> shift)) return cap_ms;
    return base_ms << shift;
}

uint64_t hearth_backoff_first_delay(hearth_backoff *b)
{
    /* The fleet is spread over first_max; its retries start from the
     * window that covers that spread, not from base again (with base 1 s
     * and first_max 30 s: 32 s), or a fleet spread over 30 s would come
     * back in 1, 2, 4 s windows and the early retries would pile up. */
    uint32_t s = 0;
    while (s < 64 && hearth_backoff_window_ms(b->cfg.base_ms, b->cfg.cap_ms, s + 1) < b->cfg.first_max_ms &&
           hearth_backoff_window_ms(b->cfg.base_ms, b->cfg.cap_ms, s + 1) < b->cfg.cap_ms)
        s++;
    b->spread = s;
    return backoff_uniform(b, b->cfg.first_max_ms);
}

/* Connected for at least stable_ms (a clock that went backwards is not). */
static bool backoff_stable(const hearth_backoff *b)
{
    if (!b->connected) return false;
    int64_t up = backoff_now(b) - b->connected_at_ms;
    return up >= 0 && (uint64_t)up >= b->cfg.stable_ms;
}

/* Leave the connected state; true when the connection had been stable, in
 * which case the count is reset. */
static bool backoff_leave(hearth_backoff *b)
{
    bool stable = backoff_stable(b);
    b->connected = false;
    if (stable) {
        b->attempts = 0;
        b->spread = 0;
    }
    return stable;
}

uint64_t hearth_backoff_failed(hearth_backoff *b, hearth_backoff_reason why, uint64_t server_hint_ms)
{
    if (b->connected) (void)backoff_leave(b);
    if (b->attempts < UINT32_MAX) b->attempts++;
    b->refused = why == HEARTH_BACKOFF_REFUSED_AUTH;
    if (why == HEARTH_BACKOFF_REFUSED_AUTH) {
        char n[16];
        snprintf(n, sizeof n, "%" PRIu32, b->attempts);
        hearth_seclog(HEARTH_SEV_WARNING, "service_auth_refused", "path", b->cfg.name,
                      "attempt", n, NULL);
        return backoff_uniform(
            b, hearth_backoff_window_ms(b->cfg.refused_base_ms, b->cfg.refused_cap_ms, b->attempts));
    }
    uint32_t n = b->attempts > UINT32_MAX - b->spread ? UINT32_MAX : b->attempts + b->spread;
    uint64_t w = hearth_backoff_window_ms(b->cfg.base_ms, b->cfg.cap_ms, n);
    if (why != HEARTH_BACKOFF_BUSY) return backoff_uniform(b, w);
    /* Busy: wait out the server's hint (bounded) and the whole current
     * window, then a jittered share of the window on top, so a fleet told
     * "retry after 60 s" does not come back in the same second. */
    uint64_t floor = server_hint_ms < BACKOFF_HINT_MAX_MS ? server_hint_ms : BACKOFF_HINT_MAX_MS;
    if (floor < w) floor = w;
    return sat_add(floor, backoff_uniform(b, w));
}

void hearth_backoff_connected(hearth_backoff *b)
{
    b->connected = true;
    b->refused = false;
    b->connected_at_ms = backoff_now(b);
}

uint64_t hearth_backoff_disconnected(hearth_backoff *b, bool fleet_wide)
{
    bool stable = backoff_leave(b);
    if (fleet_wide && stable) return hearth_backoff_first_delay(b);
    /* A connection that did not stay up counts as a failed attempt, so a
     * broker that accepts and then drops cannot cause a tight loop. */
    uint64_t d = hearth_backoff_failed(b, HEARTH_BACKOFF_FAILED, 0);
    if (fleet_wide) {
        uint64_t first = hearth_backoff_first_delay(b);
        if (first > d) d = first;
    }
    return d;
}

uint32_t hearth_backoff_attempts(const hearth_backoff *b)
{
    return backoff_stable(b) ? 0 : b->attempts;
}

hearth_backoff_reason hearth_backoff_reason_http(long status)
{
    switch (status) {
    case 401:
    case 403: return HEARTH_BACKOFF_REFUSED_AUTH;
    case 429:
    case 503: return HEARTH_BACKOFF_BUSY;
    default: return HEARTH_BACKOFF_FAILED;
    }
}

hearth_backoff_reason hearth_backoff_reason_mqtt(int code, bool v5)
{
    if (!v5) return code == 0x04 || code == 0x05 ? HEARTH_BACKOFF_REFUSED_AUTH : HEARTH_BACKOFF_FAILED;
    switch (code) {
    case 0x86: /* bad user name or password */
    case 0x87: /* not authorized */
    case 0x8C: /* bad authentication method */
        return HEARTH_BACKOFF_REFUSED_AUTH;
    case 0x89: /* server busy */
    case 0x97: /* quota exceeded */
    case 0x9F: /* connection rate exceeded */
        return HEARTH_BACKOFF_BUSY;
    default: return HEARTH_BACKOFF_FAILED;
    }
}
