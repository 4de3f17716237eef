#!/usr/bin/env bash
# provisions: 5.9-1 5.9-2 5.9-3
# The real hearthd with its broker gone (docs/mqtt.md, "Offline"):
#  - 5.9-1: the thermostat keeps working through its local API;
#  - 5.9-2: state changes and security events made offline are queued
#    durably (outbox) and delivered in order once the broker is back, also
#    after hearthd was killed -9 while offline: nothing it had acknowledged
#    locally is lost;
#  - 5.9-3: reconnection is paced by the backoff (not an attempt a second).
# needs: HEARTH_WITH_LINK
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
ht_init
mq_link_setup dev || { ht_fail "device and broker"; ht_done; }
W=$MQ_WORK
SER=$MQ_SERIAL
attempts() { grep -c "hearth link: connecting to" "$HT_WORK/dev.hearthd.err"; }

# The fleet's subscription is a persistent session (the shipped broker
# persists sessions across its restart), so nothing the device sends
# while the subscriber reconnects is missed.
mq_sub_start "$W/fleet" "$W/fleet.out" -c -i fleet-offline-test -t "hearth/+/state" -t "hearth/+/events" \
    -t "hearth/+/status" || { ht_fail "fleet subscribes"; ht_done; }
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" || { ht_fail "hearthd starts"; ht_done; }
ht_setup_admin dev || { ht_fail "setup"; ht_done; }
ht_check "online" mq_wait_for "$W/fleet.out" "hearth/$SER/status {\"v\":1,\"online\":true}"

mq_broker_stop
ht_check "the broker is down" bash -c "! kill -0 $MQ_PID 2>/dev/null"
# Offline: the thermostat keeps working; changes and events are queued.
for t in 22 23; do
    ht_req PUT /api/v1/thermostat "{\"target_c\":$t}" "$HT_ADMIN_TOKEN"
    ht_check "offline: the local API sets the target to $t" test "$HT_STATUS" = 200
    sleep 2.2 # state changes are published at most every 2 s (HEARTH_LINK_STATE_MIN_MS)
done
ht_req POST /api/v1/login '{"username":"admin","password":"wrong password offline"}'
ht_check "offline: a failed login is refused as usual" test "$HT_STATUS" = 401
sleep 0.5
ht_check "the link noticed and retries" bash -c "grep -q 'connection to 127.0.0.1:$MQ_PORT lost' '$HT_WORK/dev.hearthd.err'"

# Killed -9 while offline, restarted, still offline.
kill -KILL "$HT_PID"
wait "$HT_PID" 2>/dev/null
: >"$HT_WORK/dev.hearthd.err"
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" || { ht_fail "hearthd restarts"; ht_done; }
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW"
ht_req PUT /api/v1/thermostat '{"target_c":24}' "$HT_TOKEN"
ht_check "after kill -9, offline: the local API still works" test "$HT_STATUS" = 200
sleep 8
n=$(attempts)
ht_check "reconnection is paced: $n attempts in ~9 s offline (1/s would be 9)" test "$n" -le 7
ht_check "... but it does retry" test "$n" -ge 2

# The broker returns: everything queued arrives, in order.
mq_broker_restart || { ht_fail "broker restart"; ht_done; }
ht_check "back online after the broker returns (paced, within 30 s)" \
    mq_wait_for "$W/fleet.out" "hearth/$SER/status {\"v\":1,\"online\":true}" 600
ht_check "the offline state change 22 arrives" mq_wait_for "$W/fleet.out" '"target_c":22.00' 400
ht_check "the offline state change 23 (made before the kill -9) arrives" mq_wait_for "$W/fleet.out" '"target_c":23.00' 100
ht_check "the change made after the restart (24) arrives" mq_wait_for "$W/fleet.out" '"target_c":24.00' 100
ht_check "the offline failed login arrives as an event" mq_wait_for "$W/fleet.out" '"event":"login_failed"' 100
ht_check "they arrived in the order they were made (22, 23, 24)" \
    bash -c "grep -F 'hearth/$SER/state' '$W/fleet.out' | grep -o '\"target_c\":2[234].00' | uniq | tr '\n' ' ' | grep -q '22[.]00 .*23[.]00 .*24[.]00'"
ht_check "sequence numbers increase across the restart" \
    python3 - "$W/fleet.out" "$SER" <<'PY'
import json, sys
seqs = []
for line in open(sys.argv[1]):
    t, _, p = line.partition(" ")
    if t in ("hearth/%s/state" % sys.argv[2], "hearth/%s/events" % sys.argv[2]):
        try: seqs.append(json.loads(p)["seq"])
        except Exception: pass
# Delivery is at least once: a resend after a lost PUBACK repeats a seq.
uniq = [s for i, s in enumerate(seqs) if s not in seqs[:i]]
sys.exit(0 if len(uniq) >= 4 and uniq == sorted(uniq) else 1)
PY
ht_done
