/* Unit tests for src/ics, the generated EN 303 645 conformance statement
 * (docs/conformance.md): the provisions data against its own rules, the
 * profile (ETSI export with its extraction noise, CSV), the declarations,
 * the JUnit reader, and the decision. Above all: never Y where the
 * evidence failed, did not run or does not exist; hostile input is an error
 * that changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hearth/ics.h"

#define LOAD(fn, ics, text) fn(ics, "t", text, strlen(text))

/* ------------------------------------------------------------ the data */

static void test_data_rules(void **state)
{
    (void)state;
    size_t n = 0;
    const hearth_ics_provision *p = hearth_ics_provisions(&n);
    assert_int_equal(n, 67);
    size_t m = 0, r = 0, mc = 0, rc = 0, clause6 = 0;
    for (size_t i = 0; i < n; i++) {
        /* status follows the modal verb and the lead word */
        bool shall = strcmp(p[i].verb, "shall") == 0;
        assert_true(shall || strcmp(p[i].verb, "should") == 0);
        bool cond = strcmp(p[i].lead, "-") != 0;
        if (cond)
            assert_true(strcmp(p[i].lead, "Where") == 0 || strcmp(p[i].lead, "If") == 0 ||
                        strcmp(p[i].lead, "When") == 0 || strcmp(p[i].lead, "For") == 0);
        char want[8];
        snprintf(want, sizeof want, "%s%s", shall ? "M" : "R", cond ? " C" : "");
        assert_string_equal(p[i].status, want);
        assert_int_equal(hearth_ics_mandatory(&p[i]), shall);
        assert_int_equal(hearth_ics_conditional(&p[i]), cond);
        /* a condition exactly when conditional, as key=value facts */
        assert_int_equal(strcmp(p[i].condition, "-") != 0, cond);
        assert_int_equal(strcmp(p[i].condition_text, "-") != 0, cond);
        if (cond) assert_non_null(strchr(p[i].condition, '='));
        assert_true(strlen(p[i].title) > 5);
        assert_null(strchr(p[i].title, ';'));
        assert_ptr_equal(hearth_ics_provision_find(p[i].id), &p[i]);
        for (size_t k = 0; k < i; k++) assert_string_not_equal(p[k].id, p[i].id);
        if (strcmp(p[i].status, "M") == 0) m++;
        if (strcmp(p[i].status, "R") == 0) r++;
        if (strcmp(p[i].status, "M C") == 0) mc++;
        if (strcmp(p[i].status, "R C") == 0) rc++;
        if (p[i].id[0] == '6') clause6++;
    }
    assert_int_equal(clause6, 5);
    assert_int_equal(m + r + mc + rc, 67);
    assert_int_equal(mc, 10);
    assert_int_equal(rc, 6);
    assert_null(hearth_ics_provision_find("5.14-1"));
    /* every one of the 37 TS 103 645 provisions maps somewhere */
    static const char *const ts[] = {
        "4.1-1", "4.2-1", "4.2-2", "4.2-3", "4.3-1", "4.3-2", "4.3-3", "4.3-4", "4.3-5", "4.3-6",
        "4.3-7", "4.3-8", "4.3-9", "4.4-1", "4.5-1", "4.5-2", "4.6-1", "4.6-2", "4.6-3", "4.6-4",
        "4.6-5", "4.7-1", "4.7-2", "4.8-1", "4.8-2", "4.8-3", "4.9-1", "4.9-2", "4.9-3", "4.10-1",
        "4.10-2", "4.10-3", "4.11-1", "4.11-2", "4.11-3", "4.12-1", "4.13-1"};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            const char *s = p[i].ts103645;
            size_t l = strlen(ts[k]);
            for (const char *h = strstr(s, ts[k]); h != NULL && !found; h = strstr(h + 1, ts[k]))
                found = (h == s || h[-1] == ',') && (h[l] == '\0' || h[l] == ',');
        }
        assert_true(found);
    }
}

/* ------------------------------------------------------------ fixtures */

static const char MAP[] = "test\tkind\tprovisions\n"
                          "unit.auth\tunit\t5.1-1 5.1-5\n"
                          "integration.login\tintegration\t5.1-5\n"
                          "integration.update\tintegration\t5.3-2 5.3-10\n"
                          "integration.store\tintegration\t5.4-1\n"
                          "build.hardening\tbuild\t\n"
                          "integration.telemetry\tintegration\t5.10-1 6-5\n";

