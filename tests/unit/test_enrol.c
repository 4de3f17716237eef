/* Unit tests for src/enrol (include/hearth/enrol.h): the service side's CSR
 * check and the device side's operational certificate check, each against
 * the hostile inputs a network peer or a writable file can present, plus the
 * service CA's certificates and CRL. Keys and CAs are generated per run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hearth/enrol.h"
#include "hearth/identity.h"
#include "hearth/util.h"

typedef struct {
    char dir[256], mfr[300], svc[300], state[300], factory[340];
    EVP_PKEY *key, *other;
    uint8_t key_der[512];
    size_t key_len;
    uint8_t *factory_der;
    size_t factory_len;
    hearth_enrol_identity id;
} fx;

static size_t key_pkcs8(EVP_PKEY *k, uint8_t *out, size_t cap)
{
    unsigned char *der = NULL;
    int n = i2d_PrivateKey(k, &der);
    assert_true(n > 0 && (size_t)n <= cap);
    memcpy(out, der, (size_t)n);
    OPENSSL_clear_free(der, (size_t)n);
    return (size_t)n;
}

/* Issue a certificate for @p k from @p ca (client, @p life seconds). */
static char *issue(const char *ca, EVP_PKEY *k, const char *cn, long life, size_t *len)
{
    unsigned char *spki = NULL;
    int sl = i2d_PUBKEY(k, &spki);
    assert_true(sl > 0);
    hearth_cert_spec spec = {.cn = cn, .spki_der = spki, .spki_len = (size_t)sl, .lifetime_s = life};
    char *pem = NULL;
    char serial[HEARTH_ENROL_SERIAL_HEX_MAX];
    assert_int_equal(hearth_service_ca_issue(ca, &spec, &pem, len, serial), HEARTH_OK);
    OPENSSL_free(spki);
    return pem;
}

static uint8_t *pem_to_der(const char *pem, size_t *len)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(x);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    X509_free(x);
    BIO_free(b);
    *len = (size_t)n;
    return der;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/hearth-enrol.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->mfr, sizeof f->mfr, "%s/mfr", f->dir);
    snprintf(f->svc, sizeof f->svc, "%s/svc", f->dir);
    snprintf(f->state, sizeof f->state, "%s/state", f->dir);
    snprintf(f->factory, sizeof f->factory, "%s/device.crt", f->state);
    assert_int_equal(hearth_ca_init(f->mfr, "Test Manufacturer CA"), HEARTH_OK);
    assert_int_equal(hearth_ca_init(f->svc, "Test Service CA"), HEARTH_OK);
    assert_int_equal(hearth_fs_mkdirs(f->state, 0700), HEARTH_OK);
    f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->key_len = key_pkcs8(f->key, f->key_der, sizeof f->key_der);
    size_t pl = 0;
    char *pem = issue(f->mfr, f->key, "DEV-1", 86400, &pl);
    assert_int_equal(hearth_fs_write_atomic(f->factory, pem, pl, 0644), HEARTH_OK);
    f->factory_der = pem_to_der(pem, &f->factory_len);
    free(pem);
    char ca[340];
    snprintf(ca, sizeof ca, "%s/ca.crt", f->svc);
    f->id = (hearth_enrol_identity){.state_dir = f->state, .service_ca = strdup(ca),
                                    .factory_cert = f->factory, .cn = "DEV-1"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->other);
    OPENSSL_free(f->factory_der);
    free((char *)f->id.service_ca);
    free(f);
    return 0;
}

static hearth_status check_csr(fx *f, const char *csr, size_t len, char cn[HEARTH_ENROL_CN_MAX + 1])
{
    return hearth_enrol_csr_check((const uint8_t *)csr, len, f->factory_der, f->factory_len, cn);
}

static void test_5_5_8_csr_own_accepted_other_cn_or_key_refused(void **state)
{
    fx *f = *state;
    char csr[HEARTH_ENROL_CSR_MAX], cn[HEARTH_ENROL_CN_MAX + 1];
    size_t n = 0;
    assert_int_equal(hearth_enrol_csr_make(f->key_der, f->key_len, "DEV-1", csr, sizeof csr, &n), HEARTH_OK);
    assert_int_equal(check_csr(f, csr, n, cn), HEARTH_OK);
    assert_string_equal(cn, "DEV-1");
    /* Our key, another device's CN. */
    assert_int_equal(hearth_enrol_csr_make(f->key_der, f->key_len, "DEV-2", csr, sizeof csr, &n), HEARTH_OK);
    assert_int_equal(check_csr(f, csr, n, cn), HEARTH_ERR_AUTH);
    assert_string_equal(cn, "");
    /* Our CN, another key (a thief with our certificate but not our key). */
    uint8_t od[512];
    size_t ol = key_pkcs8(f->other, od, sizeof od);
    assert_int_equal(hearth_enrol_csr_make(od, ol, "DEV-1", csr, sizeof csr, &n), HEARTH_OK);
    assert_int_equal(check_csr(f, csr, n, cn), HEARTH_ERR_AUTH);
    /* The fleet service's name is never a device CN, even from our key. */
    assert_int_equal(hearth_enrol_csr_make(f->key_der, f->key_len, HEARTH_ENROL_FLEET_CN, csr, sizeof csr, &n),
                     HEARTH_ERR_AUTH);
}

