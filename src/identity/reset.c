/*
 * Factory reset by crypto-erase (EN 303 645 5.11-1): a new storage root key
 * and a new store holding only the factory data replace the old ones, and
 * the old key is overwritten and removed, so the old store (and any copy of
 * it a flash translation layer kept) can no longer be decrypted. The
 * sequence, its commit point and its recovery: include/hearth/reset.h;
 * reasoning and threat model: docs/erasure.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/auth.h"
#include "hearth/layout.h"
#include "hearth/reset.h"
#include "hearth/util.h"
#include "identity_internal.h"

#define COMMIT_NAME "COMMIT"
/* The root-of-trust files a reset replaces, in keys/ (rot_file.c, rot_tpm.c,
 * floors.c). */
static const char *const key_files[] = {"storage.key", "tpm-sealed.bin"};
#define FLOORS_FILE "boot-floors"
#define STORE_FILE "store.hst"

typedef struct {
    char dir[4096], keys[4096], data[4096], mac[4096], outbox[4096], events[4096];
    char stage[4096], s_keys[4096], s_data[4096], s_mac[4096], s_commit[4096];
} reset_paths;

static hearth_status paths_of(const char *dir, reset_paths *p)
{
    int n = snprintf(p->dir, sizeof p->dir, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof p->dir) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long");
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_KEYS, p->keys, sizeof p->keys));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_DATA, p->data, sizeof p->data));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_DEVICE_MAC, p->mac, sizeof p->mac));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_OUTBOX, p->outbox, sizeof p->outbox));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_EVENTS_LOG, p->events, sizeof p->events));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_RESET, p->stage, sizeof p->stage));
    /* The staging directory mirrors the layout's relative names. */
    HEARTH_GUARD(hearth_layout_path(p->stage, HEARTH_LAYOUT_KEYS, p->s_keys, sizeof p->s_keys));
    HEARTH_GUARD(hearth_layout_path(p->stage, HEARTH_LAYOUT_DATA, p->s_data, sizeof p->s_data));
    HEARTH_GUARD(hearth_layout_path(p->stage, HEARTH_LAYOUT_DEVICE_MAC, p->s_mac, sizeof p->s_mac));
    return hearth_path_join(p->s_commit, sizeof p->s_commit, p->stage, COMMIT_NAME);
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Overwrite a regular file's bytes in place with zeros and fsync it, so
 * the key is gone from the file's blocks as far as the file system lets us
 * reach them (docs/erasure.md: why the key is also random and small). */
static hearth_status wipe_in_place(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return HEARTH_OK;
        return hearth_err(HEARTH_ERR_IO, "open %s: %s", path, strerror(errno));
    }
    struct stat sb;
    hearth_status st = HEARTH_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 65536) {
        st = hearth_err(HEARTH_ERR_IO, "%s is not a small regular file", path);
    } else {
        uint8_t zero[4096];
        memset(zero, 0, sizeof zero);
        size_t left = (size_t)sb.st_size;
        while (st == HEARTH_OK && left > 0) {
            size_t k = left < sizeof zero ? left : sizeof zero;
            st = hearth_fd_write_all(fd, zero, k, path);
            left -= k;
        }
        if (st == HEARTH_OK && fsync(fd) != 0)
            st = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", path, strerror(errno));
    }
    close(fd);
    return st;
}

/* Move @p from over @p to if @p from is still there (idempotent). */
static hearth_status move_if_staged(const char *from, const char *to)
{
    if (!exists(from)) return HEARTH_OK;
    if (rename(from, to) != 0)
        return hearth_err(HEARTH_ERR_IO, "rename %s -> %s: %s", from, to, strerror(errno));
    return HEARTH_OK;
}

static hearth_status join(char *buf, size_t cap, const char *dir, const char *name)
{
    return hearth_path_join(buf, cap, dir, name);
}

