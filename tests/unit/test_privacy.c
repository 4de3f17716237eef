/*
 * Unit tests of the privacy module (hearth/privacy.h): the notice generated
 * from the inventory (6-1, 5.8-3), the consent registry (6-2, 6-3): nothing
 * granted by default, each change recorded with who, when and which notice
 * version before it takes effect, kept across a reopen, a tampered record
 * refused, the receipt, the user erasure; the service-erase request and
 * receipt (5.11-2, 5.11-4): the device's signature verifies, and a receipt
 * is accepted only from the service's certificate under the service CA,
 * with a good signature, for this device and its pending request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/privacy.h"
#include "hearth/store.h"
#include "hearth/util.h"
#include "test_tmpdir.h"

#define DEV "HT-PRV-0001"

typedef struct {
    char root[256], keydir[300], data[300], ca_file[300];
    hearth_rot *rot;
    hearth_store *store;
    int calls;
    char last_purpose[32];
    bool last_granted;
    int erase_calls;
    char erase_id[37];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL) return -1;
    snprintf(fx->root, sizeof fx->root, "/tmp/hearth-privacy-test.XXXXXX");
    if (mkdtemp(fx->root) == NULL) return -1;
    snprintf(fx->keydir, sizeof fx->keydir, "%s/keys", fx->root);
    snprintf(fx->data, sizeof fx->data, "%s/data", fx->root);
    snprintf(fx->ca_file, sizeof fx->ca_file, "%s/service-ca.crt", fx->root);
    if (hearth_rot_file_create(fx->keydir) != HEARTH_OK || hearth_rot_file_open(fx->keydir, &fx->rot) != HEARTH_OK ||
        hearth_store_create(fx->data, fx->rot, DEV) != HEARTH_OK ||
        hearth_store_open(fx->data, fx->rot, DEV, &fx->store) != HEARTH_OK)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    hearth_store_close(fx->store);
    hearth_rot_close(fx->rot);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

static void listener(void *arg, const char *purpose, bool granted)
{
    fixture *fx = arg;
    fx->calls++;
    snprintf(fx->last_purpose, sizeof fx->last_purpose, "%s", purpose);
    fx->last_granted = granted;
}

static void test_notice(void **state)
{
    (void)state;
    const char *v = hearth_privacy_notice_version();
    assert_int_equal(strlen(v), 16);
    assert_int_equal(strspn(v, "0123456789abcdef"), 16);
    size_t len = 0;
    const char *md = hearth_privacy_notice_md(&len);
    assert_int_equal(len, strlen(md));
    assert_non_null(strstr(md, v));
    cJSON *inv = cJSON_Parse(hearth_privacy_inventory_json());
    assert_non_null(inv);
    /* Every item of the inventory is in the notice, by id. */
    const cJSON *it;
    size_t n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(inv, "items"))
    {
        char tag[64];
        snprintf(tag, sizeof tag, "(`%s`)", cJSON_GetObjectItem(it, "id")->valuestring);
        if (strstr(md, tag) == NULL) fail_msg("item %s not in the notice", tag);
        n++;
    }
    assert_true(n >= 10);
    cJSON_Delete(inv);
    /* Both consent purposes, and the thermostat's sensor (5.8-3). */
    assert_string_equal(hearth_privacy_purpose_find(HEARTH_PURPOSE_TEMPERATURE_HISTORY)->basis, "consent");
    assert_string_equal(hearth_privacy_purpose_find(HEARTH_PURPOSE_USAGE_TELEMETRY)->basis, "consent");
    assert_null(hearth_privacy_purpose_find("advertising"));
    assert_non_null(hearth_privacy_sensor_at(0));
    assert_string_equal(hearth_privacy_sensor_at(0)->kind, "temperature");
    assert_null(hearth_privacy_sensor_at(1));
}

