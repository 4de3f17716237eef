/* The registered applications of a device (include/hearth/app.h): checks
 * the tables once, then opens, starts, stops and closes them in a fixed
 * order, runs their self-tests and composes the update notice from their
 * sentences. The core keeps no other knowledge of what an application is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/app.h"
#include "hearth/util.h"

struct hearth_apps {
    const hearth_app *const *app;
    void **state;
    size_t n;
    size_t started; /* apps [0, started) are running */
};

static bool name_ok(const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;
    return len >= 1 && len <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

static hearth_status check_table(const hearth_app *a)
{
    if (a == NULL || !name_ok(a->name) || a->display_name == NULL || a->open == NULL ||
        a->close == NULL || a->state_json == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "app: incomplete application table");
    for (size_t i = 0; i < a->n_routes; i++) {
        const hearth_app_route *r = &a->routes[i];
        if (r->method == NULL || r->path == NULL || r->handler == NULL ||
            strncmp(r->path, "/api/", 5) != 0 || strchr(r->path, '{') != NULL ||
            (r->min_role != HEARTH_ROLE_USER && r->min_role != HEARTH_ROLE_ADMIN))
            return hearth_err(HEARTH_ERR_INVALID, "app %s: invalid route %zu", a->name, i);
    }
    for (size_t i = 0; i < a->n_options; i++) {
        const hearth_app_option *o = &a->options[i];
        if (o->name == NULL || strncmp(o->name, "--", 2) != 0 || o->arg == NULL || o->help == NULL)
            return hearth_err(HEARTH_ERR_INVALID, "app %s: invalid option %zu", a->name, i);
    }
    return HEARTH_OK;
}

static void close_from(hearth_apps *a, size_t n)
{
    while (n > 0) {
        n--;
        a->app[n]->close(a->state[n]);
        a->state[n] = NULL;
    }
}

hearth_status hearth_apps_open(const hearth_app *const *apps, size_t n, hearth_store *store,
                               pthread_mutex_t *store_lock, hearth_port_dev *port,
                               const char *const *options, hearth_apps **out)
{
    HEARTH_ENSURE(out != NULL && (apps != NULL || n == 0),
                  hearth_err(HEARTH_ERR_INVALID, "app: missing argument"));
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        HEARTH_GUARD(check_table(apps[i]));
        for (size_t j = 0; j < i; j++)
            if (strcmp(apps[i]->name, apps[j]->name) == 0)
                return hearth_err(HEARTH_ERR_EXISTS, "app: two applications named %s", apps[i]->name);
    }
    hearth_apps *a = calloc(1, sizeof *a);
    void **state = calloc(n > 0 ? n : 1, sizeof *state);
    if (a == NULL || state == NULL) {
        free(a);
        free(state);
        return hearth_err(HEARTH_ERR_NOMEM, "app: out of memory");
    }
    a->app = apps;
    a->state = state;
    a->n = n;
    size_t opt = 0;
    for (size_t i = 0; i < n; i++) {
        hearth_app_env env = {.store = store, .store_lock = store_lock, .port = port,
                              .options = options != NULL ? options + opt : NULL};
        opt += apps[i]->n_options;
        hearth_status st = apps[i]->open(&env, &a->state[i]);
        if (st != HEARTH_OK) {
            close_from(a, i);
            free(a->state);
            free(a);
            return st;
        }
    }
    *out = a;
    return HEARTH_OK;
}

hearth_status hearth_apps_start(hearth_apps *a)
{
    HEARTH_ENSURE(a != NULL, hearth_err(HEARTH_ERR_INVALID, "app: missing argument"));
    while (a->started < a->n) {
        const hearth_app *app = a->app[a->started];
        hearth_status st = app->start != NULL ? app->start(a->state[a->started]) : HEARTH_OK;
        if (st != HEARTH_OK) {
            hearth_apps_stop(a);
            return st;
        }
        a->started++;
    }
    return HEARTH_OK;
}

