#!/usr/bin/env bash
# provisions: 6-1 6-2 6-3 5.8-3
# Consent per purpose with every part real: hearthd -> mosquitto (shipped
# ACL, mutual TLS) -> hearth-fleet run, and a mosquitto_sub with the
# service's identity watching everything the device sends on
# hearth/<id>/privacy (an observer independent of the fleet):
#  - 6-1: GET /api/v1/privacy serves the notice generated from the inventory,
#    with the version docs/privacy-notice.md states; 5.8-3: it lists the
#    temperature sensor;
#  - 6-2: nothing is granted by default, and the temperature history the
#    device keeps never leaves it without the consent (while the device is
#    connected and sending its state); consent is given by an admin only,
#    recorded with user, time and notice version; the history sent carries
#    only samples taken after the consent; the receipt can be exported;
#  - 6-3: withdrawing takes effect at once: the withdrawal reaches the
#    service, which deletes the history it held, and no history leaves the
#    device after it (the state keeps flowing); the old usage-telemetry
#    route is the registry's usage_telemetry purpose.
# needs: HEARTH_WITH_LINK HEARTH_FLEET
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
source "$(dirname "$0")/privacy_lib.sh"
ht_init
pv_start --history-interval 1

# --- 6-1, 5.8-3: the notice
doc_version=$(sed -n 's/^Notice version `\([0-9a-f]*\)`.*/\1/p' "$HEARTH_SOURCE_DIR/docs/privacy-notice.md")
ht_req GET /api/v1/privacy "" "$HT_ADMIN_TOKEN"
[ "$HT_STATUS" = 200 ] && [ -n "$doc_version" ] && [ "$(pv_val notice_version)" = "$doc_version" ] &&
    ht_pass "6-1 the device serves the notice of docs/privacy-notice.md (version $doc_version)" ||
    ht_fail "notice: $HT_STATUS $(pv_val notice_version) vs '$doc_version'"
served_is_inventory() {
    printf '%s' "$HT_BODY" | jq -e --slurpfile inv "$HEARTH_SOURCE_DIR/docs/privacy/inventory.json" \
        '.notice == $inv[0] and any(.sensors[]; .kind == "temperature" and .app == "thermostat")
         and any(.holds[]; .item == "user_names" and .count == 1)' >/dev/null
}
ht_check "6-1 the served notice is the inventory; 5.8-3 the temperature sensor is listed" served_is_inventory

# --- 6-2: off by default, and nothing leaves without it
ht_req GET /api/v1/consents "" "$HT_ADMIN_TOKEN"
pv_jq '[.purposes[] | select(.id == "temperature_history" or .id == "usage_telemetry") | select(.granted == false and .since == null)] | length == 2' &&
    ht_pass "6-2 no consent is given by default" || ht_fail "default consents: $HT_BODY"
history_held() { ht_req GET /api/v1/thermostat/history "" "$HT_ADMIN_TOKEN"; pv_jq "(.samples | length) >= $1"; }
state_seen() { mq_sub_messages "$OBS" | grep -q "^hearth/$SER/state "; }
ht_check "the device keeps a temperature history (3 samples, one a second)" pv_wait history_held 3
ht_check "  ... and is connected: the observer sees its state" pv_wait state_seen
ht_req GET /api/v1/privacy "" "$HT_ADMIN_TOKEN"
pv_jq 'any(.holds[]; .item == "temperature_history" and .count >= 3)' &&
    ht_pass "GET /api/v1/privacy counts the history the device holds" || ht_fail "holds: $HT_BODY"
no_history_yet() { ! grep -q '"type":"history"' "$OBS"; }
ht_check "6-2 without consent no history leaves the device (the observer saw none)" no_history_yet

# Only an admin gives consent.
ht_req POST /api/v1/users '{"username":"bob","password":"plain user passphrase 42","role":"user"}' "$HT_ADMIN_TOKEN"
ht_login bob "plain user passphrase 42" && BOB=$HT_TOKEN
ht_req PUT /api/v1/consents/temperature_history '{"granted":true}' "$BOB"
ht_expect_status 403 "6-2 a plain user cannot give consent for the household"
ht_req PUT /api/v1/consents/advertising '{"granted":true}' "$HT_ADMIN_TOKEN"
ht_expect_status 404 "an unknown purpose is refused"
ht_req PUT /api/v1/consents/temperature_history '{"granted":"yes"}' "$HT_ADMIN_TOKEN"
ht_expect_status 422 "consent must be a boolean"

