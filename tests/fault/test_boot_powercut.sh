#!/usr/bin/env bash
# provisions: 5.3-2 5.7-1
# needs: HEARTH_TEST_HOOKS
# timeout: 900
#
# Power cut at every write of the update/boot bookkeeping (MCUboot simulator
# style): each operation below is first traced (HEARTH_FAULT_TRACE) to list
# its fault points, then re-run from the same snapshot once per point with
# HEARTH_FAULT_KILL_AT=N (SIGKILL at the N-th point). After every kill the
# device is booted again with hearth-boot and must start a VALID SIGNED slot
# (checked independently with `hearth bundle verify-slot`), never end in
# recovery, and keep an authentic boot state.
#   stage     hearth slot stage: prepare-install, extract, mark-pending
#   trial     hearth-boot deciding + persisting a trial boot of the pending slot
#   confirm   the new software confirming itself (hearth_slots_confirm)
#   timeout   hearth-boot ending an unconfirmed trial and reverting
#   crash     hearth-boot counting crash attempts and reverting
# Then torn, truncated and deleted boot-state files: hearth-boot must alert
# and boot the valid slot with the highest security version.
# HEARTH_FAULT_STRIDE=K (scripts/test.sh sets 3 for the sanitizer build):
# kill at every K-th point of each sweep (1, 1+K, ...); the checks after
# each kill are the same, but which outcomes a sweep must reach (both sides
# of the commit point) is the release run's check, which kills at every one.
set -euo pipefail
STRIDE=${HEARTH_FAULT_STRIDE:-1}
case $STRIDE in '' | *[!0-9]* | 0) echo "HEARTH_FAULT_STRIDE must be a positive integer"; exit 1 ;; esac
. "$(dirname "$0")/../integration/test_boot_common.inc"

make_device
make_bundle v1 1.0 1
make_bundle v2 2.0 2
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null
mode a confirm-exit
mode b confirm-exit
boot
[ "$BOOT_RC" = 0 ] || fail "initial boot"

snapshot() { rm -rf "$T/snap.$1"; cp -a "$DEV" "$T/snap.$1"; }
restore() { rm -rf "$DEV"; cp -a "$T/snap.$1" "$DEV"; }
# Kill any slot program a killed hearth-boot left behind (by pid, from the log).
reap_payloads() {
    [ -f "$DEV/payload.log" ] || return 0
    for p in $(cut -d' ' -f3 "$DEV/payload.log"); do kill -KILL "$p" 2>/dev/null || true; done
}

snapshot base                                   # a active (v1), nothing pending
"$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v2.hbu" >/dev/null
snapshot staged                                 # b pending (v2), 3 attempts
mode b noconfirm-exit
boot
[ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = b ] || fail "trial boot setup"
snapshot ontrial                                # b booted on trial, not confirmed

# Operations, run from their snapshot with the fault variables in the environment.
op_stage() {
    "$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v2.hbu" >/dev/null 2>&1
}
op_trial() {
    mode b noconfirm-exit
    "$BOOT" --state "$DEV" --trust "$TRUST" --once 2>/dev/null
}
op_confirm() {
    mode b confirm-exit
    "$DEV/slots/b/payload/hearthd" --state "$DEV" --slot b 2>/dev/null
}
op_timeout() {
    mode b noconfirm-wait
    mode a confirm-exit
    "$BOOT" --state "$DEV" --trust "$TRUST" --once --confirm-timeout 1 2>/dev/null
}
op_crash() {
    mode b crash
    mode a confirm-exit
    "$BOOT" --state "$DEV" --trust "$TRUST" --once 2>/dev/null
}

# After a power cut: boot again, fault-free, and check what came up.
check_boots_valid() {
    local what=$1
    reap_payloads
    mode a confirm-exit
    mode b confirm-exit
    local before
    before=$(launches)
    set +e
    "$BOOT" --state "$DEV" --trust "$TRUST" --once --confirm-timeout 10 2>>"$T/boot.stderr"
    local rc=$?
    set -e
    [ "$rc" = 0 ] || fail "$what: hearth-boot exited $rc after the power cut"
    [ "$(launches)" -gt "$before" ] || fail "$what: nothing launched"
    local s
    s=$(last_launch_slot)
    local out sv min
    out=$("$HEARTH" bundle verify-slot "$DEV/slots/$s" --keyset "$TRUST/keyset" --trust "$TRUST" \
        2>&1) || fail "$what: launched slot $s does not verify: $out"
    sv=$(echo "$out" | sed -n 's/.*(security version \([0-9]*\)).*/\1/p')
    "$HEARTH" slot status --state "$DEV" > "$T/status" || fail "$what: boot state not authentic"
    min=$(sed -n 's/^min security version: *//p' "$T/status")
    [ -n "$sv" ] && [ "$sv" -ge "$min" ] ||
        fail "$what: slot $s (security version $sv) below minimum $min"
    LAST_SLOT=$s
}

