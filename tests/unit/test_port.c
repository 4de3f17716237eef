/* Unit tests for the platform port core (src/port) and the sim port
 * (ports/sim). Real files in a temporary directory stand in for the
 * simulated hardware, as they do for the programs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "hearth/port.h"
#include "hearth/port_sim.h"
#include "hearth/store.h"
#include "hearth/util.h"

static char dir[] = "/tmp/hearth-port-XXXXXX";

static void path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static void put(const char *name, const char *text)
{
    char p[256];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void get(const char *name, char *buf, size_t cap)
{
    char p[256];
    path(p, sizeof p, name);
    buf[0] = '\0';
    FILE *f = fopen(p, "r");
    if (f == NULL) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_5_13_1_reading_parse(void **state)
{
    (void)state;
    hearth_reading r;
    const struct {
        const char *s;
        double v;
    } good[] = {{"21.5", 21.5}, {"-3\n", -3.0}, {"1e2", 100.0}, {"+0.25", 0.25}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(hearth_reading_parse(good[i].s, strlen(good[i].s), &r), HEARTH_OK);
        assert_true(r.value == good[i].v);
    }
    const char *bad[] = {"", "\n", " 21", "21 ", "0x10", "inf", "nan", "1e999", "21.0junk",
                         "2\n\n", "--1", "1234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(hearth_reading_parse(bad[i], strlen(bad[i]), &r), HEARTH_ERR_INVALID);
        assert_true(r.value == 0.0);
    }
    /* An embedded NUL is not a number either; raw keeps a printable copy. */
    assert_int_equal(hearth_reading_parse("21\0" "5", 4, &r), HEARTH_ERR_INVALID);
    assert_string_equal(r.raw, "21?5");
}

static hearth_port_dev *open_sim(const hearth_port_option *o, size_t n)
{
    hearth_port_dev *d = NULL;
    assert_int_equal(hearth_port_open(&hearth_port_sim, o, n, &d), HEARTH_OK);
    assert_ptr_equal(hearth_port_of(d), &hearth_port_sim);
    return d;
}

static void test_5_13_1_sim_options(void **state)
{
    (void)state;
    hearth_port_dev *d = NULL;
    const hearth_port_option bad[][2] = {
        {{"colour", "red"}, {NULL, NULL}},
        {{"load_w", "-1"}, {NULL, NULL}},
        {{"load_w", "9999"}, {NULL, NULL}},
        {{"load_w", "lots"}, {NULL, NULL}},
        {{"relay_file", ""}, {NULL, NULL}},
        {{"button_file", "/tmp/a"}, {"button_file", "/tmp/b"}},
        {{"room_tick_ms", "0"}, {NULL, NULL}},
        {{"room_tick_ms", "60001"}, {NULL, NULL}},
        {{"room_tick_ms", "2.5"}, {NULL, NULL}},
        {{"room_tick_ms", "fast"}, {NULL, NULL}},
        {{"room_tick_ms", "10"}, {"room_tick_ms", "20"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = bad[i][1].key != NULL ? 2 : 1;
        assert_int_equal(hearth_port_open(&hearth_port_sim, bad[i], n, &d), HEARTH_ERR_INVALID);
        assert_null(d);
    }
    char kv[] = "load_w=75.5", nokey[] = "=x", noeq[] = "load_w";
    hearth_port_option o;
    assert_int_equal(hearth_port_option_parse(kv, &o), HEARTH_OK);
    assert_string_equal(o.key, "load_w");
    assert_string_equal(o.value, "75.5");
    assert_int_equal(hearth_port_option_parse(nokey, &o), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_port_option_parse(noeq, &o), HEARTH_ERR_INVALID);
}

static void test_5_13_1_sim_relay_power_temperature(void **state)
{
    (void)state;
    char relay[256], temp[256], buf[16];
    path(relay, sizeof relay, "relay");
    path(temp, sizeof temp, "temperature");
    const hearth_port_option o[] = {
        {"relay_file", relay}, {"load_w", "75.5"}, {"temperature_file", temp}};
    hearth_port_dev *d = open_sim(o, 3);
    hearth_reading r;

    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_POWER_W, &r), HEARTH_OK);
    assert_true(r.value == 0.0);
    assert_int_equal(hearth_port_set(d, HEARTH_ACTUATOR_RELAY, true), HEARTH_OK);
    get("relay", buf, sizeof buf);
    assert_string_equal(buf, "1\n");
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_POWER_W, &r), HEARTH_OK);
    assert_true(r.value == 75.5);
    assert_int_equal(hearth_port_set(d, HEARTH_ACTUATOR_RELAY, false), HEARTH_OK);
    get("relay", buf, sizeof buf);
    assert_string_equal(buf, "0\n");
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_POWER_W, &r), HEARTH_OK);
    assert_true(r.value == 0.0);

    /* Temperature: no file is no reading; garbage is a rejected reading. */
    unlink(temp);
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_ERR_NOT_FOUND);
    put("temperature", "19.75\n");
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_OK);
    assert_true(r.value == 19.75);
    put("temperature", "hot\x01");
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_ERR_INVALID);
    assert_string_equal(r.raw, "hot?");

    assert_int_equal(hearth_port_read(d, "humidity", &r), HEARTH_ERR_UNSUPPORTED);
    assert_int_equal(hearth_port_set(d, "lock", true), HEARTH_ERR_UNSUPPORTED);
    hearth_port_close(d);
}

