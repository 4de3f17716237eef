/* `hearth-fleet enrol-server`: the enrolment endpoint (EN 303 645 5.5-8;
 * docs/operational-identity.md). HTTPS with mutual TLS: the client must
 * present a certificate chaining to the manufacturer CA (its factory
 * certificate); POST /enrol carries a PEM CSR for that certificate's key and
 * CN (hearth_enrol_csr_check()); the answer is an operational certificate
 * from the service CA (clientAuth only, random serial, short lifetime),
 * refused for revoked devices, recorded in issued.log. HTTP parsing is
 * libevent's evhttp, bounded (body, headers, time). Each device identity and
 * each client address has a token bucket (ratelimit.h): past it, 429 with
 * Retry-After, before any signature or fsync. issued.log is pruned of
 * entries long expired at start and daily (fleet_ca_prune_issued()). */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ca.h"
#include "commands.h"
#include "fleet.h"
#include "hearth/enrol.h"
#include "hearth/util.h"
#include "ratelimit.h"

#define TLS12_SUITES                                                                       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                        \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"                          \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

typedef struct {
    const char *ca_dir;
    long lifetime_s;
    SSL_CTX *tls;
    struct event_base *base;
    fleet_rate rate;
    int64_t keep_expired_s;
    unsigned long issued, refused;
} enrol_server;

#define PRUNE_EVERY_S 86400

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet enrol-server --ca DIR --manufacturer-ca FILE --cert FILE --key FILE\n"
               "                                 --listen ADDR:PORT [--lifetime SECONDS]\n"
               "                                 [--device-burst N] [--device-refill SECONDS]\n"
               "                                 [--address-burst N] [--address-refill SECONDS]\n"
               "                                 [--rate-slots N] [--keep-expired-days DAYS]\n\n"
               "Serve POST /enrol over HTTPS with mutual TLS: devices authenticated by their\n"
               "factory certificate (manufacturer CA) get an operational certificate from the\n"
               "service CA in DIR (default lifetime %ld s, %ld..%ld). Revoked devices are\n"
               "refused (hearth-fleet revoke). --listen 127.0.0.1:0 picks a free port; the\n"
               "address is printed on stdout.\n"
               "Rate limits (429 with Retry-After past them): per device (factory certificate\n"
               "CN) a burst of %u, then one every %u s; per client address a burst of %u, then\n"
               "one every %u s (burst 0: no limit); %u entries per table (%u..%u).\n"
               "issued.log entries expired more than DAYS ago (default %d) are pruned at start\n"
               "and daily (hearth-fleet ca-prune).\n",
            HEARTH_ENROL_LIFETIME_S, HEARTH_ENROL_LIFETIME_MIN_S, HEARTH_ENROL_LIFETIME_MAX_S,
            FLEET_RATE_DEVICE_BURST, FLEET_RATE_DEVICE_REFILL_S, FLEET_RATE_ADDRESS_BURST,
            FLEET_RATE_ADDRESS_REFILL_S, FLEET_RATE_SLOTS, FLEET_RATE_SLOTS_MIN, FLEET_RATE_SLOTS_MAX,
            FLEET_CA_KEEP_EXPIRED_DAYS);
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void refuse(enrol_server *s, struct evhttp_request *req, int code, const char *reason,
                   const char *cn, const char *why)
{
    s->refused++;
    char body[320];
    int n = snprintf(body, sizeof body, "%s\n", why);
    fprintf(stderr, "hearth-fleet enrol: refused %s: %d %s\n", cn[0] ? cn : "(unknown)", code, why);
    reply(req, code, reason, "text/plain; charset=utf-8", body,
          n > 0 && (size_t)n < sizeof body ? (size_t)n : 0);
}

/* 429 with Retry-After: nothing was signed or written for it. */
static void refuse_busy(enrol_server *s, struct evhttp_request *req, const char *key, const char *which,
                        uint32_t retry_after_s)
{
    s->refused++;
    char ra[16];
    snprintf(ra, sizeof ra, "%u", retry_after_s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
    char body[96];
    int n = snprintf(body, sizeof body, "too many enrolment requests from this %s; retry after %u s\n", which,
                     retry_after_s);
    fprintf(stderr, "hearth-fleet enrol: refused %s: 429 rate limited (%s), retry after %u s\n", key, which,
            retry_after_s);
    reply(req, 429, "Too Many Requests", "text/plain; charset=utf-8", body,
          n > 0 && (size_t)n < sizeof body ? (size_t)n : 0);
}

/* The rate limit key of a device: its factory certificate's CN when that is
 * a device serial (one device, however many certificates), otherwise "!"
 * and a SHA-256 prefix of the certificate (such a request is refused by the
 * CSR check, but still counted). */
static void device_key(const unsigned char *der, int len, char key[FLEET_RATE_KEY_MAX])
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, len);
    char cn[HEARTH_ENROL_CN_MAX + 2] = "";
    int n = x != NULL ? X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) : -1;
    X509_free(x);
    if (n > 0 && (size_t)n == strlen(cn) && fleet_ca_valid_id(cn)) {
        snprintf(key, FLEET_RATE_KEY_MAX, "%s", cn);
        return;
    }
    ERR_clear_error();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    key[0] = '!';
    key[1] = '\0';
    if (EVP_Digest(der, (size_t)len, md, &ml, EVP_sha256(), NULL) != 1 || ml < 20) return;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 20; i++) {
        key[1 + 2 * i] = hex[md[i] >> 4];
        key[2 + 2 * i] = hex[md[i] & 15];
    }
    key[41] = '\0';
}