total=0
declare -A outcome
for op in stage trial confirm timeout crash; do
    case $op in
        stage) snap=base ;;
        trial | timeout | crash) snap=staged ;;
        confirm) snap=ontrial ;;
    esac
    restore "$snap"
    rm -f "$T/trace.$op"
    set +e
    HEARTH_FAULT_TRACE="$T/trace.$op" "op_$op"
    set -e
    reap_payloads
    [ -f "$T/trace.$op" ] || fail "$op: no fault points traced"
    points=$(wc -l < "$T/trace.$op")
    [ "$points" -ge 5 ] || fail "$op: only $points fault points"
    echo "$op: $points fault points ($(cut -d' ' -f2 "$T/trace.$op" | sort | uniq -c |
        awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}'))"
    for n in $(seq 1 "$STRIDE" "$points"); do
        restore "$snap"
        set +e
        # Subshell with stderr closed: keeps bash's "Killed" job notice out of the log.
        (HEARTH_FAULT_KILL_AT=$n "op_$op") 2>/dev/null
        rc=$?
        set -e
        [ "$rc" = 137 ] || fail "$op: kill point $n not reached (rc $rc)"
        check_boots_valid "$op@$n"
        outcome[$op.$LAST_SLOT]=$(( ${outcome[$op.$LAST_SLOT]:-0} + 1 ))
        total=$((total + 1))
    done
    echo "  after each kill: booted a ${outcome[$op.a]:-0}x, b ${outcome[$op.b]:-0}x"
done
# Each operation must be able to end either way (old or new) depending on
# where the power went, or the test is not exercising the commit point.
if [ "$STRIDE" = 1 ]; then
    [ "${outcome[stage.a]:-0}" -gt 0 ] && [ "${outcome[stage.b]:-0}" -gt 0 ] ||
        fail "stage: expected both old and new outcomes"
    [ "${outcome[confirm.b]:-0}" -gt 0 ] || fail "confirm: b should still come up"
else
    echo "every ${STRIDE}. kill point only: which outcomes the sweeps reach is the release run's check"
fi

# --- torn / truncated / deleted boot-state files ----------------------------
restore ontrial
cp "$DEV/boot/state" "$T/state.new"
cp "$T/snap.base/boot/state" "$T/state.old"
len=$(stat -c %s "$T/state.new")
variants="empty one header half minus1 plus1 torn deleted"
for v in $variants; do
    restore ontrial
    f=$DEV/boot/state
    case $v in
        empty) : > "$f" ;;
        one) head -c 1 "$T/state.new" > "$f" ;;
        header) head -c 12 "$T/state.new" > "$f" ;;
        half) head -c $((len / 2)) "$T/state.new" > "$f" ;;
        minus1) head -c $((len - 1)) "$T/state.new" > "$f" ;;
        plus1) { cat "$T/state.new"; printf 'x'; } > "$f" ;;
        torn) { head -c $((len / 2)) "$T/state.new"; tail -c +$((len / 2 + 1)) "$T/state.old"; } > "$f" ;;
        deleted) rm -f "$f" ;;
    esac
    check_boots_valid "state-$v"
    [ "$LAST_SLOT" = b ] || fail "state-$v: safe choice should be b (highest security version)"
    grep -q '"event":"boot_state_\(tampered\|missing\)"' "$DEV/events.log" ||
        fail "state-$v: no alert for the bad boot state"
    if [ "$v" != deleted ]; then
        ls "$DEV"/boot/state.bad.* >/dev/null 2>&1 || fail "state-$v: evidence not kept"
    fi
    total=$((total + 1))
done
echo "torn/truncated/deleted boot-state variants: $(echo $variants | wc -w)"

# A leftover temporary file from a cut write is ignored: no alert, normal boot.
restore ontrial
head -c $((len / 2)) "$T/state.new" > "$DEV/boot/state.tmp.AbC123"
check_boots_valid "leftover-tmp"
grep -q '"event":"boot_state_' "$DEV/events.log" && fail "leftover temp file raised an alert"
total=$((total + 1))

echo "kill points and corrupt states tested: $total"
echo "PASS"
