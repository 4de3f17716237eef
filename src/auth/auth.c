/* Accounts, factory-default setup, sessions and brute-force protection
 * (EN 303 645 5.1-1, 5.1-3, 5.1-4, 5.1-5, 5.5-4, 5.5-5).
 *
 * Concurrency: `mu` guards the in-memory state and is what every request
 * takes (a session look-up); it is never held across a store commit.
 * `persist_mu` orders the writers: an operation that changes persisted state
 * takes it first, builds its batch under `mu`, commits with `mu` released and
 * applies the result under `mu` again, so no other writer can interleave and
 * memory only ever holds what the store holds (plus, during a commit, a
 * tentative state nobody has been told about). Argon2id runs with the mutex RELEASED, inside one of hash_concurrency
 * slots (an atomic counter; no slot free -> HEARTH_ERR_BUSY at once). Every
 * password check is admitted by the limiter before hashing and settled after
 * it, so rejected attempts cost no hash and are not counted as guesses.
 *
 * Records (docs/authentication.md):
 *   auth.state       u8 version, u8 state (1 factory default, 2 initialized)
 *   auth.setup       Argon2id encoded hash of the setup password (factory only)
 *   auth.user.<name> u8 version, u8 role, u64 created, u16 len, encoded hash
 *   auth.sessions    u8 version, u16 n, n x (32 SHA-256(token), u8 len, name,
 *                    u64 created, u64 expires)
 *   auth.ratelimit   limiter state, fixed size (ratelimit.c)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "hearth/util.h"

#define REC_STATE "auth.state"
#define REC_SETUP "auth.setup"
#define REC_SESSIONS "auth.sessions"
#define REC_RL "auth.ratelimit"
#define USER_PREFIX "auth.user."
#define FMT_VERSION 1
#define STATE_FACTORY 1
#define STATE_INITIALIZED 2
#define USERS_LIMIT 64      /* hard bound of users_max (store has 256 records) */
#define SESSIONS_LIMIT 256  /* hard bound of sessions_max (record stays < 64 KiB) */
#define SERIAL_MAX 128
#define TOKEN_BYTES 32
#define TOKEN_B64_LEN 43    /* 32 bytes, base64url, unpadded */

typedef struct {
    char name[HEARTH_USERNAME_MAX + 1];
    hearth_role role;
    int64_t created;
    char hash[HEARTH_PW_HASH_MAX];
} auth_user;

typedef struct {
    uint8_t th[32]; /* SHA-256 of the token; the token itself is never kept */
    char user[HEARTH_USERNAME_MAX + 1];
    int64_t created;
    int64_t expires;
} auth_session;

struct hearth_auth {
    pthread_mutex_t mu;
    pthread_mutex_t persist_mu; /* writers, taken before mu (see the top of the file) */
    bool rl_dirty;              /* failures counted in memory, not yet in the store */
    bool rl_written;            /* rl_written_ms is meaningful */
    int64_t rl_written_ms;      /* limiter clock of the last write of auth.ratelimit */
    hearth_store *st;
    hearth_auth_config cfg;
    char serial[SERIAL_MAX + 1];
    bool initialized;
    char setup_hash[HEARTH_PW_HASH_MAX];
    char dummy_hash[HEARTH_PW_HASH_MAX];
    auth_user users[USERS_LIMIT];
    uint32_t nusers;
    auth_session sessions[SESSIONS_LIMIT];
    uint32_t nsessions;
    hearth_rl *rl;
    atomic_uint hashing;
#ifdef HEARTH_TEST_HOOKS
    void (*hash_hook)(void *);
    void *hash_hook_arg;
#endif
};

/* ------------------------------------------------------------- helpers */

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

static int64_t auth_now(const hearth_auth *a)
{
    return a->cfg.now != NULL ? a->cfg.now(a->cfg.now_arg) : hearth_time_now();
}

/* The limiter's clock: monotonic, so stepping the wall clock neither ends a
 * delay nor stretches one. */
static int64_t auth_mono_ms(const hearth_auth *a)
{
    if (a->cfg.mono_ms != NULL) return a->cfg.mono_ms(a->cfg.mono_arg);
    if (a->cfg.now != NULL) return a->cfg.now(a->cfg.now_arg) * 1000;
    return hearth_mono_ms();
}

/* wall - monotonic, for the limiter record (which holds wall-clock times). */
static void rl_sync_offset(hearth_auth *a)
{
    int64_t wall = auth_now(a), off = 0;
    if (__builtin_mul_overflow(wall, 1000, &wall) || __builtin_sub_overflow(wall, auth_mono_ms(a), &off))
        off = 0;
    hearth_rl_set_wall_offset(a->rl, off);
}

static void lock(hearth_auth *a)
{
    pthread_mutex_lock(&a->mu);
}

static void unlock(hearth_auth *a)
{
    pthread_mutex_unlock(&a->mu);
}

static void writer_lock(hearth_auth *a)
{
    pthread_mutex_lock(&a->persist_mu);
}

static void writer_unlock(hearth_auth *a)
{
    pthread_mutex_unlock(&a->persist_mu);
}

/* Both locks, in their order: the phase of an operation that commits. */
static void wlock(hearth_auth *a)
{
    writer_lock(a);
    lock(a);
}

static void wunlock(hearth_auth *a)
{
    unlock(a);
    writer_unlock(a);
}

static auth_user *find_user(hearth_auth *a, const char *name)
{
    if (!hearth_auth_username_valid(name)) return NULL;
    for (uint32_t i = 0; i < a->nusers; i++)
        if (strcmp(a->users[i].name, name) == 0) return &a->users[i];
    return NULL;
}

static uint32_t admin_count(const hearth_auth *a)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->nusers; i++)
        if (a->users[i].role == HEARTH_ROLE_ADMIN) n++;
    return n;
}

/* The actor must be a CURRENT admin account: a session_info obtained before a
 * demotion or deletion, or forged by a caller, does not grant anything. */
static hearth_status require_admin(hearth_auth *a, const hearth_session_info *actor)
{
    if (actor == NULL || actor->role != HEARTH_ROLE_ADMIN)
        return hearth_err(HEARTH_ERR_FORBIDDEN, "only an admin may manage users");
    const auth_user *u = find_user(a, actor->username);
    if (u == NULL || u->role != HEARTH_ROLE_ADMIN)
        return hearth_err(HEARTH_ERR_FORBIDDEN, "only an admin may manage users");
    return HEARTH_OK;
}

static void user_record_name(const char *user, char out[HEARTH_STORE_NAME_MAX + 1])
{
    snprintf(out, HEARTH_STORE_NAME_MAX + 1, "%s%s", USER_PREFIX, user);
}

static void u64str(uint64_t v, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)v);
}

/* Hashing slot: a bounded number of Argon2id computations at once, so a
 * burst of requests cannot take all memory (32 MiB each) or all CPU. */
static hearth_status slot_acquire(hearth_auth *a)
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

static void slot_release(hearth_auth *a)
{
    atomic_fetch_sub(&a->hashing, 1);
}

/* ------------------------------------------------------- serialization */

static hearth_status enc_state(uint8_t state, hearth_buf *b)
{
    HEARTH_GUARD(hearth_buf_u8(b, FMT_VERSION));
    return hearth_buf_u8(b, state);
}

static hearth_status enc_user(const auth_user *u, hearth_buf *b)
{
    size_t hl = strnlen(u->hash, HEARTH_PW_HASH_MAX);
    HEARTH_GUARD(hearth_buf_u8(b, FMT_VERSION));
    HEARTH_GUARD(hearth_buf_u8(b, (uint8_t)u->role));
    HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)u->created));
    HEARTH_GUARD(hearth_buf_u16(b, (uint16_t)hl));
    return hearth_buf_append(b, u->hash, hl);
}

