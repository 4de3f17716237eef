/* Unit tests for the brute-force limiter of src/auth (5.1-5: brute force via
 * network interfaces made impracticable). Driven with a simulated clock in
 * milliseconds, so a day of attack runs in well under a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/ratelimit.h"

#define T0 1700000000000LL /* ms */

static hearth_rl_params defaults(void)
{
    hearth_rl_params p = {128, 3, 900, 9, 44};
    return p;
}

static uint32_t rand_zero(uint32_t bound, void *arg)
{
    (void)bound;
    (void)arg;
    return 0;
}

static uint32_t rand_max(uint32_t bound, void *arg)
{
    (void)arg;
    return bound - 1;
}

static hearth_rl *mk(hearth_rl_params p)
{
    hearth_rl *rl = NULL;
    assert_int_equal(hearth_rl_new(&p, &rl), HEARTH_OK);
    return rl;
}

/* One admitted, failed guess; returns the delay imposed (ms). */
static uint32_t fail_once(hearth_rl *rl, const char *src, int64_t now)
{
    hearth_rl_ticket t;
    uint32_t ra = 0;
    assert_int_equal(hearth_rl_begin(rl, src, now, &t, &ra), HEARTH_OK);
    hearth_rl_outcome o;
    hearth_rl_fail(rl, src, now, &t, &o);
    return o.delay_ms;
}

static void test_5_1_5_delays_grow_exponentially_to_cap(void **state)
{
    (void)state;
    hearth_rl_params p = defaults();
    p.global_burst = 100000; /* isolate the per-source layer */
    hearth_rl *rl = mk(p);
    hearth_rl_set_rand(rl, rand_zero, NULL);
    int64_t now = T0;
    for (int i = 0; i < 3; i++) assert_int_equal(fail_once(rl, "192.0.2.1", now), 0);
    uint32_t expect[] = {2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        uint32_t d = fail_once(rl, "192.0.2.1", now);
        assert_int_equal(d, expect[i] * 1000);
        hearth_rl_ticket t;
        uint32_t ra = 0;
        assert_int_equal(hearth_rl_begin(rl, "192.0.2.1", now, &t, &ra), HEARTH_ERR_LOCKED);
        assert_int_equal(ra, expect[i]);
        assert_int_equal(hearth_rl_begin(rl, "192.0.2.1", now + d - 1, &t, &ra),
                         HEARTH_ERR_LOCKED);
        assert_int_equal(ra, 1);
        now += d; /* the attacker waits exactly the delay */
    }
    assert_int_equal(hearth_rl_failures(rl, "192.0.2.1"), 15);
    /* Another source is unaffected. */
    hearth_rl_ticket t;
    uint32_t ra = 0;
    assert_int_equal(hearth_rl_begin(rl, "192.0.2.2", now, &t, &ra), HEARTH_OK);
    hearth_rl_free(rl);
}

static void test_5_1_5_delays_randomized_within_bounds(void **state)
{
    (void)state;
    hearth_rl_params p = defaults();
    p.global_burst = 100000;
    hearth_rl *rl = mk(p);
    /* Injected extremes: factor 1 and just under 1.5. */
    hearth_rl_set_rand(rl, rand_max, NULL);
    for (int i = 0; i < 3; i++) (void)fail_once(rl, "198.51.100.9", T0);
    uint32_t d = fail_once(rl, "198.51.100.9", T0);
    assert_true(d >= 2999 && d < 3000);
    d = fail_once(rl, "198.51.100.9", T0 + 3000);
    assert_true(d >= 5999 && d < 6000);
    /* The real CSPRNG: every delay within [base, 1.5 base), and they differ. */
    hearth_rl_set_rand(rl, NULL, NULL);
    uint32_t minv = UINT32_MAX, maxv = 0;
    for (int s = 0; s < 100; s++) {
        char src[32];
        snprintf(src, sizeof src, "203.0.113.%d", s);
        for (int i = 0; i < 3; i++) (void)fail_once(rl, src, T0);
        d = fail_once(rl, src, T0); /* 4th failure: base 2 s */
        assert_true(d >= 2000 && d < 3000);
        if (d < minv) minv = d;
        if (d > maxv) maxv = d;
    }
    assert_true(maxv - minv > 100); /* not a constant factor */
    hearth_rl_free(rl);
}

