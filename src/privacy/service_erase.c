/*
 * The device's side of the service erase (EN 303 645 5.11-2, 5.11-4;
 * docs/privacy.md "Erasing data at the service"): an administrator asks
 * (POST /api/v1/privacy/service-erase), the request is recorded in the
 * secure store and the runtime sends it signed with the device key through
 * the outbox (so it waits while offline); the service deletes the device's
 * personal data and sends back a receipt signed with its own key, which is
 * accepted only if its certificate chains to the service CA and names the
 * service, the signature holds and it answers this device's pending
 * request. The accepted receipt is stored and shown to the person.
 */
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "privacy_internal.h"

#define ERASE_RECORD_MAX (HEARTH_PRIVACY_ERASE_RECEIPT_MAX + 1024)
#define SERVICE_CN "hearth-fleet"
#define SIG_MAX 160 /* DER ECDSA P-256/P-384 signature is at most ~104 bytes */

static void status_init(hearth_privacy_erase_status *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->state, sizeof s->state, "none");
}

static bool copy(char *dst, size_t cap, const cJSON *v)
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) return false;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

hearth_status pv_erase_load(hearth_privacy *p)
{
    status_init(&p->erase);
    p->erase_receipt[0] = '\0';
    if (p->store == NULL) return HEARTH_OK;
    bool found = false;
    cJSON *doc = NULL;
    HEARTH_GUARD(
        pv_record_read(p->store, HEARTH_PRIVACY_ERASE_RECORD, ERASE_RECORD_MAX, &found, &doc));
    if (!found) return HEARTH_OK;
    hearth_privacy_erase_status s;
    status_init(&s);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(doc, "at");
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(doc, "confirmed_at");
    bool ok = copy(s.state, sizeof s.state, cJSON_GetObjectItemCaseSensitive(doc, "state")) &&
              copy(s.request_id, sizeof s.request_id, cJSON_GetObjectItemCaseSensitive(doc, "id")) &&
              copy(s.by, sizeof s.by, cJSON_GetObjectItemCaseSensitive(doc, "by")) && cJSON_IsNumber(at) &&
              cJSON_IsNumber(cat) &&
              copy(p->erase_receipt, sizeof p->erase_receipt, cJSON_GetObjectItemCaseSensitive(doc, "receipt"));
    if (ok) {
        s.requested_at = (int64_t)at->valuedouble;
        s.confirmed_at = (int64_t)cat->valuedouble;
    }
    cJSON_Delete(doc);
    if (!ok) {
        p->erase_receipt[0] = '\0';
        return hearth_err(HEARTH_ERR_TAMPERED, "privacy: the service-erase record does not parse");
    }
    p->erase = s;
    return HEARTH_OK;
}

static hearth_status erase_save(hearth_privacy *p, const hearth_privacy_erase_status *s, const char *receipt)
{
    if (p->store == NULL) return HEARTH_OK;
    cJSON *doc = cJSON_CreateObject();
    bool ok = doc != NULL && cJSON_AddNumberToObject(doc, "v", 1) && cJSON_AddStringToObject(doc, "state", s->state) &&
              cJSON_AddStringToObject(doc, "id", s->request_id) && cJSON_AddStringToObject(doc, "by", s->by) &&
              cJSON_AddNumberToObject(doc, "at", (double)s->requested_at) &&
              cJSON_AddNumberToObject(doc, "confirmed_at", (double)s->confirmed_at) &&
              cJSON_AddStringToObject(doc, "receipt", receipt);
    char *text = ok ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    HEARTH_ENSURE(text != NULL, hearth_err(HEARTH_ERR_NOMEM, "privacy: out of memory"));
    hearth_status st = hearth_store_put(p->store, HEARTH_PRIVACY_ERASE_RECORD, text, strlen(text));
    cJSON_free(text);
    return st;
}