/* A CSR carrying our public key but signed by another key: the signature
 * check, not the key comparison, must refuse it. */
static void test_5_5_8_csr_bad_signature_refused(void **state)
{
    fx *f = *state;
    X509_REQ *r = X509_REQ_new();
    X509_NAME *nm = X509_REQ_get_subject_name(r);
    X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8, (const unsigned char *)"DEV-1", -1, -1, 0);
    assert_int_equal(X509_REQ_set_pubkey(r, f->key), 1);
    assert_true(X509_REQ_sign(r, f->other, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(b, r);
    char *d = NULL;
    long n = BIO_get_mem_data(b, &d);
    char cn[HEARTH_ENROL_CN_MAX + 1];
    assert_int_equal(check_csr(f, d, (size_t)n, cn), HEARTH_ERR_AUTH);
    assert_non_null(strstr(hearth_err_msg(), "signature"));
    BIO_free(b);
    X509_REQ_free(r);
}

static void test_5_5_8_csr_hostile_encodings_refused(void **state)
{
    fx *f = *state;
    char csr[HEARTH_ENROL_CSR_MAX], buf[2 * HEARTH_ENROL_CSR_MAX], cn[HEARTH_ENROL_CN_MAX + 1];
    size_t n = 0;
    assert_int_equal(hearth_enrol_csr_make(f->key_der, f->key_len, "DEV-1", csr, sizeof csr, &n), HEARTH_OK);
    assert_int_equal(check_csr(f, "hello", 5, cn), HEARTH_ERR_INVALID);
    assert_int_equal(check_csr(f, "", 0, cn), HEARTH_ERR_INVALID);
    /* Oversized: the bound is checked before anything is parsed. */
    memset(buf, 'A', sizeof buf);
    assert_int_equal(check_csr(f, buf, HEARTH_ENROL_CSR_MAX + 1, cn), HEARTH_ERR_TOO_LARGE);
    /* Data after the block; two blocks; a NUL inside; leading junk. */
    snprintf(buf, sizeof buf, "%sjunk\n", csr);
    assert_int_equal(check_csr(f, buf, strlen(buf), cn), HEARTH_ERR_INVALID);
    snprintf(buf, sizeof buf, "%s%s", csr, csr);
    assert_int_equal(check_csr(f, buf, strlen(buf), cn), HEARTH_ERR_INVALID);
    memcpy(buf, csr, n);
    buf[40] = '\0';
    assert_int_equal(check_csr(f, buf, n, cn), HEARTH_ERR_INVALID);
    snprintf(buf, sizeof buf, "x%s", csr);
    assert_int_equal(check_csr(f, buf, strlen(buf), cn), HEARTH_ERR_INVALID);
    /* Truncated base64. */
    assert_int_equal(check_csr(f, csr, n / 2, cn), HEARTH_ERR_INVALID);
    /* A certificate is not a CSR. */
    size_t cl = 0;
    char *crt = issue(f->svc, f->key, "DEV-1", 3600, &cl);
    assert_int_equal(check_csr(f, crt, cl, cn), HEARTH_ERR_INVALID);
    free(crt);
    /* Surrounding whitespace is fine. */
    snprintf(buf, sizeof buf, "\n\n%s\n\n", csr);
    assert_int_equal(check_csr(f, buf, strlen(buf), cn), HEARTH_OK);
}

static void test_5_5_8_operational_cert_checked(void **state)
{
    fx *f = *state;
    int64_t now = (int64_t)time(NULL);
    hearth_enrol_validity v;
    size_t n = 0;
    char *good = issue(f->svc, f->key, "DEV-1", 3000, &n);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (uint8_t *)good, n, now, &v), HEARTH_OK);
    /* Back-dated by a tenth of the lifetime, renewal after 2/3 of it all. */
    assert_true(v.not_after - now >= 2999 && v.not_after - now <= 3001);
    assert_true(now - v.not_before >= 299 && now - v.not_before <= 301);
    assert_int_equal(hearth_enrol_renew_at(&v), v.not_before + (v.not_after - v.not_before) / 3 * 2);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (uint8_t *)good, n, now + 3100, &v), HEARTH_ERR_EXPIRED);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (uint8_t *)good, n, now - 400, &v), HEARTH_ERR_EXPIRED);
    hearth_enrol_identity other = f->id;
    other.cn = "DEV-2";
    assert_int_equal(hearth_enrol_cert_check(&other, (uint8_t *)good, n, now, &v), HEARTH_ERR_AUTH);
    free(good);
    /* Wrong CA (the manufacturer's), wrong key, wrong CN. */
    char *wrong = issue(f->mfr, f->key, "DEV-1", 3000, &n);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (uint8_t *)wrong, n, now, &v), HEARTH_ERR_AUTH);
    free(wrong);
    wrong = issue(f->svc, f->other, "DEV-1", 3000, &n);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (uint8_t *)wrong, n, now, &v), HEARTH_ERR_AUTH);
    free(wrong);
    wrong = issue(f->svc, f->key, "DEV-2", 3000, &n);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (uint8_t *)wrong, n, now, &v), HEARTH_ERR_AUTH);
    free(wrong);
    assert_int_equal(hearth_enrol_cert_check(&f->id, (const uint8_t *)"garbage", 7, now, &v), HEARTH_ERR_INVALID);
}

