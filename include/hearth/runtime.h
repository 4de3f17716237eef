/**
 * @file runtime.h
 * @brief The device runtime: what turns the core and a set of applications
 *        (hearth/app.h) into a device program.
 *
 * hearth_device_main() is the whole life of a device program: it opens the
 * provisioned device state (refusing tampered state), the security-event
 * log, the accounts, then the applications (hearth_apps_open(), with the
 * device's secure store and a store lock), creates the HTTPS API serving the
 * core's routes and every application's, the TLS context and the listener,
 * prints the ready line, detaches unless --foreground, starts the
 * applications' threads and the HTTPS workers, the updater and the
 * post-update self-test (core checks plus every application's self-test),
 * and runs the event loop until SIGTERM/SIGINT; then it stops and closes
 * everything in reverse order.
 *
 * Command line: `PROGRAM --state DIR [--listen ADDR:PORT] [--foreground]`,
 * the updater's `--update-*` options and hearth-boot's `--slot` (docs/updates.md),
 * each application's hearth_app::options and, with a port, `--port-option
 * KEY=VALUE` (repeatable; the port's options, docs/ports.md); --state may be
 * left out when the port names a state directory. Ready line on stdout:
 * `PROGRAM: listening on https://ADDR:PORT`. Exit status: 0 after a clean
 * stop, 1 on a failure to start, 2 on a usage error, HEARTH_SLOTS_EXIT_RESTART
 * when an installed update waits for a restart (hearth-boot starts it).
 *
 * A product's main() is one call, e.g. apps/thermostat/hearthd.c:
 *
 *     static const hearth_app *const apps[] = {&hearth_thermostat_app};
 *     static const hearth_device_program prog = {"hearthd", apps, 1};
 *     int main(int argc, char **argv) { return hearth_device_main(&prog, argc, argv); }
 *
 * The runtime is the library hearth_runtime (daemon/); link it and the
 * applications' libraries.
 */
#ifndef HEARTH_RUNTIME_H
#define HEARTH_RUNTIME_H

#include "hearth/app.h"
#include "hearth/port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A device program: its name and its applications. */
typedef struct {
    const char *program;           /**< name in messages and the ready line ("hearthd") */
    const hearth_app *const *apps; /**< the applications, opened and started in this order */
    size_t napps;
    /** The platform port (hearth/port.h, e.g. &hearth_port_sim): installed with
     *  hearth_port_use() before anything else, opened with the --port-option
     *  values and handed to the applications; its button is watched.
     *  NULL: no port (no --port-option, applications get no hardware). */
    const hearth_port *port;
} hearth_device_program;

/**
 * Run the device program @p prog with its command line; returns the process
 * exit status (see the file comment). Call once, from main().
 */
int hearth_device_main(const hearth_device_program *prog, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
