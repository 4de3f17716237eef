/* Brute-force limiter: per-source exponential randomized delays in a fixed
 * table plus a device-wide token bucket. See ratelimit.h and
 * docs/authentication.md for the arithmetic. */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define RL_MAGIC 0x48524c31u /* "HRL1" */
#define RL_ENTRY_SIZE (1 + HEARTH_RL_SOURCE_MAX + 4 + 8 + 8)
#define RL_KNOWN_SIZE (1 + HEARTH_RL_SOURCE_MAX + 8)
#define RL_HEADER_SIZE (4 + 4 + 4 + 8)
/* A source idle this long starts counting from zero again: its old failures
 * no longer say anything about an ongoing attack, and the rightful user who
 * mistypes a few times a month never ends up in long delays. */
#define RL_FORGET_MS (24LL * 3600 * 1000)
/* Resolution of the random factor 1 + u / (2 * RL_RAND_BOUND) in [1, 1.5). */
#define RL_RAND_BOUND 65536u
/* Every time the limiter stores and every time it accepts from a record lies
 * in 1970-01-01 .. 9999-12-31T23:59:59.999Z (ms). The window is absolute, not
 * relative to "now": a device without a battery-backed clock can read a time
 * before the one its record was saved at, so a "future" time is legitimate
 * and is neutralised where it is used (a delay is cut to the longest
 * legitimate one, the bucket's period restarts). What the window rules out is
 * nonsense no clock produces, and it keeps every difference of two times far
 * from int64 overflow; the subtractions are saturating all the same. */
#define RL_TIME_MAX_MS 253402300799999LL

typedef struct {
    char src[HEARTH_RL_SOURCE_MAX + 1];
    uint8_t len;       /* 0: free slot */
    uint8_t inflight;  /* checks admitted and not yet finished (not persisted) */
    uint32_t failures;
    int64_t last_fail_ms;
    int64_t until_ms;
} rl_entry;

typedef struct {
    char src[HEARTH_RL_SOURCE_MAX + 1];
    uint8_t len;  /* 0: free slot */
    int64_t last_ms;
} rl_known;

struct hearth_rl {
    hearth_rl_params p;
    rl_entry *e;
    rl_known known[HEARTH_RL_KNOWN_MAX];
    uint32_t tokens;
    int64_t ref_ms;  /* start of the current refill period (meaningful when not full) */
    hearth_rl_rand_fn rand;
    void *rand_arg;
    int64_t wall_off_ms; /* wall - monotonic, for the record (see ratelimit.h) */
};

static uint32_t rl_default_rand(uint32_t bound, void *arg)
{
    (void)arg;
    uint32_t v = 0;
    /* A CSPRNG failure must not block logins for good: fall back to the
     * factor 1 (the lower bound), which is still a correct delay. */
    if (hearth_random_uniform(bound, &v) != HEARTH_OK) return 0;
    return v;
}

hearth_status hearth_rl_new(const hearth_rl_params *p, hearth_rl **out)
{
    HEARTH_ENSURE(p != NULL && out != NULL, HEARTH_ERR_INVALID);
    if (p->sources < 1 || p->sources > HEARTH_RL_SOURCES_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "rl_sources must be 1..%d", HEARTH_RL_SOURCES_LIMIT);
    if (p->max_delay_s < 1 || p->max_delay_s > 86400 || p->global_burst < 1 ||
        p->global_burst > 100000 || p->global_refill_s < 1 || p->global_refill_s > 86400 ||
        p->free_failures > 1000)
        return hearth_err(HEARTH_ERR_RANGE, "rate-limit parameter out of range");
    hearth_rl *rl = calloc(1, sizeof *rl);
    HEARTH_ENSURE(rl != NULL, HEARTH_ERR_NOMEM);
    rl->e = calloc(p->sources, sizeof *rl->e);
    if (rl->e == NULL) {
        free(rl);
        return HEARTH_ERR_NOMEM;
    }
    rl->p = *p;
    rl->tokens = p->global_burst;
    rl->rand = rl_default_rand;
    *out = rl;
    return HEARTH_OK;
}

