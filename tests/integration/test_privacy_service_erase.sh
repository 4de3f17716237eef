#!/usr/bin/env bash
# provisions: 5.11-2 5.11-4 6-3
# Erasing the device's personal data at the service, every part real
# (hearthd, mosquitto with the shipped ACL, hearth-fleet run, SQLite):
#  - 5.11-2: an admin asks on the device (POST /api/v1/privacy/service-erase);
#    the request is signed with the device key and waits in the device's
#    outbox and the broker while the service is down; when the service is
#    back it verifies the request and deletes the device's temperature
#    history, telemetry, events and state; a request the device did not sign
#    (a certificate under another CA, for the same device id) deletes
#    nothing;
#  - 5.11-4: the service's receipt, signed with its key, comes back; the
#    device checks it against the service CA and shows what was deleted
#    where (GET /api/v1/privacy/service-erase), and keeps it across a
#    restart. A plain user cannot ask for the erase;
#  - the device offline (the broker down): the page (Debian's chromium
#    driven by tests/integration/webui_driver.py --flow erase) shows that
#    receipt -- what was deleted where, the counts, what was kept and why,
#    the signer and that the device verified the signature -- and downloads
#    it and the consent receipt as files; an erase asked from the page then
#    waits (state "requested"), survives a restart of hearthd, and completes
#    with a verified receipt once the broker is back;
#  - change of ownership, the service's side (docs/erasure.md step 4): after
#    a factory reset through the API and the restart, the service's database
#    holds exactly one `factory_reset` event of the device (reset number 1,
#    by the API, no personal data in it); a second restart sends no more.
#    The service acts on it (5.11-2, 6-3): the consent it held from the old
#    owner is withdrawn and the shared history deleted, the device row records
#    that it changed hands, and `report` (JSON and HTML) shows it; the same
#    reset_count again (a re-sent notice) acts once. The device's event and
#    telemetry after the reset carry its reset epoch ("ep":1) and are stored
#    at that epoch.
# WEBUI_SCREENSHOTS=DIR keeps a PNG of the page with the receipt.
# needs: HEARTH_WITH_LINK HEARTH_FLEET
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
source "$(dirname "$0")/privacy_lib.sh"
ht_init
pv_start --history-interval 1 --telemetry-interval 1

ht_req GET /api/v1/privacy/service-erase "" "$HT_ADMIN_TOKEN"
[ "$HT_STATUS" = 200 ] && pv_jq '.state == "none" and .receipt == null' && ht_pass "no erase asked yet" || ht_fail "status: $HT_BODY"
ht_req PUT /api/v1/consents/temperature_history '{"granted":true}' "$HT_ADMIN_TOKEN"
held() { [ "$(pv_sql "SELECT (SELECT count(*) FROM privacy_history WHERE device='$SER') > 0 AND
    (SELECT count(*) FROM telemetry WHERE device='$SER') > 0 AND (SELECT count(*) FROM events WHERE device='$SER') > 0")" = 1 ]; }
ht_check "the service holds the device's history, telemetry and events" pv_wait held

# A forged request: a certificate for the same device id from a CA the
# service does not trust for devices (the service CA), signed with its key.
mq_issue "$MQ_CA" "$HT_WORK/forger" "$SER" || ht_fail "forger certificate"
req="{\"device\":\"$SER\",\"id\":\"00000000-0000-4000-8000-000000000001\",\"ts\":1,\"scope\":\"personal_data\"}"
sig=$(printf '%s' "$req" | openssl dgst -sha256 -sign "$HT_WORK/forger.key" | basenc --base64url | tr -d '=\n')
cert=$(openssl x509 -in "$HT_WORK/forger.crt" -outform DER | basenc --base64url | tr -d '=\n')
forged=$(jq -cn --arg r "$req" --arg c "$cert" --arg s "$sig" '{v:1,type:"erase",request:$r,cert:$c,sig:$s}')
mq_pub "$HT_WORK/forger" -t "hearth/$SER/privacy" -m "$forged" || ht_fail "forger publishes"
refused() { grep -q "rejected a privacy message from $SER: .*does not chain" "$HT_WORK/fleet.err"; }
ht_check "an erase request not signed by the device is refused" pv_wait refused
ht_check "  ... and deletes nothing" held

