/*
 * Security telemetry (src/telemetry): the collector on /proc-format fixture
 * files written here, the report against the schema's key list (every key
 * emitted is in the schema and every schema key is emitted), each on-device
 * rule with a fake clock (one event per episode), the persisted consent and
 * run record, and that nothing personal -- the user name and source address
 * of a failed login, the address of a client of the local API -- reaches a
 * report.
 */
#include <errno.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "hearth/store.h"
#include "hearth/telemetry.h"
#include "hearth/util.h"
#include "telemetry/telemetry_internal.h"

#define DEV "HT-TEL-0001"

typedef struct {
    char root[256], proc[300], keydir[300], data[300];
    hearth_rot *rot;
    hearth_store *store;
    int64_t now_ms;
    char events[64][64]; /* names of the events seen by the test's hook */
    size_t n_events;
} fixture;

static int64_t fake_clock(void *arg) { return ((fixture *)arg)->now_ms; }

static void collect(hearth_severity sev, const char *line, void *arg)
{
    (void)sev;
    fixture *fx = arg;
    const char *p = strstr(line, "\"event\":\"");
    if (p == NULL || fx->n_events >= 64) return;
    p += 9;
    size_t n = strcspn(p, "\"");
    snprintf(fx->events[fx->n_events++], 64, "%.*s", (int)n, p);
}

static size_t count_events(const fixture *fx, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n_events; i++) n += strcmp(fx->events[i], name) == 0;
    return n;
}

