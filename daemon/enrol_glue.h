/*
 * hearthd <-> operational identity (docs/operational-identity.md). Kept apart
 * from runtime.c so the daemon's own code needs one line per hook:
 *   hearthd_enrol_args()     strip --enrol-url URL and --enrol-ca FILE
 *   hearthd_enrol_start()    the enrolment/renewal thread (nothing without --enrol-url)
 *   hearthd_enrol_stop()     join it
 *   hearthd_enrol_sandbox()  the service CA file (read) and the endpoint's port
 *   hearthd_enrol_identity() what the MQTT link passes to hearth_enrol_current_cert()
 */
#ifndef HEARTHD_ENROL_GLUE_H
#define HEARTHD_ENROL_GLUE_H

#include <stdint.h>
#include <stdio.h>

#include "hearth/enrol.h"
#include "hearth/identity.h"
#include "hearth/sandbox.h"

/** Consume the enrolment options from argv (0 ok, 2 usage error). */
int hearthd_enrol_args(const char *prog, int *argc, char **argv);
/** The options' lines for the program's usage text. */
void hearthd_enrol_usage(FILE *f);
/** Start enrolling/renewing for @p dev whose state is @p state (0 ok or off). */
int hearthd_enrol_start(hearth_device *dev, const char *state);
/** Stop the thread. Idempotent. */
void hearthd_enrol_stop(void);
/** Append the service CA file (read) to @p paths; *port: the endpoint's port (0: off). */
void hearthd_enrol_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *port);
/**
 * The device's enrolment identity for hearth_enrol_current_cert() (valid
 * after hearthd_enrol_start() until hearthd_enrol_stop()), or NULL when no
 * service CA is configured: then only the factory certificate exists.
 */
const hearth_enrol_identity *hearthd_enrol_identity(void);

#endif
