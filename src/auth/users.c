/* User management by an admin (EN 303 645 5.1-1, 5.5-4): add, delete, list
 * and set another account's password. The actor must be a CURRENT admin,
 * checked again under the write lock after the (unlocked) hashing, and the
 * last admin account cannot be deleted.
 */
#include <stdio.h>
#include <string.h>

#include "auth_internal.h"

/* The actor must be a CURRENT admin account: a session_info obtained before a
 * demotion or deletion, or forged by a caller, does not grant anything. */
static hearth_status require_admin(hearth_auth *a, const hearth_session_info *actor)
{
    if (actor == NULL || actor->role != HEARTH_ROLE_ADMIN)
        return hearth_err(HEARTH_ERR_FORBIDDEN, "only an admin may manage users");
    const auth_user *u = auth_find_user(a, actor->username);
    if (u == NULL || u->role != HEARTH_ROLE_ADMIN)
        return hearth_err(HEARTH_ERR_FORBIDDEN, "only an admin may manage users");
    return HEARTH_OK;
}

static uint32_t admin_count(const hearth_auth *a)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->nusers; i++)
        if (a->users[i].role == HEARTH_ROLE_ADMIN) n++;
    return n;
}

/* May @p actor act on account @p user now? Under mu. Adding (@p add_role
 * given): a valid new name, a known role, no such account yet and room for
 * one. Otherwise the account must exist, and *out is it. */
static hearth_status admin_target(hearth_auth *a, const hearth_session_info *actor,
                                  const char *user, const hearth_role *add_role, auth_user **out)
{
    HEARTH_GUARD(require_admin(a, actor));
    auth_user *u = auth_find_user(a, user);
    if (add_role == NULL) {
        if (u == NULL) return hearth_err(HEARTH_ERR_NOT_FOUND, "no such user");
        *out = u;
        return HEARTH_OK;
    }
    if (!hearth_auth_username_valid(user))
        return hearth_err(HEARTH_ERR_INVALID, "user name must be 1..%d of [a-z0-9._-]",
                          HEARTH_USERNAME_MAX);
    if (*add_role != HEARTH_ROLE_USER && *add_role != HEARTH_ROLE_ADMIN)
        return hearth_err(HEARTH_ERR_INVALID, "unknown role");
    if (u != NULL) return hearth_err(HEARTH_ERR_EXISTS, "user already exists");
    if (a->nusers >= a->cfg.users_max)
        return hearth_err(HEARTH_ERR_RANGE, "at most %u accounts", a->cfg.users_max);
    return HEARTH_OK;
}

/* The first phase of setting a password for @p user: admin_target() under
 * the lock, then the public policy (a rejected choice costs no hash) and
 * Argon2id inside a hashing slot, with no lock held. */
static hearth_status hash_for_target(hearth_auth *a, const hearth_session_info *actor,
                                     const char *user, const hearth_role *add_role,
                                     const char *pw, char out[HEARTH_PW_HASH_MAX])
{
    auth_user *u = NULL;
    auth_lock(a);
    hearth_status s = admin_target(a, actor, user, add_role, &u);
    auth_unlock(a);
    HEARTH_GUARD(s);
    size_t plen = strnlen(pw, HEARTH_PW_MAX + 1);
    HEARTH_GUARD(hearth_pw_policy_check(pw, plen, user, a->cfg.serial));
    HEARTH_GUARD(auth_slot_acquire(a));
    s = hearth_pw_hash(pw, plen, out);
    auth_slot_release(a);
    if (s != HEARTH_OK) hearth_memzero(out, HEARTH_PW_HASH_MAX);
    return s;
}

hearth_status hearth_auth_user_add(hearth_auth *a, const hearth_session_info *actor,
                                   const char *user, const char *pw, hearth_role role)
{
    HEARTH_ENSURE(a != NULL && pw != NULL, HEARTH_ERR_INVALID);
    auth_user nu;
    memset(&nu, 0, sizeof nu);
    hearth_status s = hash_for_target(a, actor, user, &role, pw, nu.hash);
    if (s != HEARTH_OK) return s;
    snprintf(nu.name, sizeof nu.name, "%s", user);
    nu.role = role;

    auth_wlock(a);
    auth_user *unused = NULL;
    s = admin_target(a, actor, user, &role, &unused);
    nu.created = auth_now(a);
    auth_batch b;
    auth_batch_init(&b);
    if (s == HEARTH_OK) s = auth_batch_add_user(&b, &nu);
    s = auth_batch_finish(a, &b, s, NULL, NULL);
    if (s == HEARTH_OK) {
        a->users[a->nusers++] = nu;
        hearth_seclog(HEARTH_SEV_INFO, "user_added", "user", user, "role", hearth_role_name(role),
                      "by", actor->username, NULL);
    }
    auth_wunlock(a);
    hearth_memzero(&nu, sizeof nu);
    return s;
}

