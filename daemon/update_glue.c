/*
 * hearthd's use of the updater (EN 303 645 5.3-4, 5.3-5, 5.3-12 example 12):
 * the updater runs on its own thread so the applications (the thermostat's
 * heating control) keep working during checks and downloads; when an update is installed and
 * pending, hearthd stops gracefully and exits with HEARTH_SLOTS_EXIT_RESTART
 * so hearth-boot starts the new slot on trial. After a start from a pending
 * slot a self-test thread confirms it (store, TLS listener, every
 * application's self-test, e.g. the thermostat's control loop).
 *
 * Options (removed from argv before hearthd parses its own):
 *   --update-url URL          repository base (https://); absent: no checks (bundles
 *                             can still be uploaded through the API when the device
 *                             has a trust anchor: --update-trust or the build's
 *                             default, hearth_trust_default_dir())
 *   --update-period S         check period (default 86400)
 *   --update-first-delay S    first check after start (default 30)
 *   --update-first-window S   plus a random 0..S seconds (default 300)
 *   --update-notice S         advance notice of a disruptive update before the
 *                             automatic policy installs it (5.3-12; default 86400)
 *   --update-trust DIR        trust anchor (default: build option HEARTH_TRUST_DIR,
 *                             outside the device state)
 *   --update-keyset FILE      key set (default <state>/keyset.hks)
 *   --fetch-socket PATH       start hearth-fetch by connecting to this unix socket
 *                             (systemd hearth-fetch.socket, Accept=yes: a fresh helper
 *                             per transfer as its own user) instead of spawning it
 *   --no-update-selftest      do not confirm (tests of the revert path)
 *   --slot a|b                passed by hearth-boot; the boot state says the same
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hearth/bundle.h"
#include "hearth/slots.h"
#include "hearth/util.h"
#include "update_glue.h"

static struct {
    const char *prog; /* the device program's name, for messages */
    const char *url, *trust, *keyset, *fetch_socket;
    uint32_t period, first_delay, first_window, notice;
    bool no_selftest;
    hearth_device *dev;
    hearth_updater *u;
    hearth_apps *apps;
    unsigned port;
    pthread_t selftest;
    bool selftest_running;
    volatile sig_atomic_t restart;
    int slot; /* --slot given by hearth-boot: slot + 1; 0 none */
} g = {.prog = "hearthd", .period = HEARTH_UPDATE_PERIOD_DEFAULT_S, .first_delay = 30,
       .first_window = 300, .notice = HEARTH_UPDATE_NOTICE_DEFAULT_S};

int hearthd_update_running_slot(void)
{
    return g.slot - 1;
}

