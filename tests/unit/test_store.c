/* Unit tests for src/store: the encrypted, integrity-protected store
 * (5.4-1), its file root of trust and the absence of hard-coded keys (5.4-3),
 * and the algorithm id recorded in the data (5.5-3). Hostile files are built
 * by editing a real store byte by byte: every edit must be detected. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "hearth/store.h"
#include "hearth/util.h"
#include "store/store_format.h"

#define DEV "SN-0001"

typedef struct {
    char root[256];
    char keydir[300];
    char dir[300];
    hearth_rot *rot;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL) return -1;
    snprintf(fx->root, sizeof fx->root, "/tmp/hearth-store-test.XXXXXX");
    if (mkdtemp(fx->root) == NULL) return -1;
    snprintf(fx->keydir, sizeof fx->keydir, "%s/keys", fx->root);
    snprintf(fx->dir, sizeof fx->dir, "%s/data", fx->root);
    if (hearth_rot_file_create(fx->keydir) != HEARTH_OK) return -1;
    if (hearth_rot_file_open(fx->keydir, &fx->rot) != HEARTH_OK) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    hearth_rot_close(fx->rot);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

static void store_path(const fixture *fx, char *out, size_t cap)
{
    snprintf(out, cap, "%s/store.hst", fx->dir);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    assert_int_equal(hearth_fs_read_file(path, HEARTH_STORE_FILE_MAX + 1, &b, len), HEARTH_OK);
    return b;
}

static void write_raw(const char *path, const uint8_t *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, len), (ssize_t)len);
    close(fd);
}

/* Open must fail with @p want and leave a reason; returns the status. */
static hearth_status open_status(const fixture *fx, hearth_rot *rot, const char *dev)
{
    hearth_store *st = NULL;
    hearth_err_clear();
    hearth_status s = hearth_store_open(fx->dir, rot, dev, &st);
    if (s == HEARTH_OK) hearth_store_close(st);
    else assert_null(st);
    return s;
}

/* A small store with three records for the hostile-edit tests. */
static void make_small(fixture *fx)
{
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_OK);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    hearth_store_op ops[] = {
        {"pin.a", "1234", 4},
        {"pin.b", "5678", 4},
        {"wifi.psk", "hunter2-hunter2", 15},
    };
    assert_int_equal(hearth_store_commit(st, ops, 3), HEARTH_OK);
    hearth_store_close(st);
}

static void expect_get(hearth_store *st, const char *name, const char *want)
{
    char buf[128];
    size_t len = 0;
    assert_int_equal(hearth_store_get(st, name, buf, sizeof buf, &len), HEARTH_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

/* ------------------------------------------------------------- basics */

static void test_5_4_1_round_trip(void **state)
{
    fixture *fx = *state;
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_OK);
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_ERR_EXISTS);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    uint64_t g0 = hearth_store_generation(st);
    assert_int_equal(hearth_store_put(st, "tls.key", "secret-key-bytes", 16), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "empty", NULL, 0), HEARTH_OK);
    assert_int_equal(hearth_store_generation(st), g0 + 2);
    expect_get(st, "tls.key", "secret-key-bytes");
    expect_get(st, "empty", "");

    char small[4];
    size_t len = 0;
    assert_int_equal(hearth_store_get(st, "tls.key", small, sizeof small, &len), HEARTH_ERR_TOO_LARGE);
    assert_int_equal(len, 16);
    assert_int_equal(hearth_store_get(st, "nope", small, sizeof small, &len), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_store_put(st, "tls.key", "v2", 2), HEARTH_OK);
    expect_get(st, "tls.key", "v2");
    assert_int_equal(hearth_store_delete(st, "tls.key"), HEARTH_OK);
    assert_int_equal(hearth_store_delete(st, "tls.key"), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_store_get(st, "tls.key", small, sizeof small, &len), HEARTH_ERR_NOT_FOUND);
    hearth_store_close(st);
}

