#!/usr/bin/env bash
# provisions: 5.3-9 5.7-1
# needs: HEARTH_TPM
# timeout: 300
# The anti-rollback floors in TPM NV, against a real swtpm started here:
# absent on a new device, raised per field and never lowered (a lower value
# writes nothing), a large jump in one write, nothing kept in a file, one
# index per device key, an index squatted at the handle with another auth
# value refused and never replaced; and the floors survive the TPM losing
# power (swtpm killed with SIGKILL and restarted: the index is not orderly).
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:?}
CHECK=$BUILD/tests/floors_tpm_check
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tpm_lib.sh
source "$(dirname "$0")/tpm_lib.sh"
[ -x "$CHECK" ] || fail "$CHECK not built (make floors_tpm_check)"
command -v swtpm >/dev/null || fail "swtpm is not installed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-floor-tpm.XXXXXX")
cleanup() {
    swtpm_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT
unset HEARTH_TPM_TCTI

start_swtpm "$tmp/tpm"
TCTI="swtpm:host=127.0.0.1,port=$PORT"
"$CHECK" basic "$tmp/keys" "$TCTI" || fail "floor record checks against swtpm"
echo "ok:   absent at first, per-field maximum, never lowered, NV only, per key, squatter refused"

out=$("$CHECK" raise "$tmp/keys" "$TCTI" 1000001 6) || fail "raise: $out"
[ "$out" = "1000001 6" ] || fail "raise printed '$out'"
out=$("$CHECK" raise "$tmp/keys" "$TCTI" 2 2) || fail "lower raise: $out"
[ "$out" = "1000001 6" ] || fail "a lower raise changed the floors: '$out'"

# Power loss of the TPM itself: SIGKILL, restart on the same NV state.
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
start_swtpm "$tmp/tpm"
TCTI="swtpm:host=127.0.0.1,port=$PORT"
out=$("$CHECK" read "$tmp/keys" "$TCTI") || fail "read after TPM power loss: $out"
[ "$out" = "1000001 6" ] || fail "floors after TPM power loss: '$out'"
echo "ok:   floors 1000001/6 survive a TPM power loss (SIGKILL of swtpm)"
echo "PASS"
