/* Root-of-trust object and helpers shared by both backends. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/util.h"
#include "rot_internal.h"

hearth_status rot_new(hearth_rot_kind kind, const uint8_t key[HEARTH_STORE_KEY_LEN],
                      hearth_rot **out)
{
    hearth_rot *r = calloc(1, sizeof *r);
    if (r == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    r->kind = kind;
    memcpy(r->key, key, HEARTH_STORE_KEY_LEN);
    *out = r;
    return HEARTH_OK;
}

hearth_rot_kind hearth_rot_kind_of(const hearth_rot *rot) { return rot->kind; }

hearth_status hearth_rot_storage_key(hearth_rot *rot, uint8_t key[HEARTH_STORE_KEY_LEN])
{
    if (rot == NULL || key == NULL) return hearth_err(HEARTH_ERR_INVALID, "no root of trust");
    memcpy(key, rot->key, HEARTH_STORE_KEY_LEN);
    return HEARTH_OK;
}

void hearth_rot_close(hearth_rot *rot)
{
    if (rot == NULL) return;
    hearth_memzero(rot, sizeof *rot);
    free(rot);
}

hearth_status rot_check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return hearth_err(HEARTH_ERR_NOT_FOUND, "key directory %s does not exist", dir);
        return hearth_err(HEARTH_ERR_IO, "key directory %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return hearth_err(HEARTH_ERR_IO, "%s is not a directory", dir);
    if (st.st_uid != geteuid())
        return hearth_err(HEARTH_ERR_POLICY, "key directory %s is not owned by this user", dir);
    if ((st.st_mode & 022) != 0)
        return hearth_err(HEARTH_ERR_POLICY,
                          "key directory %s is group/world-writable (mode %03o); use 0700", dir,
                          (unsigned)(st.st_mode & 0777));
    return HEARTH_OK;
}

hearth_status rot_prepare_dir(const char *dir)
{
    if (dir == NULL || dir[0] == '\0') return hearth_err(HEARTH_ERR_INVALID, "no key directory");
    HEARTH_GUARD(hearth_fs_mkdirs(dir, 0700));
    return rot_check_dir(dir);
}

hearth_status rot_write_new(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, dir, name));
    int n = snprintf(tmp, sizeof tmp, "%s.new.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long");
    struct stat st;
    if (lstat(path, &st) == 0) return hearth_err(HEARTH_ERR_EXISTS, "%s already exists", path);

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "create %s: %s", tmp, strerror(errno));
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status s = HEARTH_OK;
    if (fchmod(fd, 0600) != 0) {
        s = hearth_err(HEARTH_ERR_IO, "chmod %s: %s", tmp, strerror(errno));
        goto fail;
    }
    HEARTH_GUARD_GOTO(s, hearth_fd_write_all(fd, data, len, tmp), fail);
    if (fsync(fd) != 0) {
        s = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        s = hearth_err(HEARTH_ERR_IO, "close %s: %s", tmp, strerror(errno));
        goto fail;
    }
    /* link(2) fails if the name exists, so a concurrent create can never
     * replace a key that is already in use. */
    if (link(tmp, path) != 0) {
        if (errno == EEXIST) s = hearth_err(HEARTH_ERR_EXISTS, "%s already exists", path);
        else s = hearth_err(HEARTH_ERR_IO, "link %s: %s", path, strerror(errno));
        goto fail;
    }
    unlink(tmp);
    return hearth_fs_sync_dir(dir);
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    return s;
}

#ifndef HEARTH_HAVE_TPM
hearth_status rot_counter_read(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                               uint64_t *value)
{
    (void)c;
    (void)key;
    *value = 0;
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "built without TPM support (HEARTH_TPM=OFF)");
}

hearth_status rot_counter_increment(const rot_counter *c, const uint8_t key[HEARTH_STORE_KEY_LEN],
                                    uint64_t *value)
{
    return rot_counter_read(c, key, value);
}

hearth_status hearth_rot_tpm_create(const char *keydir, const char *tcti)
{
    (void)keydir;
    (void)tcti;
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "built without TPM support (HEARTH_TPM=OFF)");
}

hearth_status hearth_rot_tpm_open(const char *keydir, const char *tcti, hearth_rot **out)
{
    (void)keydir;
    (void)tcti;
    *out = NULL;
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "built without TPM support (HEARTH_TPM=OFF)");
}

hearth_status hearth_rot_tpm_create_successor(const char *keydir, const char *cur_keydir,
                                              const char *tcti, hearth_rot **out)
{
    (void)cur_keydir;
    return hearth_rot_tpm_open(keydir, tcti, out);
}

hearth_status hearth_rot_tpm_epoch_advance(const char *keydir, const char *tcti)
{
    return hearth_rot_tpm_create(keydir, tcti);
}

/* Without TPM support no root of trust is a TPM one: nothing to retire. */
hearth_status hearth_rot_tpm_retire_plan(const hearth_rot *old, const hearth_rot *neu,
                                         const char *keydir)
{
    (void)old;
    (void)neu;
    (void)keydir;
    return HEARTH_OK;
}

hearth_status hearth_rot_tpm_retire_run(const char *keydir, const char *tcti)
{
    (void)keydir;
    (void)tcti;
    return HEARTH_OK;
}
#endif
