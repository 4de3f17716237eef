/* Secure store: in-memory record set, committed by re-encrypting the whole
 * file and replacing it atomically (EN 303 645 5.4-1). Format and threat
 * model: docs/store-format.md. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/store.h"
#include "hearth/util.h"
#include "rot_internal.h"
#include "store_format.h"


struct hearth_store {
    pthread_mutex_t mu;
    char path[PATH_MAX];
    char dir[PATH_MAX];
    char device_id[257];
    uint8_t key[HEARTH_STORE_KEY_LEN];
    rot_counter counter; /* rollback counter of the RoT, if it has one */
    uint64_t counter_val; /* last value read from or written to it */
    bool counter_stale;   /* an operation failed: the TPM may hold more than counter_val */
    bool dir_unsynced;    /* the last rename's directory fsync failed */
    bool retired;         /* hearth_store_retire(): a factory reset took it away */
    /* NV increment budget (token bucket on the monotonic clock). */
    uint32_t nv_tokens;
    int64_t nv_ref_ms;
    store_image img;
};

/* Most counter increments a reopen will make to catch up with a store whose
 * last commits could not advance the counter. Stores written by this code
 * are never more than STORE_COUNTER_LAG_MAX ahead; the larger window only
 * keeps stores written by earlier versions openable. */
#define STORE_COUNTER_CATCHUP_MAX 64
/* Commits that may be durable on disk while the counter has not followed
 * (TPM unreachable, or the NV budget below spent). One more is refused until
 * the counter catches up, so a reopen never sees a gap it would refuse. */
#define STORE_COUNTER_LAG_MAX 16
/* NV wear bound: at most STORE_NV_BURST increments at once and one more per
 * STORE_NV_REFILL_MS, so at most 16 + 120 = 136 in any hour per process. */
#define STORE_NV_BURST 16
#define STORE_NV_REFILL_MS (30 * 1000)

static bool nv_budget_take(hearth_store *s)
{
    int64_t now = hearth_mono_ms();
    if (s->nv_tokens < STORE_NV_BURST) {
        int64_t k = (now - s->nv_ref_ms) / STORE_NV_REFILL_MS;
        if (k > 0) {
            uint64_t t = (uint64_t)s->nv_tokens + (uint64_t)k;
            s->nv_tokens = t >= STORE_NV_BURST ? STORE_NV_BURST : (uint32_t)t;
            s->nv_ref_ms = s->nv_tokens == STORE_NV_BURST ? now : s->nv_ref_ms + k * STORE_NV_REFILL_MS;
        }
    }
    if (s->nv_tokens == 0) return false;
    if (s->nv_tokens == STORE_NV_BURST) s->nv_ref_ms = now;
    s->nv_tokens--;
    return true;
}

/* Advance the RoT counter towards @p target (a generation that is durable on
 * disk), one budgeted increment at a time. HEARTH_OK once it is there;
 * HEARTH_ERR_BUSY when the NV budget ran out first, the TPM's error when it
 * could not be reached. s->counter_val always holds the value reached. */
static hearth_status counter_catch_up(hearth_store *s, uint64_t target)
{
    if (s->counter_stale) {
        /* An increment whose answer was lost may have happened: read the
         * counter before adding to it, so it never passes the file. */
        uint64_t v = 0;
        HEARTH_GUARD(rot_counter_read(&s->counter, s->key, &v));
        if (v < s->counter_val || v > s->img.generation + 1)
            return hearth_err(HEARTH_ERR_TAMPERED, "TPM rollback counter reads %llu, expected %llu",
                              (unsigned long long)v, (unsigned long long)s->counter_val);
        s->counter_val = v;
        s->counter_stale = false;
    }
    while (s->counter_val < target) {
        if (!nv_budget_take(s))
            return hearth_err(HEARTH_ERR_BUSY,
                              "rollback counter write budget spent (%d per %d s), retry later",
                              1, STORE_NV_REFILL_MS / 1000);
        uint64_t v = 0;
        hearth_status st = rot_counter_increment(&s->counter, s->key, &v);
        if (st != HEARTH_OK) {
            s->counter_stale = true;
            if (s->nv_tokens < STORE_NV_BURST) s->nv_tokens++; /* nothing was written */
            return st;
        }
        if (v <= s->counter_val || v > target)
            return hearth_err(HEARTH_ERR_TAMPERED,
                              "TPM rollback counter moved from %llu to %llu (expected at most %llu)",
                              (unsigned long long)s->counter_val, (unsigned long long)v,
                              (unsigned long long)target);
        s->counter_val = v;
    }
    return HEARTH_OK;
}

