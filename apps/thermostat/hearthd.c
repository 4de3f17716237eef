/*
 * hearthd: the reference device, a smart thermostat: the Hearth device
 * runtime (hearth/runtime.h) with the thermostat application.
 *
 *   hearthd --state DIR [--listen 127.0.0.1:8443] [--port-option KEY=VALUE]
 *           [--heartbeat F] [--foreground]
 */
#include "hearth/port_sim.h"
#include "hearth/runtime.h"
#include "hearth/thermostat.h"

static const hearth_app *const apps[] = {&hearth_thermostat_app};
static const hearth_device_program hearthd = {"hearthd", apps, sizeof apps / sizeof apps[0],
                                              &hearth_port_sim};

int main(int argc, char **argv)
{
    return hearth_device_main(&hearthd, argc, argv);
}