/* The verified peer certificate of this request's TLS connection, DER. */
static int peer_der(struct evhttp_request *req, unsigned char **der)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK) return -1;
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer == NULL) return -1;
    *der = NULL;
    int n = i2d_X509(peer, der);
    X509_free(peer);
    return n;
}

/* Issue under the CA lock: the revocation check, the issue and its record
 * are one step with respect to `hearth-fleet revoke`. */
static hearth_status issue_locked(enrol_server *s, const char *cn, const unsigned char *fder, int fl,
                                  char **pem, size_t *pl, bool *revoked, char serial[HEARTH_ENROL_SERIAL_HEX_MAX])
{
    const unsigned char *p = fder;
    X509 *factory = d2i_X509(NULL, &p, fl);
    unsigned char *spki = NULL;
    int sl = factory != NULL ? i2d_PUBKEY(X509_get0_pubkey(factory), &spki) : -1;
    X509_free(factory);
    if (sl <= 0) {
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "factory certificate key");
    }
    int lock = -1;
    hearth_status st = fleet_ca_lock(s->ca_dir, &lock);
    if (st == HEARTH_OK) st = fleet_ca_is_revoked(s->ca_dir, cn, revoked);
    if (st == HEARTH_OK && !*revoked) {
        hearth_cert_spec spec = {.cn = cn, .spki_der = spki, .spki_len = (size_t)sl,
                                 .server = false, .san = NULL, .lifetime_s = s->lifetime_s};
        st = hearth_service_ca_issue(s->ca_dir, &spec, pem, pl, serial);
        if (st == HEARTH_OK)
            st = fleet_ca_record_issue(s->ca_dir, serial, cn, (int64_t)time(NULL) + s->lifetime_s);
        if (st != HEARTH_OK) {
            free(*pem);
            *pem = NULL;
        }
    }
    fleet_ca_unlock(lock);
    OPENSSL_free(spki);
    return st;
}

static void on_enrol(struct evhttp_request *req, void *arg)
{
    enrol_server *s = arg;
    char cn[HEARTH_ENROL_CN_MAX + 1] = "";
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        refuse(s, req, 405, "Method Not Allowed", cn, "POST a PEM CSR");
        return;
    }
    unsigned char *fder = NULL;
    int fl = peer_der(req, &fder);
    if (fl <= 0) {
        refuse(s, req, 403, "Forbidden", cn, "no verified factory certificate");
        return;
    }
    char dkey[FLEET_RATE_KEY_MAX];
    device_key(fder, fl, dkey);
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    uint32_t retry_after = 0;
    const char *which = NULL;
    if (!fleet_rate_admit(&s->rate, dkey, addr != NULL ? addr : "", hearth_mono_ms(), &retry_after, &which)) {
        OPENSSL_free(fder);
        refuse_busy(s, req, dkey, which, retry_after);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len == 0 || len > HEARTH_ENROL_CSR_MAX) {
        OPENSSL_free(fder);
        refuse(s, req, len == 0 ? 400 : 413, len == 0 ? "Bad Request" : "Payload Too Large", cn,
               "the body must be one PEM CSR");
        return;
    }
    const uint8_t *body = evbuffer_pullup(in, (ev_ssize_t)len);
    hearth_status st = hearth_enrol_csr_check(body, len, fder, (size_t)fl, cn);
    if (st != HEARTH_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        OPENSSL_free(fder);
        if (st == HEARTH_ERR_AUTH) refuse(s, req, 403, "Forbidden", cn, why);
        else refuse(s, req, 400, "Bad Request", cn, why);
        return;
    }
    char *pem = NULL;
    size_t pl = 0;
    bool revoked = false;
    char serial[HEARTH_ENROL_SERIAL_HEX_MAX] = "";
    st = issue_locked(s, cn, fder, fl, &pem, &pl, &revoked, serial);
    OPENSSL_free(fder);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet enrol: %s: %s\n", cn, hearth_err_msg());
        refuse(s, req, 500, "Internal Server Error", cn, "could not issue");
        return;
    }
    if (revoked) {
        refuse(s, req, 403, "Forbidden", cn, "device revoked");
        return;
    }
    s->issued++;
    fprintf(stderr, "hearth-fleet enrol: issued %s serial %s for %ld s\n", cn, serial, s->lifetime_s);
    reply(req, 200, "OK", "application/x-pem-file", pem, pl);
    free(pem);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_error(req, 404, "Not Found");
}