static void test_5_5_8_current_cert_rechecked_on_load(void **state)
{
    fx *f = *state;
    int64_t now = (int64_t)time(NULL);
    char pem[8192];
    size_t pl = 0, n = 0;
    bool op = true;
    /* Nothing stored: the factory certificate. */
    assert_int_equal(hearth_enrol_current_cert(&f->id, now, pem, sizeof pem, &pl, &op, NULL), HEARTH_OK);
    assert_false(op);
    char *good = issue(f->svc, f->key, "DEV-1", 3000, &n);
    hearth_enrol_validity v;
    assert_int_equal(hearth_enrol_cert_store(&f->id, (uint8_t *)good, n, now, &v), HEARTH_OK);
    assert_int_equal(hearth_enrol_current_cert(&f->id, now, pem, sizeof pem, &pl, &op, &v), HEARTH_OK);
    assert_true(op);
    assert_int_equal(pl, n);
    assert_memory_equal(pem, good, n);
    /* Expired by the clock: factory again. */
    assert_int_equal(hearth_enrol_current_cert(&f->id, now + 4000, pem, sizeof pem, &pl, &op, &v), HEARTH_OK);
    assert_false(op);
    assert_int_equal(v.not_after, 0);
    /* Storing a certificate that fails the check changes nothing. */
    char *bad = issue(f->svc, f->other, "DEV-1", 3000, &n);
    assert_int_equal(hearth_enrol_cert_store(&f->id, (uint8_t *)bad, n, now, &v), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_enrol_current_cert(&f->id, now, pem, sizeof pem, &pl, &op, NULL), HEARTH_OK);
    assert_true(op);
    /* Someone with write access to the state directory swaps the file: it
     * is checked on load and not used. */
    char path[400];
    snprintf(path, sizeof path, "%s/%s", f->state, HEARTH_ENROL_CERT_FILE);
    assert_int_equal(hearth_fs_write_atomic(path, bad, n, 0644), HEARTH_OK);
    assert_int_equal(hearth_enrol_current_cert(&f->id, now, pem, sizeof pem, &pl, &op, NULL), HEARTH_OK);
    assert_false(op);
    assert_null(strstr(pem, "garbage"));
    free(good);
    free(bad);
}

static void test_5_5_8_crl_lists_serials(void **state)
{
    fx *f = *state;
    char path[400];
    snprintf(path, sizeof path, "%s/crl.pem", f->dir);
    const char *serials[] = {"0a1b2c3d4e5f60718293a4b5c6d7e8f9", "01"};
    assert_int_equal(hearth_service_ca_crl(f->svc, serials, 2, 86400, path), HEARTH_OK);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509_CRL *crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(crl);
    assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
    X509 *ca = NULL;
    char cap[400];
    snprintf(cap, sizeof cap, "%s/ca.crt", f->svc);
    fp = fopen(cap, "r");
    ca = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
    X509_free(ca);
    X509_CRL_free(crl);
    const char *bad[] = {"xyz"};
    assert_int_equal(hearth_service_ca_crl(f->svc, bad, 1, 86400, path), HEARTH_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_5_5_8_csr_own_accepted_other_cn_or_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_5_8_csr_bad_signature_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_5_8_csr_hostile_encodings_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_5_8_operational_cert_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_5_8_current_cert_rechecked_on_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5_5_8_crl_lists_serials, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
