/* Unit tests for src/backoff (include/hearth/backoff.h). The clock and the
 * random source are injected: a counter source whose values are spread
 * evenly over 2^64 makes the delay distribution exact, so the tests assert
 * it (mean, minimum, maximum, equal buckets), not just a range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hearth/backoff.h"
#include "hearth/util.h"

/* A counter random source: the k-th value is k * step (mod 2^64). With
 * step = 2^64 / N the values of N draws are spread evenly over 2^64. */
typedef struct {
    uint64_t k, step, fixed;
    bool use_fixed;
    unsigned calls;
} fake_rand;

static uint64_t fake_rand_next(void *arg)
{
    fake_rand *r = arg;
    r->calls++;
    if (r->use_fixed) return r->fixed;
    return r->k++ * r->step;
}

typedef struct {
    int64_t now;
} fake_clock;

static int64_t fake_clock_now(void *arg)
{
    return ((fake_clock *)arg)->now;
}

static void setup_fake(hearth_backoff *b, hearth_backoff_config *cfg, fake_rand *r, fake_clock *c)
{
    hearth_backoff_config_default(cfg, "test-path");
    cfg->rand = fake_rand_next;
    cfg->rand_arg = r;
    cfg->clock = fake_clock_now;
    cfg->clock_arg = c;
    assert_int_equal(hearth_backoff_init(b, cfg), HEARTH_OK);
}

/* Summary of draws of one window. */
typedef struct {
    uint64_t min, max;
    double mean;
    unsigned bucket[10];
} draws;

/* Draw @p n delays of failed attempt @p attempt (the state is rewound to
 * attempt - 1 before each draw, as if a fleet of @p n devices each failed
 * that often). */
static draws draw_attempt(hearth_backoff *b, uint32_t attempt, unsigned n, uint64_t w)
{
    draws d = {.min = UINT64_MAX};
    double sum = 0;
    for (unsigned i = 0; i < n; i++) {
        b->attempts = attempt - 1;
        uint64_t v = hearth_backoff_failed(b, HEARTH_BACKOFF_FAILED, 0);
        assert_true(v <= w);
        if (v < d.min) d.min = v;
        if (v > d.max) d.max = v;
        sum += (double)v;
        unsigned k = (unsigned)((double)v * 10 / ((double)w + 1));
        d.bucket[k < 10 ? k : 9]++;
    }
    d.mean = sum / n;
    return d;
}

static void assert_uniform(const draws *d, uint64_t w, unsigned n, double tol)
{
    double half = (double)w / 2;
    assert_true(d->mean > half * (1 - tol) && d->mean < half * (1 + tol));
    assert_true(d->min <= w / 1000);
    assert_true(d->max >= w - w / 1000);
    for (int i = 0; i < 10; i++)
        assert_true(d->bucket[i] > n / 10 * (1 - tol * 2) && d->bucket[i] < n / 10 * (1 + tol * 2));
}

/* Full jitter: the delay of attempt n is uniform over [0, W(n)] with
 * W(n) = min(120 s, 1 s * 2^(n-1)). */
static void test_5_9_3_full_jitter_distribution_counter(void **state)
{
    (void)state;
    const unsigned n = 20000;
    for (uint32_t a = 1; a <= 10; a++) {
        fake_rand r = {.step = UINT64_MAX / n + 1};
        fake_clock c = {0};
        hearth_backoff b;
        hearth_backoff_config cfg;
        setup_fake(&b, &cfg, &r, &c);
        uint64_t w = hearth_backoff_window_ms(1000, 120000, a);
        assert_int_equal(w, a <= 7 ? 1000u << (a - 1) : 120000u);
        draws d = draw_attempt(&b, a, n, w);
        assert_uniform(&d, w, n, 0.01);
        assert_int_equal(d.min, 0);
        assert_true(d.max >= w - w / 10000 - 1);
    }
}

/* The same with the default source (OpenSSL RAND_bytes): a statistical
 * check with a wide margin (the mean's standard error is 0.2 % of W here). */
static void test_5_9_3_full_jitter_distribution_rand_bytes(void **state)
{
    (void)state;
    hearth_backoff b;
    hearth_backoff_config cfg;
    hearth_backoff_config_default(&cfg, "test-path");
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    const unsigned n = 20000;
    draws d = draw_attempt(&b, 5, n, 16000);
    assert_uniform(&d, 16000, n, 0.05);
    /* Small ranges without modulo bias: 0, 1, 2 equally often. */
    cfg.first_max_ms = 2;
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    unsigned count[3] = {0};
    for (unsigned i = 0; i < 30000; i++) {
        uint64_t v = hearth_backoff_first_delay(&b);
        assert_true(v <= 2);
        count[v]++;
    }
    for (int i = 0; i < 3; i++) assert_true(count[i] > 9400 && count[i] < 10600);
}

