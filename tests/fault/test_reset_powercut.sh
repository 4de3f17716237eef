#!/usr/bin/env bash
# provisions: 5.11-1
# needs: HEARTH_TEST_HOOKS HEARTH_TPM
# timeout: 600
#
# Power cut at every step of a factory reset (docs/erasure.md): the reset
# (tests/reset_driver, the library code hearthd runs) is traced
# (HEARTH_FAULT_TRACE) to list its fault points, then re-run once per point
# from the same snapshot with HEARTH_FAULT_KILL_AT=N (SIGKILL there). After
# every kill the device must open (the next open finishes or discards the
# reset) and be either the old device (set up, its admin there) or the reset
# one (factory default, no users) -- never a broken one, and no staging
# directory may be left. The old device holds no reset notice; the reset one
# holds exactly one, authenticated in its new store: reset number 1, by the
# API, pending (to be reported to the service); the count carries over to
# the next reset (2). Then the old device can still be reset, and the
# reset one set up again with the label's setup password.
# Then the same for the TPM root of trust (swtpm started here; its NV state is
# restored from a snapshot before every run, like the files): a device sealed
# the way the code before the erase epoch did (no policy, blob version 1,
# made with the test hook HEARTH_FAULT_FAIL=tpm.seal_v1) with anti-rollback
# floors 7/3 in TPM NV is reset with a cut at every point from the end of
# staging on (the commit, the erase-epoch advance, the retirement of the old
# NV indices, the moves) and at the TPM points of staging: after each, the
# device opens as the old or the reset one, the floors read 7/3, and a reset
# device holds a version-2 blob and exactly one erase-epoch counter, one
# rollback counter and one floor index in the TPM (the old key's are gone).
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD/tests/reset_driver
HEARTH=$BUILD/tools/hearth
for b in "$D" "$HEARTH"; do
    [ -x "$b" ] || { echo "FAIL: $b is not built" >&2; exit 1; }
done
FLOORS=$BUILD/tests/floors_tpm_check
[ -x "$FLOORS" ] || { echo "FAIL: $FLOORS is not built" >&2; exit 1; }
command -v swtpm >/dev/null || { echo "FAIL: swtpm is not installed" >&2; exit 1; }
tmp=$(mktemp -d /tmp/hearth-reset-pc.XXXXXX)
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=../integration/tpm_lib.sh
source "$(dirname "$0")/../integration/tpm_lib.sh"
trap 'swtpm_stop_all; rm -rf "$tmp"' EXIT
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
    nt=$("$D" notice "$tmp/run" 2>"$tmp/err") || fail "kill point $n: notice unreadable: $(tail -2 "$tmp/err")"
    case "$out|$nt" in
        "initialized users=1|notice none") old=$((old + 1)); cp -a "$tmp/run" "$tmp/an-old" 2>/dev/null || true ;;
        "factory users=0|notice count=1 reason=api pending=1")
            new=$((new + 1)); rm -rf "$tmp/a-new"; cp -a "$tmp/run" "$tmp/a-new" ;;
        *) fail "kill point $n: unexpected state '$out', '$nt'" ;;
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
"$D" reset "$tmp/a-new" button >/dev/null 2>&1 || fail "reset device: a second reset (button) fails"
[ "$("$D" notice "$tmp/a-new" 2>/dev/null)" = "notice count=2 reason=button pending=1" ] ||
    fail "reset device: the second reset's notice is '$("$D" notice "$tmp/a-new" 2>&1)'"
echo "ok - file root: $points fault points, every cut left the old or the reset device"

# 4. TPM root of trust, from a device sealed without a policy.
start_swtpm "$tmp/tpm"
TPORT=$PORT
export HEARTH_ROT=tpm HEARTH_TPM_TCTI="swtpm:host=127.0.0.1,port=$TPORT"
HEARTH_FAULT_FAIL=tpm.seal_v1 "$HEARTH" provision --ca "$tmp/ca" --out "$tmp/tbase" --model HT-100 \
    --rot tpm --label json >"$tmp/tlabel.json" 2>"$tmp/tprov.err" || fail "tpm provision: $(cat "$tmp/tprov.err")"
