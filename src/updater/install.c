/* Install (EN 303 645 5.3-2, 5.3-9): a staged, complete bundle is opened
 * and checked again (signature, policy), extracted into the inactive slot
 * with every chunk re-verified as it is written, and the slot is marked
 * pending; the switch happens at the next restart, through hearth-boot. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "updater_internal.h"

hearth_status upd_install_file(hearth_updater *u, const char *path, const hearth_keyset *ks,
                               hearth_update_result *res)
{
    upd_set_state(u, HEARTH_UPD_INSTALLING);
    hearth_fault_point("update.verify.begin");
    hearth_bundle *b = NULL;
    hearth_status st = hearth_bundle_open(path, ks, &b);
    if (st != HEARTH_OK) {
        (void)unlink(path);
        return upd_reject(u, res, st, "staged bundle", NULL);
    }
    const hearth_manifest *m = hearth_bundle_manifest(b);
    char ver[HEARTH_SLOTS_VERSION_MAX + 1];
    upd_copy_str(ver, sizeof ver, m->sw_version);
    st = upd_check_policy(u, b, res);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        (void)unlink(path);
        return upd_reject(u, res, st, "staged bundle policy", ver);
    }
    hearth_fault_point("update.verify.done");
    if (u->cfg.test_before_install != NULL) u->cfg.test_before_install(path, u->cfg.test_arg);

    int slot = HEARTH_SLOT_NONE;
    char slot_dir[PATH_MAX];
    hearth_fault_point("update.install.prepare");
    st = hearth_slots_prepare_install(u->slots, &slot, slot_dir, sizeof slot_dir);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        return upd_fail(res, st, "preparing the inactive slot");
    }
    hearth_fault_point("update.install.extract");
    st = hearth_bundle_extract_verified(b, slot_dir, NULL, NULL);
    uint64_t secver = m->security_version;
    hearth_bundle_free(b);
    if (st != HEARTH_OK) {
        (void)unlink(path);
        if (st == HEARTH_ERR_TAMPERED)
            return upd_reject(u, res, st, "bundle changed after verification", ver);
        return upd_fail(res, st, "writing the inactive slot");
    }
    hearth_fault_point("update.install.mark_pending");
    st = hearth_slots_mark_pending(u->slots, slot, ver, secver);
    if (st != HEARTH_OK) {
        if (st == HEARTH_ERR_ROLLBACK) return upd_reject(u, res, st, "mark pending", ver);
        return upd_fail(res, st, "marking the slot pending");
    }
    hearth_fault_point("update.install.pending");
    (void)unlink(path);
    char reason[96];
    snprintf(reason, sizeof reason, "installed into slot %s, restart required", hearth_slot_name(slot));
    upd_event_log(u, HEARTH_SEV_INFO, "update_installed", reason, ver);
    res->outcome = HEARTH_UPD_OUT_INSTALLED;
    res->status = HEARTH_OK;
    upd_copy_str(res->reason, sizeof res->reason, reason);
    pthread_mutex_lock(&u->mu);
    u->restart_required = true;
    u->state = HEARTH_UPD_RESTART_REQUIRED;
    pthread_mutex_unlock(&u->mu);
    return HEARTH_OK;
}