static hearth_status dec_hash(hearth_cursor *c, size_t hl, char out[HEARTH_PW_HASH_MAX])
{
    HEARTH_ENSURE(hl > 0 && hl < HEARTH_PW_HASH_MAX, HEARTH_ERR_INVALID);
    memset(out, 0, HEARTH_PW_HASH_MAX);
    HEARTH_GUARD(hearth_cursor_copy(c, out, hl));
    HEARTH_ENSURE(strnlen(out, HEARTH_PW_HASH_MAX) == hl, HEARTH_ERR_INVALID);
    return HEARTH_OK;
}

/* A stored user name: exactly @p ul bytes of [a-z0-9._-]. The syntax check
 * alone would stop at an embedded NUL and accept "ab\0" as "ab", so the
 * copied name must also be exactly ul bytes long: what is loaded is then
 * exactly what the record holds, and re-encodes to it. */
static hearth_status dec_name(hearth_cursor *c, size_t ul, char out[HEARTH_USERNAME_MAX + 1])
{
    HEARTH_ENSURE(ul >= 1 && ul <= HEARTH_USERNAME_MAX, HEARTH_ERR_INVALID);
    memset(out, 0, HEARTH_USERNAME_MAX + 1);
    HEARTH_GUARD(hearth_cursor_copy(c, out, ul));
    HEARTH_ENSURE(strnlen(out, HEARTH_USERNAME_MAX + 1) == ul, HEARTH_ERR_INVALID);
    HEARTH_ENSURE(hearth_auth_username_valid(out), HEARTH_ERR_INVALID);
    return HEARTH_OK;
}

static hearth_status dec_user(const uint8_t *val, size_t len, auth_user *u)
{
    hearth_cursor c;
    uint8_t ver = 0, role = 0;
    uint16_t hl = 0;
    uint64_t created = 0;
    hearth_cursor_init(&c, val, len);
    HEARTH_GUARD(hearth_cursor_u8(&c, &ver));
    HEARTH_ENSURE(ver == FMT_VERSION, HEARTH_ERR_UNSUPPORTED);
    HEARTH_GUARD(hearth_cursor_u8(&c, &role));
    HEARTH_ENSURE(role == HEARTH_ROLE_USER || role == HEARTH_ROLE_ADMIN, HEARTH_ERR_INVALID);
    HEARTH_GUARD(hearth_cursor_u64(&c, &created));
    HEARTH_GUARD(hearth_cursor_u16(&c, &hl));
    HEARTH_GUARD(dec_hash(&c, hl, u->hash));
    HEARTH_ENSURE(hearth_cursor_remaining(&c) == 0, HEARTH_ERR_INVALID);
    u->role = (hearth_role)role;
    u->created = (int64_t)created;
    return HEARTH_OK;
}

static hearth_status enc_sessions(const hearth_auth *a, hearth_buf *b)
{
    HEARTH_GUARD(hearth_buf_u8(b, FMT_VERSION));
    HEARTH_GUARD(hearth_buf_u16(b, (uint16_t)a->nsessions));
    for (uint32_t i = 0; i < a->nsessions; i++) {
        const auth_session *s = &a->sessions[i];
        size_t ul = strlen(s->user);
        HEARTH_GUARD(hearth_buf_append(b, s->th, sizeof s->th));
        HEARTH_GUARD(hearth_buf_u8(b, (uint8_t)ul));
        HEARTH_GUARD(hearth_buf_append(b, s->user, ul));
        HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)s->created));
        HEARTH_GUARD(hearth_buf_u64(b, (uint64_t)s->expires));
    }
    return HEARTH_OK;
}

static void sessions_keep_newest(hearth_auth *a, uint32_t max);

static hearth_status dec_sessions(hearth_auth *a, const uint8_t *val, size_t len)
{
    hearth_cursor c;
    uint8_t ver = 0;
    uint16_t n = 0;
    hearth_cursor_init(&c, val, len);
    HEARTH_GUARD(hearth_cursor_u8(&c, &ver));
    HEARTH_ENSURE(ver == FMT_VERSION, HEARTH_ERR_UNSUPPORTED);
    HEARTH_GUARD(hearth_cursor_u16(&c, &n));
    HEARTH_ENSURE(n <= SESSIONS_LIMIT, HEARTH_ERR_INVALID);
    for (uint16_t i = 0; i < n; i++) {
        auth_session *s = &a->sessions[i];
        uint8_t ul = 0;
        uint64_t cr = 0, ex = 0;
        memset(s, 0, sizeof *s);
        HEARTH_GUARD(hearth_cursor_copy(&c, s->th, sizeof s->th));
        HEARTH_GUARD(hearth_cursor_u8(&c, &ul));
        HEARTH_GUARD(dec_name(&c, ul, s->user));
        HEARTH_GUARD(hearth_cursor_u64(&c, &cr));
        HEARTH_GUARD(hearth_cursor_u64(&c, &ex));
        s->created = (int64_t)cr;
        s->expires = (int64_t)ex;
    }
    HEARTH_ENSURE(hearth_cursor_remaining(&c) == 0, HEARTH_ERR_INVALID);
    a->nsessions = n;
    sessions_keep_newest(a, a->cfg.sessions_max);
    return HEARTH_OK;
}

/* ------------------------------------------------------------- sessions */

static void session_remove_at(hearth_auth *a, uint32_t i)
{
    a->sessions[i] = a->sessions[a->nsessions - 1];
    hearth_memzero(&a->sessions[a->nsessions - 1], sizeof a->sessions[0]);
    a->nsessions--;
}

static void sessions_keep_newest(hearth_auth *a, uint32_t max)
{
    while (a->nsessions > max) {
        uint32_t oldest = 0;
        for (uint32_t i = 1; i < a->nsessions; i++)
            if (a->sessions[i].created < a->sessions[oldest].created) oldest = i;
        session_remove_at(a, oldest);
    }
}

static void sessions_prune_expired(hearth_auth *a, int64_t now)
{
    for (uint32_t i = a->nsessions; i-- > 0;)
        if (a->sessions[i].expires <= now) session_remove_at(a, i);
}

/* Revoke every session of @p user except the one whose hash is @p keep. */
static uint32_t sessions_revoke_user(hearth_auth *a, const char *user, const uint8_t *keep)
{
    uint32_t n = 0;
    for (uint32_t i = a->nsessions; i-- > 0;) {
        const auth_session *s = &a->sessions[i];
        if (strcmp(s->user, user) != 0) continue;
        if (keep != NULL && hearth_ct_equal(s->th, keep, 32)) continue;
        session_remove_at(a, i);
        n++;
    }
    return n;
}

static bool token_hash(const char *token, uint8_t th[32])
{
    uint8_t raw[TOKEN_BYTES + 1];
    size_t rl = 0;
    if (token == NULL || strnlen(token, HEARTH_TOKEN_STR_MAX) != TOKEN_B64_LEN) return false;
    bool ok = hearth_b64url_decode(token, TOKEN_B64_LEN, raw, sizeof raw, &rl) == HEARTH_OK &&
              rl == TOKEN_BYTES && hearth_sha256(raw, TOKEN_BYTES, th) == HEARTH_OK;
    hearth_memzero(raw, sizeof raw);
    return ok;
}

/* Constant-time comparison against every entry (no early exit on the hash). */
static int session_find(const hearth_auth *a, const uint8_t th[32])
{
    int found = -1;
    for (uint32_t i = 0; i < a->nsessions; i++)
        if (hearth_ct_equal(a->sessions[i].th, th, 32) && found < 0) found = (int)i;
    return found;
}

