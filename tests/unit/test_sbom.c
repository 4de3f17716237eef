/*
 * The SBOM module (include/hearth/sbom.h, vuln.h) and the bundle's SBOM
 * field: Debian version order checked against dpkg itself, purl encoding,
 * the manifest field's round trip and bounds, the SBOM reader refusing what
 * it must, and the OSV/CSAF matcher on small feeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/bundle.h"
#include "hearth/sbom.h"
#include "hearth/util.h"
#include "hearth/vuln.h"

static void test_version_order_matches_dpkg(void **st)
{
    (void)st;
    static const char *const v[] = {"1.0",           "1.0-1", "1.0~rc1", "1:0.9",  "1.0+b1",
                                    "1.00",          "1.0a",  "1.0-1~deb12u1", "3.0.11-1~deb12u2",
                                    "2.36-9+deb12u14", "2.36-9+deb12u4", "10"};
    size_t n = sizeof v / sizeof v[0];
    int checked = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            assert_true(hearth_deb_version_valid(v[i]));
            int ours = hearth_deb_version_cmp(v[i], v[j]);
            char cmd[256];
            snprintf(cmd, sizeof cmd, "dpkg --compare-versions '%s' lt '%s'", v[i], v[j]);
            int lt = system(cmd) == 0;
            snprintf(cmd, sizeof cmd, "dpkg --compare-versions '%s' gt '%s'", v[i], v[j]);
            int eq = !lt && system(cmd) != 0;
            if ((ours < 0) != lt || (ours == 0) != eq)
                fail_msg("%s vs %s: ours %d, dpkg lt=%d eq=%d", v[i], v[j], ours, lt, eq);
            checked++;
        }
    assert_int_equal(checked, 66);
    assert_int_equal(hearth_deb_version_cmp("1:0.9", "1:0.9"), 0);
    assert_false(hearth_deb_version_valid(""));
    assert_false(hearth_deb_version_valid("a1.0"));
    assert_false(hearth_deb_version_valid("1.0 x"));
    assert_false(hearth_deb_version_valid("x:1.0"));
}

static void test_purl(void **st)
{
    (void)st;
    char p[HEARTH_SBOM_PURL_MAX];
    assert_int_equal(hearth_sbom_deb_purl("zlib1g", "1:1.2.13.dfsg-1+deb12u1", "amd64", "debian-12",
                                          p, sizeof p), HEARTH_OK);
    assert_string_equal(p, "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1%2Bdeb12u1?arch=amd64&distro=debian-12");
    assert_int_equal(hearth_sbom_deb_purl("x", "1", "amd64", "debian-12", p, 20), HEARTH_ERR_TOO_LARGE);
}

static const char *sbom_doc =
    "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"version\":1,"
    "\"metadata\":{\"component\":{\"type\":\"application\",\"name\":\"p\",\"version\":\"1.0\"}},"
    "\"components\":[{\"type\":\"library\",\"name\":\"libssl3\",\"version\":\"3.0.11-1~deb12u2\","
    "\"purl\":\"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12\","
    "\"properties\":[{\"name\":\"hearth:deb:source\",\"value\":\"openssl\"},"
    "{\"name\":\"hearth:deb:source-version\",\"value\":\"3.0.11-1~deb12u2\"}]}]}";

static void test_parse(void **st)
{
    (void)st;
    hearth_sbom_info info;
    hearth_sbom_component *c = NULL;
    size_t n = 0;
    assert_int_equal(hearth_sbom_parse(sbom_doc, strlen(sbom_doc), &info, &c, &n), HEARTH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].source, "openssl");
    assert_string_equal(info.distro, "debian-12");
    free(c);
    static const char *const bad[] = {
        "[]", "{\"bomFormat\":\"SPDX\",\"specVersion\":\"1.6\"}",
        "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.5\"}",
        "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"metadata\":{\"component\":{\"name\":\"p\"}},\"components\":[]}",
        "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"metadata\":{\"component\":{\"name\":\"p\",\"version\":\"1\"}},\"components\":[{\"version\":\"1\"}]}",
        "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"metadata\":{\"component\":{\"name\":\"p\",\"version\":\"1\"}},\"components\":[{\"name\":7}]}",
        "{\"bomFormat\":\"CycloneDX\",",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hearth_sbom_parse(bad[i], strlen(bad[i]), &info, &c, &n) == HEARTH_OK)
            fail_msg("accepted %s", bad[i]);
        assert_null(c);
    }
    /* Too many components. */
    size_t cap = 64 * (HEARTH_SBOM_COMPONENTS_MAX + 2) + 512;
    char *big = malloc(cap);
    int o = snprintf(big, cap, "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\",\"metadata\":"
                               "{\"component\":{\"name\":\"p\",\"version\":\"1\"}},\"components\":[");
    for (int i = 0; i <= HEARTH_SBOM_COMPONENTS_MAX; i++)
        o += snprintf(big + o, cap - (size_t)o, "%s{\"name\":\"c%d\"}", i ? "," : "", i);
    snprintf(big + o, cap - (size_t)o, "]}");
    assert_int_equal(hearth_sbom_parse(big, strlen(big), &info, &c, &n), HEARTH_ERR_INVALID);
    free(big);
}

