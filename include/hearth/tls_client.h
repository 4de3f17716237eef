/**
 * @file tls_client.h
 * @brief The device's TLS client policy, shared by every connection the
 *        device opens to a service with its own identity: the update
 *        repository (src/updater) and the MQTT broker (src/link)
 *        (EN 303 645 5.5-1, 5.5-7; TR 103 621 6.10 example 1).
 *
 *  - one CA file is the only trust anchor (no system store, so a public CA
 *    cannot vouch for a fake service); a certificate in it is an anchor
 *    even when not self-signed (X509_V_FLAG_PARTIAL_CHAIN);
 *  - TLS 1.2+ with ECDHE + AEAD suites only (TLS 1.3: OpenSSL's AEAD set),
 *    no compression, renegotiation, session resumption or tickets;
 *  - the device authenticates with a certificate chain and its private key,
 *    handed over as DER and copied into an OpenSSL key object in memory
 *    (the caller wipes its buffer): the key is never written to a file;
 *  - the peer certificate must name the expected host (DNS name without
 *    partial wildcards, or IP address): hearth_tls_expect_host().
 */
#ifndef HEARTH_TLS_CLIENT_H
#define HEARTH_TLS_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Build a client context: trust @p ca_path only, verify the peer, present
 * @p cert_path (PEM chain) with the PKCS#8/SEC1 DER private key @p key_der.
 * The key and certificate must match. @p what names the service in error
 * messages ("repository", "broker"). Free with SSL_CTX_free().
 */
hearth_status hearth_tls_client_ctx_new(const char *what, const char *ca_path, const char *cert_path,
                                        const uint8_t *key_der, size_t key_der_len,
                                        SSL_CTX **out) HEARTH_MUST_CHECK;

/**
 * Make @p vp (an SSL's or an SSL_CTX's verification parameters) require a
 * peer certificate naming @p host: an IP address literal as an iPAddress,
 * anything else as a DNS name (no partial wildcards). *@p is_ip (may be
 * NULL) tells which, so a caller sends SNI only for names.
 */
hearth_status hearth_tls_expect_host(X509_VERIFY_PARAM *vp, const char *host,
                                     bool *is_ip) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
