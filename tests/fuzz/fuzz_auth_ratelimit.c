/* libFuzzer harness for the brute-force limiter's stored record
 * ("auth.ratelimit", hearth_rl_load in src/auth/ratelimit.c): evidence for
 * 5.13-1 (stored data validated) and 5.1-5 (the limiter stays a bounded,
 * temporary limiter whatever record it is given).
 *
 * Input: byte 0 picks the limiter's parameters (table size among 1..512,
 * free failures, delay cap, bucket), bytes 1..5 the wall clock (2020 plus up
 * to ~34 years, in ms), the rest is the record. Checked beyond "no crash":
 *  - an independent parser of the documented layout is the oracle: the load
 *    succeeds exactly when the record is well-formed;
 *  - a failed load leaves the state byte-for-byte unchanged, and the
 *    fail-safe auth_open applies after it (drain) refills within one period;
 *  - after a successful load: the saved record has the fixed size of the
 *    table; tokens <= burst; the known sources and the kept entries are
 *    exactly the record's (the most recently failed ones when the table is
 *    smaller); save/load/save is a fixed point; lockouts are temporary: a
 *    new source and up to 9 kept ones are admitted again within the delay
 *    cap plus one refill period; a further failure counts by one within
 *    bounds and a success resets the source. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit.h"

#define MAGIC 0x48524c31u
#define SRC_MAX HEARTH_RL_SOURCE_MAX
#define KNOWN_SIZE (1 + SRC_MAX + 8)
#define ENTRY_SIZE (1 + SRC_MAX + 4 + 8 + 8)
#define HEADER_SIZE 20
#define KNOWN_OFF HEADER_SIZE
#define ENTRIES_OFF (HEADER_SIZE + HEARTH_RL_KNOWN_MAX * KNOWN_SIZE)
#define T_BASE 1577836800000LL /* 2020-01-01 in ms */
#define FORGET_MS (24LL * 3600 * 1000)
/* Stored times must lie in 1970-01-01 .. 9999-12-31T23:59:59.999Z (ms). */
#define TIME_MAX_MS 253402300799999ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* A source field of the record: u8 len + SRC_MAX bytes. */
static int src_ok(const uint8_t *f)
{
    if (f[0] > SRC_MAX) return 0;
    for (int i = 0; i < f[0]; i++)
        if (f[1 + i] < 0x21 || f[1 + i] > 0x7e) return 0;
    return 1;
}

static int same_src(const uint8_t *a, const uint8_t *b)
{
    return a[0] == b[0] && memcmp(a + 1, b + 1, a[0]) == 0;
}

/* The oracle: the layout of docs/authentication.md / ratelimit.c, checked
 * independently of the code under test. Every time field (used slot or not)
 * is within 1970..9999 (finding F1 of docs/fuzzing.md). */
static int record_valid(const uint8_t *r, size_t len)
{
    if (len < 8 || be(r, 4) != MAGIC) return 0;
    uint64_t n = be(r + 4, 4);
    if (n < 1 || n > HEARTH_RL_SOURCES_LIMIT) return 0;
    if (len != ENTRIES_OFF + n * ENTRY_SIZE) return 0;
    if (be(r + 12, 8) > TIME_MAX_MS) return 0;
    for (size_t i = 0; i < HEARTH_RL_KNOWN_MAX; i++) {
        const uint8_t *k = r + KNOWN_OFF + i * KNOWN_SIZE;
        if (!src_ok(k) || be(k + 1 + SRC_MAX, 8) > TIME_MAX_MS) return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = r + ENTRIES_OFF + i * ENTRY_SIZE;
        if (!src_ok(e)) return 0;
        if (be(e + 1 + SRC_MAX + 4, 8) > TIME_MAX_MS || be(e + 1 + SRC_MAX + 12, 8) > TIME_MAX_MS)
            return 0;
        for (size_t j = 0; e[0] != 0 && j < i; j++)
            if (same_src(e, r + ENTRIES_OFF + j * ENTRY_SIZE)) return 0;
    }
    return 1;
}

static const uint32_t TABLE_SIZES[8] = {1, 2, 3, 4, 8, 16, 128, 512};

static hearth_rl_params params_from(uint8_t b)
{
    static const uint32_t delays[4] = {1, 60, 900, 86400};
    hearth_rl_params p = {
        .sources = TABLE_SIZES[b & 7],
        .free_failures = (b >> 3) & 1 ? 3 : 0,
        .max_delay_s = delays[(b >> 4) & 3],
        .global_burst = (b >> 6) & 1 ? 9 : 1,
        .global_refill_s = (b >> 7) & 1 ? 44 : 1,
    };
    return p;
}

/* Largest factor, so the delay bounds below are tight. */
static uint32_t rand_max(uint32_t bound, void *arg)
{
    (void)arg;
    return bound - 1;
}

static hearth_rl *mk(const hearth_rl_params *p)
{
    hearth_rl *rl = NULL;
    if (hearth_rl_new(p, &rl) != HEARTH_OK) abort();
    hearth_rl_set_rand(rl, rand_max, NULL);
    return rl;
}

