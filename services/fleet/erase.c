/* Personal data at the service (EN 303 645 6-3, 5.11-2, 5.11-4; docs/fleet.md
 * "Personal data and erasure"). One topic per device, hearth/<id>/privacy
 * (the broker's ACL lets only that device write it), carrying
 *   {"v":1,"seq":N,"type":"consent","purpose":P,"granted":B,"ts":T}
 *   {"v":1,"seq":N,"type":"history","purpose":"temperature_history","app":A,"ts":T,"samples":[{"t":MS,"c":X}]}
 *   {"v":1,"seq":N,"type":"erase","request":"<JSON text>","cert":"<base64url DER>","sig":"<base64url>"}
 * A withdrawal deletes the purpose's data at once; shared data is refused
 * unless the device's consent is recorded; an erase request is checked (the
 * certificate chains to --device-ca and names the device the topic names,
 * the signature covers the request text, the request names the device),
 * then the device's personal data is deleted in one transaction (once per
 * request, whichever instance receives it: privacy_db.c), and a receipt
 * signed with the service's key is sent back as a command to
 * POST /api/v1/privacy/service-erase/receipt. The checks and the receipt
 * are this file's, for both backends; the storage is the store's
 * (fleet_db_consent, fleet_db_history, fleet_db_erase). */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "erase.h"
#include "hearth/util.h"

#define PRIVACY_MAX 8192
#define SAMPLES_MAX 64
#define RECEIPT_MAX 2048
#define PEM_MAX 4096

static struct {
    const char *device_ca, *cert, *key, *db_path, *group;
    fleet_db *db; /* erase.c's own connection to the fleet database */
} g;

void fleet_erase_set_device_ca(const char *file) { g.device_ca = file; }

void fleet_erase_set_signer(const char *cert_file, const char *key_file, const char *db_path)
{
    g.cert = cert_file;
    g.key = key_file;
    g.db_path = db_path;
}

void fleet_erase_set_group(const char *group) { g.group = group; }

void fleet_erase_subscribe(struct mosquitto *m)
{
    char filter[FLEET_TOPIC_MAX];
    if (g.group != NULL)
        snprintf(filter, sizeof filter, "$share/%s/hearth/+/privacy", g.group);
    else
        snprintf(filter, sizeof filter, "hearth/+/privacy");
    int rc = mosquitto_subscribe(m, NULL, filter, 1);
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "hearth-fleet: subscribe to %s failed: %s\n", filter, mosquitto_strerror(rc));
}

static bool known_purpose(const char *p)
{
    return strcmp(p, "temperature_history") == 0 || strcmp(p, "usage_telemetry") == 0;
}

/* An integer field of the message: 0..2^53. */
static bool int_field(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 9007199254740991.0 ||
        x->valuedouble != (double)(int64_t)x->valuedouble)
        return false;
    *out = (int64_t)x->valuedouble;
    return true;
}

static hearth_status on_consent(fleet_db *db, const char *id, const cJSON *o, int64_t now)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "purpose");
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(o, "granted");
    int64_t ts = 0, seq = 0;
    if (!cJSON_IsString(p) || !known_purpose(p->valuestring) || !cJSON_IsBool(gr) || !int_field(o, "ts", &ts) ||
        !int_field(o, "seq", &seq))
        return hearth_err(HEARTH_ERR_INVALID, "consent: purpose, granted, ts or seq");
    bool on = cJSON_IsTrue(gr), applied = false;
    int64_t rows = 0;
    HEARTH_GUARD(fleet_db_consent(db, id, p->valuestring, on, ts, seq, now, &applied, &rows));
    if (!applied)
        fprintf(stderr, "hearth-fleet: %s: a consent change for %s older than the one recorded; ignored\n", id,
                p->valuestring);
    else
        fprintf(stderr, "hearth-fleet: %s %s consent for %s%s\n", id, on ? "gave" : "withdrew", p->valuestring,
                on ? "" : rows > 0 ? "; its data deleted" : "; no data held");
    return HEARTH_OK;
}

