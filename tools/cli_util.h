/* Helpers shared by the `hearth` subcommands (tools/cmd_*.c): the same
 * error line, number parsing, time display and key loading everywhere, so a
 * fix to one (e.g. wiping the passphrase) reaches every command. */
#ifndef HEARTH_TOOLS_CLI_UTIL_H
#define HEARTH_TOOLS_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
