/* The updater's TLS client (policy in tls_client.h). Everything here runs
 * in hearthd, which holds the device key; nothing of the repository's HTTP
 * is parsed here (that is hearth-fetch's job, over the plaintext relay). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hearth/util.h"
#include "hearth/tls_client.h"
#include "tls_client.h"

/* A pin file is a public key: anything larger is not one. */
#define PIN_FILE_MAX 65536

/* The OpenSSL error queue as the reason for @p what; the queue is cleared. */
static hearth_status ossl_fail(hearth_status st, const char *what)
{
    char why[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0) ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    return hearth_err(st, "repository TLS: %s%s%s", what, why[0] ? ": " : "", why);
}

/* ------------------------------------------------------------ pinning */

/* "sha256//A;sha256//B": does base64(SHA-256(spki)) equal one entry? */
static hearth_status pin_hashes(const char *pin, const uint8_t *spki, size_t spki_len)
{
    static const char pfx[] = "sha256//";
    uint8_t md[32];
    char b64[48];
    unsigned int mdl = 0;
    if (EVP_Digest(spki, spki_len, md, &mdl, EVP_sha256(), NULL) != 1 || mdl != sizeof md)
        return ossl_fail(HEARTH_ERR_CRYPTO, "public key hash");
    int bl = EVP_EncodeBlock((unsigned char *)b64, md, (int)sizeof md);
    for (const char *e = pin; *e != '\0';) {
        const char *end = strchr(e, ';');
        size_t n = end != NULL ? (size_t)(end - e) : strlen(e);
        if (n < sizeof pfx - 1 || strncmp(e, pfx, sizeof pfx - 1) != 0)
            return hearth_err(HEARTH_ERR_INVALID, "repository pin: every entry must be sha256//<base64>");
        if (n - (sizeof pfx - 1) == (size_t)bl && memcmp(e + sizeof pfx - 1, b64, (size_t)bl) == 0)
            return HEARTH_OK;
        e += n;
        if (*e == ';') e++;
    }
    return hearth_err(HEARTH_ERR_AUTH, "repository public key does not match the pin");
}

/* A public key file (PEM "PUBLIC KEY" or DER): is it the peer's key? */
static hearth_status pin_file(const char *path, const uint8_t *spki, size_t spki_len)
{
    uint8_t *f = NULL;
    size_t fl = 0;
    HEARTH_GUARD(hearth_fs_read_file(path, PIN_FILE_MAX, &f, &fl));
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf(f, (int)fl);
    if (b != NULL) k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    if (k == NULL) {
        const unsigned char *p = f;
        k = d2i_PUBKEY(NULL, &p, (long)fl);
    }
    BIO_free(b);
    free(f);
    ERR_clear_error();
    if (k == NULL) return hearth_err(HEARTH_ERR_INVALID, "repository pin file holds no public key");
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    EVP_PKEY_free(k);
    hearth_status st = HEARTH_OK;
    if (dl <= 0)
        st = ossl_fail(HEARTH_ERR_CRYPTO, "pin encoding");
    else if ((size_t)dl != spki_len || memcmp(der, spki, spki_len) != 0)
        st = hearth_err(HEARTH_ERR_AUTH, "repository public key does not match the pin");
    OPENSSL_free(der);
    return st;
}

hearth_status upd_tls_pin_check(const char *pin, EVP_PKEY *peer)
{
    HEARTH_ENSURE(pin != NULL && peer != NULL, HEARTH_ERR_INVALID);
    unsigned char *spki = NULL;
    int sl = i2d_PUBKEY(peer, &spki);
    if (sl <= 0) return ossl_fail(HEARTH_ERR_CRYPTO, "peer public key");
    hearth_status st = strncmp(pin, "sha256//", 8) == 0 ? pin_hashes(pin, spki, (size_t)sl)
                                                        : pin_file(pin, spki, (size_t)sl);
    OPENSSL_free(spki);
    return st;
}

/* ------------------------------------------------------------ connect */

typedef struct {
    int64_t deadline;
    bool (*should_abort)(void *);
    void *arg;
} bound;

/* Wait for @p events on @p fd within the bound. */
static hearth_status bound_wait(const bound *b, int fd, short events, const char *what)
{
    for (;;) {
        if (b->should_abort != NULL && b->should_abort(b->arg))
            return hearth_err(HEARTH_ERR_IO, "download aborted (shutting down)");
        int64_t left = b->deadline - hearth_mono_ms();
        if (left <= 0) return hearth_err(HEARTH_ERR_IO, "repository %s timed out", what);
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left < 200 ? (int)left : 200);
        if (r < 0 && errno != EINTR) return hearth_err(HEARTH_ERR_IO, "poll: %s", strerror(errno));
        if (r > 0) return HEARTH_OK;
    }
}

