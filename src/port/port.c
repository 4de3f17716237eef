/* The platform port of this process and the serialised calls into an open
 * port's drivers (include/hearth/port.h, docs/ports.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/port.h"
#include "hearth/store.h"
#include "hearth/util.h"
#include "port_internal.h"

/* Set once by hearth_port_use() before any other thread runs. */
static const hearth_port *current;

static hearth_status check_table(const hearth_port *p)
{
    if (p == NULL) return hearth_err(HEARTH_ERR_INVALID, "no platform port");
    if (p->name == NULL || p->name[0] == '\0' || strlen(p->name) > 32)
        return hearth_err(HEARTH_ERR_INVALID, "a platform port needs a short name");
    if (p->open == NULL || p->close == NULL || p->read == NULL || p->set == NULL ||
        p->button == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "platform port %s: a function is missing", p->name);
    if (p->state_dir != NULL && p->state_dir[0] != '/')
        return hearth_err(HEARTH_ERR_INVALID, "platform port %s: state_dir must be absolute",
                          p->name);
    return HEARTH_OK;
}

hearth_status hearth_port_use(const hearth_port *port)
{
    if (current != NULL) return hearth_err(HEARTH_ERR_STATE, "a platform port is already in use");
    HEARTH_GUARD(check_table(port));
    char origin[48];
    snprintf(origin, sizeof origin, "port %s", port->name);
    HEARTH_GUARD(hearth_platform_set_defaults(origin, port->rot, port->tpm_tcti));
    current = port;
    return HEARTH_OK;
}

const hearth_port *hearth_port_current(void) { return current; }

hearth_status hearth_port_state_dir(const hearth_port *port, const char *given, const char **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output for the state directory");
    *out = given != NULL ? given : port != NULL ? port->state_dir : NULL;
    if (*out == NULL || (*out)[0] == '\0')
        return hearth_err(HEARTH_ERR_INVALID, "no state directory (give one; the port has none)");
    return HEARTH_OK;
}

hearth_status hearth_port_option_parse(char *text, hearth_port_option *opt)
{
    if (text == NULL || opt == NULL) return hearth_err(HEARTH_ERR_INVALID, "no port option");
    char *eq = strchr(text, '=');
    if (eq == NULL || eq == text)
        return hearth_err(HEARTH_ERR_INVALID, "port option \"%.40s\" is not key=value", text);
    *eq = '\0';
    opt->key = text;
    opt->value = eq + 1;
    return HEARTH_OK;
}

/* Free a device whose driver is closed (or was never opened). */
static void dev_free(hearth_port_dev *d)
{
    hearth_mutexes_destroy((pthread_mutex_t *const[]){&d->mu, &d->wmu}, 2);
    pthread_cond_destroy(&d->wcond);
    free(d);
}

hearth_status hearth_port_open(const hearth_port *port, const hearth_port_option *opts, size_t n,
                               hearth_port_dev **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output for the port");
    *out = NULL;
    HEARTH_GUARD(check_table(port));
    if (n > 0 && opts == NULL) return hearth_err(HEARTH_ERR_INVALID, "port options missing");
    hearth_port_dev *d = calloc(1, sizeof *d);
    if (d == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    d->port = port;
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&d->wcond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        free(d);
        return hearth_err(HEARTH_ERR_INTERNAL, "port: cannot create a condition variable");
    }
    pthread_mutex_t *const locks[] = {&d->mu, &d->wmu};
    hearth_status st = hearth_mutexes_init(locks, 2);
    if (st != HEARTH_OK) {
        pthread_cond_destroy(&d->wcond);
        free(d);
        return st;
    }
    st = port->open(opts, n, &d->ctx);
    if (st == HEARTH_OK)
        *out = d;
    else
        dev_free(d);
    return st;
}

void hearth_port_close(hearth_port_dev *dev)
{
    if (dev == NULL) return;
    port_watch_stop(dev);
    pthread_mutex_lock(&dev->mu);
    dev->port->close(dev->ctx);
    dev->ctx = NULL;
    pthread_mutex_unlock(&dev->mu);
    dev_free(dev);
}

const hearth_port *hearth_port_of(const hearth_port_dev *dev)
{
    return dev != NULL ? dev->port : NULL;
}

hearth_status hearth_port_read(hearth_port_dev *dev, const char *channel, hearth_reading *out)
{
    if (dev == NULL || channel == NULL || out == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "port read: missing argument");
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&dev->mu);
    hearth_status st = dev->port->read(dev->ctx, channel, out);
    pthread_mutex_unlock(&dev->mu);
    out->raw[sizeof out->raw - 1] = '\0';
    if (st == HEARTH_OK && !isfinite(out->value))
        return hearth_err(HEARTH_ERR_INVALID, "port %s: %s reading is not finite",
                          dev->port->name, channel);
    return st;
}

hearth_status hearth_port_set(hearth_port_dev *dev, const char *channel, bool on)
{
    if (dev == NULL || channel == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "port set: missing argument");
    pthread_mutex_lock(&dev->mu);
    hearth_status st = dev->port->set(dev->ctx, channel, on);
    pthread_mutex_unlock(&dev->mu);
    return st;
}

hearth_status hearth_port_button(hearth_port_dev *dev, bool *pressed)
{
    if (dev == NULL || pressed == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "port button: missing argument");
    *pressed = false;
    pthread_mutex_lock(&dev->mu);
    hearth_status st = dev->port->button(dev->ctx, pressed);
    pthread_mutex_unlock(&dev->mu);
    return st;
}
