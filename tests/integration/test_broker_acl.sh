#!/usr/bin/env bash
# provisions: 5.5-1 5.5-4 5.5-5
# external: yes
# The shipped broker configuration (packaging/mosquitto/hearth.conf and
# hearth.acl) on a real mosquitto, with real mosquitto_pub/sub clients
# holding certificates issued at test time:
#  - 5.5-1: only TLS 1.2+ with ECDHE+AEAD and a client certificate from the
#    service CA; another CA's, an expired, a revoked (after the CRL is
#    reloaded) certificate, no certificate and plain MQTT are refused;
#  - 5.5-4/5.5-5: the device functionality reachable through the broker
#    (commands and update hints sent to a device) is open only to the
#    authenticated fleet service: another device cannot send a device
#    commands, read its traffic, or forge its replies, and a device cannot
#    feed itself commands or update hints.
# Every refusal is paired with the same flow allowed for the right client,
# so a broker that refused everything would fail.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
mq_test_start
mq_issue "$MQ_CA" "$W/devA" DEV-A
mq_issue "$MQ_CA" "$W/devB" DEV-B
mq_issue "$MQ_CA" "$W/devC" DEV-C
mq_issue "$MQ_CA" "$W/expired" DEV-E --expired
mq_ca_init "$W/rogue-ca" "Rogue CA"
mq_issue "$W/rogue-ca" "$W/rogue" DEV-A
mq_issue "$W/rogue-ca" "$W/rogue-fleet" hearth-fleet
mq_broker_start || { ht_fail "broker start"; ht_done; }

# got OUT PATTERN: has the subscriber written a "topic payload" line
# matching PATTERN (fixed string)? Waits up to 5 s.
got() {
    local i
    for _ in $(seq 1 100); do
        mq_sub_messages "$1" | grep -qF -- "$2" && return 0
        sleep 0.05
    done
    return 1
}
# never OUT PATTERN: no line matching PATTERN (after a later marker arrived).
never() { ! mq_sub_messages "$1" | grep -qF -- "$2"; }

# ------------------------------------------------ device -> fleet
mq_sub_start "$W/fleet" "$W/fleet.out" -t 'hearth/+/state' -t 'hearth/+/telemetry' \
    -t 'hearth/+/events' -t 'hearth/+/cmd/res' -t 'hearth/+/status' -t 'hearth/+/privacy' ||
    { ht_fail "fleet subscribes"; ht_done; }
FLEET_SUB=$MQ_SUB_PID
for t in state telemetry events cmd/res status privacy; do
    mq_pub "$W/devA" -t "hearth/DEV-A/$t" -m "{\"v\":1,\"own\":\"$t\"}"
    ht_check "positive: device A publishes hearth/DEV-A/$t, the fleet receives it" \
        got "$W/fleet.out" "hearth/DEV-A/$t {\"v\":1,\"own\":\"$t\"}"
done

# Device A writes into device B's topics: nothing reaches the fleet. The
# marker, published by A afterwards on its own topic, proves the fleet's
# subscription was live and the forged messages would have come first.
for t in state telemetry events cmd/res status privacy; do
    mq_pub "$W/devA" -t "hearth/DEV-B/$t" -m "{\"v\":1,\"forged\":\"$t\"}"
done
mq_pub "$W/devA" -t hearth/DEV-A/state -m '{"v":1,"marker":1}'
got "$W/fleet.out" '"marker":1' && never "$W/fleet.out" '"forged"' &&
    ht_pass "device A cannot publish on device B's state/telemetry/events/cmd/res/status/privacy" ||
    ht_fail "device A's forged messages for device B: $(mq_sub_messages "$W/fleet.out" | grep forged)"

# ------------------------------------------------ fleet -> device
mq_sub_start "$W/devA" "$W/a.out" -t hearth/DEV-A/cmd/req -t hearth/DEV-A/updates ||
    ht_fail "device A subscribes to its own cmd/req and updates"
A_SUB=$MQ_SUB_PID
# Device B tries every way to see A's commands: the exact topics, + and #.
MQ_SUB_OK=1
mq_sub_start "$W/devB" "$W/b.out" -t hearth/DEV-A/cmd/req -t hearth/DEV-A/updates \
    -t 'hearth/+/cmd/req' -t 'hearth/#' -t '#' || MQ_SUB_OK=0