static void test_5_1_5_locked_attempts_not_counted(void **state)
{
    (void)state;
    hearth_rl *rl = mk(defaults());
    hearth_rl_set_rand(rl, rand_zero, NULL);
    for (int i = 0; i < 4; i++) (void)fail_once(rl, "192.0.2.7", T0);
    uint32_t tokens = hearth_rl_tokens(rl, T0);
    hearth_rl_ticket t;
    uint32_t ra = 0;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(hearth_rl_begin(rl, "192.0.2.7", T0 + 1, &t, &ra), HEARTH_ERR_LOCKED);
    assert_int_equal(hearth_rl_failures(rl, "192.0.2.7"), 4);
    assert_int_equal(hearth_rl_tokens(rl, T0 + 1), tokens);
    /* A second check in flight from a source past its free failures is
     * refused: it would double that source's rate. */
    assert_int_equal(hearth_rl_begin(rl, "192.0.2.7", T0 + 2000, &t, &ra), HEARTH_OK);
    hearth_rl_ticket t2;
    assert_int_equal(hearth_rl_begin(rl, "192.0.2.7", T0 + 2000, &t2, &ra), HEARTH_ERR_LOCKED);
    hearth_rl_abort(rl, "192.0.2.7", &t);
    assert_int_equal(hearth_rl_begin(rl, "192.0.2.7", T0 + 2000, &t2, &ra), HEARTH_OK);
    /* Bad source strings are refused outright. */
    assert_int_equal(hearth_rl_begin(rl, "", T0, &t, &ra), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_rl_begin(rl, "a b", T0, &t, &ra), HEARTH_ERR_INVALID);
    char longsrc[80];
    memset(longsrc, '1', sizeof longsrc - 1);
    longsrc[sizeof longsrc - 1] = '\0';
    assert_int_equal(hearth_rl_begin(rl, longsrc, T0, &t, &ra), HEARTH_ERR_INVALID);
    hearth_rl_free(rl);
}

static void test_5_1_5_success_resets_source(void **state)
{
    (void)state;
    hearth_rl *rl = mk(defaults());
    hearth_rl_set_rand(rl, rand_zero, NULL);
    int64_t now = T0;
    for (int i = 0; i < 4; i++) (void)fail_once(rl, "192.0.2.8", now);
    now += 2000;
    hearth_rl_ticket t;
    uint32_t ra = 0;
    uint32_t tokens = hearth_rl_tokens(rl, now);
    assert_int_equal(hearth_rl_begin(rl, "192.0.2.8", now, &t, &ra), HEARTH_OK);
    hearth_rl_success(rl, "192.0.2.8", now, &t);
    assert_int_equal(hearth_rl_failures(rl, "192.0.2.8"), 0);
    assert_int_equal(hearth_rl_tokens(rl, now), tokens); /* refunded */
    assert_int_equal(fail_once(rl, "192.0.2.8", now), 0);  /* free failures again */
    hearth_rl_free(rl);
}

static void test_5_1_5_table_fixed_under_10000_sources(void **state)
{
    (void)state;
    hearth_rl_params p = defaults();
    p.global_burst = 100000;
    hearth_rl *rl = mk(p);
    hearth_buf b;
    hearth_buf_init(&b, 1 << 20);
    assert_int_equal(hearth_rl_save(rl, &b), HEARTH_OK);
    size_t empty_size = b.len;
    hearth_buf_free(&b);
    assert_int_equal(empty_size, hearth_rl_record_size(128));
    for (int i = 0; i < 10000; i++) {
        char src[40];
        snprintf(src, sizeof src, "2001:db8::%x", i);
        (void)fail_once(rl, src, T0 + i);
        assert_true(hearth_rl_used(rl) <= 128);
    }
    assert_int_equal(hearth_rl_used(rl), 128);
    /* LRU: the newest sources are kept, the oldest were replaced. */
    assert_int_equal(hearth_rl_failures(rl, "2001:db8::270f"), 1); /* 9999 */
    assert_int_equal(hearth_rl_failures(rl, "2001:db8::0"), 0);
    hearth_buf_init(&b, 1 << 20);
    assert_int_equal(hearth_rl_save(rl, &b), HEARTH_OK);
    assert_int_equal(b.len, empty_size);
    hearth_buf_free(&b);
    hearth_rl_free(rl);
}

