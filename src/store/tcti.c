/*
 * TPM connection strings (TCTI configurations). tpm2-tss's loader takes a
 * "name:conf" string and dlopen()s a library derived from "name", a name
 * that may itself be a file path: whoever chooses the string chooses the
 * code that runs. Hearth therefore accepts only the documented transports,
 * with their options parsed and re-emitted from validated values, and opens
 * each through a fixed module (tcti_open.c). Grammar: include/hearth/store.h
 * (hearth_tcti_parse) and docs/provisioning.md.
 */
#include <stdio.h>
#include <string.h>

#include "hearth/store.h"
#include "hearth/util.h"

/* tpm2-tss defaults for the socket transports and tpm2-abrmd's defaults. */
#define TCTI_SOCK_HOST_DEFAULT "localhost"
#define TCTI_SOCK_PORT_DEFAULT 2321u
#define TCTI_TABRMD_BUS_DEFAULT "com.intel.tss2.Tabrmd"
#define TCTI_TABRMD_TYPE_DEFAULT "system"
#define TCTI_VALUE_MAX 63
#define TCTI_DEV_PREFIX "/dev/"

static bool is_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* /dev/ followed by components of [A-Za-z0-9_-]+ separated by single '/':
 * no "." or "..", no empty component, no trailing slash. */
static bool dev_path_ok(const char *p)
{
    size_t pre = strlen(TCTI_DEV_PREFIX);
    if (strncmp(p, TCTI_DEV_PREFIX, pre) != 0) return false;
    p += pre;
    size_t comp = 0;
    for (; *p; p++) {
        if (*p == '/') {
            if (comp == 0) return false;
            comp = 0;
        } else if (is_alnum(*p) || *p == '_' || *p == '-') {
            comp++;
        } else {
            return false;
        }
    }
    return comp > 0;
}

/* A host name or an IPv4/IPv6 literal, as getaddrinfo() takes it. */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > TCTI_VALUE_MAX || h[0] == '-' || h[0] == '.') return false;
    for (; *h; h++)
        if (!(is_alnum(*h) || *h == '.' || *h == '-' || *h == ':')) return false;
    return true;
}

/* Decimal 1..65534 without sign or leading zero (the socket transports use
 * port+1 as their control port). */
static bool port_ok(const char *s, unsigned *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || s[0] == '0') return false;
    unsigned v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v == 0 || v > 65534) return false;
    *port = v;
    return true;
}

/* A D-Bus well-known name: dotted, at least two elements of [A-Za-z0-9_-]. */
static bool bus_name_ok(const char *s)
{
    size_t n = strlen(s), elem = 0, dots = 0;
    if (n == 0 || n > TCTI_VALUE_MAX) return false;
    for (; *s; s++) {
        if (*s == '.') {
            if (elem == 0) return false;
            elem = 0;
            dots++;
        } else if (is_alnum(*s) || *s == '_' || *s == '-') {
            elem++;
        } else {
            return false;
        }
    }
    return elem > 0 && dots > 0;
}

typedef struct {
    const char *key;
    char val[TCTI_VALUE_MAX + 1];
    bool seen;
} tcti_opt;

/* Split "k=v,k=v" into the known keys; unknown, duplicate, empty or
 * over-long options are refused. */
static hearth_status parse_opts(const char *name, const char *conf, tcti_opt *opts, size_t n)
{
    const char *p = conf;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (len == 0 || eq == NULL)
            return hearth_err(HEARTH_ERR_INVALID,
                              "TPM connection '%s:': options must be key=value separated by ','",
                              name);
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        size_t k = 0;
        while (k < n && (strlen(opts[k].key) != klen || strncmp(opts[k].key, p, klen) != 0)) k++;
        if (k == n)
            return hearth_err(HEARTH_ERR_INVALID, "TPM connection '%s:': unknown option '%.*s'",
                              name, (int)(klen > TCTI_VALUE_MAX ? TCTI_VALUE_MAX : klen), p);
        if (opts[k].seen)
            return hearth_err(HEARTH_ERR_INVALID, "TPM connection '%s:': option '%s' given twice",
                              name, opts[k].key);
        if (vlen == 0 || vlen > TCTI_VALUE_MAX)
            return hearth_err(HEARTH_ERR_INVALID,
                              "TPM connection '%s:': option '%s' is empty or too long", name,
                              opts[k].key);
        memcpy(opts[k].val, eq + 1, vlen);
        opts[k].val[vlen] = '\0';
        opts[k].seen = true;
        if (end == NULL) break;
        p = end + 1;
        if (*p == '\0')
            return hearth_err(HEARTH_ERR_INVALID, "TPM connection '%s:': trailing ','", name);
    }
    return HEARTH_OK;
}

