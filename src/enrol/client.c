/* The enrolment client: one HTTPS POST of a CSR, mutual TLS with the
 * factory identity, through the updater's TLS client (same policy: TLS 1.2+
 * AEAD, the configured CA only, host name checked). The answer is read
 * into a bounded buffer and only its status line, Content-Length and body
 * are used; the body must then pass hearth_enrol_cert_check() before it is
 * stored. */
#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/enrol.h"
#include "hearth/fetch_proto.h"
#include "hearth/tls_client.h"
#include "hearth/util.h"
#include "tls_client.h"

#define KEY_DER_MAX 4096
/* Status line + a few headers + one certificate: far below this. */
#define ANSWER_MAX (HEARTH_ENROL_CERT_MAX + 4096)
#define REQUEST_MAX (HEARTH_ENROL_CSR_MAX + 1024)

static hearth_status wait_io(int fd, int want, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - hearth_mono_ms();
        if (left <= 0) return hearth_err(HEARTH_ERR_IO, "enrolment: timed out");
        struct pollfd p = {.fd = fd, .events = (short)(want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN)};
        int r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (r > 0) return HEARTH_OK;
        if (r < 0 && errno != EINTR) return hearth_err(HEARTH_ERR_IO, "poll: %s", strerror(errno));
    }
}

static hearth_status send_all(upd_tls_conn *c, const char *buf, size_t n, int64_t deadline)
{
    size_t off = 0;
    while (off < n) {
        ERR_clear_error();
        int w = SSL_write(c->ssl, buf + off, (int)(n - off));
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return hearth_err(HEARTH_ERR_IO, "enrolment: sending the request failed");
        HEARTH_GUARD(wait_io(c->fd, e, deadline));
    }
    return HEARTH_OK;
}

/* Read until the server closes, at most ANSWER_MAX bytes. */
static hearth_status recv_all(upd_tls_conn *c, char *buf, size_t cap, size_t *n, int64_t deadline)
{
    *n = 0;
    for (;;) {
        if (*n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "enrolment: answer too large");
        ERR_clear_error();
        int r = SSL_read(c->ssl, buf + *n, (int)(cap - *n));
        if (r > 0) {
            *n += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) return HEARTH_OK;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            HEARTH_GUARD(wait_io(c->fd, e, deadline));
            continue;
        }
        /* A close without close_notify after a complete answer is still an
         * answer; the Content-Length check below catches truncation. */
        ERR_clear_error();
        return *n > 0 ? HEARTH_OK : hearth_err(HEARTH_ERR_IO, "enrolment: no answer");
    }
}

/* "HTTP/1.x DDD ...\r\n headers \r\n\r\n body": status and body; the
 * body length must equal Content-Length. */
/* The value of header @p name ("Name:") among the headers [buf, end), or
 * NULL; *vn its length (surrounding blanks are the parser's). */
static const char *header(const char *buf, const char *end, const char *name, size_t *vn)
{
    size_t nl = strlen(name);
    for (const char *h = strstr(buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, name, nl) != 0) continue;
        const char *v = h + 2 + nl, *e = strstr(v, "\r\n");
        *vn = (size_t)((e != NULL ? e : end) - v);
        return v;
    }
    return NULL;
}

static hearth_status parse_answer(char *buf, size_t n, int *status, const char **body, size_t *blen,
                                  uint32_t *retry_after_s)
{
    buf[n] = '\0';
    if (n < 12 || (memcmp(buf, "HTTP/1.1 ", 9) != 0 && memcmp(buf, "HTTP/1.0 ", 9) != 0) ||
        buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
        buf[11] > '9')
        return hearth_err(HEARTH_ERR_INVALID, "enrolment: not an HTTP answer");
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    char *end = strstr(buf, "\r\n\r\n");
    if (end == NULL) return hearth_err(HEARTH_ERR_INVALID, "enrolment: answer headers incomplete");
    *body = end + 4;
    *blen = n - (size_t)(*body - buf);
    long clen = -1;
    for (char *h = strstr(buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "Content-Length:", 15) != 0) continue;
        char *p = h + 17;
        while (*p == ' ' || *p == '\t') p++;
        char *q = NULL;
        errno = 0;
        long v = strtol(p, &q, 10);
        if (errno != 0 || q == p || v < 0 || clen >= 0)
            return hearth_err(HEARTH_ERR_INVALID, "enrolment: bad Content-Length");
        clen = v;
    }
    if (clen < 0 || (size_t)clen != *blen)
        return hearth_err(HEARTH_ERR_INVALID, "enrolment: answer truncated or without Content-Length");
    /* A busy service's hint (5.9-3), validated by the shared strict parser;
     * an invalid one is ignored (the busy backoff applies). */
    size_t ran = 0, dn = 0;
    const char *ra = (*status == 429 || *status == 503) ? header(buf, end, "Retry-After:", &ran) : NULL;
    if (ra != NULL) {
        const char *date = header(buf, end, "Date:", &dn);
        if (hearth_http_retry_hint(ra, ran, date, dn, retry_after_s) != HEARTH_OK) *retry_after_s = 0;
        hearth_err_clear();
    }
    return HEARTH_OK;
}

