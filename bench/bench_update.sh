#!/usr/bin/env bash
# bench_update.sh: the updater with a large bundle from a local HTTPS
# repository (nginx, mutual TLS), measured in one run against references:
#   1. peak RSS (VmHWM) of the updater while downloading + verifying +
#      installing a BUNDLE_MIB (default 256) MiB bundle (target <= 16 MiB);
#   2. time of the updater's download + verify + install from the stream
#      (each verified chunk straight into the inactive slot, fsync'd before
#      the slot is marked pending) vs `curl` fetching the same file from the
#      same server with a client certificate into a file (target ratio
#      <= 1.3; curl runs before and after the updaters, the faster counts);
#      with BASELINE_BUILD_DIR, the same install by that build's updater on
#      a copy of the same device, in the same run (before/after a change);
#   3. end to end (hearth-boot + hearthd): "update published" -> "confirmed
#      on the new slot", and the thermostat's largest control gap meanwhile
#      (heartbeat file sampled), via tests/integration/test_update_daemon.sh.
# Usage: bench/bench_update.sh [BUILD_DIR [BASELINE_BUILD_DIR]]   (env BUNDLE_MIB=256)
# Needs: hearth-update-driver, hearth
# (CLI), hearth-fetch, and for 3. hearthd and hearth-boot, built.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
# Absolute: a relative hearth-fetch path is refused by the updater.
HEARTH_BUILD_DIR=$(cd "${1:-${HEARTH_BUILD_DIR:-$SRC/build}}" && pwd) || exit 1
export HEARTH_BUILD_DIR
BASELINE=${2:+$(cd "$2" && pwd)}
# shellcheck source=../tests/integration/update_lib.sh
source "$SRC/tests/integration/update_lib.sh"
MIB=${BUNDLE_MIB:-256}