hearth_status hearth_auth_user_delete(hearth_auth *a, const hearth_session_info *actor,
                                      const char *user)
{
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_INVALID);
    auth_wlock(a);
    auth_user *u = NULL;
    hearth_status s = admin_target(a, actor, user, NULL, &u);
    if (s == HEARTH_OK && u->role == HEARTH_ROLE_ADMIN && admin_count(a) <= 1)
        s = hearth_err(HEARTH_ERR_STATE, "the last admin account cannot be deleted");
    if (s != HEARTH_OK) {
        auth_wunlock(a);
        return s;
    }
    char name[HEARTH_USERNAME_MAX + 1];
    char rec[HEARTH_STORE_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", u->name);
    auth_user_record_name(name, rec);
    uint32_t revoked = 0;
    s = auth_commit_revoking(a, name, NULL, NULL, rec, NULL, NULL, &revoked);
    if (s == HEARTH_OK) {
        hearth_memzero(u, sizeof *u);
        *u = a->users[a->nusers - 1];
        hearth_memzero(&a->users[a->nusers - 1], sizeof a->users[0]);
        a->nusers--;
        hearth_seclog(HEARTH_SEV_INFO, "user_deleted", "user", name, "by", actor->username,
                      NULL);
        auth_log_revoked(name, "user_deleted", revoked);
    }
    auth_wunlock(a);
    return s;
}

hearth_status hearth_auth_user_list(hearth_auth *a, const hearth_session_info *actor,
                                    hearth_user_visit fn, void *arg)
{
    HEARTH_ENSURE(a != NULL && fn != NULL, HEARTH_ERR_INVALID);
    struct {
        char name[HEARTH_USERNAME_MAX + 1];
        hearth_role role;
    } list[AUTH_USERS_LIMIT];
    uint32_t n = 0;
    auth_lock(a);
    hearth_status s = require_admin(a, actor);
    if (s == HEARTH_OK) {
        for (; n < a->nusers; n++) {
            memcpy(list[n].name, a->users[n].name, sizeof list[n].name);
            list[n].role = a->users[n].role;
        }
    }
    auth_unlock(a);
    HEARTH_GUARD(s);
    /* Called without the lock so the visitor may call back into auth. */
    for (uint32_t i = 0; i < n; i++) fn(list[i].name, list[i].role, arg);
    return HEARTH_OK;
}

hearth_status hearth_auth_user_set_password(hearth_auth *a, const hearth_session_info *actor,
                                            const char *user, const char *pw)
{
    HEARTH_ENSURE(a != NULL && pw != NULL, HEARTH_ERR_INVALID);
    char hash[HEARTH_PW_HASH_MAX];
    HEARTH_GUARD(hash_for_target(a, actor, user, NULL, pw, hash));
    auth_wlock(a);
    auth_user *u = NULL;
    hearth_status s = admin_target(a, actor, user, NULL, &u);
    /* All the account's sessions end, those of the admin too if it is their own. */
    if (s == HEARTH_OK)
        s = auth_password_replace(a, u, hash, NULL, actor->username, NULL, NULL,
                                  "password_reset");
    auth_wunlock(a);
    hearth_memzero(hash, sizeof hash);
    return s;
}

hearth_status hearth_auth_user_logout(hearth_auth *a, const hearth_session_info *actor,
                                      const char *user, uint32_t *revoked)
{
    HEARTH_ENSURE(a != NULL && revoked != NULL, HEARTH_ERR_INVALID);
    *revoked = 0;
    auth_wlock(a);
    auth_user *u = NULL;
    hearth_status s = admin_target(a, actor, user, NULL, &u);
    if (s == HEARTH_OK) {
        char name[HEARTH_USERNAME_MAX + 1];
        snprintf(name, sizeof name, "%s", u->name);
        /* Only the session table changes: no account record is written. */
        s = auth_commit_revoking(a, name, NULL, NULL, NULL, NULL, NULL, revoked);
        if (s == HEARTH_OK) {
            hearth_seclog(HEARTH_SEV_INFO, "sessions_forced_out", "user", name, "by",
                          actor->username, NULL);
            auth_log_revoked(name, "forced_logout", *revoked);
        }
    }
    auth_wunlock(a);
    return s;
}