static bool parse_u32(const char *s, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

int hearthd_update_args(const char *prog, int *argc, char **argv)
{
    g.prog = prog;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (a == NULL) break; /* argv ends at *argc; never read past a NULL */
        const char *v = i + 1 < *argc ? argv[i + 1] : NULL;
        bool takes = true;
        bool okv = v != NULL;
        if (strcmp(a, "--update-url") == 0 && okv) g.url = v;
        else if (strcmp(a, "--update-trust") == 0 && okv) g.trust = v;
        else if (strcmp(a, "--update-keyset") == 0 && okv) g.keyset = v;
        else if (strcmp(a, "--fetch-socket") == 0 && okv) {
            g.fetch_socket = v;
            okv = v[0] == '/';
        }
        else if (strcmp(a, "--update-period") == 0 && okv) okv = parse_u32(v, &g.period) && g.period > 0;
        else if (strcmp(a, "--update-first-delay") == 0 && okv) okv = parse_u32(v, &g.first_delay);
        else if (strcmp(a, "--update-first-window") == 0 && okv) okv = parse_u32(v, &g.first_window);
        else if (strcmp(a, "--update-notice") == 0 && okv) okv = parse_u32(v, &g.notice);
        else if (strcmp(a, "--slot") == 0 && okv) {
            int slot;
            okv = hearth_slot_parse(v, &slot) == HEARTH_OK;
            if (okv) g.slot = slot + 1;
        } else if (strcmp(a, "--no-update-selftest") == 0) {
            g.no_selftest = true;
            takes = false;
        } else if (strncmp(a, "--update-", 9) == 0 || strcmp(a, "--slot") == 0 ||
                   strcmp(a, "--fetch-socket") == 0) {
            fprintf(stderr, "%s: %s needs a valid value\n", g.prog, a);
            return 2;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (!okv) {
            fprintf(stderr, "%s: invalid value for %s\n", g.prog, a);
            return 2;
        }
        if (takes) i++;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

static void on_restart(void *arg)
{
    (void)arg;
    /* Stop the way SIGTERM does (graceful: connections closed, store
     * committed); main() then returns the restart code to hearth-boot. */
    g.restart = 1;
    kill(getpid(), SIGTERM);
}

/* A device set up for updates has a trust anchor directory; without a
 * repository URL it can still take bundles uploaded by an administrator
 * (5.3-3), verified against the same anchor and key set. */
static bool trust_anchor_present(hearth_device *dev)
{
    (void)dev;
    const char *dir = g.trust != NULL ? g.trust : hearth_trust_default_dir();
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

hearth_updater *hearthd_update_create(hearth_device *dev, const hearth_apps *apps)
{
    g.dev = dev;
    if (g.url == NULL && !trust_anchor_present(dev)) return NULL;
    hearth_updater_config cfg;
    hearth_updater_config_default(&cfg);
    cfg.repo_url = g.url;
    cfg.trust_dir = g.trust;
    cfg.keyset_path = g.keyset;
    cfg.fetch_socket = g.fetch_socket;
    cfg.period_s = g.period;
    cfg.disruptive_notice_s = g.notice;
    cfg.first_delay_s = g.first_delay;
    cfg.first_window_s = g.first_window;
    cfg.on_restart = on_restart;
    cfg.apps = apps;
    hearth_status st = hearth_updater_create(dev, &cfg, &g.u);
    if (st != HEARTH_OK) {
        /* The device's function matters more than updates: run without them, loudly. */
        fprintf(stderr, "%s: updates disabled: %s (%s)\n", g.prog, hearth_err_msg(),
                hearth_status_name(st));
        hearth_seclog(HEARTH_SEV_WARNING, "updater_unavailable", "reason", hearth_err_msg(), NULL);
        g.u = NULL;
    }
    return g.u;
}

static void *selftest_main(void *arg)
{
    (void)arg;
    /* Let the event loop start so the TLS probe is answered. */
    struct timespec delay = {.tv_sec = 0, .tv_nsec = 200L * 1000 * 1000};
    nanosleep(&delay, NULL);
    hearth_update_selftest t = {.store = hearth_device_store(g.dev), .store_lock = NULL,
                                .https_port = (int)g.port, .apps = g.apps, .timeout_ms = 5000};
    bool confirmed = false;
    hearth_status st = hearth_updater_confirm_if_pending(hearth_device_dir(g.dev), &t, &confirmed);
    if (st != HEARTH_OK)
        fprintf(stderr, "%s: post-update self-test failed, not confirming: %s\n", g.prog,
                hearth_err_msg());
    else if (confirmed)
        fprintf(stderr, "%s: update confirmed after self-test\n", g.prog);
    return NULL;
}

void hearthd_update_start(hearth_apps *apps, unsigned https_port)
{
    g.apps = apps;
    g.port = https_port;
    if (g.dev != NULL && !g.no_selftest &&
        pthread_create(&g.selftest, NULL, selftest_main, NULL) == 0)
        g.selftest_running = true;
    /* The updater thread only runs scheduled network checks: without a
     * repository there is nothing for it to do (uploads run on hearthd's
     * own threads). */
    if (g.u != NULL && g.url != NULL && hearth_updater_start(g.u) != HEARTH_OK)
        fprintf(stderr, "%s: updater thread: %s\n", g.prog, hearth_err_msg());
}

void hearthd_update_request_check(void)
{
    if (g.u != NULL && g.url != NULL && hearth_updater_request_check(g.u) != HEARTH_OK)
        fprintf(stderr, "%s: update check: %s\n", g.prog, hearth_err_msg());
}

void hearthd_update_stop(void)
{
    if (g.selftest_running) {
        pthread_join(g.selftest, NULL);
        g.selftest_running = false;
    }
    if (g.u != NULL) {
        if (hearth_updater_restart_required(g.u)) g.restart = 1;
        hearth_updater_destroy(g.u);
        g.u = NULL;
    }
}

int hearthd_update_exit_code(int rc)
{
    return (rc == 0 && g.restart) ? HEARTH_SLOTS_EXIT_RESTART : rc;
}

/* The TCP port of an https:// URL ("https://host[:port][/...]", host may be
 * "[v6]"); 443 without one, 0 when it cannot be read. */
static uint16_t url_port(const char *url)
{
    if (url == NULL || strncmp(url, "https://", 8) != 0) return 0;
    const char *h = url + 8;
    const char *end = h + strcspn(h, "/?#");
    const char *p = h;
    if (*p == '[') p = memchr(p, ']', (size_t)(end - p));
    if (p == NULL) return 0;
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon == NULL) return 443;
    unsigned long v = 0;
    for (const char *c = colon + 1; c < end; c++) {
        if (*c < '0' || *c > '9' || v > 65535) return 0;
        v = v * 10 + (unsigned long)(*c - '0');
    }
    return v > 0 && v <= 65535 ? (uint16_t)v : 0;
}

void hearthd_update_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *repo_port)
{
    static char fetch[4096], keyset_dir[4096];
    *repo_port = url_port(g.url);
    if (*n < cap)
        paths[(*n)++] = (hearth_sandbox_path){g.trust != NULL ? g.trust : hearth_trust_default_dir(),
                                              HEARTH_SANDBOX_READ};
    if (g.keyset != NULL && *n < cap) {
        snprintf(keyset_dir, sizeof keyset_dir, "%s", g.keyset);
        char *slash = strrchr(keyset_dir, '/');
        if (slash != NULL && slash != keyset_dir) *slash = '\0';
        else snprintf(keyset_dir, sizeof keyset_dir, "%s", slash == keyset_dir ? "/" : ".");
        paths[(*n)++] = (hearth_sandbox_path){keyset_dir, HEARTH_SANDBOX_WRITE};
    }
    if (hearth_updater_fetch_program(fetch, sizeof fetch) == HEARTH_OK && *n < cap)
        paths[(*n)++] = (hearth_sandbox_path){fetch, HEARTH_SANDBOX_EXEC};
}
