/* Subcommands of hearth-fleet, the fleet service. Each lives in its own file
 * in services/fleet/ and returns a process exit status: 0 success, 1 failure
 * (message already printed to stderr), 2 usage error. The table itself is in
 * main.c (one line per command). */
#ifndef HEARTH_FLEET_COMMANDS_H
#define HEARTH_FLEET_COMMANDS_H

typedef int (*fleet_cmd_fn)(int argc, char **argv);

#endif