static void save(const hearth_rl *rl, uint32_t sources, hearth_buf *b)
{
    hearth_buf_init(b, hearth_rl_record_size(sources));
    check(hearth_rl_save(rl, b) == HEARTH_OK);
    check(b->len == hearth_rl_record_size(sources));
}

/* Longest wait the limiter may impose on a source (ratelimit.c: delay cap
 * max_delay * 1.5 plus 1 s of clock slack) or the device (one period). */
static uint64_t wait_bound_s(const hearth_rl_params *p)
{
    uint64_t src = (uint64_t)p->max_delay_s * 3 / 2 + 2;
    return src > p->global_refill_s ? src : p->global_refill_s;
}

/* Longest total wait: the source's delay, then the device's period. */
static uint64_t total_bound_s(const hearth_rl_params *p)
{
    return (uint64_t)p->max_delay_s * 3 / 2 + 2 + p->global_refill_s;
}

/* @p src must be admitted again within the cap plus one refill period. */
static void check_temporary(hearth_rl *rl, const hearth_rl_params *p, const char *src,
                            int64_t now)
{
    uint64_t waited = 0;
    for (int round = 0; round < 4; round++) {
        hearth_rl_ticket t;
        uint32_t retry = 0;
        if (hearth_rl_begin(rl, src, now, &t, &retry) == HEARTH_OK) {
            hearth_rl_abort(rl, src, &t);
            check(waited <= total_bound_s(p));
            return;
        }
        check(retry >= 1 && retry <= wait_bound_s(p));
        waited += retry;
        now += (int64_t)retry * 1000;
    }
    abort(); /* still locked: a permanent lockout */
}

static void prime(hearth_rl *rl, int64_t now)
{
    hearth_rl_ticket t;
    hearth_rl_outcome o;
    for (int i = 0; i < 2; i++) {
        if (hearth_rl_begin(rl, "10.0.0.1", now + i, &t, NULL) == HEARTH_OK)
            hearth_rl_fail(rl, "10.0.0.1", now + i, &t, &o);
    }
    if (hearth_rl_begin(rl, "10.0.0.2", now, &t, NULL) == HEARTH_OK)
        hearth_rl_success(rl, "10.0.0.2", now, &t);
}

