/*
 * Key generation, certificate issuing and verification for the manufacturer
 * CA and device certificates (EN 303 645 5.4-2, 5.4-4). All crypto comes from
 * OpenSSL 3 EVP/X509 (5.5-2); nothing here is home-made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hearth/util.h"
#include "identity_internal.h"

/* Put the first queued OpenSSL error in the thread's reason, then clear the
 * queue so later calls do not report stale errors. */
static hearth_status ossl_err(hearth_status st, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[160] = "unknown error";
    if (e != 0) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return hearth_err(st, "%s: %s", what, reason);
}

hearth_status hearth_identity_keygen(EVP_PKEY **out)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (*out == NULL) return ossl_err(HEARTH_ERR_CRYPTO, "generate P-256 key");
    return HEARTH_OK;
}

hearth_status hearth_identity_load_cert(const char *path, X509 **out)
{
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    HEARTH_GUARD(hearth_fs_read_file(path, HEARTH_CERT_FILE_MAX, &buf, &len));
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL) {
        free(buf);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    *out = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(buf);
    if (*out == NULL) {
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "%s is not a PEM certificate", path);
    }
    return HEARTH_OK;
}

hearth_status hearth_identity_load_ca(const char *ca_dir, EVP_PKEY **key, X509 **crt)
{
    char kpath[4096], cpath[4096];
    *key = NULL;
    *crt = NULL;
    HEARTH_GUARD(hearth_path_join(kpath, sizeof kpath, ca_dir, HEARTH_CA_KEY_FILE));
    HEARTH_GUARD(hearth_path_join(cpath, sizeof cpath, ca_dir, HEARTH_CA_CRT_FILE));

    struct stat sb;
    if (stat(kpath, &sb) != 0)
        return hearth_err(HEARTH_ERR_NOT_FOUND, "no CA key at %s (run 'hearth ca init' first)",
                          kpath);
    /* A CA key readable by others is already compromised; refuse to use it
     * so the problem is fixed rather than silently propagated. */
    if ((sb.st_mode & 077) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "%s is accessible by group/others (mode %03o); "
                          "it must be 0600", kpath, (unsigned)(sb.st_mode & 0777));

    uint8_t *buf = NULL;
    size_t len = 0;
    HEARTH_GUARD(hearth_fs_read_file(kpath, HEARTH_CA_KEY_FILE_MAX, &buf, &len));
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    if (bio != NULL) *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    hearth_memzero(buf, len);
    free(buf);
    if (*key == NULL) {
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "%s is not a PEM private key", kpath);
    }
    hearth_status st = hearth_identity_load_cert(cpath, crt);
    if (st != HEARTH_OK) goto fail;
    if (X509_check_private_key(*crt, *key) != 1) {
        ERR_clear_error();
        st = hearth_err(HEARTH_ERR_INVALID, "%s does not match %s", kpath, cpath);
        goto fail;
    }
    return HEARTH_OK;
fail:
    EVP_PKEY_free(*key);
    X509_free(*crt);
    *key = NULL;
    *crt = NULL;
    return st;
}

/* 128 random bits as a positive X.509 serial number (RFC 5280 4.1.2.2
 * allows up to 20 octets; CA/B Forum asks for >= 64 random bits). */
static hearth_status set_random_serial(X509 *x)
{
    uint8_t rnd[16];
    HEARTH_GUARD(hearth_random(rnd, sizeof rnd));
    rnd[0] |= 0x01; /* never zero, so the serial is a valid positive integer */
    BIGNUM *bn = BN_bin2bn(rnd, sizeof rnd, NULL);
    hearth_status st = HEARTH_OK;
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        st = ossl_err(HEARTH_ERR_CRYPTO, "set certificate serial");
    BN_free(bn);
    return st;
}

static hearth_status add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL) return ossl_err(HEARTH_ERR_CRYPTO, "build certificate extension");
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) return ossl_err(HEARTH_ERR_CRYPTO, "add certificate extension");
    return HEARTH_OK;
}

