/* The factory-reset button watch: a thread that polls the port's button.
 * A press is the security event "factory_reset_button"; with a press
 * handler (hearth_port_button_watch_cb(), the device runtime's factory
 * reset: docs/erasure.md) its action is "factory_reset" and the handler
 * runs on this thread, otherwise "logged_only" and nothing is erased
 * (docs/ports.md, "Factory-reset button"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hearth/util.h"
#include "port_internal.h"

#define POLL_FAIL_LOG_EVERY 600 /* a failing button is logged at first, then rarely */

static void add_ms(struct timespec *t, uint32_t ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static void *watch_main(void *arg)
{
    hearth_port_dev *d = arg;
    uint64_t failures = 0;
    for (;;) {
        bool pressed = false;
        hearth_status st = hearth_port_button(d, &pressed);
        if (st != HEARTH_OK) {
            if (failures++ % POLL_FAIL_LOG_EVERY == 0)
                hearth_seclog(HEARTH_SEV_WARNING, "factory_reset_button_unreadable", "port",
                              d->port->name, "error", hearth_status_name(st), NULL);
            hearth_err_clear();
        } else if (pressed) {
            hearth_seclog(HEARTH_SEV_WARNING, "factory_reset_button", "port", d->port->name,
                          "action", d->on_press != NULL ? "factory_reset" : "logged_only", NULL);
            if (d->on_press != NULL) d->on_press(d->press_arg);
        }
        struct timespec next;
        clock_gettime(CLOCK_MONOTONIC, &next);
        add_ms(&next, d->period_ms);
        pthread_mutex_lock(&d->wmu);
        while (!d->stop) {
            if (pthread_cond_timedwait(&d->wcond, &d->wmu, &next) == ETIMEDOUT) break;
        }
        bool stop = d->stop;
        pthread_mutex_unlock(&d->wmu);
        if (stop) break;
    }
    return NULL;
}

hearth_status hearth_port_button_watch(hearth_port_dev *dev, uint32_t period_ms)
{
    return hearth_port_button_watch_cb(dev, period_ms, NULL, NULL);
}

hearth_status hearth_port_button_watch_cb(hearth_port_dev *dev, uint32_t period_ms,
                                          hearth_port_press_fn fn, void *arg)
{
    if (dev == NULL) return hearth_err(HEARTH_ERR_INVALID, "button watch: no port");
    if (period_ms < 10 || period_ms > 10000)
        return hearth_err(HEARTH_ERR_INVALID, "button watch period must be 10..10000 ms");
    pthread_mutex_lock(&dev->wmu);
    if (dev->watching) {
        pthread_mutex_unlock(&dev->wmu);
        return hearth_err(HEARTH_ERR_STATE, "the button is already watched");
    }
    dev->period_ms = period_ms;
    dev->on_press = fn;
    dev->press_arg = arg;
    dev->stop = false;
    int rc = pthread_create(&dev->watch, NULL, watch_main, dev);
    if (rc == 0) dev->watching = true;
    pthread_mutex_unlock(&dev->wmu);
    if (rc != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "button watch: cannot start thread: %s",
                          strerror(rc));
    return HEARTH_OK;
}

void port_watch_stop(hearth_port_dev *dev)
{
    pthread_mutex_lock(&dev->wmu);
    bool watching = dev->watching;
    dev->stop = true;
    pthread_cond_broadcast(&dev->wcond);
    pthread_mutex_unlock(&dev->wmu);
    if (watching) pthread_join(dev->watch, NULL);
    pthread_mutex_lock(&dev->wmu);
    dev->watching = false;
    pthread_mutex_unlock(&dev->wmu);
}
