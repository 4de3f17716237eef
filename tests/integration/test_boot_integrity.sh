#!/usr/bin/env bash
# provisions: 5.7-1 5.7-2 5.3-9 5.3-10
# timeout: 300
#
# Secure boot with real signed bundles and the real hearth-boot:
#  - a good slot boots, with its slot name and extra arguments;
#  - one byte flipped in the active slot's program -> ALERT
#    "software_integrity_violation" (events.log + boot state) and fallback to
#    the other valid slot (5.7-1, 5.7-2);
#  - both slots bad -> recovery mode: nothing launched, no listening socket,
#    boot/recovery written, exit 3 with --once (5.7-2);
#  - a validly signed slot whose security version is below the device
#    minimum is never launched, not even as the last resort (5.3-9);
#  - a bundle signed by a key outside the key set is refused (5.3-10).
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"

make_device
make_bundle v1 1.0 1
make_bundle v1b 1.0.1 1

# --- good boot: slot b installed first, then a (a active, b valid backup) ----
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1b.hbu" --slot b >/dev/null
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" --slot a >/dev/null
[ "$(status_field 'active slot')" = a ] || fail "slot a should be active"
mode a confirm-exit
mode b confirm-exit
boot -- --extra-flag value
[ "$BOOT_RC" = 0 ] || fail "good boot exited $BOOT_RC"
[ "$(launches)" = 1 ] || fail "expected one launch"
grep -q '^a confirm-exit .* confirm=ok args=2' "$DEV/payload.log" || fail "slot a not launched with its args"
grep -q '"event":"boot_slot","slot":"a","mode":"active"' "$DEV/events.log" || fail "boot_slot event"
ok "good slot a boots"

# The ss check below must be able to see a listener: prove it with a slot
# program that does listen.
mode a confirm-listen
"$BOOT" --state "$DEV" --trust "$TRUST" 2>>"$T/boot.stderr" &
bp=$!
BOOT_PIDS="$BOOT_PIDS $bp"
for _ in $(seq 50); do grep -q 'confirm-listen' "$DEV/payload.log" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*confirm-listen .* port=\([0-9]*\)$/\1/p' "$DEV/payload.log" | tail -n 1)
[ -n "$port" ] && [ "$port" != 0 ] || fail "listening payload did not start"
ss -ltn | grep -q "127.0.0.1:$port " || fail "ss does not show the payload's listener"
kill -TERM "$bp"
set +e; wait "$bp"; rc=$?; set -e
[ "$rc" = 0 ] || fail "hearth-boot did not stop cleanly on SIGTERM (rc $rc)"
ss -ltn | grep -q "127.0.0.1:$port " && fail "payload still listening after SIGTERM"
ok "SIGTERM forwarded, payload stopped, listener gone"
mode a confirm-exit

# --- one byte flipped in slot a's program -> alert + fallback to b -----------
size=$(stat -c %s "$DEV/slots/a/payload/hearthd")
flip_byte "$DEV/slots/a/payload/hearthd" $((size / 2))
before=$(launches)
boot
[ "$BOOT_RC" = 0 ] || fail "fallback boot exited $BOOT_RC"
[ "$(launches)" = $((before + 1)) ] || fail "expected exactly one launch after tamper"
[ "$(last_launch_slot)" = b ] || fail "did not fall back to slot b"
grep -q '"severity":"alert","event":"software_integrity_violation","slot":"a","file":"hearthd"' \
    "$DEV/events.log" || fail "no integrity alert naming slot a / hearthd in events.log"
"$HEARTH" slot status --state "$DEV" > "$T/status"
grep -q '^active slot: *b' "$T/status" || fail "b should now be active"
grep -q 'ALERT .* slot a file hearthd' "$T/status" || fail "alert not recorded in boot state"
grep -q '^slot a: *invalid' "$T/status" || fail "slot a not marked invalid"
ok "flipped byte in slot a -> alert + fallback to b"

