/* Seed corpus generator for the auth record harnesses (fuzz_auth_*.c).
 *
 *   fuzz_auth_seedgen <tests/fuzz/corpus>
 *
 * writes auth_ratelimit/, auth_user/ and auth_sessions/ seeds. Valid records
 * come from the real code: limiter states made by hearth_rl_begin/fail/
 * success and serialized by hearth_rl_save; account and session records
 * passed through the real decoders and re-encoded by the real encoders
 * (hearth_auth_test_decode_*). Invalid ones are single, named defects of a
 * valid one. Nothing secret: the password hash is of a published string,
 * the token hashes are of "fuzz-token-N". Not run by ctest; the committed
 * seeds were made with it (docs/fuzzing.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

#define T0 1700000000000LL /* ms */
#define PUBLIC_PW "fuzz seed password, published, not a secret"

static const char *g_dir;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_auth_seedgen: %s: %s\n", what, hearth_err_msg());
    exit(1);
}

static void put(const char *sub, const char *name, const uint8_t *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(d, 1, n, f) != n || fclose(f) != 0) die(path);
}

static void be_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* ------------------------------------------------------------- limiter */

static uint32_t rand_half(uint32_t bound, void *arg)
{
    (void)arg;
    return bound / 2;
}

/* Selector byte of fuzz_auth_ratelimit.c: table index, free 3, delay cap
 * 900 s, burst 9, 44 s refill (the daemon's defaults). */
static uint8_t sel(int table_index)
{
    return (uint8_t)(table_index | 1 << 3 | 2 << 4 | 1 << 6 | 1 << 7);
}

static hearth_rl *limiter(uint32_t sources)
{
    hearth_rl_params p = {sources, 3, 900, 9, 44};
    hearth_rl *rl = NULL;
    if (hearth_rl_new(&p, &rl) != HEARTH_OK) die("rl_new");
    hearth_rl_set_rand(rl, rand_half, NULL);
    return rl;
}

static void fails(hearth_rl *rl, const char *src, int n, int64_t *now)
{
    for (int i = 0; i < n; i++) {
        hearth_rl_ticket t;
        uint32_t retry = 0;
        while (hearth_rl_begin(rl, src, *now, &t, &retry) != HEARTH_OK)
            *now += (int64_t)retry * 1000;
        hearth_rl_fail(rl, src, *now, &t, NULL);
        *now += 1000;
    }
}

static void login(hearth_rl *rl, const char *src, int64_t *now)
{
    hearth_rl_ticket t;
    uint32_t retry = 0;
    while (hearth_rl_begin(rl, src, *now, &t, &retry) != HEARTH_OK) *now += (int64_t)retry * 1000;
    hearth_rl_success(rl, src, *now, &t);
}

/* Seed = selector, 5-byte clock offset from 2020 (fuzz_auth_ratelimit.c),
 * record. */
static void put_rl(const char *name, uint8_t selector, int64_t now, hearth_rl *rl,
                   uint32_t sources, void (*edit)(uint8_t *rec, size_t *len))
{
    hearth_buf b;
    hearth_buf_init(&b, hearth_rl_record_size(sources));
    if (hearth_rl_save(rl, &b) != HEARTH_OK) die("rl_save");
    size_t len = b.len;
    uint8_t *seed = malloc(6 + len);
    if (seed == NULL) die("malloc");
    seed[0] = selector;
    be_put(seed + 1, (uint64_t)(now - 1577836800000LL), 5);
    memcpy(seed + 6, b.data, len);
    if (edit != NULL) edit(seed + 6, &len);
    put("auth_ratelimit", name, seed, 6 + len);
    free(seed);
    hearth_buf_free(&b);
}

#define RL_ENTRIES_OFF (20 + HEARTH_RL_KNOWN_MAX * (1 + HEARTH_RL_SOURCE_MAX + 8))
#define RL_ENTRY (1 + HEARTH_RL_SOURCE_MAX + 4 + 8 + 8)

static void ed_magic(uint8_t *r, size_t *len) { (void)len; r[3] ^= 1; }
static void ed_truncate(uint8_t *r, size_t *len) { (void)r; *len -= 1; }
static void ed_zero_sources(uint8_t *r, size_t *len) { (void)len; be_put(r + 4, 0, 4); }
static void ed_space_in_source(uint8_t *r, size_t *len) { (void)len; r[RL_ENTRIES_OFF + 2] = ' '; }
static void ed_len_64(uint8_t *r, size_t *len) { (void)len; r[RL_ENTRIES_OFF] = 64; }
/* Second entry renamed to the first one's source. */
static void ed_duplicate(uint8_t *r, size_t *len)
{
    (void)len;
    memcpy(r + RL_ENTRIES_OFF + RL_ENTRY, r + RL_ENTRIES_OFF, 1 + HEARTH_RL_SOURCE_MAX);
}