# --- give it
ht_req PUT /api/v1/consents/temperature_history '{"granted":true}' "$HT_ADMIN_TOKEN"
since=$(pv_val since)
[ "$HT_STATUS" = 200 ] && pv_jq ".granted == true and .by == \"$HT_ADMIN_USER\" and .notice_version == \"$doc_version\" and .since > 0" &&
    ht_pass "6-2 consent recorded with user, time and notice version" || ht_fail "grant: $HT_STATUS $HT_BODY"
granted_seen() { pv_obs_privacy consent | grep -q '"granted":true'; }
history_seen() { [ "$(pv_obs_privacy history | wc -l)" -ge 2 ]; }
ht_check "the service is told of the consent" pv_wait granted_seen
ht_check "with consent the history leaves the device (2 messages seen)" pv_wait history_seen
after_consent() {
    pv_obs_privacy history | cut -d' ' -f2- | jq -s -e "[.[].samples[]] | length > 0 and all(.t >= ($since + 1) * 1000)" >/dev/null
}
ht_check "6-2 only samples taken after the consent are sent" after_consent
stored() { [ "$(pv_sql "SELECT count(*) FROM privacy_history WHERE device = '$SER'")" -ge 1 ]; }
ht_check "the service stores the history under the consent" pv_wait stored
ht_req GET /api/v1/consents/receipt "" "$BOB"
pv_jq ".version == \"KI-CR-v1.1.0\" and .piiPrincipalId == \"bob\" and (.piiControllers | length) == 1
       and (.consentReceiptID | length) == 36 and .consentTimestamp > 0 and .noticeVersion == \"$doc_version\"
       and (.services[0].purposes | map({(.purposeId): .status}) | add)
           == {\"temperature_history\": \"granted\", \"usage_telemetry\": \"not granted\"}" &&
    ht_pass "6-2 the consent receipt (Kantara CR 1.1 fields) is exported" || ht_fail "receipt: $HT_STATUS $HT_BODY"

# --- 6-3: withdraw
ht_req PUT /api/v1/consents/temperature_history '{"granted":false}' "$HT_ADMIN_TOKEN"
[ "$HT_STATUS" = 200 ] && pv_jq '.granted == false' && ht_pass "6-3 consent withdrawn" || ht_fail "withdraw: $HT_BODY"
withdrawn_seen() { pv_obs_privacy consent | grep -q '"granted":false'; }
ht_check "6-3 the withdrawal reaches the service at once" pv_wait withdrawn_seen
deleted() { [ "$(pv_sql "SELECT count(*) FROM privacy_history WHERE device = '$SER'")" = 0 ] &&
    [ "$(pv_sql "SELECT granted FROM privacy_consents WHERE device = '$SER' AND purpose = 'temperature_history'")" = 0 ]; }
ht_check "6-3 the service deletes the history it held" pv_wait deleted
mark=$(mq_sub_messages "$OBS" | wc -l)
sleep 3 # three more samples are taken on the device
ht_check "  ... the device still samples (history held grows)" history_held 5
after=$(mq_sub_messages "$OBS" | tail -n +"$((mark + 1))")
withdraw_line=$(mq_sub_messages "$OBS" | grep -n '"type":"consent".*"granted":false' | head -1 | cut -d: -f1)
after_withdraw=$(mq_sub_messages "$OBS" | tail -n +"$((withdraw_line + 1))")
if printf '%s\n' "$after_withdraw" | grep -q '"type":"history"'; then
    ht_fail "6-3 history left the device after the withdrawal"
else
    ht_pass "6-3 no history leaves the device after the withdrawal"
fi
ht_req PUT /api/v1/thermostat '{"target_c":23.5}' "$HT_ADMIN_TOKEN"
state_after() { mq_sub_messages "$OBS" | tail -n +"$((mark + 1))" | grep -q "^hearth/$SER/state .*23.5"; }
ht_check "  ... (positive control: the link is up, the new state reached the observer)" pv_wait state_after
ht_check "no privacy message of the device was refused by the service" \
    test -z "$(pv_sql "SELECT count FROM rejections WHERE reason LIKE 'privacy/%'")"

# --- the usage telemetry consent is the registry's
ht_req PUT /api/v1/telemetry/consent '{"usage":true}' "$HT_ADMIN_TOKEN"
ht_req GET /api/v1/consents "" "$HT_ADMIN_TOKEN"
pv_jq 'any(.purposes[]; .id == "usage_telemetry" and .granted)' &&
    ht_pass "the telemetry consent route sets the registry's usage_telemetry" || ht_fail "usage: $HT_BODY"
ht_check "hearthd and hearth-fleet are still running" bash -c "kill -0 $HT_PID && kill -0 $FPID"
ht_done