static hearth_status on_history(fleet_db *db, const char *id, const cJSON *o, int64_t now)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "purpose");
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(o, "app");
    int64_t ts = 0;
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(o, "samples");
    if (!cJSON_IsString(p) || strcmp(p->valuestring, "temperature_history") != 0 || !cJSON_IsString(app) ||
        strlen(app->valuestring) > 32 || !int_field(o, "ts", &ts) || !cJSON_IsArray(samples) ||
        cJSON_GetArraySize(samples) < 1 || cJSON_GetArraySize(samples) > SAMPLES_MAX)
        return hearth_err(HEARTH_ERR_INVALID, "history: purpose, app, ts or samples");
    const cJSON *s;
    cJSON_ArrayForEach(s, samples)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "t");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "c");
        if (!cJSON_IsNumber(t) || !cJSON_IsNumber(c) || c->valuedouble < -100 || c->valuedouble > 200 ||
            cJSON_GetArraySize(s) != 2)
            return hearth_err(HEARTH_ERR_INVALID, "history: a sample is not {t,c}");
    }
    /* Only with the device's consent on record (checked in the same
     * transaction as the insert): a device that withdrew is not stored
     * again until it gives consent anew. */
    char *text = cJSON_PrintUnformatted(samples);
    if (text == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = fleet_db_history(db, id, app->valuestring, ts, text, now);
    cJSON_free(text);
    return st;
}

/* ------------------------------------------------------------ erase */

static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *b = calloc(1, max + 1);
    size_t n = b != NULL ? fread(b, 1, max, f) : 0;
    (void)fclose(f); /* read only: nothing to lose */
    if (b == NULL || n == 0 || n == max) {
        free(b);
        return NULL;
    }
    return b;
}

/* The request's certificate (base64url DER) chains to --device-ca and names @p id. */
static hearth_status check_device(const char *id, const char *b64, EVP_PKEY **key)
{
    if (g.device_ca == NULL) return hearth_err(HEARTH_ERR_STATE, "no --device-ca: erase requests cannot be checked");
    uint8_t der[2048];
    size_t dl = 0;
    X509 *cert = NULL;
    if (hearth_b64url_decode(b64, strlen(b64), der, sizeof der, &dl) == HEARTH_OK) {
        const unsigned char *dp = der;
        cert = d2i_X509(NULL, &dp, (long)dl);
    } else {
        hearth_err_clear();
    }
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    hearth_status st = HEARTH_OK;
    char cn[FLEET_ID_MAX + 1] = "";
    if (cert == NULL || store == NULL || ctx == NULL) st = hearth_err(HEARTH_ERR_INVALID, "certificate");
    else if (X509_STORE_load_file(store, g.device_ca) != 1) st = hearth_err(HEARTH_ERR_IO, "cannot read --device-ca");
    else if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1 || X509_verify_cert(ctx) != 1)
        st = hearth_err(HEARTH_ERR_AUTH, "the certificate does not chain to --device-ca");
    else if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) <= 0 ||
             strcmp(cn, id) != 0)
        st = hearth_err(HEARTH_ERR_AUTH, "the certificate names another device");
    if (st == HEARTH_OK && (*key = X509_get_pubkey(cert)) == NULL) st = hearth_err(HEARTH_ERR_INVALID, "key");
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
    ERR_clear_error();
    return st;
}