/* After a durable commit of generation @p gen: advance the counter as far as
 * the TPM and the budget allow. A shortfall is not an error of the commit
 * (it is on disk and is what a reopen loads); the lag is bounded by
 * STORE_COUNTER_LAG_MAX through counter_make_room(). */
static void counter_after_commit(hearth_store *s, uint64_t gen)
{
    if (!s->counter.present) return;
    hearth_status st = counter_catch_up(s, gen);
    if (st != HEARTH_OK && st != HEARTH_ERR_BUSY) {
        char lag[24];
        snprintf(lag, sizeof lag, "%llu", (unsigned long long)(gen - s->counter_val));
        hearth_seclog(HEARTH_SEV_WARNING, "store_counter_lag", "reason", hearth_err_msg(), "lag",
                      lag, NULL);
    }
    hearth_err_clear();
}

/* Before a commit of generation @p gen: the counter may trail the durable
 * generation by at most STORE_COUNTER_LAG_MAX, so catch up first if this
 * commit would go beyond; if that is impossible the commit is refused and
 * nothing changes (a transient TPM failure delays commits, never bricks the
 * store). */
static hearth_status counter_make_room(hearth_store *s, uint64_t gen)
{
    if (!s->counter.present || gen - s->counter_val <= STORE_COUNTER_LAG_MAX) return HEARTH_OK;
    hearth_status st = counter_catch_up(s, gen - STORE_COUNTER_LAG_MAX);
    if (st == HEARTH_OK) return HEARTH_OK;
    return hearth_err(st == HEARTH_ERR_BUSY ? HEARTH_ERR_BUSY : HEARTH_ERR_IO,
                      "commit refused: %d commits are already ahead of the TPM rollback counter "
                      "(%s)",
                      STORE_COUNTER_LAG_MAX, hearth_err_msg());
}

/* Create: advance a fresh counter to the first generation (unbudgeted, once). */
static void counter_advance_once(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                                 uint64_t gen)
{
    if (!c->present) return;
    uint64_t v = 0;
    if (rot_counter_increment(c, key, &v) != HEARTH_OK || v != gen) {
        hearth_seclog(HEARTH_SEV_WARNING, "store_counter_lag", "reason", hearth_err_msg(), NULL);
        hearth_err_clear();
    }
}

/* Rollback check on open: the TPM counter is only ever advanced to the
 * generation of a file that is already durable, so a file whose generation
 * is below the counter is an older copy that was put back. */
static hearth_status counter_check(hearth_store *s)
{
    if (!s->counter.present) return HEARTH_OK;
    uint64_t c = 0, g = s->img.generation;
    HEARTH_GUARD(rot_counter_read(&s->counter, s->key, &c));
    if (g < c) {
        hearth_seclog(HEARTH_SEV_ALERT, "store_rollback", "path", s->path, NULL);
        return hearth_err(HEARTH_ERR_ROLLBACK,
                          "store generation %llu is older than the TPM rollback counter %llu: an "
                          "older copy of the store was restored",
                          (unsigned long long)g, (unsigned long long)c);
    }
    if (g - c > STORE_COUNTER_CATCHUP_MAX)
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "store generation %llu is far ahead of the TPM rollback counter %llu",
                          (unsigned long long)g, (unsigned long long)c);
    while (c < g) HEARTH_GUARD(rot_counter_increment(&s->counter, s->key, &c));
    if (c != g)
        return hearth_err(HEARTH_ERR_TAMPERED, "TPM rollback counter %llu overshot generation %llu",
                          (unsigned long long)c, (unsigned long long)g);
    s->counter_val = c;
    return HEARTH_OK;
}

/* ----------------------------------------------------------- helpers */

static hearth_status check_device_id(const char *device_id)
{
    if (device_id == NULL || device_id[0] == '\0')
        return hearth_err(HEARTH_ERR_INVALID, "device id is empty");
    if (strnlen(device_id, 257) > 256)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "device id longer than 256 bytes");
    return HEARTH_OK;
}

