/* Trust anchor: root public keys + threshold, loaded from a read-only
 * directory outside the A/B slots (5.3-10: the trust relationship). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_internal.h"

struct hearth_trust {
    size_t count;
    unsigned threshold;
    hearth_key *roots[HEARTH_TRUST_ROOTS_MAX];
};

void hearth_trust_free(hearth_trust *t)
{
    if (t == NULL) return;
    for (size_t i = 0; i < t->count; i++) hearth_key_free(t->roots[i]);
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

static hearth_status read_threshold(const char *dir, unsigned *thr)
{
    char path[4096];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, dir, "threshold"));
    uint8_t *data = NULL;
    size_t len = 0;
    hearth_status st = hearth_fs_read_file(path, 16, &data, &len);
    if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_err_clear();
        *thr = 1;
        return HEARTH_OK;
    }
    HEARTH_GUARD(st);
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul((char *)data, &end, 10);
    bool ok = errno == 0 && end != (char *)data && (*end == '\0' || *end == '\n') && v >= 1 &&
              v <= HEARTH_TRUST_ROOTS_MAX;
    free(data);
    if (!ok) return hearth_err(HEARTH_ERR_INVALID, "%s: expected a number 1..%u", path,
                               HEARTH_TRUST_ROOTS_MAX);
    *thr = (unsigned)v;
    return HEARTH_OK;
}

hearth_status hearth_trust_load_dir(const char *dir, hearth_trust **out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) return hearth_err(HEARTH_ERR_NOT_FOUND, "trust anchor %s does not exist", dir);
        return hearth_err(HEARTH_ERR_IO, "open trust anchor %s: %s", dir, strerror(errno));
    }
    /* Collect *.pub names, sorted so the order (and error messages) are stable. */
    char *names[HEARTH_TRUST_ROOTS_MAX + 1];
    size_t n = 0;
    hearth_status st = HEARTH_OK;
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
    unsigned thr = 1;
    if (st == HEARTH_OK) {
        qsort(names, n, sizeof names[0], cmp_str);
        t = calloc(1, sizeof *t);
        if (t == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == HEARTH_OK && i < n; i++) {
        char path[4096];
        hearth_key *k = NULL;
        st = hearth_path_join(path, sizeof path, dir, names[i]);
        if (st == HEARTH_OK) st = hearth_key_load_public(path, &k);
        if (st == HEARTH_OK) st = add_root(t, k);
    }
    if (st == HEARTH_OK) st = read_threshold(dir, &thr);
    for (size_t i = 0; i < n; i++) free(names[i]);
    if (st != HEARTH_OK) {
        hearth_trust_free(t);
        return st;
    }
    return finish(t, thr, out);
}
