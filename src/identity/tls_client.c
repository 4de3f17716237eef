/* The device's TLS client policy (hearth/tls_client.h), shared by the
 * updater's repository connection and the MQTT link. */
#include <arpa/inet.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "hearth/tls_client.h"
#include "hearth/util.h"

/* TLS 1.2 suites: ECDHE + AEAD only, for an ECDSA or an RSA service key
 * (the service's key type is the manufacturer's choice). TLS 1.3 suites
 * are all AEAD; OpenSSL's default set is kept. */
#define CLIENT_TLS12_SUITES                                                                \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                         \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"                           \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"

/* The OpenSSL error queue as the reason for @p what; the queue is cleared. */
static hearth_status ossl_fail(hearth_status st, const char *svc, const char *what)
{
    char why[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0) ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    return hearth_err(st, "%s TLS: %s%s%s", svc, what, why[0] ? ": " : "", why);
}

hearth_status hearth_tls_client_ctx_new(const char *what, const char *ca_path, const char *cert_path,
                                        const uint8_t *key_der, size_t key_der_len, SSL_CTX **out)
{
    HEARTH_ENSURE(what != NULL && ca_path != NULL && cert_path != NULL && key_der != NULL &&
                      key_der_len > 0 && key_der_len <= (size_t)LONG_MAX && out != NULL,
                  HEARTH_ERR_INVALID);
    *out = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return ossl_fail(HEARTH_ERR_CRYPTO, what, "context");
    hearth_status st = HEARTH_OK;
    EVP_PKEY *key = NULL;
    const unsigned char *p = key_der;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, CLIENT_TLS12_SUITES) != 1) {
        st = ossl_fail(HEARTH_ERR_CRYPTO, what, "protocol policy");
        goto out;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* The service's CA and nothing else: no SSL_CTX_set_default_verify_paths. */
    if (SSL_CTX_load_verify_locations(ctx, ca_path, NULL) != 1) {
        st = ossl_fail(HEARTH_ERR_STATE, what, "CA file");
        goto out;
    }
    /* As libcurl did: a certificate in the CA file is a trust anchor even
     * when it is not self-signed (X509_V_FLAG_PARTIAL_CHAIN). */
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        st = ossl_fail(HEARTH_ERR_STATE, what, "device certificate");
        goto out;
    }
    key = d2i_AutoPrivateKey(NULL, &p, (long)key_der_len);
    if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        st = ossl_fail(HEARTH_ERR_CRYPTO, what, "device key");
        goto out;
    }
out:
    EVP_PKEY_free(key);
    if (st != HEARTH_OK) {
        SSL_CTX_free(ctx);
        return st;
    }
    *out = ctx;
    return HEARTH_OK;
}

hearth_status hearth_tls_expect_host(X509_VERIFY_PARAM *vp, const char *host, bool *is_ip)
{
    HEARTH_ENSURE(vp != NULL && host != NULL && host[0] != '\0', HEARTH_ERR_INVALID);
    unsigned char bin[16];
    bool ip = inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
    if (is_ip != NULL) *is_ip = ip;
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip) {
        /* A name set for an earlier peer must not linger. */
        if (X509_VERIFY_PARAM_set1_host(vp, NULL, 0) != 1 || X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            return hearth_err(HEARTH_ERR_INVALID, "TLS: bad peer address '%s'", host);
        return HEARTH_OK;
    }
    if (X509_VERIFY_PARAM_set1_ip(vp, NULL, 0) != 1 || X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)
        return hearth_err(HEARTH_ERR_INVALID, "TLS: bad peer host name '%s'", host);
    return HEARTH_OK;
}
