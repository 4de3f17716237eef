/* Unit tests for the TPM connection validator (src/store/tcti.c) and the
 * platform configuration (src/store/platform.c). tpm2-tss's loader turns a
 * connection string into a dlopen() of a library it names, so whoever picks
 * the string picks code that runs next to the storage root key (5.4-1):
 * only the documented forms may pass, each re-emitted from parsed values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hearth/store.h"

static void expect_ok(const char *in, hearth_tcti_kind kind, const char *text)
{
    hearth_tcti t;
    hearth_status st = hearth_tcti_parse(in, &t);
    if (st != HEARTH_OK) fail_msg("refused '%s': %s", in, hearth_err_msg());
    assert_int_equal(t.kind, kind);
    assert_string_equal(t.text, text);
    /* Canonical text parses to itself. */
    hearth_tcti again;
    assert_int_equal(hearth_tcti_parse(t.text, &again), HEARTH_OK);
    assert_memory_equal(&again, &t, sizeof t);
}

static void test_5_4_1_tcti_documented_forms_accepted(void **state)
{
    (void)state;
    expect_ok("device:/dev/tpmrm0", HEARTH_TCTI_DEVICE, "device:/dev/tpmrm0");
    expect_ok("device:/dev/tpm0", HEARTH_TCTI_DEVICE, "device:/dev/tpm0");
    expect_ok("device:/dev/tpm/rm_0-a", HEARTH_TCTI_DEVICE, "device:/dev/tpm/rm_0-a");
    expect_ok("swtpm:host=127.0.0.1,port=2321", HEARTH_TCTI_SWTPM,
              "swtpm:host=127.0.0.1,port=2321");
    expect_ok("swtpm:port=40000,host=::1", HEARTH_TCTI_SWTPM, "swtpm:host=::1,port=40000");
    expect_ok("swtpm:port=2400", HEARTH_TCTI_SWTPM, "swtpm:host=localhost,port=2400");
    expect_ok("swtpm:host=tpm.example-1.lan", HEARTH_TCTI_SWTPM,
              "swtpm:host=tpm.example-1.lan,port=2321");
    expect_ok("swtpm:", HEARTH_TCTI_SWTPM, "swtpm:host=localhost,port=2321");
    expect_ok("swtpm", HEARTH_TCTI_SWTPM, "swtpm:host=localhost,port=2321");
    expect_ok("mssim:host=10.0.0.2,port=65534", HEARTH_TCTI_MSSIM,
              "mssim:host=10.0.0.2,port=65534");
    expect_ok("tabrmd", HEARTH_TCTI_TABRMD,
              "tabrmd:bus_name=com.intel.tss2.Tabrmd,bus_type=system");
    expect_ok("tabrmd:bus_type=session", HEARTH_TCTI_TABRMD,
              "tabrmd:bus_name=com.intel.tss2.Tabrmd,bus_type=session");
    expect_ok("tabrmd:bus_name=org.example.Tpm2_x-y,bus_type=system", HEARTH_TCTI_TABRMD,
              "tabrmd:bus_name=org.example.Tpm2_x-y,bus_type=system");
}

