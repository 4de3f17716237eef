/* store_writer: drives the secure store for tests/fault/test_store_crash.sh.
 *
 *   store_writer init   <keydir> <dir>          file RoT + store in state 1
 *   store_writer commit <keydir> <dir> <k>      expect state k, commit k+1
 *   store_writer verify <keydir> <dir> <k>...   open; pass if exactly one of
 *                                               the listed states is stored
 *   store_writer commits <keydir> <dir> <k> <n> expect state k, then try n
 *                                               commits k+1, k+2, ... in one
 *                                               process; print "ok"/"refused"
 *                                               per try and "reported <state>"
 *                                               (the state the answers claim)
 *
 * State k is a fixed, multi-record content (a replaced value, an added and a
 * deleted record per step), so a half-applied batch is distinguishable.
 * Exit: 0 ok, 1 error, 2 store refused as tampered/unsupported, 3 store
 * opened but holds neither state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/store.h"

#define DEV "fault-device-1"
#define BLOB_LEN 3000

typedef struct {
    char version[16];
    uint8_t blob[BLOB_LEN];
    const char *parity_name; /* present record: only.even / only.odd */
} state_t;

static void make_state(long k, state_t *s)
{
    snprintf(s->version, sizeof s->version, "v%ld", k);
    for (size_t i = 0; i < BLOB_LEN; i++) s->blob[i] = (uint8_t)((size_t)k * 31u + i * 7u);
    s->parity_name = (k % 2 == 0) ? "only.even" : "only.odd";
}

static int fail(const char *what, hearth_status st)
{
    fprintf(stderr, "store_writer: %s: %s (%s)\n", what, hearth_status_name(st), hearth_err_msg());
    return (st == HEARTH_ERR_TAMPERED || st == HEARTH_ERR_UNSUPPORTED) ? 2 : 1;
}

typedef struct {
    int count;
} visit_acc;

static hearth_status count_rec(const char *name, const uint8_t *val, size_t len, void *arg)
{
    (void)name;
    (void)val;
    (void)len;
    ((visit_acc *)arg)->count++;
    return HEARTH_OK;
}

/* Exactly state k: every record equal and no record more. */
static int holds_state(hearth_store *st, long k)
{
    state_t s;
    make_state(k, &s);
    static uint8_t buf[BLOB_LEN + 1];
    size_t len = 0;
    if (hearth_store_get(st, "cfg.version", buf, sizeof buf, &len) != HEARTH_OK) return 0;
    if (len != strlen(s.version) || memcmp(buf, s.version, len) != 0) return 0;
    if (hearth_store_get(st, "blob", buf, sizeof buf, &len) != HEARTH_OK) return 0;
    if (len != BLOB_LEN || memcmp(buf, s.blob, len) != 0) return 0;
    if (hearth_store_get(st, s.parity_name, buf, sizeof buf, &len) != HEARTH_OK) return 0;
    visit_acc acc = {0};
    if (hearth_store_foreach(st, NULL, count_rec, &acc) != HEARTH_OK) return 0;
    return acc.count == 3;
}

static hearth_status open_store(const char *keydir, const char *dir, hearth_store **out)
{
    hearth_rot *rot = NULL;
    HEARTH_GUARD(hearth_rot_file_open(keydir, &rot));
    hearth_status st = hearth_store_open(dir, rot, DEV, out);
    hearth_rot_close(rot);
    return st;
}

static hearth_status commit_state(hearth_store *st, long k)
{
    state_t s;
    make_state(k, &s);
    const char *other = (k % 2 == 0) ? "only.odd" : "only.even";
    hearth_store_op ops[] = {
        {"cfg.version", s.version, strlen(s.version)},
        {"blob", s.blob, BLOB_LEN},
        {s.parity_name, "x", 1},
        {other, NULL, 0},
    };
    return hearth_store_commit(st, ops, 4);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: store_writer init|commit|verify <keydir> <dir> [k...]\n");
        return 1;
    }
    const char *cmd = argv[1], *keydir = argv[2], *dir = argv[3];
    hearth_status st;
    hearth_store *s = NULL;

    if (strcmp(cmd, "init") == 0) {
        st = hearth_rot_file_create(keydir);
        if (st != HEARTH_OK) return fail("create key", st);
        hearth_rot *rot = NULL;
        st = hearth_rot_file_open(keydir, &rot);
        if (st != HEARTH_OK) return fail("open key", st);
        st = hearth_store_create(dir, rot, DEV);
        hearth_rot_close(rot);
        if (st != HEARTH_OK) return fail("create store", st);
        st = open_store(keydir, dir, &s);
        if (st != HEARTH_OK) return fail("open store", st);
        st = commit_state(s, 1);
        hearth_store_close(s);
        return st == HEARTH_OK ? 0 : fail("commit state 1", st);
    }
    if (argc < 5) {
        fprintf(stderr, "store_writer: missing state number\n");
        return 1;
    }
    st = open_store(keydir, dir, &s);
    if (st != HEARTH_OK) return fail("open store", st);

    if (strcmp(cmd, "commit") == 0) {
        long k = strtol(argv[4], NULL, 10);
        if (!holds_state(s, k)) {
            hearth_store_close(s);
            fprintf(stderr, "store_writer: store does not hold state %ld before commit\n", k);
            return 3;
        }
        st = commit_state(s, k + 1);
        hearth_store_close(s);
        return st == HEARTH_OK ? 0 : fail("commit", st);
    }
    if (strcmp(cmd, "commits") == 0 && argc >= 6) {
        long k = strtol(argv[4], NULL, 10), n = strtol(argv[5], NULL, 10);
        if (!holds_state(s, k)) {
            hearth_store_close(s);
            fprintf(stderr, "store_writer: store does not hold state %ld before commit\n", k);
            return 3;
        }
        long cur = k;
        for (long i = 0; i < n; i++) {
            st = commit_state(s, cur + 1);
            if (st == HEARTH_OK) cur++;
            printf("%s %s\n", st == HEARTH_OK ? "ok" : "refused", hearth_status_name(st));
            /* The in-memory state must be exactly what was reported. */
            if (!holds_state(s, cur)) {
                hearth_store_close(s);
                fprintf(stderr, "store_writer: memory does not hold the reported state\n");
                return 3;
            }
        }
        printf("reported %ld\n", cur);
        hearth_store_close(s);
        return 0;
    }
    if (strcmp(cmd, "verify") == 0) {
        for (int i = 4; i < argc; i++) {
            long k = strtol(argv[i], NULL, 10);
            if (holds_state(s, k)) {
                printf("state %ld generation %llu\n", k,
                       (unsigned long long)hearth_store_generation(s));
                hearth_store_close(s);
                return 0;
            }
        }
        hearth_store_close(s);
        fprintf(stderr, "store_writer: store opened but holds none of the expected states\n");
        return 3;
    }
    hearth_store_close(s);
    fprintf(stderr, "store_writer: unknown command %s\n", cmd);
    return 1;
}
