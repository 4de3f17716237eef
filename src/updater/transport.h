/* Internal: HTTPS client for the update repository (libcurl), mutually
 * authenticated and pinned to the manufacturer CA (EN 303 645 5.3-10, 5.5-1).
 * Not part of the public API; used by updater.c and the unit tests. */
#ifndef HEARTH_UPDATER_TRANSPORT_H
#define HEARTH_UPDATER_TRANSPORT_H

#include "hearth/common.h"
#include "hearth/util.h"

/** TLS parameters of one repository connection. Every pointer is borrowed. */
typedef struct {
    const char *ca_path;       /**< manufacturer CA (the only trust anchor) */
    const char *cert_path;     /**< device certificate (PEM) for client auth */
    const char *key_pem;       /**< device private key as PEM, in memory only */
    size_t key_pem_len;
    const char *pinned_pubkey; /**< optional CURLOPT_PINNEDPUBLICKEY value, NULL: none */
    long connect_timeout_s;    /**< connect + TLS handshake bound */
    long stall_timeout_s;      /**< abort when < 1 byte/s for this long */
    bool (*should_abort)(void *arg); /**< polled during transfers (shutdown), may be NULL */
    void *abort_arg;
} upd_tls;

/**
 * Streaming sink: receives the body as it arrives. A non-OK return aborts the
 * transfer at once (tampered chunk, disk error); that status is returned by
 * upd_http_stream().
 */
typedef hearth_status (*upd_sink_fn)(const uint8_t *data, size_t n, void *arg);

/** Outcome details of a transfer, for logs and tests. */
typedef struct {
    long http_code;       /**< last HTTP status (0: none) */
    uint64_t received;    /**< body bytes handed to the sink */
    bool overflow;        /**< the server sent (or announced) more than allowed */
    bool tls_failed;      /**< the TLS handshake / peer verification failed */
} upd_http_result;

/** One-time libcurl initialisation (thread-safe, idempotent). */
hearth_status upd_http_global_init(void) HEARTH_MUST_CHECK;

/**
 * GET @p url from byte @p offset (Range request when > 0; the server must
 * answer 206 from exactly that offset) and stream at most @p max_bytes body
 * bytes into @p sink. A server that announces or sends more aborts with
 * HEARTH_ERR_TOO_LARGE as soon as it is detected (endless-data attack).
 * Anything but 200/206 is HEARTH_ERR_NOT_FOUND (404) or HEARTH_ERR_IO.
 */
hearth_status upd_http_stream(const upd_tls *tls, const char *url, uint64_t offset,
                              uint64_t max_bytes, upd_sink_fn sink, void *arg,
                              upd_http_result *res) HEARTH_MUST_CHECK;

/**
 * Convert a PKCS#8 DER private key to PEM in a caller buffer (no temporary
 * copies elsewhere; the caller wipes @p out). @p out needs
 * upd_pem_len(der_len) bytes.
 */
size_t upd_pem_len(size_t der_len);
hearth_status upd_der_to_pem(const uint8_t *der, size_t der_len, char *out, size_t cap,
                             size_t *out_len) HEARTH_MUST_CHECK;

#endif
