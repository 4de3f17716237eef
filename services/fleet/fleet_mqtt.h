/* The service's broker connection (mqtt.c), shared by run and announce. */
#ifndef HEARTH_FLEET_MQTT_H
#define HEARTH_FLEET_MQTT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"
#include "hearth/backoff.h"

struct mosquitto;

#define FLEET_BROKERS_MAX 8

typedef struct {
    char host[256];
    int port;
} fleet_broker;

/** --broker (repeatable, tried in order), --ca, --cert, --key,
 *  --mqtt-protocol (5, default, or 3.1.1 for a broker that speaks only
 *  that, such as RabbitMQ 3.10), and the options every broker command has:
 *  --db, --client-id. */
typedef struct {
    fleet_broker brokers[FLEET_BROKERS_MAX];
    int nbrokers;
    const char *ca, *cert, *key;
    const char *db, *client_id;
    bool v311;
} fleet_conn;

/**
 * Read the option at argv[*i] and its value (advancing *i). The options of
 * fleet_conn are taken (*used true); any other is left in *opt and *val
 * for the command. HEARTH_ERR_INVALID when the value is missing or bad.
 */
hearth_status fleet_conn_arg(fleet_conn *c, int argc, char **argv, int *i, const char **opt,
                             const char **val, bool *used) HEARTH_MUST_CHECK;
/** All connection options given? */
hearth_status fleet_conn_check(const fleet_conn *c) HEARTH_MUST_CHECK;
/** A client with the service's TLS settings (MQTT 5 or 3.1.1, TLS 1.2+, name checked). */
hearth_status fleet_mqtt_new(const fleet_conn *c, const char *client_id, bool clean,
                             void *userdata, struct mosquitto **out) HEARTH_MUST_CHECK;
/**
 * Connect, trying each broker in turn and backing off (@p bo) after every
 * full round; @p session_s > 0 asks the broker to keep the session that
 * long after a disconnect (MQTT 5; with 3.1.1 the broker's own setting
 * applies to a session that is not clean). With @p stop NULL it gives up after three rounds
 * (one-shot commands); otherwise it tries until *stop is set.
 */
hearth_status fleet_mqtt_connect(struct mosquitto *m, const fleet_conn *c, uint32_t session_s,
                                 hearth_backoff *bo, volatile const int *stop) HEARTH_MUST_CHECK;

#endif
