/* Helpers shared by the `hearth` subcommands (tools/cmd_*.c): the same
 * error line, number parsing, time display and key loading everywhere, so a
 * fix to one (e.g. wiping the passphrase) reaches every command. */
#ifndef HEARTH_TOOLS_CLI_UTIL_H
#define HEARTH_TOOLS_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hearth/bundle.h"

/**
 * Print "hearth CMD: WHAT: reason" to stderr (": reason" only if the thread
 * has a hearth_err_msg()) and return 1, the exit status for a failure.
 */
int cli_fail(const char *cmd, const char *what);

/**
 * Parse a whole unsigned number in @p base (as strtoull; 0 also accepts
 * 0x.. and 0..). Refuses NULL, "", a sign, trailing text and overflow.
 */
bool cli_parse_u64(const char *s, int base, uint64_t *out);

/** Seconds since the epoch as "YYYY-MM-DD HH:MM:SS UTC" (the number if unrepresentable). */
void cli_fmt_time(int64_t t, char *buf, size_t cap);

/**
 * Load @p n encrypted private keys (signing or root keys) that share one
 * passphrase, read from @p pass_file or HEARTH_KEY_PASS (never argv) and
 * wiped afterwards. Errors name the key as "KIND PATH". Returns 0, or 1
 * with a message printed; keys already loaded stay in @p keys for the
 * caller to free (@p keys must start all NULL).
 */
int cli_load_private_keys(const char *cmd, const char *kind, const char *const *paths, size_t n,
                          const char *pass_file, hearth_key **keys);

/** A command's usage text, printed to the stream given. */
typedef void (*cli_usage_fn)(FILE *f);

/** One sub-command of a `hearth` command: called with argv[0] = its name. */
typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} cli_sub;

/**
 * Run `hearth CMD SUB ARGS...` (@p argv[0] = CMD): the entry of @p subs (@p n
 * of them) named argv[1], with argc - 1, argv + 1. No SUB: usage on stderr,
 * 2; --help or -h: usage on stdout, 0; an unknown SUB: "hearth CMD: unknown
 * subcommand 'SUB'" and usage on stderr, 2.
 */
int cli_dispatch(const char *cmd, cli_usage_fn usage, const cli_sub *subs, size_t n, int argc,
                 char **argv);

/** One option of a sub-command: "--name VALUE" (@p value) or a flag (@p flag). */
typedef struct {
    const char *name;   /**< "--trust"; NULL ends a table */
    const char **value; /**< takes the next argument (the last one given wins) */
    bool *flag;         /**< or: set to true, takes no argument */
} cli_opt;

/**
 * Parse argv[1..argc) of a sub-command against @p opts. A word that does not
 * start with '-' is the positional argument: stored in *@p positional, at
 * most one, none allowed when @p positional is NULL. "--help" prints usage
 * on stdout. Returns -1 when the caller goes on, else the exit status: 0
 * after --help, 2 after "hearth CMD: unknown option X" / "X needs a value" /
 * "unexpected argument X" and usage on stderr. Values are not interpreted:
 * the caller checks numbers (cli_opt_u64) and required options.
 */
int cli_parse_opts(const char *cmd, cli_usage_fn usage, int argc, char **argv, const cli_opt *opts,
                   const char **positional);

/**
 * An optional numeric option value: true and *@p out left alone when @p s is
 * NULL (not given); true and *@p out set when @p s is a number in base
 * @p base no larger than @p max; false otherwise.
 */
bool cli_opt_u64(const char *s, int base, uint64_t max, uint64_t *out);

#endif