static const char *junit(const char *login, const char *update)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<!-- ctest -->\n"
             "<testsuite name=\"Hearth\" tests=\"6\" failures=\"0\" timestamp=\"2026-12-07T18:00:00\">\n"
             "  <testcase name=\"unit.auth\" classname=\"unit.auth\" time=\"1\" status=\"run\">\n"
             "    <system-out>&lt;testcase name=&quot;fake&quot;&gt; ok<![CDATA[ <testcase name=\"x\"/> ]]></system-out>\n"
             "  </testcase>\n"
             "  %s\n  %s\n"
             "  <testcase name=\"integration.store\" status=\"run\"/>\n"
             "  <testcase name=\"build.hardening\" status=\"run\"></testcase>\n"
             "  <testcase name=\"integration.telemetry\" status=\"run\"></testcase>\n"
             "</testsuite>\n",
             login, update);
    return buf;
}

#define PASS(n) "<testcase name=\"" n "\" status=\"run\"></testcase>"
#define FAIL(n) "<testcase name=\"" n "\" status=\"fail\"><failure message=\"Failed\"/></testcase>"
#define SKIP(n) "<testcase name=\"" n "\" status=\"notrun\"><skipped message=\"Not Run\"/></testcase>"

static hearth_ics *make(const char *login, const char *update)
{
    hearth_ics *ics = NULL;
    assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
    assert_int_equal(LOAD(hearth_ics_load_map, ics, MAP), HEARTH_OK);
    const char *j = junit(login, update);
    assert_int_equal(hearth_ics_load_junit(ics, "run.xml", j, strlen(j), "0123456789abcdef"), HEARTH_OK);
    return ics;
}

static hearth_ics_support support(hearth_ics *ics, const char *id)
{
    hearth_ics_support s = HEARTH_ICS_Y;
    assert_int_equal(hearth_ics_get_support(ics, id, &s), HEARTH_OK);
    return s;
}

/* Not inlined: gcc -O3 otherwise takes the text for the local pointer whose
 * address open_memstream() keeps, and warns (dangling-pointer). */
__attribute__((noinline)) static char *render(hearth_ics *ics, int kind)
{
    char *data = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&data, &len);
    assert_non_null(m);
    hearth_status st = kind == 0 ? hearth_ics_write_markdown(ics, m)
                       : kind == 1 ? hearth_ics_write_json(ics, m)
                                   : hearth_ics_write_html(ics, m);
    assert_int_equal(fclose(m), 0);
    assert_int_equal(st, HEARTH_OK);
    return data;
}

/* ------------------------------------------------------ evidence rules */

static void test_all_passed_is_y(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.1-5"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.3-10"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.4-1"), HEARTH_ICS_Y);
    /* no test, no declaration: N */
    assert_int_equal(support(ics, "5.2-1"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.6-8"), HEARTH_ICS_N);
    hearth_ics_summary s;
    assert_int_equal(hearth_ics_get_summary(ics, &s), HEARTH_OK);
    assert_int_equal(s.tests_failed + s.tests_not_run + s.tests_missing, 0);
    /* the CDATA and escaped output did not become test cases */
    char *md = render(ics, 0);
    assert_null(strstr(md, "fake"));
    assert_non_null(strstr(md, "| 5.1-5 | "));
    free(md);
    hearth_ics_free(ics);
}

static void test_failed_is_never_y(void **state)
{
    (void)state;
    hearth_ics *ics = make(FAIL("integration.login"), PASS("integration.update"));
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    /* 5.1-5 has a passing unit test and a failing integration test */
    assert_int_equal(support(ics, "5.1-5"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.1-1"), HEARTH_ICS_Y);
    hearth_ics_summary s;
    assert_int_equal(hearth_ics_get_summary(ics, &s), HEARTH_OK);
    assert_int_equal(s.tests_failed, 1);
    char *js = render(ics, 1);
    assert_non_null(strstr(js, "\"test\":\t\"integration.login\""));
    assert_non_null(strstr(js, "\"result\":\t\"failed\""));
    free(js);
    hearth_ics_free(ics);
}

static void test_skipped_is_never_y(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), SKIP("integration.update"));
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.3-2"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.3-10"), HEARTH_ICS_N);
    hearth_ics_free(ics);
}

