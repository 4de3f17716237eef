/* The service's broker connection (run and announce): libmosquitto, MQTT 5
 * (or 3.1.1 with --mqtt-protocol 3.1.1, for RabbitMQ 3.10's MQTT plugin),
 * mutual TLS with the service's certificate (CN hearth-fleet) against the
 * service CA, the broker's name checked, several brokers tried in order,
 * every retry paced by the one backoff module (include/hearth/backoff.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "fleet_mqtt.h"
#include "hearth/backoff.h"

hearth_status fleet_conn_arg(fleet_conn *c, int argc, char **argv, int *i, const char **optp,
                             const char **valp, bool *used)
{
    *used = false;
    if (*i + 1 >= argc) return hearth_err(HEARTH_ERR_INVALID, "%s needs a value", argv[*i]);
    const char *opt = *optp = argv[*i], *val = *valp = argv[*i + 1];
    *i += 1;
    *used = true;
    if (strcmp(opt, "--db") == 0) {
        c->db = val;
    } else if (strcmp(opt, "--client-id") == 0) {
        if (!fleet_id_valid(val, strlen(val)))
            return hearth_err(HEARTH_ERR_INVALID, "--client-id must be 1..64 of [A-Za-z0-9_-]");
        c->client_id = val;
    } else if (strcmp(opt, "--broker") == 0) {
        if (c->nbrokers >= FLEET_BROKERS_MAX)
            return hearth_err(HEARTH_ERR_INVALID, "at most %d --broker", FLEET_BROKERS_MAX);
        fleet_broker *b = &c->brokers[c->nbrokers];
        HEARTH_GUARD(fleet_hostport(val, b->host, sizeof b->host, &b->port));
        c->nbrokers++;
    } else if (strcmp(opt, "--mqtt-protocol") == 0) {
        if (strcmp(val, "5") != 0 && strcmp(val, "3.1.1") != 0)
            return hearth_err(HEARTH_ERR_INVALID, "--mqtt-protocol must be 5 or 3.1.1");
        c->v311 = strcmp(val, "3.1.1") == 0;
    } else if (strcmp(opt, "--ca") == 0) {
        c->ca = val;
    } else if (strcmp(opt, "--cert") == 0) {
        c->cert = val;
    } else if (strcmp(opt, "--key") == 0) {
        c->key = val;
    } else {
        *used = false;
    }
    return HEARTH_OK;
}

hearth_status fleet_conn_check(const fleet_conn *c)
{
    if (c->nbrokers == 0 || c->ca == NULL || c->cert == NULL || c->key == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "--broker, --ca, --cert and --key are required");
    return HEARTH_OK;
}

hearth_status fleet_mqtt_new(const fleet_conn *c, const char *client_id, bool clean, void *userdata,
                             struct mosquitto **out)
{
    *out = NULL;
    struct mosquitto *m = mosquitto_new(client_id, clean, userdata);
    if (m == NULL) return hearth_err(HEARTH_ERR_NOMEM, "mosquitto_new failed");
    int rc = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, c->v311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
    /* Let the broker keep many QoS 1 messages in flight to us: ingest
     * speed, not the protocol's default window of 20, sets the pace. */
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 65535);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_tls_set(m, c->ca, NULL, c->cert, c->key, NULL);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_tls_opts_set(m, 1, "tlsv1.2", NULL);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_tls_insecure_set(m, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(m);
        return hearth_err(HEARTH_ERR_INVALID, "MQTT TLS setup: %s", mosquitto_strerror(rc));
    }
    *out = m;
    return HEARTH_OK;
}

static void sleep_ms(uint64_t ms, volatile const int *stop)
{
    while (ms > 0 && (stop == NULL || !*stop)) {
        uint64_t step = ms > 100 ? 100 : ms;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

hearth_status fleet_mqtt_connect(struct mosquitto *m, const fleet_conn *c, uint32_t session_s,
                                 hearth_backoff *bo, volatile const int *stop)
{
    /* MQTT 5 ends a session when its connection closes unless the client
     * asks for an expiry interval: the service's session (and the QoS 1
     * messages queued for it) must outlive a restart. */
    mosquitto_property *props = NULL;
    if (session_s > 0 && !c->v311 &&
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, session_s) != MOSQ_ERR_SUCCESS)
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    for (unsigned i = 0;; i++) {
        if (stop != NULL && *stop) {
            mosquitto_property_free_all(&props);
            return hearth_err(HEARTH_ERR_STATE, "stopped");
        }
        const fleet_broker *b = &c->brokers[i % c->nbrokers];
        int rc = mosquitto_connect_bind_v5(m, b->host, b->port, 30, NULL, props);
        if (rc == MOSQ_ERR_SUCCESS) {
            mosquitto_property_free_all(&props);
            return HEARTH_OK;
        }
        /* The next broker at once; after a full round, back off. */
        if ((i + 1) % c->nbrokers != 0) continue;
        uint64_t d = hearth_backoff_failed(bo, HEARTH_BACKOFF_FAILED, 0);
        fprintf(stderr, "hearth-fleet: cannot connect to %s:%d: %s; retrying in %llu ms\n", b->host,
                b->port, rc == MOSQ_ERR_ERRNO ? "network or TLS error" : mosquitto_strerror(rc),
                (unsigned long long)d);
        if (bo != NULL && stop == NULL && hearth_backoff_attempts(bo) >= 3) {
            mosquitto_property_free_all(&props);
            return hearth_err(HEARTH_ERR_IO, "cannot connect to the broker");
        }
        sleep_ms(d, stop);
    }
}
