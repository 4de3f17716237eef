/* The device's operational certificate: checked before it is stored, and
 * checked again every time it is loaded, because it lives in the writable
 * state directory; the trust anchor (service CA) and the factory
 * certificate it must match come from elsewhere (the command line; the
 * identity verified at start). A certificate that fails any check is
 * simply not used: the factory certificate is presented instead. */
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrol_internal.h"
#include "hearth/enrol.h"
#include "hearth/util.h"

#define FACTORY_CERT_MAX (16 * 1024)

static hearth_status read_cert_file(const char *path, size_t max, const char *what, X509 **out,
                                    uint8_t **raw, size_t *raw_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    HEARTH_GUARD(hearth_fs_read_file(path, max, &buf, &len));
    hearth_status st = enrol_pem_cert(buf, len, max, what, out);
    if (st == HEARTH_OK && raw != NULL) {
        *raw = buf;
        *raw_len = len;
        return HEARTH_OK;
    }
    free(buf);
    return st;
}

/* The factory certificate is checked at device start (hearth_device_open);
 * here it only supplies the public key. It may be a PEM chain: first block. */
static hearth_status factory_key(const char *path, EVP_PKEY **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    HEARTH_GUARD(hearth_fs_read_file(path, FACTORY_CERT_MAX, &buf, &len));
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(buf);
    if (x == NULL) return enrol_ossl_fail(HEARTH_ERR_INVALID, "factory certificate");
    *out = X509_get_pubkey(x);
    X509_free(x);
    if (*out == NULL) return enrol_ossl_fail(HEARTH_ERR_INVALID, "factory certificate key");
    return HEARTH_OK;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1) return INT64_MIN;
    return (int64_t)timegm(&tm);
}

/* Chain to the service CA alone, strict, client purpose, at @p now. */
static hearth_status verify_chain(const char *ca_path, X509 *x, int64_t now)
{
    X509 *ca = NULL;
    HEARTH_GUARD(read_cert_file(ca_path, FACTORY_CERT_MAX, "service CA", &ca, NULL, NULL));
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    hearth_status st = HEARTH_OK;
    if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(ctx, store, x, NULL) != 1) {
        st = enrol_ossl_fail(HEARTH_ERR_NOMEM, "certificate verification");
        goto done;
    }
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT | X509_V_FLAG_USE_CHECK_TIME);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        ERR_clear_error();
        st = hearth_err(err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID
                            ? HEARTH_ERR_EXPIRED
                            : HEARTH_ERR_AUTH,
                        "operational certificate: %s", X509_verify_cert_error_string(err));
    }
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(ca);
    return st;
}

/* Subject: exactly CN=@p cn. */
static hearth_status check_subject(X509 *x, const char *cn)
{
    const X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_entry_count(name) != 1)
        return hearth_err(HEARTH_ERR_AUTH, "operational certificate: subject is not one CN");
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, 0);
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
    size_t n = strlen(cn);
    if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != NID_commonName ||
        (size_t)ASN1_STRING_length(s) != n || memcmp(ASN1_STRING_get0_data(s), cn, n) != 0)
        return hearth_err(HEARTH_ERR_AUTH, "operational certificate: CN is not %s", cn);
    return HEARTH_OK;
}

static hearth_status check_x509(const hearth_enrol_identity *id, X509 *x, int64_t now,
                                hearth_enrol_validity *v)
{
    int64_t nb = asn1_unix(X509_get0_notBefore(x)), na = asn1_unix(X509_get0_notAfter(x));
    if (nb == INT64_MIN || na == INT64_MIN || na <= nb ||
        na - nb > HEARTH_ENROL_LIFETIME_MAX_S + 3600)
        return hearth_err(HEARTH_ERR_AUTH, "operational certificate: validity period out of range");
    if ((X509_get_extension_flags(x) & EXFLAG_CA) != 0)
        return hearth_err(HEARTH_ERR_AUTH, "operational certificate: is a CA");
    HEARTH_GUARD(check_subject(x, id->cn));
    EVP_PKEY *ours = NULL;
    HEARTH_GUARD(factory_key(id->factory_cert, &ours));
    int same = EVP_PKEY_eq(ours, X509_get0_pubkey(x));
    EVP_PKEY_free(ours);
    ERR_clear_error();
    if (same != 1) return hearth_err(HEARTH_ERR_AUTH, "operational certificate: not for our key");
    HEARTH_GUARD(verify_chain(id->service_ca, x, now));
    if (v != NULL) {
        v->not_before = nb;
        v->not_after = na;
    }
    return HEARTH_OK;
}