/* ---------------------------------------------------------- persistence */

/* Most records one operation writes at once (setup: account, setup
 * password, state, limiter). */
#define BATCH_MAX 4

typedef struct {
    hearth_store_op ops[BATCH_MAX];
    hearth_buf bufs[BATCH_MAX];
    char names[BATCH_MAX][HEARTH_STORE_NAME_MAX + 1];
    size_t n;
    bool overflow; /* more than BATCH_MAX records asked for: commit refuses */
    bool has_rl;   /* carries auth.ratelimit */
    hearth_buf spill; /* handed out when full; max 0, so every write to it fails */
} batch;

static void batch_init(batch *b)
{
    memset(b, 0, sizeof *b);
    hearth_buf_init(&b->spill, 0);
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < BATCH_MAX; i++) hearth_buf_free(&b->bufs[i]);
    hearth_buf_free(&b->spill);
}

/* A buffer for record @p name, or the spill buffer (writes fail, the batch
 * is marked) when the batch is full: never an index past the arrays. */
static hearth_buf *batch_put(batch *b, const char *name)
{
    if (b->n >= BATCH_MAX) {
        b->overflow = true;
        return &b->spill;
    }
    size_t i = b->n++;
    snprintf(b->names[i], sizeof b->names[i], "%s", name);
    hearth_buf_init(&b->bufs[i], HEARTH_STORE_VALUE_MAX);
    b->ops[i].name = b->names[i];
    return &b->bufs[i];
}

static void batch_delete(batch *b, const char *name)
{
    if (b->n >= BATCH_MAX) {
        b->overflow = true;
        return;
    }
    size_t i = b->n++;
    snprintf(b->names[i], sizeof b->names[i], "%s", name);
    b->ops[i].name = b->names[i];
    b->ops[i].val = NULL;
    b->ops[i].len = 0;
}

/* Commit the batch. Called with persist_mu and mu held; mu is RELEASED for
 * the store commit (requests keep being served) and held again on return.
 * The caller applies the result to memory only on HEARTH_OK. */
static hearth_status batch_commit(hearth_auth *a, batch *b)
{
    if (b->overflow)
        return hearth_err(HEARTH_ERR_INTERNAL, "auth write batch holds at most %d records",
                          BATCH_MAX);
    for (size_t i = 0; i < b->n; i++) {
        if (b->bufs[i].max == 0) continue; /* a delete */
        b->ops[i].val = b->bufs[i].data != NULL ? (const void *)b->bufs[i].data : (const void *)"";
        b->ops[i].len = b->bufs[i].len;
    }
    unlock(a);
    hearth_status s = hearth_store_commit(a->st, b->ops, b->n);
    lock(a);
    if (b->has_rl) {
        if (s == HEARTH_OK) {
            a->rl_written = true;
            a->rl_written_ms = auth_mono_ms(a);
        } else {
            a->rl_dirty = true; /* still only in memory */
        }
    }
    return s;
}

/* The limiter state goes into the batch; failures counted after this point
 * (during the commit) mark it dirty again. */
static hearth_status batch_add_rl(hearth_auth *a, batch *b)
{
    rl_sync_offset(a);
    a->rl_dirty = false;
    b->has_rl = true;
    return hearth_rl_save(a->rl, batch_put(b, REC_RL));
}

/* The limiter state as it will be after a successful check, for a batch
 * whose commit decides whether the success happened (applied after it). */
static hearth_status batch_add_rl_success(hearth_auth *a, batch *b, const char *source,
                                          int64_t now_ms, const hearth_rl_ticket *t)
{
    rl_sync_offset(a);
    a->rl_dirty = false;
    b->has_rl = true;
    return hearth_rl_save_with_success(a->rl, source, now_ms, t, batch_put(b, REC_RL));
}

static hearth_status batch_add_sessions(hearth_auth *a, batch *b)
{
    return enc_sessions(a, batch_put(b, REC_SESSIONS));
}

static hearth_status batch_add_user(batch *b, const auth_user *u)
{
    char name[HEARTH_STORE_NAME_MAX + 1];
    user_record_name(u->name, name);
    return enc_user(u, batch_put(b, name));
}

/* Write the limiter state if failures are pending and the last write is at
 * least rl_persist_interval_s old (limiter clock), or @p force. Called with
 * persist_mu and mu held (mu is released during the commit). Failures are
 * always counted in memory at once; what the interval bounds is how often
 * the network can make the device write (flash and TPM NV wear): at most
 * 3600 / rl_persist_interval_s limiter writes per hour. A crash loses at
 * most the failures of one interval. If the write fails the failures still
 * count in memory and the write is retried at the next one. */
static void persist_rl_due(hearth_auth *a, bool force)
{
    if (!a->rl_dirty) return;
    if (!force && a->rl_written &&
        auth_mono_ms(a) - a->rl_written_ms < (int64_t)a->cfg.rl_persist_interval_s * 1000)
        return;
    batch b;
    batch_init(&b);
    hearth_status st = batch_add_rl(a, &b);
    if (st == HEARTH_OK) st = batch_commit(a, &b);
    else a->rl_dirty = true;
    batch_free(&b);
    if (st != HEARTH_OK)
        hearth_seclog(HEARTH_SEV_ALERT, "ratelimit_persist_failed", "status",
                      hearth_status_name(st), NULL);
}

/* Settle a failed password check: count it, log, persist when due. Called
 * with persist_mu and mu held. */
static void record_failure(hearth_auth *a, const char *source, const char *user,
                           const char *event, const hearth_rl_ticket *t)
{
    hearth_rl_outcome out;
    hearth_rl_fail(a->rl, source, auth_mono_ms(a), t, &out);
    a->rl_dirty = true;
    char fails[24];
    u64str(out.failures, fails);
    hearth_seclog(HEARTH_SEV_WARNING, event, "source", source, "user",
                  hearth_auth_username_valid(user) ? user : "(invalid)", "failures", fails, NULL);
    if (out.delay_ms > 0) {
        char d[24];
        u64str((out.delay_ms + 999) / 1000, d);
        hearth_seclog(HEARTH_SEV_WARNING, "lockout", "scope", "source", "source", source,
                      "retry_after_s", d, NULL);
    }
    if (out.device_locked)
        hearth_seclog(HEARTH_SEV_ALERT, "lockout", "scope", "device", "source", source, NULL);
    persist_rl_due(a, false);
}

static hearth_status admit(hearth_auth *a, const char *source, hearth_rl_ticket *t,
                           uint32_t *retry_after_s)
{
    return hearth_rl_begin(a->rl, source, auth_mono_ms(a), t, retry_after_s);
}

/* Settle a check of @p user's password against @p hash that ran outside the
 * lock; called with the lock held. @p s is the slot/hashing status, @p v the
 * verdict. A hashing error or a busy slot is not a guess, so its ticket is
 * handed back; a wrong password counts as one. The account must then still
 * carry the hash that was checked: deleted or re-passworded in between, the
 * check no longer applies (and is not a guess either). On success the lock
 * stays held and *out is the account; otherwise both locks (wlock) are
 * released and the error returned (the caller wipes its own copies). */
static hearth_status settle_check(hearth_auth *a, const char *source, const char *user,
                                  const char *hash, const hearth_rl_ticket *t, hearth_status s,
                                  hearth_status v, const char *wrong_msg,
                                  hearth_status changed_st, const char *changed_msg,
                                  auth_user **out)
{
    if (s != HEARTH_OK || (v != HEARTH_OK && v != HEARTH_ERR_AUTH)) {
        hearth_rl_abort(a->rl, source, t);
        wunlock(a);
        return s != HEARTH_OK ? s : v;
    }
    if (v != HEARTH_OK) {
        record_failure(a, source, user, "login_failed", t);
        wunlock(a);
        return hearth_err(HEARTH_ERR_AUTH, "%s", wrong_msg);
    }
    auth_user *cu = find_user(a, user);
    if (cu == NULL || strcmp(cu->hash, hash) != 0) {
        hearth_rl_abort(a->rl, source, t);
        wunlock(a);
        return hearth_err(changed_st, "%s", changed_msg);
    }
    *out = cu;
    return HEARTH_OK;
}

