/*
 * The /proc readers of the collector. The files are the kernel's, but the
 * parser treats them like any input: bounded lines, every field checked,
 * a malformed line fails the sample with a message naming the file.
 *
 *   net/tcp, net/tcp6   "sl local rem st ...": local/remote "HEXADDR:HEXPORT"
 *                       (each 32-bit word of the address as the kernel
 *                       prints it: the raw bytes read as a host-order int),
 *                       st 0A listening, 01 established
 *   net/udp, net/udp6   the same columns; a bound socket with remote port 0
 *                       is "listening"
 *   net/dev             "iface: rx_bytes rx_packets 6*rx tx_bytes tx_packets ..."
 *   status              "VmRSS:   1234 kB"
 *
 * /proc/self/net/ lists every socket of the process's network namespace,
 * not only the process's own: on a device that is the device's traffic.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "telemetry_internal.h"

#define LINE_MAX_LEN 512
#define TOKENS_MAX 20
#define TCP_ESTABLISHED 0x01
#define TCP_LISTEN 0x0a

typedef struct {
    uint8_t bytes[16];
    bool v6;
    uint16_t port;
} tm_endpoint;

static FILE *open_in(const char *dir, const char *name, bool optional, hearth_status *st)
{
    char path[512];
    *st = hearth_path_join(path, sizeof path, dir, name);
    if (*st != HEARTH_OK) return NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        *st = (optional && errno == ENOENT)
                  ? HEARTH_OK
                  : hearth_err(HEARTH_ERR_IO, "telemetry: cannot read %s: %s", path,
                               strerror(errno));
    }
    return f;
}

/* Next line of @p f into @p line without its newline; false at the end.
 * *bad on a line longer than the buffer. */
static bool next_line(FILE *f, char line[LINE_MAX_LEN], bool *bad)
{
    if (fgets(line, LINE_MAX_LEN, f) == NULL) return false;
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    else if (!feof(f)) *bad = true;
    return true;
}

/* Split @p line on blanks in place. */
static size_t tokens(char *line, char *tok[TOKENS_MAX])
{
    size_t n = 0;
    char *p = line;
    while (*p != '\0' && n < TOKENS_MAX) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0') break;
        tok[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t') p++;
        if (*p != '\0') *p++ = '\0';
    }
    return n;
}

/* @p n hex digits exactly, at most 8. */
static bool hex_u32(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hearth_hex_digit(s[i]);
        if (d < 0) return false;
        v = (v << 4) | (uint32_t)d;
    }
    *out = v;
    return true;
}

static bool parse_endpoint(const char *s, tm_endpoint *e)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL || strlen(colon + 1) != 4) return false;
    size_t alen = (size_t)(colon - s);
    if (alen != 8 && alen != 32) return false;
    e->v6 = alen == 32;
    for (size_t w = 0; w < alen / 8; w++) {
        uint32_t v;
        if (!hex_u32(s + 8 * w, 8, &v)) return false;
        memcpy(e->bytes + 4 * w, &v, 4); /* the kernel printed the raw word */
    }
    uint32_t port;
    if (!hex_u32(colon + 1, 4, &port)) return false;
    e->port = (uint16_t)port;
    return true;
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_loopback(const tm_endpoint *e)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (!e->v6) return e->bytes[0] == 127;
    if (memcmp(e->bytes, v4mapped, 12) == 0) return e->bytes[12] == 127;
    return memcmp(e->bytes, v6lo, 16) == 0;
}

/* "a.b.c.d:port" or "[v6]:port": at most 47 bytes (39 for the longest IPv6
 * text inet_ntop makes of a non-mapped address, 8 for "[]:65535"). */
static void format_endpoint(const tm_endpoint *e, char out[HEARTH_TELEMETRY_ADDR_MAX])
{
    char ip[INET6_ADDRSTRLEN] = "?";
    bool v6 = e->v6 && memcmp(e->bytes, v4mapped, 12) != 0;
    if (!e->v6) (void)inet_ntop(AF_INET, e->bytes, ip, sizeof ip);
    else if (!v6) (void)inet_ntop(AF_INET, e->bytes + 12, ip, sizeof ip);
    else (void)inet_ntop(AF_INET6, e->bytes, ip, sizeof ip);
    int n = snprintf(out, HEARTH_TELEMETRY_ADDR_MAX, v6 ? "[%s]:%u" : "%s:%u", ip, e->port);
    if (n < 0 || n >= HEARTH_TELEMETRY_ADDR_MAX) snprintf(out, HEARTH_TELEMETRY_ADDR_MAX, "?");
}

