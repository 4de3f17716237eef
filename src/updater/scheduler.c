/* The scheduler (EN 303 645 5.3-4..5.3-6, 5.3-11, 5.3-12): the updater
 * thread, randomised check times (first shortly after start, then once per
 * period at a random moment of each window), the check/install requests the
 * API queues, the administrator's policy (automatic on/off, postpone), and
 * the announced installation time of a disruptive update, which the people
 * using the device see and an administrator can move. */
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
    if (st != HEARTH_ERR_NOT_FOUND) {
        HEARTH_GUARD(st);
        HEARTH_GUARD(hearth_update_policy_decode(rec, len, &u->policy));
    }
    uint8_t wrec[HEARTH_UPDATE_WINDOW_REC_MAX];
    memset(&u->window, 0, sizeof u->window);
    upd_store_lock(u);
    st = hearth_store_get(hearth_device_store(u->dev), HEARTH_REC_UPDATE_WINDOW, wrec, sizeof wrec, &len);
    upd_store_unlock(u);
    if (st == HEARTH_ERR_NOT_FOUND) return HEARTH_OK;
    HEARTH_GUARD(st);
    return hearth_update_window_decode(wrec, len, &u->window);
}

static hearth_status store_window(hearth_updater *u, const hearth_update_window *w)
{
    uint8_t rec[HEARTH_UPDATE_WINDOW_REC_MAX];
    size_t len = 0;
    HEARTH_GUARD(hearth_update_window_encode(w, rec, &len));
    upd_store_lock(u);
    hearth_status st = hearth_store_put(hearth_device_store(u->dev), HEARTH_REC_UPDATE_WINDOW, rec, len);
    upd_store_unlock(u);
    return st;
}

static void fmt_time(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
}

/* ------------------------------------------------------------ window */

bool upd_window_allows_install(hearth_updater *u, const hearth_update_info *info)
{
    if (!info->disruptive) return true;
    int64_t now = hearth_time_now();
    pthread_mutex_lock(&u->mu);
    hearth_update_window w = u->window;
    pthread_mutex_unlock(&u->mu);
    bool announce = false;
    bool due = hearth_update_window_plan(&w, info->sw_version, now, u->cfg.disruptive_notice_s, &announce);
    if (announce) {
        /* Recorded before anything installs: a device that cannot keep the
         * announcement does not install (the next check tries again). */
        if (store_window(u, &w) != HEARTH_OK) {
            upd_event_log(u, HEARTH_SEV_WARNING, "update_window_unsaved",
                          "the announcement could not be stored; not installing", info->sw_version);
            return false;
        }
        pthread_mutex_lock(&u->mu);
        u->window = w;
        pthread_mutex_unlock(&u->mu);
        char at[32], reason[160];
        fmt_time(w.at, at, sizeof at);
        snprintf(reason, sizeof reason, "installs at %s; expected downtime about %u s", at,
                 (unsigned)info->downtime_s);
        upd_event_log(u, HEARTH_SEV_INFO, "update_disruption_announced", reason, info->sw_version);
    }
    return due;
}

int64_t upd_window_wake(hearth_updater *u, int64_t now)
{
    if (!u->available.present || !u->available.disruptive) return 0;
    if (strcmp(u->window.version, u->available.sw_version) != 0 || u->window.at <= now) return 0;
    return u->window.at;
}

hearth_status hearth_updater_set_window(hearth_updater *u, int64_t at, const char *who)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    int64_t now = hearth_time_now();
    if (at < now - HEARTH_UPDATE_WINDOW_SLACK_S || at > now + HEARTH_UPDATE_WINDOW_MAX_S)
        return hearth_err(HEARTH_ERR_RANGE, "the installation time must be between now and %d days ahead",
                          (int)(HEARTH_UPDATE_WINDOW_MAX_S / 86400));
    if (at < now) at = now;
    pthread_mutex_lock(&u->mu);
    hearth_update_window w = u->window;
    bool announced = u->available.present && u->available.disruptive &&
                     strcmp(w.version, u->available.sw_version) == 0 && w.announced_at != 0;
    pthread_mutex_unlock(&u->mu);
    if (!announced)
        return hearth_err(HEARTH_ERR_STATE, "no disruptive update is announced; there is nothing to move");
    w.at = at;
    HEARTH_GUARD(store_window(u, &w));
    pthread_mutex_lock(&u->mu);
    u->window = w;
    /* Wake the updater thread at the new time (now: at once). */
    if (at <= now) u->req_check = true;
    else if (at < u->next_check) u->next_check = at;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    char when[32], reason[128];
    fmt_time(at, when, sizeof when);
    snprintf(reason, sizeof reason, "installs at %s (moved by %s)", when, who != NULL ? who : "");
    upd_event_log(u, HEARTH_SEV_INFO, "update_window_moved", reason, w.version);
    return HEARTH_OK;
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
    int64_t wait = u->repo_busy_until - hearth_time_now();
    if (running && wait <= 0) {
        u->req_check = true;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    if (!running) return hearth_err(HEARTH_ERR_STATE, "the updater is not running");
    /* 5.9-3: the repository said when to come back; asking by hand does not
     * change that (it is the same repository every device asks). */
    if (wait > 0)
        return hearth_err(HEARTH_ERR_BUSY, "the update repository asked to wait %lld s more", (long long)wait);
    return HEARTH_OK;
}

uint32_t hearth_updater_repo_wait_s(hearth_updater *u)
{
    if (u == NULL) return 0;
    pthread_mutex_lock(&u->mu);
    int64_t wait = u->repo_busy_until - hearth_time_now();
    pthread_mutex_unlock(&u->mu);
    return wait > 0 ? (uint32_t)wait : 0;
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
    uint32_t hint = u->fail_retry_after_s;
    uint64_t ms = hearth_backoff_failed(&u->check_backoff, hearth_backoff_reason_http(u->fail_http_code),
                                        (uint64_t)hint * 1000);
    if (hint == 0) {
        int64_t at = hearth_updater_retry_at(now, ms, 0, 0);
        if (at < u->next_check) u->next_check = at;
        return;
    }
    /* A busy repository said when to come back (429/503 + Retry-After,
     * validated by hearth-fetch): not before that, even if the regular
     * check was due sooner, capped at 24 h, with a jittered share of the
     * current backoff window on top. */
    uint64_t w = hearth_backoff_window_ms(u->check_backoff.cfg.base_ms, u->check_backoff.cfg.cap_ms,
                                          hearth_backoff_attempts(&u->check_backoff));
    u->next_check = hearth_updater_retry_at(now, ms, hint, rand_below((uint32_t)(w / 1000) + 1));
    char reason[96];
    snprintf(reason, sizeof reason, "repository busy (HTTP %ld): next check in %lld s", u->fail_http_code,
             (long long)(u->next_check - now));
    pthread_mutex_unlock(&u->mu);
    upd_event_log(u, HEARTH_SEV_INFO, "update_check_deferred", reason, NULL);
    pthread_mutex_lock(&u->mu);
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
        /* Every check, scheduled or asked for: a busy repository's hint
         * holds off the checks asked for until it ends. */
        u->repo_busy_until = (res.outcome == HEARTH_UPD_OUT_FAILED && u->fail_retry_after_s > 0)
                                 ? hearth_time_now() + (int64_t)u->fail_retry_after_s
                                 : 0;
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
        /* 5.3-12: a disruptive update waits for its announced time. */
        int64_t wake = upd_window_wake(u, hearth_time_now());
        if (wake != 0 && wake < u->next_check) u->next_check = wake;
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