static hearth_status count_visit(const char *name, const uint8_t *val, size_t len, void *arg)
{
    (void)val;
    (void)len;
    char *acc = arg;
    size_t n = strlen(acc);
    snprintf(acc + n, 256 - n, "%s;", name);
    return HEARTH_OK;
}

static void test_5_4_1_persistence_and_foreach(void **state)
{
    fixture *fx = *state;
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_OK);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "user/bob", "b", 1), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "user/alice", "a", 1), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "cfg", "c", 1), HEARTH_OK);
    uint64_t gen = hearth_store_generation(st);
    hearth_store_close(st);

    /* A fresh RoT handle from the key file, as after a reboot. */
    hearth_rot *rot2 = NULL;
    assert_int_equal(hearth_rot_file_open(fx->keydir, &rot2), HEARTH_OK);
    assert_int_equal(hearth_rot_kind_of(rot2), HEARTH_ROT_FILE);
    assert_int_equal(hearth_store_open(fx->dir, rot2, DEV, &st), HEARTH_OK);
    hearth_rot_close(rot2);
    assert_int_equal(hearth_store_generation(st), gen);
    expect_get(st, "user/alice", "a");
    expect_get(st, "user/bob", "b");
    expect_get(st, "cfg", "c");
    char acc[256] = "";
    assert_int_equal(hearth_store_foreach(st, "user/", count_visit, acc), HEARTH_OK);
    assert_string_equal(acc, "user/alice;user/bob;");
    acc[0] = '\0';
    assert_int_equal(hearth_store_foreach(st, NULL, count_visit, acc), HEARTH_OK);
    assert_string_equal(acc, "cfg;user/alice;user/bob;");
    hearth_store_close(st);
}