/* The steps after the commit point; each may run again after a power cut. */
static hearth_status roll_forward(const reset_paths *p)
{
    char from[4096], to[4096];
    /* 0. TPM root: advance the erase epoch to the value the new key is
     * sealed for. From here this TPM refuses every earlier sealed key, also
     * a copy of the old blob a flash block kept; the new key becomes
     * unsealable. Idempotent, and done before the staged blob moves (a
     * moved blob means it was done). Then the old key's NV indices go (the
     * floors live on in the new key's index, written before the commit). */
    HEARTH_GUARD(join(from, sizeof from, p->s_keys, key_files[1]));
    if (exists(from)) {
        HEARTH_GUARD(hearth_rot_tpm_epoch_advance(p->s_keys, NULL));
        hearth_fault_point("reset.epoch_advanced");
        HEARTH_GUARD(hearth_rot_tpm_retire_run(p->s_keys, NULL));
        hearth_fault_point("reset.nv_retired");
    }
    /* 1. The old key: overwritten in place, then replaced by the new one. */
    for (size_t i = 0; i < sizeof key_files / sizeof key_files[0]; i++) {
        HEARTH_GUARD(join(from, sizeof from, p->s_keys, key_files[i]));
        HEARTH_GUARD(join(to, sizeof to, p->keys, key_files[i]));
        if (!exists(from)) continue; /* not this backend, or already moved */
        HEARTH_GUARD(wipe_in_place(to));
        hearth_fault_point("reset.key_wiped");
        HEARTH_GUARD(move_if_staged(from, to));
        hearth_fault_point("reset.key_moved");
    }
    /* A device whose backend changed kind never happens (the platform fixes
     * it); a key file of the other kind left in keys/ would be stale. */
    HEARTH_GUARD(join(from, sizeof from, p->s_keys, FLOORS_FILE));
    HEARTH_GUARD(join(to, sizeof to, p->keys, FLOORS_FILE));
    HEARTH_GUARD(move_if_staged(from, to));
    HEARTH_GUARD(hearth_fs_sync_dir(p->keys));
    /* 2. The store and device.mac under the new key. */
    HEARTH_GUARD(join(from, sizeof from, p->s_data, STORE_FILE));
    HEARTH_GUARD(join(to, sizeof to, p->data, STORE_FILE));
    HEARTH_GUARD(move_if_staged(from, to));
    hearth_fault_point("reset.store_moved");
    (void)hearth_fs_remove_stale_temps(p->data, STORE_FILE);
    HEARTH_GUARD(hearth_fs_sync_dir(p->data));
    HEARTH_GUARD(move_if_staged(p->s_mac, p->mac));
    HEARTH_GUARD(hearth_fs_sync_dir(p->dir));
    hearth_fault_point("reset.moved");
    /* 3. Personal data kept outside the store, crypto-erased with it and
     * deleted as well: the outbox (encrypted under a key the store holds)
     * and the security-event log with its rotated copy (user names and
     * addresses sealed under a key the store holds, docs/security-log.md). */
    hearth_identity_remove_tree(p->outbox, true);
    if (unlink(p->events) != 0 && errno != ENOENT)
        return hearth_err(HEARTH_ERR_IO, "remove %s: %s", p->events, strerror(errno));
    char rotated[sizeof p->events + 2];
    int rl = snprintf(rotated, sizeof rotated, "%s.1", p->events);
    if (rl > 0 && (size_t)rl < sizeof rotated && unlink(rotated) != 0 && errno != ENOENT)
        return hearth_err(HEARTH_ERR_IO, "remove %s: %s", rotated, strerror(errno));
    hearth_fault_point("reset.personal_removed");
    /* 4. Done: the staging directory (COMMIT last) goes. */
    hearth_identity_remove_tree(p->s_keys, true);
    hearth_identity_remove_tree(p->s_data, true);
    if (unlink(p->s_commit) != 0 && errno != ENOENT)
        return hearth_err(HEARTH_ERR_IO, "remove %s: %s", p->s_commit, strerror(errno));
    hearth_identity_remove_tree(p->stage, true);
    return hearth_fs_sync_dir(p->dir);
}

