/* The authentication handle (EN 303 645 5.1-1, 5.1-3, 5.1-4, 5.1-5, 5.5-4,
 * 5.5-5): configuration, open/close, clocks, the two locks, hashing slots
 * and account look-up. The locking rules, the record layouts and which file
 * of src/auth holds what are described in auth_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

void hearth_auth_config_default(hearth_auth_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->session_ttl_s = 3600;
    cfg->sessions_max = 64;
    /* 16 accounts x 4 = 64: with the defaults no login is ever refused for
     * lack of room, and none evicts another account's session. */
    cfg->sessions_per_user = 4;
    cfg->rl_persist_interval_s = 60;
    cfg->users_max = 16;
    cfg->hash_concurrency = 2;
    cfg->rl_sources = 128;
    cfg->rl_free_failures = 3;
    cfg->rl_max_delay_s = 900;
    /* 9 + one token per 44 s: at most 10 failures in any 60 s window and
     * 9 + 86400/44 = 1972 in any day (docs/authentication.md). */
    cfg->rl_global_burst = 9;
    cfg->rl_global_refill_s = 44;
}

const char *hearth_role_name(hearth_role r)
{
    switch (r) {
    case HEARTH_ROLE_USER: return "user";
    case HEARTH_ROLE_ADMIN: return "admin";
    }
    return "unknown";
}

bool hearth_auth_username_valid(const char *user)
{
    if (user == NULL) return false;
    size_t n = strnlen(user, HEARTH_USERNAME_MAX + 1);
    if (n == 0 || n > HEARTH_USERNAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = user[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int64_t auth_now(const hearth_auth *a)
{
    return a->cfg.now != NULL ? a->cfg.now(a->cfg.now_arg) : hearth_time_now();
}

int64_t auth_mono_ms(const hearth_auth *a)
{
    if (a->cfg.mono_ms != NULL) return a->cfg.mono_ms(a->cfg.mono_arg);
    if (a->cfg.now != NULL) return a->cfg.now(a->cfg.now_arg) * 1000;
    return hearth_mono_ms();
}

void auth_rl_sync_offset(hearth_auth *a)
{
    int64_t wall = auth_now(a), off = 0;
    if (__builtin_mul_overflow(wall, 1000, &wall) || __builtin_sub_overflow(wall, auth_mono_ms(a), &off))
        off = 0;
    hearth_rl_set_wall_offset(a->rl, off);
}

void auth_lock(hearth_auth *a)
{
    pthread_mutex_lock(&a->mu);
}

void auth_unlock(hearth_auth *a)
{
    pthread_mutex_unlock(&a->mu);
}

void auth_wlock(hearth_auth *a)
{
    pthread_mutex_lock(&a->persist_mu);
    auth_lock(a);
}

void auth_wunlock(hearth_auth *a)
{
    auth_unlock(a);
    pthread_mutex_unlock(&a->persist_mu);
}

auth_user *auth_find_user(hearth_auth *a, const char *name)
{
    if (!hearth_auth_username_valid(name)) return NULL;
    for (uint32_t i = 0; i < a->nusers; i++)
        if (strcmp(a->users[i].name, name) == 0) return &a->users[i];
    return NULL;
}

void auth_u64str(uint64_t v, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)v);
}

/* Hashing slot: a bounded number of Argon2id computations at once, so a
 * burst of requests cannot take all memory (32 MiB each) or all CPU. */
hearth_status auth_slot_acquire(hearth_auth *a)
{
    unsigned cur = atomic_load(&a->hashing);
    do {
        if (cur >= a->cfg.hash_concurrency)
            return hearth_err(HEARTH_ERR_BUSY, "too many password checks in progress, retry");
    } while (!atomic_compare_exchange_weak(&a->hashing, &cur, cur + 1));
#ifdef HEARTH_TEST_HOOKS
    if (a->hash_hook != NULL) a->hash_hook(a->hash_hook_arg);
#endif
    return HEARTH_OK;
}

void auth_slot_release(hearth_auth *a)
{
    atomic_fetch_sub(&a->hashing, 1);
}

/* ---------------------------------------------------------- open/close */

static hearth_status check_config(const hearth_auth_config *c)
{
    if (c->session_ttl_s < 60 || c->session_ttl_s > 30u * 86400)
        return hearth_err(HEARTH_ERR_RANGE, "session_ttl_s must be 60..2592000");
    if (c->sessions_max < 1 || c->sessions_max > AUTH_SESSIONS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "sessions_max must be 1..%d", AUTH_SESSIONS_LIMIT);
    if (c->sessions_per_user < 1 || c->sessions_per_user > c->sessions_max)
        return hearth_err(HEARTH_ERR_RANGE, "sessions_per_user must be 1..sessions_max");
    if (c->rl_persist_interval_s > 3600)
        return hearth_err(HEARTH_ERR_RANGE, "rl_persist_interval_s must be 0..3600");
    if (c->users_max < 1 || c->users_max > AUTH_USERS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "users_max must be 1..%d", AUTH_USERS_LIMIT);
    if (c->hash_concurrency < 1 || c->hash_concurrency > 64)
        return hearth_err(HEARTH_ERR_RANGE, "hash_concurrency must be 1..64");
    if (c->serial != NULL && strnlen(c->serial, AUTH_SERIAL_MAX + 1) > AUTH_SERIAL_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "serial longer than %d bytes", AUTH_SERIAL_MAX);
    return HEARTH_OK;
}

hearth_status hearth_auth_open(hearth_store *st, const hearth_auth_config *cfg, hearth_auth **out)
{
    hearth_auth_config def;
    HEARTH_ENSURE(st != NULL && out != NULL, HEARTH_ERR_INVALID);
    *out = NULL;
    if (cfg == NULL) {
        hearth_auth_config_default(&def);
        cfg = &def;
    }
    HEARTH_GUARD(check_config(cfg));
    HEARTH_GUARD(hearth_auth_sodium_init());
    hearth_auth *a = calloc(1, sizeof *a);
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_NOMEM);
    a->st = st;
    a->cfg = *cfg;
    if (cfg->serial != NULL) snprintf(a->serial, sizeof a->serial, "%s", cfg->serial);
    a->cfg.serial = cfg->serial != NULL ? a->serial : NULL;
    atomic_init(&a->hashing, 0);
    hearth_rl_params rp = {cfg->rl_sources, cfg->rl_free_failures, cfg->rl_max_delay_s,
                           cfg->rl_global_burst, cfg->rl_global_refill_s};
    hearth_status s = hearth_rl_new(&rp, &a->rl);
    if (s == HEARTH_OK) s = auth_load(a);
    if (s == HEARTH_OK) {
        /* Unknown users are checked against this hash of a random secret,
         * with the same parameters, so they take as long as known ones. */
        uint8_t rnd[32];
        char pw[48];
        s = hearth_random(rnd, sizeof rnd);
        if (s == HEARTH_OK) s = hearth_b64url_encode(rnd, sizeof rnd, pw, sizeof pw);
        if (s == HEARTH_OK) s = hearth_pw_hash(pw, strlen(pw), a->dummy_hash);
        hearth_memzero(rnd, sizeof rnd);
        hearth_memzero(pw, sizeof pw);
    }
    pthread_mutex_t *const locks[] = {&a->mu, &a->persist_mu};
    if (s == HEARTH_OK) s = hearth_mutexes_init(locks, 2);
    if (s != HEARTH_OK) {
        hearth_rl_free(a->rl);
        hearth_memzero(a, sizeof *a);
        free(a);
        return s;
    }
    *out = a;
    return HEARTH_OK;
}

