/* `hearth ca init DIR [--name CN]`: create the manufacturer CA that signs
 * device certificates (docs/provisioning.md). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hearth/identity.h"

static void ca_usage(FILE *f)
{
    fprintf(f, "usage: hearth ca init DIR [--name CN]\n\n"
               "Create a manufacturer CA in DIR (created 0700): ca.key (ECDSA P-256, PEM,\n"
               "mode 0600) and ca.crt (self-signed, 10 years). An existing CA is never\n"
               "overwritten. Keep ca.key offline (or in an HSM) after provisioning.\n");
}

int hearth_cmd_ca(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        ca_usage(stdout);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "init") != 0) {
        ca_usage(stderr);
        return 2;
    }
    const char *dir = NULL, *name = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0) {
            if (i + 1 >= argc || name != NULL) {
                fprintf(stderr, "hearth ca init: --name needs one value\n");
                return 2;
            }
            name = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ca_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "hearth ca init: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            fprintf(stderr, "hearth ca init: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (dir == NULL) {
        ca_usage(stderr);
        return 2;
    }
    hearth_status st = hearth_ca_init(dir, name);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth ca init: %s (%s)\n", hearth_err_msg(), hearth_status_name(st));
        return 1;
    }
    printf("created CA in %s (ca.key 0600, ca.crt)\n", dir);
    return 0;
}