static void write_file(const fixture *fx, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fx->proc, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* An IPv4 address as /proc/net/tcp prints it: the raw bytes as a host-order word. */
static void hex4(const uint8_t b[4], char out[9])
{
    uint32_t v;
    memcpy(&v, b, 4);
    snprintf(out, 9, "%08X", v);
}

static void hex16(const uint8_t b[16], char out[33])
{
    for (int w = 0; w < 4; w++) hex4(b + 4 * w, out + 8 * w);
}

#define TCP_HEAD                                                                              \
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "     \
    "timeout inode\n"
#define TCP_TAIL " 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0 100 0 0 10 0\n"

/* A line "N: LOCAL REMOTE ST" with IPv4 endpoints. */
static void tcp4_line(char *buf, size_t cap, int n, const uint8_t l[4], unsigned lp,
                      const uint8_t r[4], unsigned rp, const char *st)
{
    char lh[9], rh[9];
    hex4(l, lh);
    hex4(r, rh);
    size_t o = strlen(buf);
    snprintf(buf + o, cap - o, "%4d: %s:%04X %s:%04X %s" TCP_TAIL, n, lh, lp, rh, rp, st);
}

static void tcp6_line(char *buf, size_t cap, int n, const uint8_t l[16], unsigned lp,
                      const uint8_t r[16], unsigned rp, const char *st)
{
    char lh[33], rh[33];
    hex16(l, lh);
    hex16(r, rh);
    size_t o = strlen(buf);
    snprintf(buf + o, cap - o, "%4d: %s:%04X %s:%04X %s" TCP_TAIL, n, lh, lp, rh, rp, st);
}

static const uint8_t any4[4] = {0, 0, 0, 0}, lo4[4] = {127, 0, 0, 1}, eth4[4] = {10, 0, 2, 15},
                     broker4[4] = {13, 12, 11, 10}, phone4[4] = {198, 51, 100, 9};
static const uint8_t any6[16] = {0},
                     eth6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
                     repo6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* The fixture system: listening 8443 (loopback) and 22 (any) on IPv4, 9000
 * on IPv6; a local client on loopback to 8443; a phone's connection to
 * 8443; outbound to a broker (8883) and over IPv6 to a repository (443);
 * UDP 5353 bound (and a connected UDP socket that does not count). */
static void write_proc(fixture *fx, bool extra_port)
{
    char tcp[4096] = TCP_HEAD, tcp6[4096] = TCP_HEAD, udp[2048] = TCP_HEAD;
    tcp4_line(tcp, sizeof tcp, 0, lo4, 8443, any4, 0, "0A");
    tcp4_line(tcp, sizeof tcp, 1, any4, 22, any4, 0, "0A");
    tcp4_line(tcp, sizeof tcp, 2, lo4, 8443, lo4, 54321, "01");
    tcp4_line(tcp, sizeof tcp, 3, lo4, 54321, lo4, 8443, "01");
    tcp4_line(tcp, sizeof tcp, 4, eth4, 8443, phone4, 50123, "01");
    tcp4_line(tcp, sizeof tcp, 5, eth4, 50000, broker4, 8883, "01");
    tcp4_line(tcp, sizeof tcp, 6, eth4, 50001, broker4, 8883, "06"); /* TIME_WAIT */
    if (extra_port) tcp4_line(tcp, sizeof tcp, 7, any4, 31337, any4, 0, "0A");
    tcp6_line(tcp6, sizeof tcp6, 0, any6, 9000, any6, 0, "0A");
    tcp6_line(tcp6, sizeof tcp6, 1, eth6, 40000, repo6, 443, "01");
    tcp4_line(udp, sizeof udp, 0, any4, 5353, any4, 0, "07");
    tcp4_line(udp, sizeof udp, 1, eth4, 40001, broker4, 53, "01");
    assert_int_equal(mkdir(fx->proc, 0700) == 0 || errno == EEXIST, 1);
    char net[512];
    snprintf(net, sizeof net, "%s/net", fx->proc);
    assert_int_equal(mkdir(net, 0700) == 0 || errno == EEXIST, 1);
    write_file(fx, "net/tcp", tcp);
    write_file(fx, "net/tcp6", tcp6);
    write_file(fx, "net/udp", udp);
    /* no net/udp6: a kernel without IPv6 UDP */
    write_file(fx, "net/dev",
               "Inter-|   Receive                                                |  Transmit\n"
               " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
               "packets errs drop fifo colls carrier compressed\n"
               "    lo:  1000  10 0 0 0 0 0 0  1000  10 0 0 0 0 0 0\n"
               "  eth0:  5000  50 0 0 0 0 0 0  7000  70 0 0 0 0 0 0\n"
               "  wlan0:  100   1 0 0 0 0 0 0   200   2 0 0 0 0 0 0\n");
    write_file(fx, "status", "Name:\thearthd\nVmPeak:\t  9999 kB\nVmRSS:\t    4321 kB\nThreads:\t5\n");
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL) return -1;
    snprintf(fx->root, sizeof fx->root, "/tmp/hearth-telemetry-test.XXXXXX");
    if (mkdtemp(fx->root) == NULL) return -1;
    snprintf(fx->proc, sizeof fx->proc, "%s/proc", fx->root);
    snprintf(fx->keydir, sizeof fx->keydir, "%s/keys", fx->root);
    snprintf(fx->data, sizeof fx->data, "%s/data", fx->root);
    if (hearth_rot_file_create(fx->keydir) != HEARTH_OK ||
        hearth_rot_file_open(fx->keydir, &fx->rot) != HEARTH_OK ||
        hearth_store_create(fx->data, fx->rot, DEV) != HEARTH_OK ||
        hearth_store_open(fx->data, fx->rot, DEV, &fx->store) != HEARTH_OK)
        return -1;
    fx->now_ms = 1000000;
    if (hearth_seclog_add_hook(collect, fx) != HEARTH_OK) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    hearth_seclog_remove_hook(collect, fx);
    hearth_store_close(fx->store);
    hearth_rot_close(fx->rot);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

#define WITH_STORE 1u  /* open_tm: keep consent and run record in the fixture's store */
#define NO_BROKER 2u   /* open_tm: do not declare the broker's port 8883 */

/* A telemetry object on the fixture, with the fixture's ports declared. */
static hearth_telemetry *open_tm(fixture *fx, unsigned flags)
{
    bool with_store = (flags & WITH_STORE) != 0;
    hearth_telemetry_config cfg = {.proc_dir = fx->proc,
                                   .store = with_store ? fx->store : NULL,
                                   .clock_ms = fake_clock,
                                   .clock_arg = fx};
    hearth_telemetry *t = NULL;
    assert_int_equal(hearth_telemetry_open(&cfg, &t), HEARTH_OK);
    assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_LISTEN, 8443), HEARTH_OK);
    assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_LISTEN, 22), HEARTH_OK);
    assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_LISTEN, 9000), HEARTH_OK);
    assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_LISTEN, 5353), HEARTH_OK);
    if ((flags & NO_BROKER) == 0)
        assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_DEST, 8883), HEARTH_OK);
    assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_DEST, 443), HEARTH_OK);
    return t;
}

