/*
 * The boot decision (EN 303 645 5.7-1, 5.7-2, 5.3-9, 5.3-10): boot state,
 * key set and its floor, slot choice, verification, alerts, attempts, and
 * the persisted result. hearth-boot calls hearth_boot_decide() before every
 * launch and the tests drive the very same function (docs/boot.md).
 * The choice itself is pure (choose.c); this file does the I/O around it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hearth/bundle.h"
#include "hearth/layout.h"
#include "hearth/slots.h"
#include "hearth/util.h"

/* The trust anchor and key set of one decision. */
typedef struct {
    hearth_trust *trust;
    hearth_keyset *ks;
    char why[256]; /* why there is no usable key set (ks NULL) */
} decide_keys;

const char *hearth_boot_action_name(hearth_boot_action a)
{
    switch (a) {
    case HEARTH_BOOT_TRIAL: return "trial";
    case HEARTH_BOOT_ACTIVE: return "active";
    case HEARTH_BOOT_FALLBACK: return "fallback";
    case HEARTH_BOOT_RECOVERY: return "recovery";
    case HEARTH_BOOT_NEED_VERIFY: break;
    }
    return "verify";
}

void hearth_boot_decision_clear(hearth_boot_decision *d)
{
    if (d->program_fd >= 0) close(d->program_fd);
    d->program_fd = -1;
}

/* Load the trust anchor and the key set (reloaded for every decision: the
 * updater may have rotated the key set, a technician repaired things). The
 * key set's expiry guards installs, not boots: it is verified as of its own
 * creation time so an expired key set never bricks an installed system. */
static void load_keys(const hearth_boot_opts *o, decide_keys *k)
{
    memset(k, 0, sizeof *k);
    if (hearth_trust_load_dir(o->trust_dir, &k->trust) != HEARTH_OK) {
        /* Bounded: the reason ends up in the slots' alert records. */
        snprintf(k->why, sizeof k->why, "trust anchor: %.200s", hearth_err_msg());
        fprintf(stderr, "hearth-boot: trust anchor %s: %s\n", o->trust_dir, hearth_err_msg());
        k->trust = NULL;
        return;
    }
    hearth_keyset *raw = NULL;
    int64_t when = 0;
    if (hearth_keyset_load(o->keyset_path, NULL, 0, 0, &raw) == HEARTH_OK)
        when = hearth_keyset_created(raw);
    hearth_keyset_free(raw);
    if (hearth_keyset_load(o->keyset_path, k->trust, 0, when > 0 ? when : 0, &k->ks) !=
        HEARTH_OK) {
        snprintf(k->why, sizeof k->why, "key set: %.200s", hearth_err_msg());
        fprintf(stderr, "hearth-boot: key set %s: %s\n", o->keyset_path, hearth_err_msg());
        k->ks = NULL;
    }
}

static void free_keys(decide_keys *k)
{
    hearth_keyset_free(k->ks);
    hearth_trust_free(k->trust);
    k->ks = NULL;
    k->trust = NULL;
}

/* "payload 'hearthd' chunk 3 ..." -> "hearthd", so the alert names the file. */
static void file_from_reason(const char *reason, char *file, size_t cap)
{
    file[0] = '\0';
    const char *q = strchr(reason, '\'');
    const char *e = q ? strchr(q + 1, '\'') : NULL;
    if (q && e && (size_t)(e - q - 1) < cap) {
        memcpy(file, q + 1, (size_t)(e - q - 1));
        file[e - q - 1] = '\0';
    }
}

/* True if the kept alerts already hold this finding: a recovery loop
 * re-verifies every interval and must not flush older alerts out of the
 * ring with repeats (the whole ring is searched, as one pass may record
 * several findings: the key set, then each slot). */
static bool alert_known(const hearth_boot_state *bs, int slot, const char *reason)
{
    for (unsigned i = 0; i < bs->n_alerts; i++) {
        const hearth_slot_alert *al = &bs->alerts[i];
        if (al->slot == slot && strncmp(al->reason, reason, sizeof al->reason - 1) == 0)
            return true;
    }
    return false;
}