static void test_5_4_1_batch_commit_all_or_nothing(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t l0 = 0;
    uint8_t *before = read_all(path, &l0);

    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    uint64_t g = hearth_store_generation(st);
    char longname[HEARTH_STORE_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    hearth_store_op bad[] = {
        {"pin.a", "0000", 4},
        {"new", "n", 1},
        {"pin.b", NULL, 0},
        {longname, "v", 1}, /* invalid: the whole batch must be refused */
    };
    assert_int_equal(hearth_store_commit(st, bad, 4), HEARTH_ERR_TOO_LARGE);
    assert_true(strstr(hearth_err_msg(), "name") != NULL);
    expect_get(st, "pin.a", "1234");
    expect_get(st, "pin.b", "5678");
    char b[8];
    size_t len;
    assert_int_equal(hearth_store_get(st, "new", b, sizeof b, &len), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_store_generation(st), g);
    size_t l1 = 0;
    uint8_t *after = read_all(path, &l1);
    assert_int_equal(l0, l1);
    assert_memory_equal(before, after, l0); /* file untouched */
    free(after);

    /* The same batch without the bad op applies entirely, in order. */
    hearth_store_op good[] = {
        {"pin.a", "0000", 4}, {"new", "n", 1}, {"pin.b", NULL, 0}, {"new", "n2", 2},
        {"gone", NULL, 0},
    };
    assert_int_equal(hearth_store_commit(st, good, 5), HEARTH_OK);
    assert_int_equal(hearth_store_generation(st), g + 1);
    hearth_store_close(st);
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    expect_get(st, "pin.a", "0000");
    expect_get(st, "new", "n2");
    assert_int_equal(hearth_store_get(st, "pin.b", b, sizeof b, &len), HEARTH_ERR_NOT_FOUND);
    hearth_store_close(st);
    free(before);
}

static void test_5_4_1_limits_refused_state_unchanged(void **state)
{
    fixture *fx = *state;
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_OK);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);

    char name[HEARTH_STORE_NAME_MAX + 2];
    memset(name, 'n', HEARTH_STORE_NAME_MAX);
    name[HEARTH_STORE_NAME_MAX] = '\0';
    assert_int_equal(hearth_store_put(st, name, "ok", 2), HEARTH_OK); /* exactly the max */
    name[HEARTH_STORE_NAME_MAX] = 'n';
    name[HEARTH_STORE_NAME_MAX + 1] = '\0';
    assert_int_equal(hearth_store_put(st, name, "x", 1), HEARTH_ERR_TOO_LARGE);
    assert_true(strstr(hearth_err_msg(), "name longer") != NULL);
    assert_int_equal(hearth_store_put(st, "", "x", 1), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_store_put(st, "a\nb", "x", 1), HEARTH_ERR_INVALID);

    uint8_t *big = calloc(1, HEARTH_STORE_VALUE_MAX + 1);
    assert_non_null(big);
    assert_int_equal(hearth_store_put(st, "big", big, HEARTH_STORE_VALUE_MAX), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "big2", big, HEARTH_STORE_VALUE_MAX + 1),
                     HEARTH_ERR_TOO_LARGE);
    assert_true(strstr(hearth_err_msg(), "over the") != NULL);

    /* Fill to the record limit, then one more must fail and change nothing. */
    uint64_t g = 0;
    for (int i = 0; hearth_store_generation(st) > 0; i++) {
        char n[32];
        snprintf(n, sizeof n, "r%03d", i);
        hearth_status s = hearth_store_put(st, n, "v", 1);
        if (s != HEARTH_OK) {
            assert_int_equal(s, HEARTH_ERR_TOO_LARGE);
            assert_true(strstr(hearth_err_msg(), "maximum") != NULL);
            assert_int_equal(i, HEARTH_STORE_RECORDS_MAX - 2); /* 2 records already there */
            assert_int_equal(hearth_store_get(st, n, big, 8, &(size_t){0}), HEARTH_ERR_NOT_FOUND);
            assert_int_equal(hearth_store_generation(st), g);
            break;
        }
        g = hearth_store_generation(st);
        assert_true(i < HEARTH_STORE_RECORDS_MAX);
    }
    /* Replacing an existing record at the limit still works. */
    assert_int_equal(hearth_store_put(st, "r000", "w", 1), HEARTH_OK);
    hearth_store_close(st);

    /* Whole-file limit: 64 records of 64 KiB exceed 4 MiB. */
    char dir2[400];
    snprintf(dir2, sizeof dir2, "%s/big", fx->root);
    assert_int_equal(hearth_store_create(dir2, fx->rot, DEV), HEARTH_OK);
    assert_int_equal(hearth_store_open(dir2, fx->rot, DEV, &st), HEARTH_OK);
    hearth_status s = HEARTH_OK;
    int i;
    for (i = 0; i < 80 && s == HEARTH_OK; i++) {
        char n[32];
        snprintf(n, sizeof n, "blob%02d", i);
        s = hearth_store_put(st, n, big, HEARTH_STORE_VALUE_MAX);
    }
    assert_int_equal(s, HEARTH_ERR_TOO_LARGE);
    /* header + trailer = 124 bytes; each record = 1 + 6 + 4 + value + 16 */
    assert_int_equal(i - 1, (HEARTH_STORE_FILE_MAX - 124) / (1 + 6 + 4 + HEARTH_STORE_VALUE_MAX + 16));
    uint64_t gb = hearth_store_generation(st);
    hearth_store_close(st);
    assert_int_equal(hearth_store_open(dir2, fx->rot, DEV, &st), HEARTH_OK);
    assert_int_equal(hearth_store_generation(st), gb);
    hearth_store_close(st);
    free(big);
}

/* --------------------------------------------------------- tampering */