/* Build the report of @p s into @p buf (HEARTH_TELEMETRY_REPORT_MAX) and
 * check it holds @p needle. */
static void report_holds(hearth_telemetry *t, const hearth_telemetry_snapshot *s, char *buf,
                         const char *needle)
{
    size_t len = 0;
    assert_int_equal(hearth_telemetry_report(t, s, buf, HEARTH_TELEMETRY_REPORT_MAX, &len),
                     HEARTH_OK);
    assert_int_equal(len, strlen(buf));
    if (needle != NULL && strstr(buf, needle) == NULL) fail_msg("report lacks %s: %s", needle, buf);
}

/* One sample and a run of the rules: the number of events raised. */
static unsigned step(hearth_telemetry *t, hearth_telemetry_snapshot *s)
{
    assert_int_equal(hearth_telemetry_sample(t, s), HEARTH_OK);
    return hearth_telemetry_check(t, s);
}

/* The last report holds @p needle; then close @p t. */
static void finish(hearth_telemetry *t, const hearth_telemetry_snapshot *s, const char *needle)
{
    char buf[HEARTH_TELEMETRY_REPORT_MAX];
    report_holds(t, s, buf, needle);
    hearth_telemetry_close(t);
}

static void test_collector(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, 0);
    hearth_telemetry_snapshot s;
    assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_OK);
    assert_int_equal(s.tcp_total, 3);
    assert_int_equal(s.n_tcp, 3);
    assert_int_equal(s.tcp[0], 22);
    assert_int_equal(s.tcp[1], 8443);
    assert_int_equal(s.tcp[2], 9000);
    assert_int_equal(s.udp_total, 1);
    assert_int_equal(s.udp[0], 5353);
    /* Five established (two loopback ends, the phone, the broker, the
     * repository); listed: only the two the device opened to the network. */
    assert_int_equal(s.established, 5);
    assert_int_equal(s.n_conns, 2);
    assert_string_equal(s.conns[0].rad, "13.12.11.10:8883");
    assert_int_equal(s.conns[0].lport, 50000);
    assert_string_equal(s.conns[1].rad, "[2001:db8::1]:443");
    assert_int_equal(s.conns[1].rport, 443);
    /* Interfaces but loopback. */
    assert_int_equal(s.bytes_in, 5100);
    assert_int_equal(s.bytes_out, 7200);
    assert_int_equal(s.packets_in, 51);
    assert_int_equal(s.packets_out, 72);
    assert_int_equal(s.rss_kib, 4321);
    hearth_telemetry_close(t);
}

static void test_collector_rejects_malformed(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, 0);
    hearth_telemetry_snapshot s;
    static const char *const bad[] = {
        TCP_HEAD "   0: 0100007G:1F90 00000000:0000 0A" TCP_TAIL, /* not hex */
        TCP_HEAD "   0: 0100007F:1F9 00000000:0000 0A" TCP_TAIL,  /* short port */
        TCP_HEAD "   0: 0100007F:1F90 00000000000000000000000000000000:0000 0A" TCP_TAIL,
        TCP_HEAD "   0: 0100007F:1F90\n",                           /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(fx, "net/tcp", bad[i]);
        assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_ERR_INVALID);
        assert_non_null(strstr(hearth_err_msg(), "net/tcp"));
    }
    /* An over-long line is refused, not split. */
    char longl[2048] = TCP_HEAD "   0: 0100007F:1F90 00000000:0000 0A";
    memset(longl + strlen(longl), ' ', 700);
    longl[sizeof longl - 2] = '\n';
    longl[sizeof longl - 1] = '\0';
    write_file(fx, "net/tcp", longl);
    assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_ERR_INVALID);
    write_proc(fx, false);
    write_file(fx, "status", "Name:\thearthd\nVmRSS:\t12 MB\n");
    assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_ERR_INVALID);
    char path[512];
    snprintf(path, sizeof path, "%s/net/tcp", fx->proc);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_ERR_IO);
    hearth_telemetry_close(t);
}