static void check_loaded(hearth_rl *rl, const hearth_rl_params *p, const uint8_t *r, size_t rlen,
                         int64_t now)
{
    uint32_t n = (uint32_t)be(r + 4, 4);
    hearth_buf out;
    save(rl, p->sources, &out);
    const uint8_t *s = out.data;
    check(record_valid(s, out.len));
    check(be(s + 4, 4) == p->sources);
    uint64_t tokens = be(r + 8, 4);
    check(be(s + 8, 4) == (tokens < p->global_burst ? tokens : p->global_burst));
    check(be(s + 12, 8) == be(r + 12, 8));
    /* Known sources are kept as they were (padding after len is not). */
    for (size_t i = 0; i < HEARTH_RL_KNOWN_MAX; i++) {
        const uint8_t *a = r + KNOWN_OFF + i * KNOWN_SIZE, *b = s + KNOWN_OFF + i * KNOWN_SIZE;
        check(same_src(a, b) && be(a + 1 + SRC_MAX, 8) == be(b + 1 + SRC_MAX, 8));
        for (size_t k = 1 + b[0]; k < 1 + SRC_MAX; k++) check(b[k] == 0);
    }
    /* Kept entries are record entries, unchanged; dropped ones failed
     * no later than any kept one; as many are kept as fit. */
    uint32_t in_use = 0, kept = 0;
    int64_t min_kept = INT64_MAX;
    for (uint32_t i = 0; i < n; i++) in_use += r[ENTRIES_OFF + i * ENTRY_SIZE] != 0;
    for (uint32_t i = 0; i < p->sources; i++) {
        const uint8_t *b = s + ENTRIES_OFF + i * ENTRY_SIZE;
        if (b[0] == 0) continue;
        kept++;
        const uint8_t *a = NULL;
        for (uint32_t j = 0; j < n && a == NULL; j++)
            if (same_src(r + ENTRIES_OFF + j * ENTRY_SIZE, b)) a = r + ENTRIES_OFF + j * ENTRY_SIZE;
        check(a != NULL);
        check(memcmp(a + 1 + SRC_MAX, b + 1 + SRC_MAX, 20) == 0);
        int64_t lf = (int64_t)be(b + 1 + SRC_MAX + 4, 8);
        if (lf < min_kept) min_kept = lf;
        char src[SRC_MAX + 1] = {0};
        memcpy(src, b + 1, b[0]);
        check(hearth_rl_failures(rl, src) == be(b + 1 + SRC_MAX, 4));
    }
    check(kept == (in_use < p->sources ? in_use : p->sources));
    check(hearth_rl_used(rl) == kept);
    if (kept < in_use) {
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *a = r + ENTRIES_OFF + j * ENTRY_SIZE;
            int found = 0;
            for (uint32_t i = 0; i < p->sources && !found; i++)
                found = same_src(a, s + ENTRIES_OFF + i * ENTRY_SIZE);
            if (a[0] != 0 && !found) check((int64_t)be(a + 1 + SRC_MAX + 4, 8) <= min_kept);
        }
    }
    /* save -> load -> save is a fixed point. */
    hearth_rl *rl2 = mk(p);
    check(hearth_rl_load(rl2, out.data, out.len) == HEARTH_OK);
    hearth_buf out2;
    save(rl2, p->sources, &out2);
    check(out2.len == out.len && memcmp(out2.data, out.data, out.len) == 0);
    hearth_rl_free(rl2);
    hearth_buf_free(&out2);

    /* Lockouts stay temporary, for the most recent kept source and for a
     * new one; then a failure counts by one and a success resets. */
    char src[SRC_MAX + 1] = "198.51.100.7";
    for (uint32_t i = 0; i < p->sources; i++) {
        const uint8_t *b = s + ENTRIES_OFF + i * ENTRY_SIZE;
        if (b[0] != 0 && (int64_t)be(b + 1 + SRC_MAX + 4, 8) >= min_kept) {
            memset(src, 0, sizeof src);
            memcpy(src, b + 1, b[0]);
            min_kept = (int64_t)be(b + 1 + SRC_MAX + 4, 8);
        }
    }
    (void)rlen;
    check_temporary(rl, p, "203.0.113.9", now);
    for (uint32_t i = 0, probed = 0; i < p->sources && probed < 8; i++) {
        const uint8_t *b = s + ENTRIES_OFF + i * ENTRY_SIZE;
        char cur[SRC_MAX + 1] = {0};
        if (b[0] == 0) continue;
        memcpy(cur, b + 1, b[0]);
        check_temporary(rl, p, cur, now);
        probed++;
    }
    check_temporary(rl, p, src, now);

    uint32_t before = hearth_rl_failures(rl, src);
    int64_t last = 0;
    for (uint32_t i = 0; i < p->sources; i++) {
        const uint8_t *b = s + ENTRIES_OFF + i * ENTRY_SIZE;
        char cur[SRC_MAX + 1] = {0};
        memcpy(cur, b + 1, b[0]);
        if (b[0] != 0 && strcmp(cur, src) == 0) last = (int64_t)be(b + 1 + SRC_MAX + 4, 8);
    }
    /* Past the cap and a refill period the source is admitted; its failure
     * counts by one, or restarts at one after a day of quiet. */
    int64_t later = now + (int64_t)total_bound_s(p) * 1000 + 1000;
    hearth_rl_ticket t;
    hearth_rl_outcome o;
    check(hearth_rl_begin(rl, src, later, &t, NULL) == HEARTH_OK);
    hearth_rl_fail(rl, src, later, &t, &o);
    int64_t idle = 0;
    int forgot = __builtin_sub_overflow(later, last, &idle) ? last < 0 : idle >= FORGET_MS;
    uint32_t want = before == 0 || forgot ? 1 : before == UINT32_MAX ? before : before + 1;
    check(o.failures == want);
    check(hearth_rl_failures(rl, src) == want);
    check(o.delay_ms <= (uint64_t)p->max_delay_s * 1500);
    check((o.delay_ms > 0) == (want > p->free_failures));
    uint32_t retry = 0;
    if (o.delay_ms > 0) {
        check(hearth_rl_begin(rl, src, later, &t, &retry) == HEARTH_ERR_LOCKED);
        check(retry >= 1 && retry <= wait_bound_s(p));
    }
    later += (int64_t)o.delay_ms + 1000 + (int64_t)p->global_refill_s * 1000;
    check(hearth_rl_begin(rl, src, later, &t, NULL) == HEARTH_OK);
    hearth_rl_success(rl, src, later, &t);
    check(hearth_rl_failures(rl, src) == 0);
    check(hearth_rl_used(rl) <= p->sources);
    hearth_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) return 0;
    hearth_rl_params p = params_from(data[0]);
    int64_t now = T_BASE + (int64_t)be(data + 1, 5);
    const uint8_t *r = data + 6;
    size_t rlen = size - 6;

    hearth_rl *rl = mk(&p);
    prime(rl, now - 5000);
    hearth_buf before;
    save(rl, p.sources, &before);

    hearth_status st = hearth_rl_load(rl, r, rlen);
    int valid = record_valid(r, rlen);
    check((st == HEARTH_OK) == valid);
    if (st != HEARTH_OK) {
        check(st == HEARTH_ERR_INVALID);
        hearth_buf after;
        save(rl, p.sources, &after);
        check(memcmp(before.data, after.data, before.len) == 0);
        hearth_buf_free(&after);
        /* auth_open's fail-safe: an empty bucket that refills in a period. */
        hearth_rl_drain(rl, now);
        check(hearth_rl_tokens(rl, now) == 0);
        check(hearth_rl_tokens(rl, now + (int64_t)p.global_refill_s * 1000) >= 1);
    } else {
        check_loaded(rl, &p, r, rlen, now);
    }
    hearth_buf_free(&before);
    hearth_rl_free(rl);
    hearth_err_clear();
    return 0;
}
