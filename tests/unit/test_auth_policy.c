/* Unit tests for src/auth password handling: Argon2id with the production
 * parameters (5.1-3 best-practice cryptography, 5.5-3 algorithm named in the
 * data) and the NIST SP 800-63B policy for user-defined passwords (5.1-1:
 * passwords defined by the user must not be guessable defaults). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/auth_internal.h"
#include "hearth/auth.h"

#define GOOD_PW "Tr4in-Lantern-Quiet-87"

static hearth_status policy(const char *pw)
{
    return hearth_pw_policy_check(pw, strlen(pw), "alice", "SN-0042");
}

static void test_5_1_3_argon2id_real_parameters_encoded_and_verified(void **state)
{
    (void)state;
    hearth_auth_test_set_pwhash_cost(0, 0); /* production cost */
    char h1[HEARTH_PW_HASH_MAX], h2[HEARTH_PW_HASH_MAX];
    assert_int_equal(hearth_pw_hash(GOOD_PW, strlen(GOOD_PW), h1), HEARTH_OK);
    /* 32 MiB = 32768 KiB, 6 passes, 1 lane, Argon2 v1.3. */
    assert_non_null(strstr(h1, "$argon2id$v=19$m=32768,t=6,p=1$"));
    assert_int_equal(strncmp(h1, "$argon2id$v=19$m=32768,t=6,p=1$", 31), 0);
    assert_int_equal(hearth_pw_verify(h1, GOOD_PW, strlen(GOOD_PW)), HEARTH_OK);
    assert_int_equal(hearth_pw_verify(h1, "Tr4in-Lantern-Quiet-88", strlen(GOOD_PW)),
                     HEARTH_ERR_AUTH);
    assert_int_equal(hearth_pw_verify(h1, GOOD_PW, strlen(GOOD_PW) - 1), HEARTH_ERR_AUTH);
    /* Random salt: the same password never gives the same string. */
    assert_int_equal(hearth_pw_hash(GOOD_PW, strlen(GOOD_PW), h2), HEARTH_OK);
    assert_string_not_equal(h1, h2);
    assert_false(hearth_pw_needs_rehash(h1));
}