static bool verify(EVP_PKEY *key, const char *text, const char *sig64)
{
    uint8_t sig[160];
    size_t sl = 0;
    if (hearth_b64url_decode(sig64, strlen(sig64), sig, sizeof sig, &sl) != HEARTH_OK) return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(md, sig, sl, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

static hearth_status sign(const char *text, char *out, size_t cap)
{
    char *pem = read_text(g.key, PEM_MAX);
    if (pem == NULL) return hearth_err(HEARTH_ERR_IO, "cannot read the service key");
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    hearth_memzero(pem, strlen(pem));
    free(pem);
    EVP_MD_CTX *md = key != NULL ? EVP_MD_CTX_new() : NULL;
    unsigned char sig[512];
    size_t sl = sizeof sig;
    bool ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(md, sig, &sl, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    ERR_clear_error();
    if (!ok) return hearth_err(HEARTH_ERR_CRYPTO, "cannot sign the receipt");
    return hearth_b64url_encode(sig, sl, out, cap);
}

/* The service's certificate as base64url DER (malloc'd), NULL on failure. */
static char *cert_b64(void)
{
    char *pem = read_text(g.cert, PEM_MAX);
    BIO *b = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    free(pem);
    unsigned char *der = NULL;
    int dl = x != NULL ? i2d_X509(x, &der) : -1;
    X509_free(x);
    size_t cap = dl > 0 ? ((size_t)dl + 2) / 3 * 4 + 1 : 0;
    char *out = cap > 0 ? malloc(cap) : NULL;
    if (out != NULL && hearth_b64url_encode(der, (size_t)dl, out, cap) != HEARTH_OK) {
        free(out);
        out = NULL;
    }
    OPENSSL_free(der);
    ERR_clear_error();
    return out;
}

typedef struct {
    const char *what, *where;
} erase_step;

/* What the service holds of a device and deletes on request (docs/fleet.md),
 * in the order of the store's erasure (FLEET_ERASE_STEPS). */
static const erase_step steps[FLEET_ERASE_STEPS] = {
    {"temperature history", "fleet database, privacy_history"},
    {"security telemetry reports (with the usage counts)", "fleet database, telemetry"},
    {"security events", "fleet database, events"},
    {"command results", "fleet database, cmd_results"},
    {"listening ports seen", "fleet database, device_ports"},
    {"latest state and telemetry", "fleet database, devices"},
};

typedef struct {
    const char *id, *reqid;
    int64_t now;
} receipt_ctx;

/* The receipt: what was deleted where (the rows each step deleted), what
 * was kept and why. Built inside the erasure's transaction and recorded
 * with it (fleet_db_erase). */
static hearth_status build_receipt(void *vctx, const int64_t rows[FLEET_ERASE_STEPS], char **out)
{
    const receipt_ctx *c = vctx;
    *out = NULL;
    cJSON *receipt = cJSON_CreateObject();
    cJSON *deleted = cJSON_CreateArray();
    cJSON *kept = cJSON_CreateArray();
    bool ok = receipt != NULL && deleted != NULL && kept != NULL;
    for (size_t i = 0; ok && i < FLEET_ERASE_STEPS; i++) {
        cJSON *d = cJSON_CreateObject();
        ok = d != NULL && cJSON_AddItemToArray(deleted, d) && cJSON_AddStringToObject(d, "what", steps[i].what) &&
             cJSON_AddStringToObject(d, "where", steps[i].where) &&
             cJSON_AddNumberToObject(d, "rows", (double)rows[i]);
        if (d != NULL && !ok && cJSON_GetArraySize(deleted) == (int)i) cJSON_Delete(d);
    }
    static const char *const k[2][3] = {
        {"device id, model, software version, first and last seen", "fleet database, devices",
         "to keep updating and, if needed, revoking the device"},
        {"whether each consent is given (no user name)", "fleet database, privacy_consents",
         "the device's consents stay in force; withdraw them on the device"},
    };
    for (size_t i = 0; ok && i < 2; i++) {
        cJSON *x = cJSON_CreateObject();
        ok = x != NULL && cJSON_AddItemToArray(kept, x);
        if (!ok) cJSON_Delete(x);
        ok = ok && cJSON_AddStringToObject(x, "what", k[i][0]) && cJSON_AddStringToObject(x, "where", k[i][1]) &&
             cJSON_AddStringToObject(x, "why", k[i][2]);
    }
    bool attached = false;
    ok = ok && cJSON_AddStringToObject(receipt, "device", c->id) && cJSON_AddStringToObject(receipt, "request", c->reqid) &&
         cJSON_AddStringToObject(receipt, "service", "hearth-fleet") &&
         cJSON_AddNumberToObject(receipt, "erased_at", (double)c->now) &&
         cJSON_AddItemToObject(receipt, "deleted", deleted) && (attached = true) &&
         cJSON_AddItemToObject(receipt, "kept", kept);
    if (!attached) {
        cJSON_Delete(deleted);
        cJSON_Delete(kept);
    } else if (!ok && cJSON_GetObjectItemCaseSensitive(receipt, "kept") == NULL) {
        cJSON_Delete(kept);
    }
    char *text = ok ? cJSON_PrintUnformatted(receipt) : NULL;
    cJSON_Delete(receipt);
    if (text == NULL) return hearth_err(HEARTH_ERR_NOMEM, "receipt");
    if (strlen(text) > RECEIPT_MAX) {
        cJSON_free(text);
        return hearth_err(HEARTH_ERR_TOO_LARGE, "receipt");
    }
    *out = strdup(text);
    cJSON_free(text);
    return *out != NULL ? HEARTH_OK : hearth_err(HEARTH_ERR_NOMEM, "receipt");
}

static hearth_status on_erase(struct mosquitto *m, fleet_db *db, const char *id, const cJSON *o, int64_t now)
{
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(o, "request");
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(o, "cert");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(o, "sig");
    if (!cJSON_IsString(rq) || !cJSON_IsString(cert) || !cJSON_IsString(sig) || strlen(rq->valuestring) > 512)
        return hearth_err(HEARTH_ERR_INVALID, "erase: request, cert or sig");
    EVP_PKEY *key = NULL;
    HEARTH_GUARD(check_device(id, cert->valuestring, &key));
    bool good = verify(key, rq->valuestring, sig->valuestring);
    EVP_PKEY_free(key);
    if (!good) return hearth_err(HEARTH_ERR_AUTH, "erase: the signature does not verify");
    cJSON *r = cJSON_Parse(rq->valuestring);
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(r, "device");
    const cJSON *ri = cJSON_GetObjectItemCaseSensitive(r, "id");
    char reqid[40] = "";
    bool ok = cJSON_IsString(rd) && strcmp(rd->valuestring, id) == 0 && cJSON_IsString(ri) &&
              strlen(ri->valuestring) == 36 && strspn(ri->valuestring, "0123456789abcdef-") == 36;
    if (ok) memcpy(reqid, ri->valuestring, 37);
    cJSON_Delete(r);
    if (!ok) return hearth_err(HEARTH_ERR_INVALID, "erase: the request names another device or no id");

    /* Delete and record the receipt, once per request (a redelivery, to
     * this instance or another, gets the recorded receipt again). */
    receipt_ctx ctx = {id, reqid, now};
    char *text = NULL;
    bool again = false;
    HEARTH_GUARD(fleet_db_erase(db, id, reqid, now, build_receipt, &ctx, &text, &again));
    if (again)
        fprintf(stderr, "hearth-fleet: erase request %s of %s was answered before: its receipt is sent again\n",
                reqid, id);
    else
        fprintf(stderr, "hearth-fleet: erased the personal data of %s (request %s)\n", id, reqid);

    /* The signed receipt goes back as a command (the same command id for a
     * repeat: the device answers it as a duplicate). */
    char sig64[800];
    char *pem = cert_b64();
    hearth_status st = pem != NULL ? sign(text, sig64, sizeof sig64) : hearth_err(HEARTH_ERR_IO, "cannot read the service cert");
    cJSON *cmd = cJSON_CreateObject();
    cJSON *body = cJSON_CreateObject();
    char cid[64];
    snprintf(cid, sizeof cid, "erase-%s", reqid);
    char *payload = NULL;
    if (st == HEARTH_OK && cmd != NULL && body != NULL && cJSON_AddNumberToObject(cmd, "v", 1) &&
        cJSON_AddStringToObject(cmd, "id", cid) && cJSON_AddStringToObject(cmd, "method", "POST") &&
        cJSON_AddStringToObject(cmd, "path", "/api/v1/privacy/service-erase/receipt") &&
        cJSON_AddStringToObject(body, "receipt", text) && cJSON_AddStringToObject(body, "cert", pem) &&
        cJSON_AddStringToObject(body, "sig", sig64) && cJSON_AddItemToObject(cmd, "body", body)) {
        body = NULL;
        payload = cJSON_PrintUnformatted(cmd);
    }
    cJSON_Delete(body);
    cJSON_Delete(cmd);
    free(pem);
    free(text);
    if (st == HEARTH_OK && payload == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "receipt command");
    if (st == HEARTH_OK) {
        char topic[FLEET_TOPIC_MAX + 16];
        snprintf(topic, sizeof topic, "hearth/%s/cmd/req", id);
        int rc = mosquitto_publish(m, NULL, topic, (int)strlen(payload), payload, 1, false);
        if (rc != MOSQ_ERR_SUCCESS) st = hearth_err(HEARTH_ERR_IO, "publish: %s", mosquitto_strerror(rc));
    }
    cJSON_free(payload);
    return st;
}

/* The connection, opened on first use (the schema is the store's). */
static hearth_status db_open(void)
{
    if (g.db != NULL) return HEARTH_OK;
    if (g.db_path == NULL) return hearth_err(HEARTH_ERR_STATE, "no database");
    return fleet_db_open(g.db_path, false, &g.db);
}

bool fleet_erase_message(struct mosquitto *m, const struct mosquitto_message *msg, int64_t now)
{
    static const char prefix[] = "hearth/", suffix[] = "/privacy";
    const char *t = msg->topic;
    size_t tl = t != NULL ? strnlen(t, FLEET_TOPIC_MAX + 1) : 0;
    if (tl <= sizeof prefix + sizeof suffix - 2 || tl > FLEET_TOPIC_MAX ||
        strncmp(t, prefix, sizeof prefix - 1) != 0 || strcmp(t + tl - (sizeof suffix - 1), suffix) != 0)
        return false;
    char id[FLEET_ID_MAX + 1];
    size_t idl = tl - (sizeof prefix - 1) - (sizeof suffix - 1);
    if (idl > FLEET_ID_MAX || !fleet_id_valid(t + sizeof prefix - 1, idl)) {
        fprintf(stderr, "hearth-fleet: rejected a privacy message: bad topic\n");
        return true;
    }
    memcpy(id, t + sizeof prefix - 1, idl);
    id[idl] = '\0';
    hearth_status st = db_open();
    fleet_db *db = g.db;
    cJSON *o = NULL;
    if (st == HEARTH_OK && (msg->payloadlen <= 0 || msg->payloadlen > PRIVACY_MAX ||
                            (o = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen)) == NULL))
        st = hearth_err(HEARTH_ERR_INVALID, "not a JSON object of at most %d bytes", PRIVACY_MAX);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (st == HEARTH_OK && (!cJSON_IsNumber(v) || v->valuedouble != 1 || !cJSON_IsString(type)))
        st = hearth_err(HEARTH_ERR_INVALID, "v or type");
    if (st == HEARTH_OK) {
        if (strcmp(type->valuestring, "consent") == 0) st = on_consent(db, id, o, now);
        else if (strcmp(type->valuestring, "history") == 0) st = on_history(db, id, o, now);
        else if (strcmp(type->valuestring, "erase") == 0) st = on_erase(m, db, id, o, now);
        else st = hearth_err(HEARTH_ERR_INVALID, "unknown type");
    }
    cJSON_Delete(o);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: rejected a privacy message from %s: %s\n", id, hearth_err_msg());
        /* Counted with the others, by a reason from a fixed set. */
        if (db != NULL &&
            (fleet_db_reject(db, st == HEARTH_ERR_FORBIDDEN ? "privacy/no_consent" : "privacy/invalid", now) !=
                 HEARTH_OK ||
             fleet_db_commit(db) != HEARTH_OK))
            hearth_err_clear();
    }
    return true;
}