static void test_missing_is_never_y(void **state)
{
    (void)state;
    /* the update test is in the map but not in the run */
    hearth_ics *ics = make(PASS("integration.login"), "");
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.3-10"), HEARTH_ICS_N);
    hearth_ics_summary s;
    assert_int_equal(hearth_ics_get_summary(ics, &s), HEARTH_OK);
    assert_int_equal(s.tests_missing, 1);
    /* a declaration does not turn failed evidence into Y */
    hearth_ics_free(ics);
    ics = make(PASS("integration.login"), FAIL("integration.update"));
    assert_int_equal(LOAD(hearth_ics_load_declarations, ics,
                          "format: hearth-declarations/1\ndeclare 5.3-10: signed bundles\n"),
                     HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.3-10"), HEARTH_ICS_N);
    hearth_ics_free(ics);
}

static void test_results_of_another_build(void **state)
{
    (void)state;
    hearth_ics *ics = NULL;
    assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
    assert_int_equal(LOAD(hearth_ics_load_map, ics, MAP), HEARTH_OK);
    const char *j = "<testsuite><testcase name=\"other\" status=\"run\"/></testsuite>";
    assert_int_equal(hearth_ics_load_junit(ics, "x", j, strlen(j), "abcdef0"), HEARTH_OK);
    assert_int_not_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    hearth_ics_free(ics);
    /* no evidence at all: refused */
    assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
    assert_int_not_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    hearth_ics_free(ics);
}

static void test_junit_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                                                                 /* empty */
        "<testsuite></testsuite>",                                          /* no results */
        "<testsuite><testcase name=\"a\" status=\"run\">",                  /* cut short */
        "<!DOCTYPE x [<!ENTITY a \"b\">]><testsuite><testcase name=\"a\"/></testsuite>",
        "<testsuite><testcase name=\"a\" status=\"maybe\"/></testsuite>",   /* unknown status */
        "<testsuite><testcase status=\"run\"/></testsuite>",                /* no name */
        "<testcase name=\"a\"/>",                                           /* outside a suite */
        "<testsuite><testcase name=\"a\"/><testcase name=\"a\"/></testsuite>", /* twice */
        "<testsuite><testcase name=\"a&bogus;\"/></testsuite>",
        "<testsuite><testcase name=a/></testsuite>",
        "<testsuite><testcase name=\"a\" name=\"b\"/></testsuite>",
        "<testsuite><testcase name=\"a\"><testcase name=\"b\"/></testcase></testsuite>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_ics *ics = NULL;
        assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
        assert_int_not_equal(hearth_ics_load_junit(ics, "x", bad[i], strlen(bad[i]), "abcdef0"), HEARTH_OK);
        /* the state is unchanged: a good file still loads */
        const char *good = "<testsuite><testcase name=\"a\"/></testsuite>";
        assert_int_equal(hearth_ics_load_junit(ics, "x", good, strlen(good), "abcdef0"), HEARTH_OK);
        hearth_ics_free(ics);
    }
    hearth_ics *ics = NULL;
    assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
    const char *good = "<testsuite><testcase name=\"a\"/></testsuite>";
    assert_int_not_equal(hearth_ics_load_junit(ics, "x", good, strlen(good), NULL), HEARTH_OK);
    assert_int_not_equal(hearth_ics_load_junit(ics, "x", good, strlen(good), "HEAD"), HEARTH_OK);
    assert_int_not_equal(hearth_ics_load_junit(ics, "x", "ab\0cd", 5, "abcdef0"), HEARTH_OK);
    hearth_ics_free(ics);
}

static void test_map_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "test\tkind\tprovisions\n",                             /* no tests */
        "name\tkind\tprovisions\na\tunit\t5.1-1\n",             /* header */
        "test\tkind\tprovisions\na\tunit\t5.99-1\n",            /* not a provision */
        "test\tkind\tprovisions\na\tunit\t5.1-1\na\tunit\t5.1-2\n", /* twice */
        "test\tkind\tprovisions\na\tunit\n",                    /* columns */
        "test\tkind\tprovisions\na\tunit\t5.1-1\textra\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_ics *ics = NULL;
        assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
        assert_int_not_equal(LOAD(hearth_ics_load_map, ics, bad[i]), HEARTH_OK);
        assert_int_equal(LOAD(hearth_ics_load_map, ics, MAP), HEARTH_OK);
        hearth_ics_free(ics);
    }
}

/* ------------------------------------------------------------ profile */

/* The shape of the ETSI export, with its noise: a footnote mark glued to an
 * id (4.8-21), a record without the category column, description lines,
 * blank lines, a line starting with a number that is not a record. */
static const char ETSI[] =
    "Etsi Consumer Sec\n"
    "\n"
    "# Cat Etsi Etsi Req Nr Cat Descr Description Remarks Include\n"
    "1 4.9 4.9-3 Title words Description words.\n"
    "More description.\n"
    "Yes View\n"
    "2 4.8 4.8-21 Where words shall be words.\n"
    "No View\n"
    "3 4.4-1 Store words shall be stored.\n"
    "90 days is a description line.\n"
    "\n"
    "Yes View\n"
    "4 4.3 4.3-4 Policy words.\n"
    "\n"
    " This policy words. \n"
    "\n"
    "No View\n"
    "5 4.3 4.3-7 Provenance words.\n"
    "Yes View\n"
    "6 4.2 4.2-1 Contact words.\n"
    "no remarks\n"
    "No View\n"
    "Records : 6 of 6 | Page : of 1 | Limit\n";

