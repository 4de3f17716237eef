/* Certificate signing requests: made by the device with its own key, checked
 * by the service against the device's factory certificate. A CSR comes from
 * the network: bounded, one strict PEM block, DER fully consumed, signature
 * verified, and only its public key and CN are used, each compared with the
 * authenticated factory certificate. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "enrol_internal.h"
#include "hearth/enrol.h"
#include "hearth/util.h"

/* [A-Za-z0-9-], 1..32, no leading/trailing '-' (the serial format of
 * provisioning), and never the fleet service's name. */
static hearth_status check_device_cn(const char *cn, size_t n)
{
    if (n == 0 || n > HEARTH_ENROL_CN_MAX || cn[0] == '-' || cn[n - 1] == '-')
        return hearth_err(HEARTH_ERR_INVALID, "CN is not a device serial");
    for (size_t i = 0; i < n; i++) {
        char c = cn[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return hearth_err(HEARTH_ERR_INVALID, "CN is not a device serial");
    }
    if (strcmp(cn, HEARTH_ENROL_FLEET_CN) == 0)
        return hearth_err(HEARTH_ERR_AUTH, "CN %s is reserved for the fleet service", cn);
    return HEARTH_OK;
}

/* The one CN of @p name, which must have no other entry. */
static hearth_status sole_cn(const X509_NAME *name, const char *what, char cn[HEARTH_ENROL_CN_MAX + 1])
{
    if (X509_NAME_entry_count(name) != 1)
        return hearth_err(HEARTH_ERR_INVALID, "%s subject must be exactly one CN", what);
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, 0);
    if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != NID_commonName)
        return hearth_err(HEARTH_ERR_INVALID, "%s subject must be exactly one CN", what);
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
    int n = ASN1_STRING_length(s);
    if (n <= 0 || n > HEARTH_ENROL_CN_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "%s CN length out of range", what);
    memcpy(cn, ASN1_STRING_get0_data(s), (size_t)n);
    cn[n] = '\0';
    if (strlen(cn) != (size_t)n) return hearth_err(HEARTH_ERR_INVALID, "%s CN has a NUL", what);
    return check_device_cn(cn, (size_t)n);
}

/* The factory certificate's CN (its subject also has OU and serialNumber). */
static hearth_status factory_cn(X509 *x, char cn[HEARTH_ENROL_CN_MAX + 1])
{
    X509_NAME *name = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        return hearth_err(HEARTH_ERR_INVALID, "factory certificate must have exactly one CN");
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    int n = ASN1_STRING_length(s);
    if (n <= 0 || n > HEARTH_ENROL_CN_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "factory certificate CN length out of range");
    memcpy(cn, ASN1_STRING_get0_data(s), (size_t)n);
    cn[n] = '\0';
    if (strlen(cn) != (size_t)n) return hearth_err(HEARTH_ERR_INVALID, "factory CN has a NUL");
    return check_device_cn(cn, (size_t)n);
}

hearth_status hearth_enrol_csr_check(const uint8_t *csr_pem, size_t csr_len,
                                     const uint8_t *factory_der, size_t factory_len,
                                     char cn[HEARTH_ENROL_CN_MAX + 1])
{
    HEARTH_ENSURE(factory_der != NULL && factory_len > 0 && factory_len < 65536 && cn != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "CSR check: missing argument"));
    cn[0] = '\0';
    const unsigned char *fp = factory_der;
    X509 *factory = d2i_X509(NULL, &fp, (long)factory_len);
    if (factory == NULL || fp != factory_der + factory_len) {
        X509_free(factory);
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "factory certificate does not decode");
    }
    unsigned char *der = NULL;
    long dl = 0;
    X509_REQ *req = NULL;
    char fcn[HEARTH_ENROL_CN_MAX + 1] = "", rcn[HEARTH_ENROL_CN_MAX + 1] = "";
    hearth_status st = enrol_pem_single(csr_pem, csr_len, HEARTH_ENROL_CSR_MAX,
                                        "CERTIFICATE REQUEST", "CSR", &der, &dl);
    if (st == HEARTH_OK) {
        const unsigned char *p = der;
        req = d2i_X509_REQ(NULL, &p, dl);
        if (req == NULL || p != der + dl) st = hearth_err(HEARTH_ERR_INVALID, "CSR: not a DER PKCS#10 request");
    }
    EVP_PKEY *pub = req != NULL ? X509_REQ_get0_pubkey(req) : NULL;
    if (st == HEARTH_OK && pub == NULL) st = hearth_err(HEARTH_ERR_INVALID, "CSR: no usable public key");
    if (st == HEARTH_OK && X509_REQ_get_version(req) != X509_REQ_VERSION_1)
        st = hearth_err(HEARTH_ERR_INVALID, "CSR: unknown version");
    /* The signature proves possession of the key. */
    if (st == HEARTH_OK && X509_REQ_verify(req, pub) != 1)
        st = hearth_err(HEARTH_ERR_AUTH, "CSR: signature does not verify");
    if (st == HEARTH_OK && X509_REQ_get_attr_count(req) != 0)
        st = hearth_err(HEARTH_ERR_INVALID, "CSR: attributes are not accepted");
    if (st == HEARTH_OK && EVP_PKEY_eq(pub, X509_get0_pubkey(factory)) != 1)
        st = hearth_err(HEARTH_ERR_AUTH, "CSR: public key is not the factory certificate's");
    if (st == HEARTH_OK) st = factory_cn(factory, fcn);
    if (st == HEARTH_OK) st = sole_cn(X509_REQ_get_subject_name(req), "CSR", rcn);
    if (st == HEARTH_OK && strcmp(fcn, rcn) != 0)
        st = hearth_err(HEARTH_ERR_AUTH, "CSR: CN '%s' is not the factory certificate's", rcn);
    if (st == HEARTH_OK) memcpy(cn, rcn, strlen(rcn) + 1);
    OPENSSL_free(der);
    X509_REQ_free(req);
    X509_free(factory);
    ERR_clear_error();
    return st;
}

hearth_status hearth_enrol_csr_make(const uint8_t *key_der, size_t key_len, const char *cn,
                                    char *pem, size_t cap, size_t *len)
{
    HEARTH_ENSURE(key_der != NULL && key_len > 0 && key_len < 65536 && cn != NULL && pem != NULL &&
                      len != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "CSR: missing argument"));
    HEARTH_GUARD(check_device_cn(cn, strlen(cn)));
    const unsigned char *p = key_der;
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)key_len);
    if (key == NULL) return enrol_ossl_fail(HEARTH_ERR_CRYPTO, "CSR: device key");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *bio = BIO_new(BIO_s_mem());
    hearth_status st = HEARTH_OK;
    if (req == NULL || name == NULL || bio == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                   -1, 0) != 1 ||
        X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
        X509_REQ_sign(req, key, EVP_sha256()) <= 0 || PEM_write_bio_X509_REQ(bio, req) != 1) {
        st = enrol_ossl_fail(HEARTH_ERR_CRYPTO, "CSR");
    } else {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n <= 0 || (size_t)n >= cap) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "CSR larger than the buffer");
        } else {
            memcpy(pem, data, (size_t)n);
            pem[n] = '\0';
            *len = (size_t)n;
        }
    }
    BIO_free(bio);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return st;
}