/* The multiply-high mapping: the largest random value gives exactly W, the
 * middle one W/2, zero gives 0 and a source stuck on a rejected value does
 * not hang the caller. */
static void test_uniform_mapping_edges(void **state)
{
    (void)state;
    fake_rand r = {.use_fixed = true, .fixed = UINT64_MAX};
    fake_clock c = {0};
    hearth_backoff b;
    hearth_backoff_config cfg;
    setup_fake(&b, &cfg, &r, &c);
    cfg.first_max_ms = 30ull * 24 * 3600 * 1000;
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    assert_int_equal(hearth_backoff_first_delay(&b), cfg.first_max_ms);
    r.fixed = 1ull << 63;
    assert_int_equal(hearth_backoff_first_delay(&b), (cfg.first_max_ms + 1) / 2);
    r.fixed = 0;
    r.calls = 0;
    assert_int_equal(hearth_backoff_first_delay(&b), 0);
    assert_true(r.calls >= 1 && r.calls <= 65);
    cfg.first_max_ms = 0;
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    r.calls = 0;
    assert_int_equal(hearth_backoff_first_delay(&b), 0);
}

/* Saturation: W(n) never decreases and never wraps, for every n from 1 to
 * 100000 and at UINT32_MAX, on the default schedule and on schedules whose
 * shifted value would overflow 32 and 64 bits. */
static void test_5_9_1_window_saturates(void **state)
{
    (void)state;
    const uint64_t sched[][2] = {{1000, 120000}, {60000, 3600000}, {1, UINT64_MAX},
                                 {3, UINT64_MAX - 1}, {UINT64_MAX, UINT64_MAX}, {7, 7}};
    for (size_t s = 0; s < sizeof sched / sizeof sched[0]; s++) {
        uint64_t base = sched[s][0], cap = sched[s][1], prev = 0;
        for (uint32_t n = 1; n <= 100000; n++) {
            uint64_t w = hearth_backoff_window_ms(base, cap, n);
            assert_true(w >= prev);
            assert_true(w >= base && w <= cap);
            if (n - 1 < 64 && base <= (cap >> (n - 1))) assert_int_equal(w, base << (n - 1));
            else assert_int_equal(w, cap);
            prev = w;
        }
        assert_int_equal(hearth_backoff_window_ms(base, cap, UINT32_MAX), cap);
        assert_int_equal(hearth_backoff_window_ms(base, cap, 0), 0);
    }
    assert_int_equal(hearth_backoff_window_ms(1, UINT64_MAX, 64), 1ull << 63);
    assert_int_equal(hearth_backoff_window_ms(1, UINT64_MAX, 65), UINT64_MAX);
    assert_int_equal(hearth_backoff_window_ms(2, UINT64_MAX, 64), UINT64_MAX);
}

/* The LoRa case: a stack computed (1 << n) * 60 s in 32 bits and, after
 * 26 h offline, retried every minute. Here a device with a 1 min base and a
 * 30 day cap stays offline for far longer: once the window has grown, no
 * delay becomes short again, and the attempt count itself saturates at
 * UINT32_MAX instead of wrapping to 0. */
static void test_5_9_1_long_outage_never_short(void **state)
{
    (void)state;
    fake_rand r = {.use_fixed = true, .fixed = UINT64_MAX}; /* each delay = W */
    fake_clock c = {0};
    hearth_backoff b;
    hearth_backoff_config cfg;
    setup_fake(&b, &cfg, &r, &c);
    cfg.base_ms = 60000;
    cfg.cap_ms = 30ull * 24 * 3600 * 1000;
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    uint64_t offline = 0, prev = 0;
    /* The 32-bit shift the LoRa stack did wraps at n = 32: */
    uint32_t lora = (uint32_t)((uint64_t)1 << 31) * 2u; /* (1 << 32) in 32 bits */
    assert_int_equal(lora, 0);
    for (uint32_t n = 1; n <= 100000; n++) {
        uint64_t d = hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0);
        assert_true(d >= prev);
        prev = d;
        offline += d;
    }
    assert_true(offline > 26ull * 3600 * 1000);
    assert_int_equal(prev, cfg.cap_ms);
    /* Near and at the top of the count. */
    b.attempts = UINT32_MAX - 2;
    for (int i = 0; i < 5; i++)
        assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0), cfg.cap_ms);
    assert_int_equal(hearth_backoff_attempts(&b), UINT32_MAX);
    /* The refusal and busy schedules saturate too. */
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_REFUSED_AUTH, 0), cfg.refused_cap_ms);
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_BUSY, UINT64_MAX),
                     2 * cfg.cap_ms);
}

