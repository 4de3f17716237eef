/* The update status document (GET /api/v1/updates): what is installed, what
 * is available with the risks it mitigates (5.3-11), whether installing it
 * disrupts the device, for how long and when it installs (5.3-12), the
 * policy (5.3-6) and the
 * recent update security events (5.3-9 example 9: the administrator, not
 * the repository, learns why an update was refused). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "updater_internal.h"

static const char *sev_name(hearth_severity s)
{
    return s == HEARTH_SEV_ALERT ? "alert" : s == HEARTH_SEV_WARNING ? "warning" : "info";
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
    if (t <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;
    /* A time gmtime_r cannot represent is shown as unknown, never as
     * whatever an unset struct tm would print. */
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    cJSON_AddStringToObject(o, key, buf);
}

static void add_info(cJSON *o, const char *key, const hearth_update_info *i)
{
    if (!i->present) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    cJSON *a = cJSON_AddObjectToObject(o, key);
    if (a == NULL) return;
    cJSON_AddStringToObject(a, "version", i->sw_version);
    cJSON_AddNumberToObject(a, "security_version", (double)i->security_version);
    cJSON_AddBoolToObject(a, "security_update", true);
    cJSON_AddNumberToObject(a, "size", (double)i->size);
    cJSON_AddStringToObject(a, "release_notes", i->notes);
    cJSON_AddStringToObject(a, "risks_mitigated", i->mitigates);
    cJSON_AddBoolToObject(a, "disruptive", i->disruptive);
    cJSON_AddNumberToObject(a, "expected_downtime_s", (double)i->downtime_s);
    add_time(a, "expires", i->expires);
}

/* 5.7-2: unauthorised changes hearth-boot found in the installed software
 * (recorded in the authenticated boot state before this process started),
 * and updates it reverted, for the administrator. */
static void add_integrity(cJSON *o, const hearth_boot_state *bs)
{
    cJSON *in = cJSON_AddObjectToObject(o, "integrity");
    if (in == NULL) return;
    cJSON_AddNumberToObject(in, "alerts_total", (double)bs->alerts_total);
    cJSON *list = cJSON_AddArrayToObject(in, "alerts");
    for (size_t k = 0; list != NULL && k < bs->n_alerts && k < HEARTH_SLOTS_ALERTS_MAX; k++) {
        const hearth_slot_alert *al = &bs->alerts[bs->n_alerts - 1 - k]; /* newest first */
        cJSON *j = cJSON_CreateObject();
        if (j == NULL) break;
        add_time(j, "time", al->time);
        if (al->slot >= 0 && al->slot < HEARTH_SLOT_COUNT)
            cJSON_AddStringToObject(j, "slot", hearth_slot_name(al->slot));
        else
            cJSON_AddNullToObject(j, "slot");
        cJSON_AddStringToObject(j, "file", al->file);
        cJSON_AddStringToObject(j, "reason", al->reason);
        cJSON_AddItemToArray(list, j);
    }
    cJSON_AddNumberToObject(in, "updates_reverted", (double)bs->reverts_total);
    if (bs->last_reverted >= 0 && bs->last_reverted < HEARTH_SLOT_COUNT) {
        cJSON_AddStringToObject(in, "last_reverted_slot", hearth_slot_name(bs->last_reverted));
        add_time(in, "last_reverted_at", bs->last_reverted_at);
    }
    for (int sl = 0; sl < HEARTH_SLOT_COUNT; sl++) {
        char key[16];
        snprintf(key, sizeof key, "slot_%s", hearth_slot_name(sl));
        cJSON_AddStringToObject(in, key, hearth_slot_verify_name(bs->slot[sl].verify));
    }
}

