/* Sessions (EN 303 645 5.1-4, 5.5-4): the table of live sessions, the
 * tokens that name them, session look-up and logout. A token is 32 random
 * bytes, base64url; only its SHA-256 is kept. Each account's sessions are
 * its own: making room for a new one evicts only that account's oldest.
 */
#include <stdio.h>
#include <string.h>

#include "auth_internal.h"

#define TOKEN_BYTES 32
#define TOKEN_B64_LEN 43 /* 32 bytes, base64url, unpadded */

static void session_remove_at(hearth_auth *a, uint32_t i)
{
    a->sessions[i] = a->sessions[a->nsessions - 1];
    hearth_memzero(&a->sessions[a->nsessions - 1], sizeof a->sessions[0]);
    a->nsessions--;
}

/* The oldest session of @p user, or of any account if @p user is NULL
 * (there is one: the caller checks nsessions > 0 or that @p user has one). */
static uint32_t session_oldest(const hearth_auth *a, const char *user)
{
    uint32_t oldest = UINT32_MAX;
    for (uint32_t i = 0; i < a->nsessions; i++) {
        if (user != NULL && strcmp(a->sessions[i].user, user) != 0) continue;
        if (oldest == UINT32_MAX || a->sessions[i].created < a->sessions[oldest].created)
            oldest = i;
    }
    return oldest;
}

void auth_sessions_keep_newest(hearth_auth *a, uint32_t max)
{
    while (a->nsessions > max) session_remove_at(a, session_oldest(a, NULL));
}

static void sessions_prune_expired(hearth_auth *a, int64_t now)
{
    for (uint32_t i = a->nsessions; i-- > 0;)
        if (a->sessions[i].expires <= now) session_remove_at(a, i);
}

uint32_t auth_sessions_revoke_user(hearth_auth *a, const char *user, const uint8_t *keep)
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

bool auth_token_hash(const char *token, uint8_t th[32])
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

hearth_status auth_session_lookup(hearth_auth *a, const uint8_t th[32], const auth_session **sess,
                                  auth_user **user)
{
    int i = session_find(a, th);
    if (i < 0) return hearth_err(HEARTH_ERR_AUTH, "unknown or revoked session");
    if (a->sessions[i].expires <= auth_now(a))
        return hearth_err(HEARTH_ERR_EXPIRED, "session expired, log in again");
    auth_user *u = auth_find_user(a, a->sessions[i].user);
    if (u == NULL) return hearth_err(HEARTH_ERR_AUTH, "account no longer exists");
    *sess = &a->sessions[i];
    *user = u;
    return HEARTH_OK;
}

hearth_status auth_session_create(hearth_auth *a, const char *user, int64_t now,
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
        session_remove_at(a, session_oldest(a, user));
        mine--;
    }
    a->sessions[a->nsessions++] = s;
    *out = s;
    return HEARTH_OK;
}

void auth_log_revoked(const char *user, const char *reason, uint32_t count)
{
    char cnt[24];
    auth_u64str(count, cnt);
    hearth_seclog(HEARTH_SEV_INFO, "session_revoked", "user", user, "reason", reason, "count", cnt,
                  NULL);
}

hearth_status hearth_auth_session(hearth_auth *a, const char *token, hearth_session_info *info)
{
    uint8_t th[32];
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_INVALID);
    if (!auth_token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    auth_lock(a);
    const auth_session *sess = NULL;
    auth_user *u = NULL;
    hearth_status s = auth_session_lookup(a, th, &sess, &u);
    if (s == HEARTH_OK && info != NULL) {
        memset(info, 0, sizeof *info);
        snprintf(info->username, sizeof info->username, "%s", u->name);
        info->role = u->role;
        info->created = sess->created;
        info->expires = sess->expires;
    }
    auth_unlock(a);
    hearth_memzero(th, sizeof th);
    return s;
}

hearth_status hearth_auth_logout(hearth_auth *a, const char *token)
{
    uint8_t th[32];
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_INVALID);
    if (!auth_token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    auth_wlock(a);
    int i = session_find(a, th);
    if (i < 0) {
        auth_wunlock(a);
        return hearth_err(HEARTH_ERR_AUTH, "unknown or revoked session");
    }
    auth_session gone = a->sessions[i];
    session_remove_at(a, (uint32_t)i);
    auth_batch b;
    auth_batch_init(&b);
    hearth_status s = auth_commit_sessions(a, &b, HEARTH_OK, NULL, 0, NULL, NULL);
    if (s != HEARTH_OK) a->sessions[a->nsessions++] = gone;
    else auth_log_revoked(gone.user, "logout", 1);
    auth_wunlock(a);
    hearth_memzero(&gone, sizeof gone);
    return s;
}