/* Remove temp files left by a commit that was interrupted before rename:
 * they hold a complete or torn copy of a state that never became current. */
static void remove_stale_temps(const char *dir)
{
    if (hearth_fs_remove_stale_temps(dir, STORE_FILE_NAME))
        hearth_seclog(HEARTH_SEV_INFO, "store_stale_temp_removed", "dir", dir, NULL);
}

/* Index of @p name in the sorted image, or the insertion point (negative). */
static long find(const store_image *img, const char *name, size_t *ins)
{
    size_t lo = 0, hi = img->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(img->rec[mid].name, name);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (ins != NULL) *ins = lo;
    return -1;
}

/* Encode and replace the file. HEARTH_OK: the new image is what a reopen
 * loads (*durable: also after a power cut); an error: the file is unchanged. */
static hearth_status write_image(const char *path, const store_image *img,
                                 const uint8_t key[HEARTH_STORE_KEY_LEN], const char *device_id,
                                 bool *durable)
{
    hearth_buf b;
    hearth_buf_init(&b, HEARTH_STORE_FILE_MAX);
    *durable = false;
    hearth_status st = store_format_encode(img, key, device_id, &b);
    if (st == HEARTH_OK) {
        hearth_fault_point("store.commit");
        st = hearth_fs_replace(path, b.data, b.len, 0600, durable);
    }
    hearth_buf_free(&b);
    return st;
}

/* ------------------------------------------------------ create / open */

static hearth_status store_create_alg(const char *dir, hearth_rot *rot, const char *device_id,
                                      uint16_t alg)
{
    if (dir == NULL || rot == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    HEARTH_GUARD(check_device_id(device_id));
    HEARTH_GUARD(hearth_fs_mkdirs(dir, 0700));
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, dir, STORE_FILE_NAME));
    struct stat sb;
    if (lstat(path, &sb) == 0) return hearth_err(HEARTH_ERR_EXISTS, "a store already exists at %s", path);
    remove_stale_temps(dir);

    store_image *img = calloc(1, sizeof *img);
    if (img == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    img->generation = 1;
    img->alg = alg;
    uint8_t key[HEARTH_STORE_KEY_LEN];
    hearth_status st = hearth_rot_storage_key(rot, key);
    if (st == HEARTH_OK && rot->counter.present) {
        /* Start above the counter so the first open passes the rollback
         * check even when the RoT served an earlier store. */
        uint64_t c = 0;
        st = rot_counter_read(&rot->counter, key, &c);
        if (st == HEARTH_OK && c == UINT64_MAX)
            st = hearth_err(HEARTH_ERR_RANGE, "TPM rollback counter exhausted");
        img->generation = c + 1;
    }
    bool durable = false;
    if (st == HEARTH_OK) st = write_image(path, img, key, device_id, &durable);
    if (st == HEARTH_OK && !durable)
        st = hearth_err(HEARTH_ERR_IO, "store created at %s but its directory could not be synced",
                        path);
    if (st == HEARTH_OK) counter_advance_once(&rot->counter, key, img->generation);
    hearth_memzero(key, sizeof key);
    free(img);
    return st;
}

hearth_status hearth_store_create(const char *dir, hearth_rot *rot, const char *device_id)
{
    return store_create_alg(dir, rot, device_id, STORE_ALG_DEFAULT);
}

hearth_status hearth_store_create_with_alg(const char *dir, hearth_rot *rot,
                                           const char *device_id, hearth_store_alg alg)
{
    if (alg != HEARTH_STORE_ALG_AES256GCM && alg != HEARTH_STORE_ALG_CHACHA20POLY1305)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "unknown store algorithm %d", (int)alg);
    return store_create_alg(dir, rot, device_id, (uint16_t)alg);
}

