/* Unit tests for src/util: codecs (known answers), bounded cursor (short
 * input rejected), capped buffers, atomic writes and constant-time compare.
 * Evidences 5.13-1 (bounded parsing of untrusted input) and 5.4-1 (crash-safe
 * persistence primitives under the secure store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hearth/layout.h"
#include "hearth/util.h"

static void test_5_13_1_hex_known_answer_and_rejects(void **state)
{
    (void)state;
    const uint8_t in[] = {0x00, 0xff, 0x10, 0xab};
    char out[9];
    assert_int_equal(hearth_hex_encode(in, 4, out, sizeof out), HEARTH_OK);
    assert_string_equal(out, "00ff10ab");
    assert_int_equal(hearth_hex_encode(in, 4, out, 8), HEARTH_ERR_TOO_LARGE);
    uint8_t back[4];
    assert_int_equal(hearth_hex_decode("00ff10ab", back, 4), HEARTH_OK);
    assert_memory_equal(back, in, 4);
    assert_int_equal(hearth_hex_decode("00ff10zb", back, 4), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_hex_decode("00ff10", back, 4), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_hex_decode("00ff10ab00", back, 4), HEARTH_ERR_INVALID);
}

static void test_5_13_1_b64url_rfc4648_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 vectors, unpadded url alphabet. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        assert_int_equal(hearth_b64url_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof out), HEARTH_OK);
        assert_string_equal(out, enc[i]);
        uint8_t back[16];
        size_t bl = 0;
        assert_int_equal(hearth_b64url_decode(enc[i], strlen(enc[i]), back, sizeof back, &bl), HEARTH_OK);
        assert_int_equal(bl, strlen(plain[i]));
        assert_memory_equal(back, plain[i], bl);
    }
    uint8_t b[8];
    size_t bl;
    assert_int_equal(hearth_b64url_decode("Zm9v+A", 6, b, sizeof b, &bl), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_b64url_decode("Zm9vY", 5, b, sizeof b, &bl), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_b64url_decode("Zh", 2, b, sizeof b, &bl), HEARTH_ERR_INVALID); /* non-canonical */
    assert_int_equal(hearth_b64url_decode("Zm9vYmFy", 8, b, 5, &bl), HEARTH_ERR_TOO_LARGE);
}

static void test_5_13_1_cursor_rejects_short_input(void **state)
{
    (void)state;
    const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    hearth_cursor c;
    hearth_cursor_init(&c, data, sizeof data);
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;
    assert_int_equal(hearth_cursor_u16(&c, &v16), HEARTH_OK);
    assert_int_equal(v16, 0x0102);
    assert_int_equal(hearth_cursor_u32(&c, &v32), HEARTH_OK);
    assert_int_equal(v32, 0x03040506);
    assert_int_equal(hearth_cursor_u64(&c, &v64), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_cursor_remaining(&c), 1);
    const uint8_t *p;
    assert_int_equal(hearth_cursor_ptr(&c, (size_t)-1, &p), HEARTH_ERR_INVALID);
    uint8_t v8;
    assert_int_equal(hearth_cursor_u8(&c, &v8), HEARTH_OK);
    assert_int_equal(v8, 7);
    assert_int_equal(hearth_cursor_u8(&c, &v8), HEARTH_ERR_INVALID);
}

static void test_5_13_1_buffer_has_hard_maximum(void **state)
{
    (void)state;
    hearth_buf b;
    hearth_buf_init(&b, 10);
    assert_int_equal(hearth_buf_u32(&b, 0xdeadbeef), HEARTH_OK);
    assert_int_equal(hearth_buf_u32(&b, 1), HEARTH_OK);
    assert_int_equal(hearth_buf_u32(&b, 2), HEARTH_ERR_TOO_LARGE);
    assert_int_equal(b.len, 8);
    assert_int_equal(b.data[0], 0xde);
    hearth_buf_free(&b);
}