static void test_profile_etsi(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    assert_int_equal(hearth_ics_load_profile(ics, "p.txt", ETSI, strlen(ETSI)), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    /* 4.4-1 Yes -> 5.4-1 (test passed) */
    assert_int_equal(support(ics, "5.4-1"), HEARTH_ICS_Y);
    /* 4.3-7 Yes -> 5.3-10 */
    assert_int_equal(support(ics, "5.3-10"), HEARTH_ICS_Y);
    /* 4.8-2 (read from 4.8-21) No -> 6-2 (M C, condition undeclared: applies) */
    assert_int_equal(support(ics, "6-2"), HEARTH_ICS_N);
    hearth_ics_summary s;
    assert_int_equal(hearth_ics_get_summary(ics, &s), HEARTH_OK);
    /* excluded mandatory: 5.2-1 (4.2-1), 5.3-13 (4.3-4), 6-2 (4.8-2) */
    assert_int_equal(s.mandatory_excluded, 3);
    char *md = render(ics, 0);
    assert_non_null(strstr(md, "Mandatory provisions the profile excludes (3):** 5.2-1, 5.3-13, 6-2"));
    assert_non_null(strstr(md, "read '4.8-21' as 4.8-2"));
    assert_non_null(strstr(md, "has no category column"));
    free(md);
    hearth_ics_free(ics);
}

static void test_profile_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1 4.9 4.9-3 t\nYes View\nRecords : 2 of 2\n",          /* count */
        "1 4.9 4.9-3 t\nYes View\n",                             /* no trailer: cut short */
        "1 4.9 4.9-3 t\n2 4.9 4.9-2 t\nYes View\nRecords : 2 of 2\n", /* no include */
        "1 4.9 4.9-7 t\nYes View\nRecords : 1 of 1\n",           /* unknown id */
        "1 4.8 4.9-3 t\nYes View\nRecords : 1 of 1\n",           /* category mismatch */
        "1 4.9 4.9-3 t\nYes View\n1 4.9 4.9-2 t\nNo View\nRecords : 2 of 2\n", /* numbering */
        "1 4.9 4.9-3 t\nYes View\n2 4.9 4.9-3 t\nNo View\nRecords : 2 of 2\n", /* contradiction */
        "Yes View\nRecords : 0 of 0\n",
        "nothing here\n",
        "provision,include\n5.1-1,maybe\n",
        "provision,include\n5.1-1\n",
        "provision,include\n9.9-9,yes\n",
        "provision,include\n",
        "provision,include\n4.3-7,yes\n5.3-9,no\n",             /* contradiction via the mapping */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_ics *ics = NULL;
        assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
        assert_int_not_equal(hearth_ics_load_profile(ics, "p", bad[i], strlen(bad[i])), HEARTH_OK);
        assert_int_equal(hearth_ics_load_profile(ics, "p", ETSI, strlen(ETSI)), HEARTH_OK);
        hearth_ics_free(ics);
    }
}

