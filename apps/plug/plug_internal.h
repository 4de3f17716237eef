/* The plug's state (plug_state.c) as the application table (plug.c) uses it. */
#ifndef HEARTH_PLUG_INTERNAL_H
#define HEARTH_PLUG_INTERNAL_H

#include <pthread.h>

#include "hearth/plug.h"
#include "hearth/port.h"

/** What the relay does when the device starts. */
typedef enum { PLUG_POWER_ON_LAST = 0, PLUG_POWER_ON_ON, PLUG_POWER_ON_OFF } plug_power_on;

/** The names, in enum order, NULL-terminated (also the JSON schema's enum). */
extern const char *const plug_power_on_names[];

typedef struct plug plug;

/** A consistent snapshot. */
typedef struct {
    bool on;                /**< relay state (as last switched, and as stored) */
    plug_power_on power_on;
    bool power_ok;          /**< power_w holds a reading */
    double power_w;
} plug_status;

/** Load the record from @p store (defaults: off, "last"). */
hearth_status plug_open(hearth_port_dev *port, hearth_store *store, pthread_mutex_t *store_lock,
                        plug **out) HEARTH_MUST_CHECK;
void plug_close(plug *p);
/** Drive the relay to the power-on state (start). */
hearth_status plug_power_up(plug *p) HEARTH_MUST_CHECK;
/** Relay off (stop); the stored state is kept for the next start. */
void plug_power_down(plug *p);
/** Switch the relay and commit; on a failed commit the relay is switched back. */
hearth_status plug_switch(plug *p, bool on) HEARTH_MUST_CHECK;
/** Change the power-on setting and commit. */
hearth_status plug_set_power_on(plug *p, plug_power_on po) HEARTH_MUST_CHECK;
/** Snapshot; reads the power meter through the port. */
void plug_get(plug *p, plug_status *out);
/** Self-test: the relay takes its current state again, the power meter reads. */
hearth_status plug_check(plug *p) HEARTH_MUST_CHECK;

/** Record codec ("1 on|off last|on|off"); exposed for the unit test. */
size_t plug_record_encode(bool on, plug_power_on po, char *buf, size_t cap);
hearth_status plug_record_decode(const char *buf, size_t len, bool *on, plug_power_on *po);

#endif