/* notBefore = now - backdate_s, notAfter = now + days + secs. */
static hearth_status set_validity(X509 *x, long days, long secs, long backdate_s)
{
    if (X509_gmtime_adj(X509_getm_notBefore(x), -backdate_s) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, secs, NULL) == NULL)
        return ossl_err(HEARTH_ERR_CRYPTO, "set certificate validity");
    return HEARTH_OK;
}

static hearth_status name_add(X509_NAME *n, int nid, const char *v)
{
    if (X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)v, -1, -1,
                                   0) != 1)
        return ossl_err(HEARTH_ERR_CRYPTO, "build certificate name");
    return HEARTH_OK;
}

/* One subject name entry or one extension (X509V3_EXT_conf_nid syntax). */
typedef struct {
    int nid;
    const char *value;
} cert_field;

/* Validity of a certificate: notBefore now - backdate_s, notAfter now +
 * days + secs. */
typedef struct {
    long days;
    long secs;
    long backdate_s;
} cert_validity;

/* Build and sign a v3 certificate the way every certificate Hearth issues is
 * built: 128-bit random serial, notBefore back-dated, SHA-256 signature by
 * @p sign_key. @p issuer NULL makes it self-signed (issuer name = subject,
 * key identifiers taken from the certificate itself). @p what names the
 * certificate in error messages ("CA", "device"). */
static hearth_status build_cert(EVP_PKEY *sign_key, X509 *issuer, EVP_PKEY *pub,
                                cert_validity valid, const cert_field *names, size_t nnames, const cert_field *exts,
                                size_t nexts, const char *what, X509 **out)
{
    char msg[64];
    hearth_status st = HEARTH_OK;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (x == NULL || name == NULL) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (X509_set_version(x, X509_VERSION_3) != 1) {
        st = ossl_err(HEARTH_ERR_CRYPTO, "set version");
        goto done;
    }
    HEARTH_GUARD_GOTO(st, set_random_serial(x), done);
    HEARTH_GUARD_GOTO(st, set_validity(x, valid.days, valid.secs, valid.backdate_s), done);
    for (size_t i = 0; i < nnames; i++)
        HEARTH_GUARD_GOTO(st, name_add(name, names[i].nid, names[i].value), done);
    if (X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_set_pubkey(x, pub) != 1) {
        snprintf(msg, sizeof msg, "fill %s certificate", what);
        st = ossl_err(HEARTH_ERR_CRYPTO, msg);
        goto done;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    for (size_t i = 0; i < nexts; i++)
        HEARTH_GUARD_GOTO(st, add_ext(x, &ctx, exts[i].nid, exts[i].value), done);
    if (X509_sign(x, sign_key, EVP_sha256()) <= 0) {
        snprintf(msg, sizeof msg, "sign %s certificate", what);
        st = ossl_err(HEARTH_ERR_CRYPTO, msg);
        goto done;
    }
done:
    X509_NAME_free(name);
    if (st != HEARTH_OK) {
        X509_free(x);
        x = NULL;
    }
    *out = x;
    return st;
}

hearth_status hearth_identity_make_ca_cert(EVP_PKEY *key, const char *cn, X509 **out)
{
    const cert_field names[] = {{NID_commonName, cn}};
    const cert_field exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    };
    const cert_validity v = {HEARTH_CA_VALID_DAYS, 0, HEARTH_CERT_BACKDATE_S};
    return build_cert(key, NULL, key, v, names, 1, exts,
                      sizeof exts / sizeof exts[0], "CA", out);
}

