/* `hearth assess`: a black-box assessment of a running device (ETSI TS 103
 * 701 functional style; EN 303 645 5.12-3), docs/assessment.md. The units
 * live in the library (src/assess, include/hearth/assess.h) so the device's
 * GET /api/v1/setup-check reaches its verdicts through the same judges. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "hearth/assess.h"
#include "hearth/util.h"

#ifndef HEARTH_ASSESS_CREDENTIALS_DEFAULT
#define HEARTH_ASSESS_CREDENTIALS_DEFAULT "/usr/share/hearth/assess/default-credentials.txt"
#endif

static void assess_usage(FILE *f)
{
    fprintf(f,
            "usage: hearth assess --target HOST:PORT [--ports LIST] [--declared LIST]\n"
            "           [--declared-udp LIST] [--admin USER:PASSWORDFILE] [--cacert FILE]\n"
            "           [--credentials FILE] [--bundle-key KEY [--bundle-key-pass FILE]]\n"
            "           [--out DIR] [--max-requests N] [--max-seconds S] [--timeout-ms MS]\n\n"
            "Run the assessment units against the device's HTTPS API at HOST:PORT and print\n"
            "the result as JSON (schema hearth-assessment/1), or with --out write\n"
            "DIR/assessment.{json,md,html} and print a summary. LIST: ports and ranges,\n"
            "e.g. 22,80,8000-8100 (at most %d; default: a built-in list of common IoT\n"
            "ports, probed over TCP and UDP). --declared: listening TCP ports the device\n"
            "declares besides PORT; --declared-udp: its UDP ports (default none).\n"
            "--admin: an administrator and a file holding the password (never argv).\n"
            "--credentials: user:password lines to try (default %s).\n"
            "--bundle-key: a private update-signing key the device trusts (a test key;\n"
            "passphrase from --bundle-key-pass FILE or HEARTH_KEY_PASS): with --admin,\n"
            "tampered, foreign-signed and older bundles are uploaded and must be refused.\n"
            "Nothing is sent after N requests (default 400) or S seconds (default 60).\n"
            "Exit: 0 no unit FAILed, 3 at least one FAIL, 1 error, 2 usage.\n",
            HEARTH_ASSESS_PORTS_MAX, HEARTH_ASSESS_CREDENTIALS_DEFAULT);
}

/* "22,80,8000-8010" into @p out (at most HEARTH_ASSESS_PORTS_MAX). */
static bool parse_ports(const char *s, uint16_t *out, size_t *n)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) return false;
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(t, '-');
        uint64_t lo, hi;
        if (dash) *dash = '\0';
        if (!cli_parse_u64(t, 10, &lo) || (dash && !cli_parse_u64(dash + 1, 10, &hi))) return false;
        if (!dash) hi = lo;
        if (lo == 0 || hi > 65535 || lo > hi) return false;
        for (uint64_t p = lo; p <= hi; p++) {
            if (*n >= HEARTH_ASSESS_PORTS_MAX) return false;
            out[(*n)++] = (uint16_t)p;
        }
    }
    return *n > 0;
}

static bool parse_target(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s) return false;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']') return false;
        h++;
        hl -= 2;
    }
    uint64_t p;
    if (hl >= cap || !cli_parse_u64(colon + 1, 10, &p) || p == 0 || p > 65535) return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return true;
}

static int write_out(const hearth_assess_report *r, const char *dir, const char *name,
                     hearth_status (*fn)(const hearth_assess_report *, FILE *))
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "hearth assess: path too long\n");
        return 1;
    }
    char *data = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&data, &len);
    if (m == NULL) return cli_fail("assess", "open_memstream");
    hearth_status st = fn(r, m);
    if (fclose(m) != 0 && st == HEARTH_OK) st = hearth_err(HEARTH_ERR_IO, "assess: write failed");
    if (st == HEARTH_OK) st = hearth_fs_write_atomic(path, data, len, 0644);
    free(data);
    if (st != HEARTH_OK) return cli_fail("assess", path);
    return 0;
}

/* The update-path unit's signing key (encrypted PKCS#8, as `hearth key` writes it). */
static int load_key(const char *path, const char *pass_file, hearth_key **out)
{
    char pass[256];
    size_t plen = 0;
    hearth_status st = hearth_key_passphrase(pass_file, pass, sizeof pass, &plen);
    if (st == HEARTH_OK) st = hearth_key_load_private(path, pass, plen, out);
    hearth_memzero(pass, sizeof pass);
    if (st != HEARTH_OK) return cli_fail("assess", path);
    return 0;
}

