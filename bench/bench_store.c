/* bench_store [dir] [puts] [records]
 *
 * Durable write latency of hearth_store_put (re-encrypt the whole store,
 * temp file, fsync, rename, directory fsync) as p50/p99, against a reference
 * measured in the same run on the same file system: the same number of bytes
 * written with plain write+fsync+rename+dir-fsync and no crypto. Also
 * hearth_store_get reads/s against a plain lock-free bsearch+memcpy of the
 * same values. The ratios show what encryption, integrity and locking cost
 * on top of the I/O a crash-safe plaintext file would need anyway. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hearth/store.h"
#include "hearth/util.h"

#define VALUE_LEN 256

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static int die(const char *what)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, hearth_err_msg());
    return 1;
}

/* Reference: what a crash-safe plaintext file costs (no encode, no crypto). */
static int raw_commit(const char *dir, const char *path, const uint8_t *buf, size_t len)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    if (write(fd, buf, len) != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

typedef struct {
    char name[32];
    uint8_t val[VALUE_LEN];
} plain_rec;

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const plain_rec *)a)->name, ((const plain_rec *)b)->name);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    int puts_n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 200;
    int recs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 32;
    if (puts_n < 10 || recs < 1 || recs > HEARTH_STORE_RECORDS_MAX) {
        fprintf(stderr, "usage: bench_store [dir] [puts>=10] [records 1..%d]\n",
                HEARTH_STORE_RECORDS_MAX);
        return 2;
    }
    char root[4096], keydir[4200], dir[4200], rawdir[4200], rawpath[4300], stpath[4300];
    snprintf(root, sizeof root, "%s/bench-store.XXXXXX", base);
    if (mkdtemp(root) == NULL) {
        fprintf(stderr, "bench_store: mkdtemp in %s: %s\n", base, strerror(errno));
        return 1;
    }
    snprintf(keydir, sizeof keydir, "%s/keys", root);
    snprintf(dir, sizeof dir, "%s/data", root);
    snprintf(rawdir, sizeof rawdir, "%s/raw", root);
    snprintf(rawpath, sizeof rawpath, "%s/plain.bin", rawdir);
    snprintf(stpath, sizeof stpath, "%s/store.hst", dir);
    int rc = 1;
    hearth_rot *rot = NULL;
    hearth_store *st = NULL;
    double *lat = calloc((size_t)puts_n, sizeof *lat);
    double *ref = calloc((size_t)puts_n, sizeof *ref);
    plain_rec *plain = calloc((size_t)recs, sizeof *plain);
    uint8_t *filebuf = NULL;
    size_t filelen = 0;
    if (lat == NULL || ref == NULL || plain == NULL) goto out;
    if (hearth_rot_file_create(keydir) != HEARTH_OK || hearth_rot_file_open(keydir, &rot) != HEARTH_OK ||
        hearth_store_create(dir, rot, "bench-device") != HEARTH_OK ||
        hearth_store_open(dir, rot, "bench-device", &st) != HEARTH_OK) {
        rc = die("setup");
        goto out;
    }
    if (mkdir(rawdir, 0700) != 0) goto out;

    /* Populate: recs records of VALUE_LEN bytes in one batch. */
    hearth_store_op *ops = calloc((size_t)recs, sizeof *ops);
    if (ops == NULL) goto out;
    for (int i = 0; i < recs; i++) {
        snprintf(plain[i].name, sizeof plain[i].name, "rec.%04d", i);
        for (int k = 0; k < VALUE_LEN; k++) plain[i].val[k] = (uint8_t)(i + k);
        ops[i] = (hearth_store_op){plain[i].name, plain[i].val, VALUE_LEN};
    }
    hearth_status s = hearth_store_commit(st, ops, (size_t)recs);
    free(ops);
    if (s != HEARTH_OK) {
        rc = die("populate");
        goto out;
    }
    if (hearth_fs_read_file(stpath, HEARTH_STORE_FILE_MAX, &filebuf, &filelen) != HEARTH_OK) {
        rc = die("read store");
        goto out;
    }

    /* Interleave store puts and reference writes so both see the same
     * device state (write-back cache, journal) over the run. */
    for (int i = 0; i < puts_n; i++) {
        plain_rec *r = &plain[i % recs];
        r->val[0] ^= 1;
        double t0 = now_us();
        if (hearth_store_put(st, r->name, r->val, VALUE_LEN) != HEARTH_OK) {
            rc = die("put");
            goto out;
        }
        double t1 = now_us();
        if (raw_commit(rawdir, rawpath, filebuf, filelen) != 0) {
            fprintf(stderr, "bench_store: reference write: %s\n", strerror(errno));
            goto out;
        }
        double t2 = now_us();
        lat[i] = t1 - t0;
        ref[i] = t2 - t1;
    }
    qsort(lat, (size_t)puts_n, sizeof *lat, cmp_double);
    qsort(ref, (size_t)puts_n, sizeof *ref, cmp_double);

    /* Reads: hearth_store_get vs. bsearch+memcpy over a plain array. */
    qsort(plain, (size_t)recs, sizeof *plain, cmp_rec);
    const int reads = 1000000;
    uint8_t out[VALUE_LEN];
    size_t len = 0;
    double t0 = now_us();
    for (int i = 0; i < reads; i++) {
        if (hearth_store_get(st, plain[i % recs].name, out, sizeof out, &len) != HEARTH_OK) {
            rc = die("get");
            goto out;
        }
    }
    double t1 = now_us();
    volatile uint8_t sink = 0;
    for (int i = 0; i < reads; i++) {
        plain_rec key;
        memcpy(key.name, plain[i % recs].name, sizeof key.name);
        plain_rec *hit = bsearch(&key, plain, (size_t)recs, sizeof *plain, cmp_rec);
        if (hit == NULL) goto out;
        memcpy(out, hit->val, VALUE_LEN);
        sink ^= out[i % VALUE_LEN];
    }
    double t2 = now_us();
    (void)sink;
    double gets_s = reads / ((t1 - t0) / 1e6), ref_s = reads / ((t2 - t1) / 1e6);

    printf("store: %d records x %d B, file %zu B, %d durable puts on %s\n", recs, VALUE_LEN,
           filelen, puts_n, base);
    printf("hearth_store_put  p50 %8.1f us  p99 %8.1f us\n", pct(lat, (size_t)puts_n, 0.5),
           pct(lat, (size_t)puts_n, 0.99));
    printf("raw write+fsync+rename+dirsync (same bytes, no crypto)  p50 %8.1f us  p99 %8.1f us\n",
           pct(ref, (size_t)puts_n, 0.5), pct(ref, (size_t)puts_n, 0.99));
    printf("ratio put/raw  p50 %.2fx  p99 %.2fx\n",
           pct(lat, (size_t)puts_n, 0.5) / pct(ref, (size_t)puts_n, 0.5),
           pct(lat, (size_t)puts_n, 0.99) / pct(ref, (size_t)puts_n, 0.99));
    printf("hearth_store_get  %.0f reads/s; plain bsearch+memcpy %.0f reads/s; ratio %.2fx\n",
           gets_s, ref_s, ref_s / gets_s);
    rc = 0;
out:
    hearth_store_close(st);
    hearth_rot_close(rot);
    free(filebuf);
    free(lat);
    free(ref);
    free(plain);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
