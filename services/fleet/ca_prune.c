/* `hearth-fleet ca-prune --ca DIR`: drop from DIR/issued.log the entries
 * whose certificates expired more than --keep-expired-days ago
 * (fleet_ca_prune_issued(): crash-safe replace, under the CA lock). The
 * enrolment server does the same at start and daily; this command is for a
 * CA directory whose server is not running, or to prune at once. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "commands.h"
#include "fleet.h"
#include "hearth/util.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet ca-prune --ca DIR [--keep-expired-days DAYS]\n\n"
               "Remove from DIR/issued.log the certificates that expired more than DAYS\n"
               "(default %d, %u..%u) days ago. The CRL lists only unexpired certificates and\n"
               "revocation is decided by revoked.txt, so neither loses anything. Lines that\n"
               "cannot be read are kept as they are.\n",
            FLEET_CA_KEEP_EXPIRED_DAYS, FLEET_CA_KEEP_EXPIRED_MIN_DAYS, FLEET_CA_KEEP_EXPIRED_MAX_DAYS);
}

int fleet_cmd_ca_prune(int argc, char **argv)
{
    const char *ca = NULL;
    uint32_t days = FLEET_CA_KEEP_EXPIRED_DAYS;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(o, "--ca") == 0) {
            ca = v;
        } else if (strcmp(o, "--keep-expired-days") == 0) {
            uint64_t d = 0;
            if (fleet_uint(v, FLEET_CA_KEEP_EXPIRED_MIN_DAYS, FLEET_CA_KEEP_EXPIRED_MAX_DAYS, &d) == HEARTH_OK) {
                days = (uint32_t)d;
            } else {
                hearth_err_clear();
                fprintf(stderr, "hearth-fleet ca-prune: --keep-expired-days must be %u..%u\n",
                        FLEET_CA_KEEP_EXPIRED_MIN_DAYS, FLEET_CA_KEEP_EXPIRED_MAX_DAYS);
                return 2;
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (ca == NULL) {
        usage(stderr);
        return 2;
    }
    int lock = -1;
    size_t kept = 0, pruned = 0, odd = 0;
    hearth_status st = fleet_ca_lock(ca, &lock);
    if (st == HEARTH_OK)
        st = fleet_ca_prune_issued(ca, (int64_t)time(NULL), (int64_t)days * 86400, &kept, &pruned, &odd);
    fleet_ca_unlock(lock);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet ca-prune: %s\n", hearth_err_msg());
        return 1;
    }
    printf("%s: %zu kept, %zu pruned, %zu unreadable kept\n", FLEET_CA_ISSUED, kept, pruned, odd);
    return 0;
}
