#!/usr/bin/env bash
# provisions: 5.8-1 5.8-2
# Personal data and security parameters in transit only over encrypted,
# authenticated channels: tcpdump records the device's loopback traffic (its
# HTTPS port and its MQTT broker's port) during a whole session: setup with
# the label's setup password, the owner's own password, login, a target
# change, a sensor reading, the MQTT link with the temperature history
# consent given (state and history messages flowing). The capture must hold
# none of: the user name, the passwords, the session token, the temperature
# values, or the JSON keys that carry them. Positive controls: the capture
# holds TLS records on both ports, and a marker sent in the clear to the
# device's port during the capture is found (the search would see cleartext).
# needs: HEARTH_WITH_LINK
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
ht_init
command -v tcpdump >/dev/null || { ht_fail "tcpdump is not installed (scripts/deps.sh)"; ht_done; }
HT_ADMIN_USER=casimir.owner
HT_ADMIN_PW="quiet lantern orchard 7731"
mq_link_setup dev || { ht_fail "device and broker"; ht_done; }
sensor=$HT_WORK/sensor
echo 19.37 >"$sensor"
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" --port-option "temperature_file=$sensor" --history-interval 1 ||
    { ht_fail "hearthd starts"; ht_done; }
PCAP=$HT_WORK/session.pcap
tcpdump -i lo -U -s 0 -w "$PCAP" "tcp port $HT_PORT or tcp port $MQ_PORT" 2>"$HT_WORK/tcpdump.err" &
TD=$!
HT_PIDS+=("$TD")
for _ in $(seq 1 100); do grep -q "listening on lo" "$HT_WORK/tcpdump.err" && break; sleep 0.05; done
ht_check "tcpdump captures the device's ports on loopback" grep -q "listening on lo" "$HT_WORK/tcpdump.err"

# The session.
spw=$(ht_label_field dev setup_password)
ht_setup_admin dev || { ht_fail "setup"; ht_done; }
TOKEN=$HT_ADMIN_TOKEN
ht_req PUT /api/v1/thermostat '{"target_c":23.75,"mode":"heat"}' "$TOKEN"
ht_expect_status 200 "target changed to 23.75"
ht_req PUT /api/v1/consents/temperature_history '{"granted":true}' "$TOKEN"
ht_expect_status 200 "temperature history consent given"
mq_sub_start "$MQ_WORK/fleet" "$HT_WORK/obs.out" -t "hearth/$MQ_SERIAL/#" || ht_fail "observer"
flowing() { grep -q '"type":"history".*19.37' "$HT_WORK/obs.out" && grep -q '23.75' "$HT_WORK/obs.out"; }
for _ in $(seq 1 100); do flowing && break; sleep 0.1; done
ht_check "the state (target 23.75) and the history (19.37) went to the service" flowing
ht_req GET /api/v1/thermostat "" "$TOKEN"
ht_req GET /api/v1/thermostat/history "" "$TOKEN"
ht_req POST /api/v1/logout "" "$TOKEN"
curl -s --max-time 3 -H "X-Marker: cleartext-control-4471" "http://127.0.0.1:$HT_PORT/" >/dev/null 2>&1
# tcpdump writes each packet as it reads it (-U), but under load it reads
# late: stop it only once the last thing sent (the cleartext control, after
# the logout) is in the file, so the whole session before it is there too
# (bounded: 15 s).
for _ in $(seq 1 150); do grep -qaF -- "cleartext-control-4471" "$PCAP" 2>/dev/null && break; sleep 0.1; done
sleep 0.3
kill -INT "$TD"; wait "$TD" 2>/dev/null

# has STRING: the capture's bytes contain STRING.
has() { grep -qaF -- "$1" "$PCAP"; }
size=$(stat -c %s "$PCAP" 2>/dev/null || echo 0)
[ "$size" -gt 20000 ] && ht_pass "the capture holds the session ($size bytes)" || ht_fail "capture too small: $size"
tls_on() { # PORT: TLS application-data records (0x17 0x03 0x03) to or from PORT
    tcpdump -r "$PCAP" -w "$HT_WORK/port$1.pcap" "tcp port $1" 2>/dev/null
    LC_ALL=C grep -qaP '\x17\x03\x03' "$HT_WORK/port$1.pcap"
}
ht_check "positive control: TLS records on the device's HTTPS port" tls_on "$HT_PORT"
ht_check "positive control: TLS records on the broker's port" tls_on "$MQ_PORT"
ht_check "positive control: cleartext sent to the device's port is found in the capture" has "cleartext-control-4471"
# What must not be seen, by label (the secrets themselves are not printed).
declare -A secret=([user name]="$HT_ADMIN_USER" [owner password]="$HT_ADMIN_PW" [setup password]="$spw"
    [session token]="$TOKEN" [target temperature 23.75]="23.75" [measured temperature 19.37]="19.37"
    [key target_c]="target_c" [key current_c]="current_c" [key setup_password]="setup_password"
    [purpose temperature_history]="temperature_history" [key samples]="samples")
for label in "${!secret[@]}"; do
    if has "${secret[$label]}"; then ht_fail "5.8-2 the $label is in the clear in the capture"
    else ht_pass "5.8-1 5.8-2 no $label in the clear"; fi
done
ht_done