static void move_aside_bad_state(const char *state)
{
    char from[PATH_MAX], to[PATH_MAX];
    if (hearth_layout_path(state, HEARTH_LAYOUT_BOOT_STATE, from, sizeof from) != HEARTH_OK) return;
    int n = snprintf(to, sizeof to, "%s.bad.%lld", from, (long long)hearth_time_now());
    if (n < 0 || (size_t)n >= sizeof to) return;
    if (rename(from, to) == 0) {
        char d[PATH_MAX];
        if (hearth_layout_path(state, HEARTH_LAYOUT_BOOT, d, sizeof d) == HEARTH_OK &&
            hearth_fs_sync_dir(d) != HEARTH_OK)
            fprintf(stderr, "hearth-boot: %s\n", hearth_err_msg());
    }
}

/*
 * Compare the loaded key set with the boot state's key-set floor. Below the
 * floor: ALERT "keyset_rollback" (events.log and the boot state, one record
 * per distinct finding so a recovery loop does not flush older alerts) and
 * the key set is dropped, so nothing verifies with it. At or above: @p raise
 * gets its version (this very file was just verified, so raising can never
 * put the floor above the key set the device has).
 */
static void check_keyset_floor(const hearth_boot_opts *o, decide_keys *k, hearth_boot_state *bs,
                               uint64_t *raise, hearth_boot_decision *d)
{
    uint64_t v = hearth_keyset_version(k->ks);
    d->keyset_version = v;
    if (v >= bs->min_keyset_version) {
        *raise = v;
        return;
    }
    char vs[24], fs[24], reason[HEARTH_SLOTS_REASON_MAX + 1];
    snprintf(vs, sizeof vs, "%llu", (unsigned long long)v);
    snprintf(fs, sizeof fs, "%llu", (unsigned long long)bs->min_keyset_version);
    snprintf(reason, sizeof reason, "keyset_rollback: key set version %s is below the floor %s",
             vs, fs);
    hearth_seclog(HEARTH_SEV_ALERT, "keyset_rollback", "file", o->keyset_path, "version", vs,
                  "minimum", fs, NULL);
    fprintf(stderr, "hearth-boot: ALERT key set %s refused: %s\n", o->keyset_path, reason);
    d->alerts++;
    d->keyset_refused = true;
    const char *base = strrchr(o->keyset_path, '/');
    base = base != NULL ? base + 1 : o->keyset_path;
    if (!alert_known(bs, HEARTH_SLOT_NONE, reason))
        hearth_boot_state_add_alert(bs, HEARTH_SLOT_NONE, hearth_time_now(), base, reason);
    /* Short, so the slot alerts that follow still name the cause. */
    snprintf(k->why, sizeof k->why, "%s", reason);
    hearth_keyset_free(k->ks);
    k->ks = NULL;
}

/* Per-slot verification results of one decision. */
typedef struct {
    hearth_slot_check checks[HEARTH_SLOT_COUNT];
    char versions[HEARTH_SLOT_COUNT][HEARTH_SLOTS_VERSION_MAX + 1];
    int program_fd[HEARTH_SLOT_COUNT]; /* sealed, verified program copies */
} decide_slots;

/* Verify one slot completely; with o->program, the program is verified from
 * (and kept as) a sealed in-memory copy, which is what will be executed. */