/* Revoke @p user's sessions (all but the one hashing to @p keep, if any) and
 * commit that in ONE store transaction with the account's new record @p put
 * or the deletion of record @p del, and, if @p rl_source is given, with the
 * limiter state after that source's successful check (the caller applies
 * the success to memory only when this returns HEARTH_OK). If the commit
 * fails the in-memory sessions are put back, so memory never runs ahead of
 * the store. Called under wlock. */
static hearth_status commit_revoking(hearth_auth *a, const char *user, const uint8_t *keep,
                                     const auth_user *put, const char *del, const char *rl_source,
                                     const hearth_rl_ticket *rl_t, int64_t rl_now_ms,
                                     uint32_t *revoked)
{
    auth_session saved[SESSIONS_LIMIT];
    uint32_t nsaved = a->nsessions;
    memcpy(saved, a->sessions, sizeof saved);
    *revoked = sessions_revoke_user(a, user, keep);
    batch b;
    batch_init(&b);
    hearth_status s = HEARTH_OK;
    if (put != NULL) s = batch_add_user(&b, put);
    if (del != NULL) batch_delete(&b, del);
    if (s == HEARTH_OK) s = batch_add_sessions(a, &b);
    if (s == HEARTH_OK && rl_source != NULL)
        s = batch_add_rl_success(a, &b, rl_source, rl_now_ms, rl_t);
    if (s == HEARTH_OK) s = batch_commit(a, &b);
    batch_free(&b);
    if (s != HEARTH_OK) {
        memcpy(a->sessions, saved, sizeof saved);
        a->nsessions = nsaved;
    }
    hearth_memzero(saved, sizeof saved);
    return s;
}

/* ---------------------------------------------------------- open/close */

typedef struct {
    hearth_auth *a;
} load_ctx;

static hearth_status load_user(const char *name, const uint8_t *val, size_t len, void *arg)
{
    hearth_auth *a = ((load_ctx *)arg)->a;
    /* The account name is the rest of the record name. The store hands
     * names as C strings and refuses control bytes (NUL included) in them,
     * so here the string's own length is the name's length; it must still be
     * a whole, valid user name (at most HEARTH_USERNAME_MAX bytes). */
    const char *uname = name + strlen(USER_PREFIX);
    if (!hearth_auth_username_valid(uname))
        return hearth_err(HEARTH_ERR_INVALID, "bad account record name");
    if (a->nusers >= USERS_LIMIT) return hearth_err(HEARTH_ERR_TOO_LARGE, "too many accounts");
    auth_user *u = &a->users[a->nusers];
    memset(u, 0, sizeof *u);
    hearth_status st = dec_user(val, len, u);
    if (st != HEARTH_OK) return hearth_err(st, "malformed account record %s", name);
    snprintf(u->name, sizeof u->name, "%s", uname);
    a->nusers++;
    return HEARTH_OK;
}