W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-upd.XXXXXX")
cleanup() { upd_repo_stop_all; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { date +%s%3N; }

echo "== bench_update: ${MIB} MiB bundle, local HTTPS repository (nginx, mTLS)"
upd_fixture "$W" $((MIB * 1024 * 1024)) $((1024 * 1024)) || { echo "fixture failed"; exit 1; }
t=$(ms)
upd_bundle "$W/big.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
echo "bundle build (sign + hash):        $(( $(ms) - t )) ms"
upd_publish "$W/big.hbu" 2.0.0
TOTAL=$(stat -c %s "$W/big.hbu")
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
upd_client_cert "$W/curl-client" "$W/ca"

cp -a "$UPD_STATE" "$W/state-template"
fresh_state() { rm -rf "$UPD_STATE"; cp -a "$W/state-template" "$UPD_STATE"; }

# Reference: curl, same server, same TLS (client certificate), to a file.
curl_ms() {
    local t
    rm -f "$W/curl.out"; sync; t=$(ms)
    curl -s --fail --cacert "$W/ca/ca.crt" --cert "$W/curl-client/client.crt" --key "$W/curl-client/client.key" \
        -o "$W/curl.out" "$UPD_REPO_URL/$UPD_HW/2.0.0.hbu" || { echo "curl failed" >&2; exit 1; }
    echo $(( $(ms) - t ))
    cmp -s "$W/curl.out" "$W/big.hbu" || echo "WARNING: curl copy differs" >&2
    rm -f "$W/curl.out"
}
CURL1=$(curl_ms)

# Updater, check-only (manifest fetch + signature) for the fixed cost.
t=$(ms)
"$UPD_DRIVER" check "$UPD_STATE" "$UPD_REPO_URL" check >/dev/null
CHECK_MS=$(( $(ms) - t ))

# update_ms DRIVER FETCH: download + verify + install into slot b of a fresh
# copy of the device; sets OUT and prints the time.
update_ms() {
    local t
    fresh_state; sync; t=$(ms)
    OUT=$(HEARTH_FETCH_PROGRAM=$2 "$1" check "$UPD_STATE" "$UPD_REPO_URL")
    echo $(( $(ms) - t )) >"$W/upd.ms"
    [ "$(upd_field "$OUT" outcome)" = installed ] || { echo "updater did not install: $OUT" >&2; exit 1; }
    cmp -s "$W/payload" "$UPD_STATE/slots/b/payload/hearthd" || { echo "installed payload differs" >&2; exit 1; }
}
update_ms "$UPD_DRIVER" "$HEARTH_FETCH_PROGRAM"
UPD_MS=$(cat "$W/upd.ms")
echo "  $(echo "$OUT" | head -1 | cut -c1-160)"
HWM=$(upd_field "$OUT" vmhwm_kb)
if [ -n "$BASELINE" ]; then
    update_ms "$BASELINE/hearth-update-driver" "$BASELINE/fetch/hearth-fetch"
    BASE_MS=$(cat "$W/upd.ms")
    BASE_HWM=$(upd_field "$OUT" vmhwm_kb)
fi
CURL2=$(curl_ms)
CURL_MS=$(( CURL1 < CURL2 ? CURL1 : CURL2 ))

mbs() { awk -v b="$1" -v m="$2" 'BEGIN { if (m > 0) printf "%.1f", b / 1048576 / (m / 1000); else print "inf" }'; }
echo
echo "curl download (reference):         ${CURL_MS} ms  ($(mbs "$TOTAL" "$CURL_MS") MiB/s; runs ${CURL1} and ${CURL2} ms)"
echo "updater check only (manifest):     ${CHECK_MS} ms"
echo "updater download+verify+install:   ${UPD_MS} ms  ($(mbs "$TOTAL" "$UPD_MS") MiB/s; installed from the stream)"
awk -v u="$UPD_MS" -v c="$CURL_MS" 'BEGIN { r = u / c; printf "ratio updater/curl (time):         %.2f  (target <= 1.3: %s)\n", r, (r <= 1.3 ? "met" : "NOT MET") }'
echo "updater peak RSS (VmHWM):          $HWM kB  (target <= 16384 kB for ${MIB} MiB) $([ "${HWM:-999999}" -le 16384 ] && echo OK || echo OVER)"
awk -v h="$HWM" -v m="$MIB" 'BEGIN { printf "ratio peak RSS / bundle size:      %.4f\n", h / (m * 1024) }'
if [ -n "$BASELINE" ]; then
    echo "baseline updater ($BASELINE):"
    echo "  download+verify+install:         ${BASE_MS} ms  ($(mbs "$TOTAL" "$BASE_MS") MiB/s), peak RSS $BASE_HWM kB"
    awk -v u="$BASE_MS" -v c="$CURL_MS" -v n="$UPD_MS" 'BEGIN { printf "  ratio baseline/curl: %.2f; this build / baseline: %.2f\n", u / c, n / u }'
fi

# End to end with hearth-boot + hearthd (small bundle: the restart path).
echo
if upd_find_bin hearthd >/dev/null && upd_find_bin hearth-boot >/dev/null; then
    e2e=$(bash "$SRC/tests/integration/test_update_daemon.sh" 2>&1 | grep '^E2E_MS=' | tail -1)
    if [ -n "$e2e" ]; then
        E2E=$(echo "$e2e" | sed 's/E2E_MS=\([0-9]*\).*/\1/')
        GAP=$(echo "$e2e" | sed 's/.*GAP_MS=\([0-9]*\).*/\1/')
        echo "end to end published -> confirmed:  ${E2E} ms (checks every 0..4 s in this run)"
        echo "thermostat largest control gap:    ${GAP} ms (control tick 250 ms; ratio gap/tick $(awk -v g="$GAP" 'BEGIN{printf "%.2f", g/250}'))"
    else
        echo "end to end: test_update_daemon.sh did not report (see its output)"
    fi
else
    echo "end to end: hearthd / hearth-boot not built, skipped"
fi