/* Without temperature_file, temperature_c is the simulated room the heater
 * warms: the first-order model, stepped per read or by elapsed time. */
static void test_sim_room_follows_heater(void **state)
{
    (void)state;
    /* The model: an exact first-order step towards the steady state. */
    double next = hearth_sim_room_advance(20.0, false, 250);
    assert_true(next < 20.0 && next > 10.0);
    /* 250 ms is 5 simulated s: 10 + 10 * e^(-5/600). */
    assert_true(fabs(next - (10.0 + 10.0 * exp(-5.0 / 600.0))) < 1e-12);
    assert_true(fabs(hearth_sim_room_advance(10.0, false, 250) - 10.0) < 1e-12);
    assert_true(hearth_sim_room_advance(39.0, true, 60000) < 40.0); /* stable for long steps */
    assert_true(hearth_sim_room_advance(20.0, true, 250) > 20.0);

    /* room_tick_ms: each read advances exactly that much, with the heater state. */
    const hearth_port_option o[] = {{"room_tick_ms", "250"}};
    hearth_port_dev *d = open_sim(o, 1);
    hearth_reading r;
    double want = HEARTH_SIM_ROOM_START_C;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_OK);
        want = hearth_sim_room_advance(want, false, 250);
        assert_true(fabs(r.value - want) < 1e-12);
    }
    assert_int_equal(hearth_port_set(d, HEARTH_ACTUATOR_HEATER, true), HEARTH_OK);
    double before = r.value;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_OK);
        want = hearth_sim_room_advance(want, true, 250);
        assert_true(fabs(r.value - want) < 1e-12);
    }
    assert_true(r.value > before);
    hearth_port_close(d);

    /* Time-based (the default): the room moves with the wall clock, warming
     * with the heater on; 300 ms is 6 simulated s, at least 0.2 C from 18. */
    d = open_sim(NULL, 0);
    assert_int_equal(hearth_port_set(d, HEARTH_ACTUATOR_HEATER, true), HEARTH_OK);
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_OK);
    double t0 = r.value;
    assert_true(t0 >= HEARTH_SIM_ROOM_START_C && t0 < 30.0);
    struct timespec ts = {0, 300 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
    assert_int_equal(hearth_port_read(d, HEARTH_SENSOR_TEMPERATURE_C, &r), HEARTH_OK);
    assert_true(r.value > t0 + 0.2);
    hearth_port_close(d);
}

static int button_events;
static char button_line[512];

