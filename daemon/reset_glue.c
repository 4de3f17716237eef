/* Factory reset in the device program: stop the applications (their
 * factory_reset hooks drop in-memory state), crypto-erase (hearth/reset.h),
 * start a fresh event log, then stop the program a moment later (so the
 * API's 202 reaches the client) with the restart exit code. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hearth/outbox.h"
#include "hearth/reset.h"
#include "hearth/slots.h"
#include "hearth/util.h"
#include "link_glue.h"
#include "reset_glue.h"

#define RESET_STOP_DELAY_MS 500

static struct {
    pthread_mutex_t mu;
    hearth_device *dev;
    hearth_apps *apps;
    const char *logpath;
    bool running; /* a reset is under way or done: no second one */
    volatile sig_atomic_t done;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

void hearthd_reset_init(hearth_device *dev, hearth_apps *apps, const char *logpath)
{
    g.dev = dev;
    g.apps = apps;
    g.logpath = logpath;
}

static void *stop_later(void *arg)
{
    (void)arg;
    struct timespec t = {0, RESET_STOP_DELAY_MS * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
    kill(getpid(), SIGTERM);
    return NULL;
}

hearth_status hearthd_reset_run(void *arg, const char *by)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    if (g.running || g.dev == NULL) {
        pthread_mutex_unlock(&g.mu);
        return hearth_err(HEARTH_ERR_STATE, "a factory reset is already under way");
    }
    g.running = true;
    pthread_mutex_unlock(&g.mu);
    hearth_seclog(HEARTH_SEV_WARNING, "factory_reset_requested", "by", by, NULL);
    /* The service link stops first: what it still holds for the old owner
     * is erased with the outbox, and nothing logged from here on (the
     * events below name the admin) reaches the service. The reset is
     * reported from the new store's notice after the restart. The service
     * cannot ask for a reset (an admin route), so this never runs on the
     * link's own thread. */
    hearthd_link_stop();
    /* The applications stop (outputs safe) and drop what they hold. */
    hearth_apps_factory_reset(g.apps);
    bool button = by != NULL && strcmp(by, HEARTHD_RESET_BY_BUTTON) == 0;
    hearth_status st = hearth_reset_factory(g.dev, button ? HEARTH_RESET_BY_BUTTON : HEARTH_RESET_BY_API);
    if (st != HEARTH_OK) {
        /* Before the commit the old state is intact, but the store handle
         * may be retired and the applications are stopped: restart. */
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        g.done = 1;
        pthread_t t;
        if (pthread_create(&t, NULL, stop_later, NULL) == 0) pthread_detach(t);
        return hearth_err(st, "%s", why);
    }
    /* The old log went with the reset (it names users): a fresh one. Its
     * field key came from the erased store: forgotten, so nothing from here
     * on is sealed under it (a personal value is withheld until the next
     * start derives the new store's key), and the reset is recorded by how
     * it was asked for, not by whom (the old owner is erased). */
    hearth_seclog_set_key(NULL);
    hearth_seclog_close();
    if (g.logpath != NULL && hearth_seclog_open(g.logpath) == HEARTH_OK)
        hearth_seclog(HEARTH_SEV_WARNING, "factory_reset", "via", button ? "button" : "api", NULL);
    g.done = 1;
    pthread_t t;
    if (pthread_create(&t, NULL, stop_later, NULL) == 0) pthread_detach(t);
    else kill(getpid(), SIGTERM);
    return HEARTH_OK;
}

void hearthd_reset_button(void *arg)
{
    /* Physical presence is the authentication (docs/erasure.md). */
    if (hearthd_reset_run(arg, HEARTHD_RESET_BY_BUTTON) != HEARTH_OK)
        hearth_seclog(HEARTH_SEV_ALERT, "factory_reset_button_failed", "error", hearth_err_msg(),
                      NULL);
}

void hearthd_reset_report(hearth_device *dev)
{
    hearth_store *st = hearth_device_store(dev);
    hearth_reset_notice n = {0};
    hearth_status s = hearth_reset_notice_get(st, &n);
    if (s == HEARTH_ERR_NOT_FOUND || (s == HEARTH_OK && !n.pending)) {
        hearth_err_clear();
        return;
    }
    char ev[256];
    size_t len = 0;
    if (s == HEARTH_OK) s = hearth_reset_notice_event(&n, hearth_time_now(), ev, sizeof ev, &len);
    /* Durably in the outbox (put() returned) before the notice is marked
     * reported: a power cut between the two sends it again (the service
     * sees the same reset_count twice), never not at all. */
    if (s == HEARTH_OK) s = hearthd_link_send("events", HEARTH_OUTBOX_EVENT, ev, len);
    if (s == HEARTH_OK) s = hearth_reset_notice_clear(st);
    if (s != HEARTH_OK) {
        hearth_seclog(HEARTH_SEV_WARNING, "factory_reset_report_failed", "error", hearth_err_msg(), NULL);
        return;
    }
    char count[24];
    snprintf(count, sizeof count, "%llu", (unsigned long long)n.count);
    hearth_seclog(HEARTH_SEV_INFO, "factory_reset_reported", "reset_count", count, NULL);
}

int hearthd_reset_exit_code(int rc)
{
    return (rc == 0 && g.done) ? HEARTH_SLOTS_EXIT_RESTART : rc;
}
