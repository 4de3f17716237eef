/* hearth: the manufacturer's command-line tool. Dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "hearth/common.h"
#include "hearth/util.h"

struct command {
    const char *name;
    hearth_cmd_fn fn;
    const char *help;
};

static const struct command commands[] = {
#define X(n, h) {#n, hearth_cmd_##n, h},
    HEARTH_COMMANDS(X)
#undef X
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn != NULL) fprintf(f, "  %s\n", commands[i].help);
    fprintf(f, "\nRun 'hearth COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    /* Several commands hold private keys (ca init, provision, keygen, keyset
     * sign, bundle sign) or open the secure store (slot): no core dumps for
     * any of them. */
    if (hearth_process_harden() != HEARTH_OK) {
        fprintf(stderr, "hearth: %s\n", hearth_err_msg());
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("hearth %s\n", hearth_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        if (commands[i].fn == NULL) {
            fprintf(stderr, "hearth: command '%s' is not built into this binary\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "hearth: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
