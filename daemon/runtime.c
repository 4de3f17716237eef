/*
 * The device runtime (include/hearth/runtime.h): a product program is
 * hearth_device_main() plus its applications' tables. It opens the device,
 * the accounts, the applications (hearth/app.h), the HTTPS API serving the
 * core's and the applications' routes, and the updater, then runs the
 * event loop. hearthd (apps/thermostat/hearthd.c) is this with the
 * thermostat:
 *
 *   hearthd --state DIR [--listen 127.0.0.1:8443] [--port-option KEY=VALUE]
 *           [--heartbeat F] [--user NAME|UID[:GID]] [--foreground]
 *           [--mqtt-broker HOST:PORT ... --mqtt-ca FILE ...]
 *
 * Each application's options (hearth_app::options) are accepted next to the
 * runtime's own; the updater's (--update-*) are taken by update_glue.c, the
 * service link's (--mqtt-*) by link_glue.c.
 * Prints exactly one line "hearthd: listening on https://ADDR:PORT" when
 * ready (port 0 picks a free port). Refuses to start, exit status 1, when the
 * device state fails its integrity checks. All state lives in the secure
 * store, so a crash loses nothing; SIGTERM/SIGINT shut down gracefully.
 *
 * Least privilege (docs/sandbox.md): started as root it needs --user and
 * drops to that user right after parsing its command line, before it opens
 * anything (nothing it does needs root); it refuses to run as root
 * otherwise. Every capability is cleared, no_new_privs set, no core dumps.
 * Once the device, the TLS context and the listener are open and before any
 * thread starts or any request is read, Landlock limits it to its own paths
 * and a seccomp allow-list to its system calls (daemon/sandbox.c).
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/app.h"
#include "hearth/auth.h"
#include "hearth/layout.h"
#include "hearth/sbom.h"
#include "hearth/store.h"
#include "hearth/port.h"
#include "hearth/identity.h"
#include "hearth/runtime.h"
#include "hearth/sandbox.h"
#include "hearth/util.h"
#include "hearthd.h"
#include "link_glue.h"
#include "reset_glue.h"
#include "privacy_glue.h"
#include "telemetry_glue.h"
#include "enrol_glue.h"
#include "update_glue.h"

/* Values of every application's options, in table order (hearth_apps_open). */
#define OPTS_MAX 32
/* --port-option values (the platform port's key=value options). */
#define PORT_OPTS_MAX 16

typedef struct {
    const char *prog;
    const char *state;
    const char *listen;
    const char *user;
    bool foreground;
    const hearth_app *const *apps;
    size_t napps;
    const char *app_opt[OPTS_MAX];
    size_t n_app_opts;
    const hearth_port *port;
    hearth_port_option port_opt[PORT_OPTS_MAX];
    size_t n_port_opts;
} options;

static void usage(FILE *f, const options *o)
{
    fprintf(f, "usage: %s --state DIR [--listen ADDR:PORT]", o->prog);
    for (size_t a = 0; a < o->napps; a++)
        for (size_t i = 0; i < o->apps[a]->n_options; i++)
            fprintf(f, " [%s %s]", o->apps[a]->options[i].name, o->apps[a]->options[i].arg);
    if (o->port != NULL) fprintf(f, " [--port-option KEY=VALUE]...");
    fprintf(f, " [--user NAME|UID[:GID]] [--foreground]\n"
               "  --state DIR        provisioned device state directory (hearth provision)\n"
               "  --listen ADDR:PORT address to serve HTTPS on (default 127.0.0.1:8443;\n"
               "                     port 0 picks a free port, printed on the ready line)\n"
               "  --user NAME|UID[:GID] unprivileged user to run as (required when started\n"
               "                     as root; it must own the state directory)\n");
    for (size_t a = 0; a < o->napps; a++) {
        for (size_t i = 0; i < o->apps[a]->n_options; i++) {
            const hearth_app_option *op = &o->apps[a]->options[i];
            char left[64];
            snprintf(left, sizeof left, "%s %s", op->name, op->arg);
            fprintf(f, "  %-18s %s\n", left, op->help);
        }
    }
    if (o->port != NULL)
        fprintf(f, "  --port-option K=V  an option of the %s platform port (docs/ports.md)\n",
                o->port->name);
    hearthd_enrol_usage(f);
    hearthd_link_usage(f);
    fprintf(f, "  --foreground       do not detach\n");
}

/* The value slot of an application option named @p a, or NULL. */
static const char **app_option(options *o, const char *a)
{
    size_t k = 0;
    for (size_t i = 0; i < o->napps; i++) {
        for (size_t j = 0; j < o->apps[i]->n_options; j++, k++)
            if (strcmp(a, o->apps[i]->options[j].name) == 0) return &o->app_opt[k];
    }
    return NULL;
}

