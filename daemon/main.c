/*
 * hearthd: the reference device daemon (a smart thermostat) and its
 * authenticated local HTTPS API.
 *
 *   hearthd --state DIR [--listen 127.0.0.1:8443] [--sensor-file F]
 *           [--heartbeat F] [--foreground]
 *
 * Prints exactly one line "hearthd: listening on https://ADDR:PORT" when
 * ready (port 0 picks a free port). Refuses to start, exit status 1, when the
 * device state fails its integrity checks. All state lives in the secure
 * store, so a crash loses nothing; SIGTERM/SIGINT shut down gracefully.
 */
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/auth.h"
#include "hearth/layout.h"
#include "hearth/identity.h"
#include "hearth/thermostat.h"
#include "hearth/util.h"
#include "hearthd.h"
#include "update_glue.h"

typedef struct {
    const char *state;
    const char *listen;
    const char *sensor;
    const char *heartbeat;
    bool foreground;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: hearthd --state DIR [--listen ADDR:PORT] [--sensor-file FILE]\n"
               "               [--heartbeat FILE] [--foreground]\n"
               "  --state DIR        provisioned device state directory (hearth provision)\n"
               "  --listen ADDR:PORT address to serve HTTPS on (default 127.0.0.1:8443;\n"
               "                     port 0 picks a free port, printed on the ready line)\n"
               "  --sensor-file FILE read the temperature from FILE instead of the simulator\n"
               "  --heartbeat FILE   write \"<epoch_ms> <heating>\" to FILE every control tick\n"
               "  --foreground       do not detach\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8443";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--state") == 0) dst = &o->state;
        else if (strcmp(a, "--listen") == 0) dst = &o->listen;
        else if (strcmp(a, "--sensor-file") == 0) dst = &o->sensor;
        else if (strcmp(a, "--heartbeat") == 0) dst = &o->heartbeat;
        else if (strcmp(a, "--foreground") == 0) {
            o->foreground = true;
            continue;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "hearthd: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "hearthd: %s needs a value\n", a);
            return 2;
        }
        *dst = argv[++i];
    }
    if (o->state == NULL) {
        fprintf(stderr, "hearthd: --state DIR is required\n");
        usage(stderr);
        return 2;
    }
    return 0;
}

static int fail(const char *what, hearth_status st)
{
    fprintf(stderr, "hearthd: %s: %s (%s)\n", what, hearth_err_msg(), hearth_status_name(st));
    return 1;
}

/* Detach; the parent prints the ready line and exits. */
static int daemonize(const char *ready)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) {
        printf("%s\n", ready);
        fflush(stdout);
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

int main(int argc, char **argv)
{
    /* First: the storage root key, the device key, passwords and tokens
     * will be in this process's memory; no core dump may carry them. */
    if (hearth_process_harden() != HEARTH_OK) {
        fprintf(stderr, "hearthd: %s\n", hearth_err_msg());
        return 1;
    }
    /* Before any libevent call: its buffers are wiped when freed. */
    hearthd_server_memory_init();
    options o;
    if (hearthd_update_args(&argc, argv) != 0) return 2;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) return rc;
    signal(SIGPIPE, SIG_IGN); /* peers closing TLS sockets must not kill us */
    /* Each Argon2id hash takes 32 MiB. A fixed mmap threshold makes glibc
     * hand such blocks back to the OS when freed (the dynamic threshold would
     * otherwise keep them in the heap), and two arenas suffice for the loop,
     * two workers and the control thread: idle RSS stays small. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 2);
    umask(077);

    hearth_device *dev = NULL;
    hearth_auth *auth = NULL;
    hearth_thermo *thermo = NULL;
    hearth_api *api = NULL;
    SSL_CTX *tls = NULL;
    hearthd_server *srv = NULL;
    hearth_status st;
    rc = 1;

    st = hearth_device_open(o.state, &dev);
    if (st == HEARTH_ERR_TAMPERED) {
        fprintf(stderr,
                "hearthd: refusing to start: the device state in %s failed its integrity "
                "check (%s); restore it or re-provision the device\n",
                o.state, hearth_err_msg());
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

    hearth_auth_config acfg;
    hearth_auth_config_default(&acfg);
    acfg.serial = hearth_device_serial(dev);
    st = hearth_auth_open(hearth_device_store(dev), &acfg, &auth);
    if (st != HEARTH_OK) {
        rc = fail("cannot load accounts", st);
        goto out;
    }

    hearth_thermo_config tcfg;
    hearth_thermo_config_default(&tcfg);
    tcfg.sensor_path = o.sensor;
    tcfg.heartbeat_path = o.heartbeat;
    st = hearth_thermo_open(hearth_device_store(dev), &tcfg, &thermo);
    if (st != HEARTH_OK) {
        rc = fail("cannot start the thermostat", st);
        goto out;
    }

    hearth_api_config cfg = {
        .auth = auth,
        .thermo = thermo,
        .model = hearth_device_model(dev),
        .serial = hearth_device_serial(dev),
        .hw_id = hearth_device_hw_id(dev),
        .fingerprint = hearth_device_fingerprint(dev),
        .update = hearthd_update_create(dev),
    };
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

    /* Ready line: the configured host with the actual port. */
    char host[80];
    const char *colon = strrchr(o.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - o.listen), o.listen);
    char ready[160];
    snprintf(ready, sizeof ready, "hearthd: listening on https://%s:%u", host, port);
    if (!o.foreground && daemonize(ready) != 0) {
        fprintf(stderr, "hearthd: cannot detach\n");
        goto out;
    }
    /* Threads start only now, after any fork. The control loop runs on its
     * own thread and does not depend on the network. */
    st = hearth_thermo_start(thermo);
    if (st == HEARTH_OK) st = hearthd_server_start_workers(srv);
    if (st != HEARTH_OK) {
        rc = fail("cannot start threads", st);
        goto out;
    }
    hearthd_update_start(thermo, port);
    char pbuf[8];
    snprintf(pbuf, sizeof pbuf, "%u", port);
    hearth_seclog(HEARTH_SEV_INFO, "daemon_started", "listen", host, "port", pbuf, NULL);
    if (o.foreground) {
        printf("%s\n", ready);
        fflush(stdout);
    }
    st = hearthd_server_run(srv);
    rc = st == HEARTH_OK ? 0 : fail("event loop", st);

out:
    hearthd_update_stop();
    hearthd_server_free(srv);
    if (thermo) hearth_thermo_stop(thermo);
    hearth_api_destroy(api);
    hearth_thermo_close(thermo);
    hearth_auth_close(auth);
    SSL_CTX_free(tls);
    hearth_device_close(dev);
    hearth_seclog_close();
    return hearthd_update_exit_code(rc);
}
