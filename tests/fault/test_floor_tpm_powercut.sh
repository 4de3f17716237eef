#!/usr/bin/env bash
# provisions: 5.3-9 5.7-1
# needs: HEARTH_TEST_HOOKS HEARTH_TPM
# timeout: 900
#
# Power cut at every fault point of an anti-rollback floor update on the TPM
# path (floors in TPM NV, swtpm started here). Each operation is traced
# (HEARTH_FAULT_TRACE) to list its fault points, then re-run once per point
# with HEARTH_FAULT_KILL_AT=N from the same snapshot of BOTH the device files
# and the TPM's NV state (swtpm stopped, its state directory restored,
# restarted on the same port). After every kill:
#   - the floors in TPM NV are the old or the new ones, never lower;
#   - a fault-free hearth-boot still boots a slot that verifies on its own
#     (`hearth bundle verify-slot`), at or above the floors, never recovery;
#   - the floors after that boot are not lower than right after the kill,
#     and the boot state is not behind the TPM.
# Operations:
#   confirm   the new software (v2 in b, on trial) confirms itself:
#             security-version floor 1 -> 2 (record first, then boot/state)
#   keyset    hearth-boot loads a newer key set (v2): key-set floor 1 -> 2
#   install   the factory install on a fresh device, which defines the NV
#             index: after a cut the install is run again (completing it, or
#             refused as a replay when the cut came after the state was
#             written) and the device boots v1 with floors 1/1
# HEARTH_FAULT_STRIDE=K (scripts/test.sh sets 3 for the sanitizer build):
# kill at every K-th point of each sweep (1, 1+K, ...); the checks after
# each kill are the same, but which outcomes a sweep must reach (both sides
# of the commit point) is the release run's check, which kills at every one.
set -euo pipefail
STRIDE=${HEARTH_FAULT_STRIDE:-1}
case $STRIDE in '' | *[!0-9]* | 0) echo "HEARTH_FAULT_STRIDE must be a positive integer"; exit 1 ;; esac
. "$(dirname "$0")/../integration/test_boot_common.inc"
# shellcheck source=../integration/tpm_lib.sh
source "$(dirname "$0")/../integration/tpm_lib.sh"
trap 'swtpm_stop_all; boot_cleanup' EXIT
command -v swtpm >/dev/null || fail "swtpm is not installed"

make_device
rm -rf "$DEV"
start_swtpm "$T/tpm"
TPORT=$PORT
TCTI="swtpm:host=127.0.0.1,port=$TPORT"
# The platform's root of trust is the TPM at $TCTI (platform configuration,
# docs/provisioning.md: never read from device.json).
export HEARTH_ROT=tpm HEARTH_TPM_TCTI="$TCTI"
"$HEARTH" provision --ca "$T/ca" --out "$DEV" --model "$MODEL" --serial SN-FLOOR-PC \
    --rot tpm --label json >/dev/null 2>"$T/prov.err" ||
    { cat "$T/prov.err"; fail "provision with the TPM root of trust"; }
make_bundle v1 1.0 1
make_bundle v2 2.0 2
cp "$TRUST/keyset" "$T/keyset-v1"
"$HEARTH" keyset create --root-key "$T/keys/root" --out "$T/keyset-v2" --version 2 \
    --expires 30 --add "$T/keys/sign.pub" >/dev/null
KS=$T/keyset-v1