static void test_5_4_1_tcti_paths_libraries_and_odd_input_refused(void **state)
{
    (void)state;
    char longdev[200], longhost[200];
    snprintf(longdev, sizeof longdev, "device:/dev/%0*d", 120, 0);
    snprintf(longhost, sizeof longhost, "swtpm:host=%0*d", 64, 0);
    const char *bad[] = {
        /* library names and paths in every form the loader would take */
        "/tmp/evil.so", "/tmp/evil.so:conf", "./evil.so", "evil.so", "libevil.so:x",
        "libtss2-tcti-device.so.0:/dev/tpmrm0", "/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0",
        "tss2-tcti-device:/dev/tpm0", "evil", "evil:", "cmd:tpm2-abrmd", "pcap:device:/dev/tpm0",
        "libtpms", "Device:/dev/tpm0", "device ", " device:/dev/tpm0",
        /* device paths outside /dev, with dot components or odd characters */
        "device", "device:", "device:/tmp/tpm0", "device:tpm0", "device:/dev/", "device:/dev",
        "device:/dev/../tmp/evil.so", "device:/dev/./tpm0", "device:/dev/.tpm0",
        "device:/dev//tpm0", "device:/dev/tpm0/", "device:/dev/tpm0.so", "device:/dev/tpm 0",
        "device:/dev/tpm0;rm", "device:/dev/tpm0\n", "device:/dev/t\xc3\xa4pm",
        /* socket options: unknown, duplicate, empty, bad values, paths */
        "swtpm:path=/tmp/sock", "swtpm:host=a,host=b", "swtpm:port=0", "swtpm:port=65535",
        "swtpm:port=02321", "swtpm:port=-1", "swtpm:port=2321x", "swtpm:port=123456",
        "swtpm:host=", "swtpm:host=-oops", "swtpm:host=a/b", "swtpm:host=a b", "swtpm:,",
        "swtpm:port=2321,", "swtpm:,port=2321", "swtpm:host", "swtpm:=x", "swtpm:host=a=b",
        "mssim:conf=/tmp/x", "swtpm:/tmp/evil.so",
        /* tabrmd options */
        "tabrmd:bus_type=user", "tabrmd:bus_name=nodots", "tabrmd:bus_name=a..b",
        "tabrmd:bus_name=.a.b", "tabrmd:bus_name=a.b.", "tabrmd:bus_name=a/b.c",
        "tabrmd:bus_type=system,bus_type=session", "tabrmd:lib=/tmp/evil.so",
        /* overlong */
        longdev, longhost, "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_tcti t;
        memset(&t, 0x5a, sizeof t);
        hearth_status st = hearth_tcti_parse(bad[i], &t);
        if (st != HEARTH_ERR_INVALID) fail_msg("accepted #%zu '%s'", i, bad[i]);
        assert_true(hearth_err_msg()[0] != '\0');
        assert_int_equal(t.kind, 0); /* nothing usable left behind */
        assert_int_equal(t.text[0], '\0');
    }
    assert_int_equal(hearth_tcti_parse(NULL, &(hearth_tcti){0}), HEARTH_ERR_INVALID);
    /* 127 bytes is the limit; 128 is refused. */
    char edge[HEARTH_TCTI_MAX + 2];
    snprintf(edge, sizeof edge, "device:/dev/%0*d", HEARTH_TCTI_MAX - 12, 0);
    assert_int_equal(strlen(edge), HEARTH_TCTI_MAX);
    hearth_tcti t;
    assert_int_equal(hearth_tcti_parse(edge, &t), HEARTH_OK);
    snprintf(edge, sizeof edge, "device:/dev/%0*d", HEARTH_TCTI_MAX - 11, 0);
    assert_int_equal(hearth_tcti_parse(edge, &t), HEARTH_ERR_INVALID);
}

/* One precedence rule: environment (set by the service manager) before the
 * build default; a set but invalid value is an error, never a fall back. */
static void test_5_4_1_platform_configuration_precedence(void **state)
{
    (void)state;
    hearth_platform p;
    assert_int_equal(unsetenv("HEARTH_ROT"), 0);
    assert_int_equal(unsetenv("HEARTH_TPM_TCTI"), 0);
    assert_int_equal(hearth_platform_load(&p), HEARTH_OK);
    assert_true(p.rot == HEARTH_ROT_FILE || p.rot == HEARTH_ROT_TPM);
    assert_true(p.tcti.kind != 0);

    assert_int_equal(setenv("HEARTH_ROT", "tpm", 1), 0);
    assert_int_equal(setenv("HEARTH_TPM_TCTI", "swtpm:port=4000", 1), 0);
    assert_int_equal(hearth_platform_load(&p), HEARTH_OK);
    assert_int_equal(p.rot, HEARTH_ROT_TPM);
    assert_string_equal(p.tcti.text, "swtpm:host=localhost,port=4000");
    assert_int_equal(setenv("HEARTH_ROT", "file", 1), 0);
    assert_int_equal(hearth_platform_load(&p), HEARTH_OK);
    assert_int_equal(p.rot, HEARTH_ROT_FILE);

    const char *bad_tcti[] = {"/tmp/evil.so", "", "device:/dev/../x", "libevil.so"};
    for (size_t i = 0; i < sizeof bad_tcti / sizeof bad_tcti[0]; i++) {
        assert_int_equal(setenv("HEARTH_TPM_TCTI", bad_tcti[i], 1), 0);
        assert_int_equal(hearth_platform_load(&p), HEARTH_ERR_INVALID);
        assert_non_null(strstr(hearth_err_msg(), "HEARTH_TPM_TCTI"));
    }
    assert_int_equal(unsetenv("HEARTH_TPM_TCTI"), 0);
    const char *bad_rot[] = {"", "TPM", "hsm", "file "};
    for (size_t i = 0; i < sizeof bad_rot / sizeof bad_rot[0]; i++) {
        assert_int_equal(setenv("HEARTH_ROT", bad_rot[i], 1), 0);
        assert_int_equal(hearth_platform_load(&p), HEARTH_ERR_INVALID);
        assert_non_null(strstr(hearth_err_msg(), "HEARTH_ROT"));
    }
    assert_int_equal(unsetenv("HEARTH_ROT"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_4_1_tcti_documented_forms_accepted),
        cmocka_unit_test(test_5_4_1_tcti_paths_libraries_and_odd_input_refused),
        cmocka_unit_test(test_5_4_1_platform_configuration_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
