/* Install (EN 303 645 5.3-2, 5.3-9): a release from the repository is
 * installed from the stream -- its payload, verified chunk by chunk against
 * the signed manifest already checked (signature, policy), goes straight
 * into the inactive slot as it arrives (hearth_slot_writer: hashed once,
 * written once, resumable), the slot is committed (fsync'd, manifest last)
 * and only then marked pending. A local upload arrives as a staged file and
 * is extracted with every chunk re-verified as it is written. The switch
 * happens at the next restart, through hearth-boot, which verifies the
 * whole slot again before it starts it. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "updater_internal.h"

/* The slot holds a complete, durable, verified release: mark it pending
 * (the atomic boot-state switch) and ask for the restart. */
static hearth_status mark_pending(hearth_updater *u, int slot, const char *ver, uint64_t secver,
                                  hearth_update_result *res)
{
    hearth_fault_point("update.install.mark_pending");
    hearth_status st = hearth_slots_mark_pending(u->slots, slot, ver, secver);
    if (st != HEARTH_OK) {
        if (st == HEARTH_ERR_ROLLBACK) return upd_reject(u, res, st, "mark pending", ver);
        return upd_fail(res, st, "marking the slot pending");
    }
    hearth_fault_point("update.install.pending");
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

hearth_status upd_install_stream(hearth_updater *u, const upd_session *t, const hearth_bundle *b,
                                 hearth_update_result *res)
{
    const hearth_manifest *m = hearth_bundle_manifest(b);
    char ver[HEARTH_SLOTS_VERSION_MAX + 1];
    upd_copy_str(ver, sizeof ver, m->sw_version);
    /* Nothing is written into the slot before this point: the key set,
     * the manifest signature and the policy were checked (check.c). */
    hearth_fault_point("update.install.prepare");
    hearth_slot_writer *w = NULL;
    hearth_status st = hearth_slot_writer_open(u->slots, b, &w);
    if (st != HEARTH_OK) return upd_fail(res, st, "preparing the inactive slot");
    st = upd_download(u, t, b, w, res);
    if (st == HEARTH_OK) {
        upd_set_state(u, HEARTH_UPD_INSTALLING);
        if (u->cfg.test_before_install != NULL) {
            char p[PATH_MAX];
            const char *last = m->payloads[m->payload_count - 1].name;
            if (snprintf(p, sizeof p, "%s/%s/%s", hearth_slot_writer_dir(w), HEARTH_SLOT_PAYLOAD_DIR,
                         last) < (int)sizeof p)
                u->cfg.test_before_install(p, u->cfg.test_arg);
        }
        hearth_fault_point("update.install.commit");
        st = hearth_slot_writer_commit(w);
        if (st == HEARTH_ERR_TAMPERED) st = upd_reject(u, res, st, "inactive slot changed during the install", ver);
        else if (st != HEARTH_OK) st = upd_fail(res, st, "writing the inactive slot");
    }
    int slot = hearth_slot_writer_slot(w);
    hearth_slot_writer_free(w);
    if (st != HEARTH_OK) return st;
    return mark_pending(u, slot, ver, m->security_version, res);
}

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
    st = mark_pending(u, slot, ver, secver, res);
    if (st == HEARTH_OK) (void)unlink(path);
    return st;
}