static void test_5_1_3_verify_rejects_foreign_and_tampered_hashes(void **state)
{
    (void)state;
    hearth_auth_test_set_pwhash_cost(1, 8192);
    char h[HEARTH_PW_HASH_MAX];
    assert_int_equal(hearth_pw_hash(GOOD_PW, strlen(GOOD_PW), h), HEARTH_OK);
    assert_non_null(strstr(h, "m=8,t=1,p=1"));
    /* Parameters are read from the string, and a hash made with other
     * parameters than the current ones is flagged for rehashing. */
    hearth_auth_test_set_pwhash_cost(0, 0);
    assert_int_equal(hearth_pw_verify(h, GOOD_PW, strlen(GOOD_PW)), HEARTH_OK);
    assert_true(hearth_pw_needs_rehash(h));
    /* A flipped character in the digest fails. */
    size_t n = strlen(h);
    h[n - 2] = h[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(hearth_pw_verify(h, GOOD_PW, strlen(GOOD_PW)), HEARTH_ERR_AUTH);
    /* Unknown algorithms (5.5-3: named in the data) are refused as such. */
    assert_int_equal(hearth_pw_verify("$2b$10$abcdefghijklmnopqrstuv", GOOD_PW, 8),
                     HEARTH_ERR_UNSUPPORTED);
    assert_int_equal(hearth_pw_verify("plaintext", GOOD_PW, 8), HEARTH_ERR_UNSUPPORTED);
    char big[HEARTH_PW_MAX + 2];
    memset(big, 'x', sizeof big);
    assert_int_equal(hearth_pw_hash(big, sizeof big, h), HEARTH_ERR_TOO_LARGE);
}

static void test_5_1_1_policy_accepts_passphrases(void **state)
{
    (void)state;
    assert_int_equal(policy(GOOD_PW), HEARTH_OK);
    assert_int_equal(policy("correct horse battery staple"), HEARTH_OK);
    assert_int_equal(policy("Zürich-Bärgsee im Frühling"), HEARTH_OK); /* UTF-8 */
    assert_int_equal(policy("8chars-k"), HEARTH_OK);                  /* exactly 8 */
    /* No composition rules: lower-case letters and spaces only is fine. */
    assert_int_equal(policy("purple elephants dance slowly"), HEARTH_OK);
    char longest[HEARTH_PW_MAX + 1];
    const char *words = "lantern quiet ferry marble ";
    for (size_t i = 0; i < HEARTH_PW_MAX; i++) longest[i] = words[i % strlen(words)];
    longest[HEARTH_PW_MAX] = '\0';
    assert_int_equal(hearth_pw_policy_check(longest, HEARTH_PW_MAX, "alice", NULL), HEARTH_OK);
    assert_int_equal(hearth_pw_policy_check(GOOD_PW, strlen(GOOD_PW), NULL, NULL), HEARTH_OK);
}

static void test_5_1_1_policy_rejects_length_encoding_controls(void **state)
{
    (void)state;
    assert_int_equal(policy("k3#Lm9!"), HEARTH_ERR_POLICY); /* 7 bytes */
    assert_non_null(strstr(hearth_err_msg(), "too short"));
    assert_int_equal(policy(""), HEARTH_ERR_POLICY);
    char over[HEARTH_PW_MAX + 2];
    memset(over, 'q', sizeof over - 1);
    over[1] = 'z';
    over[sizeof over - 1] = '\0';
    assert_int_equal(hearth_pw_policy_check(over, HEARTH_PW_MAX + 1, NULL, NULL),
                     HEARTH_ERR_POLICY);
    assert_non_null(strstr(hearth_err_msg(), "too long"));
    assert_int_equal(policy("ferry\xc3\x28marble"), HEARTH_ERR_POLICY);      /* bad continuation */
    assert_int_equal(policy("ferry\xc0\xafmarble"), HEARTH_ERR_POLICY);      /* overlong '/' */
    assert_int_equal(policy("ferry\xed\xa0\x80marble"), HEARTH_ERR_POLICY);  /* surrogate */
    assert_int_equal(policy("ferry\xf4\x90\x80\x80marb"), HEARTH_ERR_POLICY); /* > U+10FFFF */
    assert_int_equal(policy("ferrymarble\xe2\x82"), HEARTH_ERR_POLICY);      /* truncated */
    assert_non_null(strstr(hearth_err_msg(), "UTF-8"));
    assert_int_equal(policy("ferry\tmarble"), HEARTH_ERR_POLICY);
    assert_non_null(strstr(hearth_err_msg(), "control"));
    assert_int_equal(policy("ferry\x7fmarble"), HEARTH_ERR_POLICY);
    assert_int_equal(policy("ferry\xc2\x85marble"), HEARTH_ERR_POLICY); /* C1 NEL */
    /* An embedded NUL is a control character too. */
    assert_int_equal(hearth_pw_policy_check("ferry\0marble", 12, NULL, NULL), HEARTH_ERR_POLICY);
}

static void test_5_1_1_policy_rejects_blocklisted_and_variants(void **state)
{
    (void)state;
    const char *bad[] = {
        "password", "PASSWORD", "Password1", "P@ssw0rd", "P@ssw0rd!", "password123!",
        "iloveyou", "sunshine", "princess", "football1", "trustno1",
        /* device-context words from src/auth/blocklist-extra.txt */
        "thermostat", "Thermostat2024", "hearth123", "hearthadmin", "letmein!", "Welcome1",
        "admin1234", "changeme", "smarthome", "!!Hearth2024!!", "h3@rth2024"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_status st = policy(bad[i]);
        if (st != HEARTH_ERR_POLICY) fail_msg("accepted blocklisted password '%s'", bad[i]);
    }
    assert_int_equal(policy("Thermostat2024"), HEARTH_ERR_POLICY);
    assert_non_null(strstr(hearth_err_msg(), "common"));
    assert_true(hearth_pw_blocklisted("PassWord", 8));
    assert_true(hearth_pw_blocklisted("hearth", 6));
    assert_true(hearth_pw_blocklisted("thermostat", 10));
    assert_false(hearth_pw_blocklisted("lantern quiet ferry", 19));
    assert_false(hearth_pw_blocklisted("", 0));
    assert_false(hearth_pw_blocklisted(NULL, 3));
}

/* Every entry of the source list must be found, case-insensitively: proves
 * the build-time generator kept, lower-cased and sorted them all. */
static void test_5_1_1_every_john_entry_is_blocklisted(void **state)
{
    (void)state;
    FILE *f = fopen("/usr/share/john/password.lst", "r");
    assert_non_null(f); /* required at build time, so present here */
    char line[256];
    size_t n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0 || strncmp(line, "#!comment", 9) == 0) continue;
        if (!hearth_pw_blocklisted(line, len)) fail_msg("'%s' missing from blocklist", line);
        for (size_t i = 0; i < len; i++)
            if (line[i] >= 'a' && line[i] <= 'z') line[i] = (char)(line[i] - 'a' + 'A');
        if (!hearth_pw_blocklisted(line, len)) fail_msg("upper-case '%s' not matched", line);
        n++;
    }
    fclose(f);
    assert_true(n > 3000);
}

