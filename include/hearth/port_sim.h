/**
 * @file port_sim.h
 * @brief The simulated hardware port (ports/sim/): a thermostat's sensor and
 *        heater, a plug's relay and power meter, a factory-reset button a
 *        test can press. Options and behaviour: docs/ports.md, "The sim port".
 */
#ifndef HEARTH_PORT_SIM_H
#define HEARTH_PORT_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "hearth/port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The sim port's table; hand it to hearth_port_use() / hearth_port_open(). */
extern const hearth_port hearth_port_sim;

/* The simulated room behind temperature_c when no temperature_file is given
 * (docs/ports.md, "The simulated room"): a first-order model. */
#define HEARTH_SIM_ROOM_OUTSIDE_C 10.0     /**< outside temperature the room loses heat to */
#define HEARTH_SIM_ROOM_HEATER_RISE_C 30.0 /**< steady-state rise with the heater always on (-> 40 C) */
#define HEARTH_SIM_ROOM_TAU_S 600.0        /**< room time constant, simulated seconds */
#define HEARTH_SIM_ROOM_SPEEDUP 20.0       /**< simulated seconds per wall-clock second */
#define HEARTH_SIM_ROOM_START_C 18.0       /**< room temperature when the port opens */
#define HEARTH_SIM_ROOM_TICK_MAX_MS 60000  /**< largest room_tick_ms option */

/**
 * The simulated room's temperature after @p elapsed_ms of wall-clock time
 * (times HEARTH_SIM_ROOM_SPEEDUP) with the heater on or off, starting from
 * @p room_c: dT/dt = (T_ss - T)/tau, integrated exactly, so any step is stable.
 */
double hearth_sim_room_advance(double room_c, bool heating, uint32_t elapsed_ms);

#ifdef __cplusplus
}
#endif
#endif
