#!/usr/bin/env bash
# provisions: 5.7-1 5.7-2 5.3-9 5.3-10
# needs: HEARTH_TEST_HOOKS
# timeout: 300
#
# Key-set rollback at boot (TUF "rollback attack" on metadata, EN 303 645
# 5.7-1 / 5.3-9 / 5.3-10). The device has key set v2, in which signing key
# K1 is revoked (e.g. because it leaked) and K2 is active. An attacker with
# file access puts back the older, still root-signed key set v1 (K1 active)
# together with slot content signed by K1. hearth-boot must refuse the old
# key set (ALERT keyset_rollback, in events.log and the boot state) because
# its version is below the key-set floor in the authenticated boot state, and
# fall back like any verification failure (recovery: nothing launched).
# Also: the floor is set by `hearth slot install`, shown by `slot status`,
# enforced by `slot install|stage`, raised by hearth-boot when it loads a
# newer verified key set, never lowered, and a power cut at the raise never
# leaves it above the key set file.
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"

make_device
KS=$DEV/keyset.hks                 # the key set file hearth-boot uses (writable)
"$HEARTH" keygen --out "$T/keys/sign2" >/dev/null          # K2 (K1 = keys/sign)
cp "$TRUST/keyset" "$T/ks-v1"                              # v1: K1 active
"$HEARTH" keyset create --root-key "$T/keys/root" --out "$T/ks-v2" --version 2 \
    --expires 30 --add "$T/keys/sign2.pub" --revoke "$T/keys/sign.pub" >/dev/null
"$HEARTH" keyset create --root-key "$T/keys/root" --out "$T/ks-v3" --version 3 \
    --expires 30 --add "$T/keys/sign2.pub" --revoke "$T/keys/sign.pub" >/dev/null

# bundle_with KEY NAME VERSION SECURITY_VERSION: a bundle signed by KEY.
bundle_with() {
    local key=$1 name=$2 ver=$3 sv=$4
    "$HEARTH" bundle create --out "$T/$name.hbu" --model "$MODEL" --hw-id "$MODEL" \
        --version "$ver" --security-version "$sv" --expires 30 --notes-file "$T/notes" \
        --mitigates "test" --payload "hearthd=$PAYLOAD" >/dev/null || fail "bundle create $name"
    "$HEARTH" bundle sign "$T/$name.hbu" --key "$key" >/dev/null || fail "bundle sign $name"
}
bundle_with "$T/keys/sign2" good-a 2.0 2      # K2: valid under v2
bundle_with "$T/keys/sign2" good-b 1.9 2      # K2: the fallback slot
bundle_with "$T/keys/sign" evil 9.9 9         # K1: valid only under v1
kboot() { boot --keyset "$KS" "$@"; }
floor() { status_field 'min key-set version'; }
alert_count() { grep -c "\"event\":\"$1\"" "$DEV/events.log" 2>/dev/null || true; }

# --- install with key set v2: the floor follows the key set verified with ---
cp "$T/ks-v2" "$KS"
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --keyset "$KS" --bundle "$T/good-b.hbu" \
    --slot b >/dev/null 2>>"$T/cli.err" || fail "install b"
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --keyset "$KS" --bundle "$T/good-a.hbu" \
    --slot a >/dev/null 2>>"$T/cli.err" || fail "install a"
[ "$(floor)" = 2 ] || fail "slot install did not raise the key-set floor to 2 (got '$(floor)')"
ok "slot install with key set v2 -> slot status shows key-set floor 2"

# K1-signed content is refused under v2 (revoked), so the attack needs v1.
"$HEARTH" bundle verify "$T/evil.hbu" --keyset "$KS" --trust "$TRUST" >/dev/null 2>&1 &&
    fail "K1 bundle verifies under key set v2"
# ... and install/stage refuse the old key set outright, changing nothing.
before=$(sha256sum < "$DEV/boot/state")
set +e
out=$("$HEARTH" slot install --state "$DEV" --trust "$TRUST" --keyset "$T/ks-v1" \
    --bundle "$T/evil.hbu" --slot b 2>&1)