static void test_5_4_1_flipped_bit_at_every_position_detected(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t len = 0;
    uint8_t *orig = read_all(path, &len);
    uint8_t *mod = malloc(len);
    assert_non_null(mod);
    unsigned tested = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(mod, orig, len);
            mod[pos] ^= (uint8_t)(1u << bit);
            write_raw(path, mod, len);
            hearth_status s = open_status(fx, fx->rot, DEV);
            /* version/algorithm/kdf ids (bytes 8..13) may read as an
             * unsupported format; everything else is tampering. */
            if (pos >= 8 && pos < 14 && s == HEARTH_ERR_UNSUPPORTED) {
                tested++;
                continue;
            }
            if (s != HEARTH_ERR_TAMPERED)
                fail_msg("flip of bit %d at byte %zu not detected (status %d)", bit, pos, s);
            assert_true(strlen(hearth_err_msg()) > 0);
            tested++;
        }
    }
    assert_int_equal(tested, len * 8);
    write_raw(path, orig, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_OK);
    free(mod);
    free(orig);
}

static void test_5_4_1_truncation_at_every_length_detected(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t len = 0;
    uint8_t *orig = read_all(path, &len);
    for (size_t l = 0; l < len; l++) {
        write_raw(path, orig, l);
        assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);
        assert_true(strlen(hearth_err_msg()) > 0);
    }
    /* Appended garbage is rejected too. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, orig, len);
    longer[len] = 0;
    write_raw(path, longer, len + 1);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);
    assert_true(strstr(hearth_err_msg(), "trailing") != NULL);
    write_raw(path, orig, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_OK);
    free(longer);
    free(orig);
}

/* Offset of record @p idx's name-length byte in an encoded store. */
static size_t record_offset(const uint8_t *buf, size_t len, uint32_t idx)
{
    store_layout *lay = malloc(sizeof *lay);
    assert_non_null(lay);
    assert_int_equal(store_format_parse(buf, len, lay), HEARTH_OK);
    assert_true(idx < lay->count);
    size_t off = (size_t)(lay->rec[idx].name - buf) - 1;
    free(lay);
    return off;
}

static void test_5_4_1_edited_record_detected(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t l1 = 0;
    uint8_t *v1 = read_all(path, &l1);

    /* Commit a new value of the same length, then splice the old record's
     * ciphertext+tag (valid under the same root key) into the new file. */
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "pin.a", "9999", 4), HEARTH_OK);
    hearth_store_close(st);
    size_t l2 = 0;
    uint8_t *v2 = read_all(path, &l2);
    assert_int_equal(l1, l2);
    size_t o = record_offset(v2, l2, 0);
    size_t reclen = 1 + 5 + 4 + 4 + STORE_TAG_LEN; /* "pin.a", 4-byte value */
    uint8_t *mix = malloc(l2);
    memcpy(mix, v2, l2);
    memcpy(mix + o, v1 + o, reclen);
    write_raw(path, mix, l2);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);

    /* Same with the old header, so the header/record pair is consistent
     * but the trailer is not. */
    memcpy(mix, v2, l2);
    memcpy(mix, v1, STORE_HEADER_LEN);
    write_raw(path, mix, l2);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);

    /* Changing a value length field (and so the layout) is caught. */
    memcpy(mix, v2, l2);
    mix[o + 1 + 5 + 3] ^= 0x01;
    write_raw(path, mix, l2);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);
    free(mix);
    free(v1);
    free(v2);
}

static void test_5_4_1_record_renamed_or_swapped_detected(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t len = 0;
    uint8_t *orig = read_all(path, &len);
    uint8_t *mod = malloc(len);
    size_t oa = record_offset(orig, len, 0); /* pin.a */
    size_t ob = record_offset(orig, len, 1); /* pin.b */
    size_t rl = 1 + 5 + 4 + 4 + STORE_TAG_LEN;

    /* Rename pin.b -> pin.c: still sorted, so only the AAD can catch it. */
    memcpy(mod, orig, len);
    mod[ob + 5] = 'c';
    write_raw(path, mod, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);

    /* Swap the two PINs' ciphertexts+tags, keeping the names in place. */
    memcpy(mod, orig, len);
    memcpy(mod + oa + 6, orig + ob + 6, rl - 6);
    memcpy(mod + ob + 6, orig + oa + 6, rl - 6);
    write_raw(path, mod, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);

    /* Swap whole records (names and all): out of order. */
    memcpy(mod, orig, len);
    memcpy(mod + oa, orig + ob, rl);
    memcpy(mod + ob, orig + oa, rl);
    write_raw(path, mod, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);

    /* Renaming pin.a -> pin.b is a duplicate. */
    memcpy(mod, orig, len);
    mod[oa + 5] = 'b';
    write_raw(path, mod, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);
    free(mod);
    free(orig);
}