static hearth_status read_record(hearth_store *st, const char *name, uint8_t **out, size_t *len)
{
    size_t need = 0;
    uint8_t probe[1];
    *out = NULL;
    hearth_status s = hearth_store_get(st, name, probe, 0, &need);
    if (s != HEARTH_OK && s != HEARTH_ERR_TOO_LARGE) return s;
    uint8_t *buf = malloc(need + 1);
    HEARTH_ENSURE(buf != NULL, HEARTH_ERR_NOMEM);
    s = hearth_store_get(st, name, buf, need + 1, len);
    if (s != HEARTH_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return HEARTH_OK;
}

static hearth_status read_state(hearth_store *st, uint8_t *state)
{
    uint8_t v[2];
    size_t len = 0;
    hearth_status s = hearth_store_get(st, REC_STATE, v, sizeof v, &len);
    if (s == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_STATE, "device not provisioned: no authentication state");
    HEARTH_GUARD(s);
    if (len != 2 || v[0] != FMT_VERSION || (v[1] != STATE_FACTORY && v[1] != STATE_INITIALIZED))
        return hearth_err(HEARTH_ERR_INVALID, "malformed auth.state record");
    *state = v[1];
    return HEARTH_OK;
}

/* Sessions are only a convenience: a malformed record drops them all rather
 * than refusing to start (everyone logs in again). */
static hearth_status load_sessions(hearth_auth *a, const uint8_t *val, size_t len)
{
    hearth_status s = dec_sessions(a, val, len);
    if (s != HEARTH_OK) a->nsessions = 0;
    return s;
}

static hearth_status check_config(const hearth_auth_config *c)
{
    if (c->session_ttl_s < 60 || c->session_ttl_s > 30u * 86400)
        return hearth_err(HEARTH_ERR_RANGE, "session_ttl_s must be 60..2592000");
    if (c->sessions_max < 1 || c->sessions_max > SESSIONS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "sessions_max must be 1..%d", SESSIONS_LIMIT);
    if (c->sessions_per_user < 1 || c->sessions_per_user > c->sessions_max)
        return hearth_err(HEARTH_ERR_RANGE, "sessions_per_user must be 1..sessions_max");
    if (c->rl_persist_interval_s > 3600)
        return hearth_err(HEARTH_ERR_RANGE, "rl_persist_interval_s must be 0..3600");
    if (c->users_max < 1 || c->users_max > USERS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "users_max must be 1..%d", USERS_LIMIT);
    if (c->hash_concurrency < 1 || c->hash_concurrency > 64)
        return hearth_err(HEARTH_ERR_RANGE, "hash_concurrency must be 1..64");
    if (c->serial != NULL && strnlen(c->serial, SERIAL_MAX + 1) > SERIAL_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "serial longer than %d bytes", SERIAL_MAX);
    return HEARTH_OK;
}

static hearth_status auth_load(hearth_auth *a)
{
    uint8_t state = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    HEARTH_GUARD(read_state(a->st, &state));
    a->initialized = state == STATE_INITIALIZED;
    if (!a->initialized) {
        hearth_status s = read_record(a->st, REC_SETUP, &buf, &len);
        if (s == HEARTH_ERR_NOT_FOUND)
            return hearth_err(HEARTH_ERR_INVALID, "factory state without a setup password");
        HEARTH_GUARD(s);
        bool ok = len > 0 && len < HEARTH_PW_HASH_MAX && memchr(buf, '\0', len) == NULL;
        if (ok) memcpy(a->setup_hash, buf, len);
        hearth_memzero(buf, len);
        free(buf);
        if (!ok) return hearth_err(HEARTH_ERR_INVALID, "malformed auth.setup record");
    }
    load_ctx lc = {a};
    HEARTH_GUARD(hearth_store_foreach(a->st, USER_PREFIX, load_user, &lc));

    hearth_status s = read_record(a->st, REC_SESSIONS, &buf, &len);
    if (s == HEARTH_OK) {
        s = load_sessions(a, buf, len);
        free(buf);
        if (s != HEARTH_OK) {
            hearth_seclog(HEARTH_SEV_ALERT, "sessions_discarded", "reason", "malformed", NULL);
        }
    } else if (s != HEARTH_ERR_NOT_FOUND) {
        return s;
    }

    s = read_record(a->st, REC_RL, &buf, &len);
    if (s == HEARTH_OK) {
        rl_sync_offset(a); /* the record's wall-clock times -> the limiter's clock */
        s = hearth_rl_load(a->rl, buf, len);
        free(buf);
        if (s != HEARTH_OK) {
            /* Fail safe but not forever: start with an empty device bucket
             * (it refills within minutes) instead of a fresh limiter. */
            hearth_rl_drain(a->rl, auth_mono_ms(a));
            hearth_seclog(HEARTH_SEV_ALERT, "ratelimit_reset", "reason", "malformed", NULL);
        }
    } else if (s != HEARTH_ERR_NOT_FOUND) {
        return s;
    }
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
    if (s == HEARTH_OK && pthread_mutex_init(&a->mu, NULL) != 0)
        s = hearth_err(HEARTH_ERR_NOMEM, "cannot create mutex");
    if (s == HEARTH_OK && pthread_mutex_init(&a->persist_mu, NULL) != 0) {
        pthread_mutex_destroy(&a->mu);
        s = hearth_err(HEARTH_ERR_NOMEM, "cannot create mutex");
    }
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
    wlock(a);
    persist_rl_due(a, true);
    wunlock(a);
    pthread_mutex_destroy(&a->persist_mu);
    pthread_mutex_destroy(&a->mu);
    hearth_rl_free(a->rl);
    hearth_memzero(a, sizeof *a);
    free(a);
}

bool hearth_auth_initialized(hearth_auth *a)
{
    if (a == NULL) return false;
    lock(a);
    bool v = a->initialized;
    unlock(a);
    return v;
}

/* ------------------------------------------------------ factory default */

hearth_status hearth_auth_factory_init(hearth_store *st, const char *setup_pw)
{
    HEARTH_ENSURE(st != NULL && setup_pw != NULL, HEARTH_ERR_INVALID);
    size_t len = strnlen(setup_pw, HEARTH_PW_MAX + 1);
    if (len == 0 || len > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "setup password must be 1..%d bytes", HEARTH_PW_MAX);
    uint8_t state = 0;
    hearth_status s = read_state(st, &state);
    if (s == HEARTH_OK)
        return hearth_err(HEARTH_ERR_EXISTS, "authentication already provisioned");
    if (s != HEARTH_ERR_STATE) return s;
    char hash[HEARTH_PW_HASH_MAX];
    HEARTH_GUARD(hearth_pw_hash(setup_pw, len, hash));
    uint8_t sv[2] = {FMT_VERSION, STATE_FACTORY};
    hearth_store_op ops[2] = {
        {REC_SETUP, hash, strlen(hash)},
        {REC_STATE, sv, sizeof sv},
    };
    s = hearth_store_commit(st, ops, 2);
    hearth_memzero(hash, sizeof hash);
    return s;
}

hearth_status hearth_auth_setup(hearth_auth *a, const char *source, const char *setup_pw,
                                const char *admin_user, const char *admin_pw,
                                uint32_t *retry_after_s)
{
    HEARTH_ENSURE(a != NULL && source != NULL && setup_pw != NULL && admin_user != NULL &&
                      admin_pw != NULL,
                  HEARTH_ERR_INVALID);
    if (retry_after_s != NULL) *retry_after_s = 0;
    size_t slen = strnlen(setup_pw, HEARTH_PW_MAX + 1);
    size_t alen = strnlen(admin_pw, HEARTH_PW_MAX + 1);
    /* Once initialized the answer is always STATE, whatever the input: the
     * setup password no longer exists. */
    if (hearth_auth_initialized(a))
        return hearth_err(HEARTH_ERR_STATE, "setup already completed: the setup password is retired");
    if (!hearth_auth_username_valid(admin_user))
        return hearth_err(HEARTH_ERR_INVALID, "user name must be 1..%d of [a-z0-9._-]",
                          HEARTH_USERNAME_MAX);
    if (alen > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_POLICY, "password is too long: at most %d bytes",
                          HEARTH_PW_MAX);
    /* The public policy is checked before the secret: a rejected choice
     * costs no hash and no guess. The new password must differ from the
     * setup password (TR 103 621 6.1 example 1). */
    HEARTH_GUARD(hearth_pw_policy_check(admin_pw, alen, admin_user, a->cfg.serial));
    if (alen == slen && hearth_ct_equal(admin_pw, setup_pw, alen))
        return hearth_err(HEARTH_ERR_POLICY, "the new password must differ from the setup password");

    hearth_rl_ticket t;
    char hash[HEARTH_PW_HASH_MAX];
    lock(a);
    if (a->initialized) {
        unlock(a);
        return hearth_err(HEARTH_ERR_STATE, "setup already completed: the setup password is retired");
    }
    hearth_status s = admit(a, source, &t, retry_after_s);
    if (s != HEARTH_OK) {
        unlock(a);
        return s;
    }
    memcpy(hash, a->setup_hash, sizeof hash);
    unlock(a);

    auth_user nu;
    memset(&nu, 0, sizeof nu);
    s = slot_acquire(a);
    if (s == HEARTH_OK) {
        hearth_status v =
            hearth_pw_verify(hash, setup_pw, slen > HEARTH_PW_MAX ? HEARTH_PW_MAX : slen);
        if (slen > HEARTH_PW_MAX) v = HEARTH_ERR_AUTH;
        s = v == HEARTH_OK ? hearth_pw_hash(admin_pw, alen, nu.hash) : v;
        slot_release(a);
    }
    hearth_memzero(hash, sizeof hash);

    wlock(a);
    if (s == HEARTH_ERR_BUSY || a->initialized || (s != HEARTH_OK && s != HEARTH_ERR_AUTH)) {
        hearth_rl_abort(a->rl, source, &t);
        if (a->initialized && s != HEARTH_ERR_BUSY)
            s = hearth_err(HEARTH_ERR_STATE, "setup already completed");
        wunlock(a);
        hearth_memzero(&nu, sizeof nu);
        return s;
    }
    if (s == HEARTH_ERR_AUTH) {
        record_failure(a, source, "setup", "setup_failed", &t);
        wunlock(a);
        return hearth_err(HEARTH_ERR_AUTH, "wrong setup password");
    }
    snprintf(nu.name, sizeof nu.name, "%s", admin_user);
    nu.role = HEARTH_ROLE_ADMIN;
    nu.created = auth_now(a);
    int64_t now_ms = auth_mono_ms(a);

    /* One atomic commit: first admin in, setup password out, state flipped. */
    batch b;
    batch_init(&b);
    s = batch_add_user(&b, &nu);
    if (s == HEARTH_OK) {
        batch_delete(&b, REC_SETUP);
        s = enc_state(STATE_INITIALIZED, batch_put(&b, REC_STATE));
    }
    if (s == HEARTH_OK) s = batch_add_rl_success(a, &b, source, now_ms, &t);
    if (s == HEARTH_OK) s = batch_commit(a, &b);
    batch_free(&b);
    if (s != HEARTH_OK) hearth_rl_abort(a->rl, source, &t); /* not committed: did not happen */
    if (s == HEARTH_OK) {
        hearth_rl_success(a->rl, source, now_ms, &t);
        a->users[a->nusers++] = nu;
        a->initialized = true;
        hearth_memzero(a->setup_hash, sizeof a->setup_hash);
        hearth_seclog(HEARTH_SEV_INFO, "setup_completed", "source", source, "user", admin_user,
                      NULL);
    }
    wunlock(a);
    hearth_memzero(&nu, sizeof nu);
    return s;
}

/* ---------------------------------------------------------------- login */

static hearth_status session_create(hearth_auth *a, const char *user, int64_t now,
                                    char token[HEARTH_TOKEN_STR_MAX], auth_session *out)
{
    uint8_t raw[TOKEN_BYTES];
    auth_session s;
    memset(&s, 0, sizeof s);
    hearth_status st = hearth_random(raw, sizeof raw);
    if (st == HEARTH_OK) st = hearth_b64url_encode(raw, sizeof raw, token, HEARTH_TOKEN_STR_MAX);
    if (st == HEARTH_OK) st = hearth_sha256(raw, sizeof raw, s.th);
    hearth_memzero(raw, sizeof raw);
    if (st != HEARTH_OK) return st;
    snprintf(s.user, sizeof s.user, "%s", user);
    s.created = now;
    s.expires = now + (int64_t)a->cfg.session_ttl_s;
    sessions_prune_expired(a, now);
    /* Make room only at the expense of this account: its oldest session
     * goes when it is at its own limit, or when the device table is full.
     * Another account's session is never evicted (a user's logins cannot
     * log the administrator out); a full table held by other accounts
     * refuses the login. With the defaults (16 x 4 = 64) that cannot happen. */
    uint32_t mine = 0;
    for (uint32_t i = 0; i < a->nsessions; i++)
        if (strcmp(a->sessions[i].user, user) == 0) mine++;
    if (mine == 0 && a->nsessions >= a->cfg.sessions_max) {
        hearth_memzero(&s, sizeof s);
        hearth_memzero(token, HEARTH_TOKEN_STR_MAX);
        return hearth_err(HEARTH_ERR_BUSY, "all %u sessions are held by other accounts",
                          a->cfg.sessions_max);
    }
    while (mine > 0 && (mine >= a->cfg.sessions_per_user || a->nsessions >= a->cfg.sessions_max)) {
        uint32_t oldest = UINT32_MAX;
        for (uint32_t i = 0; i < a->nsessions; i++) {
            if (strcmp(a->sessions[i].user, user) != 0) continue;
            if (oldest == UINT32_MAX || a->sessions[i].created < a->sessions[oldest].created)
                oldest = i;
        }
        session_remove_at(a, oldest);
        mine--;
    }
    a->sessions[a->nsessions++] = s;
    *out = s;
    return HEARTH_OK;
}

hearth_status hearth_auth_login(hearth_auth *a, const char *source, const char *user,
                                const char *pw, char token[HEARTH_TOKEN_STR_MAX],
                                hearth_session_info *info, uint32_t *retry_after_s)
{
    HEARTH_ENSURE(a != NULL && source != NULL && user != NULL && pw != NULL && token != NULL,
                  HEARTH_ERR_INVALID);
    token[0] = '\0';
    if (retry_after_s != NULL) *retry_after_s = 0;
    size_t plen = strnlen(pw, HEARTH_PW_MAX + 1);
    bool too_long = plen > HEARTH_PW_MAX;
    if (too_long) plen = HEARTH_PW_MAX;

    hearth_rl_ticket t;
    char hash[HEARTH_PW_HASH_MAX];
    lock(a);
    if (!a->initialized) {
        unlock(a);
        return hearth_err(HEARTH_ERR_STATE, "device in factory-default state: complete setup first");
    }
    hearth_status s = admit(a, source, &t, retry_after_s);
    if (s != HEARTH_OK) {
        unlock(a);
        return s;
    }
    const auth_user *u = find_user(a, user);
    bool known = u != NULL && !too_long;
    memcpy(hash, u != NULL ? u->hash : a->dummy_hash, sizeof hash);
    unlock(a);

    char rehash[HEARTH_PW_HASH_MAX];
    bool do_rehash = false;
    hearth_status v = HEARTH_ERR_AUTH;
    s = slot_acquire(a);
    if (s == HEARTH_OK) {
        /* Same work whether or not the account exists (no enumeration). */
        v = hearth_pw_verify(hash, pw, plen);
        if (!known) v = HEARTH_ERR_AUTH;
        if (v == HEARTH_OK && hearth_pw_needs_rehash(hash))
            do_rehash = hearth_pw_hash(pw, plen, rehash) == HEARTH_OK;
        slot_release(a);
    }

    wlock(a);
    auth_user *cu = NULL;
    s = settle_check(a, source, user, hash, &t, s, v, "wrong user name or password",
                     HEARTH_ERR_AUTH, "account changed during login, retry", &cu);
    if (s != HEARTH_OK) {
        hearth_memzero(hash, sizeof hash);
        hearth_memzero(rehash, sizeof rehash);
        return s;
    }
    int64_t now = auth_now(a);
    int64_t now_ms = auth_mono_ms(a);

    auth_session saved[SESSIONS_LIMIT];
    uint32_t nsaved = a->nsessions;
    memcpy(saved, a->sessions, sizeof saved);
    auth_session ns;
    memset(&ns, 0, sizeof ns);
    auth_user nu = *cu;
    if (do_rehash) memcpy(nu.hash, rehash, sizeof nu.hash);
    batch b;
    batch_init(&b);
    s = session_create(a, cu->name, now, token, &ns);
    if (s == HEARTH_OK) s = batch_add_sessions(a, &b);
    if (s == HEARTH_OK) s = batch_add_rl_success(a, &b, source, now_ms, &t);
    if (s == HEARTH_OK && do_rehash) s = batch_add_user(&b, &nu);
    if (s == HEARTH_OK) s = batch_commit(a, &b);
    batch_free(&b);
    if (s != HEARTH_OK) {
        memcpy(a->sessions, saved, sizeof saved);
        a->nsessions = nsaved;
        hearth_memzero(token, HEARTH_TOKEN_STR_MAX);
        hearth_rl_abort(a->rl, source, &t); /* not committed: the login did not happen */
    } else {
        hearth_rl_success(a->rl, source, now_ms, &t); /* only now that it is stored */
        if (do_rehash) {
            *cu = nu;
            hearth_seclog(HEARTH_SEV_INFO, "password_rehashed", "user", cu->name, NULL);
        }
        if (info != NULL) {
            memset(info, 0, sizeof *info);
            snprintf(info->username, sizeof info->username, "%s", cu->name);
            info->role = cu->role;
            info->created = ns.created;
            info->expires = ns.expires;
        }
        hearth_seclog(HEARTH_SEV_INFO, "login", "source", source, "user", cu->name, NULL);
    }
    wunlock(a);
    hearth_memzero(saved, sizeof saved);
    hearth_memzero(&nu, sizeof nu);
    hearth_memzero(hash, sizeof hash);
    hearth_memzero(rehash, sizeof rehash);
    return s;
}

hearth_status hearth_auth_session(hearth_auth *a, const char *token, hearth_session_info *info)
{
    uint8_t th[32];
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_INVALID);
    if (!token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    lock(a);
    int i = session_find(a, th);
    hearth_status s = HEARTH_OK;
    if (i < 0) {
        s = hearth_err(HEARTH_ERR_AUTH, "unknown or revoked session");
    } else if (a->sessions[i].expires <= auth_now(a)) {
        s = hearth_err(HEARTH_ERR_EXPIRED, "session expired, log in again");
    } else {
        const auth_user *u = find_user(a, a->sessions[i].user);
        if (u == NULL) {
            s = hearth_err(HEARTH_ERR_AUTH, "account no longer exists");
        } else if (info != NULL) {
            memset(info, 0, sizeof *info);
            snprintf(info->username, sizeof info->username, "%s", u->name);
            info->role = u->role;
            info->created = a->sessions[i].created;
            info->expires = a->sessions[i].expires;
        }
    }
    unlock(a);
    hearth_memzero(th, sizeof th);
    return s;
}

hearth_status hearth_auth_logout(hearth_auth *a, const char *token)
{
    uint8_t th[32];
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_INVALID);
    if (!token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    wlock(a);
    int i = session_find(a, th);
    if (i < 0) {
        wunlock(a);
        return hearth_err(HEARTH_ERR_AUTH, "unknown or revoked session");
    }
    auth_session gone = a->sessions[i];
    session_remove_at(a, (uint32_t)i);
    batch b;
    batch_init(&b);
    hearth_status s = batch_add_sessions(a, &b);
    if (s == HEARTH_OK) s = batch_commit(a, &b);
    batch_free(&b);
    if (s != HEARTH_OK) {
        a->sessions[a->nsessions++] = gone;
    } else {
        hearth_seclog(HEARTH_SEV_INFO, "session_revoked", "user", gone.user, "reason", "logout",
                      "count", "1", NULL);
    }
    wunlock(a);
    hearth_memzero(&gone, sizeof gone);
    return s;
}

/* ------------------------------------------------------ password change */

hearth_status hearth_auth_change_password(hearth_auth *a, const char *source, const char *token,
                                          const char *old_pw, const char *new_pw,
                                          uint32_t *retry_after_s)
{
    HEARTH_ENSURE(a != NULL && source != NULL && old_pw != NULL && new_pw != NULL,
                  HEARTH_ERR_INVALID);
    if (retry_after_s != NULL) *retry_after_s = 0;
    uint8_t th[32];
    if (!token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    size_t olen = strnlen(old_pw, HEARTH_PW_MAX + 1);
    size_t nlen = strnlen(new_pw, HEARTH_PW_MAX + 1);
    if (nlen > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_POLICY, "password is too long: at most %d bytes",
                          HEARTH_PW_MAX);

    char user[HEARTH_USERNAME_MAX + 1];
    char hash[HEARTH_PW_HASH_MAX];
    hearth_rl_ticket t;
    lock(a);
    int i = session_find(a, th);
    if (i < 0 || a->sessions[i].expires <= auth_now(a)) {
        hearth_status e = i < 0 ? hearth_err(HEARTH_ERR_AUTH, "unknown or revoked session")
                                : hearth_err(HEARTH_ERR_EXPIRED, "session expired, log in again");
        unlock(a);
        return e;
    }
    const auth_user *u = find_user(a, a->sessions[i].user);
    if (u == NULL) {
        unlock(a);
        return hearth_err(HEARTH_ERR_AUTH, "account no longer exists");
    }
    snprintf(user, sizeof user, "%s", u->name);
    memcpy(hash, u->hash, sizeof hash);
    hearth_status s = hearth_pw_policy_check(new_pw, nlen, user, a->cfg.serial);
    if (s == HEARTH_OK && olen == nlen && hearth_ct_equal(old_pw, new_pw, nlen))
        s = hearth_err(HEARTH_ERR_POLICY, "the new password must differ from the old one");
    if (s == HEARTH_OK) s = admit(a, source, &t, retry_after_s);
    unlock(a);
    if (s != HEARTH_OK) {
        hearth_memzero(hash, sizeof hash);
        return s;
    }

    auth_user nu;
    memset(&nu, 0, sizeof nu);
    hearth_status v = HEARTH_ERR_AUTH;
    s = slot_acquire(a);
    if (s == HEARTH_OK) {
        v = hearth_pw_verify(hash, old_pw, olen > HEARTH_PW_MAX ? HEARTH_PW_MAX : olen);
        if (olen > HEARTH_PW_MAX) v = HEARTH_ERR_AUTH;
        if (v == HEARTH_OK) s = hearth_pw_hash(new_pw, nlen, nu.hash);
        slot_release(a);
    }

    wlock(a);
    auth_user *cu = NULL;
    s = settle_check(a, source, user, hash, &t, s, v, "wrong current password",
                     HEARTH_ERR_STATE, "account changed concurrently, retry", &cu);
    if (s != HEARTH_OK) {
        hearth_memzero(hash, sizeof hash);
        hearth_memzero(&nu, sizeof nu);
        return s;
    }
    int64_t now_ms = auth_mono_ms(a);
    snprintf(nu.name, sizeof nu.name, "%s", cu->name);
    nu.role = cu->role;
    nu.created = cu->created;

    uint32_t revoked = 0;
    s = commit_revoking(a, user, th, &nu, NULL, source, &t, now_ms, &revoked);
    if (s != HEARTH_OK) hearth_rl_abort(a->rl, source, &t); /* not committed: did not happen */
    if (s == HEARTH_OK) {
        hearth_rl_success(a->rl, source, now_ms, &t);
        char cnt[24];
        *cu = nu;
        u64str(revoked, cnt);
        hearth_seclog(HEARTH_SEV_INFO, "password_changed", "user", user, "by", user, "source",
                      source, NULL);
        hearth_seclog(HEARTH_SEV_INFO, "session_revoked", "user", user, "reason",
                      "password_changed", "count", cnt, NULL);
    }
    wunlock(a);
    hearth_memzero(hash, sizeof hash);
    hearth_memzero(&nu, sizeof nu);
    return s;
}

/* ------------------------------------------------------ user management */

/* Hash the password an admin sets for @p user: the public policy first (a
 * rejected choice costs no hash), then Argon2id inside a hashing slot. */
static hearth_status hash_new_password(hearth_auth *a, const char *user, const char *pw,
                                       char out[HEARTH_PW_HASH_MAX])
{
    size_t plen = strnlen(pw, HEARTH_PW_MAX + 1);
    HEARTH_GUARD(hearth_pw_policy_check(pw, plen, user, a->cfg.serial));
    HEARTH_GUARD(slot_acquire(a));
    hearth_status s = hearth_pw_hash(pw, plen, out);
    slot_release(a);
    return s;
}

hearth_status hearth_auth_user_add(hearth_auth *a, const hearth_session_info *actor,
                                   const char *user, const char *pw, hearth_role role)
{
    HEARTH_ENSURE(a != NULL && pw != NULL, HEARTH_ERR_INVALID);
    lock(a);
    hearth_status s = require_admin(a, actor);
    if (s == HEARTH_OK && !hearth_auth_username_valid(user))
        s = hearth_err(HEARTH_ERR_INVALID, "user name must be 1..%d of [a-z0-9._-]",
                       HEARTH_USERNAME_MAX);
    if (s == HEARTH_OK && role != HEARTH_ROLE_USER && role != HEARTH_ROLE_ADMIN)
        s = hearth_err(HEARTH_ERR_INVALID, "unknown role");
    if (s == HEARTH_OK && find_user(a, user) != NULL)
        s = hearth_err(HEARTH_ERR_EXISTS, "user already exists");
    if (s == HEARTH_OK && a->nusers >= a->cfg.users_max)
        s = hearth_err(HEARTH_ERR_RANGE, "at most %u accounts", a->cfg.users_max);
    unlock(a);
    HEARTH_GUARD(s);

    auth_user nu;
    memset(&nu, 0, sizeof nu);
    s = hash_new_password(a, user, pw, nu.hash);
    if (s != HEARTH_OK) {
        hearth_memzero(&nu, sizeof nu);
        return s;
    }
    snprintf(nu.name, sizeof nu.name, "%s", user);
    nu.role = role;

    wlock(a);
    if (find_user(a, user) != NULL) s = hearth_err(HEARTH_ERR_EXISTS, "user already exists");
    if (s == HEARTH_OK && a->nusers >= a->cfg.users_max)
        s = hearth_err(HEARTH_ERR_RANGE, "at most %u accounts", a->cfg.users_max);
    if (s == HEARTH_OK) s = require_admin(a, actor);
    nu.created = auth_now(a);
    batch b;
    batch_init(&b);
    if (s == HEARTH_OK) s = batch_add_user(&b, &nu);
    if (s == HEARTH_OK) s = batch_commit(a, &b);
    batch_free(&b);
    if (s == HEARTH_OK) {
        a->users[a->nusers++] = nu;
        hearth_seclog(HEARTH_SEV_INFO, "user_added", "user", user, "role", hearth_role_name(role),
                      "by", actor->username, NULL);
    }
    wunlock(a);
    hearth_memzero(&nu, sizeof nu);
    return s;
}

hearth_status hearth_auth_user_delete(hearth_auth *a, const hearth_session_info *actor,
                                      const char *user)
{
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_INVALID);
    wlock(a);
    hearth_status s = require_admin(a, actor);
    auth_user *u = s == HEARTH_OK ? find_user(a, user) : NULL;
    if (s == HEARTH_OK && u == NULL) s = hearth_err(HEARTH_ERR_NOT_FOUND, "no such user");
    if (u == NULL || s != HEARTH_OK) {
        wunlock(a);
        return s;
    }
    if (u->role == HEARTH_ROLE_ADMIN && admin_count(a) <= 1) {
        wunlock(a);
        return hearth_err(HEARTH_ERR_STATE, "the last admin account cannot be deleted");
    }
    char name[HEARTH_USERNAME_MAX + 1];
    char rec[HEARTH_STORE_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", u->name);
    user_record_name(name, rec);
    uint32_t revoked = 0;
    s = commit_revoking(a, name, NULL, NULL, rec, NULL, NULL, 0, &revoked);
    if (s == HEARTH_OK) {
        char cnt[24];
        hearth_memzero(u, sizeof *u);
        *u = a->users[a->nusers - 1];
        hearth_memzero(&a->users[a->nusers - 1], sizeof a->users[0]);
        a->nusers--;
        u64str(revoked, cnt);
        hearth_seclog(HEARTH_SEV_INFO, "user_deleted", "user", name, "by", actor->username,
                      NULL);
        hearth_seclog(HEARTH_SEV_INFO, "session_revoked", "user", name, "reason",
                      "user_deleted", "count", cnt, NULL);
    }
    wunlock(a);
    return s;
}

hearth_status hearth_auth_user_list(hearth_auth *a, const hearth_session_info *actor,
                                    hearth_user_visit fn, void *arg)
{
    HEARTH_ENSURE(a != NULL && fn != NULL, HEARTH_ERR_INVALID);
    struct {
        char name[HEARTH_USERNAME_MAX + 1];
        hearth_role role;
    } list[USERS_LIMIT];
    uint32_t n = 0;
    lock(a);
    hearth_status s = require_admin(a, actor);
    if (s == HEARTH_OK) {
        for (; n < a->nusers; n++) {
            memcpy(list[n].name, a->users[n].name, sizeof list[n].name);
            list[n].role = a->users[n].role;
        }
    }
    unlock(a);
    HEARTH_GUARD(s);
    /* Called without the lock so the visitor may call back into auth. */
    for (uint32_t i = 0; i < n; i++) fn(list[i].name, list[i].role, arg);
    return HEARTH_OK;
}

hearth_status hearth_auth_user_set_password(hearth_auth *a, const hearth_session_info *actor,
                                            const char *user, const char *pw)
{
    HEARTH_ENSURE(a != NULL && pw != NULL, HEARTH_ERR_INVALID);
    lock(a);
    hearth_status s = require_admin(a, actor);
    if (s == HEARTH_OK && find_user(a, user) == NULL)
        s = hearth_err(HEARTH_ERR_NOT_FOUND, "no such user");
    unlock(a);
    HEARTH_GUARD(s);
    auth_user nu;
    memset(&nu, 0, sizeof nu);
    s = hash_new_password(a, user, pw, nu.hash);
    if (s != HEARTH_OK) {
        hearth_memzero(&nu, sizeof nu);
        return s;
    }

    wlock(a);
    s = require_admin(a, actor);
    auth_user *u = s == HEARTH_OK ? find_user(a, user) : NULL;
    if (s == HEARTH_OK && u == NULL) s = hearth_err(HEARTH_ERR_NOT_FOUND, "no such user");
    if (u == NULL || s != HEARTH_OK) {
        wunlock(a);
        hearth_memzero(&nu, sizeof nu);
        return s;
    }
    snprintf(nu.name, sizeof nu.name, "%s", u->name);
    nu.role = u->role;
    nu.created = u->created;
    uint32_t revoked = 0;
    s = commit_revoking(a, u->name, NULL, &nu, NULL, NULL, NULL, 0, &revoked);
    if (s == HEARTH_OK) {
        char cnt[24];
        *u = nu;
        u64str(revoked, cnt);
        hearth_seclog(HEARTH_SEV_INFO, "password_changed", "user", u->name, "by",
                      actor->username, NULL);
        hearth_seclog(HEARTH_SEV_INFO, "session_revoked", "user", u->name, "reason",
                      "password_reset", "count", cnt, NULL);
    }
    wunlock(a);
    hearth_memzero(&nu, sizeof nu);
    return s;
}

/* ----------------------------------------------------------- test hooks */

/* Only in the unit tests' build of this file (HEARTH_TEST_HOOKS, object
 * library hearth_auth_test_hooks): never in libhearth or the programs. */
#ifdef HEARTH_TEST_HOOKS
void hearth_auth_test_set_rand(hearth_auth *a, hearth_rl_rand_fn fn, void *arg)
{
    lock(a);
    hearth_rl_set_rand(a->rl, fn, arg);
    unlock(a);
}

void hearth_auth_test_set_hash_hook(hearth_auth *a, void (*fn)(void *arg), void *arg)
{
    lock(a);
    a->hash_hook = fn;
    a->hash_hook_arg = arg;
    unlock(a);
}

uint32_t hearth_auth_test_rl_failures(hearth_auth *a, const char *source)
{
    lock(a);
    uint32_t n = hearth_rl_failures(a->rl, source);
    unlock(a);
    return n;
}

uint32_t hearth_auth_test_rl_used(hearth_auth *a)
{
    lock(a);
    uint32_t n = hearth_rl_used(a->rl);
    unlock(a);
    return n;
}
#endif

/* The record decoders below run on a private, zeroed hearth_auth (no store,
 * no mutex, no hashing): exactly the code auth_load() applies to each record. */

hearth_status hearth_auth_test_decode_user(const char *record_name, const uint8_t *val,
                                           size_t len, uint32_t *loaded, hearth_buf *reenc)
{
    *loaded = 0;
    if (record_name == NULL || strncmp(record_name, USER_PREFIX, strlen(USER_PREFIX)) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "not an account record name");
    hearth_auth *a = calloc(1, sizeof *a);
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_NOMEM);
    load_ctx lc = {a};
    hearth_status s = load_user(record_name, val, len, &lc);
    *loaded = a->nusers;
    if (s == HEARTH_OK && reenc != NULL) s = enc_user(&a->users[0], reenc);
    hearth_memzero(a, sizeof *a);
    free(a);
    return s;
}

hearth_status hearth_auth_test_decode_sessions(const uint8_t *val, size_t len,
                                               uint32_t sessions_max, uint32_t *kept,
                                               hearth_buf *reenc)
{
    *kept = 0;
    if (sessions_max < 1 || sessions_max > SESSIONS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "sessions_max must be 1..%d", SESSIONS_LIMIT);
    hearth_auth *a = calloc(1, sizeof *a);
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_NOMEM);
    a->cfg.sessions_max = sessions_max;
    hearth_status s = load_sessions(a, val, len);
    *kept = a->nsessions;
    hearth_status e = reenc != NULL ? enc_sessions(a, reenc) : HEARTH_OK;
    hearth_memzero(a, sizeof *a);
    free(a);
    return s != HEARTH_OK ? s : e;
}
