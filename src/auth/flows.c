/* The password checks (EN 303 645 5.1-1, 5.1-3, 5.1-5): factory default,
 * setup, login and a user's own password change. Each check is admitted by
 * the limiter under the lock, runs Argon2id in a hashing slot with no lock
 * held, and is settled under both locks (auth_internal.h): a wrong password
 * counts as a guess, a busy slot or a hashing error does not, and a success
 * counts only once what it changes is committed.
 */
#include <stdio.h>
#include <string.h>

#include "auth_internal.h"

/* One password check, from admission to settlement. */
typedef struct {
    hearth_rl_ticket t;                /* the limiter's admission */
    char hash[HEARTH_PW_HASH_MAX];     /* copy of the stored hash checked against */
    hearth_status slot;                /* HEARTH_ERR_BUSY: no slot, nothing was checked */
    hearth_status verdict;             /* HEARTH_OK: the password matches */
    hearth_status new_st;              /* status of the new hash (HEARTH_OK: none asked) */
    char new_hash[HEARTH_PW_HASH_MAX]; /* the new password's hash */
} pw_check;

static hearth_status admit(hearth_auth *a, const char *source, hearth_rl_ticket *t,
                           uint32_t *retry_after_s)
{
    return hearth_rl_begin(a->rl, source, auth_mono_ms(a), t, retry_after_s);
}

/* Admit a check by @p source while the device is in the state the
 * operation needs (@p initialized; otherwise HEARTH_ERR_STATE, @p
 * state_msg). On success mu stays held, for the caller to copy the hash it
 * checks against into c->hash and unlock; otherwise it is released. */
static hearth_status check_begin(hearth_auth *a, bool initialized, const char *state_msg,
                                 const char *source, pw_check *c, uint32_t *retry_after_s)
{
    memset(c, 0, sizeof *c);
    auth_lock(a);
    hearth_status s = a->initialized == initialized
                          ? admit(a, source, &c->t, retry_after_s)
                          : hearth_err(HEARTH_ERR_STATE, "%s", state_msg);
    if (s != HEARTH_OK) auth_unlock(a);
    return s;
}

/* The hashing phase, with no lock held: in a slot, verify @p pw (@p len
 * bytes, at most HEARTH_PW_MAX of them checked) against c->hash; @p refuse
 * makes it a mismatch whatever the result, after the same work. If it
 * matches and @p new_pw is given, @p new_pw is hashed in the same slot. */
static void pw_check_run(hearth_auth *a, pw_check *c, const char *pw, size_t len, bool refuse,
                         const char *new_pw, size_t new_len)
{
    c->verdict = HEARTH_ERR_AUTH;
    c->new_st = HEARTH_OK;
    c->slot = auth_slot_acquire(a);
    if (c->slot != HEARTH_OK) return;
    c->verdict = hearth_pw_verify(c->hash, pw, len > HEARTH_PW_MAX ? HEARTH_PW_MAX : len);
    if (refuse) c->verdict = HEARTH_ERR_AUTH;
    if (c->verdict == HEARTH_OK && new_pw != NULL)
        c->new_st = hearth_pw_hash(new_pw, new_len, c->new_hash);
    auth_slot_release(a);
}

/* Settle a failed password check: count it, log, persist when due. Called
 * under wlock. */
static void record_failure(hearth_auth *a, const char *source, const char *user,
                           const char *event, const hearth_rl_ticket *t)
{
    hearth_rl_outcome out;
    hearth_rl_fail(a->rl, source, auth_mono_ms(a), t, &out);
    a->rl_dirty = true;
    char fails[24];
    auth_u64str(out.failures, fails);
    hearth_seclog(HEARTH_SEV_WARNING, event, "source", source, "user",
                  hearth_auth_username_valid(user) ? user : "(invalid)", "failures", fails, NULL);
    if (out.delay_ms > 0) {
        char d[24];
        auth_u64str((out.delay_ms + 999) / 1000, d);
        hearth_seclog(HEARTH_SEV_WARNING, "lockout", "scope", "source", "source", source,
                      "retry_after_s", d, NULL);
    }
    if (out.device_locked)
        hearth_seclog(HEARTH_SEV_ALERT, "lockout", "scope", "device", "source", source, NULL);
    auth_persist_rl_due(a, false);
}