static void test_5_4_1_store_from_other_device_detected(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    /* Device 2: its own key. The attacker copies device 1's store file. */
    char kd2[400], d2[400], src[400], dst[512];
    snprintf(kd2, sizeof kd2, "%s/keys2", fx->root);
    snprintf(d2, sizeof d2, "%s/data2", fx->root);
    assert_int_equal(hearth_rot_file_create(kd2), HEARTH_OK);
    hearth_rot *rot2 = NULL;
    assert_int_equal(hearth_rot_file_open(kd2, &rot2), HEARTH_OK);
    assert_int_equal(hearth_store_create(d2, rot2, DEV), HEARTH_OK);
    store_path(fx, src, sizeof src);
    snprintf(dst, sizeof dst, "%s/store.hst", d2);
    size_t len;
    uint8_t *b = read_all(src, &len);
    write_raw(dst, b, len);
    free(b);
    hearth_store *st = NULL;
    hearth_err_clear();
    assert_int_equal(hearth_store_open(d2, rot2, DEV, &st), HEARTH_ERR_TAMPERED);
    assert_null(st);
    assert_true(strstr(hearth_err_msg(), "different storage key") != NULL);
    hearth_rot_close(rot2);

    /* Same key, different device id (e.g. a cloned key and data partition
     * on a device with another serial). */
    assert_int_equal(open_status(fx, fx->rot, "SN-0002"), HEARTH_ERR_TAMPERED);
    assert_true(strstr(hearth_err_msg(), "device id") != NULL);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_OK);
}

static void test_5_4_1_unknown_version_unsupported(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t len;
    uint8_t *b = read_all(path, &len);
    b[9] = 2; /* version 2 */
    write_raw(path, b, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_UNSUPPORTED);
    assert_true(strstr(hearth_err_msg(), "version 2") != NULL);
    b[9] = 1;
    memcpy(b, "NOTSTORE", 8);
    write_raw(path, b, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);
    assert_true(strstr(hearth_err_msg(), "magic") != NULL);
    free(b);
}

/* ------------------------------------------------------ root of trust */

