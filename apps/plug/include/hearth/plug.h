/**
 * @file plug.h
 * @brief A minimal smart plug, the second application on the Hearth core:
 *        a mains relay switched on and off, its power reading, and what the
 *        relay does when the device starts. It proves that an application
 *        needs nothing but the public API (hearth/app.h) and a platform port
 *        (hearth/port.h): the plug itself never touches hardware or files.
 *
 * Routes (every one needs a session; the core checks the role first):
 *   GET /api/v1/plug           user   {"on":B,"power_w":W|null,"power_on":"last|on|off"}
 *   PUT /api/v1/plug           user   {"on":true|false}
 *   PUT /api/v1/plug/settings  admin  {"power_on":"last"|"on"|"off"}
 * Bodies are checked strictly against a schema (unknown fields, wrong types,
 * other values: 4xx, nothing changes). The relay state and the power-on
 * setting are one record of the secure store (HEARTH_PLUG_RECORD), committed
 * before the answer; a failed commit switches the relay back. Start applies
 * the power-on setting ("last": the state before the restart); stop switches
 * the relay off. Self-test: the relay takes its current state again and the
 * power meter gives a reading. docs/plug.md.
 */
#ifndef HEARTH_PLUG_H
#define HEARTH_PLUG_H

#include "hearth/app.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name of the secure-store record holding the relay state and power-on setting. */
#define HEARTH_PLUG_RECORD "plug.state"

/**
 * The plug application. Needs a platform port with the actuator
 * HEARTH_ACTUATOR_RELAY and the sensor HEARTH_SENSOR_POWER_W (open() fails
 * with HEARTH_ERR_UNSUPPORTED without a port).
 */
extern const hearth_app hearth_plug_app;

#ifdef __cplusplus
}
#endif
#endif
