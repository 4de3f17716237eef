/* Unit tests for src/app: what the core does with the applications it is
 * given, observed through recording fake applications.
 *  5.3-4   every application's self-test runs; the first failure stops the
 *          confirmation with that application's reason
 *  5.3-12  the update notice is the core's sentence plus each application's
 *  5.11-1  erasure reaches every application that has the hook (a NULL hook
 *          is allowed); a failing hook is reported with the app's name and
 *          the others still run; factory reset stops before it resets
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hearth/app.h"

/* What happened, in order: "o:a" open a, "s:b" start b, "S:b" stop b,
 * "c:a" close a, "t:a" self-test a. */
static char trail[256];
typedef struct {
    const char *name;
    hearth_status open_st, start_st, test_st;
    const char *opt; /* the option value open() saw */
} fake;
static fake fa = {"a", HEARTH_OK, HEARTH_OK, HEARTH_OK, NULL};
static fake fb = {"b", HEARTH_OK, HEARTH_OK, HEARTH_OK, NULL};

static void note(char what, const fake *f)
{
    size_t n = strlen(trail);
    snprintf(trail + n, sizeof trail - n, "%s%c:%s", n ? " " : "", what, f->name);
}
static hearth_status f_open_a(const hearth_app_env *env, void **state)
{
    fa.opt = env->options != NULL ? env->options[0] : NULL;
    note('o', &fa);
    *state = &fa;
    return fa.open_st;
}
static hearth_status f_open_b(const hearth_app_env *env, void **state)
{
    fb.opt = env->options != NULL ? env->options[0] : NULL;
    note('o', &fb);
    *state = &fb;
    return fb.open_st;
}
static hearth_status f_start(void *s)
{
    note('s', s);
    return ((fake *)s)->start_st;
}
static void f_stop(void *s)
{
    note('S', s);
}
static void f_close(void *s)
{
    note('c', s);
}
static hearth_status f_test(void *s, uint32_t timeout_ms)
{
    (void)timeout_ms;
    note('t', s);
    fake *f = s;
    return f->test_st == HEARTH_OK ? HEARTH_OK : hearth_err(f->test_st, "%s is broken", f->name);
}
static void f_handler(hearth_req *r, void *s)
{
    (void)r;
    (void)s;
}
static hearth_status f_json(void *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "{\"name\":\"%s\"}", ((fake *)s)->name);
    return HEARTH_OK;
}

static hearth_status f_erase(void *s, const char *user)
{
    note('e', s);
    return strcmp(user, "broken") == 0 ? hearth_err(HEARTH_ERR_IO, "disk gone") : HEARTH_OK;
}
static void f_reset(void *s)
{
    note('r', s);
}

static const hearth_app_option opt_a[] = {{"--a-file", "FILE", "a's file"}};
static const hearth_app_option opt_b[] = {{"--b-file", "FILE", "b's file"}};
static const hearth_app app_a = {.name = "a", .display_name = "A", .options = opt_a, .n_options = 1,
                                 .open = f_open_a, .start = f_start, .stop = f_stop,
                                 .close = f_close, .selftest = f_test, .state_json = f_json,
                                 .notice_restart = "A keeps going.", .notice_live = "A is not interrupted.",
                                 .erase_user = f_erase, .factory_reset = f_reset};
static const hearth_app app_b = {.name = "b", .display_name = "B", .options = opt_b, .n_options = 1,
                                 .open = f_open_b, .start = f_start, .stop = f_stop,
                                 .close = f_close, .selftest = f_test, .state_json = f_json,
                                 .notice_restart = "B pauses."};

static int reset(void **state)
{
    (void)state;
    trail[0] = '\0';
    fa = (fake){"a", HEARTH_OK, HEARTH_OK, HEARTH_OK, NULL};
    fb = (fake){"b", HEARTH_OK, HEARTH_OK, HEARTH_OK, NULL};
    return 0;
}