blobver() { od -An -tu1 -j9 -N1 "$1/keys/tpm-sealed.bin" | tr -d ' '; }
[ "$(blobver "$tmp/tbase")" = 1 ] || fail "the hook did not seal without a policy (version $(blobver "$tmp/tbase"))"
tspw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup_password"])' "$tmp/tlabel.json")
"$D" setup "$tmp/tbase" "$tspw" admin "$ADMIN_PW" 2>/dev/null || fail "tpm setup (version-1 blob)"
[ "$("$D" probe "$tmp/tbase" admin 2>/dev/null)" = "initialized users=1" ] || fail "tpm baseline probe"
echo "ok - a device sealed without a policy (version 1) opens its store"
[ "$("$FLOORS" raise "$tmp/tbase/keys" "$HEARTH_TPM_TCTI" 7 3 2>/dev/null)" = "7 3" ] || fail "raise floors"
tpm_snap() { stop_swtpm "$PID"; rm -rf "$tmp/tpm.$1"; cp -a "$tmp/tpm" "$tmp/tpm.$1"; start_swtpm_at "$tmp/tpm" "$TPORT"; }
tpm_restore() { stop_swtpm "$PID"; rm -rf "$tmp/tpm"; cp -a "$tmp/tpm.$1" "$tmp/tpm"; start_swtpm_at "$tmp/tpm" "$TPORT"; }
# nv_count LO HI: how many NV indices the TPM holds in [LO, HI).
nv_count() {
    tpm2_getcap -T "$HEARTH_TPM_TCTI" handles-nv-index | sed -n 's/^- //p' |
        while read -r h; do [ $((h)) -ge $(($1)) ] && [ $((h)) -lt $(($2)) ] && echo "$h"; done | wc -l
}
tpm_snap base
rm -rf "$tmp/ttrace"
cp -a "$tmp/tbase" "$tmp/ttrace"
HEARTH_FAULT_TRACE="$tmp/ttrace.txt" "$D" reset "$tmp/ttrace" >/dev/null 2>"$tmp/ttrace.err" ||
    fail "traced TPM reset failed: $(tail -2 "$tmp/ttrace.err")"
for p in reset.epoch_advanced reset.nv_retired tpm.epoch_defined tpm.epoch_advanced tpm.nv_retired; do
    grep -q " $p\$" "$tmp/ttrace.txt" || fail "the TPM reset never reached $p"
done
tpoints=$(wc -l <"$tmp/ttrace.txt")
staged=$(grep -n ' reset.staged$' "$tmp/ttrace.txt" | cut -d: -f1)
echo "fault points of one TPM reset: $tpoints (staging ends at $staged)"
told=0
tnew=0
for n in $(seq 1 "$tpoints"); do
    name=$(sed -n "${n}p" "$tmp/ttrace.txt")
    case "$name" in *" tpm."*) ;; *) [ "$n" -ge "$staged" ] || continue ;; esac
    tpm_restore base
    rm -rf "$tmp/trun"
    cp -a "$tmp/tbase" "$tmp/trun"
    set +e
    { HEARTH_FAULT_KILL_AT=$n "$D" reset "$tmp/trun" >/dev/null 2>&1; rc=$?; } 2>/dev/null
    set -e
    [ "$rc" -eq 137 ] || fail "tpm kill point $n: exited $rc, expected SIGKILL (137)"
    out=$("$D" probe "$tmp/trun" admin 2>"$tmp/err") ||
        fail "tpm kill point $n ($name): device broken: $(tail -3 "$tmp/err")"
    fl=$("$FLOORS" read "$tmp/trun/keys" "$HEARTH_TPM_TCTI" 2>/dev/null) || true
    [ "$fl" = "7 3" ] || fail "tpm kill point $n ($name): floors '$fl', expected 7 3"
    nt=$("$D" notice "$tmp/trun" 2>/dev/null) || fail "tpm kill point $n: notice unreadable"
    case "$out|$nt" in
        "initialized users=1|notice none") told=$((told + 1)) ;;
        "factory users=0|notice count=1 reason=api pending=1")
            tnew=$((tnew + 1))
            [ "$(blobver "$tmp/trun")" = 2 ] || fail "tpm kill point $n: reset device not sealed under the policy"
            c="$(nv_count 0x01200000 0x01280000) $(nv_count 0x01280000 0x01300000) $(nv_count 0x01300000 0x01400000)"
            [ "$c" = "1 1 1" ] || fail "tpm kill point $n ($name): epoch/floor/counter indices '$c', expected 1 1 1"
            ;;
        *) fail "tpm kill point $n: unexpected state '$out', '$nt'" ;;
    esac
    [ ! -e "$tmp/trun/reset.new" ] || fail "tpm kill point $n: staging directory left after reopen"
    echo "ok - tpm: kill at point $n ($name): $out, floors $fl"
done
echo "tpm: old device after $told cuts, reset device after $tnew cuts"
[ "$told" -ge 1 ] && [ "$tnew" -ge 1 ] || fail "tpm: expected both outcomes across the points"
# The last run is a reset device (the last point is after the commit): a
# second reset goes from a version-2 blob to the next, the floors stay.
"$D" reset "$tmp/trun" >/dev/null 2>&1 || fail "tpm: second reset"
[ "$("$D" probe "$tmp/trun" admin 2>/dev/null)" = "factory users=0" ] || fail "tpm: after the second reset"
[ "$("$D" notice "$tmp/trun" 2>/dev/null)" = "notice count=2 reason=api pending=1" ] || fail "tpm: second reset's notice"
[ "$("$FLOORS" read "$tmp/trun/keys" "$HEARTH_TPM_TCTI" 2>/dev/null)" = "7 3" ] || fail "tpm: floors after the second reset"
c="$(nv_count 0x01200000 0x01280000) $(nv_count 0x01280000 0x01300000) $(nv_count 0x01300000 0x01400000)"
[ "$c" = "1 1 1" ] || fail "tpm: after the second reset epoch/floor/counter indices '$c', expected 1 1 1"
echo "PASS: file root $points fault points; TPM root $((told + tnew)) cuts; every cut left the old or the reset device"