static void gen_ratelimit(void)
{
    /* Defaults (128 sources): a few failing sources, one known. */
    int64_t now = T0;
    hearth_rl *rl = limiter(128);
    login(rl, "192.0.2.10", &now);
    fails(rl, "192.0.2.66", 5, &now);
    fails(rl, "2001:db8::bad", 2, &now);
    fails(rl, "198.51.100.3", 1, &now);
    put_rl("valid_defaults_128", sel(6), now, rl, 128, NULL);
    put_rl("valid_clock_went_back", sel(6), now - 86400000LL * 400, rl, 128, NULL);
    put_rl("valid_a_day_later", sel(6), now + 86400000LL + 5000, rl, 128, NULL);
    put_rl("valid_loaded_into_4", sel(3), now, rl, 128, NULL);
    hearth_rl_free(rl);

    /* Small full table, device bucket empty. */
    now = T0;
    rl = limiter(4);
    fails(rl, "10.1.0.1", 4, &now);
    fails(rl, "10.1.0.2", 3, &now);
    fails(rl, "10.1.0.3", 1, &now);
    fails(rl, "10.1.0.4", 2, &now);
    fails(rl, "10.1.0.5", 1, &now); /* evicts the oldest */
    login(rl, "10.1.0.2", &now);
    fails(rl, "10.1.0.6", 6, &now);
    put_rl("valid_full_4", sel(3), now, rl, 4, NULL);
    put_rl("valid_shrink_4_into_2", sel(1), now, rl, 4, NULL);
    put_rl("valid_grow_4_into_16", sel(5), now, rl, 4, NULL);
    put_rl("invalid_magic", sel(3), now, rl, 4, ed_magic);
    put_rl("invalid_truncated", sel(3), now, rl, 4, ed_truncate);
    put_rl("invalid_zero_sources", sel(3), now, rl, 4, ed_zero_sources);
    put_rl("invalid_space_in_source", sel(3), now, rl, 4, ed_space_in_source);
    put_rl("invalid_source_len_64", sel(3), now, rl, 4, ed_len_64);
    put_rl("invalid_duplicate_source", sel(3), now, rl, 4, ed_duplicate);
    hearth_rl_free(rl);
}

/* ------------------------------------------------------------ accounts */

/* name length, name, value (fuzz_auth_user.c). */
static void put_user_seed(const char *file, const char *uname, const uint8_t *v, size_t n)
{
    uint8_t seed[512];
    size_t nl = strlen(uname);
    seed[0] = (uint8_t)nl;
    memcpy(seed + 1, uname, nl);
    memcpy(seed + 1 + nl, v, n);
    put("auth_user", file, seed, 1 + nl + n);
}

static size_t user_value(uint8_t *v, uint8_t role, const char *hash)
{
    size_t hl = strlen(hash);
    v[0] = 1;
    v[1] = role;
    be_put(v + 2, 1700000000, 8);
    be_put(v + 10, hl, 2);
    memcpy(v + 12, hash, hl);
    return 12 + hl;
}