static void test_lifecycle_in_order_and_reverse(void **state)
{
    (void)state;
    const hearth_app *const apps[] = {&app_a, &app_b};
    const char *const opts[] = {"/tmp/a", "/tmp/b"};
    hearth_apps *set = NULL;
    assert_int_equal(hearth_apps_open(apps, 2, NULL, NULL, NULL, opts, &set), HEARTH_OK);
    assert_string_equal(fa.opt, "/tmp/a"); /* each app sees its own options */
    assert_string_equal(fb.opt, "/tmp/b");
    assert_int_equal(hearth_apps_count(set), 2);
    assert_ptr_equal(hearth_apps_app(set, 1), &app_b);
    assert_ptr_equal(hearth_apps_state(set, 0), &fa);
    assert_null(hearth_apps_app(set, 2));
    assert_int_equal(hearth_apps_start(set), HEARTH_OK);
    hearth_apps_stop(set);
    hearth_apps_stop(set); /* idempotent */
    hearth_apps_close(set);
    assert_string_equal(trail, "o:a o:b s:a s:b S:b S:a c:b c:a");
}

static void test_failures_roll_back(void **state)
{
    (void)state;
    const hearth_app *const apps[] = {&app_a, &app_b};
    hearth_apps *set = NULL;
    fb.open_st = HEARTH_ERR_IO;
    assert_int_equal(hearth_apps_open(apps, 2, NULL, NULL, NULL, NULL, &set), HEARTH_ERR_IO);
    assert_null(set);
    assert_null(fa.opt); /* no options given */
    assert_string_equal(trail, "o:a o:b c:a");

    reset(NULL);
    fb.start_st = HEARTH_ERR_INTERNAL;
    assert_int_equal(hearth_apps_open(apps, 2, NULL, NULL, NULL, NULL, &set), HEARTH_OK);
    assert_int_equal(hearth_apps_start(set), HEARTH_ERR_INTERNAL);
    hearth_apps_close(set); /* stops nothing more: a was stopped by the failed start */
    assert_string_equal(trail, "o:a o:b s:a s:b S:a c:b c:a");
}

static void test_bad_tables_refused(void **state)
{
    (void)state;
    hearth_apps *set = NULL;
    hearth_app bad = app_a;
    const hearth_app *const one[] = {&bad};
    bad.name = "Bad Name";
    assert_int_equal(hearth_apps_open(one, 1, NULL, NULL, NULL, NULL, &set), HEARTH_ERR_INVALID);
    bad = app_a;
    bad.close = NULL;
    assert_int_equal(hearth_apps_open(one, 1, NULL, NULL, NULL, NULL, &set), HEARTH_ERR_INVALID);
    static const hearth_app_route outside[] = {{"GET", "/etc/passwd", HEARTH_ROLE_USER, f_handler}};
    bad = app_a;
    bad.routes = outside;
    bad.n_routes = 1;
    assert_int_equal(hearth_apps_open(one, 1, NULL, NULL, NULL, NULL, &set), HEARTH_ERR_INVALID);
    const hearth_app *const twice[] = {&app_a, &app_a};
    assert_int_equal(hearth_apps_open(twice, 2, NULL, NULL, NULL, NULL, &set), HEARTH_ERR_EXISTS);
    assert_null(set);
    assert_string_equal(trail, ""); /* nothing was opened */
}

static void test_5_3_4_every_selftest_runs_first_failure_reported(void **state)
{
    (void)state;
    const hearth_app *const apps[] = {&app_a, &app_b};
    hearth_apps *set = NULL;
    assert_int_equal(hearth_apps_open(apps, 2, NULL, NULL, NULL, NULL, &set), HEARTH_OK);
    assert_int_equal(hearth_apps_selftest(set, 100), HEARTH_OK);
    fb.test_st = HEARTH_ERR_STATE;
    assert_int_equal(hearth_apps_selftest(set, 100), HEARTH_ERR_STATE);
    assert_string_equal(hearth_err_msg(), "self-test: b is broken");
    fa.test_st = HEARTH_ERR_IO;
    assert_int_equal(hearth_apps_selftest(set, 100), HEARTH_ERR_IO);
    assert_string_equal(hearth_err_msg(), "self-test: a is broken");
    hearth_apps_close(set);
    assert_string_equal(trail, "o:a o:b t:a t:b t:a t:b t:a c:b c:a");
    assert_int_equal(hearth_apps_selftest(NULL, 100), HEARTH_OK); /* no applications */
}