static void test_profile_csv(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    const char *csv = "# comment\nprovision,include,note\n5.4-1,no,our reason\n4.3-7,YES\n";
    assert_int_equal(hearth_ics_load_profile(ics, "p.csv", csv, strlen(csv)), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    /* excluded although its test passed: N, and loud */
    assert_int_equal(support(ics, "5.4-1"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.3-9"), HEARTH_ICS_N); /* included, no test */
    char *html = render(ics, 2);
    assert_non_null(strstr(html, "<li id=\"excluded\"><b>Mandatory provisions the profile excludes (1):</b> <a href=\"#p5.4-1\">5.4-1</a>"));
    assert_non_null(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-"));
    assert_null(strstr(html, "<script"));
    free(html);
    hearth_ics_free(ics);
}

/* --------------------------------------------------------- declarations */

static const char DECL[] =
    "# comment\n"
    "format: hearth-declarations/1\n"
    "manufacturer: Example <Ltd> & Co\n"
    "product: Thermostat\n"
    "condition constrained-device: no\n"
    "condition telemetry: no\n"
    "condition consent-processing: yes\n"
    "disclosure-policy: https://example.com/security\n"
    "disclosure-contact: mailto:security@example.com\n"
    "support-period-end: 2031-12-31\n"
    "support-period-reasons: five years after the last unit sold\n"
    "sensing: temperature (room air)\n"
    "sensing: none other\n"
    "declare 5.5-8: keys live in an HSM\n"
    "todo 5.6-3: the board's physical interfaces\n"
    "justify 5.6-8: the SoC has no MPU\n";

static void test_declarations(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    assert_int_equal(LOAD(hearth_ics_load_declarations, ics, DECL), HEARTH_OK);
    assert_int_equal(hearth_ics_set_date(ics, "2026-12-07"), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    /* not constrained: 5.3-14/15 do not apply; 5.1-5 applies */
    assert_int_equal(support(ics, "5.3-14"), HEARTH_ICS_NA);
    assert_int_equal(support(ics, "5.3-15"), HEARTH_ICS_NA);
    assert_int_equal(support(ics, "5.1-5"), HEARTH_ICS_Y);
    /* no telemetry: N/A even though a test passed */
    assert_int_equal(support(ics, "5.10-1"), HEARTH_ICS_NA);
    assert_int_equal(support(ics, "6-5"), HEARTH_ICS_NA);
    /* consent processing declared: 6-2 applies and has no evidence */
    assert_int_equal(support(ics, "6-2"), HEARTH_ICS_N);
    /* structured and free declarations */
    assert_int_equal(support(ics, "5.2-1"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.3-13"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.8-3"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.5-8"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.6-3"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.6-8"), HEARTH_ICS_N);
    hearth_ics_summary s;
    assert_int_equal(hearth_ics_get_summary(ics, &s), HEARTH_OK);
    char *md = render(ics, 0);
    /* 5.6-8 is justified, 5.6-3 (todo) is not */
    assert_non_null(strstr(md, "Justification for not following it: the SoC has no MPU"));
    assert_non_null(strstr(md, "the manufacturer's to do: the board's physical interfaces"));
    const char *u = strstr(md, "without a justification (");
    assert_non_null(u);
    const char *eol = strchr(u, '\n');
    assert_non_null(strstr(u, "5.6-3"));
    assert_true(strstr(u, "5.6-3") < eol);
    const char *j = strstr(u, "5.6-8");
    assert_true(j == NULL || j > eol);
    free(md);
    char *html = render(ics, 2);
    assert_non_null(strstr(html, "Example &lt;Ltd&gt; &amp; Co"));
    assert_null(strstr(html, "<Ltd>"));
    free(html);
    /* the support period has ended by 2032 */
    assert_int_equal(hearth_ics_set_date(ics, "2032-01-01"), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.3-13"), HEARTH_ICS_N);
    hearth_ics_free(ics);
}

static void test_declarations_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "manufacturer: x\n",                                        /* no format first */
        "format: hearth-declarations/2\n",
        "format: hearth-declarations/1\nmanufacturer x\n",
        "format: hearth-declarations/1\nmanufactuer: x\n",          /* typo */
        "format: hearth-declarations/1\nmanufacturer: a\nmanufacturer: b\n",
        "format: hearth-declarations/1\ncondition constrained: no\n", /* unknown condition */
        "format: hearth-declarations/1\ncondition telemetry: maybe\n",
        "format: hearth-declarations/1\ncondition telemetry: no\ncondition telemetry: yes\n",
        "format: hearth-declarations/1\njustify 5.1-1: mandatory\n", /* only recommendations */
        "format: hearth-declarations/1\ndeclare 5.99-1: x\n",
        "format: hearth-declarations/1\ndeclare 5.6-8: x\njustify 5.6-8: y\n",
        "format: hearth-declarations/1\nsupport-period-end: 31/12/2031\n",
        "format: hearth-declarations/1\nproduct:\n",
        "format: hearth-declarations/1\nproduct: a\x01z\n",
        "format: hearth-declarations/1\nproduct: \xff\n",
        "# nothing\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
        assert_int_not_equal(LOAD(hearth_ics_load_declarations, ics, bad[i]), HEARTH_OK);
        /* nothing was taken from the bad file */
        assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
        assert_int_equal(support(ics, "5.2-1"), HEARTH_ICS_N);
        assert_int_equal(support(ics, "5.3-14"), HEARTH_ICS_N);
        assert_int_equal(LOAD(hearth_ics_load_declarations, ics, DECL), HEARTH_OK);
        hearth_ics_free(ics);
    }
    /* half a disclosure declaration is not a declaration */
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    assert_int_equal(LOAD(hearth_ics_load_declarations, ics,
                          "format: hearth-declarations/1\ndisclosure-policy: https://x\n"),
                     HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.2-1"), HEARTH_ICS_N);
    hearth_ics_free(ics);
}

static void test_json_shape(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    assert_int_equal(LOAD(hearth_ics_load_declarations, ics, DECL), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    char *js = render(ics, 1);
    assert_non_null(strstr(js, "\"schema\":\t\"hearth-ics/1\""));
    assert_non_null(strstr(js, "\"commit\":\t\"0123456789abcdef\""));
    size_t rows = 0;
    for (const char *p = strstr(js, "\"basis\":"); p != NULL; p = strstr(p + 1, "\"basis\":")) rows++;
    assert_int_equal(rows, 67);
    free(js);
    hearth_ics_free(ics);
}


/* The inputs are (text, length), not C strings: exact-size buffers with no
 * NUL after them (ASan catches a read past the end). */
static char *exact(const char *s, size_t n)
{
    char *d = malloc(n);
    assert_non_null(d);
    memcpy(d, s, n);
    return d;
}

static void test_unterminated_inputs(void **state)
{
    (void)state;
    hearth_ics *ics = NULL;
    assert_int_equal(hearth_ics_new(&ics), HEARTH_OK);
    size_t n = strlen(ETSI) - 1; /* ends in "Limit", no newline, no NUL */
    char *p = exact(ETSI, n);
    assert_int_equal(hearth_ics_load_profile(ics, "p", p, n), HEARTH_OK);
    free(p);
    n = strlen(DECL) - 1;
    p = exact(DECL, n);
    assert_int_equal(hearth_ics_load_declarations(ics, "d", p, n), HEARTH_OK);
    free(p);
    n = strlen(MAP) - 1;
    p = exact(MAP, n);
    assert_int_equal(hearth_ics_load_map(ics, "m", p, n), HEARTH_OK);
    free(p);
    const char *j = junit(PASS("integration.login"), PASS("integration.update"));
    n = strlen(j) - 1;
    p = exact(j, n);
    assert_int_equal(hearth_ics_load_junit(ics, "j", p, n, "abcdef0"), HEARTH_OK);
    free(p);
    /* a file cut inside a tag or an attribute */
    hearth_ics *ics2 = NULL;
    assert_int_equal(hearth_ics_new(&ics2), HEARTH_OK);
    const char *cut = "<testsuite><testcase name=\"abc";
    p = exact(cut, strlen(cut));
    assert_int_not_equal(hearth_ics_load_junit(ics2, "j", p, strlen(cut), "abcdef0"), HEARTH_OK);
    free(p);
    cut = "<testsuite><testcase name=\"a&#x4";
    p = exact(cut, strlen(cut));
    assert_int_not_equal(hearth_ics_load_junit(ics2, "j", p, strlen(cut), "abcdef0"), HEARTH_OK);
    free(p);
    hearth_ics_free(ics2);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.2-1"), HEARTH_ICS_N); /* excluded by the profile */
    hearth_ics_free(ics);
}


/* ---------------------------------------------------------- assessments */

/* A hearth-assessment/1 report with one unit per (id, provisions, verdict). */
static char *assessment(const char *units, const char *summary)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\n  \"schema\": \"hearth-assessment/1\",\n  \"tool\": \"hearth assess 1.0\",\n"
             "  \"target\": \"127.0.0.1:8443\",\n  \"started\": \"2026-12-07T18:20:00Z\",\n"
             "  \"finished\": \"2026-12-07T18:20:14Z\",\n"
             "  \"bounds\": {\"max_requests\": 400, \"max_seconds\": 14, \"requests\": 95},\n"
             "  \"summary\": %s,\n  \"units\": [%s]\n}\n",
             summary, units);
    return buf;
}

#define UNIT(id, prov, v) "{\"id\": \"" id "\", \"title\": \"t\", \"provisions\": [" prov "], \"verdict\": \"" v "\", \"evidence\": \"e; f\"}"
#define SUM(p, f, i, n) "{\"PASS\": " #p ", \"FAIL\": " #f ", \"INCONCLUSIVE\": " #i ", \"N/A\": " #n "}"

static char *detail_of(hearth_ics *ics, const char *id)
{
    /* the Markdown row of the provision, as a reader sees it */
    char *md = render(ics, 0);
    char key[32];
    snprintf(key, sizeof key, "| %s | ", id);
    char *row = strstr(md, key);
    assert_non_null(row);
    char *nl = strchr(row, '\n');
    char *out = strndup(row, nl != NULL ? (size_t)(nl - row) : strlen(row));
    free(md);
    return out;
}

static void test_assessment_evidence(void **state)
{
    (void)state;
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    /* 5.5-1 no test: PASS makes it Y; 5.1-5 tests passed: FAIL makes it N;
     * 5.6-1 INCONCLUSIVE and 5.6-2 N/A: no evidence, N. */
    const char *a = assessment(UNIT("tls-config", "\"5.5-1\"", "PASS") ","
                               UNIT("brute-force", "\"5.1-5\"", "FAIL") ","
                               UNIT("open-ports", "\"5.6-1\"", "INCONCLUSIVE") ","
                               UNIT("leaks", "\"5.6-2\"", "N/A"),
                               SUM(1, 1, 1, 1));
    assert_int_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.5-1"), HEARTH_ICS_Y);
    assert_int_equal(support(ics, "5.1-5"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.6-1"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.6-2"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.1-1"), HEARTH_ICS_Y); /* unit.auth, untouched */
    char *d = detail_of(ics, "5.5-1");
    assert_non_null(strstr(d, "assessment tls-config on 127.0.0.1:8443 at 2026-12-07T18:20:14Z: PASS"));
    free(d);
    d = detail_of(ics, "5.1-5");
    assert_non_null(strstr(d, "assessment brute-force on 127.0.0.1:8443 at 2026-12-07T18:20:14Z: FAIL"));
    free(d);
    d = detail_of(ics, "5.6-1");
    assert_non_null(strstr(d, "No evidence either way: assessment open-ports on 127.0.0.1:8443 at 2026-12-07T18:20:14Z: INCONCLUSIVE"));
    free(d);
    hearth_ics_summary s;
    assert_int_equal(hearth_ics_get_summary(ics, &s), HEARTH_OK);
    assert_int_equal(s.assessment_failed, 1);
    char *js = render(ics, 1);
    assert_non_null(strstr(js, "\"basis\":\t\"assessment\""));
    assert_non_null(strstr(js, "\"verdict\":\t\"FAIL\""));
    free(js);
    hearth_ics_free(ics);

    /* INCONCLUSIVE never gives Y, even beside a declaration-free, test-free provision;
     * a PASS in one assessment does not outweigh a FAIL in another. */
    ics = make(PASS("integration.login"), PASS("integration.update"));
    a = assessment(UNIT("tls-config", "\"5.5-1\", \"5.5-5\"", "INCONCLUSIVE"), SUM(0, 0, 1, 0));
    assert_int_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    a = assessment(UNIT("tls-config", "\"5.5-5\"", "PASS"), SUM(1, 0, 0, 0));
    assert_int_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    a = assessment(UNIT("tls-config", "\"5.5-5\"", "FAIL"), SUM(0, 1, 0, 0));
    assert_int_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.5-1"), HEARTH_ICS_N);
    assert_int_equal(support(ics, "5.5-5"), HEARTH_ICS_N);
    hearth_ics_free(ics);
}

static void test_assessment_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"schema\": \"hearth-assessment/1\"",
        "{} trailing",
        /* wrong schema, unknown keys, missing fields */
        "{\"schema\": \"hearth-assessment/2\", \"target\": \"x\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"2026-12-07T18:20:14Z\", \"units\": []}",
        "{\"schema\": \"hearth-assessment/1\", \"target\": \"x\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"2026-12-07T18:20:14Z\", \"units\": [" UNIT("a", "\"5.1-5\"", "FAIL") "], \"extra\": 1}",
        "{\"schema\": \"hearth-assessment/1\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"2026-12-07T18:20:14Z\", \"units\": [" UNIT("a", "\"5.1-5\"", "FAIL") "]}",
        "{\"schema\": \"hearth-assessment/1\", \"target\": \"x\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"yesterday\", \"units\": [" UNIT("a", "\"5.1-5\"", "FAIL") "]}",
        "{\"schema\": \"hearth-assessment/1\", \"target\": \"x\\u0007\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"2026-12-07T18:20:14Z\", \"units\": [" UNIT("a", "\"5.1-5\"", "FAIL") "]}",
        "{\"schema\": \"hearth-assessment/1\", \"target\": \"x\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"2026-12-07T18:20:14Z\", \"units\": []}",
        "{\"schema\": \"hearth-assessment/1\", \"target\": \"x\", \"started\": \"2026-12-07T18:20:00Z\", \"finished\": \"2026-12-07T18:20:14Z\", \"units\": {}}",
    };
    /* each valid up to one flaw at the end: the FAIL for 5.1-5 before it must not be kept */
    static const char *const bad_units[] = {
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b", "\"5.99-1\"", "PASS"),             /* unknown provision */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b", "\"4.3-7\"", "PASS"),              /* TS numbering */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b", "5", "PASS"),                      /* not a string */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b", "", "PASS"),                       /* no provisions */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b", "\"5.1-1\", \"5.1-1\"", "PASS"),   /* twice */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b", "\"5.1-1\"", "pass"),              /* verdict */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("a", "\"5.1-1\"", "PASS"),              /* unit twice */
        UNIT("a", "\"5.1-5\"", "FAIL") "," UNIT("b c", "\"5.1-1\"", "PASS"),            /* unit id */
        UNIT("a", "\"5.1-5\"", "FAIL") ",{\"id\": \"b\", \"title\": \"t\", \"provisions\": [\"5.1-1\"], \"verdict\": \"PASS\"}",
        UNIT("a", "\"5.1-5\"", "FAIL") ",{\"id\": \"b\", \"title\": \"t\", \"provisions\": [\"5.1-1\"], \"verdict\": \"PASS\", \"evidence\": \"\", \"x\": 1}",
        UNIT("a", "\"5.1-5\"", "FAIL") ",7",
    };
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hearth_status st = hearth_ics_load_assessment(ics, "a.json", bad[i], strlen(bad[i]));
        assert_int_not_equal(st, HEARTH_OK);
        assert_true(strlen(hearth_err_msg()) > 0);
    }
    for (size_t i = 0; i < sizeof bad_units / sizeof bad_units[0]; i++) {
        const char *a = assessment(bad_units[i], SUM(1, 1, 0, 0));
        assert_int_not_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    }
    /* a summary that does not match its units */
    const char *a = assessment(UNIT("a", "\"5.1-5\"", "FAIL"), SUM(0, 0, 0, 0));
    assert_int_not_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    /* too large */
    size_t big = 2u * 1024u * 1024u;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    assert_int_not_equal(hearth_ics_load_assessment(ics, "a.json", huge, big), HEARTH_OK);
    free(huge);
    /* nothing of the refused files was kept: 5.1-5 is still Y */
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.1-5"), HEARTH_ICS_Y);
    /* a valid one, unterminated in memory, then the bound on their number */
    a = assessment(UNIT("a", "\"5.5-1\"", "PASS"), SUM(1, 0, 0, 0));
    size_t n = strlen(a);
    for (int k = 0; k < HEARTH_ICS_MAX_ASSESSMENTS; k++) {
        char *p = exact(a, n);
        assert_int_equal(hearth_ics_load_assessment(ics, "a.json", p, n), HEARTH_OK);
        free(p);
    }
    assert_int_not_equal(LOAD(hearth_ics_load_assessment, ics, a), HEARTH_OK);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.5-1"), HEARTH_ICS_Y);
    hearth_ics_free(ics);
}

