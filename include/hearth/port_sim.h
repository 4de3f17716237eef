/**
 * @file port_sim.h
 * @brief The simulated hardware port (ports/sim/): a thermostat's sensor and
 *        heater, a plug's relay and power meter, a factory-reset button a
 *        test can press. Options and behaviour: docs/ports.md, "The sim port".
 */
#ifndef HEARTH_PORT_SIM_H
#define HEARTH_PORT_SIM_H

#include "hearth/port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The sim port's table; hand it to hearth_port_use() / hearth_port_open(). */
extern const hearth_port hearth_port_sim;

#ifdef __cplusplus
}
#endif
#endif