static struct bufferevent *on_conn(struct event_base *base, void *arg)
{
    enrol_server *s = arg;
    SSL *ssl = SSL_new(s->tls);
    if (ssl == NULL) return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static hearth_status tls_ctx(const char *mca, const char *cert, const char *key, SSL_CTX **out)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (c == NULL || SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(c, TLS12_SUITES) != 1 ||
        SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(c) != 1 ||
        SSL_CTX_load_verify_locations(c, mca, NULL) != 1) {
        char why[200] = "";
        ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
        ERR_clear_error();
        SSL_CTX_free(c);
        return hearth_err(HEARTH_ERR_INVALID, "TLS setup: %s", why);
    }
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Only devices: a client certificate from the manufacturer CA (valid now). */
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(c, 2);
    X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(c), X509_PURPOSE_SSL_CLIENT);
    *out = c;
    return HEARTH_OK;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(((enrol_server *)arg)->base, NULL);
}

static void prune(enrol_server *s)
{
    int lock = -1;
    size_t kept = 0, pruned = 0, odd = 0;
    hearth_status st = fleet_ca_lock(s->ca_dir, &lock);
    if (st == HEARTH_OK)
        st = fleet_ca_prune_issued(s->ca_dir, (int64_t)time(NULL), s->keep_expired_s, &kept, &pruned, &odd);
    fleet_ca_unlock(lock);
    if (st != HEARTH_OK) fprintf(stderr, "hearth-fleet enrol: pruning %s: %s\n", FLEET_CA_ISSUED, hearth_err_msg());
    else fprintf(stderr, "hearth-fleet enrol: %s: %zu kept, %zu pruned, %zu unreadable kept\n", FLEET_CA_ISSUED,
                 kept, pruned, odd);
}

static void on_prune(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    prune(arg);
}

