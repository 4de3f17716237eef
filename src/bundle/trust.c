/* Trust anchor: root public keys + threshold, loaded from a read-only
 * directory outside the A/B slots and outside the writable device state
 * (5.3-10: the trust relationship).
 *
 * Nothing a non-owner can write is believed: the directory and every file
 * read from it must be owned by root or by the user running the program and
 * writable by nobody else, and are never followed through a symbolic link.
 * The threshold cannot be lowered by the anchor: the build fixes a minimum
 * (HEARTH_TRUST_MIN_THRESHOLD, compiled into the verified program) and a
 * `threshold` file may only raise it. docs/update-format.md, "Trust anchor". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_internal.h"
#include "hearth/layout.h"

#ifndef HEARTH_TRUST_MIN_THRESHOLD
#error "HEARTH_TRUST_MIN_THRESHOLD must come from the build (src/bundle/CMakeLists.txt)"
#endif
const char *hearth_trust_default_dir(void) { return hearth_layout_name(HEARTH_LAYOUT_TRUST); }
unsigned hearth_trust_min_threshold(void) { return HEARTH_TRUST_MIN_THRESHOLD; }

struct hearth_trust {
    size_t count;
    unsigned threshold;
    hearth_key *roots[HEARTH_TRUST_ROOTS_MAX];
};

void hearth_trust_free(hearth_trust *t)
{
    if (t != NULL) hearth_keys_free(t->roots, t->count);
    free(t);
}

size_t hearth_trust_count(const hearth_trust *t) { return t->count; }
unsigned hearth_trust_threshold(const hearth_trust *t) { return t->threshold; }

const hearth_key *hb_trust_root(const hearth_trust *t, const uint8_t id[HEARTH_KEY_ID_LEN])
{
    for (size_t i = 0; i < t->count; i++)
        if (memcmp(t->roots[i]->id, id, HEARTH_KEY_ID_LEN) == 0) return t->roots[i];
    return NULL;
}

static hearth_status add_root(hearth_trust *t, hearth_key *k)
{
    if (t->count >= HEARTH_TRUST_ROOTS_MAX) {
        hearth_key_free(k);
        return hearth_err(HEARTH_ERR_TOO_LARGE, "more than %u root keys", HEARTH_TRUST_ROOTS_MAX);
    }
    if (hb_trust_root(t, k->id) != NULL) {
        hearth_key_free(k);
        return hearth_err(HEARTH_ERR_INVALID, "the same root key is listed twice");
    }
    t->roots[t->count++] = k;
    return HEARTH_OK;
}

static hearth_status finish(hearth_trust *t, unsigned threshold, hearth_trust **out)
{
    if (t->count == 0) {
        hearth_trust_free(t);
        return hearth_err(HEARTH_ERR_NOT_FOUND, "trust anchor has no root keys");
    }
    if (threshold == 0 || threshold > t->count) {
        size_t n = t->count;
        hearth_trust_free(t);
        return hearth_err(HEARTH_ERR_INVALID, "threshold %u impossible with %zu root key(s)",
                          threshold, n);
    }
    t->threshold = threshold;
    *out = t;
    return HEARTH_OK;
}

hearth_status hearth_trust_from_keys(const hearth_key *const *roots, size_t n, unsigned threshold,
                                     hearth_trust **out)
{
    hearth_trust *t = calloc(1, sizeof *t);
    if (t == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        hearth_key *k = NULL;
        hearth_status st = hb_key_dup(roots[i], &k);
        if (st == HEARTH_OK) st = add_root(t, k);
        if (st != HEARTH_OK) {
            hearth_trust_free(t);
            return st;
        }
    }
    return finish(t, threshold, out);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Owner root or the running user; no write permission for group or others;
 * the expected type (never a symbolic link: callers use O_NOFOLLOW or
 * AT_SYMLINK_NOFOLLOW). */
static hearth_status check_node(const struct stat *st, const char *path, bool dir)
{
    if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "trust anchor: %s is not a %s (symbolic links are not followed)", path,
                          dir ? "directory" : "regular file");
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "trust anchor: %s is owned by uid %u, not by root or this program's "
                          "user (uid %u)",
                          path, (unsigned)st->st_uid, (unsigned)geteuid());
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "trust anchor: %s is writable by %s (mode %04o); only its owner may "
                          "write it",
                          path, (st->st_mode & S_IWOTH) ? "others" : "its group",
                          (unsigned)(st->st_mode & 07777));
    return HEARTH_OK;
}

