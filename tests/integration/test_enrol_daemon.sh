#!/usr/bin/env bash
# provisions: 5.5-8
# The real hearthd enrols and renews by itself (daemon/enrol_glue.c), under
# its sandbox (Landlock, the kill-mode seccomp list in the release build):
# started with --enrol-url/--enrol-ca it obtains an operational certificate
# from a real `hearth-fleet enrol-server` at once, and renews it after 2/3 of
# its lifetime (30 s here: 33 s with back-dating, renewal after 22 s) while
# the old one is still valid; both are recorded as security events. Its MQTT
# link presents that certificate: a broker trusting only the service CA
# accepts it under its serial and refuses a device that never enrolled. With
# the endpoint gone, the device keeps serving its API and its certificate.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
mq_test_start
FLEET="$(ht_build_dir)/services/fleet/hearth-fleet"
SCA="$HT_WORK/service-ca"
"$FLEET" ca-init "$SCA" --server-names IP:127.0.0.1,DNS:localhost >"$HT_WORK/ca-init.out" 2>&1 ||
    { ht_fail "hearth-fleet ca-init: $(cat "$HT_WORK/ca-init.out")"; ht_done; }
cp "$SCA/ca.crt" "$HT_WORK/service-ca.crt"
chmod 644 "$HT_WORK/service-ca.crt"
ht_provision dev1 || { ht_fail "provision"; ht_done; }
S1=$(ht_label_field dev1 serial)
"$FLEET" enrol-server --ca "$SCA" --manufacturer-ca "$HT_WORK/ca/ca.crt" --cert "$SCA/server.crt" \
    --key "$SCA/server.key" --listen 127.0.0.1:0 --lifetime 30 >"$HT_WORK/enrol.out" 2>"$HT_WORK/enrol.err" &
ENROL_PID=$!
HT_PIDS+=("$ENROL_PID")
for _ in $(seq 1 100); do grep -q "listening on " "$HT_WORK/enrol.out" && break; sleep 0.05; done
URL=$(sed -n 's/.*listening on //p' "$HT_WORK/enrol.out")
[ -n "$URL" ] || { ht_fail "enrol-server start: $(cat "$HT_WORK/enrol.err")"; ht_done; }

ht_daemon_start dev1 --enrol-url "$URL" --enrol-ca "$HT_WORK/service-ca.crt" || { ht_fail "hearthd start"; ht_done; }
OPC="$HT_WORK/dev1/operational.crt"
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
    local n=$(($1 * 10)); shift
    for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}
ht_check "hearthd enrols at start" wait_for 10 test -s "$OPC"
ser1=$(openssl x509 -in "$OPC" -noout -serial 2>/dev/null)
openssl x509 -in "$OPC" -noout -subject -issuer -enddate >"$HT_WORK/op.txt" 2>&1
ht_check "its operational certificate: CN = its serial, from the service CA" \
    grep -qz "subject=CN = $S1.*issuer=CN = Hearth Service CA" "$HT_WORK/op.txt"
na1=$(date -d "$(sed -n 's/notAfter=//p' "$HT_WORK/op.txt")" +%s)
renewed() { [ "$(openssl x509 -in "$OPC" -noout -serial 2>/dev/null)" != "$ser1" ]; }
ht_check "hearthd renews before expiry" wait_for 30 renewed
ht_check "  ... before the old certificate expired ($(( na1 - $(date +%s) )) s left)" test "$(date +%s)" -lt "$na1"
ht_check "two certificates issued to $S1 (issued.log)" test "$(grep -c " $S1 " "$SCA/issued.log")" -ge 2
ht_check "enrolment recorded as security events" test "$(grep -c '"event":"enrolled"' "$HT_WORK/dev1/events.log")" -ge 2
ht_check "hearthd (kill-mode seccomp, Landlock) is alive" kill -0 "$HT_PID"

# The link presents the operational certificate: a broker that, like the
# shipped configuration, trusts only the service CA accepts the enrolled
# device under its serial, and refuses a device that never enrolled (whose
# factory certificate is all it has), so the broker is not accepting anyone.
cp "$SCA/crl.pem" "$HT_WORK/service-crl.pem"
chmod 644 "$HT_WORK/service-crl.pem" "$MQ_CA/ca.crt"
MQ_CAFILE="$HT_WORK/service-ca.crt" MQ_CRLFILE="$HT_WORK/service-crl.pem" mq_broker_start op ||
    { ht_fail "broker trusting only the service CA"; ht_done; }
BPORT=${MQ_PORTS[op]}
LINK=(--mqtt-broker "127.0.0.1:$BPORT" --mqtt-ca "$MQ_CA/ca.crt" --mqtt-first-delay-max 0)
ht_daemon_stop
: >"$HT_WORK/dev1.hearthd.err"
ht_daemon_start dev1 --enrol-url "$URL" --enrol-ca "$HT_WORK/service-ca.crt" "${LINK[@]}" ||
    { ht_fail "hearthd restart with the link"; ht_done; }
ht_check "5.5-8 the enrolled device's link is accepted by a broker trusting only the service CA" \
    wait_for 15 grep -q "connected to 127.0.0.1:$BPORT" "$HT_WORK/dev1.hearthd.err"
ht_check "  ... as its serial (the operational certificate's CN)" \
    wait_for 5 grep -q "u'$S1'" "${MQ_DIRS[op]}/mosquitto.log"
DEV1=("$HT_PID" "$HT_PORT" "$HT_URL")
ht_provision dev2 || { ht_fail "provision dev2"; ht_done; }
ht_daemon_start dev2 "${LINK[@]}" || { ht_fail "hearthd dev2 start"; ht_done; }
sleep 3
ht_check "control: a device with only its factory certificate is refused by that broker" \
    bash -c "grep -q 'connecting to 127.0.0.1:$BPORT' '$HT_WORK/dev2.hearthd.err' &&
             ! grep -q 'connected to 127.0.0.1:$BPORT' '$HT_WORK/dev2.hearthd.err'"
ht_daemon_stop
HT_PID=${DEV1[0]} HT_PORT=${DEV1[1]} HT_URL=${DEV1[2]}

# The endpoint goes away: the device keeps its function and certificate.
ht_req GET /api/v1/thermostat
before=$HT_STATUS
ht_daemon_stop "$ENROL_PID"
ser2=$(openssl x509 -in "$OPC" -noout -serial)
sleep 1
ht_req GET /api/v1/thermostat
ht_check "with the endpoint gone hearthd answers its API as before (HTTP $HT_STATUS)" \
    test "$HT_STATUS" = "$before" -a "$HT_STATUS" != 000
ht_check "... and keeps its stored certificate" test "$(openssl x509 -in "$OPC" -noout -serial)" = "$ser2"
ht_done
