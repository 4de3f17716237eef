/* Pure control-logic pieces of the thermostat, exposed to the unit tests
 * (tests/unit/test_thermostat.c) but not part of the public API. */
#ifndef HEARTH_THERMO_INTERNAL_H
#define HEARTH_THERMO_INTERNAL_H

#include "hearth/thermostat.h"

/** Target within [HEARTH_TARGET_MIN_C, HEARTH_TARGET_MAX_C] and finite. */
bool thermo_target_valid(double c);
/** Next heater state by hysteresis around @p target_c (+-@p hyst_c). */
bool thermo_hysteresis(bool heating, double current_c, double target_c, double hyst_c);
/** Encode the settings record; returns its length, 0 if @p cap is too small. */
size_t thermo_settings_encode(double target_c, hearth_thermo_mode mode, char *buf, size_t cap);
/** Decode and validate the settings record. */
hearth_status thermo_settings_decode(const char *buf, size_t len, double *target_c,
                                     hearth_thermo_mode *mode);

#endif
