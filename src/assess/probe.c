/*
 * Bounded network probes for the black-box units: TCP connect with a
 * timeout, TLS handshakes with chosen versions and suites (OpenSSL as the
 * client: the same library an assessor's `openssl s_client` uses), and one
 * HTTPS request at a time with bounded reads. Every connection counts
 * against the run's request budget and none starts after its deadline.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "assess_internal.h"
#include "hearth/util.h"

bool ax_budget(ax_run *a)
{
    if (a->r->requests >= a->r->max_requests || ax_left_ms(a) <= 0) {
        a->budget_hit = true;
        return false;
    }
    a->r->requests++;
    return true;
}

int64_t ax_left_ms(const ax_run *a)
{
    int64_t left = a->deadline_ms - hearth_mono_ms();
    return left > 0 ? left : 0;
}

static int wait_fd(int fd, short ev, uint32_t ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    for (;;) {
        int k = poll(&p, 1, (int)ms);
        if (k < 0 && errno == EINTR) continue;
        return k;
    }
}

int ax_tcp_connect(ax_run *a, uint16_t port)
{
    if (!ax_budget(a)) return -1;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(a->t->host, ps, &hints, &res) != 0 || res == NULL) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return -1;
    }
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno == EINPROGRESS) {
        int err = 0;
        socklen_t el = sizeof err;
        if (wait_fd(fd, POLLOUT, a->timeout_ms) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
            rc = 0;
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    /* Back to blocking with timeouts for the TLS library. */
    int fl = fcntl(fd, F_GETFL);
    struct timeval tv = {.tv_sec = a->timeout_ms / 1000, .tv_usec = (a->timeout_ms % 1000) * 1000};
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void ssl_reason(char *err, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (err == NULL || cap == 0) {
        ERR_clear_error();
        return;
    }
    if (e == 0) snprintf(err, cap, "handshake refused");
    else ERR_error_string_n(e, err, cap);
    ERR_clear_error();
}

SSL *ax_tls_connect(ax_run *a, int minv, int maxv, const char *ciphers, char *err, size_t cap)
{
    if (err && cap) err[0] = '\0';
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_reason(err, cap);
        return NULL;
    }
    /* A probe must be able to speak what it asks about: legacy versions and
     * suites need security level 0 on the client side. */
    bool ok = SSL_CTX_set_min_proto_version(ctx, minv) == 1 &&
              SSL_CTX_set_max_proto_version(ctx, maxv) == 1;
    if (ok && ciphers != NULL) ok = SSL_CTX_set_cipher_list(ctx, ciphers) == 1;
    if (ok && a->t->cacert != NULL) ok = SSL_CTX_load_verify_locations(ctx, a->t->cacert, NULL) == 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* recorded, judged by the unit */
    if (!ok) {
        ssl_reason(err, cap);
        SSL_CTX_free(ctx);
        return NULL;
    }
    int fd = ax_tcp_connect(a, a->t->port);
    if (fd < 0) {
        if (err && cap) snprintf(err, cap, a->budget_hit ? "request budget spent" : "no TCP connection");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL *s = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its reference */
    if (s == NULL || SSL_set_fd(s, fd) != 1 || SSL_connect(s) != 1) {
        ssl_reason(err, cap);
        if (s) SSL_free(s);
        close(fd);
        return NULL;
    }
    return s;
}

void ax_tls_close(SSL *s)
{
    if (s == NULL) return;
    int fd = SSL_get_fd(s);
    (void)SSL_shutdown(s);
    SSL_free(s);
    if (fd >= 0) close(fd);
}