hearth_status hearth_identity_issue_device_cert(EVP_PKEY *ca_key, X509 *ca_crt, EVP_PKEY *pub,
                                                const char *serial, const char *model,
                                                X509 **out)
{
    *out = NULL;
    HEARTH_GUARD(hearth_identity_check_serial(serial));
    HEARTH_GUARD(hearth_identity_check_model(model));

    /* "<serial>.local" as a DNS label: lower case, as mDNS names are shown. */
    char host[HEARTH_SERIAL_MAX + 1];
    size_t n = strlen(serial);
    for (size_t i = 0; i <= n; i++)
        host[i] = (char)((serial[i] >= 'A' && serial[i] <= 'Z') ? serial[i] + 32 : serial[i]);
    char san[128];
    int sl = snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,DNS:%s.local", host);
    if (sl < 0 || (size_t)sl >= sizeof san) return hearth_err(HEARTH_ERR_INTERNAL, "SAN too long");

    /* Subject: OU carries the model designation (5.3-16), CN and
     * serialNumber the device serial (docs/provisioning.md). */
    const cert_field names[] = {
        {NID_organizationalUnitName, model},
        {NID_commonName, serial},
        {NID_serialNumber, serial},
    };
    const cert_field exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_alt_name, san},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    };
    const cert_validity v = {HEARTH_DEVICE_VALID_DAYS, 0, HEARTH_CERT_BACKDATE_S};
    return build_cert(ca_key, ca_crt, pub, v, names,
                      sizeof names / sizeof names[0], exts, sizeof exts / sizeof exts[0],
                      "device", out);
}

hearth_status hearth_identity_issue_leaf_cert(EVP_PKEY *ca_key, X509 *ca_crt, EVP_PKEY *pub,
                                              const char *cn, bool server, const char *san,
                                              long lifetime_s, long backdate_s, X509 **out)
{
    *out = NULL;
    HEARTH_ENSURE(lifetime_s > 0 && backdate_s >= 0,
                  hearth_err(HEARTH_ERR_INVALID, "certificate lifetime must be positive"));
    const cert_field names[] = {{NID_commonName, cn}};
    cert_field exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, server ? "serverAuth" : "clientAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_subject_alt_name, san},
    };
    size_t nexts = sizeof exts / sizeof exts[0] - (san == NULL ? 1 : 0);
    const cert_validity v = {lifetime_s / 86400, lifetime_s % 86400, backdate_s};
    return build_cert(ca_key, ca_crt, pub, v, names, 1, exts, nexts, server ? "server" : "client",
                      out);
}

hearth_status hearth_identity_verify_cert(X509 *ca, X509 *dev)
{
    hearth_status st = HEARTH_OK;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(ctx, store, dev, NULL) != 1) {
        st = ossl_err(HEARTH_ERR_NOMEM, "set up certificate verification");
        goto done;
    }
    /* No time check: the device may run before its clock is set; clients
     * check validity. Strict mode rejects malformed encodings. */
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        ERR_clear_error();
        st = hearth_err(HEARTH_ERR_TAMPERED, "device certificate does not verify against ca.crt: %s",
                        X509_verify_cert_error_string(err));
    }
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return st;
}

hearth_status hearth_identity_cert_fingerprint(X509 *crt, char out[HEARTH_FINGERPRINT_MAX])
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    if (X509_digest(crt, EVP_sha256(), md, &mdlen) != 1 || mdlen != sizeof md)
        return ossl_err(HEARTH_ERR_CRYPTO, "certificate digest");
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): the hex encoder terminates it
    memcpy(out, "sha256:", 7);
    return hearth_hex_encode(md, sizeof md, out + 7, HEARTH_FINGERPRINT_MAX - 7);
}

hearth_status hearth_identity_cert_pem(X509 *crt, char **pem, size_t *len)
{
    *pem = NULL;
    *len = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, crt) != 1) {
        BIO_free(bio);
        return ossl_err(HEARTH_ERR_CRYPTO, "encode certificate");
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    hearth_status st = HEARTH_OK;
    *pem = malloc((size_t)n + 1);
    if (*pem == NULL) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    } else {
        memcpy(*pem, data, (size_t)n);
        (*pem)[n] = '\0';
        *len = (size_t)n;
    }
    BIO_free(bio);
    return st;
}
