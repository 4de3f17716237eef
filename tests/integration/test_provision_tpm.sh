#!/usr/bin/env bash
# provisions: 5.4-2 5.4-3 5.4-4
# needs: HEARTH_TPM
# timeout: 300
# Provisioning with the TPM 2.0 root of trust, against a real swtpm started
# here: the state dir holds only the TPM-sealed blob (no storage key file),
# the device opens through the platform's TPM connection (HEARTH_ROT=tpm,
# HEARTH_TPM_TCTI: never device.json), and the same state
# dir presented to a different TPM does not open: the identity's private key
# is bound to the device's TPM (5.4-2), generated there per device (5.4-4),
# and nothing in the software can decrypt it (5.4-3).
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:?}
HEARTH=$BUILD/tools/hearth
OPEN=$BUILD/tests/identity_open_check
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tpm_lib.sh
source "$(dirname "$0")/tpm_lib.sh"
[ -x "$HEARTH" ] || fail "$HEARTH not built"
[ -x "$OPEN" ] || fail "$OPEN not built (make identity_open_check)"
command -v swtpm >/dev/null || fail "swtpm is not installed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-prov-tpm.XXXXXX")
cleanup() {
    swtpm_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT

unset HEARTH_TPM_TCTI
# This platform uses the TPM root of trust (docs/provisioning.md).
export HEARTH_ROT=tpm
"$HEARTH" ca init "$tmp/ca" >/dev/null
start_swtpm "$tmp/tpmA"
PID_A=$PID
TCTI_A="swtpm:host=127.0.0.1,port=$PORT"

"$HEARTH" provision --ca "$tmp/ca" --out "$tmp/dev" --model HTH-Therm.2 --serial SN-TPM-1 \
    --rot tpm --tcti "$TCTI_A" --label json >"$tmp/label.json" 2>"$tmp/prov.err" \
    || { cat "$tmp/prov.err"; fail "provision with --rot tpm"; }
echo "ok:   provisioned with the TPM root of trust ($TCTI_A)"
[ -s "$tmp/dev/keys/tpm-sealed.bin" ] || fail "no keys/tpm-sealed.bin"
[ ! -e "$tmp/dev/keys/storage.key" ] || fail "a plaintext storage.key exists with --rot tpm"
grep -q '"rot":[[:space:]]*"tpm"' "$tmp/dev/device.json" || fail "device.json does not say rot tpm"
! grep -q 'tpm_tcti\|swtpm' "$tmp/dev/device.json" || fail "device.json records a TPM connection"
echo "ok:   only the TPM-sealed blob in keys/; device.json records the TPM backend, no connection"

# Opens through the platform's TPM connection; identity matches the label.
HEARTH_TPM_TCTI="$TCTI_A" "$OPEN" "$tmp/dev" >"$tmp/open.out" 2>"$tmp/open.err" \
    || { cat "$tmp/open.err"; fail "open via TPM A"; }
fp=$(sed -E 's/.*"fingerprint":"([^"]*)".*/\1/' "$tmp/label.json")
grep -qx "fingerprint=$fp" "$tmp/open.out" || fail "fingerprint after open differs from the label"
grep -qx "serial=SN-TPM-1" "$tmp/open.out" || fail "serial after open"
echo "ok:   device opens through TPM A; fingerprint matches the label"

# The same state dir on another TPM (fresh seeds): cannot unseal, no open.
start_swtpm "$tmp/tpmB"
PID_B=$PID
set +e
HEARTH_TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT" "$OPEN" "$tmp/dev" >/dev/null 2>"$tmp/openB.err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "state dir opened on a different TPM"
echo "ok:   state dir copied to another TPM does not open (rc=$rc: $(tail -1 "$tmp/openB.err"))"
stop_swtpm "$PID_B"

# TPM A restarted (same state) on another port: opens again via the override.
stop_swtpm "$PID_A"
start_swtpm "$tmp/tpmA"
HEARTH_TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT" "$OPEN" "$tmp/dev" >/dev/null 2>"$tmp/openA2.err" \
    || { cat "$tmp/openA2.err"; fail "reopen after TPM A restart"; }
echo "ok:   reopens after TPM A restarts (TCTI override via HEARTH_TPM_TCTI)"

# A failed TPM provisioning leaves nothing behind.
set +e
"$HEARTH" provision --ca "$tmp/ca" --out "$tmp/dev-fail" --model HTH-Therm.2 --rot tpm \
    --tcti "swtpm:host=127.0.0.1,port=1" >/dev/null 2>"$tmp/fail.err"
rc=$?
set -e
[ "$rc" -eq 1 ] && [ ! -e "$tmp/dev-fail" ] || fail "unreachable TPM: rc=$rc, dir left behind?"
echo "ok:   unreachable TPM: provisioning fails and leaves nothing"
echo "provision TPM: all checks passed"