void hearth_rl_free(hearth_rl *rl)
{
    if (rl == NULL) return;
    hearth_memzero(rl->e, rl->p.sources * sizeof *rl->e);
    free(rl->e);
    hearth_memzero(rl, sizeof *rl);
    free(rl);
}

void hearth_rl_set_rand(hearth_rl *rl, hearth_rl_rand_fn fn, void *arg)
{
    rl->rand = fn != NULL ? fn : rl_default_rand;
    rl->rand_arg = fn != NULL ? arg : NULL;
}

static bool rl_source_ok(const char *s, size_t *len)
{
    if (s == NULL) return false;
    size_t n = strnlen(s, HEARTH_RL_SOURCE_MAX + 1);
    if (n == 0 || n > HEARTH_RL_SOURCE_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
    *len = n;
    return true;
}

static rl_entry *rl_find(const hearth_rl *rl, const char *s, size_t n)
{
    for (uint32_t i = 0; i < rl->p.sources; i++) {
        rl_entry *e = &rl->e[i];
        if (e->len == n && memcmp(e->src, s, n) == 0) return e;
    }
    return NULL;
}

/* Find or claim an entry: a free slot, else the least-recently-failed one. */
static rl_entry *rl_claim(hearth_rl *rl, const char *s, size_t n)
{
    rl_entry *e = rl_find(rl, s, n);
    if (e != NULL) return e;
    rl_entry *victim = &rl->e[0];
    for (uint32_t i = 0; i < rl->p.sources; i++) {
        rl_entry *c = &rl->e[i];
        if (c->len == 0) {
            victim = c;
            break;
        }
        if (c->last_fail_ms < victim->last_fail_ms) victim = c;
    }
    memset(victim, 0, sizeof *victim);
    memcpy(victim->src, s, n);
    victim->len = (uint8_t)n;
    return victim;
}

static rl_known *rl_known_find(hearth_rl *rl, const char *s, size_t n)
{
    for (size_t i = 0; i < HEARTH_RL_KNOWN_MAX; i++)
        if (rl->known[i].len == n && memcmp(rl->known[i].src, s, n) == 0) return &rl->known[i];
    return NULL;
}

static int64_t rl_clamp_time(int64_t ms)
{
    return ms < 0 ? 0 : ms > RL_TIME_MAX_MS ? RL_TIME_MAX_MS : ms;
}

static bool rl_time_ok(uint64_t ms)
{
    return ms <= (uint64_t)RL_TIME_MAX_MS; /* also rules out negative values */
}

/* a - b, saturating at the int64 range instead of wrapping (the build uses
 * -fno-strict-overflow, so a wrap would silently flip the sign). */
static int64_t rl_sub_sat(int64_t a, int64_t b)
{
    int64_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t rl_add_sat(int64_t a, int64_t b)
{
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t rl_refill_ms(const hearth_rl *rl)
{
    return (int64_t)rl->p.global_refill_s * 1000;
}

static void rl_refill(hearth_rl *rl, int64_t now_ms)
{
    if (rl->tokens >= rl->p.global_burst) {
        rl->tokens = rl->p.global_burst;
        return;
    }
    int64_t elapsed = rl_sub_sat(now_ms, rl->ref_ms);
    if (elapsed < 0) {  /* wall clock went back: restart the period */
        rl->ref_ms = now_ms;
        return;
    }
    int64_t k = elapsed / rl_refill_ms(rl);
    if (k <= 0) return;
    if (k >= (int64_t)(rl->p.global_burst - rl->tokens)) {
        rl->tokens = rl->p.global_burst;
    } else {
        rl->tokens += (uint32_t)k;
        rl->ref_ms += k * rl_refill_ms(rl);
    }
}

static uint32_t rl_ceil_s(int64_t ms)
{
    if (ms <= 0) return 1;
    int64_t s = ms / 1000 + (ms % 1000 != 0);
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Longest delay a source can legitimately be in; a larger remaining delay can
 * only come from the wall clock having gone back, and is cut to this so that
 * lockouts always stay temporary. */
static int64_t rl_delay_cap_ms(const hearth_rl *rl)
{
    return (int64_t)rl->p.max_delay_s * 1500 + 1000;
}

hearth_status hearth_rl_begin(hearth_rl *rl, const char *source, int64_t now_ms,
                              hearth_rl_ticket *t, uint32_t *retry_after_s)
{
    size_t n = 0;
    HEARTH_ENSURE(rl != NULL && t != NULL, HEARTH_ERR_INVALID);
    if (!rl_source_ok(source, &n))
        return hearth_err(HEARTH_ERR_INVALID, "source address must be 1..%d printable bytes",
                          HEARTH_RL_SOURCE_MAX);
    memset(t, 0, sizeof *t);
    uint32_t dummy = 0;
    if (retry_after_s == NULL) retry_after_s = &dummy;
    *retry_after_s = 0;
    now_ms = rl_clamp_time(now_ms);

    rl_entry *e = rl_find(rl, source, n);
    if (e != NULL) {
        int64_t cap = rl_delay_cap_ms(rl);
        if (rl_sub_sat(e->until_ms, now_ms) > cap) e->until_ms = rl_add_sat(now_ms, cap);
        if (e->until_ms > now_ms) {
            *retry_after_s = rl_ceil_s(rl_sub_sat(e->until_ms, now_ms));
            return hearth_err(HEARTH_ERR_LOCKED, "too many failed attempts from this source");
        }
        /* Past its free failures a source gets one guess per delay: a second
         * check racing the first would double its rate. */
        if (e->inflight > 0 && e->failures >= rl->p.free_failures) {
            *retry_after_s = 1;
            return hearth_err(HEARTH_ERR_LOCKED, "an attempt from this source is in progress");
        }
    }
    t->known = rl_known_find(rl, source, n) != NULL;
    rl_refill(rl, now_ms);
    if (rl->tokens > 0) {
        if (rl->tokens == rl->p.global_burst) rl->ref_ms = now_ms;
        rl->tokens--;
        t->took_token = true;
    } else if (!t->known) {
        /* rl_refill left ref_ms <= now_ms less than a period ago (an empty
         * bucket would have gained a token otherwise): the next token comes
         * within one period; the min() keeps that true whatever ref_ms is. */
        int64_t wait = rl_refill_ms(rl) - rl_sub_sat(now_ms, rl->ref_ms);
        if (wait > rl_refill_ms(rl)) wait = rl_refill_ms(rl);
        *retry_after_s = rl_ceil_s(wait);
        return hearth_err(HEARTH_ERR_LOCKED, "too many failed attempts on this device");
    }
    if (e != NULL && e->inflight < UINT8_MAX) e->inflight++;
    return HEARTH_OK;
}

static void rl_refund(hearth_rl *rl, const hearth_rl_ticket *t)
{
    if (t->took_token && rl->tokens < rl->p.global_burst) rl->tokens++;
}

static void rl_leave(hearth_rl *rl, const char *source)
{
    size_t n = 0;
    if (!rl_source_ok(source, &n)) return;
    rl_entry *e = rl_find(rl, source, n);
    if (e != NULL && e->inflight > 0) e->inflight--;
}

void hearth_rl_abort(hearth_rl *rl, const char *source, const hearth_rl_ticket *t)
{
    rl_refund(rl, t);
    rl_leave(rl, source);
}

void hearth_rl_fail(hearth_rl *rl, const char *source, int64_t now_ms, const hearth_rl_ticket *t,
                    hearth_rl_outcome *out)
{
    (void)t; /* the token reserved by begin() stays consumed */
    hearth_rl_outcome dummy;
    if (out == NULL) out = &dummy;
    memset(out, 0, sizeof *out);
    size_t n = 0;
    if (!rl_source_ok(source, &n)) return;
    now_ms = rl_clamp_time(now_ms);
    rl_leave(rl, source);
    rl_entry *e = rl_claim(rl, source, n);
    if (e->failures > 0 && rl_sub_sat(now_ms, e->last_fail_ms) >= RL_FORGET_MS) e->failures = 0;
    if (e->failures < UINT32_MAX) e->failures++;
    e->last_fail_ms = now_ms;
    if (e->failures > rl->p.free_failures) {
        uint32_t exp = e->failures - rl->p.free_failures;
        uint64_t base_s = exp >= 31 ? rl->p.max_delay_s : (1ull << exp);
        if (base_s > rl->p.max_delay_s) base_s = rl->p.max_delay_s;
        uint64_t base_ms = base_s * 1000;
        uint32_t u = rl->rand(RL_RAND_BOUND, rl->rand_arg);
        if (u >= RL_RAND_BOUND) u = RL_RAND_BOUND - 1;
        uint64_t delay = base_ms + base_ms * u / (2 * RL_RAND_BOUND);
        e->until_ms = rl_add_sat(now_ms, (int64_t)delay);
        out->delay_ms = (uint32_t)delay;
    }
    out->failures = e->failures;
    rl_refill(rl, now_ms);
    out->device_locked = rl->tokens == 0;
}

void hearth_rl_success(hearth_rl *rl, const char *source, int64_t now_ms,
                       const hearth_rl_ticket *t)
{
    size_t n = 0;
    rl_refund(rl, t);
    if (!rl_source_ok(source, &n)) return;
    now_ms = rl_clamp_time(now_ms);
    rl_entry *e = rl_find(rl, source, n);
    if (e != NULL) memset(e, 0, sizeof *e);
    rl_known *k = rl_known_find(rl, source, n);
    if (k == NULL) {
        k = &rl->known[0];
        for (size_t i = 0; i < HEARTH_RL_KNOWN_MAX; i++) {
            if (rl->known[i].len == 0) {
                k = &rl->known[i];
                break;
            }
            if (rl->known[i].last_ms < k->last_ms) k = &rl->known[i];
        }
        memset(k, 0, sizeof *k);
        memcpy(k->src, source, n);
        k->len = (uint8_t)n;
    }
    k->last_ms = now_ms;
}

uint32_t hearth_rl_used(const hearth_rl *rl)
{
    uint32_t used = 0;
    for (uint32_t i = 0; i < rl->p.sources; i++)
        if (rl->e[i].len != 0) used++;
    return used;
}

uint32_t hearth_rl_tokens(hearth_rl *rl, int64_t now_ms)
{
    rl_refill(rl, rl_clamp_time(now_ms));
    return rl->tokens;
}

uint32_t hearth_rl_failures(const hearth_rl *rl, const char *source)
{
    size_t n = 0;
    if (!rl_source_ok(source, &n)) return 0;
    const rl_entry *e = rl_find(rl, source, n);
    return e != NULL ? e->failures : 0;
}

void hearth_rl_drain(hearth_rl *rl, int64_t now_ms)
{
    rl->tokens = 0;
    rl->ref_ms = rl_clamp_time(now_ms);
}

/* ------------------------------------------------------- serialization */

void hearth_rl_set_wall_offset(hearth_rl *rl, int64_t wall_off_ms)
{
    rl->wall_off_ms = wall_off_ms;
}

/* A monotonic time as the wall-clock time the record holds, inside the
 * record's window. */
static uint64_t rl_to_wall(const hearth_rl *rl, int64_t t)
{
    return (uint64_t)rl_clamp_time(rl_add_sat(t, rl->wall_off_ms));
}

static int64_t rl_from_wall(const hearth_rl *rl, uint64_t t)
{
    return rl_sub_sat((int64_t)t, rl->wall_off_ms);
}

hearth_status hearth_rl_save_with_success(const hearth_rl *rl, const char *source, int64_t now_ms,
                                          const hearth_rl_ticket *t, hearth_buf *out)
{
    hearth_rl *tmp = calloc(1, sizeof *tmp);
    HEARTH_ENSURE(tmp != NULL, HEARTH_ERR_NOMEM);
    *tmp = *rl;
    tmp->e = calloc(rl->p.sources, sizeof *tmp->e);
    if (tmp->e == NULL) {
        free(tmp);
        return HEARTH_ERR_NOMEM;
    }
    memcpy(tmp->e, rl->e, rl->p.sources * sizeof *tmp->e);
    hearth_rl_success(tmp, source, now_ms, t);
    hearth_status st = hearth_rl_save(tmp, out);
    hearth_rl_free(tmp);
    return st;
}

size_t hearth_rl_record_size(uint32_t sources)
{
    return RL_HEADER_SIZE + (size_t)HEARTH_RL_KNOWN_MAX * RL_KNOWN_SIZE +
           (size_t)sources * RL_ENTRY_SIZE;
}

static hearth_status rl_put_src(hearth_buf *b, const char *src, uint8_t len)
{
    uint8_t pad[HEARTH_RL_SOURCE_MAX];
    memset(pad, 0, sizeof pad);
    memcpy(pad, src, len);
    HEARTH_GUARD(hearth_buf_u8(b, len));
    return hearth_buf_append(b, pad, sizeof pad);
}

hearth_status hearth_rl_save(const hearth_rl *rl, hearth_buf *b)
{
    HEARTH_GUARD(hearth_buf_u32(b, RL_MAGIC));
    HEARTH_GUARD(hearth_buf_u32(b, rl->p.sources));
    HEARTH_GUARD(hearth_buf_u32(b, rl->tokens));
    HEARTH_GUARD(hearth_buf_u64(b, rl_to_wall(rl, rl->ref_ms)));
    for (size_t i = 0; i < HEARTH_RL_KNOWN_MAX; i++) {
        HEARTH_GUARD(rl_put_src(b, rl->known[i].src, rl->known[i].len));
        HEARTH_GUARD(hearth_buf_u64(b, rl_to_wall(rl, rl->known[i].last_ms)));
    }
    for (uint32_t i = 0; i < rl->p.sources; i++) {
        const rl_entry *e = &rl->e[i];
        HEARTH_GUARD(rl_put_src(b, e->src, e->len));
        HEARTH_GUARD(hearth_buf_u32(b, e->failures));
        HEARTH_GUARD(hearth_buf_u64(b, rl_to_wall(rl, e->last_fail_ms)));
        HEARTH_GUARD(hearth_buf_u64(b, rl_to_wall(rl, e->until_ms)));
    }
    return HEARTH_OK;
}

static hearth_status rl_get_src(hearth_cursor *c, char out[HEARTH_RL_SOURCE_MAX + 1],
                                uint8_t *len)
{
    const uint8_t *p = NULL;
    HEARTH_GUARD(hearth_cursor_u8(c, len));
    HEARTH_GUARD(hearth_cursor_ptr(c, HEARTH_RL_SOURCE_MAX, &p));
    HEARTH_ENSURE(*len <= HEARTH_RL_SOURCE_MAX, HEARTH_ERR_INVALID);
    memset(out, 0, HEARTH_RL_SOURCE_MAX + 1);
    memcpy(out, p, *len);
    size_t n = 0;
    if (*len != 0 && (!rl_source_ok(out, &n) || n != *len)) return HEARTH_ERR_INVALID;
    return HEARTH_OK;
}

static int rl_cmp_recent(const void *a, const void *b)
{
    const rl_entry *x = a, *y = b;
    if (x->len == 0 || y->len == 0) return (x->len == 0) - (y->len == 0);
    return (x->last_fail_ms < y->last_fail_ms) - (x->last_fail_ms > y->last_fail_ms);
}

static hearth_status rl_parse(hearth_rl *rl, hearth_cursor *c, rl_entry **entries,
                              uint32_t *count, rl_known known[HEARTH_RL_KNOWN_MAX],
                              uint32_t *tokens, int64_t *ref_ms)
{
    uint32_t magic = 0, n = 0;
    uint64_t ref = 0;
    HEARTH_GUARD(hearth_cursor_u32(c, &magic));
    HEARTH_ENSURE(magic == RL_MAGIC, HEARTH_ERR_INVALID);
    HEARTH_GUARD(hearth_cursor_u32(c, &n));
    HEARTH_ENSURE(n >= 1 && n <= HEARTH_RL_SOURCES_LIMIT, HEARTH_ERR_INVALID);
    HEARTH_ENSURE(c->len == hearth_rl_record_size(n), HEARTH_ERR_INVALID);
    HEARTH_GUARD(hearth_cursor_u32(c, tokens));
    HEARTH_GUARD(hearth_cursor_u64(c, &ref));
    HEARTH_ENSURE(rl_time_ok(ref), HEARTH_ERR_RANGE);
    *ref_ms = rl_from_wall(rl, ref);
    for (size_t i = 0; i < HEARTH_RL_KNOWN_MAX; i++) {
        uint64_t t = 0;
        HEARTH_GUARD(rl_get_src(c, known[i].src, &known[i].len));
        HEARTH_GUARD(hearth_cursor_u64(c, &t));
        HEARTH_ENSURE(rl_time_ok(t), HEARTH_ERR_RANGE);
        known[i].last_ms = rl_from_wall(rl, t);
    }
    rl_entry *e = calloc(n, sizeof *e);
    HEARTH_ENSURE(e != NULL, HEARTH_ERR_NOMEM);
    *entries = e;
    *count = n;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t lf = 0, until = 0;
        HEARTH_GUARD(rl_get_src(c, e[i].src, &e[i].len));
        HEARTH_GUARD(hearth_cursor_u32(c, &e[i].failures));
        HEARTH_GUARD(hearth_cursor_u64(c, &lf));
        HEARTH_GUARD(hearth_cursor_u64(c, &until));
        HEARTH_ENSURE(rl_time_ok(lf) && rl_time_ok(until), HEARTH_ERR_RANGE);
        e[i].last_fail_ms = rl_from_wall(rl, lf);
        e[i].until_ms = rl_from_wall(rl, until);
        /* A duplicate source would make counts ambiguous: reject. */
        for (uint32_t j = 0; e[i].len != 0 && j < i; j++)
            if (e[j].len == e[i].len && memcmp(e[j].src, e[i].src, e[i].len) == 0)
                return HEARTH_ERR_INVALID;
    }
    return HEARTH_OK;
}

hearth_status hearth_rl_load(hearth_rl *rl, const uint8_t *data, size_t len)
{
    hearth_cursor c;
    rl_entry *entries = NULL;
    uint32_t count = 0, tokens = 0;
    int64_t ref_ms = 0;
    rl_known known[HEARTH_RL_KNOWN_MAX];
    memset(known, 0, sizeof known);
    hearth_cursor_init(&c, data, len);
    hearth_status st = rl_parse(rl, &c, &entries, &count, known, &tokens, &ref_ms);
    if (st != HEARTH_OK) {
        if (entries != NULL) hearth_memzero(entries, count * sizeof *entries);
        free(entries);
        if (st == HEARTH_ERR_RANGE)
            return hearth_err(HEARTH_ERR_INVALID,
                              "malformed rate-limit record: a time is outside 1970..9999");
        return hearth_err(HEARTH_ERR_INVALID, "malformed rate-limit record");
    }
    /* Keep the most recently failed entries if the table shrank. */
    qsort(entries, count, sizeof *entries, rl_cmp_recent);
    memset(rl->e, 0, rl->p.sources * sizeof *rl->e);
    uint32_t keep = count < rl->p.sources ? count : rl->p.sources;
    memcpy(rl->e, entries, keep * sizeof *entries);
    for (uint32_t i = 0; i < rl->p.sources; i++) rl->e[i].inflight = 0;
    hearth_memzero(entries, count * sizeof *entries);
    free(entries);
    memcpy(rl->known, known, sizeof known);
    rl->tokens = tokens > rl->p.global_burst ? rl->p.global_burst : tokens;
    rl->ref_ms = ref_ms;
    return HEARTH_OK;
}
