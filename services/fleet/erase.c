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
 * then the device's personal data is deleted in one transaction with
 * SQLite's secure_delete on, and a receipt signed with the service's key is
 * sent back as a command to POST /api/v1/privacy/service-erase/receipt. */
#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "erase.h"
#include "hearth/util.h"

#define PRIVACY_MAX 8192
#define SAMPLES_MAX 64
#define HISTORY_RETAIN_S (30 * 86400)
#define RECEIPT_MAX 2048
#define PEM_MAX 4096

static struct {
    const char *device_ca, *cert, *key, *db_path;
    sqlite3 *h; /* erase.c's own connection to the fleet database */
} g;

void fleet_erase_set_device_ca(const char *file) { g.device_ca = file; }

void fleet_erase_set_signer(const char *cert_file, const char *key_file, const char *db_path)
{
    g.cert = cert_file;
    g.key = key_file;
    g.db_path = db_path;
}

void fleet_erase_subscribe(struct mosquitto *m)
{
    int rc = mosquitto_subscribe(m, NULL, "hearth/+/privacy", 1);
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "hearth-fleet: subscribe to hearth/+/privacy failed: %s\n", mosquitto_strerror(rc));
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS privacy_consents(device TEXT NOT NULL, purpose TEXT NOT NULL,"
    " granted INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(device, purpose)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS privacy_history(device TEXT NOT NULL, received INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, app TEXT NOT NULL, samples TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS privacy_history_device ON privacy_history(device, received);"
    "CREATE TABLE IF NOT EXISTS privacy_erasures(device TEXT NOT NULL, request TEXT NOT NULL,"
    " received INTEGER NOT NULL, receipt TEXT NOT NULL);";

static hearth_status sql(sqlite3 *h, const char *q)
{
    char *err = NULL;
    if (sqlite3_exec(h, q, NULL, NULL, &err) != SQLITE_OK) {
        hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s", err != NULL ? err : "?");
        sqlite3_free(err);
        return st;
    }
    return HEARTH_OK;
}

/* Run @p q with ?1 = id, ?2 = s2, ?3 = i3, ?4 = i4, ?5 = s5 (those it has);
 * *changes: rows changed. */
static hearth_status run(sqlite3 *h, const char *q, const char *id, const char *s2, int64_t i3, int64_t i4,
                         const char *s5, int *changes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, q, -1, &st, NULL) != SQLITE_OK)
        return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    int n = sqlite3_bind_parameter_count(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (n >= 2) sqlite3_bind_text(st, 2, s2, -1, SQLITE_TRANSIENT);
    if (n >= 3) sqlite3_bind_int64(st, 3, i3);
    if (n >= 4) sqlite3_bind_int64(st, 4, i4);
    if (n >= 5) sqlite3_bind_text(st, 5, s5, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return hearth_err(HEARTH_ERR_IO, "database: %s", sqlite3_errmsg(h));
    if (changes != NULL) *changes = sqlite3_changes(h);
    return HEARTH_OK;
}

static bool consent_recorded(sqlite3 *h, const char *id, const char *purpose)
{
    sqlite3_stmt *st = NULL;
    bool on = false;
    if (sqlite3_prepare_v2(h, "SELECT granted FROM privacy_consents WHERE device = ?1 AND purpose = ?2", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, purpose, -1, SQLITE_TRANSIENT);
        on = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    }
    sqlite3_finalize(st);
    return on;
}

static bool known_purpose(const char *p)
{
    return strcmp(p, "temperature_history") == 0 || strcmp(p, "usage_telemetry") == 0;
}

/* Delete @p purpose's data of device @p id. */
static hearth_status delete_purpose(sqlite3 *h, const char *id, const char *purpose, int *rows)
{
    *rows = 0;
    if (strcmp(purpose, "temperature_history") == 0)
        return run(h, "DELETE FROM privacy_history WHERE device = ?1", id, NULL, 0, 0, NULL, rows);
    /* usage_telemetry: the "use" class of the stored reports. */
    int a = 0, b = 0;
    HEARTH_GUARD(run(h, "UPDATE telemetry SET report = json_remove(report, '$.use') WHERE device = ?1"
                        " AND json_extract(report, '$.use') IS NOT NULL", id, NULL, 0, 0, NULL, &a));
    HEARTH_GUARD(run(h, "UPDATE devices SET telemetry = json_remove(telemetry, '$.use') WHERE id = ?1"
                        " AND json_extract(telemetry, '$.use') IS NOT NULL", id, NULL, 0, 0, NULL, &b));
    *rows = a + b;
    return HEARTH_OK;
}

static hearth_status on_consent(sqlite3 *h, const char *id, const cJSON *o, int64_t now)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "purpose");
    const cJSON *gr = cJSON_GetObjectItemCaseSensitive(o, "granted");
    if (!cJSON_IsString(p) || !known_purpose(p->valuestring) || !cJSON_IsBool(gr))
        return hearth_err(HEARTH_ERR_INVALID, "consent: purpose or granted");
    bool on = cJSON_IsTrue(gr);
    HEARTH_GUARD(sql(h, "BEGIN IMMEDIATE"));
    int rows = 0;
    hearth_status st = run(h,
                           "INSERT INTO privacy_consents(device, purpose, granted, at) VALUES(?1, ?2, ?3, ?4)"
                           " ON CONFLICT(device, purpose) DO UPDATE SET granted = ?3, at = ?4",
                           id, p->valuestring, on ? 1 : 0, now, NULL, NULL);
    if (st == HEARTH_OK && !on) st = delete_purpose(h, id, p->valuestring, &rows);
    st = st == HEARTH_OK ? sql(h, "COMMIT") : st;
    if (st != HEARTH_OK) {
        (void)sql(h, "ROLLBACK");
        return st;
    }
    fprintf(stderr, "hearth-fleet: %s %s consent for %s%s\n", id, on ? "gave" : "withdrew", p->valuestring,
            on ? "" : rows > 0 ? "; its data deleted" : "; no data held");
    return HEARTH_OK;
}