void hearth_privacy_set_erase_listener(hearth_privacy *p, hearth_privacy_erase_listener fn, void *arg)
{
    if (p == NULL) return;
    pthread_mutex_lock(&p->mu);
    p->erase_fn = fn;
    p->erase_arg = arg;
    pthread_mutex_unlock(&p->mu);
}

void hearth_privacy_set_service(hearth_privacy *p, const char *service_ca_file, const char *device_id)
{
    if (p == NULL) return;
    char *ca = service_ca_file != NULL ? strdup(service_ca_file) : NULL;
    pthread_mutex_lock(&p->mu);
    free(p->ca_file);
    p->ca_file = ca;
    snprintf(p->device_id, sizeof p->device_id, "%s", device_id != NULL ? device_id : "");
    pthread_mutex_unlock(&p->mu);
}

bool hearth_privacy_service_configured(hearth_privacy *p)
{
    if (p == NULL) return false;
    pthread_mutex_lock(&p->mu);
    bool on = p->ca_file != NULL && p->device_id[0] != '\0';
    pthread_mutex_unlock(&p->mu);
    return on;
}

hearth_status hearth_privacy_erase_request(hearth_privacy *p, const char *by, hearth_privacy_erase_status *out)
{
    HEARTH_ENSURE(p != NULL && by != NULL && strlen(by) < HEARTH_PRIVACY_USER_MAX, HEARTH_ERR_INVALID);
    uint8_t b[16];
    HEARTH_GUARD(hearth_random(b, sizeof b));
    hearth_privacy_erase_status s;
    status_init(&s);
    snprintf(s.state, sizeof s.state, "requested");
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(s.request_id, sizeof s.request_id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    s.requested_at = hearth_time_now();
    snprintf(s.by, sizeof s.by, "%s", by);
    pthread_mutex_lock(&p->mu);
    hearth_status st = p->ca_file == NULL || p->device_id[0] == '\0'
                           ? hearth_err(HEARTH_ERR_STATE, "this device has no associated service configured")
                           : erase_save(p, &s, "");
    if (st == HEARTH_OK) {
        p->erase = s;
        p->erase_receipt[0] = '\0';
    }
    hearth_privacy_erase_listener fn = p->erase_fn;
    void *arg = p->erase_arg;
    pthread_mutex_unlock(&p->mu);
    if (st != HEARTH_OK) return st;
    hearth_seclog(HEARTH_SEV_INFO, "service_erase_requested", "request", s.request_id, "user", by, NULL);
    if (fn != NULL) fn(arg, s.request_id, s.requested_at);
    if (out != NULL) *out = s;
    return HEARTH_OK;
}

hearth_status hearth_privacy_erase_get(hearth_privacy *p, hearth_privacy_erase_status *out, char *receipt,
                                       size_t cap)
{
    HEARTH_ENSURE(p != NULL && out != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&p->mu);
    *out = p->erase;
    hearth_status st = HEARTH_OK;
    if (receipt != NULL) {
        if (strlen(p->erase_receipt) >= cap) st = hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: receipt buffer");
        else memcpy(receipt, p->erase_receipt, strlen(p->erase_receipt) + 1);
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

hearth_status hearth_privacy_erase_sign(const char *device_id, const char *request_id, int64_t ts,
                                        const uint8_t *key_der, size_t key_len, const char *cert_pem, char *buf,
                                        size_t cap, size_t *len)
{
    HEARTH_ENSURE(device_id != NULL && request_id != NULL && key_der != NULL && cert_pem != NULL && buf != NULL,
                  HEARTH_ERR_INVALID);
    char req[256];
    int n = snprintf(req, sizeof req, "{\"device\":\"%s\",\"id\":\"%s\",\"ts\":%lld,\"scope\":\"personal_data\"}",
                     device_id, request_id, (long long)ts);
    HEARTH_ENSURE(n > 0 && (size_t)n < sizeof req, hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: request too long"));
    const unsigned char *kp = key_der;
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &kp, (long)key_len);
    EVP_MD_CTX *md = key != NULL ? EVP_MD_CTX_new() : NULL;
    unsigned char sig[SIG_MAX];
    size_t sl = sizeof sig;
    bool ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(md, sig, &sl, (const unsigned char *)req, (size_t)n) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    if (!ok) {
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_CRYPTO, "privacy: cannot sign the erase request");
    }
    char sig64[SIG_MAX * 2];
    HEARTH_GUARD(hearth_b64url_encode(sig, sl, sig64, sizeof sig64));
    /* The certificate travels as base64url DER (no line breaks in JSON strings). */
    BIO *b = BIO_new_mem_buf(cert_pem, -1);
    X509 *cert = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    unsigned char *der = NULL;
    int dl = cert != NULL ? i2d_X509(cert, &der) : -1;
    X509_free(cert);
    char *cert64 = dl > 0 ? malloc(((size_t)dl + 2) / 3 * 4 + 1) : NULL;
    ok = cert64 != NULL && hearth_b64url_encode(der, (size_t)dl, cert64, ((size_t)dl + 2) / 3 * 4 + 1) == HEARTH_OK;
    OPENSSL_free(der);
    ERR_clear_error();
    if (!ok) {
        free(cert64);
        return hearth_err(HEARTH_ERR_INVALID, "privacy: the device certificate does not parse");
    }
    cJSON *doc = cJSON_CreateObject();
    ok = doc != NULL && cJSON_AddNumberToObject(doc, "v", 1) && cJSON_AddStringToObject(doc, "type", "erase") &&
         cJSON_AddStringToObject(doc, "request", req) && cJSON_AddStringToObject(doc, "cert", cert64) &&
         cJSON_AddStringToObject(doc, "sig", sig64);
    ok = ok && cJSON_PrintPreallocated(doc, buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), false);
    cJSON_Delete(doc);
    free(cert64);
    HEARTH_ENSURE(ok, hearth_err(HEARTH_ERR_TOO_LARGE, "privacy: erase request does not fit"));
    if (len != NULL) *len = strlen(buf);
    return HEARTH_OK;
}

/* The signer's certificate (base64url DER) chains to @p ca_file and is the service's. */
static hearth_status check_signer(const char *ca_file, const char *cert_b64, EVP_PKEY **key)
{
    uint8_t der[2048];
    size_t dl = 0;
    X509 *cert = NULL;
    if (hearth_b64url_decode(cert_b64, strlen(cert_b64), der, sizeof der, &dl) == HEARTH_OK) {
        const unsigned char *dp = der;
        cert = d2i_X509(NULL, &dp, (long)dl);
        if (cert != NULL && dp != der + dl) {
            X509_free(cert); /* trailing bytes */
            cert = NULL;
        }
    } else {
        hearth_err_clear();
    }
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    hearth_status st = HEARTH_OK;
    if (cert == NULL) st = hearth_err(HEARTH_ERR_INVALID, "the receipt's certificate does not parse");
    else if (store == NULL || ctx == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "privacy: out of memory");
    else if (X509_STORE_load_file(store, ca_file) != 1)
        st = hearth_err(HEARTH_ERR_IO, "cannot read the service CA %s", ca_file);
    else if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 || X509_verify_cert(ctx) != 1)
        st = hearth_err(HEARTH_ERR_AUTH, "the receipt's certificate does not chain to the service CA");
    if (st == HEARTH_OK) {
        char cn[64] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
        if (strcmp(cn, SERVICE_CN) != 0)
            st = hearth_err(HEARTH_ERR_AUTH, "the receipt is signed by '%s', not by the service", cn);
    }
    if (st == HEARTH_OK) {
        *key = X509_get_pubkey(cert);
        if (*key == NULL) st = hearth_err(HEARTH_ERR_INVALID, "the receipt's certificate has no usable key");
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
    ERR_clear_error();
    return st;
}

hearth_status hearth_privacy_erase_accept(hearth_privacy *p, const char *receipt_text, const char *cert_b64,
                                          const char *sig_b64)
{
    HEARTH_ENSURE(p != NULL && receipt_text != NULL && cert_b64 != NULL && sig_b64 != NULL, HEARTH_ERR_INVALID);
    HEARTH_ENSURE(strlen(receipt_text) < HEARTH_PRIVACY_ERASE_RECEIPT_MAX - 512,
                  hearth_err(HEARTH_ERR_TOO_LARGE, "the receipt is too large"));
    char ca[4096], dev[65];
    pthread_mutex_lock(&p->mu);
    bool conf = p->ca_file != NULL && strlen(p->ca_file) < sizeof ca;
    if (conf) memcpy(ca, p->ca_file, strlen(p->ca_file) + 1);
    memcpy(dev, p->device_id, sizeof dev);
    pthread_mutex_unlock(&p->mu);
    HEARTH_ENSURE(conf && dev[0] != '\0',
                  hearth_err(HEARTH_ERR_STATE, "this device has no associated service configured"));
    uint8_t sig[SIG_MAX];
    size_t sl = 0;
    if (hearth_b64url_decode(sig_b64, strlen(sig_b64), sig, sizeof sig, &sl) != HEARTH_OK || sl == 0) {
        hearth_err_clear();
        return hearth_err(HEARTH_ERR_INVALID, "the receipt's signature is not base64url");
    }
    EVP_PKEY *key = NULL;
    HEARTH_GUARD(check_signer(ca, cert_b64, &key));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool good = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
                EVP_DigestVerify(md, sig, sl, (const unsigned char *)receipt_text, strlen(receipt_text)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!good) return hearth_err(HEARTH_ERR_AUTH, "the receipt's signature does not verify");
    cJSON *r = cJSON_Parse(receipt_text);
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(r, "device");
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(r, "request");
    const cJSON *del = cJSON_GetObjectItemCaseSensitive(r, "deleted");
    bool shaped = cJSON_IsObject(r) && cJSON_IsString(rd) && cJSON_IsString(rq) && cJSON_IsArray(del);
    bool mine = shaped && strcmp(rd->valuestring, dev) == 0;
    char rqid[37] = "";
    if (shaped) snprintf(rqid, sizeof rqid, "%s", rq->valuestring);
    cJSON_Delete(r);
    if (!shaped) return hearth_err(HEARTH_ERR_INVALID, "the receipt lacks device, request or deleted");
    if (!mine) return hearth_err(HEARTH_ERR_AUTH, "the receipt is for another device");
    pthread_mutex_lock(&p->mu);
    hearth_status st = HEARTH_OK;
    hearth_privacy_erase_status s = p->erase;
    if (strcmp(s.state, "requested") != 0 || strcmp(s.request_id, rqid) != 0)
        st = hearth_err(HEARTH_ERR_STATE, "the receipt does not answer the pending erase request");
    char *stored = NULL;
    if (st == HEARTH_OK) {
        cJSON *o = cJSON_CreateObject();
        bool ok = o != NULL && cJSON_AddStringToObject(o, "receipt", receipt_text) &&
                  cJSON_AddStringToObject(o, "sig", sig_b64) && cJSON_AddStringToObject(o, "signer", SERVICE_CN) &&
                  /* kept so the person can check the signature again on
                   * their own computer (docs/privacy.md) */
                  cJSON_AddStringToObject(o, "cert", cert_b64);
        stored = ok ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (stored == NULL || strlen(stored) >= sizeof p->erase_receipt)
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "the receipt is too large");
    }
    if (st == HEARTH_OK) {
        snprintf(s.state, sizeof s.state, "confirmed");
        s.confirmed_at = hearth_time_now();
        st = erase_save(p, &s, stored);
    }
    if (st == HEARTH_OK) {
        p->erase = s;
        memcpy(p->erase_receipt, stored, strlen(stored) + 1);
    }
    pthread_mutex_unlock(&p->mu);
    cJSON_free(stored);
    if (st == HEARTH_OK)
        hearth_seclog(HEARTH_SEV_INFO, "service_erase_confirmed", "request", rqid, NULL);
    return st;
}