static void test_5_3_12_update_notice_from_the_applications(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(hearth_apps_update_notice(NULL, true, 15, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(buf, "Installing restarts the device; expected downtime about 15 s.");
    assert_int_equal(hearth_apps_update_notice(NULL, false, 0, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(buf, "Installing restarts the device's software, a pause of a few seconds.");

    const hearth_app *const apps[] = {&app_a, &app_b};
    hearth_apps *set = NULL;
    assert_int_equal(hearth_apps_open(apps, 2, NULL, NULL, NULL, NULL, &set), HEARTH_OK);
    assert_int_equal(hearth_apps_update_notice(set, true, 30, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(buf, "Installing restarts the device; expected downtime about 30 s. "
                             "A keeps going. B pauses.");
    assert_int_equal(hearth_apps_update_notice(set, false, 0, buf, sizeof buf), HEARTH_OK);
    assert_string_equal(buf, "Installing restarts the device's software, a pause of a few seconds. "
                             "A is not interrupted.");
    char small[40];
    assert_int_equal(hearth_apps_update_notice(set, true, 30, small, sizeof small),
                     HEARTH_ERR_TOO_LARGE);
    hearth_apps_close(set);
}

static void test_5_11_1_erase_hooks_reach_the_applications(void **state)
{
    (void)state;
    /* app_b has no hooks (NULL): skipped, never called; app_c (state fb,
     * shown as "b") has them */
    static const hearth_app app_c = {.name = "c", .display_name = "C", .open = f_open_b,
                                     .start = f_start, .stop = f_stop, .close = f_close,
                                     .state_json = f_json, .erase_user = f_erase,
                                     .factory_reset = f_reset};
    const hearth_app *const apps[] = {&app_a, &app_b, &app_c};
    hearth_apps *set = NULL;
    assert_int_equal(hearth_apps_open(apps, 3, NULL, NULL, NULL, NULL, &set), HEARTH_OK);
    assert_int_equal(hearth_apps_start(set), HEARTH_OK);
    trail[0] = '\0';
    assert_int_equal(hearth_apps_erase_user(set, "alice"), HEARTH_OK);
    assert_string_equal(trail, "e:a e:b");
    trail[0] = '\0';
    assert_int_equal(hearth_apps_erase_user(set, "broken"), HEARTH_ERR_IO);
    assert_string_equal(trail, "e:a e:b"); /* the second still ran */
    assert_non_null(strstr(hearth_err_msg(), "a: disk gone"));
    assert_int_equal(hearth_apps_erase_user(set, ""), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_apps_erase_user(NULL, "alice"), HEARTH_OK);
    trail[0] = '\0';
    hearth_apps_factory_reset(set);
    assert_string_equal(trail, "S:b S:b S:a r:b r:a"); /* stopped first, then reset */
    hearth_apps_factory_reset(NULL);
    hearth_apps_close(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_lifecycle_in_order_and_reverse, reset),
        cmocka_unit_test_setup(test_failures_roll_back, reset),
        cmocka_unit_test_setup(test_bad_tables_refused, reset),
        cmocka_unit_test_setup(test_5_3_4_every_selftest_runs_first_failure_reported, reset),
        cmocka_unit_test_setup(test_5_3_12_update_notice_from_the_applications, reset),
        cmocka_unit_test_setup(test_5_11_1_erase_hooks_reach_the_applications, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
