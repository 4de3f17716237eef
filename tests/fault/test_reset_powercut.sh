#!/usr/bin/env bash
# provisions: 5.11-1
# needs: HEARTH_TEST_HOOKS
# timeout: 600
#
# Power cut at every step of a factory reset (docs/erasure.md): the reset
# (tests/reset_driver, the library code hearthd runs) is traced
# (HEARTH_FAULT_TRACE) to list its fault points, then re-run once per point
# from the same snapshot with HEARTH_FAULT_KILL_AT=N (SIGKILL there). After
# every kill the device must open (the next open finishes or discards the
# reset) and be either the old device (set up, its admin there) or the reset
# one (factory default, no users) -- never a broken one, and no staging
# directory may be left. Then the old device can still be reset, and the
# reset one set up again with the label's setup password.
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD/tests/reset_driver
HEARTH=$BUILD/tools/hearth
for b in "$D" "$HEARTH"; do
    [ -x "$b" ] || { echo "FAIL: $b is not built" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/hearth-reset-pc.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export HEARTH_ROT=file
ADMIN_PW="correct horse battery staple 7"

"$HEARTH" ca init "$tmp/ca" >/dev/null 2>&1 || fail "ca init"
"$HEARTH" provision --ca "$tmp/ca" --out "$tmp/base" --model HT-100 --rot file --label json \
    >"$tmp/label.json" 2>/dev/null || fail "provision"
spw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup_password"])' "$tmp/label.json")
"$D" setup "$tmp/base" "$spw" admin "$ADMIN_PW" 2>/dev/null || fail "setup"
[ "$("$D" probe "$tmp/base" admin 2>/dev/null)" = "initialized users=1" ] || fail "baseline probe"

# 1. The fault points of one reset.
cp -a "$tmp/base" "$tmp/trace"
HEARTH_FAULT_TRACE="$tmp/trace.txt" "$D" reset "$tmp/trace" >/dev/null 2>&1 || fail "traced reset failed"
points=$(wc -l <"$tmp/trace.txt")
grep -q ' reset.committed$' "$tmp/trace.txt" || fail "the trace has no commit point"
[ "$points" -ge 8 ] || fail "only $points fault points traced"
echo "fault points of one reset: $points"
sed 's/^/  /' "$tmp/trace.txt"

# 2. Kill at every point.
old=0
new=0
for n in $(seq 1 "$points"); do
    rm -rf "$tmp/run"
    cp -a "$tmp/base" "$tmp/run"
    set +e
    { HEARTH_FAULT_KILL_AT=$n "$D" reset "$tmp/run" >/dev/null 2>&1; rc=$?; } 2>/dev/null
    set -e
    [ "$rc" -eq 137 ] || fail "kill point $n: exited $rc, expected SIGKILL (137)"
    out=$("$D" probe "$tmp/run" admin 2>"$tmp/err") ||
        fail "kill point $n ($(sed -n "${n}p" "$tmp/trace.txt")): device broken: $(tail -3 "$tmp/err")"
    case "$out" in
        "initialized users=1") old=$((old + 1)); cp -a "$tmp/run" "$tmp/an-old" 2>/dev/null || true ;;
        "factory users=0") new=$((new + 1)); rm -rf "$tmp/a-new"; cp -a "$tmp/run" "$tmp/a-new" ;;
        *) fail "kill point $n: unexpected state '$out'" ;;
    esac
    [ ! -e "$tmp/run/reset.new" ] || fail "kill point $n: staging directory left after reopen"
    echo "ok - kill at point $n ($(sed -n "${n}p" "$tmp/trace.txt")): $out"
done
echo "old device after $old cuts, reset device after $new cuts"
[ "$old" -ge 1 ] && [ "$new" -ge 1 ] || fail "expected both outcomes across the points"

# 3. Both outcomes stay usable.
"$D" login "$tmp/an-old" admin "$ADMIN_PW" 2>/dev/null || fail "old device: admin cannot log in"
"$D" reset "$tmp/an-old" >/dev/null 2>&1 || fail "old device: a new reset fails"
[ "$("$D" probe "$tmp/an-old" admin 2>/dev/null)" = "factory users=0" ] || fail "old device: reset again"
"$D" login "$tmp/a-new" admin "$ADMIN_PW" 2>/dev/null && fail "reset device: the old admin password works"
"$D" setup "$tmp/a-new" "$spw" owner2 "$ADMIN_PW" 2>/dev/null ||
    fail "reset device: the label's setup password does not set it up"
[ "$("$D" probe "$tmp/a-new" owner2 2>/dev/null)" = "initialized users=1" ] || fail "reset device: after setup"
echo "PASS: $points fault points, every cut left the old or the reset device"
