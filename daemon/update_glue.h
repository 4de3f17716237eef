/*
 * hearthd <-> updater wiring (docs/updates.md). Kept apart from runtime.c so the
 * daemon's own code needs one line per hook:
 *   hearthd_update_args()      strip --update-* (and hearth-boot's --slot) options
 *   hearthd_update_create()    the updater handed to the API (NULL: updates off)
 *   hearthd_update_start()     updater thread + post-update self-test/confirm
 *   hearthd_update_stop()      join the threads
 *   hearthd_update_exit_code() HEARTH_SLOTS_EXIT_RESTART once an update is pending
 */
#ifndef HEARTHD_UPDATE_GLUE_H
#define HEARTHD_UPDATE_GLUE_H

#include "hearth/identity.h"
#include "hearth/app.h"
#include "hearth/sandbox.h"
#include "hearth/updater.h"

/** Consume the updater's options from argv (0 ok, 2 usage error); @p prog
 *  names the device program in messages. */
int hearthd_update_args(const char *prog, int *argc, char **argv);
/** Create the updater for @p dev (its update notice comes from @p apps); NULL if
 *  not configured or on error (logged). */
hearth_updater *hearthd_update_create(hearth_device *dev, const hearth_apps *apps);
/** Start the updater thread and the self-test (confirms a pending slot; runs
 *  the core checks and every application's self-test). */
void hearthd_update_start(hearth_apps *apps, unsigned https_port);
/** Ask the updater thread for a check now (an update announcement from the
 *  service, docs/mqtt.md); nothing when no repository is configured. */
void hearthd_update_request_check(void);
/** Stop and free everything started here. Idempotent. */
void hearthd_update_stop(void);
/**
 * What the updater needs under the device program's Landlock policy
 * (daemon/sandbox.c): the trust anchor (read), a key set outside the state
 * directory (its directory read-write: it is replaced atomically) and the
 * hearth-fetch program (execute), appended to @p paths (*n entries used, at
 * most @p cap; the strings live as long as the process). *repo_port is the
 * repository's TCP port (0: no repository).
 */
void hearthd_update_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n,
                            uint16_t *repo_port);
/** The slot hearth-boot started this program from (--slot), or -1 (HEARTH_SLOT_NONE). */
int hearthd_update_running_slot(void);
/** @p rc, or HEARTH_SLOTS_EXIT_RESTART when an installed update waits for a restart. */
int hearthd_update_exit_code(int rc);

#endif