ht_req POST /api/v1/users '{"username":"bob","password":"plain user passphrase 42","role":"user"}' "$HT_ADMIN_TOKEN"
ht_login bob "plain user passphrase 42" && BOB=$HT_TOKEN
ht_req POST /api/v1/privacy/service-erase "" "$BOB"
ht_expect_status 403 "a plain user cannot ask for the erase"

# The service goes down; the request waits.
kill -TERM "$FPID"; wait "$FPID" 2>/dev/null
ht_req POST /api/v1/privacy/service-erase "" "$HT_ADMIN_TOKEN"
rid=$(pv_val request_id)
[ "$HT_STATUS" = 202 ] && pv_jq '.state == "requested"' && [ ${#rid} = 36 ] &&
    ht_pass "5.11-2 the erase is requested (202) while the service is down" || ht_fail "request: $HT_STATUS $HT_BODY"
sent() { pv_obs_privacy erase | grep -qF "$rid"; }
ht_check "  ... the signed request left the device (observer)" pv_wait sent
sleep 1
ht_req GET /api/v1/privacy/service-erase "" "$HT_ADMIN_TOKEN"
pv_jq '.state == "requested" and .receipt == null' &&
    ht_pass "  ... and waits: no receipt while the service is down" || ht_fail "status: $HT_BODY"

t0=$(date +%s)
pv_fleet_start
confirmed() { ht_req GET /api/v1/privacy/service-erase "" "$HT_ADMIN_TOKEN"; pv_jq '.state == "confirmed"'; }
ht_check "5.11-4 the service's signed receipt reaches the device and is accepted" pv_wait confirmed
shows_deleted() {
    printf '%s' "$HT_BODY" | jq -e --arg ser "$SER" --arg rid "$rid" --arg by "$HT_ADMIN_USER" '
        .receipt.signer == "hearth-fleet" and .requested_by == $by and
        (.receipt.receipt | fromjson |
            .device == $ser and .request == $rid and (.kept | length) >= 1 and
            all(.deleted[]; has("what") and has("where") and has("rows")) and
            (.deleted | map({(.where): .rows}) | add |
                .["fleet database, privacy_history"] > 0 and .["fleet database, telemetry"] > 0 and
                .["fleet database, events"] > 0))' >/dev/null
}
ht_check "5.11-4 the device shows what was deleted where" shows_deleted
erased_at=$(pv_sql "SELECT max(received) FROM privacy_erasures WHERE device='$SER'")
gone() { [ "$(pv_sql "SELECT (SELECT count(*) FROM privacy_history WHERE device='$SER' AND received < $erased_at) +
    (SELECT count(*) FROM telemetry WHERE device='$SER' AND received < $erased_at) +
    (SELECT count(*) FROM events WHERE device='$SER' AND received < $erased_at)")" = 0 ]; }
[ -n "$erased_at" ] && [ "$erased_at" -ge "$t0" ] && gone &&
    ht_pass "5.11-2 the service deleted everything it held of the device from before the erase" ||
    ht_fail "left at the service: erased_at=$erased_at"

ht_daemon_stop
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" || ht_fail "restart"
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW"
ht_req GET /api/v1/privacy/service-erase "" "$HT_TOKEN"
pv_jq ".state == \"confirmed\" and .request_id == \"$rid\"" &&
    ht_pass "the receipt is kept across a restart" || ht_fail "after restart: $HT_BODY"

# 5.11-4: the person checks the downloaded receipt again on their own
# computer, with docs/privacy.md's commands (jq, openssl) and the service CA.
printf '%s' "$HT_BODY" >"$HT_WORK/receipt.json"
b64url() { local s; s=$(tr '_-' '/+'); while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d; }
jq -r .receipt.cert "$HT_WORK/receipt.json" | b64url >"$HT_WORK/svc.der"
jq -r .receipt.sig "$HT_WORK/receipt.json" | b64url >"$HT_WORK/sig.der"
jq -j .receipt.receipt "$HT_WORK/receipt.json" >"$HT_WORK/receipt.txt"
openssl x509 -inform DER -in "$HT_WORK/svc.der" -out "$HT_WORK/svc.pem" 2>/dev/null
openssl x509 -in "$HT_WORK/svc.pem" -pubkey -noout >"$HT_WORK/svc.pub" 2>/dev/null
ht_check "5.11-4 the downloaded receipt carries the signer's certificate, which chains to the service CA" \
    bash -c "openssl verify -CAfile '$MQ_CA/ca.crt' '$HT_WORK/svc.pem' | grep -q ': OK\$' &&
             openssl x509 -in '$HT_WORK/svc.pem' -noout -subject | grep -q 'CN *= *hearth-fleet'"
ht_check "5.11-4 ... and its signature over the receipt verifies with openssl" \
    bash -c "openssl dgst -sha256 -verify '$HT_WORK/svc.pub' -signature '$HT_WORK/sig.der' '$HT_WORK/receipt.txt' | grep -q 'Verified OK'"
sed 's/"rows":[0-9]*/"rows":0/' "$HT_WORK/receipt.txt" >"$HT_WORK/receipt-edited.txt"
ht_check "... and one with the counts edited does not (control)" \
    bash -c "! cmp -s '$HT_WORK/receipt.txt' '$HT_WORK/receipt-edited.txt' &&
             ! openssl dgst -sha256 -verify '$HT_WORK/svc.pub' -signature '$HT_WORK/sig.der' '$HT_WORK/receipt-edited.txt' >/dev/null 2>&1"

# The device offline: the broker (and the service with it) goes down; the
# page shows the receipt the service signed, then an erase asked now waits
# on the device.
mq_broker_stop
kill -TERM "$FPID"; wait "$FPID" 2>/dev/null
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    SPKI=$(openssl s_client -connect "127.0.0.1:$HT_PORT" </dev/null 2>/dev/null | openssl x509 -pubkey -noout |
        openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
    t0=$(date +%s)
    python3 "$(dirname "$0")/webui_driver.py" --flow erase --url "$HT_URL" --ca "$HT_WORK/ca/ca.crt" --spki "$SPKI" \
        --user "$HT_ADMIN_USER" --password "$HT_ADMIN_PW" --work "$HT_WORK" --screenshots "${WEBUI_SCREENSHOTS:-}" \
        >"$HT_WORK/driver.out" 2>"$HT_WORK/driver.err"
    grep -E '^(ok|FAIL) ' "$HT_WORK/driver.out"
    n_ok=$(grep -c '^ok ' "$HT_WORK/driver.out"); n_fail=$(grep -c '^FAIL' "$HT_WORK/driver.out")
    HT_CHECKS=$((HT_CHECKS + n_ok + n_fail)); HT_FAILS=$((HT_FAILS + n_fail))
    [ "$n_ok" -ge 12 ] || ht_fail "the browser ran only $n_ok checks; $(tail -3 "$HT_WORK/driver.err")"
    echo "  browser: $(( $(date +%s) - t0 )) s"
else
    ht_untested "the erase receipt on the web page" "chromium and chromium-driver are not installed (scripts/deps.sh installs them)"
    ht_req POST /api/v1/privacy/service-erase "" "$HT_TOKEN"
fi
ht_req GET /api/v1/privacy/service-erase "" "$HT_TOKEN"
rid2=$(pv_val request_id)
pv_jq ".state == \"requested\" and .receipt == null" && [ ${#rid2} = 36 ] && [ "$rid2" != "$rid" ] &&
    ht_pass "5.11-2 an erase asked with the broker down is pending" || ht_fail "offline request: $HT_BODY"
ht_daemon_stop
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" || ht_fail "restart offline"
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW"
ht_req GET /api/v1/privacy/service-erase "" "$HT_TOKEN"
pv_jq ".state == \"requested\" and .request_id == \"$rid2\" and .receipt == null" &&
    ht_pass "5.11-2 ... and still pending after hearthd restarted, still offline" || ht_fail "after restart: $HT_BODY"
mq_broker_restart || ht_fail "the broker comes back"
pv_fleet_start
confirmed2() {
    ht_req GET /api/v1/privacy/service-erase "" "$HT_TOKEN"
    printf '%s' "$HT_BODY" | jq -e --arg rid "$rid2" --arg ser "$SER" '.state == "confirmed" and .request_id == $rid and
        .receipt.signer == "hearth-fleet" and (.receipt.receipt | fromjson | .request == $rid and .device == $ser and
        (.deleted | length) >= 1)' >/dev/null
}
# The device's reconnection is paced by its backoff (docs/backoff.md; it was
# offline for a few seconds since its restart: windows of 1, 2, 4, 8 s).
pv_wait_long() { local end=$((SECONDS + 45)); while [ "$SECONDS" -le "$end" ]; do "$@" && return 0; sleep 0.2; done; return 1; }
t0=$SECONDS
ht_check "5.11-4 once the broker is back the request completes with a receipt the device verified and accepted" pv_wait_long confirmed2
echo "  reconnect and receipt: $((SECONDS - t0)) s"
ht_check "  ... and the service recorded both erasures" \
    [ "$(pv_sql "SELECT count(DISTINCT request) FROM privacy_erasures WHERE device='$SER'")" = 2 ]

# Change of ownership: a factory reset is reported to the service once, and
# the service unlinks the old owner.
consent_at_service() { pv_sql "SELECT granted FROM privacy_consents WHERE device='$SER' AND purpose='temperature_history'"; }
history_at_service() { pv_sql "SELECT count(*) FROM privacy_history WHERE device='$SER'"; }
linked() { [ "$(consent_at_service)" = 1 ] && [ "$(history_at_service)" -gt 0 ]; }
# The owner's consent is still given; one history message of the device
# (sent with a certificate for its id: after the erasures above the
# service may hold none) makes sure the service holds some at the reset.
hnow=$(date +%s)
mq_pub "$HT_WORK/forger" -t "hearth/$SER/privacy" \
    -m "{\"v\":1,\"seq\":800,\"type\":\"history\",\"purpose\":\"temperature_history\",\"app\":\"thermostat\",\"ts\":$hnow,\"samples\":[{\"t\":${hnow}000,\"c\":20.5}]}" ||
    ht_fail "history published"
sleep 1 # the reset's time (whole seconds) is after the history's
pv_wait linked && ht_pass "before the reset the service holds the owner's consent and shared history" ||
    ht_fail "before the reset: consent '$(consent_at_service)', history $(history_at_service)"
t0=$SECONDS
reset_at=$(date +%s)
ht_req POST /api/v1/factory-reset "{\"password\":\"$HT_ADMIN_PW\",\"confirm\":\"factory reset\"}" "$HT_TOKEN"
ht_expect_status 202 "factory reset accepted"
pid=$HT_PID
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" 2>/dev/null
rc=$?
[ "$rc" = 75 ] && ht_pass "hearthd exits with the restart code after the reset" || ht_fail "exit status $rc after the reset"
resets() { pv_sql "SELECT count(*) FROM events WHERE device='$SER' AND event='factory_reset'"; }
[ "$(resets)" = 0 ] && ht_pass "nothing reached the service while the device was resetting" ||
    ht_fail "factory_reset events before the restart: $(resets)"
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" || ht_fail "restart after the reset"
one_reset() { [ "$(resets)" = 1 ]; }
ht_check "after the restart the service holds one factory_reset event of the device" pv_wait one_reset
detail=$(pv_sql "SELECT detail FROM events WHERE device='$SER' AND event='factory_reset'")
# Only these fields; none of them personal (the admin's name appears nowhere).
if pv_jq '.reason == "api" and .reset_count == 1 and (.reset_at | type) == "number" and
        (keys - ["v","seq","ep","ts","sev","event","reset_at","reset_count","reason"] | length) == 0' "$detail" &&
    ! printf '%s' "$detail" | grep -qF "$HT_ADMIN_USER"; then
    ht_pass "  ... reset number 1, by the API, time, and nothing personal"
else
    ht_fail "  ... its detail: '$detail'"
fi
dev_reset_at=$(printf '%s' "$detail" | jq -r '.reset_at')
# The new store's messages carry its reset epoch (docs/mqtt.md): the service
# keeps them apart from the old store's, whose seqs they reuse.
post_reset() {
    [ "$(pv_sql "SELECT ep || ' ' || json_extract(detail, '$.ep') FROM events WHERE device='$SER' AND event='factory_reset'")" = "1 1" ] &&
        [ "$(pv_sql "SELECT count(*) FROM telemetry WHERE device='$SER' AND ep = 1 AND json_extract(report, '$.ep') = 1 AND received >= $reset_at")" -ge 1 ]
}
ht_check "  ... the device's event and telemetry after the reset carry \"ep\":1 and are stored at epoch 1 (before it: $(pv_sql "SELECT group_concat(DISTINCT ep) FROM telemetry WHERE device='$SER' AND received < $reset_at"))" \
    pv_wait post_reset
unlinked() { [ "$(consent_at_service)" = 0 ] && [ "$(history_at_service)" = 0 ]; }
ht_check "5.11-2 6-3 the service acted on it: the old owner's consent is withdrawn and its shared history deleted" pv_wait unlinked
hands=$(pv_sql "SELECT reset_count || ' ' || reset_at || ' ' || changed_hands_at FROM devices WHERE id='$SER'")
read -r h_count h_at h_seen <<<"$hands"
[ "$h_count" = 1 ] && [ "$h_at" = "$dev_reset_at" ] && [ "${h_seen:-0}" -ge "$reset_at" ] &&
    ht_pass "  ... and recorded that the device changed hands (reset 1 at the device's reset time)" ||
    ht_fail "  ... the device row: '$hands' (reset_at $dev_reset_at)"
"$FLEET" report --db "$DB" --json >"$HT_WORK/report.json" 2>"$HT_WORK/report.err"
"$FLEET" report --db "$DB" --html >"$HT_WORK/report.html" 2>>"$HT_WORK/report.err"
ht_check "  ... which the fleet report shows, as JSON and on the HTML page" bash -c '
    jq -e --arg d "$1" --argjson at "$2" ".devices[] | select(.id == \$d) | .changed_hands.reset_count == 1 and .changed_hands.reset_at == \$at" "$3/report.json" >/dev/null &&
    grep -Eq "<tr class=\"device\"><td>$1</td>.*<td class=\"changed-hands\">factory reset 1 at [0-9-]+ [0-9:]+Z</td></tr>" "$3/report.html"' _ "$SER" "$dev_reset_at" "$HT_WORK"
reported() { [ "$(pv_sql "SELECT count(*) FROM events WHERE device='$SER' AND event='factory_reset_reported'")" = 1 ]; }
ht_check "  ... and the device logged that it reported it" pv_wait reported
named=$(pv_sql "SELECT count(*) FROM events WHERE device='$SER' AND received >= $reset_at AND detail LIKE '%\"$HT_ADMIN_USER\"%'")
[ "$named" = 0 ] && ht_pass "  ... no event the service received since the reset names the admin" ||
    ht_fail "$named events since the reset name the admin"
connects() { pv_sql "SELECT count(*) FROM events WHERE device='$SER' AND event='service_connected'"; }
c0=$(connects)
ht_daemon_stop
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" || ht_fail "second restart"
reconnected() { [ "$(connects)" -gt "$c0" ]; }
ht_check "the device connected again after a second restart" pv_wait reconnected
sleep 1
[ "$(resets)" = 1 ] && reported && ht_pass "  ... and sent no second factory_reset event" ||
    ht_fail "factory_reset events after the second restart: $(resets)"
echo "  reset reported: $((SECONDS - t0)) s"

# The same reset again (the device re-sends it with the same reset_count
# after a power cut, with a new seq) acts once: a consent the new owner gave
# after the reset stays. Sent with a certificate for the device's id.
now=$(date +%s)
mq_pub "$HT_WORK/forger" -t "hearth/$SER/privacy" \
    -m "{\"v\":1,\"seq\":900,\"type\":\"consent\",\"purpose\":\"temperature_history\",\"granted\":true,\"ts\":$now}" ||
    ht_fail "new owner's consent published"
regranted() { [ "$(consent_at_service)" = 1 ]; }
ht_check "a consent given after the reset is recorded" pv_wait regranted
mq_pub "$HT_WORK/forger" -t "hearth/$SER/events" \
    -m "{\"v\":1,\"seq\":901,\"ts\":$now,\"sev\":\"warning\",\"event\":\"factory_reset\",\"reset_at\":$dev_reset_at,\"reset_count\":1,\"reason\":\"api\"}" ||
    ht_fail "repeated factory_reset published"
two() { [ "$(resets)" = 2 ]; }
if pv_wait two; then
    [ "$(consent_at_service)" = 1 ] && [ "$(pv_sql "SELECT changed_hands_at FROM devices WHERE id='$SER'")" = "$h_seen" ] &&
        ht_pass "6-3 the same reset_count again acts once: the new owner's consent stays, the change of hands is not recorded again" ||
        ht_fail "the repeated reset acted: consent $(consent_at_service), $(pv_sql "SELECT changed_hands_at FROM devices WHERE id='$SER'") vs $h_seen"
else
    ht_fail "the repeated factory_reset event was not stored"
fi
ht_done
