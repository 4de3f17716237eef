/*
 * hearthd <-> consent registry wiring (docs/privacy.md). Kept apart from
 * runtime.c so the runtime needs one line per hook:
 *   hearthd_privacy_create()  open the registry from the device's store
 *   hearthd_privacy_start()   holders, the service link, the sharing thread
 *   hearthd_privacy_quiesce() join the sharing thread (before the apps close)
 *   hearthd_privacy_stop()    join the thread, close the registry
 */
#ifndef HEARTHD_PRIVACY_GLUE_H
#define HEARTHD_PRIVACY_GLUE_H

#include "hearth/app.h"
#include "hearth/identity.h"
#include "hearth/privacy.h"

/** The registry of @p dev (NULL on error, printed: the device does not start). */
hearth_privacy *hearthd_privacy_create(hearth_device *dev);
/**
 * After the link started: count what @p apps hold, tell the service of
 * every consent change and erase request (hearth/<id>/privacy, through the
 * outbox), and send each application's share_json data while, and only
 * while, its purpose's consent is given.
 */
void hearthd_privacy_start(hearth_apps *apps);
/** hearth_api_config::erase_user (contract A): the registry forgets @p user
 *  and withdraws the consents that user gave (the service is told). */
hearth_status hearthd_privacy_erase_user(void *arg, const char *user);
/** Stop the sharing thread, which reads the applications' data: before
 *  the applications close. Idempotent. */
void hearthd_privacy_quiesce(void);
/** Stop the thread and close the registry. Idempotent. */
void hearthd_privacy_stop(void);

#endif
