#!/usr/bin/env bash
# provisions: 5.9-1 5.9-2 5.9-3
# The real hearthd with its broker gone (docs/mqtt.md, "Offline"):
#  - 5.9-1: the thermostat keeps working through its local API;
#  - 5.9-2: state changes and security events made offline are queued
#    durably (outbox) and delivered in order once the broker is back, also
#    after hearthd was killed -9 while offline: nothing it had acknowledged
#    locally is lost;
#  - 5.9-3: reconnection is paced by the backoff, also against an endpoint
#    that accepts the connection and never completes TLS or never answers
#    CONNECT: each attempt is dropped at the connect deadline, retried at
#    backoff intervals (measured), and the device connects once the real
#    broker is back.
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

# Killed -9 while offline, restarted, still offline; meanwhile a hostile
# endpoint holds the broker's port: its first two connections are accepted
# and never answered (no TLS handshake), the next two complete TLS and never
# send a CONNACK. The restarted hearthd has a 1.5 s deadline for both.
kill -KILL "$HT_PID"
wait "$HT_PID" 2>/dev/null
: >"$HT_WORK/dev.hearthd.err"
TO_MS=1500
# The fleet's subscriber is paused meanwhile (its own retries would reach
# the hostile endpoint too); it carries on afterwards.
kill -STOP "$MQ_SUB_PID"
mq_silent_start "$MQ_PORT" "$W/silent.log" 2 2 || { ht_fail "hostile server starts"; ht_done; }
ht_daemon_start dev "${MQ_LINK_ARGS[@]}" --mqtt-connect-timeout "$TO_MS" || { ht_fail "hearthd restarts"; ht_done; }
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW"
ht_req PUT /api/v1/thermostat '{"target_c":24}' "$HT_TOKEN"
ht_check "after kill -9, offline: the local API still works" test "$HT_STATUS" = 200
for _ in $(seq 1 300); do
    [ "$(wc -l <"$W/silent.log")" -ge 4 ] && break
    sleep 0.1
done
# Backoff windows with base 1 s and no first delay: 1, 2, 4 s after
# attempts 1, 2, 3 (docs/backoff.md); each attempt is held TO_MS first.
ht_check "the hostile endpoint saw 4 attempts, each given up by hearthd" test "$(wc -l <"$W/silent.log")" -ge 4
intervals=$(python3 - "$W/silent.log" "$TO_MS" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])][:4]
to = int(sys.argv[2]) / 1000
held = [float(r[3]) - float(r[2]) for r in rows]
gaps = [float(rows[i + 1][2]) - float(rows[i][3]) for i in range(len(rows) - 1)]
print("held " + " ".join("%.2f" % h for h in held) + " s; backoff waits " + " ".join("%.2f" % g for g in gaps) + " s")
ok = len(rows) == 4 and [r[1] for r in rows] == ["silent", "silent", "tls", "tls"]
ok = ok and all(to - 0.05 <= h <= to + 1.5 for h in held)
ok = ok and all(0 <= g <= 2 ** i + 0.5 for i, g in enumerate(gaps))
if not ok: print(open(sys.argv[1]).read(), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
)
ok=$?
ht_check "each attempt dropped after the ${TO_MS} ms deadline, retries within the backoff windows 1, 2, 4 s ($intervals)" test "$ok" = 0
ht_check "the tls endpoint read a CONNECT on each connection" \
    bash -c "awk '\$2==\"tls\" && \$5<1 {bad=1} END {exit bad}' '$W/silent.log'"
ht_check "hearthd logged two TLS-handshake timeouts" \
    test "$(grep -c 'no TLS handshake within 1500 ms' "$HT_WORK/dev.hearthd.err")" -ge 2
ht_check "... and two CONNACK timeouts" test "$(grep -c 'no CONNACK within 1500 ms' "$HT_WORK/dev.hearthd.err")" -ge 2
wait "$MQ_SILENT_PID" 2>/dev/null
kill -CONT "$MQ_SUB_PID"

# The broker returns: everything queued arrives, in order.
mq_broker_restart || { ht_fail "broker restart"; ht_done; }
ht_check "back online after the broker returns (paced, within 30 s)" \
    mq_wait_for "$W/fleet.out" "hearth/$SER/status {\"v\":1,\"online\":true}" 600
ht_check "the offline state change 22 arrives" mq_wait_for "$W/fleet.out" '"target_c":22.00' 400
ht_check "the offline state change 23 (made before the kill -9) arrives" mq_wait_for "$W/fleet.out" '"target_c":23.00' 100
ht_check "the change made after the restart (24) arrives" mq_wait_for "$W/fleet.out" '"target_c":24.00' 100
ht_check "the offline failed login arrives as an event" mq_wait_for "$W/fleet.out" '"event":"login_failed"' 100
ht_check "the TLS-handshake timeout reaches the service as a security event" \
    mq_wait_for "$W/fleet.out" '"event":"service_connect_timeout","broker":"127.0.0.1","port":"'"$MQ_PORT"'","stage":"tls_handshake"' 100
ht_check "... and the CONNACK timeout" mq_wait_for "$W/fleet.out" '"stage":"connack"' 100
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