void hearth_auth_close(hearth_auth *a)
{
    if (a == NULL) return;
    /* Failures still waiting for their interval are written now. */
    auth_wlock(a);
    auth_persist_rl_due(a, true);
    auth_wunlock(a);
    hearth_mutexes_destroy((pthread_mutex_t *const[]){&a->mu, &a->persist_mu}, 2);
    hearth_rl_free(a->rl);
    hearth_memzero(a, sizeof *a);
    free(a);
}

bool hearth_auth_initialized(hearth_auth *a)
{
    if (a == NULL) return false;
    auth_lock(a);
    bool v = a->initialized;
    auth_unlock(a);
    return v;
}

/* ----------------------------------------------------------- test hooks */

/* Only in the unit tests' build of src/auth (HEARTH_TEST_HOOKS, object
 * library hearth_auth_test_hooks): never in libhearth or the programs. */
#ifdef HEARTH_TEST_HOOKS
void hearth_auth_test_set_rand(hearth_auth *a, hearth_rl_rand_fn fn, void *arg)
{
    auth_lock(a);
    hearth_rl_set_rand(a->rl, fn, arg);
    auth_unlock(a);
}

void hearth_auth_test_set_hash_hook(hearth_auth *a, void (*fn)(void *arg), void *arg)
{
    auth_lock(a);
    a->hash_hook = fn;
    a->hash_hook_arg = arg;
    auth_unlock(a);
}

uint32_t hearth_auth_test_rl_failures(hearth_auth *a, const char *source)
{
    auth_lock(a);
    uint32_t n = hearth_rl_failures(a->rl, source);
    auth_unlock(a);
    return n;
}

uint32_t hearth_auth_test_rl_used(hearth_auth *a)
{
    auth_lock(a);
    uint32_t n = hearth_rl_used(a->rl);
    auth_unlock(a);
    return n;
}
#endif