# --- both slots bad -> recovery mode ---------------------------------------
echo "extra" >> "$DEV/slots/b/payload/hearthd"   # size change: also an unauthorised change
before=$(launches)
boot
[ "$BOOT_RC" = 3 ] || fail "recovery with --once should exit 3, got $BOOT_RC"
[ "$(launches)" = "$before" ] || fail "something was launched in recovery"
[ -f "$DEV/boot/recovery" ] || fail "boot/recovery not written"
grep -q 'reason: no slot verifies' "$DEV/boot/recovery" || fail "recovery reason"
grep -q '"event":"recovery_mode"' "$DEV/events.log" || fail "recovery_mode not logged"
grep -q '"event":"software_integrity_violation","slot":"b"' "$DEV/events.log" || fail "no alert for b"
ok "both slots bad -> recovery (exit 3), nothing launched"

# Without --once it waits, retrying; it must not listen anywhere.
"$BOOT" --state "$DEV" --trust "$TRUST" --recovery-interval 1 2>>"$T/boot.stderr" &
bp=$!
BOOT_PIDS="$BOOT_PIDS $bp"
sleep 2.5
kill -0 "$bp" 2>/dev/null || fail "hearth-boot left recovery mode unexpectedly"
if ss -ltnpH | grep -q "pid=$bp,"; then fail "hearth-boot listens in recovery mode"; fi
if ss -lunpH | grep -q "pid=$bp,"; then fail "hearth-boot has a UDP socket in recovery mode"; fi
if ls -l /proc/$bp/fd 2>/dev/null | grep -q 'socket:'; then fail "hearth-boot holds a socket"; fi
[ "$(launches)" = "$before" ] || fail "something was launched while in recovery"
n=$(grep -c '"event":"recovery_mode"' "$DEV/events.log")
[ "$n" -ge 3 ] || fail "recovery not retried periodically ($n records)"
kill -TERM "$bp"
set +e; wait "$bp"; rc=$?; set -e
[ "$rc" = 0 ] || fail "recovery loop did not stop on SIGTERM (rc $rc)"
ok "recovery mode: no socket, retries, stops on SIGTERM"

# A technician re-installs good software: the device leaves recovery.
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" --slot a >/dev/null
boot
[ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = a ] || fail "did not boot after repair"
[ ! -f "$DEV/boot/recovery" ] || fail "boot/recovery not removed after leaving recovery"
ok "repaired slot boots, recovery marker removed"

# --- anti-rollback: an old, validly signed slot is never launched ------------
make_bundle v5 5.0 5
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v5.hbu" --slot a >/dev/null
[ "$(status_field 'min security version')" = 5 ] || fail "minimum not 5"
if "$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" --slot b \
    >/dev/null 2>"$T/err"; then
    fail "slot install accepted a rollback"
fi
grep -qi 'rollback\|security version' "$T/err" || fail "rollback refusal not explained"
# An attacker with file access places the old signed image directly into slot b.
"$HEARTH" bundle verify "$T/v1.hbu" --keyset "$TRUST/keyset" --trust "$TRUST" \
    --extract "$DEV/slots/b" >/dev/null 2>&1 || fail "extract old bundle"
verify_slot b || fail "old slot b should still verify by signature"
flip_byte "$DEV/slots/a/payload/hearthd" 100
before=$(launches)
boot
[ "$BOOT_RC" = 3 ] || fail "expected recovery instead of rollback, got $BOOT_RC"
[ "$(launches)" = "$before" ] || fail "the old slot was launched"
grep -q '"event":"rollback_blocked","slot":"b","security_version":"1","minimum":"5"' \
    "$DEV/events.log" || fail "rollback_blocked not logged"
ok "slot below the minimum security version never launched"

# --- a bundle signed by an unknown key is refused ---------------------------
"$HEARTH" keygen --out "$T/keys/rogue" >/dev/null
"$HEARTH" bundle create --out "$T/rogue.hbu" --model "$MODEL" --hw-id "$MODEL" --version 9 \
    --security-version 9 --expires 30 --notes-file "$T/notes" --mitigates x \
    --payload "hearthd=$PAYLOAD" >/dev/null
"$HEARTH" bundle sign "$T/rogue.hbu" --key "$T/keys/rogue" >/dev/null
if "$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/rogue.hbu" >/dev/null 2>&1; then
    fail "bundle signed by a key outside the key set was installed"
fi
ok "bundle signed by an unknown key refused"
echo "PASS"
