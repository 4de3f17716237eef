/*
 * Server TLS configuration (EN 303 645 5.5-1, 5.5-7): best-practice TLS only.
 *  - TLS 1.2 minimum: 1.0/1.1 are refused with a protocol_version alert.
 *  - TLS 1.3 with OpenSSL's default AEAD suites.
 *  - TLS 1.2 only with ECDHE (forward secrecy) + AEAD suites for the device's
 *    ECDSA P-256 key: no CBC, no static-RSA key exchange, no NULL/RC4/3DES.
 *  - no compression (CRIME), no renegotiation, server cipher preference.
 */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include "hearthd.h"

#define TLS12_SUITES                                                                        \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                         \
    "ECDHE-ECDSA-CHACHA20-POLY1305"
#define KEY_DER_MAX 4096

static hearth_status tls_fail(const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return hearth_err(HEARTH_ERR_CRYPTO, "tls: %s: %s", what, buf);
}

static hearth_status load_key(SSL_CTX *ctx, hearth_device *dev)
{
    uint8_t *der = malloc(KEY_DER_MAX);
    HEARTH_ENSURE(der != NULL, hearth_err(HEARTH_ERR_NOMEM, "tls: out of memory"));
    size_t len = 0;
    hearth_status st = hearth_device_private_key_der(dev, der, KEY_DER_MAX, &len);
    if (st == HEARTH_OK) {
        const unsigned char *p = der;
        EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
        if (pk == NULL) {
            st = tls_fail("decode device private key");
        } else {
            if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) st = tls_fail("use device private key");
            EVP_PKEY_free(pk);
        }
    }
    hearth_memzero(der, KEY_DER_MAX);
    free(der);
    return st;
}

hearth_status hearthd_tls_ctx(hearth_device *dev, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) return tls_fail("SSL_CTX_new");
    hearth_status st = HEARTH_OK;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        st = tls_fail("set minimum version");
        goto out;
    }
    if (SSL_CTX_set_cipher_list(ctx, TLS12_SUITES) != 1) {
        st = tls_fail("set TLS 1.2 suites");
        goto out;
    }
    if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
        st = tls_fail("set groups");
        goto out;
    }
    /* SSL_OP_CLEANSE_PLAINTEXT: OpenSSL decrypts records in place and would
     * otherwise keep the plaintext (passwords, tokens) in its read buffer
     * until the next record overwrites it; with it, what the application
     * has read is zeroed at once. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_CLEANSE_PLAINTEXT);
    /* No SSL_MODE_RELEASE_BUFFERS: it frees and wipes both 16 KiB record
     * buffers after every record, which showed up as a tenth of the CPU time
     * per keep-alive request. An open connection keeps ~34 KiB instead; the
     * connection cap (64) bounds that, and an idle daemon has none. */
    if (SSL_CTX_use_certificate_chain_file(ctx, hearth_device_cert_path(dev)) != 1) {
        st = tls_fail("load device certificate");
        goto out;
    }
    st = load_key(ctx, dev);
    if (st != HEARTH_OK) goto out;
    if (SSL_CTX_check_private_key(ctx) != 1) {
        st = tls_fail("certificate and private key do not match");
        goto out;
    }
out:
    if (st != HEARTH_OK) {
        SSL_CTX_free(ctx);
        return st;
    }
    *out = ctx;
    return HEARTH_OK;
}
