/* `hearth-fleet revoke DEVICE-ID`: revoke a device's operational identity
 * (docs/operational-identity.md): the device is recorded as revoked (the
 * enrolment endpoint refuses it from then on), the CRL is rebuilt with every
 * unexpired certificate issued to it and replaced atomically, and the broker
 * is told to reload (SIGHUP to the pid in --broker-pid) so its next
 * connection is refused. `--refresh` only rebuilds the CRL (run it at least
 * every FLEET_CA_CRL_VALID_S / 2: an expired CRL makes the broker refuse
 * every device). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ca.h"
#include "commands.h"
#include "hearth/util.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet revoke DEVICE-ID|--refresh --ca DIR [--crl FILE] [--broker-pid FILE]\n\n"
               "Revoke DEVICE-ID (its serial): record it in DIR/revoked.txt, rebuild the CRL\n"
               "(default DIR/crl.pem; atomic replace) and send SIGHUP to the broker whose pid\n"
               "is in FILE (mosquitto reloads its CRL on SIGHUP). --refresh: only rebuild the\n"
               "CRL (its nextUpdate is %ld days ahead; refresh it well before).\n",
            FLEET_CA_CRL_VALID_S / 86400);
}

/* SIGHUP to the pid in @p path (decimal, one line). */
static hearth_status reload_broker(const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    HEARTH_GUARD(hearth_fs_read_file(path, 32, &buf, &len));
    char *end = NULL;
    errno = 0;
    long pid = strtol((char *)buf, &end, 10);
    bool ok = errno == 0 && end != (char *)buf && (*end == '\0' || *end == '\n') && pid > 1;
    free(buf);
    if (!ok) return hearth_err(HEARTH_ERR_INVALID, "%s does not hold a process id", path);
    if (kill((pid_t)pid, SIGHUP) != 0)
        return hearth_err(HEARTH_ERR_IO, "cannot signal broker %ld: %s", pid, strerror(errno));
    return HEARTH_OK;
}

int fleet_cmd_revoke(int argc, char **argv)
{
    const char *id = NULL, *ca = NULL, *crl = NULL, *pidfile = NULL;
    bool refresh = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--refresh") == 0) {
            refresh = true;
        } else if ((strcmp(o, "--ca") == 0 || strcmp(o, "--crl") == 0 || strcmp(o, "--broker-pid") == 0) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (o[2] == 'c' && o[3] == 'a') ca = v;
            else if (o[2] == 'c') crl = v;
            else pidfile = v;
        } else if (o[0] != '-' && id == NULL) {
            id = o;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (ca == NULL || (id == NULL) == !refresh || (id != NULL && refresh)) {
        usage(stderr);
        return 2;
    }
    if (id != NULL && !fleet_ca_valid_id(id)) {
        fprintf(stderr, "hearth-fleet revoke: '%.40s' is not a device serial\n", id);
        return 1;
    }
    int lock = -1;
    size_t listed = 0;
    hearth_status st = fleet_ca_lock(ca, &lock);
    if (st == HEARTH_OK && id != NULL) st = fleet_ca_add_revoked(ca, id);
    if (st == HEARTH_OK) st = fleet_ca_rebuild_crl(ca, crl, &listed);
    fleet_ca_unlock(lock);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet revoke: %s\n", hearth_err_msg());
        return 1;
    }
    if (id != NULL) printf("revoked %s; the CRL lists %zu certificate(s)\n", id, listed);
    else printf("CRL rebuilt; it lists %zu certificate(s)\n", listed);
    if (pidfile != NULL) {
        if (reload_broker(pidfile) != HEARTH_OK) {
            fprintf(stderr, "hearth-fleet revoke: broker not reloaded: %s\n", hearth_err_msg());
            return 1;
        }
        printf("broker reloaded\n");
    }
    return 0;
}