/* A random first delay after power-up and after a fleet-wide disconnect. */
static void test_5_9_3_random_first_delay(void **state)
{
    (void)state;
    const unsigned n = 30001;
    fake_rand r = {.step = UINT64_MAX / n + 1};
    fake_clock c = {0};
    hearth_backoff b;
    hearth_backoff_config cfg;
    setup_fake(&b, &cfg, &r, &c);
    double sum = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = hearth_backoff_first_delay(&b);
        assert_true(v <= HEARTH_BACKOFF_FIRST_MAX_MS);
        sum += (double)v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    assert_true(sum / n > 14850 && sum / n < 15150);
    assert_int_equal(lo, 0);
    assert_true(hi >= 29990);
    /* After a stable connection, a fleet-wide disconnect waits the first
     * delay window (not the 1 s window of attempt 1) and resets the count. */
    r.k = 0;
    r.step = UINT64_MAX / 1000 + 1;
    sum = 0;
    for (unsigned i = 0; i < 1000; i++) {
        hearth_backoff_connected(&b);
        c.now += HEARTH_BACKOFF_STABLE_MS;
        uint64_t v = hearth_backoff_disconnected(&b, true);
        assert_true(v <= HEARTH_BACKOFF_FIRST_MAX_MS);
        assert_int_equal(hearth_backoff_attempts(&b), 0);
        sum += (double)v;
    }
    assert_true(sum / 1000 > 14000 && sum / 1000 < 16000);
    /* After a first delay, failures draw from windows of at least the
     * first delay's (32 s >= 30 s), not 1 s, until a stable connection
     * resets the count. */
    r.use_fixed = true;
    r.fixed = UINT64_MAX;
    assert_int_equal(hearth_backoff_first_delay(&b), HEARTH_BACKOFF_FIRST_MAX_MS);
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0), 32000);
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0), 64000);
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0), 120000);
    assert_int_equal(hearth_backoff_attempts(&b), 3);
    hearth_backoff_connected(&b);
    c.now += HEARTH_BACKOFF_STABLE_MS;
    assert_int_equal(hearth_backoff_disconnected(&b, false), 1000);
    /* No first delay window: no spread. */
    cfg.first_max_ms = 0;
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    assert_int_equal(hearth_backoff_first_delay(&b), 0);
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0), 1000);
}

/* The count resets only after stable_ms connected: a broker that accepts
 * and drops keeps the device on the growing schedule. */
static void test_5_9_3_reset_only_after_stable(void **state)
{
    (void)state;
    fake_rand r = {.use_fixed = true, .fixed = UINT64_MAX};
    fake_clock c = {1000000};
    hearth_backoff b;
    hearth_backoff_config cfg;
    setup_fake(&b, &cfg, &r, &c);
    for (int i = 0; i < 5; i++) (void)hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0);
    assert_int_equal(hearth_backoff_attempts(&b), 5);
    /* Accepted, dropped after 29.999 s: attempt 6, window 32 s. */
    hearth_backoff_connected(&b);
    c.now += HEARTH_BACKOFF_STABLE_MS - 1;
    assert_int_equal(hearth_backoff_attempts(&b), 5);
    assert_int_equal(hearth_backoff_disconnected(&b, false), 32000);
    assert_int_equal(hearth_backoff_attempts(&b), 6);
    /* Fleet-wide but not stable: still counted, and at least the window. */
    hearth_backoff_connected(&b);
    c.now += 10;
    assert_true(hearth_backoff_disconnected(&b, true) >= 64000);
    assert_int_equal(hearth_backoff_attempts(&b), 7);
    /* A clock that goes backwards is not "stable". */
    hearth_backoff_connected(&b);
    c.now -= 100000;
    assert_int_equal(hearth_backoff_attempts(&b), 7);
    (void)hearth_backoff_disconnected(&b, false);
    assert_int_equal(hearth_backoff_attempts(&b), 8);
    /* Up for exactly stable_ms: the count resets, the next window is 1 s. */
    hearth_backoff_connected(&b);
    c.now += HEARTH_BACKOFF_STABLE_MS;
    assert_int_equal(hearth_backoff_attempts(&b), 0);
    assert_int_equal(hearth_backoff_disconnected(&b, false), 1000);
    assert_int_equal(hearth_backoff_attempts(&b), 1);
    /* A failure reported while marked connected (after stable) also resets first. */
    hearth_backoff_connected(&b);
    c.now += HEARTH_BACKOFF_STABLE_MS + 5;
    assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0), 1000);
}