/* Every key path of a parsed report ("met.tp.pts[].pt"), added to @p out. */
static void key_paths(const cJSON *o, const char *prefix, char out[][128], size_t *n)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        char p[128];
        int w = snprintf(p, sizeof p, "%s%s%s", prefix, prefix[0] ? "." : "", c->string);
        assert_true(w > 0 && (size_t)w < sizeof p);
        bool have = false;
        for (size_t i = 0; i < *n; i++) have = have || strcmp(out[i], p) == 0;
        if (!have) snprintf(out[(*n)++], 128, "%s", p);
        if (cJSON_IsObject(c)) key_paths(c, p, out, n);
        if (cJSON_IsArray(c)) {
            char ip[132];
            snprintf(ip, sizeof ip, "%s[]", p);
            const cJSON *e;
            cJSON_ArrayForEach(e, c) key_paths(e, ip, out, n);
        }
    }
}

static void test_report_matches_schema(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, WITH_STORE);
    assert_false(hearth_telemetry_usage_consent(t));
    assert_int_equal(hearth_telemetry_set_usage_consent(t, true), HEARTH_OK);
    hearth_seclog(HEARTH_SEV_INFO, "thermostat_changed", "user", "owner", NULL);
    hearth_telemetry_snapshot s;
    assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_OK);
    char buf[HEARTH_TELEMETRY_REPORT_MAX];
    size_t len = 0;
    report_holds(t, &s, buf, NULL);
    cJSON *doc = cJSON_Parse(buf);
    assert_non_null(doc);
    static char seen[128][128];
    size_t n = 0;
    key_paths(doc, "", seen, &n);
    size_t n_schema = 0;
    for (const char *const *k = tm_schema_keys; *k != NULL; k++) {
        n_schema++;
        bool found = false;
        for (size_t i = 0; i < n; i++) found = found || strcmp(seen[i], *k) == 0;
        if (!found) fail_msg("schema key %s not in the report %s", *k, buf);
    }
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (const char *const *k = tm_schema_keys; *k != NULL; k++)
            found = found || strcmp(seen[i], *k) == 0;
        if (!found) fail_msg("report key %s not in the schema", seen[i]);
    }
    assert_int_equal(n, n_schema);
    assert_int_equal(cJSON_GetObjectItem(doc, "v")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "use"), "sc")->valueint, 1);
    cJSON_Delete(doc);
    /* Too small a buffer is an error, not a truncated report. */
    assert_int_equal(hearth_telemetry_report(t, &s, buf, 100, &len), HEARTH_ERR_TOO_LARGE);
    /* Consent withdrawn: no usage class; and it persists across opens. */
    assert_int_equal(hearth_telemetry_set_usage_consent(t, false), HEARTH_OK);
    hearth_telemetry_close(t);
    t = open_tm(fx, WITH_STORE);
    assert_false(hearth_telemetry_usage_consent(t));
    report_holds(t, &s, buf, "\"v\":1,");
    assert_null(strstr(buf, "\"use\""));
    assert_int_equal(hearth_telemetry_set_usage_consent(t, true), HEARTH_OK);
    hearth_telemetry_close(t);
    t = open_tm(fx, WITH_STORE);
    assert_true(hearth_telemetry_usage_consent(t));
    hearth_telemetry_close(t);
    /* Without a store there is nowhere to keep a consent. */
    t = open_tm(fx, 0);
    assert_int_equal(hearth_telemetry_set_usage_consent(t, true), HEARTH_ERR_STATE);
    hearth_telemetry_close(t);
}