static hearth_status on_history(sqlite3 *h, const char *id, const cJSON *o, int64_t now)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "purpose");
    const cJSON *app = cJSON_GetObjectItemCaseSensitive(o, "app");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(o, "samples");
    if (!cJSON_IsString(p) || strcmp(p->valuestring, "temperature_history") != 0 || !cJSON_IsString(app) ||
        strlen(app->valuestring) > 32 || !cJSON_IsNumber(ts) || !cJSON_IsArray(samples) ||
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
    /* Only with the device's consent on record: a device that withdrew is
     * not stored again until it gives consent anew. */
    if (!consent_recorded(h, id, "temperature_history"))
        return hearth_err(HEARTH_ERR_FORBIDDEN, "history without consent on record");
    char *text = cJSON_PrintUnformatted(samples);
    if (text == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = run(h, "INSERT INTO privacy_history(device, app, received, ts, samples)"
                              " VALUES(?1, ?2, ?3, ?4, json(?5))", id, app->valuestring, now,
                           (int64_t)ts->valuedouble, text, NULL);
    /* Kept 30 days (docs/privacy-notice.md). */
    if (st == HEARTH_OK)
        st = run(h, "DELETE FROM privacy_history WHERE device = ?1 AND received < ?3", id, NULL,
                 now - HISTORY_RETAIN_S, 0, NULL, NULL);
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
    fclose(f);
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
    const char *what, *where, *sql;
} erase_step;

/* What the service holds of a device and deletes on request (docs/fleet.md). */
static const erase_step steps[] = {
    {"temperature history", "fleet database, privacy_history", "DELETE FROM privacy_history WHERE device = ?1"},
    {"security telemetry reports (with the usage counts)", "fleet database, telemetry",
     "DELETE FROM telemetry WHERE device = ?1"},
    {"security events", "fleet database, events", "DELETE FROM events WHERE device = ?1"},
    {"command results", "fleet database, cmd_results", "DELETE FROM cmd_results WHERE device = ?1"},
    {"listening ports seen", "fleet database, device_ports", "DELETE FROM device_ports WHERE device = ?1"},
    {"latest state and telemetry", "fleet database, devices",
     "UPDATE devices SET state = NULL, state_seq = NULL, state_at = NULL, telemetry = NULL,"
     " telemetry_seq = NULL, telemetry_at = NULL, telemetry_count = 0, events_count = 0 WHERE id = ?1"},
};

static hearth_status on_erase(struct mosquitto *m, sqlite3 *h, const char *id, const cJSON *o, int64_t now)
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

    /* Delete, in one transaction, with deleted content overwritten. */
    cJSON *receipt = cJSON_CreateObject();
    cJSON *deleted = cJSON_CreateArray();
    cJSON *kept = cJSON_CreateArray();
    hearth_status st = receipt != NULL && deleted != NULL && kept != NULL ? HEARTH_OK : HEARTH_ERR_NOMEM;
    if (st == HEARTH_OK) st = sql(h, "PRAGMA secure_delete = ON");
    if (st == HEARTH_OK) st = sql(h, "BEGIN IMMEDIATE");
    for (size_t i = 0; st == HEARTH_OK && i < sizeof steps / sizeof steps[0]; i++) {
        int rows = 0;
        st = run(h, steps[i].sql, id, NULL, 0, 0, NULL, &rows);
        cJSON *d = cJSON_CreateObject();
        if (d == NULL || !cJSON_AddItemToArray(deleted, d) || !cJSON_AddStringToObject(d, "what", steps[i].what) ||
            !cJSON_AddStringToObject(d, "where", steps[i].where) || !cJSON_AddNumberToObject(d, "rows", rows))
            st = HEARTH_ERR_NOMEM;
    }
    cJSON *k = cJSON_CreateObject();
    if (st == HEARTH_OK &&
        (k == NULL || !cJSON_AddItemToArray(kept, k) ||
         !cJSON_AddStringToObject(k, "what", "device id, model, software version, first and last seen") ||
         !cJSON_AddStringToObject(k, "where", "fleet database, devices") ||
         !cJSON_AddStringToObject(k, "why", "to keep updating and, if needed, revoking the device")))
        st = HEARTH_ERR_NOMEM;
    cJSON *k2 = st == HEARTH_OK ? cJSON_CreateObject() : NULL;
    if (st == HEARTH_OK &&
        (k2 == NULL || !cJSON_AddItemToArray(kept, k2) ||
         !cJSON_AddStringToObject(k2, "what", "whether each consent is given (no user name)") ||
         !cJSON_AddStringToObject(k2, "where", "fleet database, privacy_consents") ||
         !cJSON_AddStringToObject(k2, "why", "the device's consents stay in force; withdraw them on the device")))
        st = HEARTH_ERR_NOMEM;
    else if (st != HEARTH_OK)
        cJSON_Delete(k);
    bool attached = false;
    if (st == HEARTH_OK &&
        !(cJSON_AddStringToObject(receipt, "device", id) && cJSON_AddStringToObject(receipt, "request", reqid) &&
          cJSON_AddStringToObject(receipt, "service", "hearth-fleet") &&
          cJSON_AddNumberToObject(receipt, "erased_at", (double)now) &&
          cJSON_AddItemToObject(receipt, "deleted", deleted) && (attached = true) &&
          cJSON_AddItemToObject(receipt, "kept", kept)))
        st = HEARTH_ERR_NOMEM;
    if (!attached) {
        cJSON_Delete(deleted);
        cJSON_Delete(kept);
    }
    char *text = st == HEARTH_OK ? cJSON_PrintUnformatted(receipt) : NULL;
    cJSON_Delete(receipt);
    if (st == HEARTH_OK && (text == NULL || strlen(text) > RECEIPT_MAX)) st = hearth_err(HEARTH_ERR_TOO_LARGE, "receipt");
    if (st == HEARTH_OK)
        st = run(h, "INSERT INTO privacy_erasures(device, request, received, receipt) VALUES(?1, ?2, ?3 + ?4, ?5)",
                 id, reqid, now, 0, text, NULL);
    if (st == HEARTH_OK) st = sql(h, "COMMIT");
    if (st != HEARTH_OK) (void)sql(h, "ROLLBACK");
    (void)sql(h, "PRAGMA secure_delete = OFF");
    if (st != HEARTH_OK) {
        cJSON_free(text);
        return st;
    }
    fprintf(stderr, "hearth-fleet: erased the personal data of %s (request %s)\n", id, reqid);

    /* The signed receipt goes back as a command. */
    char sig64[800];
    char *pem = cert_b64();
    st = pem != NULL ? sign(text, sig64, sizeof sig64) : hearth_err(HEARTH_ERR_IO, "cannot read the service cert");
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
    cJSON_free(text);
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

/* The connection, opened (and the tables created) on first use. */
static hearth_status db_open(void)
{
    if (g.h != NULL) return HEARTH_OK;
    if (g.db_path == NULL) return hearth_err(HEARTH_ERR_STATE, "no database");
    if (sqlite3_open_v2(g.db_path, &g.h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        hearth_status st = hearth_err(HEARTH_ERR_IO, "database: %s", g.h != NULL ? sqlite3_errmsg(g.h) : "open");
        sqlite3_close(g.h);
        g.h = NULL;
        return st;
    }
    sqlite3_busy_timeout(g.h, 5000);
    hearth_status st = sql(g.h, SCHEMA);
    if (st != HEARTH_OK) {
        sqlite3_close(g.h);
        g.h = NULL;
    }
    return st;
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
    sqlite3 *h = g.h;
    cJSON *o = NULL;
    if (st == HEARTH_OK && (msg->payloadlen <= 0 || msg->payloadlen > PRIVACY_MAX ||
                            (o = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen)) == NULL))
        st = hearth_err(HEARTH_ERR_INVALID, "not a JSON object of at most %d bytes", PRIVACY_MAX);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (st == HEARTH_OK && (!cJSON_IsNumber(v) || v->valuedouble != 1 || !cJSON_IsString(type)))
        st = hearth_err(HEARTH_ERR_INVALID, "v or type");
    if (st == HEARTH_OK) {
        if (strcmp(type->valuestring, "consent") == 0) st = on_consent(h, id, o, now);
        else if (strcmp(type->valuestring, "history") == 0) st = on_history(h, id, o, now);
        else if (strcmp(type->valuestring, "erase") == 0) st = on_erase(m, h, id, o, now);
        else st = hearth_err(HEARTH_ERR_INVALID, "unknown type");
    }
    cJSON_Delete(o);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: rejected a privacy message from %s: %s\n", id, hearth_err_msg());
        /* Counted with the others, by a reason from a fixed set. */
        if (h != NULL &&
            run(h, "INSERT INTO rejections(reason, count, last_at) VALUES(?2, 1, ?3)"
                   " ON CONFLICT(reason) DO UPDATE SET count = count + 1, last_at = ?3 WHERE ?1 IS NOT NULL",
                id, st == HEARTH_ERR_FORBIDDEN ? "privacy/no_consent" : "privacy/invalid", now, 0, NULL,
                NULL) != HEARTH_OK)
            hearth_err_clear();
    }
    return true;
}