static int parse_args(int argc, char **argv, options *o)
{
    o->listen = "127.0.0.1:8443";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (o->port != NULL && strcmp(a, "--port-option") == 0) {
            if (i + 1 >= argc || o->n_port_opts >= PORT_OPTS_MAX ||
                hearth_port_option_parse(argv[i + 1], &o->port_opt[o->n_port_opts]) != HEARTH_OK) {
                fprintf(stderr, "%s: --port-option needs KEY=VALUE (at most %d)\n", o->prog,
                        PORT_OPTS_MAX);
                return 2;
            }
            o->n_port_opts++;
            i++;
            continue;
        }
        if (strcmp(a, "--state") == 0) dst = &o->state;
        else if (strcmp(a, "--listen") == 0) dst = &o->listen;
        else if (strcmp(a, "--user") == 0) dst = &o->user;
        else if ((dst = app_option(o, a)) != NULL) {
        } else if (strcmp(a, "--foreground") == 0) {
            o->foreground = true;
            continue;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout, o);
            exit(0);
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", o->prog, a);
            usage(stderr, o);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", o->prog, a);
            return 2;
        }
        *dst = argv[++i];
    }
    if (hearth_port_state_dir(o->port, o->state, &o->state) != HEARTH_OK) {
        fprintf(stderr, "%s: --state DIR is required\n", o->prog);
        usage(stderr, o);
        return 2;
    }
    return 0;
}

static const char *g_prog = "hearthd"; /* the product program's name, for messages */

static int fail(const char *what, hearth_status st)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", g_prog, what, hearth_err_msg(), hearth_status_name(st));
    return 1;
}

/* Detach; the parent prints the ready line and exits. */
static int daemonize(const char *ready)
{
    (void)fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) {
        printf("%s\n", ready);
        (void)fflush(stdout);
        _exit(0);
    }
    if (setsid() < 0) return -1;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) close(fd);
    return 0;
}

