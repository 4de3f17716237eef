/* The factory reset in a device program (docs/erasure.md): the API route's
 * and the reset button's handler. After a reset the program stops and
 * exits with HEARTH_SLOTS_EXIT_RESTART, so hearth-boot (or the service
 * manager) starts it again, in factory default. */
#ifndef HEARTHD_RESET_GLUE_H
#define HEARTHD_RESET_GLUE_H

#include "hearth/app.h"
#include "hearth/identity.h"

/** The "by" of a reset from the button (not a valid user name). */
#define HEARTHD_RESET_BY_BUTTON "(button)"

/** What the reset needs; call before the API is created. */
void hearthd_reset_init(hearth_device *dev, hearth_apps *apps, const char *logpath);
/** hearth_api_config::factory_reset (@p arg unused). */
hearth_status hearthd_reset_run(void *arg, const char *by);
/** hearth_port_press_fn for the reset button. */
void hearthd_reset_button(void *arg);
/** With the service link started: if the store holds a reset notice not yet
 * reported, queue the `factory_reset` event (docs/mqtt.md) in the outbox,
 * then mark the notice reported. Failures are logged; the notice stays
 * pending and is reported at the next start. */
void hearthd_reset_report(hearth_device *dev);
/** @p rc, or HEARTH_SLOTS_EXIT_RESTART after a reset. */
int hearthd_reset_exit_code(int rc);

#endif