typedef struct {
    int count;
    char last[512];
} seclog_catch;

static void catch_hook(hearth_severity sev, const char *line, void *arg)
{
    seclog_catch *s = arg;
    if (!strstr(line, "\"service_auth_refused\"")) return;
    assert_int_equal(sev, HEARTH_SEV_WARNING);
    s->count++;
    snprintf(s->last, sizeof s->last, "%s", line);
}

/* An auth refusal takes the longer schedule (1 min doubling to 1 h) and
 * logs "service_auth_refused" with the path and the attempt; other failures
 * do not log it. */
static void test_5_9_3_auth_refusal_longer_and_logged(void **state)
{
    (void)state;
    seclog_catch s = {0};
    assert_int_equal(hearth_seclog_add_hook(catch_hook, &s), HEARTH_OK);
    fake_rand r = {.use_fixed = true, .fixed = UINT64_MAX};
    fake_clock c = {0};
    hearth_backoff b;
    hearth_backoff_config cfg;
    setup_fake(&b, &cfg, &r, &c);
    (void)hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0);
    (void)hearth_backoff_failed(&b, HEARTH_BACKOFF_BUSY, 0);
    assert_int_equal(s.count, 0);
    assert_false(b.refused);
    hearth_backoff_connected(&b);
    c.now += HEARTH_BACKOFF_STABLE_MS;
    (void)hearth_backoff_disconnected(&b, false); /* count 1 */
    const uint64_t want[] = {120000, 240000, 480000, 960000, 1920000, 3600000, 3600000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(hearth_backoff_failed(&b, HEARTH_BACKOFF_REFUSED_AUTH, 0), want[i]);
        assert_true(b.refused);
    }
    assert_int_equal(s.count, 7);
    assert_non_null(strstr(s.last, "\"path\":\"test-path\""));
    assert_non_null(strstr(s.last, "\"attempt\":\"8\""));
    /* The mean refused delay of attempt 1 is 30 s, against 0.5 s (200 draws
     * of an even counter source). */
    r.use_fixed = false;
    r.step = UINT64_MAX / 200 + 1;
    double refused = 0, plain = 0;
    for (int i = 0; i < 200; i++) {
        b.attempts = 0;
        refused += (double)hearth_backoff_failed(&b, HEARTH_BACKOFF_REFUSED_AUTH, 0);
    }
    r.k = 0;
    for (int i = 0; i < 200; i++) {
        b.attempts = 0;
        plain += (double)hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 0);
    }
    assert_true(refused / 200 > 29500 && refused / 200 < 30500);
    assert_true(plain / 200 > 490 && plain / 200 < 510);
    assert_int_equal(s.count, 7 + 200);
    hearth_seclog_remove_hook(catch_hook, &s);
}

/* Busy: at least the server's hint (bounded to 1 h) and the whole window,
 * plus a jittered share of the window. */
static void test_5_9_3_busy_honours_hint(void **state)
{
    (void)state;
    const unsigned n = 1000;
    fake_rand r = {.step = UINT64_MAX / n + 1};
    fake_clock c = {0};
    hearth_backoff b;
    hearth_backoff_config cfg;
    setup_fake(&b, &cfg, &r, &c);
    double sum = 0;
    for (unsigned i = 0; i < n; i++) {
        b.attempts = 0;
        uint64_t d = hearth_backoff_failed(&b, HEARTH_BACKOFF_BUSY, 45000);
        assert_true(d >= 45000 && d <= 46000);
        sum += (double)d;
    }
    assert_true(sum / n > 45450 && sum / n < 45550);
    /* No hint: [W, 2W]. */
    b.attempts = 3; /* attempt 4: W = 8 s */
    uint64_t d = hearth_backoff_failed(&b, HEARTH_BACKOFF_BUSY, 0);
    assert_true(d >= 8000 && d <= 16000);
    /* A hint smaller than the window does not shorten it. */
    b.attempts = 3;
    d = hearth_backoff_failed(&b, HEARTH_BACKOFF_BUSY, 10);
    assert_true(d >= 8000 && d <= 16000);
    /* An absurd hint is bounded to an hour (plus the jitter). */
    b.attempts = 0;
    d = hearth_backoff_failed(&b, HEARTH_BACKOFF_BUSY, UINT64_MAX);
    assert_true(d >= HEARTH_BACKOFF_REFUSED_CAP_MS && d <= HEARTH_BACKOFF_REFUSED_CAP_MS + 1000);
    /* The hint is ignored for other reasons. */
    b.attempts = 0;
    assert_true(hearth_backoff_failed(&b, HEARTH_BACKOFF_FAILED, 45000) <= 1000);
}

