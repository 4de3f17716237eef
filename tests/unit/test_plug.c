/* Unit tests for the smart plug (apps/plug) on a real secure store (file
 * root of trust) and the sim port, whose relay file shows the relay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hearth/plug.h"
#include "hearth/port_sim.h"
#include "hearth/util.h"
#include "plug_internal.h"

#define SERIAL "HEARTH-TEST-PLUG"

typedef struct {
    char dir[64];
    char keys[128], data[128], data_moved[128], relay[128], nopower[128];
    hearth_rot *rot;
    hearth_store *store;
    hearth_port_dev *port;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/hearth-plug-XXXXXX");
    if (mkdtemp(f->dir) == NULL) return -1;
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->data_moved, sizeof f->data_moved, "%s/data.moved", f->dir);
    snprintf(f->relay, sizeof f->relay, "%s/relay", f->dir);
    snprintf(f->nopower, sizeof f->nopower, "%s/no-such-power-file", f->dir);
    if (hearth_rot_file_create(f->keys) != HEARTH_OK) return -1;
    if (hearth_rot_file_open(f->keys, &f->rot) != HEARTH_OK) return -1;
    if (hearth_store_create(f->data, f->rot, SERIAL) != HEARTH_OK) return -1;
    if (hearth_store_open(f->data, f->rot, SERIAL, &f->store) != HEARTH_OK) return -1;
    const hearth_port_option o[] = {{"relay_file", f->relay}, {"load_w", "100"}};
    if (hearth_port_open(&hearth_port_sim, o, 2, &f->port) != HEARTH_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hearth_port_close(f->port);
    hearth_store_close(f->store);
    hearth_rot_close(f->rot);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static char relay_state(const fixture *f)
{
    char buf[8] = "";
    FILE *fp = fopen(f->relay, "r");
    if (fp == NULL) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    return n == 2 && buf[1] == '\n' ? buf[0] : '!';
}

static plug *open_plug(fixture *f)
{
    plug *p = NULL;
    assert_int_equal(plug_open(f->port, f->store, NULL, &p), HEARTH_OK);
    return p;
}

static void test_5_13_1_record_codec(void **state)
{
    (void)state;
    char buf[32];
    for (int on = 0; on < 2; on++) {
        for (int po = PLUG_POWER_ON_LAST; po <= PLUG_POWER_ON_OFF; po++) {
            size_t n = plug_record_encode(on, (plug_power_on)po, buf, sizeof buf);
            assert_true(n > 0);
            bool o2 = !on;
            plug_power_on p2 = (plug_power_on)-1;
            assert_int_equal(plug_record_decode(buf, n, &o2, &p2), HEARTH_OK);
            assert_int_equal(o2, on);
            assert_int_equal(p2, po);
        }
    }
    assert_string_equal((plug_record_encode(true, PLUG_POWER_ON_LAST, buf, sizeof buf), buf),
                        "1 on last");
    const char *bad[] = {"", "1", "1 ", "1 on", "2 on last", "1 on last ", "1 maybe last",
                         "1 on sometimes", "1  on last", "1 on  last", "1 ON last", "1 on on on",
                         "1 on lastx", "x on last"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool on = false;
        plug_power_on po = PLUG_POWER_ON_OFF;
        assert_int_equal(plug_record_decode(bad[i], strlen(bad[i]), &on, &po), HEARTH_ERR_INVALID);
        assert_false(on);
        assert_int_equal(po, PLUG_POWER_ON_OFF);
    }
    assert_int_equal(plug_record_decode("1 on last\0", 10, &(bool){0}, &(plug_power_on){0}),
                     HEARTH_ERR_INVALID);
    assert_int_equal(plug_record_encode(true, (plug_power_on)7, buf, sizeof buf), 0);
}

static void test_5_13_1_switch_persists_and_drives_the_relay(void **state)
{
    fixture *f = *state;
    plug *p = NULL;
    assert_int_equal(plug_open(NULL, f->store, NULL, &p), HEARTH_ERR_UNSUPPORTED);
    assert_null(p);

    p = open_plug(f);
    plug_status s;
    plug_get(p, &s);
    assert_false(s.on);
    assert_int_equal(s.power_on, PLUG_POWER_ON_LAST);
    assert_int_equal(plug_power_up(p), HEARTH_OK);
    assert_int_equal(relay_state(f), '0');
    assert_int_equal(plug_switch(p, true), HEARTH_OK);
    assert_int_equal(relay_state(f), '1');
    plug_get(p, &s);
    assert_true(s.on && s.power_ok && s.power_w == 100.0);
    assert_int_equal(plug_check(p), HEARTH_OK);
    plug_power_down(p);
    assert_int_equal(relay_state(f), '0');
    plug_close(p);

    /* A new start finds the stored state and drives the relay to it. */
    p = open_plug(f);
    assert_int_equal(plug_power_up(p), HEARTH_OK);
    assert_int_equal(relay_state(f), '1');
    /* power_on "off" wins over the stored state at the next start. */
    assert_int_equal(plug_set_power_on(p, PLUG_POWER_ON_OFF), HEARTH_OK);
    assert_int_equal(plug_set_power_on(p, (plug_power_on)9), HEARTH_ERR_INVALID);
    plug_close(p);
    p = open_plug(f);
    assert_int_equal(plug_power_up(p), HEARTH_OK);
    assert_int_equal(relay_state(f), '0');
    plug_get(p, &s);
    assert_false(s.on);
    assert_int_equal(s.power_on, PLUG_POWER_ON_OFF);
    assert_int_equal(plug_set_power_on(p, PLUG_POWER_ON_LAST), HEARTH_OK);
    plug_close(p);
}

