/* Helpers shared by the `hearth` subcommands; see cli_util.h. */
#include "cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int cli_fail(const char *cmd, const char *what)
{
    const char *msg = hearth_err_msg();
    fprintf(stderr, "hearth %s: %s%s%s\n", cmd, what, msg[0] ? ": " : "", msg);
    return 1;
}

bool cli_parse_u64(const char *s, int base, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s == NULL || s[0] == '-' || s[0] == '\0') return false;
    unsigned long long v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0') return false;
    *out = v;
    return true;
}

void cli_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
}

int cli_load_private_keys(const char *cmd, const char *kind, const char *const *paths, size_t n,
                          const char *pass_file, hearth_key **keys)
{
    char pass[1024];
    size_t plen = 0;
    if (hearth_key_passphrase(pass_file, pass, sizeof pass, &plen) != HEARTH_OK) {
        char what[64];
        snprintf(what, sizeof what, "%s passphrase", kind);
        return cli_fail(cmd, what);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (hearth_key_load_private(paths[i], pass, plen, &keys[i]) != HEARTH_OK) {
            fprintf(stderr, "hearth %s: %s %s: %s\n", cmd, kind, paths[i], hearth_err_msg());
            rc = 1;
        }
    }
    hearth_memzero(pass, sizeof pass);
    return rc;
}