B_SUB=$MQ_SUB_PID
mq_pub "$W/fleet" -t hearth/DEV-A/cmd/req -m '{"v":1,"id":"r1","method":"GET","path":"/api/v1/thermostat"}'
mq_pub "$W/fleet" -t hearth/DEV-A/updates -m '{"v":1,"version":"9.9.9","delay_s":0,"spread_s":0}'
ht_check "positive: the fleet's command reaches device A" got "$W/a.out" 'hearth/DEV-A/cmd/req {"v":1,"id":"r1"'
ht_check "positive: the fleet's update hint reaches device A" got "$W/a.out" 'hearth/DEV-A/updates {"v":1,"version":"9.9.9"'
[ "$MQ_SUB_OK" = 1 ] && never "$W/b.out" 'hearth/DEV-A' &&
    ht_pass "device B (subscribed to A's topics, hearth/+/cmd/req, hearth/#, #) receives none of A's messages" ||
    ht_fail "device B saw: $(mq_sub_messages "$W/b.out")"

# Device B sends device A a command and an update hint; device A publishes
# to its own request and update topics: A receives neither (the fleet's
# marker afterwards shows A's subscription was live).
mq_pub "$W/devB" -t hearth/DEV-A/cmd/req -m '{"v":1,"id":"evilB","method":"PUT","path":"/api/v1/thermostat","body":{}}'
mq_pub "$W/devB" -t hearth/DEV-A/updates -m '{"v":1,"version":"6.6.6","delay_s":0,"spread_s":0}'
mq_pub "$W/devA" -t hearth/DEV-A/cmd/req -m '{"v":1,"id":"evilA","method":"PUT","path":"/api/v1/thermostat","body":{}}'
mq_pub "$W/devA" -t hearth/DEV-A/updates -m '{"v":1,"version":"6.6.7","delay_s":0,"spread_s":0}'
mq_pub "$W/fleet" -t hearth/DEV-A/cmd/req -m '{"v":1,"id":"marker2","method":"GET","path":"/api/v1/thermostat"}'
got "$W/a.out" '"id":"marker2"' && never "$W/a.out" evil && never "$W/a.out" '6.6.' &&
    ht_pass "device B cannot command device A; device A cannot write its own cmd/req or updates" ||
    ht_fail "device A received: $(mq_sub_messages "$W/a.out")"

# Device A reads device B's telemetry: B publishes, A (subscribed to B's
# topic and to hearth/+/telemetry) gets nothing, the fleet gets it.
mq_sub_start "$W/devA" "$W/a2.out" -t hearth/DEV-B/telemetry -t 'hearth/+/telemetry' -t hearth/DEV-B/state ||
    ht_fail "device A's subscription to B's telemetry was not even answered"
A2_SUB=$MQ_SUB_PID
mq_pub "$W/devB" -t hearth/DEV-B/telemetry -m '{"v":1,"fromB":1}'
mq_pub "$W/devB" -t hearth/DEV-B/state -r -m '{"v":1,"fromB":2}'
ht_check "positive: device B's telemetry reaches the fleet" got "$W/fleet.out" 'hearth/DEV-B/telemetry {"v":1,"fromB":1}'
ht_check "positive: device B's state reaches the fleet" got "$W/fleet.out" 'hearth/DEV-B/state {"v":1,"fromB":2}'
never "$W/a2.out" fromB && ht_pass "device A cannot read device B's telemetry or state" ||
    ht_fail "device A read: $(mq_sub_messages "$W/a2.out")"
# A retained message is delivered at subscription time: B's state is retained.
mq_sub_start "$W/devA" "$W/a3.out" -t hearth/DEV-B/state -t 'hearth/#'
A3_SUB=$MQ_SUB_PID
mq_sub_start "$W/fleet" "$W/f3.out" -t hearth/DEV-B/state
F3_SUB=$MQ_SUB_PID
ht_check "positive: the fleet gets device B's retained state on subscribing" got "$W/f3.out" '"fromB":2'
never "$W/a3.out" fromB && ht_pass "device A does not get device B's retained state" ||
    ht_fail "device A got B's retained state"

# The user name in CONNECT is ignored: device A claiming to be hearth-fleet
# stays device A.
mq_sub_start "$W/devA" "$W/spoof.out" -u hearth-fleet -t 'hearth/+/state' -t 'hearth/+/cmd/res'
SPOOF_SUB=$MQ_SUB_PID
mq_pub "$W/devB" -t hearth/DEV-B/state -r -m '{"v":1,"fromB":3}'
ht_check "positive: B's new state reaches the fleet" got "$W/fleet.out" '"fromB":3'
never "$W/spoof.out" fromB && ht_pass "device A's CONNECT user name 'hearth-fleet' grants nothing (identity = certificate CN)" ||
    ht_fail "user-name spoofing read: $(mq_sub_messages "$W/spoof.out")"