hearth_status hearth_reset_recover(const char *state_dir)
{
    HEARTH_ENSURE(state_dir != NULL && state_dir[0] != '\0',
                  hearth_err(HEARTH_ERR_INVALID, "no state directory given"));
    reset_paths p;
    HEARTH_GUARD(paths_of(state_dir, &p));
    if (!exists(p.stage)) return HEARTH_OK;
    if (!exists(p.s_commit)) {
        /* Interrupted before the commit point: the old device is intact. */
        hearth_identity_remove_tree(p.stage, true);
        HEARTH_GUARD(hearth_fs_sync_dir(p.dir));
        hearth_seclog(HEARTH_SEV_WARNING, "factory_reset_discarded", "reason",
                      "interrupted before commit", NULL);
        return HEARTH_OK;
    }
    HEARTH_GUARD(roll_forward(&p));
    hearth_seclog(HEARTH_SEV_WARNING, "factory_reset_completed", NULL);
    return HEARTH_OK;
}

/* What the new store is built from, read from the old one first. */
typedef struct {
    char verifier[HEARTH_FACTORY_VERIFIER_MAX];
    uint8_t key_der[HEARTH_DEVICE_KEY_DER_MAX];
    size_t key_len;
    uint8_t info[HEARTH_DEV_JSON_MAX];
    size_t info_len;
    bool floors;
    hearth_floor_values fv;
    char notice[160]; /* the new store's reset notice (hearth/reset.h) */
    size_t notice_len;
} reset_carry;

static hearth_status carry_read(hearth_device *dev, const reset_paths *p, hearth_reset_reason reason,
                                reset_carry *c)
{
    HEARTH_GUARD(hearth_factory_verifier(dev, c->verifier));
    hearth_store *st = hearth_device_store(dev);
    /* The reset count carries over (a malformed notice counts as none: it
     * must not block the reset); this reset's notice is pending until the
     * device program has queued it for the service. */
    hearth_reset_notice n = {0};
    hearth_status ns = hearth_reset_notice_get(st, &n);
    if (ns != HEARTH_OK) {
        hearth_err_clear();
        n.count = 0;
    }
    if (n.count == UINT64_MAX) n.count--;
    n.count++;
    n.at_unix = hearth_time_now();
    n.reason = reason;
    n.pending = true;
    HEARTH_GUARD(hearth_reset_notice_encode(&n, c->notice, sizeof c->notice, &c->notice_len));
    HEARTH_GUARD(hearth_store_get(st, HEARTH_REC_DEVICE_KEY, c->key_der, sizeof c->key_der,
                                  &c->key_len));
    HEARTH_GUARD(hearth_store_get(st, HEARTH_REC_DEVICE_INFO, c->info, sizeof c->info,
                                  &c->info_len));
    hearth_floors *f = NULL;
    HEARTH_GUARD(hearth_floors_open(hearth_identity_device_rot(dev), p->keys, &f));
    hearth_status s = hearth_floors_read(f, &c->fv);
    hearth_floors_close(f);
    if (s == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        return HEARTH_OK;
    }
    HEARTH_GUARD(s);
    c->floors = true;
    return HEARTH_OK;
}

/* Everything the reset device needs, under a new key, in the staging
 * directory; nothing outside it changes. */
