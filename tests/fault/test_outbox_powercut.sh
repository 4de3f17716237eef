#!/usr/bin/env bash
# Power cut at every step of the outbox (5.9-1, 5.9-2): a workload of puts
# (all three classes, overflowing both bounds so records are dropped) and
# acknowledgements (in and out of order, so the log is compacted) is killed
# (SIGKILL) at every fault point it passes: each write is split in two
# halves with a point between them (a torn record), and there are points
# before and after each fdatasync and at every step of a compaction's
# atomic replacement. After each kill the outbox is reopened by a separate
# process and must hold exactly what a model of the documented drop policy
# holds after the operations that returned, or after the interrupted one as
# well: every record whose put() returned and was not acknowledged or
# dropped is there, in order, undamaged; nothing half-written comes out;
# nothing is counted as tampered; and the outbox takes new records with
# fresh sequence numbers. A put or ack whose fdatasync fails reports it and
# takes no effect. A kill keeps what the kernel accepted; what a
# real power cut loses on top of that is the unsynced end of the log (a
# prefix survives, or zeros past it): tearing the log at every byte offset
# and a zero-filled tail are tests/unit/test_outbox.c's
# test_5_9_2_log_cut_at_every_byte and ..._garbage_appended_and_zero_tail.
# The runs use /dev/shm when there is one: the kill does not depend on the
# disk, and fdatasync there costs nothing.
# provisions: 5.9-1 5.9-2
# needs: HEARTH_TEST_HOOKS
# timeout: 600
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
T=$BUILD/tests/outbox_tool
[ -x "$T" ] || { echo "FAIL: $T is not built (make outbox_tool)" >&2; exit 1; }
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
tmp=$(mktemp -d "$base/hearth-outbox-cut.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The whole workload, traced: every fault point it passes, in order.
HEARTH_FAULT_TRACE="$tmp/trace.txt" "$T" work "$tmp/full" >"$tmp/full.out" 2>/dev/null \
    || fail "untraced workload failed"
ops=$(tail -n 1 "$tmp/full.out")
"$T" check "$tmp/full" "$ops" >/dev/null || fail "the complete workload does not check out"
points=$(wc -l < "$tmp/trace.txt")
# Floor: the workload as written passes 162 points; fewer means it lost
# steps (or fault points went missing) and would prove less.
MIN_KILL_POINTS=150
[ "$points" -ge "$MIN_KILL_POINTS" ] || fail "only $points fault points traced (floor $MIN_KILL_POINTS)"
for p in outbox.write outbox.sync outbox.synced fs.write fs.rename fs.dirsync outbox.reopen; do
    grep -q " $p\$" "$tmp/trace.txt" || fail "the workload never passes fault point $p"
done
echo "fault points of $ops operations: $points"
awk '{print $2}' "$tmp/trace.txt" | sort | uniq -c | sed 's/^/  /'

# 2. Kill at every point, then check from a fresh process. Two kill points
# run at a time (each in its own directory); each writes its verdict to
# $tmp/res.N, tallied in order afterwards.
kill_and_check() {
    local n=$1 d=$tmp/run.$1 rc done_ops out
    set +e
    # (the group's redirection also silences bash's "Killed" job message)
    { HEARTH_FAULT_KILL_AT=$n "$T" work "$d" >"$d.out" 2>"$d.err"; rc=$?; } 2>/dev/null
    set -e
    if [ "$rc" -ne 137 ]; then
        echo "FAIL workload exited $rc, expected SIGKILL (137): $(grep -v '^{' "$d.err")" >"$tmp/res.$n"
        return 0
    fi
    done_ops=$(tail -n 1 "$d.out")
    done_ops=${done_ops:-0}
    if ! out=$("$T" check "$d" "$done_ops" 2>"$d.cerr"); then
        echo "FAIL after $done_ops ops: $(grep -v '^{' "$d.cerr")" >"$tmp/res.$n"
        return 0
    fi
    if compgen -G "$d/*.tmp.*" >/dev/null; then
        echo "FAIL temp file left after reopen" >"$tmp/res.$n"
        return 0
    fi
    echo "$out" >"$tmp/res.$n"
    rm -rf "$d" "$d.out" "$d.err" "$d.cerr"
}
for n in $(seq 1 "$points"); do
    kill_and_check "$n" &
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
done
wait
old=0
new=0
same=0
for n in $(seq 1 "$points"); do
    [ -f "$tmp/res.$n" ] || fail "kill point $n: no verdict"
    out=$(cat "$tmp/res.$n")
    case "$out" in
        old) old=$((old + 1)) ;;
        new) new=$((new + 1)) ;;
        same) same=$((same + 1)) ;;
        *) fail "kill point $n ($(sed -n "${n}p" "$tmp/trace.txt")): $out" ;;
    esac
done
[ "$old" -ge 1 ] && [ "$new" -ge 1 ] \
    || fail "expected both outcomes across kill points (old=$old new=$new)"

# 3. A failing fdatasync (HEARTH_FAULT_FAIL): put and ack report the I/O
# error and take no effect, in memory or after a reopen, so a put that
# failed is never sent later behind the caller's back.
"$T" work "$tmp/fs" 3 >/dev/null 2>&1 || fail "3-operation workload failed"
HEARTH_FAULT_FAIL=outbox.sync "$T" failsync "$tmp/fs" 2>"$tmp/fs.err" >/dev/null \
    || fail "with fdatasync failing: $(grep -v '^{' "$tmp/fs.err")"
[ "$("$T" check "$tmp/fs" 3 2>&1 | grep -v '^{')" = old ] \
    || fail "a put or ack that reported an fdatasync failure took effect after reopen"

echo "killed at $points points: $old without the interrupted operation, $new with it, $same where it changed nothing; none lost or damaged"
echo "PASS"