# Fleet's own rights stop at its ACL: it cannot publish device data.
mq_pub "$W/fleet" -t hearth/DEV-A/state -m '{"v":1,"fleetforged":1}'
mq_pub "$W/devA" -t hearth/DEV-A/state -m '{"v":1,"marker":3}'
got "$W/fleet.out" '"marker":3' && never "$W/fleet.out" fleetforged &&
    ht_pass "the fleet service cannot publish as a device (hearth/DEV-A/state)" ||
    ht_fail "the fleet forged device A's state"
for p in "$FLEET_SUB" "$A_SUB" "$B_SUB" "$A2_SUB" "$A3_SUB" "$F3_SUB" "$SPOOF_SUB"; do
    MQ_SUB_PID=$p; mq_sub_stop
done

# ------------------------------------------------ who may connect
# tls_try ARGS...: a TLS handshake as device A completes (openssl s_client).
tls_try() {
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$MQ_PORT" -CAfile "$MQ_CA/ca.crt" \
        -cert "$W/devA.crt" -key "$W/devA.key" "$@" >"$W/tls.out" 2>&1 &&
        grep -q "Verify return code: 0" "$W/tls.out" && ! grep -q "Cipher is (NONE)" "$W/tls.out"
}
# refused_for PREFIX REASON: in TLS 1.2 (where the broker's verdict on the
# client certificate ends the handshake) the broker's alert is REASON.
refused_for() {
    echo | timeout 5 openssl s_client -tls1_2 -connect "127.0.0.1:$MQ_PORT" -CAfile "$MQ_CA/ca.crt" \
        -cert "$1.crt" -key "$1.key" >"$W/alert.out" 2>&1
    grep -q "alert $2" "$W/alert.out"
}
ht_check "positive: device A's certificate is accepted" mq_connect_ok "$W/devA"
ht_check "positive: device C's certificate is accepted before revocation" mq_connect_ok "$W/devC"
if mq_connect_ok "$W/rogue"; then ht_fail "another CA's certificate (CN DEV-A) accepted"
else ht_pass "another CA's certificate for CN DEV-A refused"; fi
ht_check "the broker's reason: alert unknown ca" refused_for "$W/rogue" "unknown ca"
if mq_connect_ok "$W/rogue-fleet"; then ht_fail "another CA's hearth-fleet certificate accepted"
else ht_pass "another CA's certificate for CN hearth-fleet refused"; fi
if mq_connect_ok "$W/expired"; then ht_fail "expired certificate accepted"
else ht_pass "expired certificate refused"; fi
ht_check "the broker's reason: alert certificate expired" refused_for "$W/expired" "certificate expired"
if mq_connect_ok ""; then ht_fail "a client without a certificate was accepted"
else ht_pass "no client certificate: refused"; fi
mq_client_args ""
if timeout 5 mosquitto_pub "${MQ_ARGS[@]}" -u hearth-fleet -P guess -t hearth/DEV-A/cmd/req -m x 2>/dev/null; then
    ht_fail "user name and password without a certificate accepted"
else ht_pass "user name + password without a certificate (anonymous): refused"; fi
if timeout 5 mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" -V mqttv311 -t hearth/DEV-A/cmd/req -m x 2>/dev/null; then
    ht_fail "plain MQTT (no TLS) accepted"
else ht_pass "plain MQTT without TLS: refused"; fi

# TLS policy: 1.2 with an AEAD suite works, 1.1 and CBC suites do not.
ht_check "positive: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 accepted" tls_try -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
ht_check "positive: TLS 1.3 accepted" tls_try -tls1_3
if tls_try -tls1_1 -cipher 'ALL:@SECLEVEL=0'; then ht_fail "TLS 1.1 accepted"; else ht_pass "TLS 1.1 refused"; fi
if tls_try -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256; then ht_fail "TLS 1.2 CBC suite accepted"
else ht_pass "TLS 1.2 CBC suite (ECDHE-ECDSA-AES128-SHA256) refused"; fi

# Revocation: C is revoked, the CRL reloaded with SIGHUP (no restart):
# C is refused, A still accepted.
mq_revoke "$MQ_CA" "$W/devC.crt"
ht_check "broker reloaded on SIGHUP" mq_broker_reload
if mq_connect_ok "$W/devC"; then ht_fail "revoked certificate still accepted after reload"
else ht_pass "revoked certificate (device C) refused after the CRL reload"; fi
ht_check "the broker's reason for device C: alert certificate revoked" refused_for "$W/devC" "certificate revoked"
ht_check "positive: device A still accepted after C's revocation" mq_connect_ok "$W/devA"
ht_done