static void test_5_4_1_key_file_wrong_mode_or_size_rejected(void **state)
{
    fixture *fx = *state;
    char kp[400];
    snprintf(kp, sizeof kp, "%s/storage.key", fx->keydir);
    struct stat sb;
    assert_int_equal(stat(kp, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, HEARTH_STORE_KEY_LEN);
    assert_int_equal(stat(fx->keydir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(hearth_rot_file_create(fx->keydir), HEARTH_ERR_EXISTS);

    hearth_rot *r = NULL;
    mode_t bad_modes[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        assert_int_equal(chmod(kp, bad_modes[i]), 0);
        assert_int_equal(hearth_rot_file_open(fx->keydir, &r), HEARTH_ERR_POLICY);
        assert_null(r);
        assert_true(strstr(hearth_err_msg(), "0600") != NULL);
    }
    assert_int_equal(chmod(kp, 0600), 0);
    assert_int_equal(hearth_rot_file_open(fx->keydir, &r), HEARTH_OK);
    hearth_rot_close(r);

    size_t len;
    uint8_t *key = read_all(kp, &len);
    write_raw(kp, key, 31);
    assert_int_equal(hearth_rot_file_open(fx->keydir, &r), HEARTH_ERR_INVALID);
    assert_true(strstr(hearth_err_msg(), "expected 32") != NULL);
    uint8_t k33[33] = {0};
    memcpy(k33, key, 32);
    write_raw(kp, k33, 33);
    assert_int_equal(hearth_rot_file_open(fx->keydir, &r), HEARTH_ERR_INVALID);
    write_raw(kp, key, 32);
    assert_int_equal(hearth_rot_file_open(fx->keydir, &r), HEARTH_OK);
    hearth_rot_close(r);

    /* A group-writable key directory lets others swap the key. */
    assert_int_equal(chmod(fx->keydir, 0770), 0);
    assert_int_equal(hearth_rot_file_open(fx->keydir, &r), HEARTH_ERR_POLICY);
    assert_int_equal(chmod(fx->keydir, 0700), 0);

    /* A symlinked key is refused (O_NOFOLLOW). */
    char kd3[400], kp3[512];
    snprintf(kd3, sizeof kd3, "%s/keys3", fx->root);
    assert_int_equal(mkdir(kd3, 0700), 0);
    snprintf(kp3, sizeof kp3, "%s/storage.key", kd3);
    assert_int_equal(symlink(kp, kp3), 0);
    assert_int_not_equal(hearth_rot_file_open(kd3, &r), HEARTH_OK);
    assert_null(r);
    char kd4[400];
    snprintf(kd4, sizeof kd4, "%s/none", fx->root);
    assert_int_equal(hearth_rot_file_open(kd4, &r), HEARTH_ERR_NOT_FOUND);
    hearth_memzero(key, len);
    free(key);
}

static void test_5_4_3_keys_random_per_device_no_plaintext_on_disk(void **state)
{
    fixture *fx = *state;
    /* Known answer: a distinctive secret must not appear in the file, in
     * whole or as any 8-byte window, nor may the root key. */
    const char secret[] = "correct horse battery staple 0123456789";
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_OK);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "secret", secret, sizeof secret - 1), HEARTH_OK);
    hearth_store_close(st);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t len;
    uint8_t *file = read_all(path, &len);
    for (size_t i = 0; i + 8 <= sizeof secret - 1; i++)
        assert_null(memmem(file, len, secret + i, 8));
    uint8_t key[HEARTH_STORE_KEY_LEN];
    assert_int_equal(hearth_rot_storage_key(fx->rot, key), HEARTH_OK);
    for (size_t i = 0; i + 8 <= sizeof key; i++) assert_null(memmem(file, len, key + i, 8));

    /* 5.4-3: every root key is fresh randomness, never a built-in constant. */
    char kd2[400];
    snprintf(kd2, sizeof kd2, "%s/keys2", fx->root);
    assert_int_equal(hearth_rot_file_create(kd2), HEARTH_OK);
    hearth_rot *rot2 = NULL;
    assert_int_equal(hearth_rot_file_open(kd2, &rot2), HEARTH_OK);
    uint8_t key2[HEARTH_STORE_KEY_LEN];
    assert_int_equal(hearth_rot_storage_key(rot2, key2), HEARTH_OK);
    assert_false(hearth_ct_equal(key, key2, sizeof key));
    static const uint8_t zero[HEARTH_STORE_KEY_LEN];
    assert_false(hearth_ct_equal(key, zero, sizeof key));
    hearth_rot_close(rot2);

    /* Re-committing identical content yields a different file (fresh
     * per-commit salt, so no keystream or tag is ever reused). */
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "secret", secret, sizeof secret - 1), HEARTH_OK);
    hearth_store_close(st);
    size_t len2;
    uint8_t *file2 = read_all(path, &len2);
    assert_int_equal(len, len2);
    assert_memory_not_equal(file + 24 + 32, file2 + 24 + 32, STORE_SALT_LEN);
    assert_memory_not_equal(file + STORE_HEADER_LEN, file2 + STORE_HEADER_LEN,
                            len - STORE_HEADER_LEN);
    hearth_memzero(key, sizeof key);
    hearth_memzero(key2, sizeof key2);
    free(file);
    free(file2);
}