/* Many-source attack for one simulated day, a guess attempted every 100 ms
 * from a fresh address each time: count what the limiter admits. */
static void test_5_1_5_global_bucket_caps_day_of_many_source_attack(void **state)
{
    (void)state;
    hearth_rl *rl = mk(defaults());
    hearth_rl_set_rand(rl, rand_zero, NULL);
    const int64_t day = 86400LL * 1000;
    int64_t *admitted = malloc(sizeof(int64_t) * 4000);
    assert_non_null(admitted);
    size_t n = 0;
    uint32_t i = 0;
    for (int64_t now = T0; now < T0 + day; now += 100, i++) {
        char src[40];
        snprintf(src, sizeof src, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        hearth_rl_ticket t;
        uint32_t ra = 0;
        hearth_status st = hearth_rl_begin(rl, src, now, &t, &ra);
        if (st == HEARTH_ERR_LOCKED) {
            assert_true(ra >= 1 && ra <= 44);
            continue;
        }
        assert_int_equal(st, HEARTH_OK);
        assert_true(n < 4000);
        admitted[n++] = now;
        hearth_rl_fail(rl, src, now, &t, NULL);
    }
    print_message("many-source attack: %zu guesses admitted in 24 h\n", n);
    assert_true(n <= 2000);
    assert_true(n >= 1900); /* 9 + 86400/44: the bound is tight, not an accident */
    /* No 60-second window holds more than 10 guesses. */
    size_t lo = 0, worst = 0;
    for (size_t hi = 0; hi < n; hi++) {
        while (admitted[hi] - admitted[lo] >= 60000) lo++;
        if (hi - lo + 1 > worst) worst = hi - lo + 1;
    }
    print_message("worst 60 s window: %zu guesses\n", worst);
    assert_true(worst <= 10);
    free(admitted);
    hearth_rl_free(rl);
}

static void test_5_1_5_known_source_survives_many_source_attack(void **state)
{
    (void)state;
    hearth_rl *rl = mk(defaults());
    hearth_rl_set_rand(rl, rand_zero, NULL);
    hearth_rl_ticket t;
    uint32_t ra = 0;
    int64_t now = T0;
    /* The owner logged in once from 192.168.1.20. */
    assert_int_equal(hearth_rl_begin(rl, "192.168.1.20", now, &t, &ra), HEARTH_OK);
    hearth_rl_success(rl, "192.168.1.20", now, &t);
    /* Attack drains the device bucket. */
    for (int i = 0; i < 9; i++) {
        char src[32];
        snprintf(src, sizeof src, "198.18.0.%d", i);
        (void)fail_once(rl, src, now);
    }
    assert_int_equal(hearth_rl_tokens(rl, now), 0);
    assert_int_equal(hearth_rl_begin(rl, "198.18.1.1", now, &t, &ra), HEARTH_ERR_LOCKED);
    assert_true(ra >= 1 && ra <= 44);
    /* The owner still gets in... */
    assert_int_equal(hearth_rl_begin(rl, "192.168.1.20", now, &t, &ra), HEARTH_OK);
    assert_false(t.took_token);
    hearth_rl_success(rl, "192.168.1.20", now, &t);
    assert_int_equal(hearth_rl_tokens(rl, now), 0); /* nothing refunded that was not taken */
    /* ...and mistyping keeps only its own, temporary, per-source delay. */
    for (int i = 0; i < 3; i++) (void)fail_once(rl, "192.168.1.20", now);
    uint32_t d = fail_once(rl, "192.168.1.20", now);
    assert_int_equal(d, 2000);
    assert_int_equal(hearth_rl_begin(rl, "192.168.1.20", now + 1000, &t, &ra), HEARTH_ERR_LOCKED);
    assert_int_equal(hearth_rl_begin(rl, "192.168.1.20", now + 2000, &t, &ra), HEARTH_OK);
    hearth_rl_abort(rl, "192.168.1.20", &t);
    /* The device lock is temporary: one token back after 44 s. */
    assert_int_equal(hearth_rl_begin(rl, "198.18.1.1", now + 44000, &t, &ra), HEARTH_OK);
    hearth_rl_free(rl);
}

static void test_5_1_5_lockout_temporary_even_if_clock_goes_back(void **state)
{
    (void)state;
    hearth_rl *rl = mk(defaults());
    hearth_rl_set_rand(rl, rand_max, NULL);
    int64_t now = T0;
    for (int i = 0; i < 40; i++) (void)fail_once(rl, "192.0.2.50", now + i * 2000000LL);
    now += 39 * 2000000LL;
    hearth_rl_ticket t;
    uint32_t ra = 0;
    /* The wall clock jumps back a year: the remaining delay is cut to the
     * longest legitimate one instead of growing by a year. */
    assert_int_equal(hearth_rl_begin(rl, "192.0.2.50", now - 365LL * 86400000, &t, &ra),
                     HEARTH_ERR_LOCKED);
    assert_true(ra <= 900 * 3 / 2 + 1);
    hearth_rl_free(rl);
}

static void test_5_1_5_state_roundtrip_and_malformed_rejected(void **state)
{
    (void)state;
    hearth_rl *rl = mk(defaults());
    hearth_rl_set_rand(rl, rand_zero, NULL);
    hearth_rl_ticket t;
    uint32_t ra = 0;
    assert_int_equal(hearth_rl_begin(rl, "192.168.1.20", T0, &t, &ra), HEARTH_OK);
    hearth_rl_success(rl, "192.168.1.20", T0, &t);
    for (int i = 0; i < 5; i++) (void)fail_once(rl, "192.0.2.66", T0 + i * 100000);
    for (int i = 0; i < 30; i++) {
        char src[32];
        snprintf(src, sizeof src, "198.18.2.%d", i);
        if (hearth_rl_begin(rl, src, T0 + 500000, &t, &ra) == HEARTH_OK)
            hearth_rl_fail(rl, src, T0 + 500000, &t, NULL);
    }
    hearth_buf b;
    hearth_buf_init(&b, 1 << 20);
    assert_int_equal(hearth_rl_save(rl, &b), HEARTH_OK);

    hearth_rl *r2 = mk(defaults());
    assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_OK);
    assert_int_equal(hearth_rl_failures(r2, "192.0.2.66"), 5);
    assert_int_equal(hearth_rl_used(r2), hearth_rl_used(rl));
    assert_int_equal(hearth_rl_tokens(r2, T0 + 500000), hearth_rl_tokens(rl, T0 + 500000));
    assert_int_equal(hearth_rl_begin(r2, "192.0.2.66", T0 + 400001, &t, &ra), HEARTH_ERR_LOCKED);
    /* Known sources survive too: the owner passes the empty bucket. */
    assert_int_equal(hearth_rl_begin(r2, "192.168.1.20", T0 + 500000, &t, &ra), HEARTH_OK);
    hearth_rl_abort(r2, "192.168.1.20", &t);

    /* A smaller table keeps the most recent failures. */
    hearth_rl_params small = defaults();
    small.sources = 4;
    hearth_rl *r3 = mk(small);
    assert_int_equal(hearth_rl_load(r3, b.data, b.len), HEARTH_OK);
    assert_int_equal(hearth_rl_used(r3), 4);
    assert_int_equal(hearth_rl_failures(r3, "192.0.2.66"), 0); /* oldest, dropped */

    /* Hostile records: nothing changes. */
    uint32_t before = hearth_rl_used(r2);
    assert_int_equal(hearth_rl_load(r2, b.data, b.len - 1), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_rl_load(r2, b.data, 10), HEARTH_ERR_INVALID);
    b.data[0] ^= 1;
    assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_ERR_INVALID);
    b.data[0] ^= 1;
    size_t entry0 = 20 + 8 * (1 + 63 + 8); /* header + known list */
    uint8_t saved = b.data[entry0];
    b.data[entry0] = 200; /* source length beyond 63 */
    assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_ERR_INVALID);
    b.data[entry0] = saved;
    /* Duplicate entry: copy entry 0 over entry 1. */
    size_t esz = 1 + 63 + 4 + 8 + 8;
    uint8_t *copy = malloc(b.len);
    assert_non_null(copy);
    memcpy(copy, b.data, b.len);
    memcpy(copy + entry0 + esz, copy + entry0, esz);
    assert_int_equal(hearth_rl_load(r2, copy, b.len), HEARTH_ERR_INVALID);
    free(copy);
    assert_int_equal(hearth_rl_used(r2), before);
    assert_int_equal(hearth_rl_failures(r2, "192.0.2.66"), 5);
    hearth_buf_free(&b);
    hearth_rl_free(rl);
    hearth_rl_free(r2);
    hearth_rl_free(r3);
}