static hearth_status connect_one(const struct addrinfo *ai, const bound *b, int *out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "socket: %s", strerror(errno));
    hearth_status st = HEARTH_OK;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            st = hearth_err(HEARTH_ERR_IO, "cannot connect to the repository: %s", strerror(errno));
        } else {
            st = bound_wait(b, fd, POLLOUT, "connection");
            int err = 0;
            socklen_t el = sizeof err;
            if (st == HEARTH_OK && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0))
                st = hearth_err(HEARTH_ERR_IO, "cannot connect to the repository: %s", strerror(err ? err : errno));
        }
    }
    if (st != HEARTH_OK) {
        close(fd);
        return st;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return HEARTH_OK;
}

/* Name resolution happens here, in hearthd, never in hearth-fetch. */
static hearth_status tcp_connect(const hearth_fetch_url *u, const bound *b, int *out)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)u->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (u->ipv6 ? AI_NUMERICHOST : 0)};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0) return hearth_err(HEARTH_ERR_IO, "cannot resolve %s: %s", u->host, gai_strerror(rc));
    hearth_status st = hearth_err(HEARTH_ERR_IO, "%s has no address", u->host);
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        st = connect_one(ai, b, out);
        if (st == HEARTH_OK || hearth_mono_ms() >= b->deadline) break;
    }
    freeaddrinfo(res);
    return st;
}

/* Host name (or IP address) the certificate must carry; SNI for names. */
static hearth_status expect_host(SSL *ssl, const hearth_fetch_url *u)
{
    bool ip = false;
    HEARTH_GUARD(hearth_tls_expect_host(SSL_get0_param(ssl), u->host, &ip));
    if (!ip && SSL_set_tlsext_host_name(ssl, u->host) != 1)
        return ossl_fail(HEARTH_ERR_INVALID, "repository host name");
    return HEARTH_OK;
}

/* *refused: the handshake failed on the peer's or the protocol's account
 * (certificate, host name, alert), not on time, shutdown or the network. */
static hearth_status handshake(SSL *ssl, int fd, const bound *b, bool *refused)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1) return HEARTH_OK;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            HEARTH_GUARD(bound_wait(b, fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, "TLS handshake"));
            continue;
        }
        long vr = SSL_get_verify_result(ssl);
        *refused = e == SSL_ERROR_SSL || vr != X509_V_OK;
        if (vr != X509_V_OK) {
            ERR_clear_error();
            return hearth_err(HEARTH_ERR_IO, "repository TLS: certificate refused: %s",
                              X509_verify_cert_error_string(vr));
        }
        return ossl_fail(HEARTH_ERR_IO, "handshake failed");
    }
}

static hearth_status check_pin(SSL *ssl, const char *pin)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer == NULL) return hearth_err(HEARTH_ERR_AUTH, "repository sent no certificate");
    hearth_status st = upd_tls_pin_check(pin, X509_get0_pubkey(peer));
    X509_free(peer);
    return st;
}

hearth_status upd_tls_connect(SSL_CTX *ctx, const hearth_fetch_url *url, const char *pin,
                              long timeout_s, bool (*should_abort)(void *), void *abort_arg,
                              upd_tls_conn *out, bool *tls_failed)
{
    HEARTH_ENSURE(ctx != NULL && url != NULL && out != NULL && tls_failed != NULL && timeout_s > 0,
                  HEARTH_ERR_INVALID);
    out->fd = -1;
    out->ssl = NULL;
    *tls_failed = false;
    bound b = {.deadline = hearth_mono_ms() + (int64_t)timeout_s * 1000, .should_abort = should_abort,
               .arg = abort_arg};
    HEARTH_GUARD(tcp_connect(url, &b, &out->fd));
    hearth_status st = HEARTH_OK;
    out->ssl = SSL_new(ctx);
    if (out->ssl == NULL || SSL_set_fd(out->ssl, out->fd) != 1) st = ossl_fail(HEARTH_ERR_NOMEM, "connection");
    if (st == HEARTH_OK) st = expect_host(out->ssl, url);
    if (st == HEARTH_OK) {
        st = handshake(out->ssl, out->fd, &b, tls_failed);
    }
    if (st == HEARTH_OK && pin != NULL) {
        st = check_pin(out->ssl, pin);
        if (st != HEARTH_OK) {
            *tls_failed = true;
            st = hearth_err(HEARTH_ERR_IO, "repository TLS: %s", hearth_err_msg());
        }
    }
    if (st != HEARTH_OK) upd_tls_close(out);
    return st;
}

void upd_tls_close(upd_tls_conn *c)
{
    if (c->ssl != NULL) {
        (void)SSL_shutdown(c->ssl); /* one non-blocking attempt: close_notify */
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}