static void gen_users(void)
{
    char hash[HEARTH_PW_HASH_MAX];
    if (hearth_pw_hash(PUBLIC_PW, strlen(PUBLIC_PW), hash) != HEARTH_OK) die("pw_hash");
    uint8_t v[256];
    size_t n = user_value(v, HEARTH_ROLE_ADMIN, hash);
    /* Through the real decoder and encoder. */
    hearth_buf re;
    uint32_t loaded = 0;
    hearth_buf_init(&re, 4096);
    if (hearth_auth_test_decode_user("auth.user.admin", v, n, &loaded, &re) != HEARTH_OK)
        die("decode_user");
    put_user_seed("valid_admin", "admin", re.data, re.len);
    hearth_buf_free(&re);
    n = user_value(v, HEARTH_ROLE_USER, hash);
    hearth_buf_init(&re, 4096);
    if (hearth_auth_test_decode_user("auth.user.kitchen-tablet.2", v, n, &loaded, &re) !=
        HEARTH_OK)
        die("decode_user");
    put_user_seed("valid_user", "kitchen-tablet.2", re.data, re.len);
    hearth_buf_free(&re);

    uint8_t bad[256];
    memcpy(bad, v, n);
    bad[1] = 3;
    put_user_seed("invalid_role", "alice", bad, n);
    memcpy(bad, v, n);
    bad[0] = 2;
    put_user_seed("invalid_version", "alice", bad, n);
    memcpy(bad, v, n);
    bad[20] = 0;
    put_user_seed("invalid_nul_in_hash", "alice", bad, n);
    memcpy(bad, v, n);
    bad[n] = '\n';
    put_user_seed("invalid_trailing", "alice", bad, n + 1);
    put_user_seed("invalid_truncated", "alice", v, n - 1);
    put_user_seed("invalid_name_upper", "Alice", v, n);
    memcpy(bad, v, 12);
    bad[10] = bad[11] = 0;
    put_user_seed("invalid_empty_hash", "alice", bad, 12);
}

/* ------------------------------------------------------------ sessions */

static size_t session(uint8_t *p, int token, const char *user, int64_t created)
{
    char tok[32];
    snprintf(tok, sizeof tok, "fuzz-token-%d", token);
    if (hearth_sha256(tok, strlen(tok), p) != HEARTH_OK) die("sha256");
    size_t ul = strlen(user);
    p[32] = (uint8_t)ul;
    memcpy(p + 33, user, ul);
    be_put(p + 33 + ul, (uint64_t)created, 8);
    be_put(p + 41 + ul, (uint64_t)(created + 3600), 8);
    return 49 + ul;
}

/* sessions_max - 1, then the record (fuzz_auth_sessions.c); valid records
 * are the real encoder's output. */
static void put_sessions(const char *file, uint32_t max, const uint8_t *v, size_t n, int reencode)
{
    uint8_t seed[4096];
    hearth_buf re;
    uint32_t kept = 0;
    hearth_buf_init(&re, 1 << 16);
    if (reencode) {
        if (hearth_auth_test_decode_sessions(v, n, 256, &kept, &re) != HEARTH_OK)
            die("decode_sessions");
        v = re.data;
        n = re.len;
    }
    seed[0] = (uint8_t)(max - 1);
    memcpy(seed + 1, v, n);
    put("auth_sessions", file, seed, 1 + n);
    hearth_buf_free(&re);
}

static void gen_sessions(void)
{
    uint8_t v[2048];
    size_t n = 3;
    v[0] = 1;
    be_put(v + 1, 5, 2);
    n += session(v + n, 1, "admin", 1700000000);
    n += session(v + n, 2, "alice", 1700000500);
    n += session(v + n, 3, "admin", 1699990000);
    n += session(v + n, 4, "kitchen-tablet.2", 1700001000);
    n += session(v + n, 5, "bob_b", 1700000100);
    put_sessions("valid_5_max_64", 64, v, n, 1);
    put_sessions("valid_5_max_2", 2, v, n, 1);
    put_sessions("valid_5_max_256", 256, v, n, 1);
    uint8_t empty[3] = {1, 0, 0};
    put_sessions("valid_empty", 64, empty, 3, 1);

    uint8_t bad[2048];
    memcpy(bad, v, n);
    bad[0] = 2;
    put_sessions("invalid_version", 64, bad, n, 0);
    memcpy(bad, v, n);
    be_put(bad + 1, 6, 2);
    put_sessions("invalid_count_too_high", 64, bad, n, 0);
    memcpy(bad, v, n);
    be_put(bad + 1, 257, 2);
    put_sessions("invalid_over_limit", 64, bad, n, 0);
    memcpy(bad, v, n);
    bad[3 + 33] = 'A';
    put_sessions("invalid_user_upper", 64, bad, n, 0);
    memcpy(bad, v, n);
    bad[3 + 32] = 0;
    put_sessions("invalid_user_empty", 64, bad, n, 0);
    memcpy(bad, v, n);
    bad[n] = 0;
    put_sessions("invalid_trailing", 64, bad, n + 1, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_auth_seedgen <tests/fuzz/corpus>\n");
        return 2;
    }
    g_dir = argv[1];
    if (hearth_auth_sodium_init() != HEARTH_OK) die("sodium");
    gen_ratelimit();
    gen_users();
    gen_sessions();
    return 0;
}