static hearth_status stage(hearth_device *dev, const reset_paths *p, const reset_carry *c)
{
    hearth_rot_kind kind = hearth_rot_kind_of(hearth_identity_device_rot(dev));
    if (mkdir(p->stage, 0700) != 0)
        return hearth_err(HEARTH_ERR_IO, "create %s: %s", p->stage, strerror(errno));
    hearth_rot *rot = NULL;
    hearth_store *st = NULL;
    hearth_floors *f = NULL;
    hearth_status s;
    if (kind == HEARTH_ROT_TPM) {
        /* Sealed for the next erase epoch: unusable until the commit's
         * roll-forward advances it (docs/erasure.md). */
        s = hearth_rot_tpm_create_successor(p->s_keys, p->keys, NULL, &rot);
        if (s == HEARTH_OK)
            s = hearth_rot_tpm_retire_plan(hearth_identity_device_rot(dev), rot, p->s_keys);
    } else {
        s = hearth_rot_file_create(p->s_keys);
        if (s == HEARTH_OK) s = hearth_rot_file_open(p->s_keys, &rot);
    }
    if (s == HEARTH_OK) s = hearth_store_create(p->s_data, rot, hearth_device_serial(dev));
    if (s == HEARTH_OK) s = hearth_store_open(p->s_data, rot, hearth_device_serial(dev), &st);
    if (s == HEARTH_OK) {
        const hearth_store_op ops[] = {
            {HEARTH_REC_DEVICE_KEY, c->key_der, c->key_len},
            {HEARTH_REC_DEVICE_INFO, c->info, c->info_len},
            {HEARTH_REC_RESET_NOTICE, c->notice, c->notice_len},
        };
        s = hearth_store_commit(st, ops, sizeof ops / sizeof ops[0]);
    }
    if (s == HEARTH_OK) s = hearth_auth_factory_init_verifier(st, c->verifier);
    if (s == HEARTH_OK) s = hearth_identity_config_mac_write(p->stage, rot, c->info, c->info_len);
    /* The anti-rollback floors never go down (docs/boot.md): the same
     * values under the new key. */
    if (s == HEARTH_OK && c->floors) s = hearth_floors_open(rot, p->s_keys, &f);
    if (s == HEARTH_OK && c->floors) s = hearth_floors_raise(f, &c->fv, false, NULL);
    hearth_floors_close(f);
    hearth_store_close(st);
    hearth_rot_close(rot);
    if (s == HEARTH_OK) s = hearth_fs_sync_dir(p->s_keys);
    if (s == HEARTH_OK) s = hearth_fs_sync_dir(p->s_data);
    if (s == HEARTH_OK) s = hearth_fs_sync_dir(p->stage);
    return s;
}

hearth_status hearth_reset_factory(hearth_device *dev, hearth_reset_reason reason)
{
    HEARTH_ENSURE(dev != NULL, hearth_err(HEARTH_ERR_INVALID, "no device"));
    reset_paths p;
    HEARTH_GUARD(paths_of(hearth_device_dir(dev), &p));
    /* A staging directory here is an earlier attempt that failed before its
     * commit (a committed one was finished when the device was opened). */
    if (exists(p.s_commit))
        return hearth_err(HEARTH_ERR_STATE, "a committed factory reset is pending: restart");
    hearth_identity_remove_tree(p.stage, true);

    reset_carry *c = calloc(1, sizeof *c);
    HEARTH_ENSURE(c != NULL, hearth_err(HEARTH_ERR_NOMEM, "out of memory"));
    hearth_status s = carry_read(dev, &p, reason, c);
    if (s == HEARTH_OK) s = stage(dev, &p, c);
    hearth_memzero(c, sizeof *c);
    free(c);
    if (s != HEARTH_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        hearth_identity_remove_tree(p.stage, true);
        hearth_seclog(HEARTH_SEV_ALERT, "factory_reset_failed", "step", "stage", "error", why,
                      NULL);
        return hearth_err(s, "factory reset: %s", why);
    }
    hearth_fault_point("reset.staged");
    /* Nothing still running may write the old state back. */
    hearth_store_retire(hearth_device_store(dev));
    /* The commit point. */
    s = hearth_fs_write_atomic(p.s_commit, "1\n", 2, 0600);
    if (s != HEARTH_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        hearth_seclog(HEARTH_SEV_ALERT, "factory_reset_failed", "step", "commit", "error", why,
                      NULL);
        return hearth_err(s, "factory reset: %s", why);
    }
    hearth_fault_point("reset.committed");
    hearth_seclog(HEARTH_SEV_WARNING, "factory_reset", "serial", hearth_device_serial(dev), NULL);
    s = roll_forward(&p);
    if (s != HEARTH_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        hearth_seclog(HEARTH_SEV_ALERT, "factory_reset_failed", "step", "finish", "error", why,
                      NULL);
        return hearth_err(s, "factory reset committed, finishing it failed (it is finished at "
                             "the next start): %s", why);
    }
    return HEARTH_OK;
}
