/* The scheduler (EN 303 645 5.3-4..5.3-6, 5.3-11): the updater thread,
 * randomised check times (first shortly after start, then once per period
 * at a random moment of each window), the check/install requests the API
 * queues, and the administrator's policy (automatic on/off, postpone). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "updater_internal.h"

hearth_status upd_load_policy(hearth_updater *u)
{
    uint8_t rec[32];
    size_t len = 0;
    u->policy.automatic = true; /* 5.3-4 / 5.3-6: on in the initialised state */
    u->policy.postpone_until = 0;
    upd_store_lock(u);
    hearth_status st = hearth_store_get(hearth_device_store(u->dev), HEARTH_REC_UPDATE_POLICY, rec,
                                        sizeof rec, &len);
    upd_store_unlock(u);
    if (st == HEARTH_ERR_NOT_FOUND) return HEARTH_OK;
    HEARTH_GUARD(st);
    return hearth_update_policy_decode(rec, len, &u->policy);
}

/* ------------------------------------------------------------ policy */

hearth_update_policy hearth_updater_policy(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    hearth_update_policy p = u->policy;
    pthread_mutex_unlock(&u->mu);
    return p;
}

hearth_status hearth_updater_set_policy(hearth_updater *u, bool automatic, uint32_t postpone_hours,
                                        const char *who)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    if (postpone_hours > HEARTH_UPDATE_POSTPONE_MAX_HOURS)
        return hearth_err(HEARTH_ERR_RANGE, "postpone_hours must be 0..%d",
                          HEARTH_UPDATE_POSTPONE_MAX_HOURS);
    hearth_update_policy p = {.automatic = automatic,
                              .postpone_until = postpone_hours > 0
                                                    ? hearth_time_now() + (int64_t)postpone_hours * 3600
                                                    : 0};
    uint8_t rec[16];
    size_t len = 0;
    HEARTH_GUARD(hearth_update_policy_encode(&p, rec, &len));
    upd_store_lock(u);
    hearth_status st = hearth_store_put(hearth_device_store(u->dev), HEARTH_REC_UPDATE_POLICY, rec, len);
    upd_store_unlock(u);
    HEARTH_GUARD(st);
    pthread_mutex_lock(&u->mu);
    u->policy = p;
    /* Re-enabling automatic updates with one waiting: act on it now. */
    if (automatic && postpone_hours == 0 && u->state == HEARTH_UPD_AVAILABLE) u->req_check = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    char detail[96];
    snprintf(detail, sizeof detail, "automatic=%s postpone_hours=%u", automatic ? "on" : "off",
             postpone_hours);
    hearth_seclog(HEARTH_SEV_INFO, "update_policy_changed", "user", who != NULL ? who : "",
                  "policy", detail, NULL);
    return HEARTH_OK;
}

bool upd_policy_allows_install(hearth_updater *u)
{
    hearth_update_policy p = hearth_updater_policy(u);
    return p.automatic && (p.postpone_until == 0 || hearth_time_now() >= p.postpone_until);
}

/* -------------------------------------------------------------- thread */

hearth_status hearth_updater_request_check(hearth_updater *u)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&u->mu);
    bool running = u->running;
    if (running) {
        u->req_check = true;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    if (!running) return hearth_err(HEARTH_ERR_STATE, "the updater is not running");
    return HEARTH_OK;
}

hearth_status hearth_updater_request_install(hearth_updater *u)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&u->mu);
    hearth_status st = HEARTH_OK;
    if (!u->running) st = hearth_err(HEARTH_ERR_STATE, "the updater is not running");
    else if (u->restart_required) st = hearth_err(HEARTH_ERR_STATE, "an update is already installed; restart pending");
    else if (!u->available.present) st = hearth_err(HEARTH_ERR_STATE, "no update is available; check first");
    else {
        u->req_install = true;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    return st;
}

static uint32_t rand_below(uint32_t bound)
{
    uint32_t r = 0;
    if (bound == 0 || hearth_random_uniform(bound, &r) != HEARTH_OK) return 0;
    return r;
}

/* After a scheduled check: a transient failure (network, HTTP error) is
 * retried on the check backoff (docs/backoff.md) when that comes before the
 * next regular check; success starts the backoff's stability timer so the
 * count resets. Rejections (attacks) wait for the regular schedule. Called
 * with u->mu held. */
static void upd_schedule_retry(hearth_updater *u, const hearth_update_result *res, int64_t now)
{
    if (res->outcome != HEARTH_UPD_OUT_FAILED) {
        if (res->outcome != HEARTH_UPD_OUT_REJECTED) hearth_backoff_connected(&u->check_backoff);
        return;
    }
    if (u->repo_url == NULL) return;
    uint64_t ms = hearth_backoff_failed(&u->check_backoff, hearth_backoff_reason_http(u->fail_http_code), 0);
    int64_t at = now + (int64_t)((ms + 999) / 1000);
    if (at < now + 1) at = now + 1;
    if (at < u->next_check) u->next_check = at;
}

static void *updater_main(void *arg)
{
    hearth_updater *u = arg;
    pthread_mutex_lock(&u->mu);
    /* 5.3-5: first check shortly after initialisation, at a random moment
     * so a fleet powered on together does not arrive together. */
    int64_t first = hearth_time_now() + u->cfg.first_delay_s + rand_below(u->cfg.first_window_s + 1);
    int64_t window = first;
    int64_t regular = first; /* the next check of the period schedule */
    u->next_check = first;
    while (!u->stopping) {
        int64_t now = hearth_time_now();
        if (!u->req_check && !u->req_install && (u->restart_required || now < u->next_check)) {
            int64_t wait_s = u->restart_required ? 60 : u->next_check - now;
            if (wait_s > 60) wait_s = 60; /* re-read the wall clock at least every minute */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait_s;
            pthread_cond_timedwait(&u->cv, &u->mu, &ts);
            continue;
        }
        bool scheduled = !u->req_check && !u->req_install;
        bool regular_due = now >= regular;
        hearth_update_mode mode = u->req_install ? HEARTH_UPD_MODE_INSTALL : HEARTH_UPD_MODE_POLICY;
        u->req_check = u->req_install = false;
        pthread_mutex_unlock(&u->mu);
        hearth_update_result res;
        hearth_status cst = hearth_updater_check(u, mode, &res);
        (void)cst; /* outcome kept in u->last and the event log */
        hearth_err_clear();
        pthread_mutex_lock(&u->mu);
        if (scheduled) {
            int64_t nowc = hearth_time_now();
            if (regular_due) {
                /* Then once per period at a random time within each window. */
                window += u->cfg.period_s;
                while (window + (int64_t)u->cfg.period_s <= nowc) window += u->cfg.period_s;
                regular = hearth_updater_schedule(window, u->cfg.period_s, rand_below(u->cfg.period_s));
            }
            u->next_check = regular;
            upd_schedule_retry(u, &res, nowc);
        }
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

/* The updater thread's flags live in the updater, under its lock. */
static hearth_thread worker(hearth_updater *u)
{
    return (hearth_thread){
        .mu = &u->mu, .cv = &u->cv, .thread = &u->thread, .running = &u->running, .stop = &u->stopping};
}

hearth_status hearth_updater_start(hearth_updater *u)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    hearth_thread w = worker(u);
    return hearth_thread_start(&w, updater_main, u, "updater");
}

void hearth_updater_stop(hearth_updater *u)
{
    if (u == NULL) return;
    hearth_thread w = worker(u);
    hearth_thread_stop(&w);
}
