/* An open port (port.c) and its button watch (watch.c). */
#ifndef HEARTH_PORT_INTERNAL_H
#define HEARTH_PORT_INTERNAL_H

#include <pthread.h>

#include "hearth/port.h"

struct hearth_port_dev {
    const hearth_port *port;
    void *ctx;
    pthread_mutex_t mu;   /* serialises every call into the driver */

    pthread_mutex_t wmu;  /* guards the watch fields below */
    pthread_cond_t wcond; /* wakes the watch early on stop */
    pthread_t watch;
    bool watching;
    bool stop;
    uint32_t period_ms;
    hearth_port_press_fn on_press; /* NULL: a press is only logged */
    void *press_arg;
};

/** Stop and join the button watch; idempotent (watch.c). */
void port_watch_stop(hearth_port_dev *dev);

#endif