/* Settle check @p c of @p user's password: takes wlock. @p s is the slot's
 * (or the new hash's) status. A hashing error or a busy slot is not a
 * guess, so its ticket is handed back; a wrong password counts as one. The
 * account must then still carry the hash that was checked: deleted or
 * re-passworded in between, the check no longer applies (and is not a guess
 * either). On success wlock stays held and *out is the account; otherwise
 * wlock is released, @p c wiped and the error returned. */
static hearth_status settle_check(hearth_auth *a, const char *source, const char *user,
                                  pw_check *c, hearth_status s, const char *wrong_msg,
                                  hearth_status changed_st, const char *changed_msg,
                                  auth_user **out)
{
    auth_wlock(a);
    hearth_status v = c->verdict, r;
    if (s != HEARTH_OK || (v != HEARTH_OK && v != HEARTH_ERR_AUTH)) {
        hearth_rl_abort(a->rl, source, &c->t);
        r = s != HEARTH_OK ? s : v;
    } else if (v != HEARTH_OK) {
        record_failure(a, source, user, "login_failed", &c->t);
        r = hearth_err(HEARTH_ERR_AUTH, "%s", wrong_msg);
    } else {
        *out = auth_find_user(a, user);
        if (*out != NULL && strcmp((*out)->hash, c->hash) == 0) return HEARTH_OK;
        hearth_rl_abort(a->rl, source, &c->t);
        r = hearth_err(changed_st, "%s", changed_msg);
    }
    auth_wunlock(a);
    hearth_memzero(c, sizeof *c);
    return r;
}

hearth_status auth_password_replace(hearth_auth *a, auth_user *cu,
                                    const char hash[HEARTH_PW_HASH_MAX], const uint8_t *keep,
                                    const char *by, const char *source,
                                    const hearth_rl_ticket *t, const char *reason)
{
    auth_user nu = *cu;
    memcpy(nu.hash, hash, sizeof nu.hash);
    uint32_t revoked = 0;
    hearth_status s = auth_commit_revoking(a, cu->name, keep, &nu, NULL, source, t, &revoked);
    if (s == HEARTH_OK) {
        *cu = nu;
        /* "source" only when there is one (the NULL key ends the list). */
        hearth_seclog(HEARTH_SEV_INFO, "password_changed", "user", cu->name, "by", by,
                      source != NULL ? "source" : NULL, source, NULL);
        auth_log_revoked(cu->name, reason, revoked);
    }
    hearth_memzero(&nu, sizeof nu);
    return s;
}

/* ------------------------------------------------------ factory default */

hearth_status hearth_auth_factory_init_verifier(hearth_store *st, const char *verifier)
{
    HEARTH_ENSURE(st != NULL && verifier != NULL, HEARTH_ERR_INVALID);
    size_t len = strnlen(verifier, HEARTH_PW_HASH_MAX);
    if (len == 0 || len >= HEARTH_PW_HASH_MAX || strncmp(verifier, "$argon2id$", 10) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "setup password verifier is not an Argon2id hash");
    uint8_t state = 0;
    hearth_status s = auth_read_state(st, &state);
    if (s == HEARTH_OK)
        return hearth_err(HEARTH_ERR_EXISTS, "authentication already provisioned");
    if (s != HEARTH_ERR_STATE) return s;
    uint8_t sv[2] = {AUTH_FMT_VERSION, AUTH_STATE_FACTORY};
    hearth_store_op ops[2] = {
        {AUTH_REC_SETUP, verifier, len},
        {AUTH_REC_STATE, sv, sizeof sv},
    };
    return hearth_store_commit(st, ops, 2);
}

hearth_status hearth_auth_factory_init(hearth_store *st, const char *setup_pw)
{
    HEARTH_ENSURE(st != NULL && setup_pw != NULL, HEARTH_ERR_INVALID);
    size_t len = strnlen(setup_pw, HEARTH_PW_MAX + 1);
    if (len == 0 || len > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "setup password must be 1..%d bytes", HEARTH_PW_MAX);
    uint8_t state = 0;
    hearth_status s = auth_read_state(st, &state);
    if (s == HEARTH_OK)
        return hearth_err(HEARTH_ERR_EXISTS, "authentication already provisioned");
    if (s != HEARTH_ERR_STATE) return s;
    char hash[HEARTH_PW_HASH_MAX];
    HEARTH_GUARD(hearth_pw_hash(setup_pw, len, hash));
    s = hearth_auth_factory_init_verifier(st, hash);
    hearth_memzero(hash, sizeof hash);
    return s;
}