static hearth_status check_id(const hearth_enrol_identity *id)
{
    HEARTH_ENSURE(id != NULL && id->state_dir != NULL && id->service_ca != NULL &&
                      id->factory_cert != NULL && id->cn != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "enrolment identity incomplete"));
    return HEARTH_OK;
}

hearth_status hearth_enrol_cert_check(const hearth_enrol_identity *id, const uint8_t *pem, size_t len,
                                      int64_t now, hearth_enrol_validity *v)
{
    HEARTH_GUARD(check_id(id));
    X509 *x = NULL;
    HEARTH_GUARD(enrol_pem_cert(pem, len, HEARTH_ENROL_CERT_MAX, "operational certificate", &x));
    hearth_status st = check_x509(id, x, now, v);
    X509_free(x);
    return st;
}

hearth_status hearth_enrol_cert_store(const hearth_enrol_identity *id, const uint8_t *pem, size_t len,
                                      int64_t now, hearth_enrol_validity *v)
{
    HEARTH_GUARD(hearth_enrol_cert_check(id, pem, len, now, v));
    char path[4096];
    HEARTH_GUARD(hearth_path_join(path, sizeof path, id->state_dir, HEARTH_ENROL_CERT_FILE));
    return hearth_fs_write_atomic(path, pem, len, 0644);
}

static hearth_status copy_out(const uint8_t *src, size_t n, char *pem, size_t cap, size_t *len)
{
    if (n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "certificate larger than the buffer");
    memcpy(pem, src, n);
    pem[n] = '\0';
    *len = n;
    return HEARTH_OK;
}

hearth_status hearth_enrol_current_cert(const hearth_enrol_identity *id, int64_t now, char *pem,
                                        size_t cap, size_t *len, bool *operational,
                                        hearth_enrol_validity *v)
{
    HEARTH_ENSURE(id != NULL && id->factory_cert != NULL && pem != NULL && len != NULL &&
                      operational != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "current certificate: missing argument"));
    *operational = false;
    if (v != NULL) *v = (hearth_enrol_validity){0, 0};
    if (id->service_ca != NULL && id->state_dir != NULL && id->cn != NULL) {
        char path[4096];
        X509 *x = NULL;
        uint8_t *raw = NULL;
        size_t rl = 0;
        if (hearth_path_join(path, sizeof path, id->state_dir, HEARTH_ENROL_CERT_FILE) == HEARTH_OK &&
            read_cert_file(path, HEARTH_ENROL_CERT_MAX, "operational certificate", &x, &raw, &rl) ==
                HEARTH_OK) {
            hearth_status st = check_x509(id, x, now, v);
            X509_free(x);
            if (st == HEARTH_OK) st = copy_out(raw, rl, pem, cap, len);
            free(raw);
            if (st == HEARTH_OK) {
                *operational = true;
                return HEARTH_OK;
            }
            if (v != NULL) *v = (hearth_enrol_validity){0, 0};
        }
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    HEARTH_GUARD(hearth_fs_read_file(id->factory_cert, FACTORY_CERT_MAX, &buf, &n));
    hearth_status st = copy_out(buf, n, pem, cap, len);
    free(buf);
    return st;
}

int64_t hearth_enrol_renew_at(const hearth_enrol_validity *v)
{
    if (v == NULL || v->not_after <= v->not_before) return 0;
    return v->not_before + (v->not_after - v->not_before) / 3 * 2;
}