static void test_5_13_1_failed_commit_changes_nothing(void **state)
{
    fixture *f = *state;
    plug *p = open_plug(f);
    assert_int_equal(plug_power_up(p), HEARTH_OK);
    plug_status s;
    plug_get(p, &s);
    bool was = s.on;
    /* The store's directory disappears: the commit cannot happen. */
    assert_int_equal(rename(f->data, f->data_moved), 0);
    assert_int_not_equal(plug_switch(p, !was), HEARTH_OK);
    assert_int_equal(rename(f->data_moved, f->data), 0);
    assert_int_equal(relay_state(f), was ? '1' : '0'); /* switched back */
    plug_get(p, &s);
    assert_int_equal(s.on, was);
    plug_close(p);
    p = open_plug(f);
    plug_get(p, &s);
    assert_int_equal(s.on, was);
    plug_close(p);
}

static int invalid_events;

static void count_invalid(hearth_severity sev, const char *line, void *arg)
{
    (void)sev;
    (void)arg;
    if (strstr(line, "\"plug_state_invalid\"") != NULL) invalid_events++;
}

static void test_5_13_1_unreadable_record_and_hardware(void **state)
{
    fixture *f = *state;
    /* A record in another format: defaults (off), and an event. */
    assert_int_equal(hearth_store_put(f->store, HEARTH_PLUG_RECORD, "2 on last", 9), HEARTH_OK);
    invalid_events = 0;
    assert_int_equal(hearth_seclog_add_hook(count_invalid, NULL), HEARTH_OK);
    plug *p = open_plug(f);
    hearth_seclog_remove_hook(count_invalid, NULL);
    assert_int_equal(invalid_events, 1);
    plug_status s;
    plug_get(p, &s);
    assert_false(s.on);
    plug_close(p);

    /* Hardware without a power reading fails the self-test. */
    hearth_port_dev *dead = NULL;
    const hearth_port_option o[] = {{"power_file", f->nopower}};
    assert_int_equal(hearth_port_open(&hearth_port_sim, o, 1, &dead), HEARTH_OK);
    assert_int_equal(plug_open(dead, f->store, NULL, &p), HEARTH_OK);
    assert_int_equal(plug_check(p), HEARTH_ERR_NOT_FOUND);
    assert_non_null(strstr(hearth_err_msg(), "power meter"));
    plug_get(p, &s);
    assert_false(s.power_ok);
    plug_close(p);
    hearth_port_close(dead);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_13_1_record_codec),
        cmocka_unit_test(test_5_13_1_switch_persists_and_drives_the_relay),
        cmocka_unit_test(test_5_13_1_failed_commit_changes_nothing),
        cmocka_unit_test(test_5_13_1_unreadable_record_and_hardware),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