static void test_registry(void **state)
{
    fixture *fx = *state;
    hearth_privacy *p = NULL;
    assert_int_equal(hearth_privacy_open(fx->store, &p), HEARTH_OK);
    hearth_privacy_set_listener(p, listener, fx);
    /* Nothing granted by default. */
    assert_false(hearth_privacy_granted(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY));
    assert_false(hearth_privacy_granted(p, HEARTH_PURPOSE_USAGE_TELEMETRY));
    hearth_privacy_consent c;
    assert_int_equal(hearth_privacy_get(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY, &c), HEARTH_OK);
    assert_false(c.granted);
    assert_int_equal(c.since, 0);
    /* A purpose whose basis is not consent cannot be "granted". */
    assert_int_equal(hearth_privacy_set(p, "security", true, "alice"), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(hearth_privacy_set(p, "nonsense", true, "alice"), HEARTH_ERR_NOT_FOUND);
    assert_int_equal(fx->calls, 0);
    /* Give: recorded with who, when, notice version, record id; listener told once. */
    int64_t before = hearth_time_now();
    assert_int_equal(hearth_privacy_set(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY, true, "alice"), HEARTH_OK);
    assert_true(hearth_privacy_granted(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY));
    assert_int_equal(fx->calls, 1);
    assert_string_equal(fx->last_purpose, HEARTH_PURPOSE_TEMPERATURE_HISTORY);
    assert_true(fx->last_granted);
    assert_int_equal(hearth_privacy_set(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY, true, "bob"), HEARTH_OK);
    assert_int_equal(fx->calls, 1); /* no change, no record, nobody told */
    assert_int_equal(hearth_privacy_get(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY, &c), HEARTH_OK);
    assert_string_equal(c.by, "alice");
    assert_true(c.since >= before);
    assert_string_equal(c.notice_version, hearth_privacy_notice_version());
    assert_int_equal(strlen(c.receipt_id), 36);
    assert_int_equal(hearth_privacy_set(p, HEARTH_PURPOSE_USAGE_TELEMETRY, true, "bob"), HEARTH_OK);
    /* The receipt: Kantara CR 1.1 fields, the principal, both purposes. */
    char buf[HEARTH_PRIVACY_RECEIPT_MAX];
    size_t len = 0;
    assert_int_equal(hearth_privacy_receipt(p, "carol", DEV, buf, sizeof buf, &len), HEARTH_OK);
    cJSON *r = cJSON_Parse(buf);
    assert_non_null(r);
    assert_string_equal(cJSON_GetObjectItem(r, "version")->valuestring, "KI-CR-v1.1.0");
    assert_string_equal(cJSON_GetObjectItem(r, "piiPrincipalId")->valuestring, "carol");
    assert_non_null(cJSON_GetObjectItem(r, "consentReceiptID"));
    assert_non_null(cJSON_GetObjectItem(r, "piiControllers"));
    assert_non_null(cJSON_GetObjectItem(r, "policyUrl"));
    const cJSON *purposes = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "services"), 0), "purposes");
    assert_int_equal(cJSON_GetArraySize(purposes), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(purposes, 0), "status")->valuestring, "granted");
    cJSON_Delete(r);
    assert_int_equal(hearth_privacy_receipt(p, "carol", DEV, buf, 64, &len), HEARTH_ERR_TOO_LARGE);
    hearth_privacy_close(p);

    /* Kept across a reopen. */
    assert_int_equal(hearth_privacy_open(fx->store, &p), HEARTH_OK);
    assert_true(hearth_privacy_granted(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY));
    assert_int_equal(hearth_privacy_get(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY, &c), HEARTH_OK);
    assert_string_equal(c.by, "alice");
    hearth_privacy_set_listener(p, listener, fx);
    /* Withdrawal takes effect at once and is told. */
    assert_int_equal(hearth_privacy_set(p, HEARTH_PURPOSE_USAGE_TELEMETRY, false, "bob"), HEARTH_OK);
    assert_false(hearth_privacy_granted(p, HEARTH_PURPOSE_USAGE_TELEMETRY));
    assert_int_equal(fx->calls, 3);
    assert_false(fx->last_granted);
    /* Erasing alice withdraws what she gave and removes her name. */
    size_t withdrawn = 0;
    assert_int_equal(hearth_privacy_erase_user(p, "alice", &withdrawn), HEARTH_OK);
    assert_int_equal(withdrawn, 1);
    assert_false(hearth_privacy_granted(p, HEARTH_PURPOSE_TEMPERATURE_HISTORY));
    assert_int_equal(fx->calls, 4);
    assert_string_equal(fx->last_purpose, HEARTH_PURPOSE_TEMPERATURE_HISTORY);
    char rec[16384];
    assert_int_equal(hearth_store_get(fx->store, HEARTH_PRIVACY_RECORD, rec, sizeof rec - 1, &len), HEARTH_OK);
    rec[len] = '\0';
    assert_null(strstr(rec, "alice"));
    assert_non_null(strstr(rec, "bob")); /* bob's own records stay */
    hearth_privacy_close(p);

    /* A record that does not parse is refused, not read as "nothing granted". */
    assert_int_equal(hearth_store_put(fx->store, HEARTH_PRIVACY_RECORD, "{\"v\":1,\"consents\":7}", 20), HEARTH_OK);
    assert_int_equal(hearth_privacy_open(fx->store, &p), HEARTH_ERR_TAMPERED);
}

