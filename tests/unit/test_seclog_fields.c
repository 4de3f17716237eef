/* Unit tests for the sealed personal fields of the security-event log
 * (src/util/seclog_fields.c, seclog.c; docs/security-log.md): a value seals
 * and opens again; a changed value, field name or line, or another key, is
 * refused; every seal takes a fresh nonce; the file written by
 * hearth_seclog() never holds a user name or an address in clear, and reads
 * back through hearth_seclog_recent() with the values opened, or marked
 * "(unreadable)" under another key (the key a factory reset destroyed),
 * never dropped; old plain lines read as they are. Evidences 5.11-1 (a
 * reset that destroys the key erases the log's personal data) and 5.13-1
 * (lines read back are checked before use). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hearth/util.h"

static const uint8_t KEY[HEARTH_SECLOG_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t OTHER[HEARTH_SECLOG_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12};
static const char TMPL[] = "{\"ts\":\"t\",\"seq\":1,\"severity\":\"warning\",\"event\":\"login_failed\","
                           "\"user\":\"\",\"source\":\"\"}";

static void test_5_11_1_field_round_trip(void **state)
{
    (void)state;
    char sealed[HEARTH_SECLOG_SEALED_MAX], out[160];
    size_t n = 0;
    assert_int_equal(hearth_seclog_field_seal(KEY, "user", TMPL, "bob", 3, sealed, sizeof sealed), HEARTH_OK);
    assert_non_null(strstr(sealed, HEARTH_SECLOG_SEALED_PREFIX));
    assert_null(strstr(sealed, "bob"));
    assert_int_equal(hearth_seclog_field_open(KEY, "user", TMPL, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(out, "bob");
    /* The longest value (128 bytes) fits the documented bound; longer is refused. */
    char big[129];
    memset(big, 'x', 128);
    big[128] = '\0';
    assert_int_equal(hearth_seclog_field_seal(KEY, "user", TMPL, big, 128, sealed, sizeof sealed), HEARTH_OK);
    assert_true(strlen(sealed) < HEARTH_SECLOG_SEALED_MAX);
    assert_int_equal(hearth_seclog_field_open(KEY, "user", TMPL, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_OK);
    assert_memory_equal(out, big, 128);
    assert_int_equal(hearth_seclog_field_seal(KEY, "user", TMPL, "x", 129, sealed, sizeof sealed),
                     HEARTH_ERR_TOO_LARGE);
    /* An empty value seals too. */
    assert_int_equal(hearth_seclog_field_seal(KEY, "user", TMPL, "", 0, sealed, sizeof sealed), HEARTH_OK);
    assert_int_equal(hearth_seclog_field_open(KEY, "user", TMPL, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_OK);
    assert_int_equal(n, 0);
}

static void test_5_11_1_tamper_and_wrong_key_refused(void **state)
{
    (void)state;
    char sealed[HEARTH_SECLOG_SEALED_MAX], out[160];
    size_t n = 0;
    assert_int_equal(hearth_seclog_field_seal(KEY, "source", TMPL, "192.0.2.7", 9, sealed, sizeof sealed),
                     HEARTH_OK);
    /* Control: it opens as it is. */
    assert_int_equal(hearth_seclog_field_open(KEY, "source", TMPL, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_OK);
    /* Another key (what is left after a reset). */
    assert_int_equal(hearth_seclog_field_open(OTHER, "source", TMPL, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_ERR_TAMPERED);
    assert_string_equal(out, "");
    /* Moved to another field, or the rest of the line changed. */
    assert_int_equal(hearth_seclog_field_open(KEY, "user", TMPL, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_ERR_TAMPERED);
    char tmpl2[sizeof TMPL];
    memcpy(tmpl2, TMPL, sizeof TMPL);
    tmpl2[strlen("{\"ts\":\"")] = 'u';
    assert_int_equal(hearth_seclog_field_open(KEY, "source", tmpl2, sealed, strlen(sealed), out, sizeof out, &n),
                     HEARTH_ERR_TAMPERED);
    /* Every character of the sealed text changed in turn: never opens. */
    size_t len = strlen(sealed);
    for (size_t i = strlen(HEARTH_SECLOG_SEALED_PREFIX); i < len; i++) {
        char t[HEARTH_SECLOG_SEALED_MAX];
        memcpy(t, sealed, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(hearth_seclog_field_open(KEY, "source", TMPL, t, len, out, sizeof out, &n), HEARTH_OK);
    }
    /* Cut short, not sealed at all. */
    assert_int_not_equal(hearth_seclog_field_open(KEY, "source", TMPL, sealed, len - 4, out, sizeof out, &n),
                         HEARTH_OK);
    assert_int_equal(hearth_seclog_field_open(KEY, "source", TMPL, "192.0.2.7", 9, out, sizeof out, &n),
                     HEARTH_ERR_INVALID);
}

static void test_5_11_1_nonce_unique(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char seen[N][HEARTH_SECLOG_SEALED_MAX];
    for (int i = 0; i < N; i++) {
        assert_int_equal(hearth_seclog_field_seal(KEY, "user", TMPL, "bob", 3, seen[i], sizeof seen[i]), HEARTH_OK);
        /* The nonce is the first 16 base64 characters after the prefix. */
        for (int j = 0; j < i; j++)
            assert_int_not_equal(memcmp(seen[i] + 5, seen[j] + 5, 16), 0);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf != NULL ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

typedef struct {
    char all[1 << 16];
    size_t n;
} seen_lines;

static void collect(const char *line, void *arg)
{
    seen_lines *s = arg;
    size_t l = strlen(line);
    if (s->n + l + 2 < sizeof s->all) {
        memcpy(s->all + s->n, line, l);
        s->n += l;
        s->all[s->n++] = '\n';
        s->all[s->n] = '\0';
    }
}

static void test_5_11_1_log_file_sealed_and_read_back(void **state)
{
    (void)state;
    char dir[] = "/tmp/hearth-seclog-fields.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], old[256];
    snprintf(path, sizeof path, "%s/events.log", dir);
    snprintf(old, sizeof old, "%s/events.log.1", dir);
    /* An old plain-format line (before the fields were sealed). */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"ts\":\"2026-01-01T00:00:00.000Z\",\"seq\":1,\"severity\":\"info\",\"event\":\"login\","
          "\"user\":\"olduser\",\"source\":\"198.51.100.1\"}\n",
          f);
    fclose(f);
    assert_int_equal(hearth_seclog_open(path), HEARTH_OK);
    seen_lines *s = calloc(1, sizeof *s);
    assert_non_null(s);

    /* No key: withheld, never in clear. */
    hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "user", "carol", "source", "203.0.113.9", NULL);
    hearth_seclog_set_key(KEY);
    hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "user", "bob \"the\" admin", "source", "192.0.2.7",
                  "reason", "bad password", NULL);
    hearth_seclog(HEARTH_SEV_INFO, "boot_slot", "slot", "a", NULL);
    char *text = slurp(path);
    assert_non_null(text);
    assert_null(strstr(text, "carol"));
    assert_null(strstr(text, "203.0.113.9"));
    assert_null(strstr(text, "bob"));
    assert_null(strstr(text, "192.0.2.7"));
    assert_non_null(strstr(text, "\"user\":\"" HEARTH_SECLOG_WITHHELD "\""));
    assert_non_null(strstr(text, "\"event\":\"login_failed\""));
    assert_non_null(strstr(text, "\"reason\":\"bad password\""));
    assert_non_null(strstr(text, "\"event\":\"boot_slot\",\"slot\":\"a\"}"));
    /* Control: the check above can see a name in the file. */
    assert_non_null(strstr(text, "olduser"));
    free(text);

    /* Read back with the key: opened, escaped, in order, old line as it was. */
    assert_int_equal(hearth_seclog_recent(10, collect, s), HEARTH_OK);
    assert_non_null(strstr(s->all, "\"user\":\"bob \\\"the\\\" admin\",\"source\":\"192.0.2.7\""));
    assert_non_null(strstr(s->all, "\"user\":\"olduser\",\"source\":\"198.51.100.1\"}"));
    assert_non_null(strstr(s->all, "\"user\":\"" HEARTH_SECLOG_WITHHELD "\""));
    assert_null(strstr(s->all, "unreadable"));
    assert_true(strstr(s->all, "olduser") < strstr(s->all, "bob"));
    /* limit: the newest only. */
    s->n = 0;
    s->all[0] = '\0';
    assert_int_equal(hearth_seclog_recent(1, collect, s), HEARTH_OK);
    assert_non_null(strstr(s->all, "boot_slot"));
    assert_null(strstr(s->all, "login_failed"));

    /* Another key (a reset destroyed the old one): marked, not dropped. */
    hearth_seclog_set_key(OTHER);
    s->n = 0;
    s->all[0] = '\0';
    assert_int_equal(hearth_seclog_recent(10, collect, s), HEARTH_OK);
    assert_null(strstr(s->all, "bob"));
    assert_null(strstr(s->all, "192.0.2.7"));
    assert_non_null(strstr(s->all, "\"user\":\"(unreadable)\",\"source\":\"(unreadable)\",\"reason\":\"bad "
                                    "password\",\"unreadable\":[\"user\",\"source\"]}"));
    assert_non_null(strstr(s->all, "olduser"));
    hearth_seclog_set_key(NULL);
    hearth_seclog_close();

    /* A line edited on disk (its reason changed): its fields no longer
     * open; a torn line is shown as unreadable, not dropped. */
    text = slurp(path);
    assert_non_null(text);
    char *r = strstr(text, "bad password");
    assert_non_null(r);
    r[0] = 'B';
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fputs("{\"ts\":\"2026-01-01T00:00:0", f);
    fclose(f);
    free(text);
    assert_int_equal(hearth_seclog_open(path), HEARTH_OK);
    hearth_seclog_set_key(KEY);
    s->n = 0;
    s->all[0] = '\0';
    assert_int_equal(hearth_seclog_recent(10, collect, s), HEARTH_OK);
    assert_null(strstr(s->all, "bob"));
    assert_non_null(strstr(s->all, "\"reason\":\"Bad password\",\"unreadable\":[\"user\",\"source\"]"));
    assert_non_null(strstr(s->all, "log_line_unreadable"));
    hearth_seclog_set_key(NULL);
    hearth_seclog_close();
    assert_int_equal(hearth_seclog_recent(10, collect, s), HEARTH_ERR_STATE);
    free(s);
    unlink(path);
    unlink(old);
    rmdir(dir);
}

static void test_5_13_1_line_open_rejects_non_lines(void **state)
{
    (void)state;
    char out[HEARTH_SECLOG_OPEN_LINE_MAX];
    const char *bad[] = {"", "x", "{", "{\"a\":}", "{\"a\":\"b\"", "{\"a\":\"b\"}x", "[1]", "{\"a\":\"\x01\"}",
                         "{\"a\" :\"b\"}", "{\"a\":\"b\\\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hearth_seclog_line_open(KEY, bad[i], out, sizeof out, NULL), HEARTH_ERR_INVALID);
    size_t u = 9;
    assert_int_equal(hearth_seclog_line_open(KEY, "{}", out, sizeof out, &u), HEARTH_OK);
    assert_string_equal(out, "{}");
    assert_int_equal(u, 0);
    /* A sealed-looking value in a field that is not personal is left alone. */
    assert_int_equal(hearth_seclog_line_open(KEY, "{\"event\":\"x\",\"reason\":\"hse1:AAAA\"}", out, sizeof out, &u),
                     HEARTH_OK);
    assert_string_equal(out, "{\"event\":\"x\",\"reason\":\"hse1:AAAA\"}");
    /* ... in a personal one it is unreadable. */
    assert_int_equal(hearth_seclog_line_open(KEY, "{\"event\":\"x\",\"user\":\"hse1:AAAA\"}", out, sizeof out, &u),
                     HEARTH_OK);
    assert_string_equal(out, "{\"event\":\"x\",\"user\":\"(unreadable)\",\"unreadable\":[\"user\"]}");
    assert_int_equal(u, 1);
    assert_true(hearth_seclog_field_personal("user") && hearth_seclog_field_personal("by") &&
                hearth_seclog_field_personal("source") && hearth_seclog_field_personal("peer_addr"));
    assert_false(hearth_seclog_field_personal("event") || hearth_seclog_field_personal("reason") ||
                 hearth_seclog_field_personal("slot"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_11_1_field_round_trip),
        cmocka_unit_test(test_5_11_1_tamper_and_wrong_key_refused),
        cmocka_unit_test(test_5_11_1_nonce_unique),
        cmocka_unit_test(test_5_11_1_log_file_sealed_and_read_back),
        cmocka_unit_test(test_5_13_1_line_open_rejects_non_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
