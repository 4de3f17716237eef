/* hearth-fleet: the manufacturer's fleet service (docs/fleet.md). Dispatches
 * to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hearth/common.h"
#include "hearth/util.h"

/* The subcommand table: one line per command, X(name, function, help). The
 * function lives in its own file (cmd_run.c, enrol*.c, ...); it is declared
 * weak so a command whose file is not in the build is reported, not a link
 * error. */
#define FLEET_COMMANDS(X)                                                                     \
    X("run", fleet_cmd_run, "run --db FILE --broker HOST:PORT --ca FILE --cert FILE --key FILE [--report-listen ADDR:PORT]") \
    X("report", fleet_cmd_report, "report --db FILE --json|--html   the fleet report")      \
    X("announce", fleet_cmd_announce, "announce --db FILE --version V --batch N --spread S ...  announce an update in batches") \
    X("ca-init", fleet_cmd_ca_init, "ca-init DIR [--name CN] [--server-names SAN]   create the service CA") \
    X("enrol-server", fleet_cmd_enrol_server, "enrol-server --ca DIR --manufacturer-ca FILE --cert FILE --key FILE --listen ADDR:PORT [--lifetime S] [--device-burst N ...]") \
    X("revoke", fleet_cmd_revoke, "revoke DEVICE-ID|--refresh --ca DIR [--crl FILE] [--broker-pid FILE]   revoke a device") \
    X("ca-prune", fleet_cmd_ca_prune, "ca-prune --ca DIR [--keep-expired-days DAYS]   prune expired entries from issued.log")

#define X(n, fn, h) int fn(int argc, char **argv) __attribute__((weak));
FLEET_COMMANDS(X)
#undef X

struct fleet_command {
    const char *name;
    fleet_cmd_fn fn;
    const char *help;
};

static const struct fleet_command commands[] = {
#define X(n, fn, h) {n, fn, h},
    FLEET_COMMANDS(X)
#undef X
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn != NULL) fprintf(f, "  %s\n", commands[i].help);
    fprintf(f, "\nRun 'hearth-fleet COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    /* run and the identity commands hold the service's private keys: no
     * core dumps for any command. */
    if (hearth_process_harden() != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: %s\n", hearth_err_msg());
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("hearth-fleet %s\n", hearth_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        if (commands[i].fn == NULL) {
            fprintf(stderr, "hearth-fleet: command '%s' is not built into this binary\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "hearth-fleet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
