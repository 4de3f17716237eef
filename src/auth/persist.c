/* Persistence of the auth state: loading every record at open, and the
 * write batch an operation commits in one store transaction OUTSIDE `mu`
 * (under `persist_mu`, see auth_internal.h), with the limiter record. What
 * memory holds is applied only after the store holds it, or put back when
 * the commit fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"

void auth_batch_init(auth_batch *b)
{
    memset(b, 0, sizeof *b);
    hearth_buf_init(&b->spill, 0);
}

static void batch_free(auth_batch *b)
{
    for (size_t i = 0; i < AUTH_BATCH_MAX; i++) hearth_buf_free(&b->bufs[i]);
    hearth_buf_free(&b->spill);
}

/* The next op, or NULL (the batch is marked) when it is full: never an
 * index past the arrays. */
static hearth_store_op *batch_next(auth_batch *b, const char *name)
{
    if (b->n >= AUTH_BATCH_MAX) {
        b->overflow = true;
        return NULL;
    }
    size_t i = b->n++;
    snprintf(b->names[i], sizeof b->names[i], "%s", name);
    b->ops[i].name = b->names[i];
    return &b->ops[i];
}

/* When the batch is full the spill buffer is handed out: writes to it fail. */
hearth_buf *auth_batch_put(auth_batch *b, const char *name)
{
    hearth_store_op *op = batch_next(b, name);
    if (op == NULL) return &b->spill;
    hearth_buf *buf = &b->bufs[op - b->ops];
    hearth_buf_init(buf, HEARTH_STORE_VALUE_MAX);
    return buf;
}

void auth_batch_delete(auth_batch *b, const char *name)
{
    hearth_store_op *op = batch_next(b, name);
    if (op == NULL) return;
    op->val = NULL;
    op->len = 0;
}

/* Commit the batch. Called with persist_mu and mu held; mu is RELEASED for
 * the store commit (requests keep being served) and held again on return.
 * The caller applies the result to memory only on HEARTH_OK. */