/* ------------------------------------------------------- profile as JSON */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1u << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1u << 20) - 1, f);
    assert_int_equal(fclose(f), 0);
    assert_true(*len > 0);
    buf[*len] = '\0';
    return buf;
}

static void test_profile_json_matches_csv(void **state)
{
    (void)state;
    char *out[2];
    static const char *const files[2] = {HEARTH_CONFORMANCE_DIR "/thermostat-profile.csv",
                                         HEARTH_CONFORMANCE_DIR "/thermostat-profile.json"};
    for (int k = 0; k < 2; k++) {
        size_t len;
        char *text = slurp(files[k], &len);
        hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
        assert_int_equal(hearth_ics_set_date(ics, "2026-12-07"), HEARTH_OK);
        /* the same name, so the whole statement must come out the same */
        assert_int_equal(hearth_ics_load_profile(ics, "profile", text, len), HEARTH_OK);
        free(text);
        assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
        out[k] = render(ics, 1);
        hearth_ics_free(ics);
    }
    assert_string_equal(out[0], out[1]);
    assert_non_null(strstr(out[0], "\"profile\":\t\"excluded\""));
    assert_non_null(strstr(out[0], "\"profile\":\t\"included\""));
    free(out[0]);
    free(out[1]);
    /* the JSON form is strict */
    static const char *const bad[] = {
        "{\"format\": \"hearth-profile/2\", \"provisions\": [{\"id\": \"4.1-1\", \"include\": true}]}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": []}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"4.1-1\", \"include\": \"yes\"}]}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"4.1-1\", \"include\": true, \"x\": 1}]}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"4.1-1\", \"include\": true}], \"x\": 1}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"4.1-1\", \"include\": true}, {\"id\": \"5.1-1\", \"include\": false}]}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"4.99-1\", \"include\": true}]}",
        "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"4.1-1\", \"include\": true}]",
    };
    hearth_ics *ics = make(PASS("integration.login"), PASS("integration.update"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(hearth_ics_load_profile(ics, "p.json", bad[i], strlen(bad[i])), HEARTH_OK);
    const char *good = "{\"format\": \"hearth-profile/1\", \"provisions\": [{\"id\": \"5.4-1\", \"include\": false}]}";
    char *p = exact(good, strlen(good));
    assert_int_equal(hearth_ics_load_profile(ics, "p.json", p, strlen(good)), HEARTH_OK);
    free(p);
    assert_int_equal(hearth_ics_evaluate(ics), HEARTH_OK);
    assert_int_equal(support(ics, "5.4-1"), HEARTH_ICS_N);
    hearth_ics_free(ics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_rules),
        cmocka_unit_test(test_all_passed_is_y),
        cmocka_unit_test(test_failed_is_never_y),
        cmocka_unit_test(test_skipped_is_never_y),
        cmocka_unit_test(test_missing_is_never_y),
        cmocka_unit_test(test_results_of_another_build),
        cmocka_unit_test(test_junit_hostile),
        cmocka_unit_test(test_map_hostile),
        cmocka_unit_test(test_profile_etsi),
        cmocka_unit_test(test_profile_hostile),
        cmocka_unit_test(test_profile_csv),
        cmocka_unit_test(test_declarations),
        cmocka_unit_test(test_declarations_hostile),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_unterminated_inputs),
        cmocka_unit_test(test_assessment_evidence),
        cmocka_unit_test(test_assessment_hostile),
        cmocka_unit_test(test_profile_json_matches_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