bool ax_header(const ax_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = r->hdrs;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

int ax_https(ax_run *a, const char *method, const char *path, const char *token,
             const char *json, ax_resp *out)
{
    return ax_https_body(a, method, path, token, json ? "application/json" : NULL, json,
                         json ? strlen(json) : 0, out);
}

int ax_https_body(ax_run *a, const char *method, const char *path, const char *token,
                  const char *ctype, const void *body, size_t blen, ax_resp *out)
{
    out->status = -1;
    out->hdrs[0] = '\0';
    out->body[0] = '\0';
    out->body_len = 0;
    char err[160];
    SSL *s = ax_tls_connect(a, TLS1_2_VERSION, 0, NULL, err, sizeof err);
    if (s == NULL) return a->budget_hit ? -2 : -1;
    /* An answer may take a password hash or a throttle's delay: wait up to
     * 10 s for it (never past the deadline), not just one probe timeout. */
    int64_t wait = ax_left_ms(a) < 10000 ? ax_left_ms(a) : 10000;
    if (wait < a->timeout_ms) wait = a->timeout_ms;
    struct timeval tv = {.tv_sec = wait / 1000, .tv_usec = (wait % 1000) * 1000};
    (void)setsockopt(SSL_get_fd(s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hearth-assess\r\nAccept: */*\r\n"
                     "Connection: close\r\n%s%s%s",
                     method, path, a->t->host, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof req) {
        ax_tls_close(s);
        return -1;
    }
    int m = body ? snprintf(req + n, sizeof req - (size_t)n,
                            "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, blen)
                 : snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    size_t total = (size_t)n + (size_t)(m < 0 ? 0 : m);
    if (m < 0 || total >= sizeof req || blen > INT_MAX ||
        SSL_write(s, req, (int)total) != (int)total) {
        ax_tls_close(s);
        return -1;
    }
    /* A device may answer before the whole body is in (a bundle refused on
     * its signed prefix) and close: its answer is read all the same. */
    if (blen > 0 && SSL_write(s, body, (int)blen) != (int)blen) ERR_clear_error();
    /* Read the whole answer (bounded), then split head and body. */
    static const size_t cap = AX_HDRS_MAX + AX_BODY_MAX;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        ax_tls_close(s);
        return -1;
    }
    size_t len = 0;
    while (len < cap) {
        int k = SSL_read(s, buf + len, (int)(cap - len));
        if (k <= 0) break;
        len += (size_t)k;
    }
    ERR_clear_error();
    ax_tls_close(s);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    int status = -1;
    if (sep != NULL && (size_t)(sep - buf) + 2 < AX_HDRS_MAX && strncmp(buf, "HTTP/1.", 7) == 0 &&
        len > 12) {
        size_t hl = (size_t)(sep - buf) + 2; /* keep the last CRLF for ax_header */
        memcpy(out->hdrs, buf, hl);
        out->hdrs[hl] = '\0';
        size_t bl = len - hl - 2;
        if (bl > AX_BODY_MAX) bl = AX_BODY_MAX;
        memcpy(out->body, sep + 4, bl);
        out->body[bl] = '\0';
        out->body_len = bl;
        int d0 = buf[9] - '0', d1 = buf[10] - '0', d2 = buf[11] - '0';
        if (d0 >= 1 && d0 <= 5 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)
            status = d0 * 100 + d1 * 10 + d2;
    }
    free(buf);
    out->status = status;
    return status;
}

/* ------------------------------------------------------------------ UDP */

/* Pacing between datagrams: 2 ms keeps a burst of 64 probes under Linux's
 * global ICMP rate limit (1000/s, burst 50), which also applies on loopback. */
#define UDP_GAP_NS 2000000L
#define UDP_ROUNDS 2

static void udp_collect(int fd, ax_udp_state *st)
{
    char buf[64];
    ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (k >= 0) *st = AX_UDP_OPEN;
    else if (errno == ECONNREFUSED) *st = AX_UDP_CLOSED;
}

void ax_udp_probe(ax_run *a, const uint16_t *ports, size_t n, ax_udp_state *st)
{
    int fds[HEARTH_ASSESS_PORTS_MAX];
    if (n > HEARTH_ASSESS_PORTS_MAX) n = HEARTH_ASSESS_PORTS_MAX;
    for (size_t i = 0; i < n; i++) {
        fds[i] = -1;
        st[i] = AX_UDP_UNPROBED;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(a->t->host, "9", &hints, &res) != 0 || res == NULL ||
        res->ai_addrlen > sizeof(struct sockaddr_storage)) {
        if (res) freeaddrinfo(res);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = res->ai_addrlen;
    int family = res->ai_family;
    memcpy(&ss, res->ai_addr, sl);
    freeaddrinfo(res);
    for (int round = 0; round < UDP_ROUNDS; round++) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++) {
            if (st[i] != AX_UDP_UNPROBED && st[i] != AX_UDP_SILENT) continue;
            if (round > 0 && st[i] == AX_UDP_UNPROBED) continue; /* socket failed */
            if (!ax_budget(a)) break;
            if (fds[i] < 0) {
                if (family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_port = htons(ports[i]);
                else ((struct sockaddr_in *)&ss)->sin_port = htons(ports[i]);
                fds[i] = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fds[i] < 0) continue;
                if (connect(fds[i], (struct sockaddr *)&ss, sl) != 0) {
                    close(fds[i]);
                    fds[i] = -1;
                    continue;
                }
            }
            if (send(fds[i], "", 0, MSG_NOSIGNAL) < 0) {
                if (errno == ECONNREFUSED) st[i] = AX_UDP_CLOSED;
                continue;
            }
            st[i] = AX_UDP_SILENT;
            pending++;
            struct timespec gap = {.tv_sec = 0, .tv_nsec = UDP_GAP_NS};
            (void)nanosleep(&gap, NULL);
        }
        /* Wait for answers and ICMP errors, at most one probe timeout. */
        int64_t until = hearth_mono_ms() + (int64_t)a->timeout_ms;
        while (pending > 0) {
            int64_t left = until - hearth_mono_ms();
            if (left > ax_left_ms(a)) left = ax_left_ms(a);
            if (left <= 0) break;
            struct pollfd p[HEARTH_ASSESS_PORTS_MAX];
            size_t idx[HEARTH_ASSESS_PORTS_MAX], np = 0;
            for (size_t i = 0; i < n; i++) {
                if (st[i] != AX_UDP_SILENT || fds[i] < 0) continue;
                p[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                idx[np++] = i;
            }
            int k = poll(p, np, (int)left);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            for (size_t j = 0; j < np; j++) {
                if (p[j].revents == 0) continue;
                udp_collect(p[j].fd, &st[idx[j]]);
                if (st[idx[j]] != AX_UDP_SILENT) pending--;
            }
        }
        if (pending == 0) break;
    }
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}
