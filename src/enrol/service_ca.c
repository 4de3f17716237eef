/* The service CA: issuing operational, broker and fleet certificates and
 * the CRL (EN 303 645 5.5-8). The CA directory has the format of
 * hearth_ca_init() and the same key checks (hearth_identity_load_ca(): the
 * key must be 0600); certificates are built by the identity module's one
 * certificate builder. */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrol_internal.h"
#include "hearth/enrol.h"
#include "hearth/util.h"
#include "identity_internal.h"

static hearth_status serial_hex(X509 *x, char out[HEARTH_ENROL_SERIAL_HEX_MAX])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (hex == NULL) return enrol_ossl_fail(HEARTH_ERR_CRYPTO, "certificate serial");
    size_t n = strlen(hex);
    hearth_status st = HEARTH_OK;
    if (n >= HEARTH_ENROL_SERIAL_HEX_MAX) {
        st = hearth_err(HEARTH_ERR_INTERNAL, "certificate serial too long");
    } else {
        for (size_t i = 0; i <= n; i++)
            out[i] = (char)((hex[i] >= 'A' && hex[i] <= 'F') ? hex[i] + 32 : hex[i]);
    }
    OPENSSL_free(hex);
    return st;
}

hearth_status hearth_service_ca_issue(const char *ca_dir, const hearth_cert_spec *spec, char **pem,
                                      size_t *pem_len, char serial[HEARTH_ENROL_SERIAL_HEX_MAX])
{
    HEARTH_ENSURE(ca_dir != NULL && spec != NULL && spec->cn != NULL && spec->spki_der != NULL &&
                      spec->spki_len > 0 && spec->spki_len < 4096 && pem != NULL && pem_len != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "certificate issue: missing argument"));
    *pem = NULL;
    *pem_len = 0;
    HEARTH_ENSURE(spec->lifetime_s > 0 && spec->lifetime_s <= 825L * 86400,
                  hearth_err(HEARTH_ERR_RANGE, "certificate lifetime out of range"));
    const unsigned char *p = spec->spki_der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spec->spki_len);
    if (pub == NULL || p != spec->spki_der + spec->spki_len) {
        EVP_PKEY_free(pub);
        return enrol_ossl_fail(HEARTH_ERR_INVALID, "certificate issue: public key");
    }
    EVP_PKEY *ca_key = NULL;
    X509 *ca_crt = NULL, *x = NULL;
    hearth_status st = hearth_identity_load_ca(ca_dir, &ca_key, &ca_crt);
    /* Clock skew allowance: an hour, but never a large part of a short
     * lifetime (renewal is due after 2/3 of notBefore..notAfter). */
    long backdate = spec->lifetime_s / 10 < 3600 ? spec->lifetime_s / 10 : 3600;
    if (st == HEARTH_OK)
        st = hearth_identity_issue_leaf_cert(ca_key, ca_crt, pub, spec->cn, spec->server,
                                             spec->server ? spec->san : NULL, spec->lifetime_s,
                                             backdate, &x);
    if (st == HEARTH_OK) st = serial_hex(x, serial);
    if (st == HEARTH_OK) st = hearth_identity_cert_pem(x, pem, pem_len);
    X509_free(x);
    X509_free(ca_crt);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(pub);
    return st;
}

static hearth_status crl_add(X509_CRL *crl, const char *hex, ASN1_TIME *when)
{
    BIGNUM *bn = NULL;
    size_t n = strlen(hex);
    if (n == 0 || n >= HEARTH_ENROL_SERIAL_HEX_MAX || strspn(hex, "0123456789abcdef") != n)
        return hearth_err(HEARTH_ERR_INVALID, "CRL: bad serial '%.40s'", hex);
    if (BN_hex2bn(&bn, hex) == 0) return enrol_ossl_fail(HEARTH_ERR_INVALID, "CRL serial");
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    hearth_status st = HEARTH_OK;
    if (r == NULL || ai == NULL || X509_REVOKED_set_serialNumber(r, ai) != 1 ||
        X509_REVOKED_set_revocationDate(r, when) != 1 || X509_CRL_add0_revoked(crl, r) != 1) {
        st = enrol_ossl_fail(HEARTH_ERR_CRYPTO, "CRL entry");
        X509_REVOKED_free(r);
    }
    ASN1_INTEGER_free(ai);
    return st;
}

static hearth_status crl_build(EVP_PKEY *key, X509 *ca, const char *const *serials, size_t n,
                               long valid_s, X509_CRL **out)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = ASN1_TIME_new(), *next = ASN1_TIME_new();
    hearth_status st = HEARTH_OK;
    if (crl == NULL || now == NULL || next == NULL || X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
        X509_gmtime_adj(now, 0) == NULL || X509_gmtime_adj(next, valid_s) == NULL ||
        X509_CRL_set1_lastUpdate(crl, now) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1) {
        st = enrol_ossl_fail(HEARTH_ERR_CRYPTO, "CRL");
        goto done;
    }
    for (size_t i = 0; i < n && st == HEARTH_OK; i++) st = crl_add(crl, serials[i], now);
    if (st != HEARTH_OK) goto done;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    X509_EXTENSION *aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (aki == NULL || X509_CRL_add_ext(crl, aki, -1) != 1 || X509_CRL_sort(crl) != 1 ||
        X509_CRL_sign(crl, key, EVP_sha256()) <= 0)
        st = enrol_ossl_fail(HEARTH_ERR_CRYPTO, "sign CRL");
    X509_EXTENSION_free(aki);
done:
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    if (st != HEARTH_OK) {
        X509_CRL_free(crl);
        crl = NULL;
    }
    *out = crl;
    return st;
}

hearth_status hearth_service_ca_crl(const char *ca_dir, const char *const *serials, size_t n,
                                    long valid_s, const char *out_path)
{
    HEARTH_ENSURE(ca_dir != NULL && out_path != NULL && (serials != NULL || n == 0) && valid_s > 0,
                  hearth_err(HEARTH_ERR_INVALID, "CRL: missing argument"));
    EVP_PKEY *key = NULL;
    X509 *ca = NULL;
    X509_CRL *crl = NULL;
    HEARTH_GUARD(hearth_identity_load_ca(ca_dir, &key, &ca));
    hearth_status st = crl_build(key, ca, serials, n, valid_s, &crl);
    BIO *bio = st == HEARTH_OK ? BIO_new(BIO_s_mem()) : NULL;
    if (st == HEARTH_OK && (bio == NULL || PEM_write_bio_X509_CRL(bio, crl) != 1))
        st = enrol_ossl_fail(HEARTH_ERR_CRYPTO, "encode CRL");
    if (st == HEARTH_OK) {
        char *data = NULL;
        long dl = BIO_get_mem_data(bio, &data);
        st = hearth_fs_write_atomic(out_path, data, (size_t)dl, 0644);
    }
    BIO_free(bio);
    X509_CRL_free(crl);
    X509_free(ca);
    EVP_PKEY_free(key);
    return st;
}