static void verify_slot(hearth_slots *s, const hearth_boot_opts *o, const decide_keys *k,
                        int slot, decide_slots *v, char *reason, size_t rcap)
{
    char dir[PATH_MAX];
    hearth_slot_check *chk = &v->checks[slot];
    memset(chk, 0, sizeof *chk);
    chk->checked = true;
    v->versions[slot][0] = reason[0] = '\0';
    if (v->program_fd[slot] >= 0) close(v->program_fd[slot]);
    v->program_fd[slot] = -1;
    if (hearth_slots_path(s, slot, dir, sizeof dir) != HEARTH_OK) {
        snprintf(reason, rcap, "slot path too long");
        return;
    }
    if (k->ks == NULL) {
        snprintf(reason, rcap, "no verified key set: %.200s", k->why);
        return;
    }
    /* The model check is never switched off: no model or hardware id (they
     * come from the authenticated device configuration) means no slot. */
    if (o->model == NULL || o->model[0] == '\0' || o->hw_id == NULL || o->hw_id[0] == '\0') {
        snprintf(reason, rcap, "no device model and hardware id to check the slot against");
        return;
    }
    hearth_bundle_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.model = o->model;
    pol.hw_id = o->hw_id;
    pol.ignore_expiry = true; /* expiry guards installation, it must not brick a device */
    hearth_manifest *m = NULL;
    int64_t t0 = hearth_mono_ms();
    hearth_status st = hearth_slot_verify_dir_exec(dir, k->ks, &pol, o->threads, o->program,
                                                   o->program ? &v->program_fd[slot] : NULL, &m);
    int64_t t1 = hearth_mono_ms();
    if (st != HEARTH_OK) {
        snprintf(reason, rcap, "%s: %s", hearth_status_name(st), hearth_err_msg());
        return;
    }
    chk->valid = true;
    chk->security_version = m->security_version;
    snprintf(v->versions[slot], sizeof v->versions[slot], "%s", m->sw_version);
    char ms[24], sv[24];
    snprintf(ms, sizeof ms, "%lld", (long long)(t1 - t0));
    snprintf(sv, sizeof sv, "%llu", (unsigned long long)m->security_version);
    hearth_seclog(HEARTH_SEV_INFO, "slot_verified", "slot", hearth_slot_name(slot), "version",
                  m->sw_version, "security_version", sv, "ms", ms, NULL);
    hearth_manifest_free(m);
}

/* Report one verification (alert, incomplete install or rollback block). */
static void report_check(const hearth_boot_state *prior, hearth_boot_state *bs, int s,
                         const hearth_slot_check *chk, const char *reason,
                         hearth_boot_decision *d)
{
    if (!chk->valid) {
        char file[HEARTH_SLOTS_FILE_MAX + 1];
        file_from_reason(reason, file, sizeof file);
        if (prior->slot[s].verify == HEARTH_SLOT_INSTALLING) {
            /* An install that never finished is not an unauthorised change. */
            hearth_seclog(HEARTH_SEV_WARNING, "slot_incomplete", "slot", hearth_slot_name(s),
                          "reason", reason, NULL);
            return;
        }
        hearth_seclog(HEARTH_SEV_ALERT, "software_integrity_violation", "slot",
                      hearth_slot_name(s), "file", file, "reason", reason, NULL);
        fprintf(stderr, "hearth-boot: ALERT slot %s failed verification: %s\n",
                hearth_slot_name(s), reason);
        d->alerts++;
        /* One record per distinct finding (alert_known). */
        if (!alert_known(bs, s, reason))
            hearth_boot_state_add_alert(bs, s, hearth_time_now(), file, reason);
    } else if (chk->security_version < bs->min_security_version) {
        char sv[24], mv[24];
        snprintf(sv, sizeof sv, "%llu", (unsigned long long)chk->security_version);
        snprintf(mv, sizeof mv, "%llu", (unsigned long long)bs->min_security_version);
        hearth_seclog(HEARTH_SEV_WARNING, "rollback_blocked", "slot", hearth_slot_name(s),
                      "security_version", sv, "minimum", mv, NULL);
        fprintf(stderr, "hearth-boot: slot %s security version %s is below the minimum %s\n",
                hearth_slot_name(s), sv, mv);
    }
}

/* Read boot/state together with the floor record (hearth_slots_load()).
 * Missing or unauthentic state: alert, keep the evidence (not in a
 * verify-only pass, which changes nothing) and start from an empty state
 * that keeps the record's floors, so only a slot provably not older than
 * the last confirmed floor can be chosen. Returns false when no authentic
 * source of the floors is left at all: the caller fails closed. */