static hearth_status batch_commit(hearth_auth *a, auth_batch *b)
{
    if (b->overflow)
        return hearth_err(HEARTH_ERR_INTERNAL, "auth write batch holds at most %d records",
                          AUTH_BATCH_MAX);
    for (size_t i = 0; i < b->n; i++) {
        if (b->bufs[i].max == 0) continue; /* a delete */
        b->ops[i].val = b->bufs[i].data != NULL ? (const void *)b->bufs[i].data : (const void *)"";
        b->ops[i].len = b->bufs[i].len;
    }
    auth_unlock(a);
    hearth_status s = hearth_store_commit(a->st, b->ops, b->n);
    auth_lock(a);
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

/* The limiter state goes into the batch, as it is now or (@p source given)
 * as it will be after that source's successful check, for a batch whose
 * commit decides whether the success happened (applied after it). Failures
 * counted after this point (during the commit) mark it dirty again. */
static hearth_status batch_add_rl(hearth_auth *a, auth_batch *b, const char *source,
                                  int64_t now_ms, const hearth_rl_ticket *t)
{
    auth_rl_sync_offset(a);
    a->rl_dirty = false;
    b->has_rl = true;
    hearth_buf *out = auth_batch_put(b, AUTH_REC_RL);
    if (source == NULL) return hearth_rl_save(a->rl, out);
    return hearth_rl_save_with_success(a->rl, source, now_ms, t, out);
}

hearth_status auth_batch_add_user(auth_batch *b, const auth_user *u)
{
    char name[HEARTH_STORE_NAME_MAX + 1];
    auth_user_record_name(u->name, name);
    return auth_enc_user(u, auth_batch_put(b, name));
}

hearth_status auth_batch_finish(hearth_auth *a, auth_batch *b, hearth_status s,
                                const char *source, const hearth_rl_ticket *t)
{
    int64_t now_ms = auth_mono_ms(a);
    if (s == HEARTH_OK && source != NULL) s = batch_add_rl(a, b, source, now_ms, t);
    if (s == HEARTH_OK) s = batch_commit(a, b);
    batch_free(b);
    if (source != NULL) {
        if (s == HEARTH_OK) hearth_rl_success(a->rl, source, now_ms, t); /* only now it is stored */
        else hearth_rl_abort(a->rl, source, t); /* not committed: did not happen */
    }
    return s;
}

hearth_status auth_commit_sessions(hearth_auth *a, auth_batch *b, hearth_status s,
                                   const auth_session *saved, uint32_t nsaved,
                                   const char *source, const hearth_rl_ticket *t)
{
    if (s == HEARTH_OK) s = auth_enc_sessions(a, auth_batch_put(b, AUTH_REC_SESSIONS));
    s = auth_batch_finish(a, b, s, source, t);
    if (s != HEARTH_OK && saved != NULL) {
        memcpy(a->sessions, saved, sizeof a->sessions);
        a->nsessions = nsaved;
    }
    return s;
}

hearth_status auth_commit_revoking(hearth_auth *a, const char *user, const uint8_t *keep,
                                   const auth_user *put, const char *del, const char *source,
                                   const hearth_rl_ticket *t, uint32_t *revoked)
{
    auth_session saved[AUTH_SESSIONS_LIMIT];
    uint32_t nsaved = a->nsessions;
    memcpy(saved, a->sessions, sizeof saved);
    *revoked = auth_sessions_revoke_user(a, user, keep);
    auth_batch b;
    auth_batch_init(&b);
    hearth_status s = HEARTH_OK;
    if (put != NULL) s = auth_batch_add_user(&b, put);
    if (del != NULL) auth_batch_delete(&b, del);
    s = auth_commit_sessions(a, &b, s, saved, nsaved, source, t);
    hearth_memzero(saved, sizeof saved);
    return s;
}

/* Failures are always counted in memory at once; what the interval bounds
 * is how often the network can make the device write (flash and TPM NV
 * wear): at most 3600 / rl_persist_interval_s limiter writes per hour. A
 * crash loses at most the failures of one interval. If the write fails the
 * failures still count in memory and the write is retried at the next one. */
void auth_persist_rl_due(hearth_auth *a, bool force)
{
    if (!a->rl_dirty) return;
    if (!force && a->rl_written &&
        auth_mono_ms(a) - a->rl_written_ms < (int64_t)a->cfg.rl_persist_interval_s * 1000)
        return;
    auth_batch b;
    auth_batch_init(&b);
    hearth_status st = batch_add_rl(a, &b, NULL, 0, NULL);
    if (st != HEARTH_OK) a->rl_dirty = true;
    st = auth_batch_finish(a, &b, st, NULL, NULL);
    if (st != HEARTH_OK)
        hearth_seclog(HEARTH_SEV_ALERT, "ratelimit_persist_failed", "status",
                      hearth_status_name(st), NULL);
}

/* ---------------------------------------------------------------- load */

static hearth_status load_setup_hash(hearth_auth *a)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hearth_status s = auth_read_record(a->st, AUTH_REC_SETUP, &buf, &len);
    if (s == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_INVALID, "factory state without a setup password");
    HEARTH_GUARD(s);
    bool ok = len > 0 && len < HEARTH_PW_HASH_MAX && memchr(buf, '\0', len) == NULL;
    if (ok) memcpy(a->setup_hash, buf, len);
    hearth_memzero(buf, len);
    free(buf);
    if (!ok) return hearth_err(HEARTH_ERR_INVALID, "malformed auth.setup record");
    return HEARTH_OK;
}

hearth_status auth_load(hearth_auth *a)
{
    uint8_t state = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    HEARTH_GUARD(auth_read_state(a->st, &state));
    a->initialized = state == AUTH_STATE_INITIALIZED;
    if (!a->initialized) HEARTH_GUARD(load_setup_hash(a));
    HEARTH_GUARD(hearth_store_foreach(a->st, AUTH_USER_PREFIX, auth_load_user, a));

    hearth_status s = auth_read_record(a->st, AUTH_REC_SESSIONS, &buf, &len);
    if (s == HEARTH_OK) {
        s = auth_load_sessions(a, buf, len);
        free(buf);
        if (s != HEARTH_OK) {
            hearth_seclog(HEARTH_SEV_ALERT, "sessions_discarded", "reason", "malformed", NULL);
        }
    } else if (s != HEARTH_ERR_NOT_FOUND) {
        return s;
    }

    s = auth_read_record(a->st, AUTH_REC_RL, &buf, &len);
    if (s == HEARTH_OK) {
        auth_rl_sync_offset(a); /* the record's wall-clock times -> the limiter's clock */
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