/* ------------------------------------------------------------ erase */

static EVP_PKEY *ec_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    return k;
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(hearth_time_now() & 0xffffff) + cn[0]);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    if (issuer == NULL) {
        BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
        bc->ca = 1;
        X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0);
        BASIC_CONSTRAINTS_free(bc);
    }
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static char *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = calloc(1, (size_t)n + 1);
    memcpy(out, data, (size_t)n);
    BIO_free(b);
    return out;
}

static char *b64_of(X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    char *out = calloc(1, 4096);
    assert_int_equal(hearth_b64url_encode(der, (size_t)n, out, 4096), HEARTH_OK);
    OPENSSL_free(der);
    return out;
}

static char *sign_b64(EVP_PKEY *k, const char *text)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[160];
    size_t sl = sizeof sig;
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sl, (const unsigned char *)text, strlen(text)), 1);
    EVP_MD_CTX_free(md);
    char *out = calloc(1, 256);
    assert_int_equal(hearth_b64url_encode(sig, sl, out, 256), HEARTH_OK);
    return out;
}

static void erase_listener(void *arg, const char *id, int64_t ts)
{
    fixture *fx = arg;
    (void)ts;
    fx->erase_calls++;
    snprintf(fx->erase_id, sizeof fx->erase_id, "%s", id);
}