# snapshot NAME / restore NAME: device files AND the TPM's NV state.
snapshot() {
    stop_swtpm "$PID"
    rm -rf "$T/snap.$1" "$T/snaptpm.$1"
    cp -a "$DEV" "$T/snap.$1"
    cp -a "$T/tpm" "$T/snaptpm.$1"
    start_swtpm_at "$T/tpm" "$TPORT"
}
restore() {
    stop_swtpm "$PID"
    rm -rf "$DEV" "$T/tpm"
    cp -a "$T/snap.$1" "$DEV"
    cp -a "$T/snaptpm.$1" "$T/tpm"
    start_swtpm_at "$T/tpm" "$TPORT"
}
reap_payloads() {
    [ -f "$DEV/payload.log" ] || return 0
    for p in $(cut -d' ' -f3 "$DEV/payload.log"); do kill -KILL "$p" 2>/dev/null || true; done
}
# record_floors: "SV KV" from the TPM NV floor record, as status shows it.
record_floors() {
    "$HEARTH" slot status --state "$DEV" 2>/dev/null |
        sed -n 's/^floor record: *TPM NV: security version \([0-9]*\), key-set version \([0-9]*\)$/\1 \2/p'
}
state_field() { "$HEARTH" slot status --state "$DEV" 2>/dev/null | sed -n "s/^$1: *//p" | head -n 1; }

snapshot fresh                                  # provisioned, nothing installed
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --keyset "$KS" --bundle "$T/v1.hbu" >/dev/null
mode a confirm-exit
boot --keyset "$KS"
[ "$BOOT_RC" = 0 ] || fail "initial boot"
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --keyset "$KS" --bundle "$T/v2.hbu" >/dev/null
mode b noconfirm-exit
boot --keyset "$KS"
[ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = b ] || fail "trial boot setup"
[ "$(record_floors)" = "1 1" ] || fail "floors before confirm: '$(record_floors)'"
snapshot ontrial                                # b on trial, floors 1/1 in TPM NV
mode b confirm-exit
"$DEV/slots/b/payload/hearthd" --state "$DEV" --slot b 2>/dev/null
[ "$(record_floors)" = "2 1" ] || fail "confirm did not raise the TPM floor: '$(record_floors)'"
snapshot confirmed                              # v2 active, floors 2/1

op_confirm() {
    mode b confirm-exit
    "$DEV/slots/b/payload/hearthd" --state "$DEV" --slot b 2>/dev/null
}
op_keyset() {
    mode b noconfirm-exit # the slot program touches no floor
    "$BOOT" --state "$DEV" --trust "$TRUST" --keyset "$T/keyset-v2" --once 2>/dev/null
}

# After the power cut: boot again without faults (with the newer key set, which
# is the one the device holds once a key-set floor 2 could exist).
check_after() {
    local what=$1 kill_floors=$2 start_floors=$3
    reap_payloads
    local ks kv sv
    read -r sv kv <<<"$kill_floors"
    read -r s0 k0 <<<"$start_floors"
    [ -n "$sv" ] && [ "$sv" -ge "$s0" ] && [ "$kv" -ge "$k0" ] ||
        fail "$what: TPM floors '$kill_floors' below the start '$start_floors'"
    mode a confirm-exit
    mode b confirm-exit
    local before
    before=$(launches)
    set +e
    "$BOOT" --state "$DEV" --trust "$TRUST" --keyset "$T/keyset-v2" --once 2>>"$T/boot.stderr"
    local rc=$?
    set -e
    [ "$rc" = 0 ] || fail "$what: hearth-boot exited $rc after the power cut (floors $kill_floors)"
    [ "$(launches)" -gt "$before" ] || fail "$what: nothing launched"
    local s out slot_sv
    s=$(last_launch_slot)
    out=$("$HEARTH" bundle verify-slot "$DEV/slots/$s" --keyset "$T/keyset-v2" --trust "$TRUST" \
        2>&1) || fail "$what: launched slot $s does not verify: $out"
    slot_sv=$(echo "$out" | sed -n 's/.*(security version \([0-9]*\)).*/\1/p')
    local after asv akv min mink
    after=$(record_floors)
    read -r asv akv <<<"$after"
    [ -n "$asv" ] && [ "$asv" -ge "$sv" ] && [ "$akv" -ge "$kv" ] ||
        fail "$what: floors went from '$kill_floors' to '$after'"
    [ "$slot_sv" -ge "$asv" ] || fail "$what: slot $s (security version $slot_sv) below floor $asv"
    min=$(state_field 'min security version')
    mink=$(state_field 'min key-set version')
    [ "$min" = "$asv" ] && [ "$mink" = "$akv" ] ||
        fail "$what: boot state floors $min/$mink differ from TPM $after"
    LAST_SLOT=$s
}

