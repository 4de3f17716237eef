#!/usr/bin/env bash
# TPM 2.0 root of trust for the secure store, against real swtpm instances
# started here: a storage key sealed by TPM A survives a TPM restart and a
# store reopen, the sealed blob does not contain the key, an edited blob is
# refused, an older copy of the store is refused as a rollback (NV counter),
# a commit killed before the counter increment recovers, and TPM B (fresh
# state, other seeds) cannot unseal it.
# provisions: 5.4-1 5.4-3
# needs: HEARTH_TEST_HOOKS HEARTH_TPM
# timeout: 300
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
C=$BUILD/tests/store_tpm_check
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tpm_lib.sh
source "$(dirname "$0")/tpm_lib.sh"
[ -x "$C" ] || fail "$C is not built (needs -DHEARTH_TPM=ON; make store_tpm_check)"
command -v swtpm >/dev/null || fail "swtpm is not installed"

tmp=$(mktemp -d /tmp/hearth-store-tpm.XXXXXX)
cleanup() {
    swtpm_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT

# TPM A: seal a fresh storage key, create a store holding a secret.
start_swtpm "$tmp/tpmA"
A_PID=$PID
"$C" create "$tmp/keys" "$tmp/data" "swtpm:host=127.0.0.1,port=$PORT" || fail "create"
[ -f "$tmp/keys/tpm-sealed.bin" ] || fail "no sealed blob written"
[ ! -e "$tmp/keys/storage.key" ] || fail "TPM backend must not write a plain key file"

# Restart TPM A (same persistent state, like a reboot): the primary key is
# recreated from the owner seed and the key unseals again.
stop_swtpm "$A_PID"
start_swtpm "$tmp/tpmA"
"$C" reopen "$tmp/keys" "$tmp/data" "swtpm:host=127.0.0.1,port=$PORT" || fail "reopen"

# The TCTI can also come from the environment.
HEARTH_TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT" "$C" reopen "$tmp/keys" "$tmp/data" "" \
    >/dev/null || fail "reopen with HEARTH_TPM_TCTI"

# Rollback: an older complete copy of store.hst is refused via the TPM NV
# counter bound to the generation.
"$C" rollback "$tmp/keys" "$tmp/data" "swtpm:host=127.0.0.1,port=$PORT" || fail "rollback"

# Kill a commit after the durable write but before the counter increment:
# the next open must accept the new state and catch the counter up.
HEARTH_FAULT_TRACE="$tmp/trace.txt" "$C" put "$tmp/keys" "$tmp/data" \
    "swtpm:host=127.0.0.1,port=$PORT" >/dev/null 2>&1 || fail "traced put"
n=$(awk '$2 == "store.committed" { print $1; exit }' "$tmp/trace.txt")
[ -n "$n" ] || fail "no store.committed fault point traced"
set +e
{ HEARTH_FAULT_KILL_AT=$n "$C" put "$tmp/keys" "$tmp/data" "swtpm:host=127.0.0.1,port=$PORT" \
    >/dev/null; rc=$?; } 2>/dev/null
set -e
[ "$rc" -eq 137 ] || fail "put was not killed at store.committed (exit $rc)"
"$C" check-put "$tmp/keys" "$tmp/data" "swtpm:host=127.0.0.1,port=$PORT" || fail "check-put"

# TPM B: a different TPM (fresh state, different seeds) must not unseal it.
start_swtpm "$tmp/tpmB"
"$C" foreign "$tmp/keys" "$tmp/data" "swtpm:host=127.0.0.1,port=$PORT" 2>"$tmp/foreign.err" \
    || { cat "$tmp/foreign.err" >&2; fail "foreign TPM check"; }
echo "PASS"