static hearth_status parse_socket(const char *name, const char *conf, char *out, size_t cap)
{
    tcti_opt o[2] = {{.key = "host"}, {.key = "port"}};
    HEARTH_GUARD(parse_opts(name, conf, o, 2));
    const char *host = o[0].seen ? o[0].val : TCTI_SOCK_HOST_DEFAULT;
    unsigned port = TCTI_SOCK_PORT_DEFAULT;
    if (!host_ok(host))
        return hearth_err(HEARTH_ERR_INVALID,
                          "TPM connection '%s:': host must be a host name or address "
                          "([A-Za-z0-9.:-], 1..%d characters)",
                          name, TCTI_VALUE_MAX);
    if (o[1].seen && !port_ok(o[1].val, &port))
        return hearth_err(HEARTH_ERR_INVALID, "TPM connection '%s:': port must be 1..65534", name);
    int w = snprintf(out, cap, "host=%s,port=%u", host, port);
    if (w < 0 || (size_t)w >= cap)
        return hearth_err(HEARTH_ERR_INVALID, "TPM connection '%s:' is too long", name);
    return HEARTH_OK;
}

static hearth_status parse_tabrmd(const char *conf, char *out, size_t cap)
{
    tcti_opt o[2] = {{.key = "bus_name"}, {.key = "bus_type"}};
    HEARTH_GUARD(parse_opts("tabrmd", conf, o, 2));
    const char *bus = o[0].seen ? o[0].val : TCTI_TABRMD_BUS_DEFAULT;
    const char *type = o[1].seen ? o[1].val : TCTI_TABRMD_TYPE_DEFAULT;
    if (!bus_name_ok(bus))
        return hearth_err(HEARTH_ERR_INVALID,
                          "TPM connection 'tabrmd:': bus_name must be a dotted D-Bus name");
    if (strcmp(type, "system") != 0 && strcmp(type, "session") != 0)
        return hearth_err(HEARTH_ERR_INVALID,
                          "TPM connection 'tabrmd:': bus_type must be system or session");
    int w = snprintf(out, cap, "bus_name=%s,bus_type=%s", bus, type);
    if (w < 0 || (size_t)w >= cap)
        return hearth_err(HEARTH_ERR_INVALID, "TPM connection 'tabrmd:' is too long");
    return HEARTH_OK;
}

hearth_status hearth_tcti_parse(const char *text, hearth_tcti *out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output for the TPM connection");
    memset(out, 0, sizeof *out);
    size_t n = 0;
    HEARTH_GUARD(hearth_text_check(text, HEARTH_TCTI_MAX, HEARTH_TEXT_GRAPHIC_ASCII,
                                   HEARTH_ERR_INVALID, "TPM connection", &n));
    const char *colon = strchr(text, ':');
    size_t nlen = colon != NULL ? (size_t)(colon - text) : n;
    const char *conf = colon != NULL ? colon + 1 : "";
    char name[8];
    if (nlen == 0 || nlen >= sizeof name)
        goto unknown;
    memcpy(name, text, nlen);
    name[nlen] = '\0';

    hearth_status st;
    if (strcmp(name, "device") == 0) {
        out->kind = HEARTH_TCTI_DEVICE;
        if (dev_path_ok(conf)) {
            snprintf(out->conf, sizeof out->conf, "%s", conf);
            st = HEARTH_OK;
        } else {
            st = hearth_err(HEARTH_ERR_INVALID,
                            "TPM connection 'device:' needs a path /dev/NAME (NAME from "
                            "A-Z a-z 0-9 _ -, no '.' components)");
        }
    } else if (strcmp(name, "swtpm") == 0) {
        out->kind = HEARTH_TCTI_SWTPM;
        st = parse_socket(name, conf, out->conf, sizeof out->conf);
    } else if (strcmp(name, "mssim") == 0) {
        out->kind = HEARTH_TCTI_MSSIM;
        st = parse_socket(name, conf, out->conf, sizeof out->conf);
    } else if (strcmp(name, "tabrmd") == 0) {
        out->kind = HEARTH_TCTI_TABRMD;
        st = parse_tabrmd(conf, out->conf, sizeof out->conf);
    } else {
        goto unknown;
    }
    if (st == HEARTH_OK) {
        int w = snprintf(out->text, sizeof out->text, "%s:%s", name, out->conf);
        if (w < 0 || (size_t)w >= sizeof out->text)
            st = hearth_err(HEARTH_ERR_INVALID, "TPM connection is longer than %d bytes",
                            HEARTH_TCTI_MAX);
    }
    if (st != HEARTH_OK) memset(out, 0, sizeof *out);
    return st;
unknown:
    memset(out, 0, sizeof *out);
    return hearth_err(HEARTH_ERR_INVALID,
                      "TPM connection must start with device:, swtpm:, mssim: or tabrmd: "
                      "(no other module, library name or path is loaded)");
}
