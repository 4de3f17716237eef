/* File-backed root of trust: 32 random bytes in <keydir>/storage.key.
 * Protects the store only as far as file permissions protect the key; the
 * TPM backend (rot_tpm.c) binds it to hardware instead. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/util.h"
#include "rot_internal.h"

#define ROT_FILE_NAME "storage.key"

hearth_status hearth_rot_file_create(const char *keydir)
{
    HEARTH_GUARD(rot_prepare_dir(keydir));
    uint8_t key[HEARTH_STORE_KEY_LEN];
    hearth_status st = hearth_random(key, sizeof key);
    if (st == HEARTH_OK) st = rot_write_new(keydir, ROT_FILE_NAME, key, sizeof key);
    hearth_memzero(key, sizeof key);
    if (st == HEARTH_OK) hearth_seclog(HEARTH_SEV_INFO, "store_key_created", "backend", "file", NULL);
    return st;
}

hearth_status hearth_rot_file_open(const char *keydir, hearth_rot **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (keydir == NULL) return hearth_err(HEARTH_ERR_INVALID, "no key directory");
    HEARTH_GUARD(rot_check_dir(keydir));
    char path[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, keydir, ROT_FILE_NAME));

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return hearth_err(HEARTH_ERR_NOT_FOUND, "no storage key at %s", path);
        return hearth_err(HEARTH_ERR_IO, "open %s: %s", path, strerror(errno));
    }
    struct stat sb;
    hearth_status st = HEARTH_OK;
    uint8_t key[HEARTH_STORE_KEY_LEN + 1];
    if (fstat(fd, &sb) != 0) {
        st = hearth_err(HEARTH_ERR_IO, "stat %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = hearth_err(HEARTH_ERR_POLICY, "%s is not a regular file", path);
    } else if (sb.st_uid != geteuid()) {
        st = hearth_err(HEARTH_ERR_POLICY, "%s is not owned by this user", path);
    } else if ((sb.st_mode & 077) != 0) {
        st = hearth_err(HEARTH_ERR_POLICY,
                        "storage key %s is accessible by group/others (mode %03o); it must be 0600",
                        path, (unsigned)(sb.st_mode & 0777));
    } else if (sb.st_size != HEARTH_STORE_KEY_LEN) {
        st = hearth_err(HEARTH_ERR_INVALID, "storage key %s is %lld bytes, expected %d", path,
                        (long long)sb.st_size, HEARTH_STORE_KEY_LEN);
    } else {
        /* Read one byte more than needed to notice a file that grew. */
        size_t got = 0;
        while (got < sizeof key) {
            ssize_t r = read(fd, key + got, sizeof key - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != HEARTH_STORE_KEY_LEN)
            st = hearth_err(HEARTH_ERR_INVALID, "storage key %s has the wrong length", path);
        else
            st = rot_new(HEARTH_ROT_FILE, key, out);
    }
    close(fd);
    hearth_memzero(key, sizeof key);
    return st;
}
