#!/usr/bin/env bash
# A commit's reported outcome is the state a restart loads (5.4-1): the
# directory fsync after the rename is made to fail (HEARTH_FAULT_FAIL=
# fs.dirsync, the fsync reports EIO). The first commit has already replaced
# the file, so it must be reported as done and a reopen must load it; while
# the directory cannot be synced, later commits must be refused and change
# nothing. Without the fault every commit goes through again.
# provisions: 5.4-1
# needs: HEARTH_TEST_HOOKS
# timeout: 120
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
W=$BUILD/tests/store_writer
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$W" ] || fail "$W is not built (make store_writer)"
tmp=$(mktemp -d /tmp/hearth-store-dirsync.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$W" init "$tmp/keys" "$tmp/data" >/dev/null 2>&1 || fail "init"
"$W" verify "$tmp/keys" "$tmp/data" 1 >/dev/null 2>&1 || fail "baseline does not verify"

# Three commits in one process with every directory fsync failing.
HEARTH_FAULT_FAIL=fs.dirsync "$W" commits "$tmp/keys" "$tmp/data" 1 3 >"$tmp/out" 2>"$tmp/err" \
    || fail "writer failed: $(cat "$tmp/err")"
cat "$tmp/out"
[ "$(sed -n 1p "$tmp/out" | cut -d" " -f1)" = "ok" ] || fail "the renamed commit was not reported as done"
[ "$(sed -n 2p "$tmp/out" | cut -d' ' -f1)" = "refused" ] || fail "a commit went ahead unsynced"
[ "$(sed -n 3p "$tmp/out" | cut -d' ' -f1)" = "refused" ] || fail "a commit went ahead unsynced"
reported=$(awk '$1 == "reported" { print $2 }' "$tmp/out")
[ "$reported" = 2 ] || fail "reported state $reported, expected 2"
grep -q '"event":"store_sync_failed"' "$tmp/err" || fail "no store_sync_failed alert logged"

# A restart loads exactly the reported state.
got=$("$W" verify "$tmp/keys" "$tmp/data" 1 2 3 4 2>&1) || fail "reopen: $got"
case "$got" in
    "state $reported "*) ;;
    *) fail "reopen loads '$got', the commits reported state $reported" ;;
esac

# Once the directory syncs again, commits go through and are what a reopen loads.
"$W" commits "$tmp/keys" "$tmp/data" "$reported" 2 >"$tmp/out2" 2>"$tmp/err2" \
    || fail "writer failed after the fault: $(cat "$tmp/err2")"
[ "$(awk '$1 == "reported" { print $2 }' "$tmp/out2")" = $((reported + 2)) ] \
    || fail "commits without the fault: $(cat "$tmp/out2")"
got=$("$W" verify "$tmp/keys" "$tmp/data" $((reported + 2)) 2>&1) || fail "reopen after recovery: $got"
echo "PASS"
