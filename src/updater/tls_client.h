/* Internal: the updater's TLS client to the update repository, run inside
 * hearthd (EN 303 645 5.3-10, 5.5-1, 5.6-7; docs/architecture.md "The
 * update transfer").
 *
 * hearthd terminates the repository's TLS itself so that the device key
 * never leaves the process that holds it: hearth-fetch, which parses the
 * repository's HTTP, only ever sees plaintext over a socketpair
 * (relay.c). The policy is the one hearth-fetch applied with libcurl before:
 *  - the manufacturer CA is the only trust anchor (no system store, so a
 *    public CA cannot vouch for a fake repository);
 *  - the certificate must name the URL's host (DNS name or IP address);
 *  - optionally the server's public key must match a pin, with the
 *    semantics of curl's CURLOPT_PINNEDPUBLICKEY (upd_tls_pin_check());
 *  - TLS 1.2+ with ECDHE + AEAD suites only (TR 103 621 6.10 example 1), no
 *    compression, renegotiation, session resumption or tickets;
 *  - the device authenticates with its certificate and its key, loaded
 *    from the secure store into an EVP_PKEY inside hearthd;
 *  - connect + handshake bounded in time, the name resolved here.
 */
#ifndef HEARTH_UPDATER_TLS_CLIENT_H
#define HEARTH_UPDATER_TLS_CLIENT_H

#include <openssl/ssl.h>

#include "hearth/common.h"
#include "hearth/fetch_proto.h"

/** One established TLS connection to the repository. */
typedef struct {
    int fd;   /**< the TCP socket (non-blocking) */
    SSL *ssl; /**< the handshake is complete and verified */
} upd_tls_conn;

/**
 * Check @p peer against @p pin, as curl's CURLOPT_PINNEDPUBLICKEY does:
 * either "sha256//<base64>" entries separated by ';' (SHA-256 of the DER
 * SubjectPublicKeyInfo, any one may match), or the path of a PEM ("PUBLIC
 * KEY") or DER public key file to compare with. HEARTH_ERR_AUTH on a
 * mismatch, HEARTH_ERR_INVALID / HEARTH_ERR_NOT_FOUND for an unusable pin.
 */
hearth_status upd_tls_pin_check(const char *pin, EVP_PKEY *peer) HEARTH_MUST_CHECK;

/**
 * Resolve @p url's host, connect to its port and complete a verified
 * handshake (host name, then @p pin when not NULL), all within
 * @p timeout_s seconds; @p should_abort (may be NULL) is polled every
 * 200 ms. *@p tls_failed tells a refused handshake or peer (certificate,
 * host name, pin) from a network failure. On success *@p out holds the
 * connection; release it with upd_tls_close().
 */
hearth_status upd_tls_connect(SSL_CTX *ctx, const hearth_fetch_url *url, const char *pin,
                              long timeout_s, bool (*should_abort)(void *), void *abort_arg,
                              upd_tls_conn *out, bool *tls_failed) HEARTH_MUST_CHECK;

/** Close @p c (a best-effort close_notify, then the socket); idempotent. */
void upd_tls_close(upd_tls_conn *c);

#endif