static void test_no_personal_data(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, WITH_STORE);
    assert_int_equal(hearth_telemetry_set_usage_consent(t, true), HEARTH_OK);
    hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "source", "203.0.113.77", "user",
                  "alice.personal", "failures", "1", NULL);
    hearth_seclog(HEARTH_SEV_WARNING, "lockout", "scope", "source", "source", "203.0.113.77",
                  NULL);
    hearth_seclog(HEARTH_SEV_INFO, "thermostat_changed", "user", "alice.personal", "source",
                  "203.0.113.77", NULL);
    hearth_telemetry_snapshot s;
    assert_int_equal(hearth_telemetry_sample(t, &s), HEARTH_OK);
    (void)hearth_telemetry_check(t, &s);
    char buf[HEARTH_TELEMETRY_REPORT_MAX];
    /* Counted ... */
    report_holds(t, &s, buf, "\"lf\":1,");
    assert_non_null(strstr(buf, "\"lo\":1,"));
    assert_non_null(strstr(buf, "\"sc\":1}"));
    /* ... but no user name, no source address, no address of the phone
     * connected to the local API (the fixture's 198.51.100.9). */
    assert_null(strstr(buf, "alice"));
    assert_null(strstr(buf, "203.0.113"));
    assert_null(strstr(buf, "198.51.100"));
    assert_null(strstr(buf, "127.0.0.1"));
    assert_null(strstr(buf, DEV)); /* the device id is the topic's, not repeated */
    hearth_telemetry_close(t);
}

static void test_rule_undeclared_port(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, 0);
    hearth_telemetry_snapshot s;
    assert_int_equal(step(t, &s), 0); /* all declared */
    write_proc(fx, true);                                /* 31337 opens */
    for (int i = 0; i < 3; i++) {
        fx->now_ms += 1000;
        (void)step(t, &s);
    }
    assert_int_equal(count_events(fx, "telemetry_undeclared_port"), 1);
    write_proc(fx, false); /* closes: the episode ends */
    assert_int_equal(step(t, &s), 0);
    write_proc(fx, true); /* opens again: a new episode */
    assert_int_equal(step(t, &s), 1);
    assert_int_equal(count_events(fx, "telemetry_undeclared_port"), 2);
    finish(t, &s, "\"al\":2}");
}

static void test_rule_undeclared_destination(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, NO_BROKER);
    assert_int_equal(hearth_telemetry_declare(t, HEARTH_TELEMETRY_DEST, 0), HEARTH_ERR_INVALID);
    hearth_telemetry_snapshot s;
    for (int i = 0; i < 3; i++) {
        (void)step(t, &s);
    }
    /* 8883 is not declared here: one event, naming the broker address;
     * the loopback client and the phone's inbound connection raise none. */
    assert_int_equal(count_events(fx, "telemetry_undeclared_destination"), 1);
    assert_int_equal(fx->n_events, 1);
    hearth_telemetry_close(t);
}

static void test_rule_login_spike(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, 0);
    hearth_telemetry_snapshot s;
    for (int i = 0; i < 7; i++) {
        hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "source", "192.0.2.1", "user", "x", NULL);
        fx->now_ms += 10 * 1000;
    }
    assert_int_equal(step(t, &s), 0); /* 7 < 8 */
    hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "source", "192.0.2.1", "user", "x", NULL);
    for (int i = 0; i < 3; i++) {
        fx->now_ms += 1000;
        (void)step(t, &s);
    }
    assert_int_equal(count_events(fx, "telemetry_login_spike"), 1);
    /* The window passes: the episode ends; a new burst is a new episode. */
    fx->now_ms += 601 * 1000;
    assert_int_equal(step(t, &s), 0);
    for (int i = 0; i < 8; i++)
        hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "source", "192.0.2.1", "user", "x", NULL);
    assert_int_equal(step(t, &s), 1);
    assert_int_equal(count_events(fx, "telemetry_login_spike"), 2);
    /* Failures spread wider than the window never make a spike. */
    hearth_telemetry_close(t);
    fx->n_events = 0;
    t = open_tm(fx, 0);
    for (int i = 0; i < 30; i++) {
        hearth_seclog(HEARTH_SEV_WARNING, "login_failed", "source", "192.0.2.1", "user", "x", NULL);
        fx->now_ms += 90 * 1000; /* 7 in any 600 s */
        (void)step(t, &s);
    }
    assert_int_equal(count_events(fx, "telemetry_login_spike"), 0);
    hearth_telemetry_close(t);
}

