/* The auth module's store records (layouts in auth_internal.h and
 * docs/authentication.md): encoders, decoders and reading them back. The
 * decoders take nothing on trust: every length, name and version is
 * checked, and what is loaded re-encodes to exactly the record it came from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

void auth_user_record_name(const char *user, char out[HEARTH_STORE_NAME_MAX + 1])
{
    snprintf(out, HEARTH_STORE_NAME_MAX + 1, "%s%s", AUTH_USER_PREFIX, user);
}

hearth_status auth_enc_state(uint8_t state, hearth_buf *b)
{
    HEARTH_GUARD(hearth_buf_u8(b, AUTH_FMT_VERSION));
    return hearth_buf_u8(b, state);
}

hearth_status auth_enc_user(const auth_user *u, hearth_buf *b)
{
    size_t hl = strnlen(u->hash, HEARTH_PW_HASH_MAX);
    HEARTH_GUARD(hearth_buf_u8(b, AUTH_FMT_VERSION));
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

/* Start decoding a record: its version byte must be the current one. */
static hearth_status dec_begin(hearth_cursor *c, const uint8_t *val, size_t len)
{
    uint8_t ver = 0;
    hearth_cursor_init(c, val, len);
    HEARTH_GUARD(hearth_cursor_u8(c, &ver));
    HEARTH_ENSURE(ver == AUTH_FMT_VERSION, HEARTH_ERR_UNSUPPORTED);
    return HEARTH_OK;
}

static hearth_status dec_user(const uint8_t *val, size_t len, auth_user *u)
{
    hearth_cursor c;
    uint8_t role = 0;
    uint16_t hl = 0;
    uint64_t created = 0;
    HEARTH_GUARD(dec_begin(&c, val, len));
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

hearth_status auth_enc_sessions(const hearth_auth *a, hearth_buf *b)
{
    HEARTH_GUARD(hearth_buf_u8(b, AUTH_FMT_VERSION));
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

static hearth_status dec_sessions(hearth_auth *a, const uint8_t *val, size_t len)
{
    hearth_cursor c;
    uint16_t n = 0;
    HEARTH_GUARD(dec_begin(&c, val, len));
    HEARTH_GUARD(hearth_cursor_u16(&c, &n));
    HEARTH_ENSURE(n <= AUTH_SESSIONS_LIMIT, HEARTH_ERR_INVALID);
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
    auth_sessions_keep_newest(a, a->cfg.sessions_max);
    return HEARTH_OK;
}

hearth_status auth_load_user(const char *name, const uint8_t *val, size_t len, void *arg)
{
    hearth_auth *a = arg;
    /* The account name is the rest of the record name. The store hands
     * names as C strings and refuses control bytes (NUL included) in them,
     * so here the string's own length is the name's length; it must still be
     * a whole, valid user name (at most HEARTH_USERNAME_MAX bytes). */
    const char *uname = name + strlen(AUTH_USER_PREFIX);
    if (!hearth_auth_username_valid(uname))
        return hearth_err(HEARTH_ERR_INVALID, "bad account record name");
    if (a->nusers >= AUTH_USERS_LIMIT) return hearth_err(HEARTH_ERR_TOO_LARGE, "too many accounts");
    auth_user *u = &a->users[a->nusers];
    memset(u, 0, sizeof *u);
    hearth_status st = dec_user(val, len, u);
    if (st != HEARTH_OK) return hearth_err(st, "malformed account record %s", name);
    snprintf(u->name, sizeof u->name, "%s", uname);
    a->nusers++;
    return HEARTH_OK;
}

hearth_status auth_load_sessions(hearth_auth *a, const uint8_t *val, size_t len)
{
    hearth_status s = dec_sessions(a, val, len);
    if (s != HEARTH_OK) a->nsessions = 0;
    return s;
}

hearth_status auth_read_record(hearth_store *st, const char *name, uint8_t **out, size_t *len)
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

hearth_status auth_read_state(hearth_store *st, uint8_t *state)
{
    uint8_t v[2];
    size_t len = 0;
    hearth_status s = hearth_store_get(st, AUTH_REC_STATE, v, sizeof v, &len);
    if (s == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_STATE, "device not provisioned: no authentication state");
    HEARTH_GUARD(s);
    if (len != 2 || v[0] != AUTH_FMT_VERSION ||
        (v[1] != AUTH_STATE_FACTORY && v[1] != AUTH_STATE_INITIALIZED))
        return hearth_err(HEARTH_ERR_INVALID, "malformed auth.state record");
    *state = v[1];
    return HEARTH_OK;
}

/* The record decoders below run on a private, zeroed hearth_auth (no store,
 * no mutex, no hashing): exactly the code auth_load() applies to each record. */

hearth_status hearth_auth_test_decode_user(const char *record_name, const uint8_t *val,
                                           size_t len, uint32_t *loaded, hearth_buf *reenc)
{
    *loaded = 0;
    if (record_name == NULL ||
        strncmp(record_name, AUTH_USER_PREFIX, strlen(AUTH_USER_PREFIX)) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "not an account record name");
    hearth_auth *a = calloc(1, sizeof *a);
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_NOMEM);
    hearth_status s = auth_load_user(record_name, val, len, a);
    *loaded = a->nusers;
    if (s == HEARTH_OK && reenc != NULL) s = auth_enc_user(&a->users[0], reenc);
    hearth_memzero(a, sizeof *a);
    free(a);
    return s;
}

hearth_status hearth_auth_test_decode_sessions(const uint8_t *val, size_t len,
                                               uint32_t sessions_max, uint32_t *kept,
                                               hearth_buf *reenc)
{
    *kept = 0;
    if (sessions_max < 1 || sessions_max > AUTH_SESSIONS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "sessions_max must be 1..%d", AUTH_SESSIONS_LIMIT);
    hearth_auth *a = calloc(1, sizeof *a);
    HEARTH_ENSURE(a != NULL, HEARTH_ERR_NOMEM);
    a->cfg.sessions_max = sessions_max;
    hearth_status s = auth_load_sessions(a, val, len);
    *kept = a->nsessions;
    hearth_status e = reenc != NULL ? auth_enc_sessions(a, reenc) : HEARTH_OK;
    hearth_memzero(a, sizeof *a);
    free(a);
    return s != HEARTH_OK ? s : e;
}