hearth_status hearth_updater_status_json(hearth_updater *u, bool include_events, char *buf, size_t cap)
{
    HEARTH_ENSURE(u != NULL && buf != NULL && cap > 0, HEARTH_ERR_INVALID);
    hearth_boot_state bs;
    bool have_bs = hearth_slots_read(u->slots, &bs) == HEARTH_OK;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");

    cJSON *inst = cJSON_AddObjectToObject(o, "installed");
    if (inst != NULL) {
        if (have_bs && bs.active >= 0 && bs.active < HEARTH_SLOT_COUNT) {
            cJSON_AddStringToObject(inst, "version", bs.slot[bs.active].version);
            cJSON_AddNumberToObject(inst, "security_version", (double)bs.slot[bs.active].security_version);
            cJSON_AddStringToObject(inst, "slot", hearth_slot_name(bs.active));
        } else {
            cJSON_AddStringToObject(inst, "version", hearth_version());
            cJSON_AddNumberToObject(inst, "security_version", 0);
            cJSON_AddNullToObject(inst, "slot");
        }
        cJSON_AddNumberToObject(inst, "min_security_version",
                                have_bs ? (double)bs.min_security_version : 0);
    }
    if (have_bs && bs.pending >= 0 && bs.pending < HEARTH_SLOT_COUNT) {
        cJSON *p = cJSON_AddObjectToObject(o, "pending");
        if (p != NULL) {
            cJSON_AddStringToObject(p, "slot", hearth_slot_name(bs.pending));
            cJSON_AddStringToObject(p, "version", bs.slot[bs.pending].version);
            cJSON_AddNumberToObject(p, "security_version", (double)bs.slot[bs.pending].security_version);
            cJSON_AddNumberToObject(p, "attempts_left", bs.attempts_left);
        }
    } else {
        cJSON_AddNullToObject(o, "pending");
    }

    pthread_mutex_lock(&u->mu);
    cJSON_AddStringToObject(o, "state", hearth_update_state_name(u->state));
    cJSON_AddBoolToObject(o, "restart_required", u->restart_required);
    cJSON *pol = cJSON_AddObjectToObject(o, "policy");
    if (pol != NULL) {
        cJSON_AddBoolToObject(pol, "automatic", u->policy.automatic);
        int64_t until = u->policy.postpone_until > hearth_time_now() ? u->policy.postpone_until : 0;
        add_time(pol, "postponed_until", until);
    }
    cJSON_AddBoolToObject(o, "repository_configured", u->repo_url != NULL);
    cJSON *lc = cJSON_AddObjectToObject(o, "last_check");
    if (lc != NULL) {
        add_time(lc, "time", u->last_check);
        cJSON_AddStringToObject(lc, "outcome", hearth_update_outcome_name(u->last.outcome));
        /* The reason is for administrators only. */
        if (include_events) cJSON_AddStringToObject(lc, "reason", u->last.reason);
    }
    add_time(o, "next_check", u->running ? u->next_check : 0);
    add_info(o, "available", &u->available);
    if (u->available.present) {
        /* 5.3-12: say plainly what installing will do to the device, in the
         * applications' own words. */
        char notice[512];
        if (hearth_apps_update_notice(u->cfg.apps, u->available.disruptive,
                                      u->available.downtime_s, notice, sizeof notice) != HEARTH_OK)
            snprintf(notice, sizeof notice, "Installing may restart the device.");
        cJSON_AddStringToObject(o, "disruption_notice", notice);
    }
    /* 5.3-12: when the announced disruptive update installs, for everyone
     * using the device (null: none announced for the waiting update, or the
     * policy keeps it from installing automatically then). */
    if (u->available.present && u->available.disruptive && u->window.announced_at != 0 &&
        strcmp(u->window.version, u->available.sw_version) == 0 && u->policy.automatic &&
        u->policy.postpone_until <= u->window.at) {
        cJSON *w = cJSON_AddObjectToObject(o, "window");
        if (w != NULL) {
            cJSON_AddStringToObject(w, "version", u->window.version);
            add_time(w, "announced_at", u->window.announced_at);
            add_time(w, "at", u->window.at);
            cJSON_AddNumberToObject(w, "at_unix", (double)u->window.at);
            cJSON_AddNumberToObject(w, "expected_downtime_s", (double)u->available.downtime_s);
            cJSON_AddNumberToObject(w, "latest_unix",
                                    (double)(hearth_time_now() + HEARTH_UPDATE_WINDOW_MAX_S));
        }
    } else {
        cJSON_AddNullToObject(o, "window");
    }
    if (include_events && have_bs) add_integrity(o, &bs);
    if (include_events) {
        cJSON *ev = cJSON_AddArrayToObject(o, "events");
        for (size_t k = 0; ev != NULL && k < u->n_events; k++) {
            size_t idx = (u->ev_head + HEARTH_UPDATE_EVENTS_MAX - 1 - k) % HEARTH_UPDATE_EVENTS_MAX;
            const upd_event *e = &u->events[idx];
            cJSON *j = cJSON_CreateObject();
            if (j == NULL) break;
            add_time(j, "time", e->ts);
            cJSON_AddStringToObject(j, "severity", sev_name(e->sev));
            cJSON_AddStringToObject(j, "event", e->event);
            cJSON_AddStringToObject(j, "reason", e->reason);
            cJSON_AddStringToObject(j, "version", e->version);
            cJSON_AddItemToArray(ev, j);
        }
    }
    pthread_mutex_unlock(&u->mu);

    hearth_status st = HEARTH_OK;
    if (!cJSON_PrintPreallocated(o, buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), false))
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "status document exceeds %zu bytes", cap);
    cJSON_Delete(o);
    return st;
}
