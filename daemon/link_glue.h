/*
 * hearthd <-> MQTT link wiring (docs/mqtt.md). Kept apart from runtime.c so
 * the runtime needs one line per hook:
 *   hearthd_link_args()     strip the --mqtt-* options
 *   hearthd_link_sandbox()  the brokers' TCP ports and the service CA file
 *   hearthd_link_start()    open the outbox and request-id memory, start the link
 *   hearthd_link_stop()     say offline, stop, close (first thing at shutdown)
 *   hearthd_link_telemetry() the callback the telemetry glue hands reports to
 * Built without the link (HEARTH_WITH_LINK=OFF, link_off.c) these do nothing
 * and no --mqtt-* option is accepted.
 */
#ifndef HEARTHD_LINK_GLUE_H
#define HEARTHD_LINK_GLUE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "hearth/api.h"
#include "hearth/app.h"
#include "hearth/identity.h"
#include "hearth/sandbox.h"

/** Consume the link's options from argv (0 ok, 2 usage error). */
int hearthd_link_args(const char *prog, int *argc, char **argv);
/** Usage lines of the link's options (nothing without the link). */
void hearthd_link_usage(FILE *f);
/** Append the brokers' ports to @p ports and the CA file to @p paths. */
void hearthd_link_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *ports,
                          size_t pcap, size_t *np);
/** Start the link when a broker is configured (0 ok or not configured, 1 error, printed). */
int hearthd_link_start(hearth_device *dev, const char *state_dir, hearth_api *api, hearth_apps *apps);
/** Stop and free everything started here. Idempotent. */
void hearthd_link_stop(void);
/**
 * Queue one telemetry report (a JSON object starting {"v":1) for
 * hearth/<id>/telemetry (the telemetry glue's sink, hearthd_telemetry_sink);
 * dropped when the link is off. Any thread.
 */
void hearthd_link_telemetry(const char *json, size_t len, void *arg);
/**
 * Queue @p json (starting {"v":1) for hearth/<id>/@p topic as class @p cls
 * (through the outbox: it waits while offline). HEARTH_ERR_STATE when the
 * link is off. Any thread. (The privacy glue's channel to the service.)
 */
hearth_status hearthd_link_send(const char *topic, int cls, const char *json, size_t len);
/** The service CA file (--mqtt-ca), NULL without a link. */
const char *hearthd_link_service_ca(void);

#endif
