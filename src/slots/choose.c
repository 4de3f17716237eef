/*
 * The boot decision: pure, no I/O, so every combination of boot state and
 * verification outcome is unit-tested (tests/unit/test_slots.c). hearth-boot
 * calls it in a loop, verifying only the slot it asks for.
 *
 * Invariant on every path (anti-rollback, 5.3-9 example 3): a slot is only
 * ever chosen if it verified AND its security version is >= the minimum of
 * the state being decided on. The minimum is only raised, never lowered:
 * here only when no confirmed slot exists (first boot without state, or a
 * state that failed authentication), to the security version of the slot
 * chosen; otherwise by hearth_slots_confirm().
 */
#include <string.h>

#include "hearth/slots.h"

static bool valid_slot(int s)
{
    return s == HEARTH_SLOT_A || s == HEARTH_SLOT_B;
}

/* Record a verification outcome in the state that will be persisted. */
static void note_check(hearth_boot_state *next, const hearth_slot_check *c, int s,
                       hearth_boot_choice *out)
{
    hearth_slot_info *si = &next->slot[s];
    if (!c->valid) {
        si->verify = HEARTH_SLOT_INVALID;
        if (!out->integrity_alert) {
            out->integrity_alert = true;
            out->alert_slot = s;
        }
        return;
    }
    si->security_version = c->security_version;
    if (c->security_version < next->min_security_version) {
        si->verify = HEARTH_SLOT_ROLLBACK;
        out->rollback_blocked = true;
    } else {
        si->verify = HEARTH_SLOT_VERIFIED;
    }
}

static bool usable(const hearth_boot_state *next, const hearth_slot_check *c)
{
    return c->checked && c->valid && c->security_version >= next->min_security_version;
}

static hearth_status need(hearth_boot_choice *out, int s)
{
    out->action = HEARTH_BOOT_NEED_VERIFY;
    out->slot = s;
    return HEARTH_OK;
}

static void drop_pending(hearth_boot_state *next, hearth_boot_choice *out, bool rejected)
{
    int p = next->pending;
    next->pending = HEARTH_SLOT_NONE;
    next->attempts_left = 0;
    next->reverts_total++;
    next->last_reverted = (int8_t)p;
    out->reverted_slot = p;
    if (rejected)
        out->rejected = true;
    else
        out->reverted = true;
}

static void boot(hearth_boot_state *next, hearth_boot_choice *out, hearth_boot_action a, int s)
{
    out->action = a;
    out->slot = s;
    next->booted = (int8_t)s;
}

hearth_status hearth_slots_choose(const hearth_boot_state *in,
                                  const hearth_slot_check checks[HEARTH_SLOT_COUNT],
                                  hearth_boot_state *next, hearth_boot_choice *out)
{
    if (in == NULL || checks == NULL || next == NULL || out == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "choose: missing argument");
    if (in->active != HEARTH_SLOT_NONE && !valid_slot(in->active))
        return hearth_err(HEARTH_ERR_INVALID, "choose: bad active slot");
    if (in->pending != HEARTH_SLOT_NONE && !valid_slot(in->pending))
        return hearth_err(HEARTH_ERR_INVALID, "choose: bad pending slot");
    if (next != in) memcpy(next, in, sizeof *next);
    memset(out, 0, sizeof *out);
    out->slot = HEARTH_SLOT_NONE;
    out->reverted_slot = HEARTH_SLOT_NONE;
    out->alert_slot = HEARTH_SLOT_NONE;

    /* Record every verification done so far, whatever the path taken. */
    for (int s = 0; s < HEARTH_SLOT_COUNT; s++)
        if (checks[s].checked) note_check(next, &checks[s], s, out);

    /* 1. A pending update gets a trial while it has attempts left. */
    int p = next->pending;
    if (p != HEARTH_SLOT_NONE) {
        if (p == next->active) {
            /* Cannot happen with a correct writer; never treat the active
             * slot as on trial. */
            next->pending = HEARTH_SLOT_NONE;
            next->attempts_left = 0;
        } else if (next->attempts_left == 0) {
            drop_pending(next, out, false); /* AWS OTA: self-test failed -> rejected */
        } else if (!checks[p].checked) {
            return need(out, p);
        } else if (!usable(next, &checks[p])) {
            drop_pending(next, out, true); /* bad signature/digest or rollback */
        } else {
            next->attempts_left--;
            boot(next, out, HEARTH_BOOT_TRIAL, p);
            return HEARTH_OK;
        }
    }

    /* 2. The confirmed slot. */
    int a = next->active;
    if (a != HEARTH_SLOT_NONE) {
        if (!checks[a].checked) return need(out, a);
        if (usable(next, &checks[a])) {
            boot(next, out, HEARTH_BOOT_ACTIVE, a);
            return HEARTH_OK;
        }
        /* 3. Fallback to the other slot if it verifies at or above the floor. */
        int o = hearth_slot_other(a);
        if (!checks[o].checked) return need(out, o);
        if (usable(next, &checks[o])) {
            next->active = (int8_t)o;
            boot(next, out, HEARTH_BOOT_FALLBACK, o);
            return HEARTH_OK;
        }
        boot(next, out, HEARTH_BOOT_RECOVERY, HEARTH_SLOT_NONE);
        return HEARTH_OK;
    }

    /* 4. No confirmed slot (no state, or a state that failed authentication):
     *    verify both, take the highest security version at or above the floor. */
    for (int s = 0; s < HEARTH_SLOT_COUNT; s++)
        if (!checks[s].checked) return need(out, s);
    int best = HEARTH_SLOT_NONE;
    for (int s = 0; s < HEARTH_SLOT_COUNT; s++) {
        if (!usable(next, &checks[s])) continue;
        if (best == HEARTH_SLOT_NONE ||
            checks[s].security_version > checks[best].security_version)
            best = s;
    }
    if (best == HEARTH_SLOT_NONE) {
        boot(next, out, HEARTH_BOOT_RECOVERY, HEARTH_SLOT_NONE);
        return HEARTH_OK;
    }
    next->active = (int8_t)best;
    if (checks[best].security_version > next->min_security_version)
        next->min_security_version = checks[best].security_version;
    boot(next, out, HEARTH_BOOT_FALLBACK, best);
    return HEARTH_OK;
}

int hearth_slots_choose_safe(const hearth_slot_check checks[HEARTH_SLOT_COUNT])
{
    int best = HEARTH_SLOT_NONE;
    for (int s = 0; s < HEARTH_SLOT_COUNT; s++) {
        if (!checks[s].checked || !checks[s].valid) continue;
        if (best == HEARTH_SLOT_NONE ||
            checks[s].security_version > checks[best].security_version)
            best = s;
    }
    return best;
}