static void test_service_erase(void **state)
{
    fixture *fx = *state;
    EVP_PKEY *ca_key = ec_key(), *fleet_key = ec_key(), *other_key = ec_key(), *dev_key = ec_key();
    X509 *ca = make_cert("Service CA", ca_key, NULL, NULL);
    X509 *fleet = make_cert("hearth-fleet", fleet_key, ca, ca_key);
    X509 *other = make_cert(DEV, other_key, ca, ca_key); /* a device's certificate, same CA */
    X509 *rogue_ca = make_cert("Service CA", other_key, NULL, NULL);
    X509 *rogue = make_cert("hearth-fleet", other_key, rogue_ca, other_key);
    FILE *f = fopen(fx->ca_file, "w");
    assert_non_null(f);
    PEM_write_X509(f, ca);
    fclose(f);

    hearth_privacy *p = NULL;
    assert_int_equal(hearth_privacy_open(fx->store, &p), HEARTH_OK);
    hearth_privacy_erase_status s;
    /* No service configured: nothing to request. */
    assert_int_equal(hearth_privacy_erase_request(p, "alice", &s), HEARTH_ERR_STATE);
    hearth_privacy_set_service(p, fx->ca_file, DEV);
    hearth_privacy_set_erase_listener(p, erase_listener, fx);
    assert_int_equal(hearth_privacy_erase_request(p, "alice", &s), HEARTH_OK);
    assert_string_equal(s.state, "requested");
    assert_int_equal(fx->erase_calls, 1);
    assert_string_equal(fx->erase_id, s.request_id);
    /* The pending request survives a restart. */
    hearth_privacy_close(p);
    assert_int_equal(hearth_privacy_open(fx->store, &p), HEARTH_OK);
    hearth_privacy_set_service(p, fx->ca_file, DEV);
    hearth_privacy_erase_status s2;
    assert_int_equal(hearth_privacy_erase_get(p, &s2, NULL, 0), HEARTH_OK);
    assert_string_equal(s2.state, "requested");
    assert_string_equal(s2.request_id, s.request_id);
    assert_int_equal(s2.requested_at, s.requested_at);

    /* The signed request verifies with the device's key over the request text. */
    unsigned char *der = NULL;
    int dl = i2d_PrivateKey(dev_key, &der);
    assert_true(dl > 0);
    char *dev_pem = pem_of(other);
    char msg[8192];
    size_t ml = 0;
    assert_int_equal(hearth_privacy_erase_sign(DEV, s.request_id, s.requested_at, der, (size_t)dl, dev_pem, msg,
                                               sizeof msg, &ml),
                     HEARTH_OK);
    OPENSSL_free(der);
    cJSON *m = cJSON_Parse(msg);
    assert_non_null(m);
    const char *req = cJSON_GetObjectItem(m, "request")->valuestring;
    assert_non_null(strstr(req, s.request_id));
    assert_non_null(strstr(req, DEV));
    char *dev_b64 = b64_of(other);
    assert_string_equal(cJSON_GetObjectItem(m, "cert")->valuestring, dev_b64);
    free(dev_b64);
    uint8_t sig[160];
    size_t sl = 0;
    const char *s64 = cJSON_GetObjectItem(m, "sig")->valuestring;
    assert_int_equal(hearth_b64url_decode(s64, strlen(s64), sig, sizeof sig, &sl), HEARTH_OK);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, dev_key), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sl, (const unsigned char *)req, strlen(req)), 1);
    EVP_MD_CTX_free(md);
    cJSON_Delete(m);

    char receipt[512], wrong_dev[512], wrong_req[512];
    snprintf(receipt, sizeof receipt,
             "{\"device\":\"%s\",\"request\":\"%s\",\"erased_at\":1,\"deleted\":[{\"where\":\"db\",\"rows\":3}]}",
             DEV, s.request_id);
    snprintf(wrong_dev, sizeof wrong_dev, "{\"device\":\"HT-OTHER\",\"request\":\"%s\",\"deleted\":[]}", s.request_id);
    snprintf(wrong_req, sizeof wrong_req, "{\"device\":\"%s\",\"request\":\"00000000-0000-4000-8000-000000000000\","
             "\"deleted\":[]}", DEV);
    char *fleet_pem = b64_of(fleet), *other_pem = b64_of(other), *rogue_pem = b64_of(rogue);
    char *good = sign_b64(fleet_key, receipt);
    char *by_device = sign_b64(other_key, receipt);
    char *bad_dev = sign_b64(fleet_key, wrong_dev);
    char *bad_req = sign_b64(fleet_key, wrong_req);
    /* Refused: a device's certificate under the same CA (not the service),
     * a certificate under another CA, a signature over other bytes, another
     * device's receipt, a receipt for another request. Nothing changes. */
    assert_int_equal(hearth_privacy_erase_accept(p, receipt, other_pem, by_device), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_privacy_erase_accept(p, receipt, rogue_pem, by_device), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_privacy_erase_accept(p, receipt, fleet_pem, bad_dev), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_privacy_erase_accept(p, wrong_dev, fleet_pem, bad_dev), HEARTH_ERR_AUTH);
    assert_int_equal(hearth_privacy_erase_accept(p, wrong_req, fleet_pem, bad_req), HEARTH_ERR_STATE);
    assert_int_equal(hearth_privacy_erase_accept(p, receipt, fleet_pem, "!!notb64"), HEARTH_ERR_INVALID);
    char rbuf[HEARTH_PRIVACY_ERASE_RECEIPT_MAX];
    assert_int_equal(hearth_privacy_erase_get(p, &s, rbuf, sizeof rbuf), HEARTH_OK);
    assert_string_equal(s.state, "requested");
    assert_string_equal(rbuf, "");
    /* Accepted: the service's, good signature, this device, pending request. */
    assert_int_equal(hearth_privacy_erase_accept(p, receipt, fleet_pem, good), HEARTH_OK);
    assert_int_equal(hearth_privacy_erase_get(p, &s, rbuf, sizeof rbuf), HEARTH_OK);
    assert_string_equal(s.state, "confirmed");
    assert_true(s.confirmed_at > 0);
    assert_non_null(strstr(rbuf, "\\\"rows\\\":3"));
    /* Once only. */
    assert_int_equal(hearth_privacy_erase_accept(p, receipt, fleet_pem, good), HEARTH_ERR_STATE);
    hearth_privacy_close(p);
    /* Kept across a reopen. */
    assert_int_equal(hearth_privacy_open(fx->store, &p), HEARTH_OK);
    assert_int_equal(hearth_privacy_erase_get(p, &s, rbuf, sizeof rbuf), HEARTH_OK);
    assert_string_equal(s.state, "confirmed");
    assert_string_equal(s.by, "alice");
    hearth_privacy_close(p);

    free(fleet_pem), free(other_pem), free(rogue_pem), free(dev_pem);
    free(good), free(by_device), free(bad_dev), free(bad_req);
    X509_free(ca), X509_free(fleet), X509_free(other), X509_free(rogue_ca), X509_free(rogue);
    EVP_PKEY_free(ca_key), EVP_PKEY_free(fleet_key), EVP_PKEY_free(other_key), EVP_PKEY_free(dev_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notice),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_erase, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