/* --NAME VALUE for an unsigned option in [lo, hi]; false after a message. */
static bool opt_u32(const char *o, const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t x = 0;
    if (fleet_uint(v, lo, hi, &x) == HEARTH_OK) {
        *out = (uint32_t)x;
        return true;
    }
    hearth_err_clear();
    fprintf(stderr, "hearth-fleet enrol-server: %s must be %u..%u\n", o, lo, hi);
    return false;
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *c = strrchr(s, ':');
    if (c == NULL || (size_t)(c - s) >= sizeof host) return -1;
    memcpy(host, s, (size_t)(c - s));
    host[c - s] = '\0';
    char *end = NULL;
    long port = strtol(c + 1, &end, 10);
    if (end == c + 1 || *end != '\0' || port < 0 || port > 65535) return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int fleet_cmd_enrol_server(int argc, char **argv)
{
    const char *ca = NULL, *mca = NULL, *cert = NULL, *key = NULL, *listen_at = NULL;
    long lifetime = HEARTH_ENROL_LIFETIME_S;
    fleet_rate_rule dev = {FLEET_RATE_DEVICE_BURST, FLEET_RATE_DEVICE_REFILL_S};
    fleet_rate_rule adr = {FLEET_RATE_ADDRESS_BURST, FLEET_RATE_ADDRESS_REFILL_S};
    uint32_t slots = FLEET_RATE_SLOTS, keep_days = FLEET_CA_KEEP_EXPIRED_DAYS;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(o, "--ca") == 0) ca = v;
        else if (strcmp(o, "--manufacturer-ca") == 0) mca = v;
        else if (strcmp(o, "--cert") == 0) cert = v;
        else if (strcmp(o, "--key") == 0) key = v;
        else if (strcmp(o, "--listen") == 0) listen_at = v;
        else if (strcmp(o, "--lifetime") == 0) {
            char *end = NULL;
            lifetime = strtol(v, &end, 10);
            if (end == v || *end != '\0' || lifetime < HEARTH_ENROL_LIFETIME_MIN_S ||
                lifetime > HEARTH_ENROL_LIFETIME_MAX_S) {
                fprintf(stderr, "hearth-fleet enrol-server: --lifetime must be %ld..%ld seconds\n",
                        HEARTH_ENROL_LIFETIME_MIN_S, HEARTH_ENROL_LIFETIME_MAX_S);
                return 2;
            }
        } else if (strcmp(o, "--device-burst") == 0) {
            if (!opt_u32(o, v, 0, FLEET_RATE_BURST_MAX, &dev.burst)) return 2;
        } else if (strcmp(o, "--device-refill") == 0) {
            if (!opt_u32(o, v, 1, FLEET_RATE_REFILL_MAX_S, &dev.refill_s)) return 2;
        } else if (strcmp(o, "--address-burst") == 0) {
            if (!opt_u32(o, v, 0, FLEET_RATE_BURST_MAX, &adr.burst)) return 2;
        } else if (strcmp(o, "--address-refill") == 0) {
            if (!opt_u32(o, v, 1, FLEET_RATE_REFILL_MAX_S, &adr.refill_s)) return 2;
        } else if (strcmp(o, "--rate-slots") == 0) {
            if (!opt_u32(o, v, FLEET_RATE_SLOTS_MIN, FLEET_RATE_SLOTS_MAX, &slots)) return 2;
        } else if (strcmp(o, "--keep-expired-days") == 0) {
            if (!opt_u32(o, v, FLEET_CA_KEEP_EXPIRED_MIN_DAYS, FLEET_CA_KEEP_EXPIRED_MAX_DAYS, &keep_days)) return 2;
        } else {
            usage(stderr);
            return 2;
        }
    }
    struct sockaddr_in sa;
    if (ca == NULL || mca == NULL || cert == NULL || key == NULL || listen_at == NULL ||
        parse_listen(listen_at, &sa) != 0) {
        usage(stderr);
        return 2;
    }
    enrol_server s = {.ca_dir = ca, .lifetime_s = lifetime, .keep_expired_s = (int64_t)keep_days * 86400};
    if (fleet_rate_init(&s.rate, &dev, &adr, slots) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet enrol-server: %s\n", hearth_err_msg());
        return 1;
    }
    if (tls_ctx(mca, cert, key, &s.tls) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet enrol-server: %s\n", hearth_err_msg());
        fleet_rate_free(&s.rate);
        return 1;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    s.base = event_base_new();
    struct evhttp *http = s.base != NULL ? evhttp_new(s.base) : NULL;
    struct event *sigs[2] = {NULL, NULL};
    struct event *daily = NULL;
    int rc = 1;
    if (http == NULL) goto out;
    evhttp_set_bevcb(http, on_conn, &s);
    evhttp_set_max_body_size(http, HEARTH_ENROL_CSR_MAX);
    evhttp_set_max_headers_size(http, 8192);
    evhttp_set_timeout(http, 10);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
    evhttp_set_cb(http, "/enrol", on_enrol, &s);
    evhttp_set_gencb(http, on_other, &s);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(
        http, inet_ntoa(sa.sin_addr), ntohs(sa.sin_port));
    if (bs == NULL) {
        fprintf(stderr, "hearth-fleet enrol-server: cannot listen on %s\n", listen_at);
        goto out;
    }
    struct sockaddr_in bound;
    socklen_t bl = sizeof bound;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&bound, &bl) != 0) goto out;
    sigs[0] = evsignal_new(s.base, SIGTERM, on_signal, &s);
    sigs[1] = evsignal_new(s.base, SIGINT, on_signal, &s);
    if (sigs[0] == NULL || sigs[1] == NULL || event_add(sigs[0], NULL) != 0 || event_add(sigs[1], NULL) != 0)
        goto out;
    const struct timeval every = {.tv_sec = PRUNE_EVERY_S, .tv_usec = 0};
    daily = event_new(s.base, -1, EV_PERSIST, on_prune, &s);
    if (daily == NULL || event_add(daily, &every) != 0) goto out;
    prune(&s);
    printf("hearth-fleet: enrol-server listening on https://%s:%u/enrol\n", inet_ntoa(bound.sin_addr),
           (unsigned)ntohs(bound.sin_port));
    if (fflush(stdout) != 0) goto out; /* the address must reach whoever started us */
    event_base_dispatch(s.base);
    fprintf(stderr, "hearth-fleet enrol: stopping (%lu issued, %lu refused, %lu rate limited, %lu rate entries evicted)\n",
            s.issued, s.refused, s.rate.refused, s.rate.evicted);
    rc = 0;
out:
    for (int i = 0; i < 2; i++)
        if (sigs[i] != NULL) event_free(sigs[i]);
    if (daily != NULL) event_free(daily);
    if (http != NULL) evhttp_free(http);
    if (s.base != NULL) event_base_free(s.base);
    SSL_CTX_free(s.tls);
    fleet_rate_free(&s.rate);
    return rc;
}