hearth_status hearth_store_open(const char *dir, hearth_rot *rot, const char *device_id,
                                hearth_store **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (dir == NULL || rot == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    HEARTH_GUARD(check_device_id(device_id));

    hearth_store *s = calloc(1, sizeof *s);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    hearth_status st;
    HEARTH_GUARD_GOTO(st, hearth_path_join(s->path, sizeof s->path, dir, STORE_FILE_NAME), fail);
    memcpy(s->device_id, device_id, strlen(device_id) + 1);
    if (strlen(dir) >= sizeof s->dir) {
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "store directory path too long");
        goto fail;
    }
    memcpy(s->dir, dir, strlen(dir) + 1);
    s->nv_tokens = STORE_NV_BURST;
    remove_stale_temps(dir);

    st = hearth_fs_read_file(s->path, HEARTH_STORE_FILE_MAX, &raw, &rawlen);
    if (st == HEARTH_ERR_TOO_LARGE) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "store file %s exceeds the %d byte limit", s->path,
                        HEARTH_STORE_FILE_MAX);
        goto fail;
    }
    if (st == HEARTH_ERR_NOT_FOUND) {
        st = hearth_err(HEARTH_ERR_NOT_FOUND, "no store at %s", s->path);
        goto fail;
    }
    if (st != HEARTH_OK) goto fail;
    HEARTH_GUARD_GOTO(st, hearth_rot_storage_key(rot, s->key), fail);
    st = store_format_decode(raw, rawlen, s->key, device_id, &s->img);
    if (st != HEARTH_OK) {
        if (st == HEARTH_ERR_TAMPERED)
            hearth_seclog(HEARTH_SEV_ALERT, "store_tampered", "path", s->path, "reason",
                          hearth_err_msg(), NULL);
        goto fail;
    }
    s->counter = rot->counter;
    st = counter_check(s);
    if (st != HEARTH_OK) {
        store_image_clear(&s->img);
        goto fail;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        store_image_clear(&s->img);
        st = hearth_err(HEARTH_ERR_INTERNAL, "mutex init failed");
        goto fail;
    }
    free(raw); /* ciphertext only */
    *out = s;
    return HEARTH_OK;
fail:
    free(raw);
    hearth_memzero(s, sizeof *s);
    free(s);
    return st;
}

void hearth_store_retire(hearth_store *st)
{
    if (st == NULL) return;
    pthread_mutex_lock(&st->mu);
    st->retired = true;
    store_image_clear(&st->img);
    hearth_memzero(st->key, sizeof st->key);
    pthread_mutex_unlock(&st->mu);
}

#define STORE_RETIRED_ERR() hearth_err(HEARTH_ERR_STATE, "the store was erased by a factory reset")

void hearth_store_close(hearth_store *st)
{
    if (st == NULL) return;
    pthread_mutex_lock(&st->mu);
    store_image_clear(&st->img);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_destroy(&st->mu);
    hearth_memzero(st, sizeof *st);
    free(st);
}

/* --------------------------------------------------------------- read */

hearth_status hearth_store_get(hearth_store *st, const char *name, void *buf, size_t cap,
                               size_t *len)
{
    if (st == NULL || len == NULL || (buf == NULL && cap > 0))
        return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    *len = 0;
    HEARTH_GUARD(store_name_check(name));
    pthread_mutex_lock(&st->mu);
    hearth_status s = HEARTH_OK;
    long i = st->retired ? -1 : find(&st->img, name, NULL);
    if (st->retired) {
        s = STORE_RETIRED_ERR();
    } else if (i < 0) {
        s = hearth_err(HEARTH_ERR_NOT_FOUND, "no record '%s' in the store", name);
    } else {
        const store_record *r = &st->img.rec[i];
        *len = r->len;
        if (r->len > cap)
            s = hearth_err(HEARTH_ERR_TOO_LARGE, "record '%s' is %zu bytes, buffer holds %zu",
                           name, r->len, cap);
        else if (r->len > 0)
            memcpy(buf, r->val, r->len);
    }
    pthread_mutex_unlock(&st->mu);
    return s;
}

uint64_t hearth_store_generation(const hearth_store *st)
{
    hearth_store *m = (hearth_store *)st; /* the lock is not part of the logical state */
    pthread_mutex_lock(&m->mu);
    uint64_t g = st->img.generation;
    pthread_mutex_unlock(&m->mu);
    return g;
}