static void test_5_1_1_policy_rejects_trivial_patterns(void **state)
{
    (void)state;
    const char *bad[] = {
        "zzzzzzzzzz", "%%%%%%%%%%", "abababab", "xyzxyzxyzxyz", "13571357",
        "abcdefghij", "ABCDEFGHIJK", "87654321", "9876543210", "mnopqrst",
        "qwertyuiop", "poiuytrewq", "asdfghjkl", "lkjhgfdsa", "zxcvbnm,", "qwertzuiop",
        "azertyuiop", "1qaz2wsx3edc", "qazwsxedcrfv", "!@#$%^&*()",
        "qwertyqwerty", "asdfasdfasdf", "qwerty123456", "zzzz12345678", "abcdefgh7777",
        "123456789012"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_status st = hearth_pw_policy_check(bad[i], strlen(bad[i]), NULL, NULL);
        if (st != HEARTH_ERR_POLICY) fail_msg("accepted trivial password '%s'", bad[i]);
    }
    assert_int_equal(hearth_pw_policy_check("mnopqrstu", 9, NULL, NULL), HEARTH_ERR_POLICY);
    assert_non_null(strstr(hearth_err_msg(), "trivial"));
    /* Near misses that are not trivial. */
    assert_int_equal(hearth_pw_policy_check("qwerty-lantern", 14, NULL, NULL), HEARTH_OK);
    assert_int_equal(hearth_pw_policy_check("abcdefgh-ferry", 14, NULL, NULL), HEARTH_OK);
}

static void test_5_1_1_policy_rejects_username_and_serial(void **state)
{
    (void)state;
    assert_int_equal(policy("alice-rides-a-ferry"), HEARTH_ERR_POLICY);
    assert_non_null(strstr(hearth_err_msg(), "user name"));
    assert_int_equal(policy("ferry-ALICE-marble"), HEARTH_ERR_POLICY); /* case-insensitive */
    assert_int_equal(policy("my device sn-0042 ok"), HEARTH_ERR_POLICY);
    assert_non_null(strstr(hearth_err_msg(), "serial"));
    /* Without username/serial the same passwords pass. */
    assert_int_equal(hearth_pw_policy_check("alice-rides-a-ferry", 19, NULL, NULL), HEARTH_OK);
    assert_int_equal(hearth_pw_policy_check("my device sn-0042 ok", 20, NULL, NULL), HEARTH_OK);
    /* A one-letter user name does not forbid every password with that letter. */
    assert_int_equal(hearth_pw_policy_check("a lantern at sea", 16, "a", NULL), HEARTH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_1_3_argon2id_real_parameters_encoded_and_verified),
        cmocka_unit_test(test_5_1_3_verify_rejects_foreign_and_tampered_hashes),
        cmocka_unit_test(test_5_1_1_policy_accepts_passphrases),
        cmocka_unit_test(test_5_1_1_policy_rejects_length_encoding_controls),
        cmocka_unit_test(test_5_1_1_policy_rejects_blocklisted_and_variants),
        cmocka_unit_test(test_5_1_1_every_john_entry_is_blocklisted),
        cmocka_unit_test(test_5_1_1_policy_rejects_trivial_patterns),
        cmocka_unit_test(test_5_1_1_policy_rejects_username_and_serial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