static hearth_status check_entry(int dfd, const char *dir, const char *name, char *path,
                                 size_t cap)
{
    HEARTH_GUARD(hearth_path_join(path, cap, dir, name));
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return hearth_err(HEARTH_ERR_NOT_FOUND, "%s does not exist", path);
        return hearth_err(HEARTH_ERR_IO, "trust anchor: %s: %s", path, strerror(errno));
    }
    return check_node(&st, path, false);
}

static hearth_status read_threshold(int dfd, const char *dir, unsigned min, unsigned *thr)
{
    char path[4096];
    hearth_status st = check_entry(dfd, dir, "threshold", path, sizeof path);
    if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        *thr = min;
        return HEARTH_OK;
    }
    HEARTH_GUARD(st);
    uint8_t *data = NULL;
    size_t len = 0;
    HEARTH_GUARD(hearth_fs_read_file(path, 16, &data, &len));
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul((char *)data, &end, 10);
    bool ok = errno == 0 && end != (char *)data && (*end == '\0' || *end == '\n') && v >= 1 &&
              v <= HEARTH_TRUST_ROOTS_MAX && (char *)data + len == end + (*end == '\n');
    free(data);
    if (!ok) return hearth_err(HEARTH_ERR_INVALID, "%s: expected a number 1..%u", path,
                               HEARTH_TRUST_ROOTS_MAX);
    if (v < min)
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "%s: threshold %lu is below the %u root signature(s) this build "
                          "requires (HEARTH_TRUST_MIN_THRESHOLD); the anchor cannot lower it",
                          path, v, min);
    *thr = (unsigned)v;
    return HEARTH_OK;
}

hearth_status hearth_trust_load_dir(const char *dir, hearth_trust **out)
{
    return hearth_trust_load_dir_min(dir, HEARTH_TRUST_MIN_THRESHOLD, out);
}

hearth_status hearth_trust_load_dir_min(const char *dir, unsigned min_threshold,
                                        hearth_trust **out)
{
    /* A caller may ask for more signatures than the build does, never fewer. */
    unsigned min = min_threshold > HEARTH_TRUST_MIN_THRESHOLD ? min_threshold
                                                               : HEARTH_TRUST_MIN_THRESHOLD;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT) return hearth_err(HEARTH_ERR_NOT_FOUND, "trust anchor %s does not exist", dir);
        if (errno == ELOOP || errno == ENOTDIR)
            return hearth_err(HEARTH_ERR_TAMPERED,
                              "trust anchor %s is not a directory (symbolic links are not "
                              "followed)", dir);
        return hearth_err(HEARTH_ERR_IO, "open trust anchor %s: %s", dir, strerror(errno));
    }
    struct stat dst;
    hearth_status st = fstat(dfd, &dst) == 0
                           ? check_node(&dst, dir, true)
                           : hearth_err(HEARTH_ERR_IO, "trust anchor %s: %s", dir, strerror(errno));
    if (st != HEARTH_OK) {
        close(dfd);
        return st;
    }
    int lfd = dup(dfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (d == NULL) {
        if (lfd >= 0) close(lfd);
        close(dfd);
        return hearth_err(HEARTH_ERR_IO, "open trust anchor %s: %s", dir, strerror(errno));
    }
    /* Collect *.pub names, sorted so the order (and error messages) are stable. */
    char *names[HEARTH_TRUST_ROOTS_MAX + 1];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".pub") != 0) continue;
        if (n == HEARTH_TRUST_ROOTS_MAX) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "trust anchor %s has more than %u root keys",
                            dir, HEARTH_TRUST_ROOTS_MAX);
            break;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) {
            st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    hearth_trust *t = NULL;
    unsigned thr = min;
    if (st == HEARTH_OK) {
        qsort(names, n, sizeof names[0], cmp_str);
        t = calloc(1, sizeof *t);
        if (t == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == HEARTH_OK && i < n; i++) {
        char path[4096];
        hearth_key *k = NULL;
        st = check_entry(dfd, dir, names[i], path, sizeof path);
        if (st == HEARTH_OK) st = hearth_key_load_public(path, &k);
        if (st == HEARTH_OK) st = add_root(t, k);
    }
    if (st == HEARTH_OK) st = read_threshold(dfd, dir, min, &thr);
    for (size_t i = 0; i < n; i++) free(names[i]);
    close(dfd);
    if (st != HEARTH_OK) {
        hearth_trust_free(t);
        return st;
    }
    return finish(t, thr, out);
}