hearth_status hearth_store_foreach(hearth_store *st, const char *prefix, hearth_store_visit fn,
                                   void *arg)
{
    if (st == NULL || fn == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    if (prefix == NULL) prefix = "";
    size_t pl = strlen(prefix);
    /* Visit a snapshot, not the live set, so the callback may call back into
     * the store (get, put, delete) without deadlocking or seeing a
     * half-changed set. */
    store_image *snap = calloc(1, sizeof *snap);
    if (snap == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status s = HEARTH_OK;
    pthread_mutex_lock(&st->mu);
    if (st->retired) s = STORE_RETIRED_ERR();
    for (size_t i = 0; !st->retired && i < st->img.count; i++) {
        const store_record *r = &st->img.rec[i];
        if (strncmp(r->name, prefix, pl) != 0) continue;
        store_record *d = &snap->rec[snap->count];
        d->val = malloc(r->len > 0 ? r->len : 1);
        if (d->val == NULL) {
            s = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(d->name, r->name, sizeof d->name);
        if (r->len > 0) memcpy(d->val, r->val, r->len);
        d->len = r->len;
        snap->count++;
    }
    pthread_mutex_unlock(&st->mu);
    for (size_t i = 0; s == HEARTH_OK && i < snap->count; i++)
        s = fn(snap->rec[i].name, snap->rec[i].val, snap->rec[i].len, arg);
    store_image_clear(snap);
    free(snap);
    return s;
}

/* -------------------------------------------------------------- write */

hearth_status hearth_store_commit(hearth_store *st, const hearth_store_op *ops, size_t n)
{
    if (st == NULL || (ops == NULL && n > 0))
        return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    /* Validate everything before touching any state: all or nothing. */
    for (size_t i = 0; i < n; i++) {
        HEARTH_GUARD(store_name_check(ops[i].name));
        if (ops[i].val != NULL && ops[i].len > HEARTH_STORE_VALUE_MAX)
            return hearth_err(HEARTH_ERR_TOO_LARGE, "value for '%s' is %zu bytes, over the %d limit",
                              ops[i].name, ops[i].len, HEARTH_STORE_VALUE_MAX);
    }

    /* The new image shares unchanged values with the current one; `owned`
     * marks values allocated for this commit. On success the replaced old
     * values are freed; on failure the new ones are, and the current image
     * was never modified. */
    store_image *next = calloc(1, sizeof *next);
    bool *owned = calloc(HEARTH_STORE_RECORDS_MAX, sizeof *owned);
    long *origin = calloc(HEARTH_STORE_RECORDS_MAX, sizeof *origin);
    bool *dropped = calloc(HEARTH_STORE_RECORDS_MAX, sizeof *dropped);
    if (next == NULL || owned == NULL || origin == NULL || dropped == NULL) {
        free(next);
        free(owned);
        free(origin);
        free(dropped);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    hearth_status s = HEARTH_OK;
    pthread_mutex_lock(&st->mu);
    *next = st->img;
    for (size_t i = 0; i < next->count; i++) origin[i] = (long)i;
    if (st->retired) {
        s = STORE_RETIRED_ERR();
        goto fail;
    }
    if (next->generation == UINT64_MAX) {
        s = hearth_err(HEARTH_ERR_RANGE, "store generation counter exhausted");
        goto fail;
    }
    next->generation++;
    /* A previous commit's rename is not known to be durable yet: sync the
     * directory first, or refuse (the counter must never pass a generation
     * a power cut could take back). */
    if (st->dir_unsynced) {
        s = hearth_fs_sync_dir(st->dir);
        if (s != HEARTH_OK) goto fail;
        st->dir_unsynced = false;
        counter_after_commit(st, st->img.generation);
    }
    s = counter_make_room(st, next->generation);
    if (s != HEARTH_OK) goto fail;

    for (size_t k = 0; k < n; k++) {
        const hearth_store_op *op = &ops[k];
        size_t ins = 0;
        long i = find(next, op->name, &ins);
        if (op->val == NULL) { /* delete; a missing record is a no-op in a batch */
            if (i < 0) continue;
            if (owned[i]) {
                hearth_memzero(next->rec[i].val, next->rec[i].len);
                free(next->rec[i].val);
            } else {
                dropped[origin[i]] = true;
            }
            size_t tail = next->count - (size_t)i - 1;
            memmove(&next->rec[i], &next->rec[i + 1], tail * sizeof next->rec[0]);
            memmove(&owned[i], &owned[i + 1], tail * sizeof owned[0]);
            memmove(&origin[i], &origin[i + 1], tail * sizeof origin[0]);
            next->count--;
            memset(&next->rec[next->count], 0, sizeof next->rec[0]);
            owned[next->count] = false;
            continue;
        }
        uint8_t *v = malloc(op->len > 0 ? op->len : 1);
        if (v == NULL) {
            s = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (op->len > 0) memcpy(v, op->val, op->len);
        if (i >= 0) {
            if (owned[i]) {
                hearth_memzero(next->rec[i].val, next->rec[i].len);
                free(next->rec[i].val);
            } else {
                dropped[origin[i]] = true;
            }
        } else {
            if (next->count >= HEARTH_STORE_RECORDS_MAX) {
                hearth_memzero(v, op->len);
                free(v);
                s = hearth_err(HEARTH_ERR_TOO_LARGE, "store already holds the maximum of %d records",
                               HEARTH_STORE_RECORDS_MAX);
                goto fail;
            }
            size_t tail = next->count - ins;
            memmove(&next->rec[ins + 1], &next->rec[ins], tail * sizeof next->rec[0]);
            memmove(&owned[ins + 1], &owned[ins], tail * sizeof owned[0]);
            memmove(&origin[ins + 1], &origin[ins], tail * sizeof origin[0]);
            next->count++;
            i = (long)ins;
            memset(&next->rec[i], 0, sizeof next->rec[i]);
            memcpy(next->rec[i].name, op->name, strlen(op->name) + 1);
        }
        next->rec[i].val = v;
        next->rec[i].len = op->len;
        owned[i] = true;
        origin[i] = -1;
    }

    size_t size = store_format_encoded_size(next);
    if (size > HEARTH_STORE_FILE_MAX) {
        s = hearth_err(HEARTH_ERR_TOO_LARGE, "store would grow to %zu bytes, over the %d limit",
                       size, HEARTH_STORE_FILE_MAX);
        goto fail;
    }
    bool durable = false;
    s = write_image(st->path, next, st->key, st->device_id, &durable);
    if (s != HEARTH_OK) goto fail;
    /* The rename happened: the new image is what a restart loads, so it is
     * the state from now on and the commit is reported as done. */
    if (durable) {
        hearth_fault_point("store.committed"); /* durable on disk, counter not yet advanced */
        counter_after_commit(st, next->generation);
    } else {
        st->dir_unsynced = true;
        hearth_seclog(HEARTH_SEV_ALERT, "store_sync_failed", "path", st->path, "reason",
                      hearth_err_msg(), NULL);
        hearth_err_clear();
    }

    for (size_t i = 0; i < st->img.count; i++) {
        if (!dropped[i]) continue;
        hearth_memzero(st->img.rec[i].val, st->img.rec[i].len);
        free(st->img.rec[i].val);
    }
    st->img = *next;
    goto done;
fail:
    for (size_t i = 0; i < next->count; i++) {
        if (!owned[i]) continue;
        hearth_memzero(next->rec[i].val, next->rec[i].len);
        free(next->rec[i].val);
    }
done:
    pthread_mutex_unlock(&st->mu);
    hearth_memzero(next, sizeof *next);
    free(next);
    free(owned);
    free(origin);
    free(dropped);
    return s;
}

hearth_status hearth_store_put(hearth_store *st, const char *name, const void *val, size_t len)
{
    if (val == NULL && len > 0) return hearth_err(HEARTH_ERR_INVALID, "value is NULL");
    static const uint8_t empty[1];
    hearth_store_op op = {.name = name, .val = val != NULL ? val : empty, .len = len};
    return hearth_store_commit(st, &op, 1);
}

hearth_status hearth_store_delete(hearth_store *st, const char *name)
{
    if (st == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    HEARTH_GUARD(store_name_check(name));
    /* Check and commit under one lock hold would need a recursive lock;
     * instead re-check inside commit's snapshot: a concurrent delete of the
     * same name just makes this one a no-op commit. */
    pthread_mutex_lock(&st->mu);
    long i = find(&st->img, name, NULL);
    pthread_mutex_unlock(&st->mu);
    if (i < 0) return hearth_err(HEARTH_ERR_NOT_FOUND, "no record '%s' in the store", name);
    hearth_store_op op = {.name = name, .val = NULL, .len = 0};
    return hearth_store_commit(st, &op, 1);
}