static void test_atomic_write_and_bounded_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/hearth-util-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    assert_int_equal(hearth_path_join(path, sizeof path, dir, "f"), HEARTH_OK);
    assert_int_equal(hearth_fs_write_atomic(path, "hello", 5, 0600), HEARTH_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t *buf;
    size_t len;
    assert_int_equal(hearth_fs_read_file(path, 5, &buf, &len), HEARTH_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    assert_int_equal(hearth_fs_read_file(path, 4, &buf, &len), HEARTH_ERR_TOO_LARGE);
    assert_int_equal(hearth_fs_write_atomic(path, "bye", 3, 0600), HEARTH_OK);
    assert_int_equal(hearth_fs_read_file(path, 100, &buf, &len), HEARTH_OK);
    assert_int_equal(len, 3);
    free(buf);
    char missing[300];
    assert_int_equal(hearth_path_join(missing, sizeof missing, dir, "nope"), HEARTH_OK);
    assert_int_equal(hearth_fs_read_file(missing, 100, &buf, &len), HEARTH_ERR_NOT_FOUND);
    char tiny[8];
    assert_int_equal(hearth_path_join(tiny, sizeof tiny, dir, "f"), HEARTH_ERR_TOO_LARGE);
    unlink(path);
    rmdir(dir);
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : 0;
}

/* The security log stays under its cap: 5,000 events (values with quotes,
 * backslashes and control bytes) into a 16 KiB cap rotate into "<path>.1",
 * the two files never hold more than the cap together, and both consist of
 * whole lines, each one JSON object. */
static void test_seclog_cap_and_rotation(void **state)
{
    (void)state;
    char dir[] = "/tmp/hearth-seclog.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], old[256];
    snprintf(path, sizeof path, "%s/events.log", dir);
    snprintf(old, sizeof old, "%s/events.log.1", dir);
    assert_int_equal(hearth_seclog_set_cap(HEARTH_SECLOG_CAP_MIN - 1), HEARTH_ERR_RANGE);
    assert_int_equal(hearth_seclog_set_cap(HEARTH_SECLOG_CAP_MIN), HEARTH_OK);
    assert_int_equal(hearth_seclog_open(path), HEARTH_OK);
    long peak = 0;
    for (int i = 0; i < 5000; i++) {
        char v[48];
        snprintf(v, sizeof v, "conn \"%d\" \\ \x01\x7f end", i);
        hearth_seclog(HEARTH_SEV_INFO, "cap_test", "value", v, NULL);
        long total = file_size(path) + file_size(old);
        if (total > peak) peak = total;
    }
    hearth_seclog_close();
    assert_true(peak <= (long)HEARTH_SECLOG_CAP_MIN);
    assert_true(file_size(old) > 0); /* it did rotate */
    const char *files[] = {path, old};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        assert_non_null(fp);
        char line[4096];
        int n = 0;
        while (fgets(line, sizeof line, fp) != NULL) {
            size_t l = strlen(line);
            assert_true(l > 2 && line[l - 1] == '\n');
            assert_true(line[0] == '{' && line[l - 2] == '}');
            assert_non_null(strstr(line, "\"event\":\"cap_test\""));
            n++;
        }
        fclose(fp);
        assert_true(f == 0 ? n > 0 : n > 50);
        unlink(files[f]);
    }
    rmdir(dir);
    assert_int_equal(hearth_seclog_set_cap(HEARTH_SECLOG_CAP_DEFAULT), HEARTH_OK);
}

static void test_5_1_3_ct_equal_and_random(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal(hearth_random(a, sizeof a), HEARTH_OK);
    memcpy(b, a, sizeof a);
    assert_true(hearth_ct_equal(a, b, sizeof a));
    b[31] ^= 1;
    assert_false(hearth_ct_equal(a, b, sizeof a));
    /* Uniform draws stay in range and hit every value of a small range. */
    int seen[7] = {0};
    for (int i = 0; i < 700; i++) {
        uint32_t v;
        assert_int_equal(hearth_random_uniform(7, &v), HEARTH_OK);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++) assert_true(seen[i] > 0);
    uint32_t v;
    assert_int_equal(hearth_random_uniform(0, &v), HEARTH_ERR_INVALID);
}

static void test_be_codecs_known_answer(void **state)
{
    (void)state;
    uint8_t b[8];
    hearth_be64_put(b, 0x0102030405060708ull);
    static const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(b, want, 8);
    assert_int_equal(hearth_be64_get(b), 0x0102030405060708ull);
    assert_int_equal(hearth_be32_get(b + 4), 0x05060708u);
    hearth_be32_put(b, 0xfffefdfcu);
    assert_int_equal(b[0], 0xff);
    assert_int_equal(b[3], 0xfc);
}

static void test_layout_one_table(void **state)
{
    (void)state;
    char p[64];
    assert_int_equal(hearth_layout_path("/var/lib/h", HEARTH_LAYOUT_BOOT_STATE, p, sizeof p),
                     HEARTH_OK);
    assert_string_equal(p, "/var/lib/h/boot/state");
    assert_int_equal(hearth_layout_path("/s", HEARTH_LAYOUT_KEYS, p, sizeof p), HEARTH_OK);
    assert_string_equal(p, "/s/keys");
    /* The trust anchor is absolute: the state directory does not move it. */
    assert_int_equal(hearth_layout_path("/s", HEARTH_LAYOUT_TRUST, p, sizeof p), HEARTH_OK);
    assert_true(p[0] == '/' && strncmp(p, "/s/", 3) != 0);
    assert_string_equal(p, hearth_layout_name(HEARTH_LAYOUT_TRUST));
    /* Every item has a name; nothing outside the table does. */
    for (int i = 0; i < HEARTH_LAYOUT_COUNT; i++) assert_non_null(hearth_layout_name(i));
    assert_null(hearth_layout_name(HEARTH_LAYOUT_COUNT));
    assert_int_equal(hearth_layout_path("/s", HEARTH_LAYOUT_COUNT, p, sizeof p), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_layout_path("", HEARTH_LAYOUT_KEYS, p, sizeof p), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_layout_path("/s", HEARTH_LAYOUT_KEYS, p, 7), HEARTH_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_13_1_hex_known_answer_and_rejects),
        cmocka_unit_test(test_5_13_1_b64url_rfc4648_vectors),
        cmocka_unit_test(test_5_13_1_cursor_rejects_short_input),
        cmocka_unit_test(test_5_13_1_buffer_has_hard_maximum),
        cmocka_unit_test(test_atomic_write_and_bounded_read),
        cmocka_unit_test(test_5_1_3_ct_equal_and_random),
        cmocka_unit_test(test_seclog_cap_and_rotation),
        cmocka_unit_test(test_be_codecs_known_answer),
        cmocka_unit_test(test_layout_one_table),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