rc=$?
out2=$("$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --keyset "$T/ks-v1" \
    --bundle "$T/evil.hbu" 2>&1)
rc2=$?
set -e
[ "$rc" = 1 ] && [ "$rc2" = 1 ] || fail "install/stage with key set v1 not refused ($rc/$rc2)"
grep -qi "key set" <<<"$out" || fail "install refusal does not name the key set: $out"
[ "$(sha256sum < "$DEV/boot/state")" = "$before" ] || fail "refused install changed the boot state"
cmp -s "$DEV/slots/b/payload/hearthd" "$PAYLOAD" || fail "refused install touched slot b"
ok "slot install/stage refuse key set v1 below the floor, nothing changed"

mode a confirm-exit
mode b confirm-exit
kboot
[ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = a ] || fail "normal boot with v2 failed (rc $BOOT_RC)"
ok "normal boot of slot a with key set v2"

# --- the attack: key set v1 back + slot a replaced by K1-signed content -------
cp "$T/ks-v1" "$KS"
rm -rf "$DEV/slots/a"
mkdir -p "$DEV/slots/a"
"$HEARTH" bundle verify "$T/evil.hbu" --keyset "$T/ks-v1" --trust "$TRUST" \
    --extract "$DEV/slots/a" >/dev/null 2>&1 || fail "could not plant the K1 slot"
# Without the floor this would boot: the planted slot is valid under v1, and
# root-signed v1 still verifies against the trust anchor.
"$HEARTH" bundle verify-slot "$DEV/slots/a" --keyset "$KS" --trust "$TRUST" >/dev/null 2>&1 ||
    fail "control: planted slot should verify under the rolled-back key set"
ok "control: the planted slot verifies under the rolled-back key set v1"

n_launch=$(launches)
n_alert=$(alert_count keyset_rollback)
kboot --verify-only >"$T/verify.out"
[ "$BOOT_RC" = 3 ] || fail "--verify-only with rolled-back key set: rc $BOOT_RC, want 3"
grep -q '^recovery:' "$T/verify.out" || fail "--verify-only did not report recovery"
kboot
[ "$BOOT_RC" = 3 ] || fail "hearth-boot with rolled-back key set exited $BOOT_RC, want 3 (recovery)"
[ "$(launches)" = "$n_launch" ] || fail "something was launched with the rolled-back key set"
[ "$(alert_count keyset_rollback)" -gt "$n_alert" ] || fail "no keyset_rollback event"
grep '"event":"keyset_rollback"' "$DEV/events.log" | tail -n 1 |
    grep -q '"severity":"alert".*"version":"1","minimum":"2"' ||
    fail "keyset_rollback event lacks severity/versions: $(grep keyset_rollback "$DEV/events.log" | tail -n 1)"
grep -q '"event":"recovery_mode"' "$DEV/events.log" || fail "no recovery_mode alert"
[ -f "$DEV/boot/recovery" ] || fail "boot/recovery not written"
"$HEARTH" slot status --state "$DEV" >"$T/status" || true
grep -q 'ALERT .* slot none file keyset.hks: keyset_rollback: key set version 1 is below the floor 2' \
    "$T/status" || { cat "$T/status"; fail "alert not recorded in the boot state"; }
[ "$(floor)" = 2 ] || fail "floor changed by the attack"
ok "rolled-back key set refused: ALERT keyset_rollback (log + boot state), recovery, nothing launched"

# A second pass in recovery does not flood the alert ring with repeats.
kept=$(status_field 'integrity alerts')
kboot
[ "$BOOT_RC" = 3 ] || fail "second recovery pass rc $BOOT_RC"
[ "$(status_field 'integrity alerts' | sed 's/.*total, //')" = "$(echo "$kept" | sed 's/.*total, //')" ] ||
    fail "repeated recovery pass added duplicate alerts ($kept -> $(status_field 'integrity alerts'))"
ok "repeated recovery passes keep one record per finding"

# --- repair: the genuine key set back. The planted K1 slot is now refused
# (revoked key) and hearth-boot falls back to slot b. ---------------------------
cp "$T/ks-v2" "$KS"
kboot
[ "$BOOT_RC" = 0 ] || fail "boot after restoring v2 exited $BOOT_RC"
[ "$(last_launch_slot)" = b ] || fail "did not fall back to slot b"
grep '"event":"software_integrity_violation"' "$DEV/events.log" | grep -q '"slot":"a"' ||
    fail "planted K1 slot not reported"
[ ! -f "$DEV/boot/recovery" ] || fail "recovery marker left behind"
ok "genuine key set restored: planted K1 slot refused (revoked), fallback to slot b"

# --- hearth-boot raises the floor itself on a newer verified key set ----------
cp "$T/ks-v3" "$KS"
kboot
[ "$BOOT_RC" = 0 ] || fail "boot with key set v3 exited $BOOT_RC"
[ "$(floor)" = 3 ] || fail "hearth-boot did not raise the floor to 3 (got $(floor))"
cp "$T/ks-v2" "$KS"
kboot
[ "$BOOT_RC" = 3 ] || fail "key set v2 after v3 was not refused (rc $BOOT_RC)"
[ "$(floor)" = 3 ] || fail "floor lowered"
cp "$T/ks-v3" "$KS"
ok "hearth-boot raises the floor to a newer key set (v3) and then refuses v2; never lowered"

# --- power cut at the floor raise of `slot install`: never above the file -----
# Fresh device state for slot a with v3 on disk but the install killed right
# at the raise: the boot floor stays at or below the key set file.
cp -a "$DEV" "$T/dev-before-cut"
rm -f "$T/trace"
HEARTH_FAULT_TRACE=$T/trace "$HEARTH" slot stage --state "$DEV" --trust "$TRUST" \
    --keyset "$KS" --bundle "$T/good-a.hbu" >/dev/null 2>&1 || true
grep -q ' slots.raise_keyset_floor$' "$T/trace" &&
    fail "stage raised a floor that was already at the key set's version"
rm -rf "$DEV"; cp -a "$T/dev-before-cut" "$DEV"
# Now with a floor below the file (a state from before v3): kill at the raise.
"$HEARTH" keyset create --root-key "$T/keys/root" --out "$T/ks-v4" --version 4 \
    --expires 30 --add "$T/keys/sign2.pub" --revoke "$T/keys/sign.pub" >/dev/null
cp "$T/ks-v4" "$KS"
rm -f "$T/trace"
HEARTH_FAULT_TRACE=$T/trace "$HEARTH" slot stage --state "$DEV" --trust "$TRUST" \
    --keyset "$KS" --bundle "$T/good-a.hbu" >/dev/null 2>&1 || fail "traced stage failed"
n=$(sed -n 's/^\([0-9]*\) slots.raise_keyset_floor$/\1/p' "$T/trace" | head -n 1)
[ -n "$n" ] || fail "stage with a newer key set did not pass the raise fault point"
rm -rf "$DEV"; cp -a "$T/dev-before-cut" "$DEV"
cp "$T/ks-v4" "$KS"
set +e
{ HEARTH_FAULT_KILL_AT=$n "$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --keyset "$KS" \
    --bundle "$T/good-a.hbu" >/dev/null 2>&1; } 2>/dev/null
rc=$?
set -e
[ "$rc" = 137 ] || fail "stage not killed at the raise (rc $rc)"
"$HEARTH" slot status --state "$DEV" >/dev/null || fail "boot state unusable after the cut"
f=$(floor)
[ "$f" -le 4 ] || fail "floor $f above the key set file (v4) after a power cut"
kboot --verify-only >/dev/null
[ "$BOOT_RC" = 0 ] || fail "device does not verify after a cut at the raise (rc $BOOT_RC)"
ok "power cut at the floor raise: floor $f <= key set file v4, device still verifies"

echo "PASS: key-set floor at boot"