/* Offsets in the record (docs/authentication.md, "Records"). */
#define REC_TOKENS 8
#define REC_REF 12
#define REC_KNOWN0 20
#define REC_ENTRY0 (20 + 8 * (1 + 63 + 8))
#define TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* F1 of docs/fuzzing.md: a stored time no clock can produce (here the
 * reproducer's ref_ms = INT64_MIN) used to be loaded, after which the bucket
 * never refilled (retry 4294967295 s for every new source, for good). Every
 * time field must be within 1970..9999, else the record is refused and the
 * state is left as it was; the boundaries themselves load. */
static void test_5_1_5_record_times_out_of_range_rejected(void **state)
{
    (void)state;
    hearth_rl_params p = defaults();
    p.sources = 4;
    hearth_rl *rl = mk(p);
    hearth_rl_set_rand(rl, rand_zero, NULL);
    hearth_rl_ticket t;
    uint32_t ra = 0;
    assert_int_equal(hearth_rl_begin(rl, "192.168.1.20", T0, &t, &ra), HEARTH_OK);
    hearth_rl_success(rl, "192.168.1.20", T0, &t);
    for (int i = 0; i < 5; i++) (void)fail_once(rl, "192.0.2.66", T0 + i * 100000);
    hearth_buf b;
    hearth_buf_init(&b, 1 << 16);
    assert_int_equal(hearth_rl_save(rl, &b), HEARTH_OK);
    b.data[REC_TOKENS + 3] = 0; /* empty bucket: the reproducer's shape */

    const size_t fields[] = {
        REC_REF,                          /* refill reference */
        REC_KNOWN0 + 1 + 63,              /* known source's last success */
        REC_ENTRY0 + 1 + 63 + 4,          /* entry's last failure */
        REC_ENTRY0 + 1 + 63 + 4 + 8,      /* entry's delay end */
        REC_ENTRY0 + 3 * (1 + 63 + 4 + 8 + 8) + 1 + 63 + 4, /* an unused entry */
    };
    const uint64_t bad[] = {(uint64_t)INT64_MIN, UINT64_MAX /* -1 */, (uint64_t)INT64_MAX,
                            (uint64_t)TIME_MAX_MS + 1};
    hearth_rl *r2 = mk(p);
    hearth_buf before;
    hearth_buf_init(&before, 1 << 16);
    assert_int_equal(hearth_rl_save(r2, &before), HEARTH_OK);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        uint8_t orig[8];
        memcpy(orig, b.data + fields[f], 8);
        for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
            put_be64(b.data + fields[f], bad[v]);
            hearth_status st = hearth_rl_load(r2, b.data, b.len);
            if (st != HEARTH_ERR_INVALID)
                fail_msg("time %#llx at offset %zu accepted", (unsigned long long)bad[v],
                         fields[f]);
            hearth_buf after;
            hearth_buf_init(&after, 1 << 16);
            assert_int_equal(hearth_rl_save(r2, &after), HEARTH_OK);
            assert_int_equal(after.len, before.len);
            assert_memory_equal(after.data, before.data, before.len);
            hearth_buf_free(&after);
        }
        /* The window's ends are legitimate times. */
        put_be64(b.data + fields[f], 0);
        assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_OK);
        put_be64(b.data + fields[f], (uint64_t)TIME_MAX_MS);
        assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_OK);
        memcpy(b.data + fields[f], orig, 8);
        /* Back to the untouched state for the next field. */
        hearth_rl_free(r2);
        r2 = mk(p);
    }

    /* What hearth_auth_open does with the refused reproducer: drain. The
     * bucket is empty (no free reset) and refills within one period. */
    put_be64(b.data + REC_REF, (uint64_t)INT64_MIN);
    assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_ERR_INVALID);
    hearth_rl_drain(r2, T0 + 1000000);
    assert_int_equal(hearth_rl_begin(r2, "203.0.113.9", T0 + 1000000, &t, &ra),
                     HEARTH_ERR_LOCKED);
    assert_true(ra >= 1 && ra <= p.global_refill_s);
    assert_int_equal(
        hearth_rl_begin(r2, "203.0.113.9", T0 + 1000000 + (int64_t)ra * 1000, &t, &ra),
        HEARTH_OK);
    hearth_rl_abort(r2, "203.0.113.9", &t);
    hearth_buf_free(&b);
    hearth_buf_free(&before);
    hearth_rl_free(rl);
    hearth_rl_free(r2);
}

