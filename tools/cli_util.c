/* Helpers shared by the `hearth` subcommands; see cli_util.h. */
#include "cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cli_dispatch(const char *cmd, cli_usage_fn usage, const cli_sub *subs, size_t n, int argc,
                 char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], subs[i].name) == 0) return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hearth %s: unknown subcommand '%s'\n", cmd, argv[1]);
    usage(stderr);
    return 2;
}

static const cli_opt *find_opt(const cli_opt *opts, const char *name)
{
    for (; opts->name != NULL; opts++)
        if (strcmp(opts->name, name) == 0) return opts;
    return NULL;
}

/* "hearth CMD: BEFORE ARG AFTER" and usage on stderr: exit status 2. */
static int usage_error(const char *cmd, cli_usage_fn usage, const char *before, const char *arg,
                       const char *after)
{
    fprintf(stderr, "hearth %s: %s%s%s\n", cmd, before, arg, after);
    usage(stderr);
    return 2;
}

int cli_parse_opts(const char *cmd, cli_usage_fn usage, int argc, char **argv, const cli_opt *opts,
                   const char **positional)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (positional == NULL || *positional != NULL)
                return usage_error(cmd, usage, "unexpected argument ", a, "");
            *positional = a;
            continue;
        }
        const cli_opt *o = find_opt(opts, a);
        if (o == NULL) return usage_error(cmd, usage, "unknown option ", a, "");
        if (o->flag != NULL) {
            *o->flag = true;
        } else {
            if (i + 1 >= argc) return usage_error(cmd, usage, "", a, " needs a value");
            *o->value = argv[++i];
        }
    }
    return -1;
}

bool cli_opt_u64(const char *s, int base, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL) return true;
    if (!cli_parse_u64(s, base, &v) || v > max) return false;
    *out = v;
    return true;
}