static void test_manifest_field(void **st)
{
    (void)st;
    static const uint8_t digest[32] = {1};
    const uint8_t *digests[1] = {digest};
    uint64_t sizes[1] = {100};
    hearth_bundle_input in[1] = {{"hearthd", "/dev/null"}};
    hearth_bundle_spec spec = {.model = "m", .hw_id = "h", .sw_version = "1", .security_version = 1,
                               .created = 1, .expires = 2, .notes = "", .mitigates = "",
                               .payloads = in, .payload_count = 1, .sbom = sbom_doc,
                               .sbom_len = strlen(sbom_doc)};
    hearth_buf b;
    assert_int_equal(hearth_manifest_build(&spec, sizes, digests, &b), HEARTH_OK);
    hearth_manifest *m = NULL;
    assert_int_equal(hearth_manifest_parse(b.data, b.len, &m), HEARTH_OK);
    assert_non_null(m->sbom);
    assert_int_equal(m->sbom_len, strlen(sbom_doc));
    assert_memory_equal(m->sbom, sbom_doc, m->sbom_len);
    hearth_manifest_free(m);
    hearth_buf_free(&b);
    /* Without: NULL. */
    spec.sbom = NULL;
    assert_int_equal(hearth_manifest_build(&spec, sizes, digests, &b), HEARTH_OK);
    assert_int_equal(hearth_manifest_parse(b.data, b.len, &m), HEARTH_OK);
    assert_null(m->sbom);
    hearth_manifest_free(m);
    hearth_buf_free(&b);
    /* Over the bound, and a control character: refused. */
    char *big = malloc(HEARTH_BUNDLE_SBOM_MAX + 2);
    memset(big, ' ', HEARTH_BUNDLE_SBOM_MAX + 1);
    big[HEARTH_BUNDLE_SBOM_MAX + 1] = '\0';
    spec.sbom = big;
    spec.sbom_len = HEARTH_BUNDLE_SBOM_MAX + 1;
    assert_int_not_equal(hearth_manifest_build(&spec, sizes, digests, &b), HEARTH_OK);
    spec.sbom = "{\"a\":\"\x1b[2J\"}";
    spec.sbom_len = strlen(spec.sbom);
    assert_int_not_equal(hearth_manifest_build(&spec, sizes, digests, &b), HEARTH_OK);
    free(big);
}

static void test_match(void **st)
{
    (void)st;
    hearth_sbom_info info;
    hearth_sbom_component *c = NULL;
    size_t n = 0;
    assert_int_equal(hearth_sbom_parse(sbom_doc, strlen(sbom_doc), &info, &c, &n), HEARTH_OK);
    const char *osv =
        "[{\"id\":\"A\",\"aliases\":[\"CVE-1\"],\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\","
        "\"name\":\"openssl\"},\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},"
        "{\"fixed\":\"3.0.13-1~deb12u1\"}]}]}]},"
        "{\"id\":\"B\",\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
        "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3.0.11-1~deb12u1\"}]}]}]},"
        "{\"id\":\"C\",\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
        "\"versions\":[\"3.0.11-1~deb12u2\"]}]},"
        "{\"id\":\"D\",\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
        "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"last_affected\":\"3.0.11-1~deb12u1\"}]}]}]},"
        "{\"id\":\"E\",\"affected\":[{\"package\":{\"ecosystem\":\"PyPI\",\"name\":\"openssl\"},"
        "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]}]";
    const char *vex =
        "{\"document\":{\"csaf_version\":\"2.0\",\"category\":\"csaf_vex\",\"tracking\":{\"id\":\"V1\"}},"
        "\"product_tree\":{\"full_product_names\":[{\"product_id\":\"P\",\"name\":\"x\","
        "\"product_identification_helper\":{\"purl\":\"pkg:deb/debian/libssl3\"}}]},"
        "\"vulnerabilities\":[{\"cve\":\"CVE-1\",\"product_status\":{\"known_not_affected\":[\"P\"]}}]}";
    hearth_vuln_feed *f[2] = {NULL, NULL};
    assert_int_equal(hearth_vuln_feed_load(osv, strlen(osv), &f[0]), HEARTH_OK);
    assert_int_equal(hearth_vuln_feed_load(vex, strlen(vex), &f[1]), HEARTH_OK);
    hearth_vuln_finding *out = NULL;
    size_t nout = 0;
    assert_int_equal(hearth_vuln_match((const hearth_vuln_feed *const *)f, 1, &info, c, n, &out, &nout), HEARTH_OK);
    assert_int_equal(nout, 2); /* A (range) and C (listed); not B (fixed before), D (after last), E (PyPI) */
    assert_string_equal(out[0].id, "A");
    assert_string_equal(out[0].fixed, "3.0.13-1~deb12u1");
    assert_int_equal(out[0].state, HEARTH_VULN_AFFECTED);
    assert_string_equal(out[1].id, "C");
    free(out);
    assert_int_equal(hearth_vuln_match((const hearth_vuln_feed *const *)f, 2, &info, c, n, &out, &nout), HEARTH_OK);
    assert_int_equal(nout, 2);
    assert_int_equal(out[0].state, HEARTH_VULN_NOT_AFFECTED); /* CVE-1 alias of A: VEX */
    assert_string_equal(out[0].vex, "V1");
    assert_int_equal(out[1].state, HEARTH_VULN_AFFECTED);
    free(out);
    hearth_vuln_feed_free(f[0]);
    hearth_vuln_feed_free(f[1]);
    const char *badcsaf = "{\"document\":{\"csaf_version\":\"1.0\"}}";
    assert_int_equal(hearth_vuln_feed_load(badcsaf, strlen(badcsaf), &f[0]), HEARTH_ERR_UNSUPPORTED);
    assert_int_equal(hearth_vuln_feed_load("{", 1, &f[0]), HEARTH_ERR_INVALID);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_order_matches_dpkg), cmocka_unit_test(test_purl),
        cmocka_unit_test(test_parse), cmocka_unit_test(test_manifest_field),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