/* Admitted again within the delay cap plus one refill period, at most. */
static void assert_admitted_soon(hearth_rl *rl, const hearth_rl_params *p, const char *src,
                                 int64_t now)
{
    int64_t limit = now + ((int64_t)p->max_delay_s * 3 / 2 + 2 + p->global_refill_s) * 1000;
    for (int round = 0; round < 4; round++) {
        hearth_rl_ticket t;
        uint32_t ra = 0;
        hearth_status st = hearth_rl_begin(rl, src, now, &t, &ra);
        if (st == HEARTH_OK) {
            hearth_rl_abort(rl, src, &t);
            assert_true(now <= limit);
            return;
        }
        assert_int_equal(st, HEARTH_ERR_LOCKED);
        if (ra < 1 || ra > p->max_delay_s * 3 / 2 + 2 + p->global_refill_s)
            fail_msg("%s: retry_after %u s is beyond any legitimate wait", src, ra);
        now += (int64_t)ra * 1000;
    }
    fail_msg("%s still locked: a permanent lockout", src);
}

/* F1, the arithmetic side: whatever times the limiter is handed (a clock at
 * the ends of int64, i.e. any value a caller's bug could pass), intervals
 * stay bounded: no wrapped subtraction makes a delay or the bucket's wait
 * endless, and what it then saves loads again. */
