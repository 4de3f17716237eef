/*
 * hearthd <-> security telemetry wiring (docs/telemetry.md). Kept apart from
 * runtime.c so the runtime needs one line per hook:
 *   hearthd_telemetry_args()     strip --telemetry-interval
 *   hearthd_telemetry_create()   the telemetry object handed to the API (NULL: off)
 *   hearthd_telemetry_declare()  the ports the device program itself uses
 *   hearthd_telemetry_start()    the sampling thread; each report goes to the sink
 *   hearthd_telemetry_stop()     join the thread, record the clean stop, free
 */
#ifndef HEARTHD_TELEMETRY_GLUE_H
#define HEARTHD_TELEMETRY_GLUE_H

#include "hearth/identity.h"
#include "hearth/privacy.h"
#include "hearth/telemetry.h"

/** Consume --telemetry-interval SECONDS from argv (0 ok, 2 usage error). */
int hearthd_telemetry_args(const char *prog, int *argc, char **argv);
/** Open the telemetry of @p dev (its store keeps the run record; the usage
 *  consent is @p privacy's purpose usage_telemetry);
 *  NULL on error (logged: the device runs on without telemetry). */
hearth_telemetry *hearthd_telemetry_create(hearth_device *dev, struct hearth_privacy *privacy);
/** Declare @p n ports of @p kind as the device program's own (0 entries skipped). */
void hearthd_telemetry_declare(hearth_telemetry_port_kind kind, const uint16_t *ports, size_t n);
/**
 * Where each report goes: called on the telemetry thread with the report's
 * JSON (schema telemetry/v1, @p len bytes, NUL-terminated, valid only during
 * the call). The link publishes it to hearth/<id>/telemetry.
 */
typedef void (*hearthd_telemetry_sink)(const char *json, size_t len, void *arg);
/** Start sampling: at once, then every interval; @p sink may be NULL (the
 *  rules still run and the API still serves reports). */
void hearthd_telemetry_start(hearthd_telemetry_sink sink, void *arg);
/** Stop the thread, close the object (clean stop recorded). Idempotent. */
void hearthd_telemetry_stop(void);

#endif
