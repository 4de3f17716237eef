#!/usr/bin/env bash
# provisions: 5.7-1
# needs: HEARTH_TEST_HOOKS
# timeout: 180
#
# hearth-boot executes exactly the bytes it verified (docs/boot.md, "Executing
# what was verified"). An attacker with write access to the slot (only the
# daemon's own user is needed) rewrites the slot's program IN PLACE (same
# inode, so an inode comparison sees nothing) with an intruder program of the
# same size whose code leaves a marker file when it runs. The real
# hearth-boot, a separate process, is started many times:
#  1. deterministic: hearth-boot is stopped (HEARTH_FAULT_STOP_AT) right after
#     the program was loaded for verification, right before the decision is
#     persisted, and right before the launch; the test rewrites the program
#     then (O_WRONLY without O_TRUNC, and truncate + write) and lets it go on:
#     the legitimate program must run every time (its own log line) and the
#     marker must never appear;
#  2. racing: a writer rewrites the program (both ways) and restores it,
#     holding each content a random 0-3 ms, while hearth-boot boots over and
#     over (40 boots or 25 s, at least 10): every run either launches the
#     legitimate program or refuses the slot (ALERT, recovery); the marker
#     never appears.
# Against the earlier hearth-boot (hash through one descriptor, exec through
# another), part 1 fails at its first point with the marker present; part 2
# is a race and caught it in some runs only, part 1 every time.
# Control: the intruder, run directly, does leave the marker.
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"
INTRUDER=$BUILD/tests/boot_intruder
[ -x "$INTRUDER" ] || fail "$INTRUDER not built (make boot_intruder)"
RACE_RUNS=${RACE_RUNS:-40}

make_device
make_bundle v1 1.0 1
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" --slot a >/dev/null
mode a confirm-exit
PROG=$DEV/slots/a/payload/hearthd
MARK=$DEV/INTRUDER-RAN
cp "$PROG" "$T/legit"
size=$(stat -c %s "$PROG")

# The intruder, padded to the legitimate program's size (an ELF runs with
# trailing bytes), so an in-place write leaves size and inode unchanged.
isize=$(stat -c %s "$INTRUDER")
[ "$isize" -lt "$size" ] || fail "intruder ($isize bytes) not smaller than the program ($size)"
cp "$INTRUDER" "$T/evil"
truncate -s "$size" "$T/evil"
cmp -s "$T/evil" "$T/legit" && fail "intruder equals the program"

# Control: the marker mechanism works, so its absence below means something.
"$T/evil" --state "$DEV" --slot a
[ -s "$MARK" ] || fail "control: the intruder run directly left no marker"
rm -f "$MARK"
ok "control: the intruder leaves $MARK when it runs"

inode() { stat -c %i "$PROG"; }
INO=$(inode)
# rewrite HOW: replace the program's bytes with the intruder's, same inode.
rewrite() {
    case $1 in
        inplace) dd if="$T/evil" of="$PROG" bs=64k conv=notrunc status=none ;;
        trunc) cat "$T/evil" > "$PROG" ;;   # O_TRUNC, then write
    esac
}
restore() { cat "$T/legit" > "$PROG"; }

# wait_stopped PID: until the process is stopped (state T), at most 20 s.
wait_stopped() {
    local i st
    for i in $(seq 1 400); do
        st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo gone)
        [ "$st" = T ] && return 0
        [ "$st" = gone ] || [ "$st" = Z ] && return 1
        sleep 0.05
    done
    return 1
}

# --- 1. deterministic: rewrite at fixed points between verification and start
det=0
for point in bundle.verify_slot.program_loaded boot.persist boot.launch; do
    for how in inplace trunc; do
        restore
        before=$(launches)
        HEARTH_FAULT_STOP_AT=$point "$BOOT" --state "$DEV" --trust "$TRUST" --once \
            2>>"$T/boot.stderr" &
        bp=$!
        BOOT_PIDS="$BOOT_PIDS $bp"
        wait_stopped "$bp" || fail "$point: hearth-boot never reached the stop point"
        rewrite "$how"
        [ "$(inode)" = "$INO" ] || fail "$point/$how: the rewrite changed the inode"
        cmp -s "$PROG" "$T/evil" || fail "$point/$how: the program was not rewritten"
        kill -CONT "$bp"
        set +e
        wait "$bp"
        rc=$?
        set -e
        [ "$rc" = 0 ] || fail "$point/$how: hearth-boot exited $rc"
        [ -e "$MARK" ] && fail "$point/$how: the intruder's code ran: $(cat "$MARK")"
        [ "$(launches)" = $((before + 1)) ] || fail "$point/$how: the legitimate program did not run"
        tail -n 1 "$DEV/payload.log" | grep -q '^a confirm-exit .* confirm=ok' ||
            fail "$point/$how: unexpected launch: $(tail -n 1 "$DEV/payload.log")"
        det=$((det + 1))
    done
done
ok "rewritten at 3 points x 2 ways ($det runs): the verified program ran, the intruder never did"

# --- 2. racing writer ---------------------------------------------------------
restore
# The writer: both ways of rewriting, each state held for a random 0-3 ms so
# that whole reads of either content happen as well as torn ones.
python3 - "$PROG" "$T/evil" "$T/legit" <<'PY' 2>/dev/null &
import os, random, sys, time
prog, evil, legit = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
def put(data, flags):
    fd = os.open(prog, os.O_WRONLY | flags)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    time.sleep(random.random() * 0.003)
while True:
    put(evil, 0)             # in place, no truncation
    put(legit, 0)
    put(evil, os.O_TRUNC)    # truncate, then write
    put(legit, os.O_TRUNC)
PY
wp=$!
BOOT_PIDS="$BOOT_PIDS $wp"
ran=0
refused=0
t0=$SECONDS
for i in $(seq 1 "$RACE_RUNS"); do
    before=$(launches)
    alerts_before=$(grep -c '"event":"software_integrity_violation"' "$DEV/events.log" || true)
    boot
    [ -e "$MARK" ] && fail "race run $i: the intruder's code ran: $(cat "$MARK")"
    if [ "$BOOT_RC" = 0 ]; then
        [ "$(launches)" = $((before + 1)) ] || fail "race run $i: exit 0 but nothing launched"
        tail -n 1 "$DEV/payload.log" | grep -q '^a confirm-exit .* confirm=ok' ||
            fail "race run $i: unexpected launch"
        ran=$((ran + 1))
    elif [ "$BOOT_RC" = 3 ]; then
        [ "$(launches)" = "$before" ] || fail "race run $i: recovery but something launched"
        alerts=$(grep -c '"event":"software_integrity_violation"' "$DEV/events.log" || true)
        [ "$alerts" -gt "$alerts_before" ] || fail "race run $i: slot refused without an alert"
        refused=$((refused + 1))
    else
        fail "race run $i: hearth-boot exited $BOOT_RC"
    fi
    [ $((SECONDS - t0)) -lt 25 ] || break   # bounded: the whole test stays well under a minute
done
kill "$wp" 2>/dev/null || true
wait "$wp" 2>/dev/null || true
[ $((ran + refused)) -ge 10 ] || fail "only $((ran + refused)) racing runs completed"
ok "racing writer over $((ran + refused)) boots: legitimate program ran $ran x, slot refused $refused x, intruder 0 x"

# Afterwards the restored slot boots normally.
restore
boot
[ "$BOOT_RC" = 0 ] || fail "restored slot does not boot ($BOOT_RC)"
[ -e "$MARK" ] && fail "the intruder's code ran"
echo "PASS"
