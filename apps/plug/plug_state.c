/* The plug's state: relay and power-on setting, kept in one secure-store
 * record and driven through the platform port. The plug has no thread of
 * its own: every change happens on the caller's thread under `mu`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "plug_internal.h"

#define RECORD_MAX 32

const char *const plug_power_on_names[] = {"last", "on", "off", NULL};

struct plug {
    hearth_port_dev *port;
    hearth_store *store;
    pthread_mutex_t *store_lock; /* NULL: single-threaded */
    pthread_mutex_t mu;          /* serialises changes; guards the two fields below */
    bool on;
    plug_power_on power_on;
};

size_t plug_record_encode(bool on, plug_power_on po, char *buf, size_t cap)
{
    if ((unsigned)po > PLUG_POWER_ON_OFF) return 0;
    int n = snprintf(buf, cap, "1 %s %s", on ? "on" : "off", plug_power_on_names[po]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static bool word_is(const char *s, size_t len, const char *w)
{
    return strlen(w) == len && memcmp(s, w, len) == 0;
}

hearth_status plug_record_decode(const char *buf, size_t len, bool *on, plug_power_on *po)
{
    /* Exactly "1 <on|off> <last|on|off>": version, relay, power-on. */
    if (len < 2 || len > RECORD_MAX || buf[0] != '1' || buf[1] != ' ') return HEARTH_ERR_INVALID;
    const char *a = buf + 2, *end = buf + len;
    const char *sp = memchr(a, ' ', (size_t)(end - a));
    if (sp == NULL) return HEARTH_ERR_INVALID;
    bool relay;
    if (word_is(a, (size_t)(sp - a), "on")) relay = true;
    else if (word_is(a, (size_t)(sp - a), "off")) relay = false;
    else return HEARTH_ERR_INVALID;
    for (int i = 0; plug_power_on_names[i] != NULL; i++) {
        if (word_is(sp + 1, (size_t)(end - sp - 1), plug_power_on_names[i])) {
            *on = relay;
            *po = (plug_power_on)i;
            return HEARTH_OK;
        }
    }
    return HEARTH_ERR_INVALID;
}

static void store_lock(plug *p, bool lock)
{
    if (p->store_lock == NULL) return;
    if (lock) pthread_mutex_lock(p->store_lock);
    else pthread_mutex_unlock(p->store_lock);
}

/* The stored state, if any; p holds the defaults (off, "last") before, and
 * plug_record_decode() writes only what it accepted. */
static hearth_status load(plug *p)
{
    char buf[RECORD_MAX];
    size_t len = 0;
    store_lock(p, true);
    hearth_status st = hearth_store_get(p->store, HEARTH_PLUG_RECORD, buf, sizeof buf, &len);
    store_lock(p, false);
    if (st != HEARTH_OK && st != HEARTH_ERR_NOT_FOUND && st != HEARTH_ERR_TOO_LARGE) return st;
    /* A record the store authenticated but the plug cannot read is a bug or
     * another version's format: start switched off, and say so. */
    if (st == HEARTH_ERR_TOO_LARGE ||
        (st == HEARTH_OK && plug_record_decode(buf, len, &p->on, &p->power_on) != HEARTH_OK))
        hearth_seclog(HEARTH_SEV_WARNING, "plug_state_invalid", "record", HEARTH_PLUG_RECORD,
                      "action", "defaults", NULL);
    hearth_err_clear();
    return HEARTH_OK;
}

static hearth_status commit(plug *p, bool on, plug_power_on po)
{
    char buf[RECORD_MAX];
    size_t len = plug_record_encode(on, po, buf, sizeof buf);
    if (len == 0) return hearth_err(HEARTH_ERR_INTERNAL, "plug: record encoding");
    store_lock(p, true);
    hearth_status st = hearth_store_put(p->store, HEARTH_PLUG_RECORD, buf, len);
    store_lock(p, false);
    return st;
}

hearth_status plug_open(hearth_port_dev *port, hearth_store *store, pthread_mutex_t *store_lock,
                        plug **out)
{
    *out = NULL;
    if (port == NULL)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "the plug needs a platform port with a relay");
    if (store == NULL) return hearth_err(HEARTH_ERR_INVALID, "the plug keeps its state in the store");
    plug *p = calloc(1, sizeof *p);
    if (p == NULL) return hearth_err(HEARTH_ERR_NOMEM, "plug: out of memory");
    p->port = port;
    p->store = store;
    p->store_lock = store_lock;
    p->power_on = PLUG_POWER_ON_LAST;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return hearth_err(HEARTH_ERR_INTERNAL, "plug: mutex init");
    }
    hearth_status st = load(p);
    if (st != HEARTH_OK) {
        plug_close(p);
        return st;
    }
    *out = p;
    return HEARTH_OK;
}

