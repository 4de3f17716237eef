/* One update check (EN 303 645 5.3-1..5.3-8, 5.3-11): key set, signed
 * manifest, policy, and -- when the mode or the device policy allows --
 * download and install. The outcome is kept for the status document. */
#include <stdio.h>
#include <string.h>

#include "updater_internal.h"

static hearth_status do_check(hearth_updater *u, hearth_update_mode mode, hearth_update_result *res)
{
    if (u->repo_url == NULL) return upd_fail(res, HEARTH_ERR_STATE, "no update repository configured");
    if (hearth_updater_restart_required(u)) {
        res->outcome = HEARTH_UPD_OUT_INSTALLED;
        upd_copy_str(res->reason, sizeof res->reason, "an installed update waits for a restart");
        return HEARTH_OK;
    }
    hearth_fault_point("update.check.begin");
    u->fail_http_code = 0;
    u->fail_retry_after_s = 0;
    upd_session t;
    hearth_status st = upd_session_open(u, &t);
    if (st != HEARTH_OK) return upd_fail(res, st, "device key");
    hearth_keyset *ks = NULL;
    hearth_bundle *b = NULL;
    st = upd_keyset_sync(u, &t, res, &ks);
    if (st != HEARTH_OK) goto done;

    st = upd_fetch_manifest(u, &t, ks, res, &b);
    if (st != HEARTH_OK || b == NULL) goto done;
    const hearth_manifest *m = hearth_bundle_manifest(b);
    st = upd_check_policy(u, b, res);
    if (st == HEARTH_ERR_EXISTS) {
        /* The installed release served again: nothing to do. Kept as an
         * informational event (a repository that never moves on is worth
         * noticing, but it is the normal state between releases). */
        upd_event_log(u, HEARTH_SEV_INFO, "update_not_needed", "same version as installed (replay ignored)",
                      m->sw_version);
        res->outcome = HEARTH_UPD_OUT_UP_TO_DATE;
        res->info.present = false;
        upd_copy_str(res->reason, sizeof res->reason, "up to date");
        st = HEARTH_OK;
        goto done;
    }
    if (st != HEARTH_OK) {
        st = upd_reject(u, res, st, "manifest policy", m->sw_version);
        goto done;
    }
    hearth_fault_point("update.manifest.verified");
    pthread_mutex_lock(&u->mu);
    u->available = res->info;
    pthread_mutex_unlock(&u->mu);

    bool policy_ok = mode == HEARTH_UPD_MODE_POLICY && upd_policy_allows_install(u);
    /* 5.3-12: the automatic policy announces a disruptive update and waits
     * for its window; an administrator's explicit install does not wait. */
    bool window_ok = policy_ok && upd_window_allows_install(u, &res->info);
    bool install = mode == HEARTH_UPD_MODE_INSTALL || window_ok;
    if (!install) {
        char reason[96];
        snprintf(reason, sizeof reason, "%s",
                 mode == HEARTH_UPD_MODE_CHECK_ONLY ? "check only"
                 : policy_ok                        ? "waiting for the announced installation time"
                 : hearth_updater_policy(u).automatic ? "installation postponed"
                                                      : "automatic updates are off");
        upd_event_log(u, HEARTH_SEV_INFO, "update_available", reason, m->sw_version);
        res->outcome = HEARTH_UPD_OUT_AVAILABLE;
        upd_copy_str(res->reason, sizeof res->reason, reason);
        upd_set_state(u, HEARTH_UPD_AVAILABLE);
        st = HEARTH_OK;
        goto done;
    }
    st = upd_install_stream(u, &t, b, res);
done:
    hearth_bundle_free(b);
    hearth_keyset_free(ks);
    upd_session_close(&t);
    return st;
}

hearth_status hearth_updater_check(hearth_updater *u, hearth_update_mode mode, hearth_update_result *res)
{
    HEARTH_ENSURE(u != NULL && res != NULL, HEARTH_ERR_INVALID);
    memset(res, 0, sizeof *res);
    hearth_status st = upd_op_begin(u, true);
    if (st != HEARTH_OK) return upd_fail(res, st, "busy");
    hearth_update_state before;
    pthread_mutex_lock(&u->mu);
    before = u->state;
    u->state = HEARTH_UPD_CHECKING;
    pthread_mutex_unlock(&u->mu);
    st = do_check(u, mode, res);
    pthread_mutex_lock(&u->mu);
    u->last = *res;
    u->last_check = hearth_time_now();
    if (u->restart_required) u->state = HEARTH_UPD_RESTART_REQUIRED;
    else if (res->outcome == HEARTH_UPD_OUT_AVAILABLE ||
             (res->outcome == HEARTH_UPD_OUT_FAILED && before == HEARTH_UPD_AVAILABLE))
        u->state = HEARTH_UPD_AVAILABLE;
    else {
        u->state = HEARTH_UPD_IDLE;
        if (res->outcome != HEARTH_UPD_OUT_FAILED) memset(&u->available, 0, sizeof u->available);
    }
    bool restart = res->outcome == HEARTH_UPD_OUT_INSTALLED && st == HEARTH_OK;
    pthread_mutex_unlock(&u->mu);
    upd_op_end(u);
    if (restart && u->cfg.on_restart != NULL) u->cfg.on_restart(u->cfg.on_restart_arg);
    return st;
}