static void test_rule_integrity(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry *t = open_tm(fx, 0);
    hearth_telemetry_snapshot s;
    assert_int_equal(step(t, &s), 0);
    hearth_seclog(HEARTH_SEV_ALERT, "update_rejected", "reason", "bad signature", NULL);
    hearth_seclog(HEARTH_SEV_ALERT, "update_rejected", "reason", "bad signature", NULL);
    assert_int_equal(hearth_telemetry_check(t, &s), 1);
    hearth_seclog(HEARTH_SEV_ALERT, "store_tampered", "reason", "mac", NULL);
    assert_int_equal(hearth_telemetry_check(t, &s), 0); /* same episode */
    assert_int_equal(hearth_telemetry_check(t, &s), 0); /* a quiet sample ends it */
    hearth_seclog(HEARTH_SEV_ALERT, "software_integrity_violation", "slot", "a", NULL);
    assert_int_equal(hearth_telemetry_check(t, &s), 1);
    assert_int_equal(count_events(fx, "telemetry_integrity_failure"), 2);
    finish(t, &s, "\"uvf\":2,\"iff\":2,");
}

static void test_rule_unexpected_restart(void **state)
{
    fixture *fx = *state;
    write_proc(fx, false);
    hearth_telemetry_snapshot s;
    hearth_telemetry *t1 = open_tm(fx, WITH_STORE); /* first start */
    assert_int_equal(hearth_telemetry_sample(t1, &s), HEARTH_OK);
    assert_int_equal(hearth_telemetry_check(t1, &s), 0);
    /* A second start while the first run's marker is still set: as after a
     * crash or a power cut. */
    hearth_telemetry *t2 = open_tm(fx, WITH_STORE);
    assert_int_equal(hearth_telemetry_check(t2, &s), 1);
    assert_int_equal(hearth_telemetry_check(t2, &s), 0);
    assert_int_equal(count_events(fx, "telemetry_unexpected_restart"), 1);
    char buf[HEARTH_TELEMETRY_REPORT_MAX];
    report_holds(t2, &s, buf, "\"bc\":2,\"ur\":1,");
    hearth_telemetry_close(t1);
    hearth_telemetry_close(t2); /* the later run's record is the one kept */
    /* After a clean stop the next start is expected. */
    hearth_telemetry *t3 = open_tm(fx, WITH_STORE);
    assert_int_equal(hearth_telemetry_check(t3, &s), 0);
    report_holds(t3, &s, buf, "\"bc\":3,\"ur\":1,");
    hearth_telemetry_close(t3);
}

static void test_disclosure(void **state)
{
    (void)state;
    size_t len = 0;
    const char *d = hearth_telemetry_disclosure(&len);
    assert_int_equal(strlen(d), len);
    /* Every key of the schema is explained in the disclosure. */
    for (const char *const *k = tm_schema_keys; *k != NULL; k++) {
        char cell[160];
        snprintf(cell, sizeof cell, "| `%s` |", *k);
        if (strstr(d, cell) == NULL) fail_msg("disclosure lacks %s", *k);
    }
    assert_non_null(strstr(d, "How long it is kept"));
    assert_non_null(strstr(d, "| `telemetry_login_spike` | alert | At least 8 failed logins (login_failed) within 600 "
                                 "seconds"));
}

int main(void)
{
    if (hearth_seclog_open(NULL) != HEARTH_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collector_rejects_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_matches_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_personal_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_undeclared_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_undeclared_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_login_spike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_integrity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_unexpected_restart, setup, teardown),
        cmocka_unit_test(test_disclosure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