op_install() {
    "$HEARTH" slot install --state "$DEV" --trust "$TRUST" --keyset "$KS" --bundle "$T/v1.hbu" \
        >/dev/null 2>&1
}
restore fresh
rm -f "$T/trace.install"
HEARTH_FAULT_TRACE="$T/trace.install" op_install || fail "install: traced run failed"
grep -q ' floors.tpm_define$' "$T/trace.install" || fail "install: the NV define was not traced"
points=$(wc -l < "$T/trace.install")
echo "install: $points fault points"
for n in $(seq 1 "$STRIDE" "$points"); do
    restore fresh
    set +e
    (HEARTH_FAULT_KILL_AT=$n op_install) 2>/dev/null
    rc=$?
    set -e
    [ "$rc" = 137 ] || fail "install: kill point $n not reached (rc $rc)"
    # Run again: it completes, or the first run already had (the state is
    # written) and the retry is refused as a replay of the installed release.
    if ! "$HEARTH" slot install --state "$DEV" --trust "$TRUST" --keyset "$KS" \
        --bundle "$T/v1.hbu" >/dev/null 2>"$T/reinstall.err"; then
        grep -q "already installed" "$T/reinstall.err" && [ "$(state_field 'active slot')" = a ] ||
            fail "install@$n ($(sed -n "${n}p" "$T/trace.install")): run again: $(grep -v '^ERROR:esys' "$T/reinstall.err")"
    fi
    mode a confirm-exit
    boot --keyset "$KS"
    [ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = a ] || fail "install@$n: v1 does not boot"
    # (a cut after the state write but before the key-set floor is raised
    # leaves that to hearth-boot, which raises it to the key set it loads)
    [ "$(record_floors)" = "1 1" ] || fail "install@$n: floors '$(record_floors)'"
done
echo "install: after every cut, installing again leaves floors 1/1 and v1 boots"

total=0
declare -A seen
for op in confirm keyset; do
    case $op in
        confirm) snap=ontrial start="1 1" ;;
        keyset) snap=confirmed start="2 1" ;;
    esac
    restore "$snap"
    rm -f "$T/trace.$op"
    set +e
    HEARTH_FAULT_TRACE="$T/trace.$op" "op_$op"
    set -e
    reap_payloads
    [ -f "$T/trace.$op" ] || fail "$op: no fault points traced"
    grep -q ' floors.tpm_write$' "$T/trace.$op" || fail "$op: the TPM floor write was not traced"
    points=$(wc -l < "$T/trace.$op")
    echo "$op: $points fault points ($(cut -d' ' -f2 "$T/trace.$op" | tr '\n' ' '))"
    for n in $(seq 1 "$STRIDE" "$points"); do
        restore "$snap"
        set +e
        (HEARTH_FAULT_KILL_AT=$n "op_$op") 2>/dev/null
        rc=$?
        set -e
        [ "$rc" = 137 ] || fail "$op: kill point $n not reached (rc $rc)"
        kf=$(record_floors)
        check_after "$op@$n" "$kf" "$start"
        seen[$op.$kf]=1
        total=$((total + 1))
    done
done
# Both outcomes must occur, or the kill points miss the commit.
if [ "$STRIDE" = 1 ]; then
    [ "${seen[confirm.1 1]:-}" ] && [ "${seen[confirm.2 1]:-}" ] ||
        fail "confirm: expected kills before and after the TPM write (${!seen[*]})"
    [ "${seen[keyset.2 1]:-}" ] && [ "${seen[keyset.2 2]:-}" ] ||
        fail "keyset: expected kills before and after the TPM write (${!seen[*]})"
else
    echo "every ${STRIDE}. kill point only: which outcomes the sweeps reach is the release run's check"
fi
echo "kill points tested: $total; floors never went back, the device booted every time"
echo "PASS"
