/* hearth-fleet's personal-data side (docs/fleet.md "Personal data and
 * erasure", docs/privacy.md): the topic hearth/<id>/privacy, on which a
 * device sends its consent changes, the data it shares under consent (the
 * temperature history) and its signed erase requests. cmd_run.c calls
 * these four functions; everything else is in erase.c. */
#ifndef HEARTH_FLEET_ERASE_H
#define HEARTH_FLEET_ERASE_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"

struct mosquitto;
struct mosquitto_message;

/** --device-ca FILE: the CA(s) whose device certificates sign erase
 *  requests (the manufacturer CA, and the service CA for operational ones). */
void fleet_erase_set_device_ca(const char *file);
/** The service's certificate and key (run's --cert/--key), which sign
 *  receipts, and the database (run's --db), which erase.c opens with its own
 *  connection (the writer thread owns the ingest connection). */
void fleet_erase_set_signer(const char *cert_file, const char *key_file, const char *db_path);
/** run --shared GROUP: the privacy topic too is a shared subscription. */
void fleet_erase_set_group(const char *group);
/** Subscribe to hearth/+/privacy, or $share/GROUP/hearth/+/privacy (on every connect). */
void fleet_erase_subscribe(struct mosquitto *m);
/**
 * Handle @p msg if its topic is hearth/<id>/privacy (true: handled,
 * accepted or refused; false: not this topic). A consent withdrawal deletes
 * that purpose's data of the device at once; shared data is stored only
 * while the device's consent for its purpose is recorded; an erase request
 * that verifies deletes the device's personal data and is answered with a
 * signed receipt (a command on hearth/<id>/cmd/req); the same request again
 * (to this instance or another sharing the database) erases nothing more and
 * is answered with the recorded receipt. Runs on the MQTT thread with its
 * own connection to the database (SQLite or PostgreSQL): privacy messages
 * are few (a history message per consenting device per sampling interval);
 * on SQLite they wait for the writer's open batch, at most its 200 ms.
 */
bool fleet_erase_message(struct mosquitto *m, const struct mosquitto_message *msg, int64_t now);

#endif
