/* Pure control-logic pieces of the thermostat, exposed to the unit tests
 * (tests/unit/test_thermostat.c) but not part of the public API. */
#ifndef HEARTH_THERMO_INTERNAL_H
#define HEARTH_THERMO_INTERNAL_H

#include "hearth/thermostat.h"

/* Simulated room: first-order model, see docs/thermostat.md. */
#define THERMO_SIM_OUTSIDE_C 10.0     /* outside temperature the room loses heat to */
#define THERMO_SIM_HEATER_RISE_C 30.0 /* steady-state rise with the heater always on (-> 40 C) */
#define THERMO_SIM_TAU_S 600.0        /* room time constant, simulated seconds */
#define THERMO_SIM_SPEEDUP 20.0       /* simulated seconds per wall-clock second */
#define THERMO_SIM_START_C 18.0       /* room temperature at power-on */

#define THERMO_READING_MAX 32         /* longest accepted sensor text, bytes */

/** Target within [HEARTH_TARGET_MIN_C, HEARTH_TARGET_MAX_C] and finite. */
bool thermo_target_valid(double c);
/** Room temperature after one tick of @p tick_ms with the heater on/off. */
double thermo_sim_advance(double room_c, bool heating, uint32_t tick_ms);
/** Next heater state by hysteresis around @p target_c (+-@p hyst_c). */
bool thermo_hysteresis(bool heating, double current_c, double target_c, double hyst_c);
/** Strict sensor text parse: INVALID if not one finite number (optional
 *  trailing newline), RANGE if outside the sensor's physical limits. */
hearth_status thermo_reading_parse(const char *text, size_t len, double *out);
/** Encode the settings record; returns its length, 0 if @p cap is too small. */
size_t thermo_settings_encode(double target_c, hearth_thermo_mode mode, char *buf, size_t cap);
/** Decode and validate the settings record. */
hearth_status thermo_settings_decode(const char *buf, size_t len, double *target_c,
                                     hearth_thermo_mode *mode);

#endif