void plug_close(plug *p)
{
    if (p == NULL) return;
    pthread_mutex_destroy(&p->mu);
    free(p);
}

hearth_status plug_power_up(plug *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->power_on != PLUG_POWER_ON_LAST) p->on = p->power_on == PLUG_POWER_ON_ON;
    hearth_status st = hearth_port_set(p->port, HEARTH_ACTUATOR_RELAY, p->on);
    pthread_mutex_unlock(&p->mu);
    return st;
}

void plug_power_down(plug *p)
{
    pthread_mutex_lock(&p->mu);
    if (hearth_port_set(p->port, HEARTH_ACTUATOR_RELAY, false) != HEARTH_OK) {
        hearth_seclog(HEARTH_SEV_WARNING, "plug_relay_failed", "action", "off", "error",
                      hearth_err_msg(), NULL);
        hearth_err_clear();
    }
    pthread_mutex_unlock(&p->mu);
}

hearth_status plug_switch(plug *p, bool on)
{
    pthread_mutex_lock(&p->mu);
    bool was = p->on;
    hearth_status st = hearth_port_set(p->port, HEARTH_ACTUATOR_RELAY, on);
    if (st == HEARTH_OK) {
        st = commit(p, on, p->power_on);
        if (st == HEARTH_OK) {
            p->on = on;
        } else if (hearth_port_set(p->port, HEARTH_ACTUATOR_RELAY, was) != HEARTH_OK) {
            hearth_seclog(HEARTH_SEV_WARNING, "plug_relay_failed", "action", "revert", NULL);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

hearth_status plug_set_power_on(plug *p, plug_power_on po)
{
    if ((unsigned)po > PLUG_POWER_ON_OFF) return hearth_err(HEARTH_ERR_INVALID, "power_on");
    pthread_mutex_lock(&p->mu);
    hearth_status st = commit(p, p->on, po);
    if (st == HEARTH_OK) p->power_on = po;
    pthread_mutex_unlock(&p->mu);
    return st;
}

void plug_get(plug *p, plug_status *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->mu);
    out->on = p->on;
    out->power_on = p->power_on;
    pthread_mutex_unlock(&p->mu);
    hearth_reading r;
    out->power_ok = hearth_port_read(p->port, HEARTH_SENSOR_POWER_W, &r) == HEARTH_OK;
    if (out->power_ok) out->power_w = r.value;
    else hearth_err_clear();
}

hearth_status plug_check(plug *p)
{
    pthread_mutex_lock(&p->mu);
    hearth_status st = hearth_port_set(p->port, HEARTH_ACTUATOR_RELAY, p->on);
    pthread_mutex_unlock(&p->mu);
    if (st != HEARTH_OK) return st;
    hearth_reading r;
    st = hearth_port_read(p->port, HEARTH_SENSOR_POWER_W, &r);
    if (st != HEARTH_OK)
        return hearth_err(st, "plug: the power meter gives no reading (%s)", hearth_status_name(st));
    return HEARTH_OK;
}
