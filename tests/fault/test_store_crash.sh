#!/usr/bin/env bash
# Crash safety of the secure store (5.4-1): a commit is killed (SIGKILL) at
# every fault point it passes; afterwards the store must open, verify and
# hold exactly the old or the new state -- never a mix, never empty. Then
# truncated and corrupted store files must be refused with a tamper error
# and a non-zero exit instead of being used.
# provisions: 5.4-1
# needs: HEARTH_TEST_HOOKS
# timeout: 600
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
W=$BUILD/tests/store_writer
if [ ! -x "$W" ]; then
    echo "FAIL: $W is not built (make store_writer)" >&2
    exit 1
fi
tmp=$(mktemp -d /tmp/hearth-store-crash.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Baseline: a store in state 1 (file RoT), kept as a pristine copy.
"$W" init "$tmp/base/keys" "$tmp/base/data" >/dev/null 2>&1 || fail "init"
"$W" verify "$tmp/base/keys" "$tmp/base/data" 1 >/dev/null 2>&1 || fail "baseline does not verify"

# 1. Enumerate the fault points of one commit (state 1 -> 2).
cp -a "$tmp/base" "$tmp/trace"
HEARTH_FAULT_TRACE="$tmp/trace.txt" "$W" commit "$tmp/trace/keys" "$tmp/trace/data" 1 \
    >/dev/null 2>&1 || fail "traced commit failed"
points=$(wc -l < "$tmp/trace.txt")
[ "$points" -ge 5 ] || fail "only $points fault points traced; expected the atomic-write steps"
echo "fault points of one commit:"
sed 's/^/  /' "$tmp/trace.txt"

# 2. Kill at every point; the survivor must be state 1 or 2, and usable.
old=0
new=0
for n in $(seq 1 "$points"); do
    rm -rf "$tmp/run"
    cp -a "$tmp/base" "$tmp/run"
    set +e
    # (the group's redirection also silences bash's "Killed" job message)
    { HEARTH_FAULT_KILL_AT=$n "$W" commit "$tmp/run/keys" "$tmp/run/data" 1 >/dev/null; rc=$?; } 2>/dev/null
    set -e
    [ "$rc" -eq 137 ] || fail "kill point $n: writer exited $rc, expected SIGKILL (137)"
    out=$("$W" verify "$tmp/run/keys" "$tmp/run/data" 1 2 2>"$tmp/err") \
        || fail "kill point $n ($(sed -n "${n}p" "$tmp/trace.txt")): store unusable: $(cat "$tmp/err")"
    case "$out" in
        "state 1 "*) old=$((old + 1)) ;;
        "state 2 "*) new=$((new + 1)) ;;
        *) fail "kill point $n: unexpected output $out" ;;
    esac
    # Stale temp files are gone after that open, and the store takes the
    # next commit from whichever state survived.
    if ls "$tmp/run/data" | grep -q '^store\.hst\.tmp\.'; then
        fail "kill point $n: temp file left after reopen"
    fi
    k=${out#state }
    k=${k%% *}
    "$W" commit "$tmp/run/keys" "$tmp/run/data" "$k" >/dev/null 2>&1 \
        || fail "kill point $n: commit after recovery failed"
    "$W" verify "$tmp/run/keys" "$tmp/run/data" $((k + 1)) >/dev/null 2>&1 \
        || fail "kill point $n: state $((k + 1)) not readable after recovery"
done
[ "$old" -ge 1 ] && [ "$new" -ge 1 ] \
    || fail "expected both outcomes across kill points (old=$old new=$new)"
echo "tested $points kill points: $old left the old state, $new the new state, none corrupt"

# 3. Truncated and corrupted files: refused with a tamper error, exit 2.
size=$(stat -c %s "$tmp/base/data/store.hst")
checked=0
for len in 0 1 7 8 20 107 108 123 $((size / 2)) $((size - 17)) $((size - 16)) $((size - 1)); do
    rm -rf "$tmp/t"
    cp -a "$tmp/base" "$tmp/t"
    truncate -s "$len" "$tmp/t/data/store.hst"
    set +e
    out=$("$W" verify "$tmp/t/keys" "$tmp/t/data" 1 2>&1)
    rc=$?
    set -e
    [ "$rc" -eq 2 ] || fail "truncated to $len bytes: exit $rc ($out), expected 2"
    grep -q "tampered" <<<"$out" || fail "truncated to $len: no tamper message: $out"
    checked=$((checked + 1))
done
for off in 0 9 30 60 100 110 $((size / 2)) $((size - 1)); do
    rm -rf "$tmp/t"
    cp -a "$tmp/base" "$tmp/t"
    printf '\x5a' | dd of="$tmp/t/data/store.hst" bs=1 seek="$off" conv=notrunc status=none
    cmp -s "$tmp/t/data/store.hst" "$tmp/base/data/store.hst" && \
        printf '\xa5' | dd of="$tmp/t/data/store.hst" bs=1 seek="$off" conv=notrunc status=none
    set +e
    out=$("$W" verify "$tmp/t/keys" "$tmp/t/data" 1 2>&1)
    rc=$?
    set -e
    [ "$rc" -eq 2 ] || fail "byte $off corrupted: exit $rc ($out), expected 2"
    grep -Eq "tampered|unsupported" <<<"$out" || fail "byte $off: no clear error: $out"
    checked=$((checked + 1))
done
echo "refused $checked truncated/corrupted store files with a tamper error"
echo "PASS"