/* ----------------------------------------------- re-check before erasing */

hearth_status hearth_auth_recheck(hearth_auth *a, const char *source, const char *token,
                                  const char *pw, uint32_t *retry_after_s)
{
    HEARTH_ENSURE(a != NULL && source != NULL && pw != NULL, HEARTH_ERR_INVALID);
    if (retry_after_s != NULL) *retry_after_s = 0;
    uint8_t th[32];
    if (!auth_token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    size_t plen = strnlen(pw, HEARTH_PW_MAX + 1);
    char user[HEARTH_USERNAME_MAX + 1] = "";
    pw_check c;
    memset(&c, 0, sizeof c);
    const auth_session *sess = NULL;
    auth_user *u = NULL;
    auth_lock(a);
    hearth_status s = auth_session_lookup(a, th, &sess, &u);
    if (s == HEARTH_OK) {
        snprintf(user, sizeof user, "%s", u->name);
        memcpy(c.hash, u->hash, sizeof c.hash);
        s = admit(a, source, &c.t, retry_after_s);
    }
    auth_unlock(a);
    if (s != HEARTH_OK) {
        hearth_memzero(&c, sizeof c);
        return s;
    }
    pw_check_run(a, &c, pw, plen, plen > HEARTH_PW_MAX, NULL, 0);
    auth_user *cu = NULL;
    s = settle_check(a, source, user, &c, c.slot, "wrong password", HEARTH_ERR_AUTH,
                     "account changed concurrently, retry", &cu);
    if (s != HEARTH_OK) return s;
    /* A success is not a state change: the limiter forgets the ticket's
     * failures in memory (written with the next due limiter write). */
    hearth_rl_success(a->rl, source, auth_mono_ms(a), &c.t);
    a->rl_dirty = true;
    auth_wunlock(a);
    hearth_memzero(&c, sizeof c);
    return HEARTH_OK;
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
    static const char retired[] = "setup already completed: the setup password is retired";
    if (hearth_auth_initialized(a)) return hearth_err(HEARTH_ERR_STATE, "%s", retired);
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

    pw_check c;
    hearth_status s = check_begin(a, false, retired, source, &c, retry_after_s);
    if (s != HEARTH_OK) return s;
    memcpy(c.hash, a->setup_hash, sizeof c.hash);
    auth_unlock(a);

    pw_check_run(a, &c, setup_pw, slen, slen > HEARTH_PW_MAX, admin_pw, alen);
    hearth_memzero(c.hash, sizeof c.hash);
    s = c.slot != HEARTH_OK ? c.slot : c.verdict != HEARTH_OK ? c.verdict : c.new_st;

    auth_wlock(a);
    if (s == HEARTH_ERR_BUSY || a->initialized || (s != HEARTH_OK && s != HEARTH_ERR_AUTH)) {
        hearth_rl_abort(a->rl, source, &c.t);
        if (a->initialized && s != HEARTH_ERR_BUSY)
            s = hearth_err(HEARTH_ERR_STATE, "setup already completed");
    } else if (s == HEARTH_ERR_AUTH) {
        record_failure(a, source, "setup", "setup_failed", &c.t);
        s = hearth_err(HEARTH_ERR_AUTH, "wrong setup password");
    } else {
        auth_user nu;
        memset(&nu, 0, sizeof nu);
        memcpy(nu.hash, c.new_hash, sizeof nu.hash);
        snprintf(nu.name, sizeof nu.name, "%s", admin_user);
        nu.role = HEARTH_ROLE_ADMIN;
        nu.created = auth_now(a);
        /* One atomic commit: first admin in, setup password out, state flipped. */
        auth_batch b;
        auth_batch_init(&b);
        s = auth_batch_add_user(&b, &nu);
        if (s == HEARTH_OK) {
            auth_batch_delete(&b, AUTH_REC_SETUP);
            s = auth_enc_state(AUTH_STATE_INITIALIZED, auth_batch_put(&b, AUTH_REC_STATE));
        }
        s = auth_batch_finish(a, &b, s, source, &c.t);
        if (s == HEARTH_OK) {
            a->users[a->nusers++] = nu;
            a->initialized = true;
            hearth_memzero(a->setup_hash, sizeof a->setup_hash);
            hearth_seclog(HEARTH_SEV_INFO, "setup_completed", "source", source, "user",
                          admin_user, NULL);
        }
        hearth_memzero(&nu, sizeof nu);
    }
    auth_wunlock(a);
    hearth_memzero(&c, sizeof c);
    return s;
}

/* ---------------------------------------------------------------- login */

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

    pw_check c;
    hearth_status s = check_begin(a, true, "device in factory-default state: complete setup first",
                                  source, &c, retry_after_s);
    if (s != HEARTH_OK) return s;
    const auth_user *u = auth_find_user(a, user);
    bool known = u != NULL && !too_long;
    memcpy(c.hash, u != NULL ? u->hash : a->dummy_hash, sizeof c.hash);
    auth_unlock(a);

    /* Same work whether or not the account exists (no enumeration). A
     * matching password stored with old parameters is hashed afresh. */
    bool rehash = hearth_pw_needs_rehash(c.hash);
    pw_check_run(a, &c, pw, plen, !known, rehash ? pw : NULL, plen);
    auth_user *cu = NULL;
    s = settle_check(a, source, user, &c, c.slot, "wrong user name or password",
                     HEARTH_ERR_AUTH, "account changed during login, retry", &cu);
    if (s != HEARTH_OK) return s;
    rehash = rehash && c.new_st == HEARTH_OK;

    auth_session saved[AUTH_SESSIONS_LIMIT];
    uint32_t nsaved = a->nsessions;
    memcpy(saved, a->sessions, sizeof saved);
    auth_session ns;
    memset(&ns, 0, sizeof ns);
    auth_user nu = *cu;
    if (rehash) memcpy(nu.hash, c.new_hash, sizeof nu.hash);
    auth_batch b;
    auth_batch_init(&b);
    s = auth_session_create(a, cu->name, auth_now(a), token, &ns);
    if (s == HEARTH_OK && rehash) s = auth_batch_add_user(&b, &nu);
    s = auth_commit_sessions(a, &b, s, saved, nsaved, source, &c.t);
    if (s != HEARTH_OK) {
        hearth_memzero(token, HEARTH_TOKEN_STR_MAX);
    } else {
        if (rehash) {
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
    auth_wunlock(a);
    hearth_memzero(saved, sizeof saved);
    hearth_memzero(&nu, sizeof nu);
    hearth_memzero(&c, sizeof c);
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
    if (!auth_token_hash(token, th)) return hearth_err(HEARTH_ERR_AUTH, "invalid session token");
    size_t olen = strnlen(old_pw, HEARTH_PW_MAX + 1);
    size_t nlen = strnlen(new_pw, HEARTH_PW_MAX + 1);
    if (nlen > HEARTH_PW_MAX)
        return hearth_err(HEARTH_ERR_POLICY, "password is too long: at most %d bytes",
                          HEARTH_PW_MAX);

    char user[HEARTH_USERNAME_MAX + 1] = "";
    pw_check c;
    memset(&c, 0, sizeof c);
    const auth_session *sess = NULL;
    auth_user *u = NULL;
    auth_lock(a);
    hearth_status s = auth_session_lookup(a, th, &sess, &u);
    if (s == HEARTH_OK) {
        snprintf(user, sizeof user, "%s", u->name);
        memcpy(c.hash, u->hash, sizeof c.hash);
        s = hearth_pw_policy_check(new_pw, nlen, user, a->cfg.serial);
    }
    if (s == HEARTH_OK && olen == nlen && hearth_ct_equal(old_pw, new_pw, nlen))
        s = hearth_err(HEARTH_ERR_POLICY, "the new password must differ from the old one");
    if (s == HEARTH_OK) s = admit(a, source, &c.t, retry_after_s);
    auth_unlock(a);
    if (s != HEARTH_OK) {
        hearth_memzero(&c, sizeof c);
        return s;
    }

    pw_check_run(a, &c, old_pw, olen, olen > HEARTH_PW_MAX, new_pw, nlen);
    auth_user *cu = NULL;
    s = settle_check(a, source, user, &c, c.slot != HEARTH_OK ? c.slot : c.new_st,
                     "wrong current password", HEARTH_ERR_STATE,
                     "account changed concurrently, retry", &cu);
    if (s != HEARTH_OK) return s;
    /* Every other session of the account ends; this one stays. */
    s = auth_password_replace(a, cu, c.new_hash, th, user, source, &c.t, "password_changed");
    auth_wunlock(a);
    hearth_memzero(&c, sizeof c);
    return s;
}