void hearth_apps_stop(hearth_apps *a)
{
    if (a == NULL) return;
    while (a->started > 0) {
        a->started--;
        const hearth_app *app = a->app[a->started];
        if (app->stop != NULL) app->stop(a->state[a->started]);
    }
}

void hearth_apps_close(hearth_apps *a)
{
    if (a == NULL) return;
    hearth_apps_stop(a);
    close_from(a, a->n);
    free(a->state);
    free(a);
}

size_t hearth_apps_count(const hearth_apps *a)
{
    return a != NULL ? a->n : 0;
}

const hearth_app *hearth_apps_app(const hearth_apps *a, size_t i)
{
    return a != NULL && i < a->n ? a->app[i] : NULL;
}

void *hearth_apps_state(const hearth_apps *a, size_t i)
{
    return a != NULL && i < a->n ? a->state[i] : NULL;
}

hearth_status hearth_apps_erase_user(hearth_apps *a, const char *user)
{
    HEARTH_ENSURE(user != NULL && user[0] != '\0', hearth_err(HEARTH_ERR_INVALID, "app: no user"));
    hearth_status first = HEARTH_OK;
    char why[200] = "";
    for (size_t i = 0; i < hearth_apps_count(a); i++) {
        if (a->app[i]->erase_user == NULL) continue;
        hearth_status st = a->app[i]->erase_user(a->state[i], user);
        if (st != HEARTH_OK && first == HEARTH_OK) {
            first = st;
            snprintf(why, sizeof why, "%s: %s", a->app[i]->name, hearth_err_msg());
        }
    }
    if (first != HEARTH_OK) return hearth_err(first, "erase user in %s", why);
    return HEARTH_OK;
}

void hearth_apps_factory_reset(hearth_apps *a)
{
    if (a == NULL) return;
    hearth_apps_stop(a);
    for (size_t i = a->n; i > 0; i--)
        if (a->app[i - 1]->factory_reset != NULL) a->app[i - 1]->factory_reset(a->state[i - 1]);
}

hearth_status hearth_apps_selftest(hearth_apps *a, uint32_t timeout_ms)
{
    for (size_t i = 0; i < hearth_apps_count(a); i++) {
        if (a->app[i]->selftest == NULL) continue;
        hearth_status st = a->app[i]->selftest(a->state[i], timeout_ms);
        if (st != HEARTH_OK) {
            char why[160];
            snprintf(why, sizeof why, "%s", hearth_err_msg());
            return hearth_err(st, "self-test: %s", why);
        }
    }
    return HEARTH_OK;
}

/* Append " <s>" (no space first) to buf; false if it does not fit. */
static bool append_sentence(char *buf, size_t cap, const char *s)
{
    size_t used = strlen(buf);
    int n = snprintf(buf + used, cap - used, "%s%s", used > 0 ? " " : "", s);
    return n >= 0 && (size_t)n < cap - used;
}

hearth_status hearth_apps_update_notice(const hearth_apps *a, bool disruptive,
                                        uint32_t downtime_s, char *buf, size_t cap)
{
    HEARTH_ENSURE(buf != NULL && cap > 0, hearth_err(HEARTH_ERR_INVALID, "app: no buffer"));
    buf[0] = '\0';
    /* Every install ends with a restart of the device program into the new
     * slot (hearth-boot launches it on trial), so no notice may say that
     * installing does not interrupt the device: a disruptive update is the
     * one whose manifest says the basic function stops for downtime_s. */
    char first[112];
    if (disruptive)
        snprintf(first, sizeof first,
                 "Installing restarts the device; expected downtime about %u s.", downtime_s);
    else
        snprintf(first, sizeof first,
                 "Installing restarts the device's software, a pause of a few seconds.");
    bool ok = append_sentence(buf, cap, first);
    for (size_t i = 0; ok && i < hearth_apps_count(a); i++) {
        const char *s = disruptive ? a->app[i]->notice_restart : a->app[i]->notice_live;
        if (s != NULL) ok = append_sentence(buf, cap, s);
    }

    if (!ok) return hearth_err(HEARTH_ERR_TOO_LARGE, "app: update notice too long");
    return HEARTH_OK;
}