static bool read_state(hearth_slots *s, const hearth_boot_opts *o, hearth_boot_state *bs,
                       hearth_boot_decision *d)
{
    hearth_slots_load_info info;
    hearth_status st = hearth_slots_load(s, bs, &info);
    d->floor_record_in_tpm = info.record_in_tpm;
    const char *backend = info.record_in_tpm ? "tpm" : "file";
    if (info.state_behind) {
        /* An older authentic state (replayed, or a power cut between the
         * record and the state write): the record's floors apply. */
        d->state_behind = true;
        char sv[24];
        snprintf(sv, sizeof sv, "%llu", (unsigned long long)info.record_floors.security_version);
        hearth_seclog(HEARTH_SEV_WARNING, "boot_state_behind_floor", "backend", backend,
                      "min_security_version", sv, NULL);
    }
    if (info.record != HEARTH_OK && info.record != HEARTH_ERR_NOT_FOUND && info.floors_known) {
        /* File backend, authentic state: the record is rewritten from it. */
        hearth_seclog(HEARTH_SEV_ALERT, "floor_record_tampered", "backend", backend, "reason",
                      info.record_why, NULL);
        fprintf(stderr, "hearth-boot: ALERT floor record: %s\n", info.record_why);
        d->alerts++;
    }
    if (info.state == HEARTH_OK && st == HEARTH_OK) return true;
    if (info.state != HEARTH_OK) {
        char why[HEARTH_SLOTS_REASON_MAX + 1];
        snprintf(why, sizeof why, "%.120s", info.state_why);
        const char *ev =
            info.state == HEARTH_ERR_NOT_FOUND ? "boot_state_missing" : "boot_state_tampered";
        hearth_seclog(HEARTH_SEV_ALERT, ev, "reason", why, NULL);
        fprintf(stderr, "hearth-boot: %s: %s\n", ev, why);
        d->alerts++;
        if (info.state == HEARTH_ERR_NOT_FOUND) {
            d->state_missing = true;
        } else {
            d->state_tampered = true;
            if (!o->verify_only) move_aside_bad_state(hearth_slots_state_dir(s));
        }
        hearth_boot_state_add_alert(bs, HEARTH_SLOT_NONE, hearth_time_now(),
                                    hearth_layout_name(HEARTH_LAYOUT_BOOT_STATE), why);
    }
    if (st == HEARTH_OK) return true;
    /* Nothing authentic tells what ran before (no state and no usable
     * record, or a TPM floor index that cannot be read): no slot is
     * provably not older than it, so none runs. */
    d->floors_unknown = true;
    snprintf(d->reason, sizeof d->reason,
             "no authentic anti-rollback floor (boot state: %.80s; floor record: %.80s)",
             info.state == HEARTH_OK ? "authentic" : info.state_why, info.record_why);
    hearth_seclog(HEARTH_SEV_ALERT, "rollback_floors_unknown", "backend", backend, "reason",
                  d->reason, NULL);
    fprintf(stderr, "hearth-boot: ALERT %s\n", d->reason);
    d->alerts++;
    return false;
}