int hearth_device_main(const hearth_device_program *prog, int argc, char **argv)
{
    if (prog == NULL || prog->program == NULL || (prog->apps == NULL && prog->napps > 0)) return 2;
    g_prog = prog->program;
    /* First: the storage root key, the device key, passwords and tokens
     * will be in this process's memory; no core dump may carry them. */
    if (hearth_process_harden() != HEARTH_OK) {
        fprintf(stderr, "%s: %s\n", g_prog, hearth_err_msg());
        return 1;
    }
    /* Before any libevent call: its buffers are wiped when freed. */
    hearthd_server_memory_init();
    /* The platform port decides platform defaults (root of trust, TPM
     * connection) that opening the device already uses. */
    if (prog->port != NULL && hearth_port_use(prog->port) != HEARTH_OK) {
        fprintf(stderr, "%s: platform port: %s\n", g_prog, hearth_err_msg());
        return 1;
    }
    options o = {.prog = g_prog, .apps = prog->apps, .napps = prog->napps, .port = prog->port};
    for (size_t i = 0; i < o.napps; i++) o.n_app_opts += o.apps[i]->n_options;
    if (o.n_app_opts > OPTS_MAX) {
        fprintf(stderr, "%s: the applications declare too many options\n", g_prog);
        return 2;
    }
    if (hearthd_update_args(g_prog, &argc, argv) != 0) return 2;
    if (hearthd_telemetry_args(g_prog, &argc, argv) != 0) return 2;
    if (hearthd_enrol_args(g_prog, &argc, argv) != 0) return 2;
    if (hearthd_link_args(g_prog, &argc, argv) != 0) return 2;
    /* The files the command line tells the port and the applications to
     * use (their directories stay writable under Landlock); before
     * parse_args splits the port options' KEY=VALUE text. */
    hearth_sandbox_path port_dirs[PORT_OPTS_MAX + OPTS_MAX];
    size_t n_port_dirs = 0;
    hearth_sandbox_option_dirs(argc, argv, "--port-option", port_dirs, PORT_OPTS_MAX + OPTS_MAX,
                               &n_port_dirs);
    for (size_t i = 0; i < o.napps; i++)
        for (size_t j = 0; j < o.apps[i]->n_options; j++)
            hearth_sandbox_option_dirs(argc, argv, o.apps[i]->options[j].name, port_dirs,
                                       PORT_OPTS_MAX + OPTS_MAX, &n_port_dirs);
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) return rc;
    /* Nothing below needs root: leave it before opening anything. */
    if (hearth_sandbox_drop_privileges(g_prog, o.user) != HEARTH_OK) {
        fprintf(stderr, "%s: %s\n", g_prog, hearth_err_msg());
        return 1;
    }
    (void)signal(SIGPIPE, SIG_IGN); /* peers closing TLS sockets must not kill us */
    /* Each Argon2id hash takes 32 MiB. A fixed mmap threshold makes glibc
     * hand such blocks back to the OS when freed (the dynamic threshold would
     * otherwise keep them in the heap), and two arenas suffice for the loop,
     * two workers and the applications' threads: idle RSS stays small. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 2);
    umask(077);

    hearth_device *dev = NULL;
    hearth_auth *auth = NULL;
    hearth_apps *apps = NULL;
    hearth_port_dev *hw = NULL;
    hearth_api *api = NULL;
    SSL_CTX *tls = NULL;
    hearthd_server *srv = NULL;
    /* Held by applications around sequences of store operations (app.h). */
    static pthread_mutex_t app_store_lock = PTHREAD_MUTEX_INITIALIZER;
    hearth_status st;
    rc = 1;

    st = hearth_device_open(o.state, &dev);
    if (st == HEARTH_ERR_TAMPERED) {
        fprintf(stderr,
                "%s: refusing to start: the device state in %s failed its integrity "
                "check (%s); restore it or re-provision the device\n",
                g_prog, o.state, hearth_err_msg());
        return 1;
    }
    if (st != HEARTH_OK) return fail("cannot open device state", st);

    char logpath[4096];
    st = hearth_layout_path(o.state, HEARTH_LAYOUT_EVENTS_LOG, logpath, sizeof logpath);
    if (st == HEARTH_OK) st = hearth_seclog_open(logpath);
    if (st != HEARTH_OK) {
        rc = fail("cannot open the security-event log", st);
        goto out;
    }
    /* Personal values in the log are sealed under a key from a secret in
     * the store, so a factory reset crypto-erases them (docs/security-log.md).
     * Without it they are withheld, never written in clear. */
    uint8_t field_key[HEARTH_SECLOG_KEY_LEN];
    st = hearth_store_secret_key(hearth_device_store(dev), HEARTH_SECLOG_SECRET_RECORD, true,
                                 hearth_device_serial(dev), HEARTH_SECLOG_KDF_INFO, field_key,
                                 sizeof field_key);
    if (st == HEARTH_OK) hearth_seclog_set_key(field_key);
    else hearth_seclog(HEARTH_SEV_ALERT, "seclog_key_unavailable", "error", hearth_err_msg(), NULL);
    hearth_memzero(field_key, sizeof field_key);
    /* Telemetry counts security events from here on (docs/telemetry.md). */
    hearth_privacy *privacy = hearthd_privacy_create(dev);
    if (privacy == NULL) {
        rc = 1;
        goto out;
    }
    hearth_telemetry *telemetry = hearthd_telemetry_create(dev, privacy);

    hearth_auth_config acfg;
    hearth_auth_config_default(&acfg);
    acfg.serial = hearth_device_serial(dev);
    st = hearth_auth_open(hearth_device_store(dev), &acfg, &auth);
    if (st != HEARTH_OK) {
        rc = fail("cannot load accounts", st);
        goto out;
    }

    if (o.port != NULL) {
        st = hearth_port_open(o.port, o.port_opt, o.n_port_opts, &hw);
        if (st != HEARTH_OK) {
            rc = fail("cannot open the platform port", st);
            goto out;
        }
    }
    st = hearth_apps_open(o.apps, o.napps, hearth_device_store(dev), &app_store_lock, hw,
                          o.app_opt, &apps);
    if (st != HEARTH_OK) {
        rc = fail("cannot start the applications", st);
        goto out;
    }

    /* The manufacturer's disclosure configuration, built into the program
     * (include/hearth/disclosure.h): security.txt and support_until. */
    static hearth_manufacturer manufacturer;
    st = hearth_manufacturer_builtin(&manufacturer);
    if (st != HEARTH_OK) {
        rc = fail("the manufacturer configuration built into this program is invalid", st);
        goto out;
    }
    /* The SBOM of the slot hearth-boot launched (docs/sbom.md): none when
     * not started from a slot or installed from a bundle without one. */
    static char *sbom;
    static size_t sbom_len;
    if (hearthd_update_running_slot() >= 0) {
        st = hearth_sbom_running(o.state, hearthd_update_running_slot(), &sbom, &sbom_len);
        if (st != HEARTH_OK)
            fprintf(stderr, "%s: no SBOM served: %s\n", g_prog, hearth_err_msg());
    }
    hearth_api_config cfg = {
        .sbom = (const uint8_t *)sbom,
        .sbom_len = sbom_len,
        .manufacturer = &manufacturer,
        .auth = auth,
        .apps = apps,
        .model = hearth_device_model(dev),
        .serial = hearth_device_serial(dev),
        .hw_id = hearth_device_hw_id(dev),
        .fingerprint = hearth_device_fingerprint(dev),
        .update = hearthd_update_create(dev, apps),
        .telemetry = telemetry,
        .factory_reset = hearthd_reset_run,
        .privacy = privacy,
        .erase_user = hearthd_privacy_erase_user, /* the consent registry's part of a user erasure */
    };
    hearthd_reset_init(dev, apps, logpath);
    st = hearth_api_create(&cfg, &api);
    if (st != HEARTH_OK) {
        rc = fail("cannot create the API", st);
        goto out;
    }
    st = hearthd_tls_ctx(dev, &tls);
    if (st != HEARTH_OK) {
        rc = fail("cannot set up TLS", st);
        goto out;
    }
    unsigned port = 0;
    st = hearthd_server_create(tls, api, o.listen, &srv, &port);
    if (st != HEARTH_OK) {
        rc = fail("cannot start the HTTPS server", st);
        goto out;
    }
    hearthd_server_set_upload(srv, auth, cfg.update);
    const uint16_t api_port = (uint16_t)port;
    hearthd_telemetry_declare(HEARTH_TELEMETRY_LISTEN, &api_port, 1);

    /* Ready line: the configured host with the actual port. */
    char host[80];
    const char *colon = strrchr(o.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - o.listen), o.listen);
    char ready[160];
    snprintf(ready, sizeof ready, "%s: listening on https://%s:%u", g_prog, host, port);
    if (!o.foreground && daemonize(ready) != 0) {
        fprintf(stderr, "%s: cannot detach\n", g_prog);
        goto out;
    }
    /* Everything is open, no thread runs yet (Landlock binds the calling
     * thread and what it starts), no request has been read: confine. */
    st = hearthd_sandbox_apply(g_prog, o.state, port_dirs, n_port_dirs, port);
    if (st != HEARTH_OK) {
        rc = fail("cannot apply the sandbox", st);
        goto out;
    }
    /* Threads start only now, after any fork. The applications run on their
     * own threads and do not depend on the network. */
    st = hearth_apps_start(apps);
    /* The factory-reset button: a press resets the device (docs/erasure.md). */
    if (st == HEARTH_OK && hw != NULL)
        st = hearth_port_button_watch_cb(hw, 100, hearthd_reset_button, NULL);
    if (st == HEARTH_OK) st = hearthd_server_start_workers(srv);
    if (st != HEARTH_OK) {
        rc = fail("cannot start threads", st);
        goto out;
    }
    hearthd_update_start(apps, port);
    if (hearthd_enrol_start(dev, o.state) != 0) goto out;
    /* The service link last: the device works without it (docs/mqtt.md). */
    if (hearthd_link_start(dev, o.state, api, apps) != 0) goto out;
    /* Telemetry reports go to the service through the link (dropped when
     * there is no link). */
    hearthd_telemetry_start(hearthd_link_telemetry, NULL);
    hearthd_privacy_start(apps); /* consent changes and shared data go through the link */
    char pbuf[8];
    snprintf(pbuf, sizeof pbuf, "%u", port);
    hearth_seclog(HEARTH_SEV_INFO, "daemon_started", "listen", host, "port", pbuf, NULL);
    if (o.foreground) {
        printf("%s\n", ready);
        (void)fflush(stdout);
    }
    st = hearthd_server_run(srv);
    rc = st == HEARTH_OK ? 0 : fail("event loop", st);

out:
    hearthd_link_stop();
    /* The sharing thread reads the applications' data: it stops before
     * they are closed below (the registry itself closes last). */
    hearthd_privacy_quiesce();
    hearthd_enrol_stop();
    hearthd_update_stop();
    hearthd_server_free(srv);
    hearth_apps_stop(apps);
    hearth_api_destroy(api);
    free(sbom);
    sbom = NULL;
    hearth_apps_close(apps);
    hearth_port_close(hw);
    hearthd_telemetry_stop(); /* after the API (which uses it), before the store closes */
    hearthd_privacy_stop();   /* after the link, the API and telemetry, which use it */
    hearth_auth_close(auth);
    SSL_CTX_free(tls);
    hearth_device_close(dev);
    hearth_seclog_set_key(NULL);
    hearth_seclog_close();
    return hearthd_reset_exit_code(hearthd_update_exit_code(rc));
}