static void count_button(hearth_severity sev, const char *line, void *arg)
{
    (void)sev;
    (void)arg;
    if (strstr(line, "\"factory_reset_button\"") != NULL) {
        button_events++;
        snprintf(button_line, sizeof button_line, "%s", line);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_5_13_1_button_press_logged_once(void **state)
{
    (void)state;
    char button[256];
    path(button, sizeof button, "button");
    const hearth_port_option o[] = {{"button_file", button}};
    hearth_port_dev *d = open_sim(o, 1);
    bool pressed = true;
    assert_int_equal(hearth_port_button(d, &pressed), HEARTH_OK);
    assert_false(pressed);
    put("button", "");
    assert_int_equal(hearth_port_button(d, &pressed), HEARTH_OK);
    assert_true(pressed);
    assert_int_equal(access(button, F_OK), -1); /* the press was consumed */
    assert_int_equal(hearth_port_button(d, &pressed), HEARTH_OK);
    assert_false(pressed);

    button_events = 0;
    assert_int_equal(hearth_seclog_add_hook(count_button, NULL), HEARTH_OK);
    assert_int_equal(hearth_port_button_watch(d, 5), HEARTH_ERR_INVALID);
    assert_int_equal(hearth_port_button_watch(d, 20), HEARTH_OK);
    assert_int_equal(hearth_port_button_watch(d, 20), HEARTH_ERR_STATE);
    sleep_ms(100);
    assert_int_equal(button_events, 0);
    put("button", "");
    for (int i = 0; i < 100 && button_events == 0; i++) sleep_ms(20);
    sleep_ms(100);
    assert_int_equal(button_events, 1);
    assert_non_null(strstr(button_line, "\"action\":\"logged_only\""));
    hearth_port_close(d); /* joins the watch */
    hearth_seclog_remove_hook(count_button, NULL);
}

/* A port's platform defaults sit between the environment and the build. */
static hearth_status nop_open(const hearth_port_option *o, size_t n, void **ctx)
{
    (void)o;
    (void)n;
    *ctx = NULL;
    return HEARTH_OK;
}

/* Load the platform configuration with HEARTH_ROT / HEARTH_TPM_TCTI set to
 * @p rot / @p tcti (NULL: unset); it must load. */
static void expect_platform(const char *rot, const char *tcti, hearth_platform *out)
{
    const char *names[] = {"HEARTH_ROT", "HEARTH_TPM_TCTI"};
    const char *values[] = {rot, tcti};
    for (int i = 0; i < 2; i++)
        assert_int_equal(values[i] != NULL ? setenv(names[i], values[i], 1) : unsetenv(names[i]), 0);
    assert_int_equal(hearth_platform_load(out), HEARTH_OK);
    for (int i = 0; i < 2; i++) assert_int_equal(unsetenv(names[i]), 0);
}

static void test_5_4_1_port_platform_defaults(void **state)
{
    (void)state;
    hearth_port p = hearth_port_sim;
    p.name = "board";
    p.rot = "tpm";
    p.tpm_tcti = "swtpm:port=4100";
    p.state_dir = "/persist/hearth";

    const char *sd = NULL;
    assert_int_equal(hearth_port_state_dir(&p, NULL, &sd), HEARTH_OK);
    assert_string_equal(sd, "/persist/hearth");
    assert_int_equal(hearth_port_state_dir(&p, "/tmp/x", &sd), HEARTH_OK);
    assert_string_equal(sd, "/tmp/x");
    assert_int_equal(hearth_port_state_dir(&hearth_port_sim, NULL, &sd), HEARTH_ERR_INVALID);

    /* Incomplete or invalid tables are refused and change nothing. */
    hearth_port broken = p;
    broken.button = NULL;
    assert_int_equal(hearth_port_use(&broken), HEARTH_ERR_INVALID);
    broken = p;
    broken.tpm_tcti = "/tmp/evil.so";
    assert_int_equal(hearth_port_use(&broken), HEARTH_ERR_INVALID);
    broken = p;
    broken.rot = "hsm";
    assert_int_equal(hearth_port_use(&broken), HEARTH_ERR_INVALID);
    broken = p;
    broken.state_dir = "relative";
    assert_int_equal(hearth_port_use(&broken), HEARTH_ERR_INVALID);
    assert_null(hearth_port_current());

    hearth_platform plat;
    expect_platform(NULL, NULL, &plat);
    assert_string_not_equal(plat.tcti.text, "swtpm:host=localhost,port=4100");

    p.open = nop_open;
    assert_int_equal(hearth_port_use(&p), HEARTH_OK);
    assert_ptr_equal(hearth_port_current(), &p);
    expect_platform(NULL, NULL, &plat);
    assert_int_equal(plat.rot, HEARTH_ROT_TPM);
    assert_string_equal(plat.tcti.text, "swtpm:host=localhost,port=4100");

    /* The environment (the service manager) still comes first... */
    expect_platform("file", "swtpm:port=4200", &plat);
    assert_int_equal(plat.rot, HEARTH_ROT_FILE);
    assert_string_equal(plat.tcti.text, "swtpm:host=localhost,port=4200");
    /* ...and a bad environment value is still an error, not the port's. */
    assert_int_equal(setenv("HEARTH_TPM_TCTI", "libevil.so", 1), 0);
    assert_int_equal(hearth_platform_load(&plat), HEARTH_ERR_INVALID);
    assert_non_null(strstr(hearth_err_msg(), "HEARTH_TPM_TCTI"));
    assert_int_equal(unsetenv("HEARTH_TPM_TCTI"), 0);

    /* One port per process. */
    assert_int_equal(hearth_port_use(&hearth_port_sim), HEARTH_ERR_STATE);
    assert_ptr_equal(hearth_port_current(), &p);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"relay", "temperature", "button"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        path(p, sizeof p, names[i]);
        unlink(p);
    }
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5_13_1_reading_parse),
        cmocka_unit_test(test_5_13_1_sim_options),
        cmocka_unit_test(test_5_13_1_sim_relay_power_temperature),
        cmocka_unit_test(test_sim_room_follows_heater),
        cmocka_unit_test(test_5_13_1_button_press_logged_once),
        /* Last: a port is installed once per process. */
        cmocka_unit_test(test_5_4_1_port_platform_defaults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