static void test_5_1_5_extreme_clock_values_never_lock_for_good(void **state)
{
    (void)state;
    const int64_t odd[] = {INT64_MIN + 1, -1, INT64_MAX, TIME_MAX_MS + 1};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        hearth_rl_params p = {8, 0, 900, 1, 44};
        hearth_rl *rl = mk(p);
        hearth_rl_set_rand(rl, rand_max, NULL);
        /* The only token goes to a failure at the odd time. */
        (void)fail_once(rl, "192.0.2.7", odd[i]);
        /* Back at a normal clock: a new source and the failed one both get in. */
        assert_admitted_soon(rl, &p, "203.0.113.9", T0);
        assert_admitted_soon(rl, &p, "192.0.2.7", T0);
        hearth_buf b;
        hearth_buf_init(&b, 1 << 16);
        assert_int_equal(hearth_rl_save(rl, &b), HEARTH_OK);
        hearth_rl *r2 = mk(p);
        assert_int_equal(hearth_rl_load(r2, b.data, b.len), HEARTH_OK);
        hearth_buf_free(&b);
        hearth_rl_free(r2);
        hearth_rl_free(rl);
    }
}

static void test_5_1_5_parameters_validated(void **state)
{
    (void)state;
    hearth_rl *rl = NULL;
    hearth_rl_params p = defaults();
    p.sources = 0;
    assert_int_equal(hearth_rl_new(&p, &rl), HEARTH_ERR_RANGE);
    p.sources = HEARTH_RL_SOURCES_LIMIT + 1;
    assert_int_equal(hearth_rl_new(&p, &rl), HEARTH_ERR_RANGE);
    p = defaults();
    p.global_refill_s = 0;
    assert_int_equal(hearth_rl_new(&p, &rl), HEARTH_ERR_RANGE);
    assert_null(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_1_5_delays_grow_exponentially_to_cap),
        cmocka_unit_test(test_5_1_5_delays_randomized_within_bounds),
        cmocka_unit_test(test_5_1_5_locked_attempts_not_counted),
        cmocka_unit_test(test_5_1_5_success_resets_source),
        cmocka_unit_test(test_5_1_5_table_fixed_under_10000_sources),
        cmocka_unit_test(test_5_1_5_global_bucket_caps_day_of_many_source_attack),
        cmocka_unit_test(test_5_1_5_known_source_survives_many_source_attack),
        cmocka_unit_test(test_5_1_5_lockout_temporary_even_if_clock_goes_back),
        cmocka_unit_test(test_5_1_5_state_roundtrip_and_malformed_rejected),
        cmocka_unit_test(test_5_1_5_parameters_validated),
        cmocka_unit_test(test_5_1_5_record_times_out_of_range_rejected),
        cmocka_unit_test(test_5_1_5_extreme_clock_values_never_lock_for_good),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