/* The one mapping from protocol codes to reasons (docs/backoff.md). */
static void test_reason_mapping(void **state)
{
    (void)state;
    assert_int_equal(hearth_backoff_reason_http(401), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_int_equal(hearth_backoff_reason_http(403), HEARTH_BACKOFF_REFUSED_AUTH);
    assert_int_equal(hearth_backoff_reason_http(429), HEARTH_BACKOFF_BUSY);
    assert_int_equal(hearth_backoff_reason_http(503), HEARTH_BACKOFF_BUSY);
    const long other[] = {0, 200, 400, 404, 500, 502, 504, -1};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        assert_int_equal(hearth_backoff_reason_http(other[i]), HEARTH_BACKOFF_FAILED);
    for (int c = 0; c < 256; c++) {
        hearth_backoff_reason v5 = hearth_backoff_reason_mqtt(c, true);
        hearth_backoff_reason v3 = hearth_backoff_reason_mqtt(c, false);
        bool auth5 = c == 0x86 || c == 0x87 || c == 0x8C, busy5 = c == 0x89 || c == 0x97 || c == 0x9F;
        assert_int_equal(v5, auth5 ? HEARTH_BACKOFF_REFUSED_AUTH
                             : busy5 ? HEARTH_BACKOFF_BUSY
                                     : HEARTH_BACKOFF_FAILED);
        assert_int_equal(v3, c == 4 || c == 5 ? HEARTH_BACKOFF_REFUSED_AUTH : HEARTH_BACKOFF_FAILED);
    }
}

static void test_config_validation(void **state)
{
    (void)state;
    hearth_backoff b;
    hearth_backoff_config cfg, bad;
    hearth_backoff_config_default(&cfg, "mqtt");
    assert_int_equal(cfg.base_ms, 1000);
    assert_int_equal(cfg.cap_ms, 120000);
    assert_int_equal(cfg.refused_base_ms, 60000);
    assert_int_equal(cfg.refused_cap_ms, 3600000);
    assert_int_equal(cfg.stable_ms, 30000);
    assert_int_equal(cfg.first_max_ms, 30000);
    assert_null(cfg.rand);
    assert_null(cfg.clock);
    assert_int_equal(hearth_backoff_init(&b, &cfg), HEARTH_OK);
    assert_int_equal(hearth_backoff_attempts(&b), 0);
    assert_int_equal(hearth_backoff_init(NULL, &cfg), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_backoff_init(&b, NULL), HEARTH_ERR_INVALID);
#define BAD(field, value)                                                                          \
    do {                                                                                           \
        bad = cfg;                                                                                 \
        bad.field = value;                                                                         \
        assert_int_equal(hearth_backoff_init(&b, &bad), HEARTH_ERR_INVALID);                       \
        assert_non_null(strstr(hearth_err_msg(), "backoff"));                                      \
    } while (0)
    BAD(name, NULL);
    BAD(name, "");
    BAD(base_ms, 0);
    BAD(cap_ms, 999);
    BAD(refused_base_ms, 0);
    BAD(refused_cap_ms, 59999);
    BAD(cap_ms, 31ull * 24 * 3600 * 1000);
    BAD(refused_cap_ms, UINT64_MAX);
    BAD(first_max_ms, UINT64_MAX);
    BAD(stable_ms, UINT64_MAX);
#undef BAD
    /* Equal base and cap is a valid fixed window. */
    bad = cfg;
    bad.cap_ms = bad.base_ms;
    assert_int_equal(hearth_backoff_init(&b, &bad), HEARTH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_9_3_full_jitter_distribution_counter),
        cmocka_unit_test(test_5_9_3_full_jitter_distribution_rand_bytes),
        cmocka_unit_test(test_uniform_mapping_edges),
        cmocka_unit_test(test_5_9_1_window_saturates),
        cmocka_unit_test(test_5_9_1_long_outage_never_short),
        cmocka_unit_test(test_5_9_3_random_first_delay),
        cmocka_unit_test(test_5_9_3_reset_only_after_stable),
        cmocka_unit_test(test_5_9_3_auth_refusal_longer_and_logged),
        cmocka_unit_test(test_5_9_3_busy_honours_hint),
        cmocka_unit_test(test_reason_mapping),
        cmocka_unit_test(test_config_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
