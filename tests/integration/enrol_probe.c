/* hearth-enrol-probe: the device side of enrolment (src/enrol) on a real
 * provisioned device state, for tests/integration/test_enrol.sh (test only,
 * never installed). The device key stays in the store: it is loaded into
 * memory as hearthd does and never written anywhere.
 *
 *   hearth-enrol-probe enrol   --state DIR --service-ca FILE --url URL
 *   hearth-enrol-probe current --state DIR --service-ca FILE
 *   hearth-enrol-probe mqtt    --state DIR --service-ca FILE --broker-ca FILE --port N
 *
 * enrol: one hearth_enrol_request(); prints "outcome=N not_after=T retry_after=S".
 * current: prints "operational=0|1 not_after=T renew_at=T".
 * mqtt: connects to 127.0.0.1:N with libmosquitto (MQTT 5) presenting the
 * current certificate (hearth_enrol_current_cert()) and the store key via
 * MOSQ_OPT_SSL_CTX; prints "connack=RC" (0 accepted) or "connect failed". */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/enrol.h"
#include "hearth/identity.h"
#include "hearth/util.h"

#define KEY_MAX 4096

static int connack = -1;

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags, const mosquitto_property *p)
{
    (void)m;
    (void)arg;
    (void)flags;
    (void)p;
    connack = rc;
}

static SSL_CTX *mqtt_ctx(const char *broker_ca, const char *cert_pem, size_t cl, const uint8_t *key, size_t kl)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    BIO *b = BIO_new_mem_buf(cert_pem, (int)cl);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    const unsigned char *p = key;
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)kl);
    bool ok = c != NULL && x != NULL && k != NULL && SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) == 1 &&
              SSL_CTX_load_verify_locations(c, broker_ca, NULL) == 1 && SSL_CTX_use_certificate(c, x) == 1 &&
              SSL_CTX_use_PrivateKey(c, k) == 1 && SSL_CTX_check_private_key(c) == 1;
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(b);
    if (!ok) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(c);
        return NULL;
    }
    return c;
}

static int do_mqtt(const hearth_enrol_identity *id, const char *broker_ca, int port, const uint8_t *key,
                   size_t kl)
{
    char pem[HEARTH_ENROL_CERT_MAX * 2];
    size_t pl = 0;
    bool op = false;
    if (hearth_enrol_current_cert(id, (int64_t)time(NULL), pem, sizeof pem, &pl, &op, NULL) != HEARTH_OK) {
        fprintf(stderr, "current certificate: %s\n", hearth_err_msg());
        return 1;
    }
    SSL_CTX *ctx = mqtt_ctx(broker_ca, pem, pl, key, kl);
    if (ctx == NULL) return 1;
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, NULL);
    int rc = 1;
    if (m != NULL) {
        mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, ctx);
        mosquitto_connect_v5_callback_set(m, on_connect);
        printf("presenting=%s\n", op ? "operational" : "factory");
        if (mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
            printf("connect failed\n");
        } else {
            for (int i = 0; i < 50 && connack < 0; i++)
                if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS) break;
            if (connack < 0) printf("connect failed\n");
            else printf("connack=%d\n", connack);
            rc = connack == 0 ? 0 : 1;
            mosquitto_disconnect(m);
        }
        mosquitto_destroy(m);
    }
    mosquitto_lib_cleanup();
    SSL_CTX_free(ctx);
    return rc;
}

int main(int argc, char **argv)
{
    const char *state = NULL, *sca = NULL, *url = NULL, *bca = NULL;
    int port = 0;
    if (argc < 2) return 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--state") == 0) state = argv[i + 1];
        else if (strcmp(argv[i], "--service-ca") == 0) sca = argv[i + 1];
        else if (strcmp(argv[i], "--url") == 0) url = argv[i + 1];
        else if (strcmp(argv[i], "--broker-ca") == 0) bca = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0) port = (int)strtol(argv[i + 1], NULL, 10);
        else return 2;
    }
    if (state == NULL || sca == NULL) return 2;
    hearth_device *dev = NULL;
    if (hearth_device_open(state, &dev) != HEARTH_OK) {
        fprintf(stderr, "open %s: %s\n", state, hearth_err_msg());
        return 1;
    }
    hearth_enrol_identity id = {.state_dir = state, .service_ca = sca,
                                .factory_cert = hearth_device_cert_path(dev),
                                .cn = hearth_device_serial(dev)};
    uint8_t *key = hearth_wipe_malloc(KEY_MAX);
    size_t kl = 0;
    int rc = 1;
    if (key == NULL || hearth_device_private_key_der(dev, key, KEY_MAX, &kl) != HEARTH_OK) {
        fprintf(stderr, "device key: %s\n", hearth_err_msg());
    } else if (strcmp(argv[1], "enrol") == 0 && url != NULL) {
        hearth_enrol_outcome out = HEARTH_ENROL_FAILED;
        hearth_enrol_validity v = {0, 0};
        uint32_t hint = 0;
        hearth_status st = hearth_enrol_request(&id, url, key, kl, 20, &out, &v, &hint);
        printf("outcome=%d not_after=%lld retry_after=%u\n", (int)out, (long long)v.not_after, (unsigned)hint);
        if (st != HEARTH_OK) fprintf(stderr, "enrol: %s\n", hearth_err_msg());
        rc = st == HEARTH_OK ? 0 : 1;
    } else if (strcmp(argv[1], "current") == 0) {
        char pem[HEARTH_ENROL_CERT_MAX * 2];
        size_t pl = 0;
        bool op = false;
        hearth_enrol_validity v = {0, 0};
        if (hearth_enrol_current_cert(&id, (int64_t)time(NULL), pem, sizeof pem, &pl, &op, &v) == HEARTH_OK) {
            printf("operational=%d not_after=%lld renew_at=%lld\n", op ? 1 : 0, (long long)v.not_after,
                   (long long)hearth_enrol_renew_at(&v));
            rc = 0;
        } else {
            fprintf(stderr, "current: %s\n", hearth_err_msg());
        }
    } else if (strcmp(argv[1], "mqtt") == 0 && bca != NULL && port > 0) {
        rc = do_mqtt(&id, bca, port, key, kl);
    } else {
        rc = 2;
    }
    hearth_wipe_free(key);
    hearth_device_close(dev);
    return rc;
}
