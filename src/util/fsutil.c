/* Crash-safe file replacement: temp file, fsync, rename, directory fsync. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/util.h"

hearth_status hearth_path_join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long: %s/%s", dir, name);
    return HEARTH_OK;
}

hearth_status hearth_fs_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "open directory %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    if (rc == 0 && hearth_fault_fail("fs.dirsync")) {
        rc = -1;
        e = EIO;
    }
    close(fd);
    if (rc != 0) return hearth_err(HEARTH_ERR_IO, "fsync directory %s: %s", dir, strerror(e));
    return HEARTH_OK;
}

hearth_status hearth_fs_mkdirs(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return hearth_err(HEARTH_ERR_INVALID, "bad directory path");
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return hearth_err(HEARTH_ERR_IO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return hearth_err(HEARTH_ERR_IO, "mkdir %s: %s", tmp, strerror(errno));
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
        return hearth_err(HEARTH_ERR_IO, "%s is not a directory", tmp);
    return HEARTH_OK;
}

hearth_status hearth_fd_write_all(int fd, const void *data, size_t len, const char *what)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            hearth_status st = hearth_err(HEARTH_ERR_IO, "write %s: %s", what, strerror(e));
            errno = e;
            return st;
        }
        p += w;
        len -= (size_t)w;
    }
    return HEARTH_OK;
}

hearth_status hearth_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    bool durable = false;
    HEARTH_GUARD(hearth_fs_replace(path, data, len, mode, &durable));
    return durable ? HEARTH_OK : HEARTH_ERR_IO; /* the error text is the fsync's */
}

hearth_status hearth_fs_replace(const char *path, const void *data, size_t len, mode_t mode,
                                bool *durable)
{
    *durable = false;
    char dir[PATH_MAX], tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof dir) return hearth_err(HEARTH_ERR_INVALID, "bad file path");
    memcpy(dir, path, n + 1);
    char *d = dirname(dir);
    int tl = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (tl < 0 || (size_t)tl >= sizeof tmp) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long");

    hearth_fault_point("fs.tmp_open");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "create temp file for %s: %s", path, strerror(errno));
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status st = HEARTH_OK;
    if (fchmod(fd, mode) != 0) {
        st = hearth_err(HEARTH_ERR_IO, "chmod %s: %s", tmp, strerror(errno));
        goto fail;
    }
    /* Write in two halves with a fault point between them so fault tests
     * can leave a torn temporary file behind. */
    size_t half = len / 2;
    HEARTH_GUARD_GOTO(st, hearth_fd_write_all(fd, data, half, tmp), fail);
    hearth_fault_point("fs.write");
    HEARTH_GUARD_GOTO(st, hearth_fd_write_all(fd, (const uint8_t *)data + half, len - half, tmp), fail);
    hearth_fault_point("fs.fsync");
    if (fsync(fd) != 0) {
        st = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        st = hearth_err(HEARTH_ERR_IO, "close %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    hearth_fault_point("fs.rename");
    if (rename(tmp, path) != 0) {
        st = hearth_err(HEARTH_ERR_IO, "rename %s: %s", path, strerror(errno));
        goto fail;
    }
    /* Committed: from here on @p path holds the new content whatever the
     * directory fsync says, so the answer is OK and only durability is in
     * doubt. One retry covers a transient error. */
    hearth_fault_point("fs.dirsync");
    bool synced = hearth_fs_sync_dir(d) == HEARTH_OK;
    if (!synced) synced = hearth_fs_sync_dir(d) == HEARTH_OK;
    if (synced) *durable = true;
    return HEARTH_OK;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    return st;
}

hearth_status hearth_fs_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return hearth_err(HEARTH_ERR_NOT_FOUND, "%s does not exist", path);
        return hearth_err(HEARTH_ERR_IO, "open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return hearth_err(HEARTH_ERR_IO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        close(fd);
        return hearth_err(HEARTH_ERR_TOO_LARGE, "%s is %lld bytes, more than the %zu allowed",
                          path, (long long)st.st_size, max);
    }
    size_t cap = (size_t)st.st_size;
    uint8_t *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            /* Detect growth after fstat without reading past the bound. */
            uint8_t extra;
            ssize_t r = read(fd, &extra, 1);
            if (r < 0 && errno == EINTR) continue;
            if (r != 0) {
                free(buf);
                close(fd);
                return hearth_err(HEARTH_ERR_TOO_LARGE, "%s changed size while reading", path);
            }
            break;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            free(buf);
            close(fd);
            return hearth_err(HEARTH_ERR_IO, "read %s: %s", path, strerror(errno));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return HEARTH_OK;
}

bool hearth_fs_remove_stale_temps(const char *dir, const char *name)
{
    char prefix[NAME_MAX + 1];
    int pl = snprintf(prefix, sizeof prefix, "%s.tmp.", name);
    if (pl < 0 || (size_t)pl >= sizeof prefix) return false;
    DIR *d = opendir(dir);
    if (d == NULL) return false;
    struct dirent *e;
    bool removed = false;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)pl) != 0) continue;
        char p[PATH_MAX];
        if (hearth_path_join(p, sizeof p, dir, e->d_name) != HEARTH_OK) continue;
        if (unlink(p) == 0) removed = true;
    }
    closedir(d);
    /* Best effort: a temp file that reappears after a crash is removed again. */
    if (removed && hearth_fs_sync_dir(dir) != HEARTH_OK) hearth_err_clear();
    return removed;
}