int hearth_cmd_assess(int argc, char **argv)
{
    static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                         {"ports", required_argument, NULL, 'p'},
                                         {"declared", required_argument, NULL, 'd'},
                                         {"declared-udp", required_argument, NULL, 'u'},
                                         {"bundle-key", required_argument, NULL, 'k'},
                                         {"bundle-key-pass", required_argument, NULL, 'K'},
                                         {"admin", required_argument, NULL, 'a'},
                                         {"cacert", required_argument, NULL, 'c'},
                                         {"credentials", required_argument, NULL, 'C'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"max-requests", required_argument, NULL, 'r'},
                                         {"max-seconds", required_argument, NULL, 's'},
                                         {"timeout-ms", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static uint16_t ports[HEARTH_ASSESS_PORTS_MAX], declared[HEARTH_ASSESS_PORTS_MAX],
        declared_udp[HEARTH_ASSESS_PORTS_MAX];
    static char host[256], user[128], pw[256];
    static hearth_assess_report rep;
    hearth_assess_target t = {.credentials = HEARTH_ASSESS_CREDENTIALS_DEFAULT};
    const char *target = NULL, *out = NULL, *admin = NULL, *key_path = NULL, *key_pass = NULL;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': target = optarg; break;
        case 'p':
            if (!parse_ports(optarg, ports, &t.n_ports)) goto bad;
            t.ports = ports;
            break;
        case 'd':
            if (!parse_ports(optarg, declared, &t.n_declared)) goto bad;
            t.declared = declared;
            break;
        case 'u':
            if (!parse_ports(optarg, declared_udp, &t.n_declared_udp)) goto bad;
            t.declared_udp = declared_udp;
            break;
        case 'k': key_path = optarg; break;
        case 'K': key_pass = optarg; break;
        case 'a': admin = optarg; break;
        case 'c': t.cacert = optarg; break;
        case 'C': t.credentials = optarg; break;
        case 'o': out = optarg; break;
        case 'r':
            if (!cli_parse_u64(optarg, 10, &v) || v == 0 || v > 100000) goto bad;
            t.max_requests = (uint32_t)v;
            break;
        case 's':
            if (!cli_parse_u64(optarg, 10, &v) || v == 0 || v > 3600) goto bad;
            t.max_seconds = (uint32_t)v;
            break;
        case 'T':
            if (!cli_parse_u64(optarg, 10, &v) || v < 50 || v > 60000) goto bad;
            t.probe_timeout_ms = (uint32_t)v;
            break;
        case 'h': assess_usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (target == NULL || optind != argc || !parse_target(target, host, sizeof host, &t.port) ||
        (key_pass != NULL && key_path == NULL))
        goto bad;
    t.host = host;
    if (admin != NULL) {
        const char *colon = strchr(admin, ':');
        if (colon == NULL || colon == admin || (size_t)(colon - admin) >= sizeof user) goto bad;
        memcpy(user, admin, (size_t)(colon - admin));
        user[colon - admin] = '\0';
        FILE *f = fopen(colon + 1, "re");
        if (f == NULL || fgets(pw, sizeof pw, f) == NULL) {
            if (f) (void)fclose(f);
            fprintf(stderr, "hearth assess: cannot read the password file %s\n", colon + 1);
            return 1;
        }
        (void)fclose(f);
        pw[strcspn(pw, "\r\n")] = '\0';
        t.admin_user = user;
        t.admin_password = pw;
    }
    hearth_key *key = NULL;
    if (key_path != NULL && load_key(key_path, key_pass, &key) != 0) {
        hearth_memzero(pw, sizeof pw);
        return 1;
    }
    t.bundle_key = key;
    hearth_status st = hearth_assess_run(&t, &rep);
    hearth_key_free(key);
    hearth_memzero(pw, sizeof pw);
    if (st != HEARTH_OK) return cli_fail("assess", "run");
    if (out == NULL) {
        if (hearth_assess_write_json(&rep, stdout) != HEARTH_OK) return cli_fail("assess", "stdout");
    } else {
        if (mkdir(out, 0755) != 0 && access(out, W_OK) != 0) {
            fprintf(stderr, "hearth assess: cannot create %s\n", out);
            return 1;
        }
        if (write_out(&rep, out, "assessment.json", hearth_assess_write_json) ||
            write_out(&rep, out, "assessment.md", hearth_assess_write_markdown) ||
            write_out(&rep, out, "assessment.html", hearth_assess_write_html))
            return 1;
        for (size_t i = 0; i < rep.n; i++)
            printf("%-13s %-20s %s\n", hearth_verdict_name(rep.results[i].verdict),
                   rep.results[i].unit->id, rep.results[i].unit->provisions);
        printf("%u requests; %s/assessment.{json,md,html}\n", rep.requests, out);
    }
    return hearth_assess_count(&rep, HEARTH_VERDICT_FAIL) ? 3 : 0;
bad:
    assess_usage(stderr);
    return 2;
}
