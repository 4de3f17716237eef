#!/usr/bin/env bash
# provisions: 5.3-2 5.3-9 5.3-10 5.7-1
# timeout: 300
#
# A/B update life cycle with real signed bundles and the real hearth-boot
# (MCUboot test-swap / RAUC mark-good / AWS OTA pending -> self-test ->
# accepted|rejected):
#  - a staged (pending) update that confirms becomes active and raises the
#    minimum security version (5.3-2);
#  - a pending update that never confirms is killed after --confirm-timeout
#    and reverted; the minimum is NOT raised (5.3-2, 5.3-9);
#  - a pending update that crashes at start is reverted after 3 attempts;
#  - the restart code (75) makes hearth-boot boot again (into the new slot);
#  - a tampered pending slot is rejected without being launched (5.3-10);
#  - after an accepted update the older slot is below the minimum and is no
#    longer a fallback (anti-rollback in the revert path, 5.3-9).
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"

make_device
make_bundle v1 1.0 1
make_bundle v2 2.0 2
make_bundle v3 3.0 3
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null
mode a confirm-exit
mode b confirm-exit
boot
[ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = a ] || fail "initial boot"

# --- staged update that confirms -------------------------------------------
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v2.hbu" > "$T/out"
grep -q 'in slot b; pending' "$T/out" || fail "v2 not staged in b"
[ "$(status_field 'min security version')" = 1 ] || fail "staging must not raise the minimum"
boot
[ "$BOOT_RC" = 0 ] || fail "trial boot exited $BOOT_RC"
[ "$(last_launch_slot)" = b ] || fail "pending slot b not tried"
grep -q '^b confirm-exit .* confirm=ok' "$DEV/payload.log" || fail "b did not confirm"
[ "$(status_field 'active slot')" = b ] || fail "b not active after confirm"
[ "$(status_field 'pending slot')" = none ] || fail "pending not cleared"
[ "$(status_field 'min security version')" = 2 ] || fail "minimum not raised to 2"
grep -q '"event":"boot_slot","slot":"b","mode":"trial"' "$DEV/events.log" || fail "no trial event"
grep -q '"event":"update_accepted","slot":"b"' "$DEV/events.log" || fail "no update_accepted"
ok "pending slot confirmed -> active, minimum 1 -> 2"

# --- pending update that never confirms -> reverted after the timeout -------
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v3.hbu" > "$T/out"
grep -q 'in slot a; pending' "$T/out" || fail "v3 not staged in a"
mode a noconfirm-wait
start=$(date +%s)
boot --confirm-timeout 2
end=$(date +%s)
[ "$BOOT_RC" = 0 ] || fail "revert run exited $BOOT_RC"
tail -n 2 "$DEV/payload.log" | head -n 1 | grep -q '^a noconfirm-wait' || fail "a not tried"
[ "$(last_launch_slot)" = b ] || fail "not reverted to b"
[ $((end - start)) -ge 2 ] || fail "trial killed before the confirm timeout"
[ "$(status_field 'active slot')" = b ] || fail "active changed by an unconfirmed trial"
[ "$(status_field 'min security version')" = 2 ] || fail "minimum raised without confirmation"
grep -q '"event":"update_trial_timeout","slot":"a"' "$DEV/events.log" || fail "no timeout event"
grep -q '"event":"update_reverted","slot":"a","reason":"not confirmed within 2 s"' \
    "$DEV/events.log" || fail "no update_reverted event"
# The trial program's own pid (payload.log); its command line does not name
# the slot directory, so a pgrep for that path could never find it.
trial_pid=$(grep '^a noconfirm-wait ' "$DEV/payload.log" | tail -n 1 | cut -d' ' -f3)
[ -n "$trial_pid" ] || fail "no pid logged for the trial program"
kill -0 "$trial_pid" 2>/dev/null && fail "unconfirmed trial program $trial_pid still running"
ok "unconfirmed trial killed after timeout, reverted, minimum stays 2"

# --- pending update that crashes at start -> reverted after 3 attempts ------
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v3.hbu" >/dev/null
mode a crash
before=$(launches)
boot
[ "$BOOT_RC" = 0 ] || fail "crash run exited $BOOT_RC"
crashes=$(tail -n +$((before + 1)) "$DEV/payload.log" | grep -c '^a crash' || true)
[ "$crashes" = 3 ] || fail "expected 3 attempts of the crashing slot, got $crashes"
[ "$(last_launch_slot)" = b ] || fail "not reverted to b after crashes"
[ "$(status_field 'min security version')" = 2 ] || fail "minimum raised by a crashing update"
grep -q '"event":"update_reverted","slot":"a","reason":"crashed (signal 6) before confirming"' \
    "$DEV/events.log" || fail "crash revert not logged"
"$HEARTH" slot status --state "$DEV" | grep -q '^updates reverted: *2' || fail "revert count"
ok "crashing pending slot reverted after 3 attempts"

# --- restart request (exit 75) boots again ----------------------------------
mode b restart-once
before=$(launches)
boot
[ "$BOOT_RC" = 0 ] || fail "restart run exited $BOOT_RC"
[ "$(( $(launches) - before ))" = 2 ] || fail "restart code did not lead to a second boot"
tail -n 1 "$DEV/payload.log" | grep -q '^b confirm-exit' || fail "second boot not b"
ok "exit 75 -> hearth-boot boots again"
mode b confirm-exit

# --- tampered pending slot: rejected, never launched -------------------------
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v3.hbu" >/dev/null
mode a confirm-exit
flip_byte "$DEV/slots/a/manifest.bin" 40
before=$(launches)
boot
[ "$BOOT_RC" = 0 ] || fail "run exited $BOOT_RC"
[ "$(( $(launches) - before ))" = 1 ] && [ "$(last_launch_slot)" = b ] ||
    fail "tampered pending slot launched"
grep -q '"event":"software_integrity_violation","slot":"a"' "$DEV/events.log" || fail "no alert"
[ "$(status_field 'active slot')" = b ] || fail "active changed"
ok "tampered pending slot rejected with an alert"

# --- accept v3, then the old slot is no fallback any more ---------------------
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v3.hbu" >/dev/null
boot
[ "$(last_launch_slot)" = a ] && [ "$(status_field 'min security version')" = 3 ] ||
    fail "v3 not accepted"
# Slot b still holds the validly signed v2 (security version 2 < 3).
verify_slot b || fail "slot b should still verify by signature"
flip_byte "$DEV/slots/a/payload/hearthd" 4096
before=$(launches)
boot
[ "$BOOT_RC" = 3 ] || fail "expected recovery rather than a rollback to v2, got $BOOT_RC"
[ "$(launches)" = "$before" ] || fail "old slot launched after the minimum moved past it"
grep -q '"event":"rollback_blocked","slot":"b","security_version":"2","minimum":"3"' \
    "$DEV/events.log" || fail "rollback_blocked not logged"
ok "after accepting v3 the v2 slot is never launched, even as fallback"
echo "PASS"