typedef struct {
    uint8_t tcp_listen[65536 / 8], udp_bound[65536 / 8];
} tm_portmaps;

static bool bit_get(const uint8_t *m, uint16_t p) { return (m[p / 8] >> (p % 8)) & 1; }
static void bit_set(uint8_t *m, uint16_t p) { m[p / 8] |= (uint8_t)(1u << (p % 8)); }

/* Each line of @p dir/@p name after @p skip header lines, handed to @p fn
 * (which may split it in place). A missing @p optional file has no lines. */
typedef hearth_status (*line_fn)(char *line, void *arg);

static hearth_status visit_lines(const char *dir, const char *name, bool optional, int skip,
                                 line_fn fn, void *arg)
{
    hearth_status st;
    FILE *f = open_in(dir, name, optional, &st);
    if (f == NULL) return st;
    char line[LINE_MAX_LEN];
    bool bad = false;
    for (int i = 0; st == HEARTH_OK && next_line(f, line, &bad); i++) {
        if (bad) st = HEARTH_ERR_INVALID;
        else if (i >= skip) st = fn(line, arg);
    }
    (void)fclose(f); /* read-only: nothing to lose */
    if (st == HEARTH_ERR_INVALID)
        return hearth_err(HEARTH_ERR_INVALID, "telemetry: malformed line in %s/%s", dir, name);
    return st;
}

/* One socket line handed to a visitor. */
typedef hearth_status (*sock_fn)(const tm_endpoint *local, const tm_endpoint *remote,
                                 uint32_t state, void *arg);

typedef struct {
    sock_fn fn;
    void *arg;
} sock_visit;

static hearth_status socket_line(char *line, void *arg)
{
    const sock_visit *v = arg;
    char *tok[TOKENS_MAX];
    size_t n = tokens(line, tok);
    tm_endpoint l, r;
    uint32_t state;
    if (n < 4 || !parse_endpoint(tok[1], &l) || !parse_endpoint(tok[2], &r) ||
        strlen(tok[3]) != 2 || !hex_u32(tok[3], 2, &state) || l.v6 != r.v6)
        return HEARTH_ERR_INVALID;
    return v->fn(&l, &r, state, v->arg);
}

static hearth_status visit_sockets(const char *dir, const char *name, sock_fn fn, void *arg)
{
    sock_visit v = {fn, arg};
    /* tcp6/udp6 are absent on a kernel without IPv6. */
    return visit_lines(dir, name, strstr(name, "6") != NULL, 1, socket_line, &v);
}

static hearth_status collect_listen(const tm_endpoint *l, const tm_endpoint *r, uint32_t state,
                                    void *arg)
{
    (void)r;
    if (state == TCP_LISTEN) bit_set(((tm_portmaps *)arg)->tcp_listen, l->port);
    return HEARTH_OK;
}

static hearth_status collect_udp(const tm_endpoint *l, const tm_endpoint *r, uint32_t state,
                                 void *arg)
{
    (void)state;
    if (r->port == 0 && l->port != 0) bit_set(((tm_portmaps *)arg)->udp_bound, l->port);
    return HEARTH_OK;
}

typedef struct {
    const tm_portmaps *maps;
    hearth_telemetry_snapshot *s;
} conn_ctx;

static hearth_status collect_conn(const tm_endpoint *l, const tm_endpoint *r, uint32_t state,
                                  void *arg)
{
    conn_ctx *c = arg;
    if (state != TCP_ESTABLISHED) return HEARTH_OK;
    c->s->established++;
    /* Accepted on one of the namespace's own listening ports: inbound, a
     * client (a person's phone) -- counted, its address never read further.
     * Loopback: traffic inside the device. */
    if (bit_get(c->maps->tcp_listen, l->port) || is_loopback(r)) return HEARTH_OK;
    c->s->conns_total++;
    if (c->s->n_conns < HEARTH_TELEMETRY_CONNS_MAX) {
        hearth_telemetry_conn *o = &c->s->conns[c->s->n_conns++];
        format_endpoint(r, o->rad);
        o->rport = r->port;
        o->lport = l->port;
    }
    return HEARTH_OK;
}

