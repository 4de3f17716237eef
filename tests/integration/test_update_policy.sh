#!/usr/bin/env bash
# provisions: 5.3-3 5.3-4 5.3-5 5.3-6 5.3-11 5.3-12
# timeout: 300
#
# The administrator stays in control (5.3-6) while updates are automatic by
# default (5.3-4): with automatic updates off a check reports the update
# (with its release notes, the risks it mitigates and the expected downtime,
# 5.3-11/5.3-12) but installs nothing; a postponement is honoured; turning
# automatic updates back on installs. The updater thread checks shortly
# after start (5.3-5) and installs on its own with the default policy.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

upd_test_begin upd-pol || { echo "cannot create a work dir"; exit 1; }

upd_fixture "$W" 262144 65536 || { echo "fixture failed"; exit 1; }
upd_bundle "$W/v2.hbu" --version 2.0.0 --secver 2 --notes "Security fix release" \
    --mitigates "CVE-2026-1234: authentication bypass in the local API" --disruptive --downtime 20 \
    hearthd="$W/payload" >/dev/null
upd_publish "$W/v2.hbu" 2.0.0
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
URL=$UPD_REPO_URL
FP0=$(upd_boot_fingerprint)

st=$("$UPD_DRIVER" status "$UPD_STATE")
check "5.3-4/5.3-6 automatic updates on in the initialised state" grep -q '"policy":{"automatic":true' <<<"$st"

# Automatic off: reported, not installed, nothing downloaded.
"$UPD_DRIVER" policy "$UPD_STATE" off 0 >/dev/null
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL")
echo "  $out"
check "5.3-6 automatic off: update reported as available" \
    bash -c "[ '$(upd_field "$out" outcome)' = available ] && [ '$(upd_field "$out" bytes)' = 0 ]"
check "5.3-12 disruption flag and downtime reported" \
    bash -c "[ '$(upd_field "$out" disruptive)' = 1 ] && [ '$(upd_field "$out" downtime)' = 20 ]"
check "automatic off: nothing installed" bash -c "[ '$FP0' = '$(upd_boot_fingerprint)' ]"
n_req=$(upd_repo_requests "$W/repo" 2.0.0.hbu)
n_man=$(upd_repo_requests "$W/repo" .hbm)
# Positive control: the repository log does record this device's requests
# (the manifest it read to report the update).
check "no payload request made ($n_req; $n_man manifest requests logged)" bash -c "[ '$n_req' = 0 ] && [ '$n_man' -ge 1 ]"
check "5.3-11 availability logged for the user" upd_seclog_has "$UPD_STATE/events.log" update_available "automatic updates are off"

# Postponed: automatic on but postponed 24 h -> still only reported.
"$UPD_DRIVER" policy "$UPD_STATE" on 24 >/dev/null
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL")
check "5.3-6 postponement honoured ($(upd_field "$out" outcome))" \
    bash -c "[ '$(upd_field "$out" outcome)' = available ] && [ '$FP0' = '$(upd_boot_fingerprint)' ]"
st=$("$UPD_DRIVER" status "$UPD_STATE")
check "status shows the postponement" grep -q '"postponed_until":"20' <<<"$st"

# Check-only mode never downloads, whatever the policy.
"$UPD_DRIVER" policy "$UPD_STATE" on 0 >/dev/null
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" check)
check "check-only mode reports without installing" \
    bash -c "[ '$(upd_field "$out" outcome)' = available ] && [ '$FP0' = '$(upd_boot_fingerprint)' ]"

# Administrator installs explicitly while automatic is off (POST /install).
"$UPD_DRIVER" policy "$UPD_STATE" off 0 >/dev/null
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" install)
check "5.3-3 explicit install works with automatic off" bash -c "[ '$(upd_field "$out" outcome)' = installed ]"

# A fresh device with default policy: the updater thread checks shortly
# after start (first check 1..3 s here) and installs on its own.
upd_repo_stop_all
rm -rf "$W/state" "$W/ca" "$W/keys" "$W/www" "$W/repo" "$W/repo-tls" "$W/b-1.0.0.hbu"
upd_fixture "$W" 262144 65536 || exit 1
upd_bundle "$W/v2.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
upd_publish "$W/v2.hbu" 2.0.0
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
t0=$(date +%s%N)
out=$("$UPD_DRIVER" run "$UPD_STATE" "$UPD_REPO_URL" 30 86400 1 2)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  $out after ${ms} ms"
check "5.3-5 automatic check after start installed the update (restart requested)" \
    bash -c "[ '$(upd_field "$out" restart)' = 1 ] && [ $ms -ge 900 ] && [ $ms -lt 15000 ]"
boot=$("$UPD_DRIVER" bootcheck "$UPD_STATE")
check "boot decision would start the update on trial" bash -c "[ '$(upd_field "$boot" slot)' = b ]"

echo "# $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