/* Decide under the lock; @p v collects the verified program copies. */
static hearth_status decide_locked(hearth_slots *s, const hearth_boot_opts *o, decide_keys *k,
                                   decide_slots *v, hearth_boot_decision *d)
{
    hearth_boot_state bs, next;
    if (!read_state(s, o, &bs, d)) {
        /* Fail closed: recovery, nothing verified or launched, and nothing
         * written (a state written now would be an authentic floor 0). */
        d->choice.action = HEARTH_BOOT_RECOVERY;
        d->choice.slot = HEARTH_SLOT_NONE;
        return HEARTH_OK;
    }
    /* Key-set anti-rollback (5.3-9/5.3-10, TUF rollback of metadata): a
     * root-signed but OLDER key set (e.g. one in which a since-revoked
     * signing key is still active) is refused like any verification failure:
     * without it no slot verifies, so the device falls back or enters
     * recovery. A newer verified key set raises the floor (persisted below). */
    uint64_t ks_raise = 0;
    if (k->ks != NULL) check_keyset_floor(o, k, &bs, &ks_raise, d);
    hearth_boot_state prior = bs;
    for (int guard = 0;; guard++) {
        HEARTH_GUARD(hearth_slots_choose(&bs, v->checks, &next, &d->choice));
        if (d->choice.action != HEARTH_BOOT_NEED_VERIFY) break;
        if (guard == 3) return hearth_err(HEARTH_ERR_INTERNAL, "boot decision did not converge");
        int sl = d->choice.slot;
        char reason[256];
        verify_slot(s, o, k, sl, v, reason, sizeof reason);
        report_check(&prior, &bs, sl, &v->checks[sl], reason, d);
    }
    if (ks_raise > next.min_keyset_version) next.min_keyset_version = ks_raise;
    for (int sl = 0; sl < HEARTH_SLOT_COUNT; sl++) {
        if (!v->checks[sl].checked || !v->checks[sl].valid) continue;
        memcpy(next.slot[sl].version, v->versions[sl], sizeof next.slot[sl].version);
        next.slot[sl].verified_at = hearth_time_now();
    }
    if (d->choice.reverted || d->choice.rejected) {
        next.last_reverted_at = hearth_time_now();
        const char *why = d->choice.rejected ? "failed verification or below minimum"
                          : o->trial_failure != NULL && o->trial_failure[0] ? o->trial_failure
                                                                             : "boot attempts exhausted";
        hearth_seclog(HEARTH_SEV_WARNING, "update_reverted", "slot",
                      hearth_slot_name(d->choice.reverted_slot), "reason", why, "back_to",
                      hearth_slot_name(next.active), NULL);
        fprintf(stderr, "hearth-boot: update in slot %s reverted: %s\n",
                hearth_slot_name(d->choice.reverted_slot), why);
    }
    if (d->choice.action == HEARTH_BOOT_RECOVERY)
        snprintf(d->reason, sizeof d->reason, "no slot verifies at or above security version %llu",
                 (unsigned long long)next.min_security_version);
    d->min_security_version = next.min_security_version;
    d->min_keyset_version = next.min_keyset_version;
    if (o->verify_only) return HEARTH_OK; /* health check: write nothing */
    /* Persist BEFORE launching: the spent attempt survives a power cut. */
    hearth_fault_point("boot.persist");
    HEARTH_GUARD(hearth_slots_write(s, &next));
    d->written = true;
    return HEARTH_OK;
}

hearth_status hearth_boot_decide(hearth_slots *s, const hearth_boot_opts *o,
                                 hearth_boot_decision *d)
{
    memset(d, 0, sizeof *d);
    d->program_fd = -1;
    d->choice.slot = HEARTH_SLOT_NONE;
    if (o == NULL || o->trust_dir == NULL || o->keyset_path == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "boot decision needs a trust anchor and a key set");
    decide_keys k;
    load_keys(o, &k);
    decide_slots v;
    memset(&v, 0, sizeof v);
    for (int sl = 0; sl < HEARTH_SLOT_COUNT; sl++) v.program_fd[sl] = -1;
    int lock = -1;
    hearth_status st = hearth_slots_lock(s, &lock);
    if (st == HEARTH_OK) {
        st = decide_locked(s, o, &k, &v, d);
        hearth_slots_unlock(lock);
    }
    free_keys(&k);
    bool boots = st == HEARTH_OK && d->choice.action != HEARTH_BOOT_RECOVERY &&
                 d->choice.action != HEARTH_BOOT_NEED_VERIFY;
    if (boots) {
        int sl = d->choice.slot;
        d->security_version = v.checks[sl].security_version;
        snprintf(d->version, sizeof d->version, "%s", v.versions[sl]);
        d->program_fd = v.program_fd[sl];
        v.program_fd[sl] = -1;
    } else if (st != HEARTH_OK) {
        d->choice.action = HEARTH_BOOT_RECOVERY;
        d->choice.slot = HEARTH_SLOT_NONE;
    }
    for (int sl = 0; sl < HEARTH_SLOT_COUNT; sl++)
        if (v.program_fd[sl] >= 0) close(v.program_fd[sl]);
    return st;
}
