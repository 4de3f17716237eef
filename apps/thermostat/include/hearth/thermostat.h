/**
 * @file thermostat.h
 * @brief The reference device's basic function: a room thermostat that keeps
 *        working with no network at all (EN 303 645 5.9 resilience, 5.13-1
 *        input validation, 5.4-1 settings in the secure store).
 *
 * A control-loop thread reads the temperature from the platform port's
 * HEARTH_SENSOR_TEMPERATURE_C sensor, applies hysteresis control and switches
 * the port's HEARTH_ACTUATOR_HEATER (hearth/port.h). The
 * API (get/set) is thread-safe; set() writes the secure store on the caller's
 * thread without holding the lock the control loop takes, so the loop never
 * waits for the disk. Model, band, limits and fail-safe: docs/thermostat.md.
 *
 * The thermostat is an application of the Hearth core (hearth/app.h), in
 * apps/thermostat/ with this public header: hearth_thermostat_app registers
 * its routes, options, self-test and state with the core; hearthd is the
 * runtime (hearth/runtime.h) with this one application.
 */
#ifndef HEARTH_THERMOSTAT_H
#define HEARTH_THERMOSTAT_H

#include "hearth/app.h"
#include "hearth/common.h"
#include "hearth/port.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_TARGET_MIN_C 5.0      /**< documented band for the target temperature */
#define HEARTH_TARGET_MAX_C 30.0
#define HEARTH_SENSOR_MIN_C (-40.0)  /**< physical limits of the sensor; readings outside are discarded */
#define HEARTH_SENSOR_MAX_C 85.0

/** Name of the secure-store record holding target and mode. */
#define HEARTH_THERMO_RECORD "thermostat.settings"

/** Operating mode. */
typedef enum { HEARTH_MODE_OFF = 0, HEARTH_MODE_HEAT = 1 } hearth_thermo_mode;

/** "off" / "heat" ("?" for an out-of-range value). */
const char *hearth_thermo_mode_name(hearth_thermo_mode m);
/** Parse exactly "off" or "heat"; anything else is HEARTH_ERR_INVALID. */
hearth_status hearth_thermo_mode_parse(const char *s, hearth_thermo_mode *out) HEARTH_MUST_CHECK;

/** A consistent snapshot of the thermostat. */
typedef struct {
    double current_c;            /**< last good temperature reading */
    double target_c;             /**< target, within the band */
    hearth_thermo_mode mode;
    bool heating;                /**< heater output */
    uint64_t ticks;              /**< control steps run */
    uint64_t rejected_readings;  /**< sensor readings discarded as invalid */
    int64_t last_tick_ms;        /**< hearth_mono_ms() of the last step, 0 before the first */
    bool sensor_ok;              /**< a good reading within sensor_timeout_ms; false means the
                                      fail safe holds the heater off and current_c is stale
                                      (0.0 before the first good reading) */
} hearth_thermo_status;

/** Control-loop configuration; start from hearth_thermo_config_default(). */
typedef struct {
    uint32_t tick_ms;            /**< control period, default 250 (1..60000) */
    const char *heartbeat_path;  /**< NULL or a file overwritten (not appended; plain write,
                                      no fsync) each tick with "<epoch_ms> <heating 0|1>" so an
                                      outside observer can measure control gaps */
    double hysteresis_c;         /**< default 0.3 (0.05..5) */
    uint32_t sensor_timeout_ms;  /**< fail safe: heater off when no good reading for this
                                      long; default 10000 (added to the agreed contract so
                                      tests need not wait 10 s) */
    hearth_port_dev *port;       /**< the platform port (hearth/port.h): each tick reads its
                                      HEARTH_SENSOR_TEMPERATURE_C (out of HEARTH_SENSOR_MIN_C..
                                      MAX_C or HEARTH_ERR_INVALID: a rejected reading;
                                      HEARTH_ERR_NOT_FOUND: no reading) and switches its
                                      HEARTH_ACTUATOR_HEATER when the output changes, off at
                                      stop. NULL: no temperature at all, so the fail safe
                                      keeps the heater off (sensor_ok stays false) */
} hearth_thermo_config;

/** Fill @p c with the defaults above. */
void hearth_thermo_config_default(hearth_thermo_config *c);

typedef struct hearth_thermo hearth_thermo;

/**
 * Create a thermostat. Loads target/mode from the secure store (record
 * HEARTH_THERMO_RECORD; defaults 20.0 C, heat, if absent). @p st may be NULL
 * (settings then live in memory only). The store is used only here and in
 * hearth_thermo_set(), on the caller's thread: the caller serialises store use.
 * @p cfg is copied (the heartbeat path included; the port is borrowed and must
 * outlive the thermostat). HEARTH_ERR_INVALID for a bad config.
 */
hearth_status hearth_thermo_open(hearth_store *st, const hearth_thermo_config *cfg,
                                 hearth_thermo **out) HEARTH_MUST_CHECK;
/** Start the control-loop thread (HEARTH_ERR_STATE if already running). */
hearth_status hearth_thermo_start(hearth_thermo *t) HEARTH_MUST_CHECK;
/** Stop and join the control-loop thread; heater off. Idempotent. */
void hearth_thermo_stop(hearth_thermo *t);
/** Stop if running and free. NULL is allowed. */
void hearth_thermo_close(hearth_thermo *t);
/** Snapshot the current state. */
void hearth_thermo_get(hearth_thermo *t, hearth_thermo_status *out);

/**
 * Validate (band, finite) and persist (store commit) then apply; NULL leaves
 * a setting unchanged. Out-of-band or non-finite target -> HEARTH_ERR_RANGE,
 * unknown mode -> HEARTH_ERR_INVALID; in both cases nothing is changed. A
 * store failure is returned and nothing is applied either.
 */
hearth_status hearth_thermo_set(hearth_thermo *t, const double *target_c,
                                const hearth_thermo_mode *mode) HEARTH_MUST_CHECK;

/** One control step (used by the thread; exposed for deterministic unit tests). */
void hearth_thermo_step(hearth_thermo *t);

/**
 * The thermostat application: routes GET/PUT /api/v1/thermostat (any
 * logged-in user), option --heartbeat FILE (hearth_thermo_config's
 * heartbeat_path; the temperature comes from the program's port), self-test "control loop ticking", state
 * summary {"current_c","target_c","mode","heating"}, settings in the store.
 */
extern const hearth_app hearth_thermostat_app;

/** The thermostat inside a state the application's open() made (for tests). */
hearth_thermo *hearth_thermostat_app_thermo(void *state);

#ifdef __cplusplus
}
#endif
#endif