static void test_5_5_3_algorithm_id_in_data_chacha20poly1305(void **state)
{
    fixture *fx = *state;
    assert_int_equal(hearth_store_create_with_alg(fx->dir, fx->rot, DEV,
                                                  HEARTH_STORE_ALG_CHACHA20POLY1305), HEARTH_OK);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    assert_int_equal(hearth_store_put(st, "k", "value", 5), HEARTH_OK);
    hearth_store_close(st);
    char path[400];
    store_path(fx, path, sizeof path);
    size_t len;
    uint8_t *b = read_all(path, &len);
    assert_int_equal(b[10], 0);
    assert_int_equal(b[11], HEARTH_STORE_ALG_CHACHA20POLY1305); /* id kept across commits */
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    expect_get(st, "k", "value");
    hearth_store_close(st);
    /* Claiming AES-GCM for ChaCha data: the alg id is authenticated. */
    b[11] = HEARTH_STORE_ALG_AES256GCM;
    write_raw(path, b, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_TAMPERED);
    b[11] = 9;
    write_raw(path, b, len);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_ERR_UNSUPPORTED);
    assert_int_equal(hearth_store_create_with_alg(fx->root, fx->rot, DEV, (hearth_store_alg)7),
                     HEARTH_ERR_UNSUPPORTED);
    free(b);
}

static void test_5_4_1_stale_temp_files_removed(void **state)
{
    fixture *fx = *state;
    make_small(fx);
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s/store.hst.tmp.ABC123", fx->dir);
    write_raw(tmp, (const uint8_t *)"torn", 4);
    char other[400];
    snprintf(other, sizeof other, "%s/unrelated.txt", fx->dir);
    write_raw(other, (const uint8_t *)"keep", 4);
    assert_int_equal(open_status(fx, fx->rot, DEV), HEARTH_OK);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
}

typedef struct {
    hearth_store *st;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < 10; i++) {
        char n[32], v[32];
        snprintf(n, sizeof n, "t%d.k%d", w->id, i);
        snprintf(v, sizeof v, "v%d-%d", w->id, i);
        if (hearth_store_put(w->st, n, v, strlen(v)) != HEARTH_OK) return (void *)1;
        char b[32];
        size_t l = 0;
        if (hearth_store_get(w->st, n, b, sizeof b, &l) != HEARTH_OK) return (void *)1;
        if (l != strlen(v) || memcmp(b, v, l) != 0) return (void *)1;
    }
    return NULL;
}

static void test_5_4_1_concurrent_commits_consistent(void **state)
{
    fixture *fx = *state;
    assert_int_equal(hearth_store_create(fx->dir, fx->rot, DEV), HEARTH_OK);
    hearth_store *st = NULL;
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    uint64_t g0 = hearth_store_generation(st);
    pthread_t th[4];
    worker_arg wa[4];
    for (int i = 0; i < 4; i++) {
        wa[i] = (worker_arg){st, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &wa[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        assert_int_equal(pthread_join(th[i], &r), 0);
        assert_null(r);
    }
    assert_int_equal(hearth_store_generation(st), g0 + 40);
    hearth_store_close(st);
    assert_int_equal(hearth_store_open(fx->dir, fx->rot, DEV, &st), HEARTH_OK);
    char acc[256];
    int n = 0;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 10; i++) {
            char name[32];
            size_t l;
            snprintf(name, sizeof name, "t%d.k%d", t, i);
            if (hearth_store_get(st, name, acc, sizeof acc, &l) == HEARTH_OK) n++;
        }
    assert_int_equal(n, 40);
    hearth_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_5_4_1_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_persistence_and_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_batch_commit_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_limits_refused_state_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_flipped_bit_at_every_position_detected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_truncation_at_every_length_detected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_edited_record_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_record_renamed_or_swapped_detected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_store_from_other_device_detected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_unknown_version_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_key_file_wrong_mode_or_size_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_4_3_keys_random_per_device_no_plaintext_on_disk,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_5_3_algorithm_id_in_data_chacha20poly1305, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_stale_temp_files_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_4_1_concurrent_commits_consistent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
