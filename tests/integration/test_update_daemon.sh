#!/usr/bin/env bash
# provisions: 5.3-2 5.3-3 5.3-4 5.3-5 5.3-10 5.3-12 5.5-1
# timeout: 300
# serial: yes
#
# End to end with the real programs: hearth-boot supervises the real hearthd
# (slot A, 1.0.0); hearthd's updater thread checks the HTTPS repository,
# installs 2.0.0 into slot B when it is published, exits with the restart
# code; hearth-boot verifies and starts slot B on trial; the new hearthd
# self-tests (store, TLS listener, thermostat) and confirms it. Throughout,
# the thermostat keeps ticking except for the restart itself (5.3-12
# example 12), and the API answers GET /api/v1/updates.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-upd-e2e.XXXXXX")
BOOT_PID=""
SAMPLER=""
cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
    if [ -n "$BOOT_PID" ]; then
        local kids
        kids=$(cat /proc/"$BOOT_PID"/task/*/children 2>/dev/null)
        kill -TERM "$BOOT_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$BOOT_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BOOT_PID" 2>/dev/null
        for k in $kids; do kill -KILL "$k" 2>/dev/null; done
    fi
    upd_repo_stop_all
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

HEARTHD=$(upd_find_bin hearthd) || { echo "hearthd not built"; exit 1; }
BOOT=$(upd_find_bin hearth-boot) || { echo "hearth-boot not built"; exit 1; }
UPD_V1_PAYLOAD=$HEARTHD upd_fixture "$W" 4096 4096 || { echo "fixture failed"; exit 1; }
echo "release 2.0.0" >"$W/notes.txt"
upd_bundle "$W/v2.hbu" --version 2.0.0 --secver 2 --disruptive --downtime 5 \
    --mitigates "CVE-2026-0002" hearthd="$HEARTHD" notes.txt="$W/notes.txt" >/dev/null
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1

# hearth-boot -> hearthd (slot a); updater checks every 0..4 s. Both run as
# the device user (hearth-boot drops to it; hearthd inherits it).
upd_device_user "$W"
"$BOOT" "${UPD_USER_ARGS[@]}" --state "$UPD_STATE" --trust "$UPD_TRUST" --keyset "$UPD_STATE/keyset.hks" \
    --confirm-timeout 30 -- --listen 127.0.0.1:0 --foreground --heartbeat "$W/hb" \
    --update-url "$UPD_REPO_URL" --update-trust "$UPD_TRUST" --update-first-delay 0 \
    --update-first-window 0 --update-period 2 --update-notice 0 >"$W/boot.out" 2>"$W/boot.err" &
BOOT_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$W/boot.out" 2>/dev/null && break; sleep 0.1; done
check "hearthd started from slot a under hearth-boot" grep -q "listening on" "$W/boot.out"
SAMPLER=$(upd_heartbeat_sampler "$W/hb" "$W/hb.samples")
sleep 3
check "no update published yet: still slot a" bash -c "[ '$(upd_slot_field "$UPD_STATE" 'active slot')' = a ]"

# Publish 2.0.0 and wait for it to be confirmed on slot b.
t0=$(date +%s%3N)
upd_publish "$W/v2.hbu" 2.0.0
confirmed=""
for _ in $(seq 1 600); do
    if [ "$(upd_slot_field "$UPD_STATE" 'active slot')" = b ] &&
        [ "$(upd_slot_field "$UPD_STATE" 'pending slot')" = none ]; then confirmed=1; break; fi
    sleep 0.05
done
t1=$(date +%s%3N)
sleep 1
kill "$SAMPLER" 2>/dev/null; SAMPLER=""
check "5.3-4 update published -> installed -> restarted -> confirmed on slot b ($((t1 - t0)) ms)" \
    bash -c "[ -n '$confirmed' ]"
check "minimum security version advanced to 2" \
    bash -c "[ '$(upd_slot_field "$UPD_STATE" 'min security version')' = 2 ]"
check "update_installed logged" upd_seclog_has "$UPD_STATE/events.log" update_installed
check "5.3-12 the disruptive update was announced before it installed" bash -c \
    "grep -n -e update_disruption_announced -e update_installed '$UPD_STATE/events.log' | head -1 | grep -q update_disruption_announced"
check "update_confirmed logged after self-test" upd_seclog_has "$UPD_STATE/events.log" update_confirmed
check "hearthd restarted by hearth-boot (two ready lines)" bash -c "[ \$(grep -c 'listening on' '$W/boot.out') -ge 2 ]"
check "slot b payload includes the new file" test -f "$UPD_STATE/slots/b/payload/notes.txt"
gap=$(upd_max_gap "$W/hb.samples" "$t0")
echo "  thermostat control gap during the update: ${gap} ms (tick 250 ms)"
check "5.3-12 thermostat kept ticking: largest control gap ${gap} ms < 10000 ms" bash -c "[ $gap -gt 0 ] && [ $gap -lt 10000 ]"
echo "E2E_MS=$((t1 - t0)) GAP_MS=$gap"

echo "# $CHECKS checks, $FAILS failed"
if [ "$FAILS" -ne 0 ]; then echo "--- boot.err"; tail -40 "$W/boot.err"; exit 1; fi