static hearth_status exchange(const hearth_enrol_identity *id, const hearth_fetch_url *u,
                              const uint8_t *key_der, size_t key_len, long timeout_s, int *status,
                              char *answer, size_t *alen, uint32_t *retry_after_s)
{
    char csr[HEARTH_ENROL_CSR_MAX];
    size_t csr_len = 0;
    HEARTH_GUARD(hearth_enrol_csr_make(key_der, key_len, id->cn, csr, sizeof csr, &csr_len));
    char req[REQUEST_MAX];
    char host[HEARTH_FETCH_HOST_MAX + 16];
    snprintf(host, sizeof host, u->ipv6 ? "[%s]:%u" : "%s:%u", u->host, (unsigned)u->port);
    int rl = snprintf(req, sizeof req,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/pkcs10\r\n"
                      "Accept: application/x-pem-file\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n%s",
                      u->path[0] != '\0' ? u->path : "/enrol", host, csr_len, csr);
    if (rl < 0 || (size_t)rl >= sizeof req) return hearth_err(HEARTH_ERR_TOO_LARGE, "enrolment request");
    SSL_CTX *ctx = NULL;
    HEARTH_GUARD(hearth_tls_client_ctx_new("enrolment", id->service_ca, id->factory_cert, key_der, key_len, &ctx));
    upd_tls_conn c = {.fd = -1, .ssl = NULL};
    bool tls_failed = false;
    int64_t deadline = hearth_mono_ms() + (int64_t)timeout_s * 1000;
    hearth_status st = upd_tls_connect(ctx, u, NULL, timeout_s, NULL, NULL, &c, &tls_failed);
    if (st == HEARTH_OK) st = send_all(&c, req, (size_t)rl, deadline);
    size_t n = 0;
    if (st == HEARTH_OK) st = recv_all(&c, answer, ANSWER_MAX, &n, deadline);
    upd_tls_close(&c);
    SSL_CTX_free(ctx);
    if (st != HEARTH_OK) return st;
    const char *body = NULL;
    size_t blen = 0;
    HEARTH_GUARD(parse_answer(answer, n, status, &body, &blen, retry_after_s));
    memmove(answer, body, blen);
    answer[blen] = '\0';
    *alen = blen;
    return HEARTH_OK;
}

hearth_status hearth_enrol_request(const hearth_enrol_identity *id, const char *url,
                                   const uint8_t *key_der, size_t key_len, long timeout_s,
                                   hearth_enrol_outcome *outcome, hearth_enrol_validity *v,
                                   uint32_t *retry_after_s)
{
    HEARTH_ENSURE(outcome != NULL, hearth_err(HEARTH_ERR_INVALID, "enrolment: no outcome"));
    *outcome = HEARTH_ENROL_FAILED;
    uint32_t hint = 0;
    if (retry_after_s != NULL) *retry_after_s = 0;
    HEARTH_ENSURE(id != NULL && id->service_ca != NULL && id->factory_cert != NULL &&
                      id->cn != NULL && id->state_dir != NULL && url != NULL && key_der != NULL &&
                      key_len > 0 && key_len <= KEY_DER_MAX && timeout_s > 0,
                  hearth_err(HEARTH_ERR_INVALID, "enrolment: missing argument"));
    hearth_fetch_url u;
    HEARTH_GUARD(hearth_fetch_url_split(url, &u));
    char *answer = malloc(ANSWER_MAX + 1);
    HEARTH_ENSURE(answer != NULL, hearth_err(HEARTH_ERR_NOMEM, "out of memory"));
    int status = 0;
    size_t alen = 0;
    hearth_status st = exchange(id, &u, key_der, key_len, timeout_s, &status, answer, &alen, &hint);
    if (st == HEARTH_OK) {
        if (status == 200) {
            st = hearth_enrol_cert_store(id, (const uint8_t *)answer, alen, (int64_t)time(NULL), v);
            if (st == HEARTH_OK) *outcome = HEARTH_ENROL_DONE;
        } else if (status == 401 || status == 403) {
            *outcome = HEARTH_ENROL_REFUSED;
            st = hearth_err(HEARTH_ERR_REVOKED, "enrolment refused by the service (HTTP %d)", status);
        } else if (status == 429 || status == 503) {
            *outcome = HEARTH_ENROL_BUSY;
            if (retry_after_s != NULL) *retry_after_s = hint;
            st = hearth_err(HEARTH_ERR_BUSY, "enrolment service busy (HTTP %d, retry after %u s)", status,
                            (unsigned)hint);
        } else {
            st = hearth_err(HEARTH_ERR_IO, "enrolment failed (HTTP %d)", status);
        }
    }
    free(answer);
    return st;
}