static void list_ports(const uint8_t *map, uint16_t *out, size_t *n, size_t *total)
{
    *n = *total = 0;
    for (uint32_t p = 1; p < 65536; p++) {
        if (!bit_get(map, (uint16_t)p)) continue;
        if (*n < HEARTH_TELEMETRY_PORTS_MAX) out[(*n)++] = (uint16_t)p;
        (*total)++;
    }
}

hearth_status tm_read_sockets(const char *dir, hearth_telemetry_snapshot *s)
{
    tm_portmaps *maps = calloc(1, sizeof *maps);
    if (maps == NULL) return hearth_err(HEARTH_ERR_NOMEM, "telemetry: out of memory");
    conn_ctx cc = {maps, s};
    hearth_status st;
    HEARTH_GUARD_GOTO(st, visit_sockets(dir, "net/tcp", collect_listen, maps), out);
    HEARTH_GUARD_GOTO(st, visit_sockets(dir, "net/tcp6", collect_listen, maps), out);
    HEARTH_GUARD_GOTO(st, visit_sockets(dir, "net/udp", collect_udp, maps), out);
    HEARTH_GUARD_GOTO(st, visit_sockets(dir, "net/udp6", collect_udp, maps), out);
    HEARTH_GUARD_GOTO(st, visit_sockets(dir, "net/tcp", collect_conn, &cc), out);
    HEARTH_GUARD_GOTO(st, visit_sockets(dir, "net/tcp6", collect_conn, &cc), out);
    list_ports(maps->tcp_listen, s->tcp, &s->n_tcp, &s->tcp_total);
    list_ports(maps->udp_bound, s->udp, &s->n_udp, &s->udp_total);
out:
    free(maps);
    return st;
}

/* A decimal counter field of /proc. */
static bool dec_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *out = (uint64_t)v;
    return true;
}

static hearth_status netdev_line(char *line, void *arg)
{
    hearth_telemetry_snapshot *s = arg;
    char *colon = strchr(line, ':');
    char *tok[TOKENS_MAX];
    if (colon == NULL) return HEARTH_ERR_INVALID;
    *colon = '\0';
    char *name = line;
    while (*name == ' ') name++;
    size_t n = tokens(colon + 1, tok);
    uint64_t v[4];
    if (n < 16 || !dec_u64(tok[0], &v[0]) || !dec_u64(tok[1], &v[1]) ||
        !dec_u64(tok[8], &v[2]) || !dec_u64(tok[9], &v[3]))
        return HEARTH_ERR_INVALID;
    if (strcmp(name, "lo") == 0) return HEARTH_OK;
    s->bytes_in += v[0];
    s->packets_in += v[1];
    s->bytes_out += v[2];
    s->packets_out += v[3];
    return HEARTH_OK;
}

hearth_status tm_read_netdev(const char *dir, hearth_telemetry_snapshot *s)
{
    return visit_lines(dir, "net/dev", false, 2, netdev_line, s);
}

typedef struct {
    hearth_telemetry_snapshot *s;
    bool found;
} status_ctx;

static hearth_status status_line(char *line, void *arg)
{
    status_ctx *c = arg;
    if (c->found || strncmp(line, "VmRSS:", 6) != 0) return HEARTH_OK;
    char *tok[TOKENS_MAX];
    size_t n = tokens(line + 6, tok);
    if (n != 2 || strcmp(tok[1], "kB") != 0 || !dec_u64(tok[0], &c->s->rss_kib))
        return HEARTH_ERR_INVALID;
    c->found = true;
    return HEARTH_OK;
}

hearth_status tm_read_status(const char *dir, hearth_telemetry_snapshot *s)
{
    status_ctx c = {s, false};
    HEARTH_GUARD(visit_lines(dir, "status", false, 0, status_line, &c));
    if (!c.found) return hearth_err(HEARTH_ERR_INVALID, "telemetry: no VmRSS line in %s/status", dir);
    return HEARTH_OK;
}
