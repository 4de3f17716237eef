/*
 * hearth-plugd: a smart plug, the second example device: the Hearth device
 * runtime (hearth/runtime.h) with the plug application on the simulated
 * hardware port.
 *
 *   hearth-plugd --state DIR [--listen 127.0.0.1:8443] [--foreground]
 *                [--port-option relay_file=F] [--port-option load_w=W] ...
 */
#include "hearth/plug.h"
#include "hearth/port_sim.h"
#include "hearth/runtime.h"

static const hearth_app *const apps[] = {&hearth_plug_app};
static const hearth_device_program plugd = {
    .program = "hearth-plugd",
    .apps = apps,
    .napps = sizeof apps / sizeof apps[0],
    .port = &hearth_port_sim,
};

int main(int argc, char **argv)
{
    return hearth_device_main(&plugd, argc, argv);
}
