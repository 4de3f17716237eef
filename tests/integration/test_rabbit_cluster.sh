#!/usr/bin/env bash
# provisions: 5.5-1 5.9-1 5.9-2
# timeout: 420
# serial: yes
# needs: HEARTH_WITH_LINK HEARTH_FLEET
# release-only: yes
#   (two minutes of CI under the sanitizers for code they already see: the
#   link's reconnection, broker list and outbox run under ASan in
#   integration.link_mqtt, link_offline and fleet_device, hearth-fleet's
#   ingest in fleet_ingest and fleet_device)
# A three-node RabbitMQ 3.10 cluster (Debian's rabbitmq-server, MQTT plugin)
# started by the test on loopback with the shipped configuration
# (packaging/rabbitmq/) and the per-device permissions made by the shipped
# tool (hearth-rabbitmq-device), used by the real hearthd (three devices,
# MQTT 3.1.1, each given the three nodes with --mqtt-broker) and the real
# `hearth-fleet run` (MQTT 3.1.1, SQLite) ingesting from another node:
#  - every node accepts a certificate login and routes its messages to the
#    fleet identity connected to another node (mosquitto_pub/_sub probes);
#  - topic permissions per identity: a device cannot publish to or
#    subscribe to another device's topics, nor read the fleet-wide
#    wildcard, nor take another device's session queue by using its
#    serial as client id; the fleet identity cannot publish device topics;
#    each refusal next to a control that passes; no client certificate, or
#    one from another CA: refused in the TLS handshake; a device removed
#    with the shipped tool is refused at its next CONNECT;
#  - 5.9-1: node 1, to which two of the hearthd devices are connected, is
#    killed (SIGKILL) while the devices' local API takes a stream of
#    thermostat changes; each of them moves on to the next address of its
#    list (node 2), paced by the backoff module, the third device (on node 2)
#    carries on, and every change a device acknowledged locally (HTTP 200)
#    reaches hearth-fleet's database as the event the device sent
#    (thermostat_changed, by sequence number: none missing, duplicates only
#    as repeats of the same sequence number, in order), the last target of
#    each device is the state the database holds, and a command the fleet
#    sent right after the kill is executed and answered; a persistent
#    session made on the lost node resumes on another node with the command
#    queued meanwhile (quorum session queues);
#  - 5.9-2: while its connection to the service is lost the thermostat
#    works on: every local change is answered 200, the control loop's
#    heartbeat does not stall.
# 5.5-1: the only credential of devices and service is their certificate
# (TLS 1.3/1.2, verify_peer, fail_if_no_peer_cert); no password, no
# anonymous login.
# The devices log in with their factory certificates: the test's nodes
# also trust the manufacturer CA (rb_pki's extra CA), as the mosquitto link
# tests do; the shipped configuration trusts the service CA alone
# (operational certificates, docs/operational-identity.md).
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
source "$(dirname "$0")/rabbit_lib.sh"
ht_init
if ! rb_available || ! command -v mosquitto_pub >/dev/null; then
    ht_untested "RabbitMQ cluster" "rabbitmq-server 3.10 with the MQTT plugin or mosquitto-clients not installed"
    ht_done
fi
FLEET=$(ht_bin hearth-fleet) || { ht_fail "hearth-fleet not built"; ht_done; }
T0=$(date +%s)
phase() { echo "# +$(($(date +%s) - T0))s: $*"; }

A=HTH-0A0A0A0A0A0A
B=HTH-0B0B0B0B0B0B
D=HTH-0D0D0D0D0D0D
# Real devices: provisioned by the project's tool (factory identity, serial
# as certificate CN), their users made before the cluster boots.
DEVS=(dev1 dev2 dev3)
declare -A SER
ht_provision dev1 || { ht_fail "provision dev1"; ht_done; } # (makes the manufacturer CA)
pids=()
for d in "${DEVS[@]:1}"; do ht_provision "$d" & pids+=("$!"); done
for p in "${pids[@]}"; do wait "$p" || { ht_fail "provision"; ht_done; }; done
for d in "${DEVS[@]}"; do SER[$d]=$(ht_label_field "$d" serial); done
rb_pki "$HT_WORK/ca/ca.crt"
rb_identities "$A" "$B" "$D" "${SER[@]}"
rb_cluster_start || { ht_fail "three-node cluster started"; ht_done; }
ht_pass "three-node cluster of RabbitMQ nodes on loopback started in ${RB_START_SECONDS}s"
phase "cluster up"
W="$HT_WORK/mq"; mkdir -p "$W"
# ------------------------------------------------------------- hearthd, hearth-fleet
# The real service: hearth-fleet run (MQTT 3.1.1, persistent session as
# client id hearth-fleet-run) on node 3 first. The real devices: hearthd
# with the three nodes as their address list, dev1 and dev2 node 1 first,
# dev3 node 2 first (rotated lists, docs/deployment-scale.md).
chmod 644 "$MQ_CA/ca.crt"
DB="$HT_WORK/fleet.db"
"$FLEET" run --db "$DB" --mqtt-protocol 3.1.1 --client-id hearth-fleet-run --broker "127.0.0.1:${RB_MQTTS[3]}" \
    --broker "127.0.0.1:${RB_MQTTS[2]}" --broker "127.0.0.1:${RB_MQTTS[1]}" --ca "$MQ_CA/ca.crt" \
    --cert "$MQ_WORK/fleet.crt" --key "$MQ_WORK/fleet.key" 2>"$HT_WORK/fleet.err" &
FPID=$!
HT_PIDS+=("$FPID")
declare -A ORDER=([dev1]="1 2 3" [dev2]="1 2 3" [dev3]="2 3 1") URL DPID TOKEN
for d in "${DEVS[@]}"; do
    args=()
    for n in ${ORDER[$d]}; do args+=(--mqtt-broker "127.0.0.1:${RB_MQTTS[$n]}"); done
    mkdir -p "$HT_WORK/beat-$d"
    ht_daemon_start "$d" "${args[@]}" --mqtt-ca "$MQ_CA/ca.crt" --mqtt-protocol 3.1.1 --mqtt-first-delay-max 0 \
        --heartbeat "$HT_WORK/beat-$d/hb" || { ht_fail "hearthd $d starts"; ht_done; }
    URL[$d]=$HT_URL
    DPID[$d]=$HT_PID
done
# Their setup (Argon2id: seconds each here) runs while the broker's
# permissions are probed below (which make no API requests).
(
    for d in "${DEVS[@]}"; do
        HT_URL=${URL[$d]}
        ht_setup_admin "$d" && echo "$HT_ADMIN_TOKEN" >"$W/token-$d"
    done
) >"$W/setup.out" 2>&1 &
SETUP=$!
phase "hearth-fleet and ${#DEVS[@]} hearthd started"
declare -A C
for cn in "$A" "$B" "$D" hearth-fleet; do C[$cn]=$(rb_client_cert "$cn") || ht_fail "certificate for $cn"; done
ROGUE=$(rb_client_cert "$A" rogue)
CA="$MQ_CA/ca.crt"

# rq_pub CN NODE ARGS...: one MQTT 3.1.1 client over TLS with CN's certificate.
rq_pub() {
    local cn=$1 n=$2; shift 2
    timeout 8 mosquitto_pub -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[$n]}" --cafile "$CA" \
        --cert "${C[$cn]}.crt" --key "${C[$cn]}.key" "$@"
}
# rq_sub_bg CN NODE OUT ARGS...: a subscriber in the background (-v, -d log in OUT.log).
rq_sub_bg() {
    local cn=$1 n=$2 out=$3; shift 3
    timeout 300 stdbuf -oL mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[$n]}" --cafile "$CA" \
        --cert "${C[$cn]}.crt" --key "${C[$cn]}.key" -v -d "$@" >"$out" 2>&1 &
    HT_PIDS+=("$!")
}
# wait_line FILE REGEX [SECONDS]: until FILE has a line matching REGEX.
wait_line() {
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# subscribed FILE: the subscriber got its SUBACK.
subscribed() { wait_line "$1" "received SUBACK" 10; }

# ------------------------------------------------------------- per node, across nodes
W="$HT_WORK/mq"; mkdir -p "$W"
rq_sub_bg hearth-fleet 2 "$W/fleet" -i hearth-fleet -q 1 -t 'hearth/+/state' -t 'hearth/+/events' -t 'hearth/+/cmd/res'
subscribed "$W/fleet" || ht_fail "fleet subscribed on node 2: $(cat "$W/fleet")"
for n in 1 2 3; do
    ht_check "node $n: device $A logs in with its certificate and publishes its state (QoS 1, PUBACK)" \
        rq_pub "$A" "$n" -i "$A" -q 1 -t "hearth/$A/state" -m "{\"v\":1,\"seq\":$n,\"node\":$n}"
done
for n in 1 2 3; do
    ht_check "fleet on node 2 received the state published on node $n" \
        wait_line "$W/fleet" "^hearth/$A/state \{\"v\":1,\"seq\":$n,\"node\":$n\}$" 10
done

phase "per-node checks done"
# Commands: fleet -> device; the device reads its own, never another's.
# rq_probe OUT CN NODE CLIENT_ID TOPIC: a 3 s subscription attempt in the
# background (a refused one is retried by mosquitto_sub until then).
rq_probe() {
    local out=$1 cn=$2 n=$3 id=$4 topic=$5
    shift 5
    timeout 10 stdbuf -oL mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[$n]}" --cafile "$CA" \
        --cert "${C[$cn]}.crt" --key "${C[$cn]}.key" -v -d -W 3 -i "$id" -q 1 -t "$topic" "$@" >"$out" 2>&1 &
    probes+=("$!")
}
refused_sub() { # FILE: SUBSCRIBE sent, no SUBACK, nothing delivered
    grep -q "sending SUBSCRIBE" "$1" && ! grep -q "received SUBACK" "$1" && ! grep -q "^hearth/" "$1"
}
rq_sub_bg "$B" 3 "$W/b_cmd" -i "$B" -q 1 -t "hearth/$B/cmd/req"
subscribed "$W/b_cmd" || ht_fail "device $B subscribed to its commands: $(cat "$W/b_cmd")"
# Same client id as the device's own (the only session queue it may use),
# so a refusal is the topic permission's.
probes=()
rq_probe "$W/a_on_b" "$A" 1 "$A" "hearth/$B/cmd/req"
sleep 1
ht_check "fleet on node 1 sends a command to $B (topic write permission)" \
    rq_pub hearth-fleet 1 -i hearth-fleet-cmd -q 1 -t "hearth/$B/cmd/req" -m '{"v":1,"id":"r1","method":"GET","path":"/api/v1/thermostat"}'
ht_check "control: device $B (node 3) receives its command" \
    wait_line "$W/b_cmd" "^hearth/$B/cmd/req .*\"id\":\"r1\"" 10
wait "${probes[@]}"
ht_check "device $A cannot subscribe to $B's commands (refused; r1 not delivered to it)" refused_sub "$W/a_on_b"
probes=()
rq_probe "$W/a_wild" "$A" 2 "$A" 'hearth/+/state'
rq_probe "$W/a_own" "$A" 3 "$A-own" "hearth/$A/cmd/req"
sleep 1
rq_pub "$B" 1 -i "$B" -q 1 -t "hearth/$B/state" -m '{"v":1,"seq":98,"probe":"wild"}'
wait "${probes[@]}"
wait_line "$W/fleet" 'seq":98,"probe":"wild"' 10 || ht_fail "fleet got $B's probe state"
ht_check "device $A cannot subscribe to hearth/+/state (the fleet's wildcard; $B's state not delivered)" \
    refused_sub "$W/a_wild"
ht_check "device $A with another client id than its serial cannot subscribe even its own commands" \
    refused_sub "$W/a_own"
# Another device's serial as client id: its session queue is that
# device's, which A may neither delete (clean session: CONNECT refused)
# nor bind or read (persistent session: SUBSCRIBE refused).
probes=()
rq_probe "$W/a_as_b" "$A" 2 "$B" "hearth/$A/cmd/req"
wait "${probes[@]}"
conn_refused() { grep -q "received CONNACK (5)\|received CONNACK (4)\|received CONNACK (3)" "$1" && ! grep -q "received CONNACK (0)" "$1"; }
ht_check "device $A using $B's serial as client id (clean session) is refused at CONNECT" conn_refused "$W/a_as_b"
probes=()
rq_probe "$W/a_as_b_c" "$A" 2 "$B" "hearth/$A/cmd/req" -c
sleep 1
rq_pub hearth-fleet 1 -i hearth-fleet-cmd -q 1 -t "hearth/$B/cmd/req" -m '{"v":1,"id":"r2"}'
wait "${probes[@]}"
# (RabbitMQ lets that CONNECT in and refuses the SUBSCRIBE, or, seen
# under load, refuses the CONNECT itself: "server unavailable".)
refused_conn_or_sub() {
    { grep -q "sending SUBSCRIBE" "$1" || grep -Eq "received CONNACK \([1-5]\)" "$1"; } &&
        ! grep -q "received SUBACK" "$1" && ! grep -q "^hearth/" "$1"
}
ht_check "device $A using $B's serial as client id (persistent session) gets nothing of $B's" \
    refused_conn_or_sub "$W/a_as_b_c"
# That CONNECT made RabbitMQ close $B's own connection (same client id),
# so r2 may have found $B away (its clean session keeps nothing); $B's
# client reconnects by itself and receives the next commands.
b_gets() { # ID: publish a command to B until its subscriber has it (5 tries)
    local i
    for i in 1 2 3 4 5; do
        rq_pub hearth-fleet 1 -i hearth-fleet-cmd -q 1 -t "hearth/$B/cmd/req" -m "{\"v\":1,\"id\":\"$1\"}"
        wait_line "$W/b_cmd" "\"id\":\"$1\"" 2 && return 0
    done
    return 1
}
ht_check "control: $B still receives its commands after that" b_gets r3

# Publishing under another identity.
rq_pub "$A" 3 -i "$A" -q 1 -t "hearth/$B/state" -m '{"v":1,"seq":666,"forged":true}' >/dev/null 2>&1
rc=$?
rq_pub "$A" 3 -i "$A" -q 1 -t "hearth/$B/cmd/res" -m '{"v":1,"id":"r1","status":200,"forged":true}' >/dev/null 2>&1
rc2=$?
rq_pub hearth-fleet 3 -i hearth-fleet-x -q 1 -t "hearth/$A/state" -m '{"v":1,"seq":667,"forged":true}' >/dev/null 2>&1
rc3=$?
rq_pub "$A" 1 -i "$A" -q 1 -t "hearth/$A/cmd/req" -m '{"v":1,"id":"self","forged":true}' >/dev/null 2>&1
rc4=$?
ht_check "control: device $A publishes its own events" \
    rq_pub "$A" 3 -i "$A" -q 1 -t "hearth/$A/events" -m '{"v":1,"seq":1,"event":"control"}'
wait_line "$W/fleet" '"event":"control"' 10 || ht_fail "fleet received $A's control event"
ht_check "device $A publishing $B's state is refused (connection closed, exit $rc)" [ "$rc" -ne 0 ]
ht_check "device $A publishing $B's command reply is refused (exit $rc2)" [ "$rc2" -ne 0 ]
ht_check "the fleet identity publishing a device's state is refused (exit $rc3)" [ "$rc3" -ne 0 ]
ht_check "device $A publishing a command to itself is refused (exit $rc4)" [ "$rc4" -ne 0 ]
ht_check "none of the forged messages reached any subscriber" \
    bash -c "! grep -q forged '$W/fleet' '$W/b_cmd'"

# Authentication: certificate required, from the trusted CA.
out=$(timeout 10 mosquitto_pub -d -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[1]}" --cafile "$CA" \
    -i anon -q 1 -t "hearth/$A/state" -m x 2>&1); rc=$?
ht_check "no client certificate: refused in the TLS handshake (exit $rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'alert certificate required' <<<'$out' && ! grep -q 'received CONNACK' <<<'$out'"
out=$(timeout 10 mosquitto_pub -d -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[2]}" --cafile "$CA" \
    --cert "$ROGUE.crt" --key "$ROGUE.key" -i "$A" -q 1 -t "hearth/$A/state" -m x 2>&1); rc=$?
ht_check "a certificate with the right CN from another CA: refused in the TLS handshake (exit $rc)" \
    bash -c "[ $rc -ne 0 ] && grep -q 'alert unknown ca' <<<'$out' && ! grep -q 'received CONNACK' <<<'$out'"
out=$(timeout 10 mosquitto_pub -V mqttv311 -h 127.0.0.1 -p "${RB_AMQP[1]}" --cafile "$CA" \
    --cert "${C[$A]}.crt" --key "${C[$A]}.key" -i "$A" -q 1 -t "hearth/$A/state" -m x 2>&1); rc=$?
ht_check "no MQTT on any other port of the node (AMQP port: exit $rc)" [ "$rc" -ne 0 ]

phase "ACL and TLS checks done"
# Revocation on RabbitMQ: the shipped tool removes the device's user; a
# certificate login needs the user, so the still valid certificate no
# longer gets in.
ht_check "hearth-rabbitmq-device remove $A (rabbitmqctl delete_user)" rb_device_tool remove "$A"
rq_pub "$A" 1 -i "$A" -q 1 -t "hearth/$A/events" -m '{"v":1,"seq":2,"event":"after-removal"}' -d >"$W/removed" 2>&1
rc=$?
ht_check "a removed device is refused at CONNECT although its certificate is valid (exit $rc)" \
    conn_refused "$W/removed"
ht_check "control: device $B still logs in" \
    rq_pub "$B" 1 -i "$B" -q 1 -t "hearth/$B/events" -m '{"v":1,"seq":1,"event":"control"}'
ht_check "hearth-rabbitmq-device refuses a serial with a dot (it would be a topic level)" \
    bash -c "! '$RB_DEVICE_TOOL' add 'HTH.1' 2>/dev/null && ! '$RB_DEVICE_TOOL' definitions 'a#' >/dev/null 2>&1"

phase "revocation done"
# ------------------------------------------------------------- real devices, node loss
# D: a persistent session made on node 1 (hearthd's kind of session), for
# the session-queue check after the kill (in the background meanwhile).
rq_session() { # NODE ARGS...: D's persistent session on NODE
    local n=$1; shift
    timeout 15 stdbuf -oL mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[$n]}" --cafile "$CA" \
        --cert "${C[$D]}.crt" --key "${C[$D]}.key" -i "$D" -c -q 1 -v -d -t "hearth/$D/cmd/req" "$@"
}
rq_session 1 -W 2 >"$W/d_session1" 2>&1 &
DSESS=$!
wait "$SETUP"
for d in "${DEVS[@]}"; do
    TOKEN[$d]=$(cat "$W/token-$d" 2>/dev/null)
    [ -n "${TOKEN[$d]}" ] || { ht_fail "setup of $d: $(cat "$W/setup.out")"; ht_done; }
done
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
    local t=$1 i; shift
    for i in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
    return 1
}
connected_to() { grep -q "^hearth link: connected to 127.0.0.1:$2\$" "$HT_WORK/$1.hearthd.err"; }
for d in "${DEVS[@]}"; do
    first=${ORDER[$d]%% *}
    ht_check "hearthd $d (${SER[$d]}) logs in to node $first, its first address, with its certificate (MQTT 3.1.1)" \
        wait_for 30 connected_to "$d" "${RB_MQTTS[$first]}"
done
ht_check "hearth-fleet run (MQTT 3.1.1) connected to node 3 and subscribed" \
    wait_for 10 grep -q "subscribed" "$HT_WORK/fleet.err"
# fleet_db [SECONDS] PY: a python expression over the fleet database
# (q(SQL, args...) runs a query; read-only, beside the running
# hearth-fleet), polled in the one process for up to SECONDS.
fleet_db() {
    local t=0
    if [ $# -gt 1 ]; then t=$1; shift; fi
    python3 - "$DB" "$t" "$1" "${SER[@]}" <<'PY'
import json, sqlite3, sys, time
serials = sys.argv[4:]
end = time.time() + float(sys.argv[2])
while True:
    try:
        db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
        q = lambda sql, *a: db.execute(sql, a).fetchall()
        ok = eval(sys.argv[3])
        db.close()
    except sqlite3.Error:
        ok = False
    if ok or time.time() >= end:
        sys.exit(0 if ok else 1)
    time.sleep(0.2)
PY
}
ht_check "hearth-fleet's database has the three devices online, with their state" fleet_db 20 \
    'all(q("SELECT online = 1 AND state IS NOT NULL FROM devices WHERE id = ?", s) == [(1,)] for s in serials)'

wait "$DSESS"
ht_check "device $D made a persistent session on node 1" grep -q "received SUBACK" "$W/d_session1"

# The load: each device's local API takes a thermostat change every
# 0.2 s (HTTPS keep-alive, the admin's token), as an owner would; the
# control loop's heartbeat file is sampled; the devices' stderr lines are
# timestamped as they appear (the link logs every attempt).
args=()
for d in "${DEVS[@]}"; do args+=("$d" "${URL[$d]#https://}" "${TOKEN[$d]}" "$HT_WORK/beat-$d/hb" "$HT_WORK/$d.hearthd.err"); done
python3 - "$W/stop" "$W" "$HT_CA" "${args[@]}" <<'PY' >"$W/load.out" 2>&1 &
import http.client, json, os, ssl, sys, threading, time
stop, out, cafile = sys.argv[1:4]
devs = [sys.argv[i:i + 5] for i in range(4, len(sys.argv), 5)]
ctx = ssl.create_default_context(cafile=cafile)
deadline = time.time() + 90
def running(): return not os.path.exists(stop) and time.time() < deadline
def load(name, hostport, token):
    host, port = hostport.rsplit(":", 1)
    conn, k = None, 0
    with open("%s/load.%s" % (out, name), "w", buffering=1) as f:
        while running():
            target = 16 + (k % 90) / 10
            k += 1
            t = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
                conn.request("PUT", "/api/v1/thermostat", json.dumps({"target_c": target}),
                             {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                f.write("%s %.3f %.1f %.3f %d\n" % ("ok" if r.status == 200 else "status", t, target, time.time() - t, r.status))
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:
                f.write("err %.3f %.1f %.3f %s\n" % (t, target, time.time() - t, type(e).__name__))
                conn = None
            time.sleep(0.2)
def beat(name, path):
    last, changed, stall, n = None, time.time(), 0.0, 0
    began = time.time()
    while running():
        try:
            v = open(path).read().split()[0]
        except Exception:
            v = None
        now = time.time()
        if v is not None and v != last:
            last, changed, n = v, now, n + 1
        stall = max(stall, now - changed)
        time.sleep(0.05)
    with open("%s/beat.%s" % (out, name), "w") as f:
        f.write("%.3f %d %.3f\n" % (stall, n, time.time() - began))
def tail(name, path):
    pos = 0
    with open("%s/log.%s" % (out, name), "w", buffering=1) as f:
        while running():
            try:
                with open(path, "rb") as g:
                    g.seek(pos)
                    data = g.read()
            except Exception:
                data = b""
            cut = data.rfind(b"\n") + 1
            if cut:
                now = time.time()
                for line in data[:cut].decode(errors="replace").splitlines():
                    f.write("%.3f %s\n" % (now, line))
                pos += cut
            time.sleep(0.02)
th = []
for name, hp, token, hb, err in devs:
    th += [threading.Thread(target=load, args=(name, hp, token)), threading.Thread(target=beat, args=(name, hb)),
           threading.Thread(target=tail, args=(name, err))]
for t in th: t.start()
for t in th: t.join()
PY
LOAD=$!
HT_PIDS+=("$LOAD")
acked() { local n; n=$(grep -c '^ok ' "$W/load.$1" 2>/dev/null); echo "${n:-0}"; }
acked_all() { local d; for d in "${DEVS[@]}"; do [ "$(acked "$d")" -ge "$1" ] || return 1; done; }
loaded() {
    wait_for 30 acked_all 5 &&
        fleet_db 30 'all(q("SELECT count(*) FROM events WHERE device = ? AND event = ?", s, "thermostat_changed")[0][0] >= 3 for s in serials)'
}
ht_check "load: every device acknowledged thermostat changes and the fleet stored their events before the kill" loaded
# The permission probes above published malformed messages the fleet
# rejected; from here on only the real devices publish.
rejected() { sqlite3 -readonly "$DB" "SELECT coalesce(sum(count), 0) FROM rejections"; }
REJ0=$(rejected)
for n in 1 2 3; do echo "# node $n: $(grep VmRSS "/proc/${RB_BEAM[$n]}/status" 2>/dev/null)"; done
phase "load running, killing node 1"
rb_kill_node 1
KILL_AT=$(date +%s.%N)
# A command from the service right after the kill, to dev1 (connected to
# node 1 a moment ago), through node 3: queued in dev1's session queue
# until dev1 has moved on. Node 3 may drop the publisher while the cluster
# takes in the loss (seen: connection lost before the PUBACK); the service
# then sends it again with the same request id (at least once: the device
# executes a request id once).
CMD_TRIES=0
for _ in 1 2 3 4 5 6; do
    CMD_TRIES=$((CMD_TRIES + 1))
    rq_pub hearth-fleet 3 -i hearth-fleet-cmd -q 1 -t "hearth/${SER[dev1]}/cmd/req" \
        -m '{"v":1,"id":"after-kill","method":"GET","path":"/api/v1/thermostat"}' >>"$W/cmd.out" 2>&1
    CMD_RC=$?
    [ "$CMD_RC" = 0 ] && break
    sleep 1
done
CMD_AT=$(date +%s.%N)
# moved DEV: DEV's log has a connection to node 2 after the kill.
moved() { awk -v k="$KILL_AT" -v p="${RB_MQTTS[2]}" '$1 > k && $0 ~ ("hearth link: connected to 127.0.0.1:" p "$") {f=1} END {exit !f}' "$W/log.$1"; }
wait_for 30 moved dev1
wait_for 10 moved dev2
sleep 2 # the load goes on on the surviving nodes
touch "$W/stop"
wait "$LOAD"
phase "load stopped"
ht_check "node 1's Erlang VM is gone" bash -c "! kill -0 ${RB_BEAM[1]} 2>/dev/null"

# reconnect DEV...: how each DEV's link went from the loss of node 1 to a
# surviving node (its timestamped log). Prints shell assignments:
# R_DEV=1 when the attempts walk DEV's address list in order from the
# lost node and end connected to the next live one, and no wait between a
# loss or a failed attempt and the next attempt exceeds the backoff window
# of that attempt (1 s, 2 s: full jitter, docs/backoff.md) plus 0.5 s of
# slack; RS_DEV: the steps. (One python for all: each start costs seconds
# on a loaded machine.)
reconnect() {
    local args=() d n ports
    for d in "$@"; do
        ports=""
        for n in ${ORDER[$d]}; do ports+="${ports:+,}${RB_MQTTS[$n]}"; done
        args+=("$d" "$W/log.$d" "$ports")
    done
    python3 - "$KILL_AT" "${RB_MQTTS[1]}" "${args[@]}" <<'PY'
import re, shlex, sys
kill, dead = float(sys.argv[1]), sys.argv[2]
for k in range(3, len(sys.argv), 3):
    name, log, order = sys.argv[k], sys.argv[k + 1], sys.argv[k + 2].split(",")
    lines = [(float(l.split(" ", 1)[0]), l.split(" ", 1)[1].rstrip("\n")) for l in open(log) if " " in l]
    lines = [(t, l) for t, l in lines if t >= kill - 0.2]
    start = next((i for i, (t, l) in enumerate(lines) if "hearth link: connection to 127.0.0.1:%s lost" % dead in l), None)
    t_prev, steps, walk, ok, connected = (lines[start][0] if start is not None else 0), [], [], start is not None, None
    for t, l in lines[start + 1:] if start is not None else []:
        m = re.match(r"hearth link: connecting to 127\.0\.0\.1:(\d+) \(attempt (\d+)\)", l)
        if m:
            wait = t - t_prev
            bound = min(2 ** len(walk), 120) + 0.5
            steps.append("wait %.2fs -> %s" % (wait, m.group(1)))
            ok = ok and wait <= bound
            walk.append(m.group(1))
            continue
        m = re.match(r"hearth link: connected to 127\.0\.0\.1:(\d+)$", l)
        if m:
            connected = m.group(1)
            steps.append("connected %s at +%.2fs" % (connected, t - kill))
            break
        if re.match(r"hearth link: 127\.0\.0\.1:\d+: |hearth link: .* refused the connection", l):
            t_prev = t
    # The lost node may be tried once more first (a lost connection is
    # retried on the same address; a failed attempt moves on), then the
    # list's order.
    i = order.index(dead)
    expect = order[i + 1:] + order[:i]
    walk = walk[1:] if walk and walk[0] == dead else walk
    ok = ok and len(walk) >= 1 and walk == expect[:len(walk)] and connected == expect[0]
    print("R_%s=%d" % (name, 1 if ok else 0))
    print("RS_%s=%s" % (name, shlex.quote("; ".join(steps) if start is not None else "no loss of node 1 in the log")))
PY
}
eval "$(reconnect dev1 dev2)"
for d in dev1 dev2; do
    v=RS_$d; echo "# $d after the kill: ${!v:-}"
    v=R_$d
    ht_check "$d lost node 1 and reconnected to node 2, the next address of its list, after backoff waits within the windows" \
        [ "${!v:-0}" = 1 ]
done
# dev3 was on node 2: it carries on there (or, if the kill took its
# connection down too, it is back on a surviving node).
if awk -v k="$KILL_AT" '$1 > k && /hearth link: connection to .* lost/ {f=1} END {exit !f}' "$W/log.dev3"; then
    echo "# dev3 after the kill: $(awk -v k="$KILL_AT" '$1 > k && /hearth link: (connect|connection)/ {printf "+%.2fs %s; ", $1 - k, $0}' "$W/log.dev3")"
    ht_check "dev3 (node 2 first) lost its connection when node 1 died and is back on a surviving node" \
        awk -v k="$KILL_AT" -v p="${RB_MQTTS[1]}" '$1 > k && /hearth link: connected to/ && $0 !~ (":" p "$") {f=1} END {exit !f}' "$W/log.dev3"
else
    ht_pass "dev3 (node 2 first) stayed connected to node 2 through the loss of node 1"
fi

# The command sent right after the kill: executed once by dev1 and its
# reply stored by the fleet.
ht_check "the fleet's command to dev1, published on node 3 right after the kill, was accepted (PUBACK at try $CMD_TRIES)" \
    [ "$CMD_RC" = 0 ]
ht_check "dev1 executed it and hearth-fleet stored its reply (200, with the thermostat)" fleet_db 20 \
    "[(r[0], '\"target_c\"' in r[1]) for r in q(\"SELECT status, reply FROM cmd_results WHERE device = ? AND reqid = 'after-kill'\", \"${SER[dev1]}\")] == [(200, True)]"
first_up=$(awk -v k="$KILL_AT" -v p="${RB_MQTTS[2]}" '$1 > k && $0 ~ ("connected to 127.0.0.1:" p "$") {print $1; exit}' "$W/log.dev1")
awk -v c="$CMD_AT" -v u="${first_up:-0}" -v k="$KILL_AT" \
    'BEGIN {printf "# command acknowledged at +%.2fs, dev1 back at +%.2fs after the kill\n", c - k, u - k}'
ht_check "dev1 executed it once ($CMD_TRIES publish attempts; a repeated request id is answered, not executed)" \
    test "$(grep -c '"event":"command_executed".*"id":"after-kill"' "$HT_WORK/dev1/events.log" 2>/dev/null)" = 1

phase "reconnection and command checked"
# Session queues survive the node: D's session made on node 1 resumes on
# node 3 with the command queued while it was away.
ht_check "fleet (node 2) sends $D a command while $D is offline and node 1, where its session was made, is gone" \
    rq_pub hearth-fleet 2 -i hearth-fleet-cmd -q 1 -t "hearth/$D/cmd/req" -m '{"v":1,"id":"while-away"}'
rq_session 3 -C 1 -W 10 >"$W/d_session3" 2>&1
ht_check "device $D resumes its session on node 3 and receives the command queued while it was away" \
    grep -q "^hearth/$D/cmd/req .*while-away" "$W/d_session3"

# Nothing acknowledged lost. Every thermostat change a device answered
# 200 was logged by it as thermostat_changed and queued in its outbox; the
# fleet's database must hold each, by sequence number, exactly as the link
# formats it ({"v":1,"seq":N,"ts":T,"sev":"info","event":"thermostat_changed"},
# the user name removed on the device); a duplicate (at-least-once: resent
# after a PUBACK lost with the node) repeats a sequence number with the
# same payload; first arrivals in sequence order (docs/mqtt.md).
# facts: for every device, from its load log and the database, once the
# database holds as many of its thermostat changes as it acknowledged and
# its last target (30 s at most): $W/facts.DEV (JSON) and shell variables
# F_<DEV>_<fact>=0|1 (sourced).
facts() {
    local args=() d
    for d in "${DEVS[@]}"; do args+=("$d" "${SER[$d]}" "$W/load.$d"); done
    python3 - "$DB" "$KILL_AT" "$W" "${args[@]}" <<'PY'
import json, sqlite3, sys, time
dbf, kill, w = sys.argv[1], float(sys.argv[2]), sys.argv[3]
devs = [sys.argv[i:i + 3] for i in range(4, len(sys.argv), 3)]
def facts(db, name, dev, loadf):
    load = [l.split() for l in open(loadf)]
    ok = [l for l in load if l[0] == "ok"]
    rows = db.execute("SELECT seq, ts, sev, event, detail FROM events WHERE device = ? ORDER BY rowid", (dev,)).fetchall()
    tc = [r for r in rows if r[3] == "thermostat_changed"]
    first, payload, same = [], {}, True
    for r in rows:
        if r[0] in payload:
            same = same and payload[r[0]] == r[4]
        else:
            payload[r[0]] = r[4]
            first.append(r[0])
    exact = all(r[4] == '{"v":1,"seq":%d,"ts":%d,"sev":"info","event":"thermostat_changed"}' % (r[0], r[1]) for r in tc)
    state = db.execute("SELECT state, online FROM devices WHERE id = ?", (dev,)).fetchone()
    st = json.loads(state[0]) if state and state[0] else {}
    return {
        "acked": len(ok), "not_ok": len(load) - len(ok),
        "acked_before_kill": sum(1 for l in ok if float(l[1]) < kill),
        "acked_after_kill": sum(1 for l in ok if float(l[1]) >= kill),
        "last_target": float(ok[-1][2]) if ok else None,
        "max_latency": max([float(l[3]) for l in load] or [0]),
        "stored": len({r[0] for r in tc}), "rows": len(tc), "dups": len(rows) - len(payload),
        "same_payload": same, "in_order": first == sorted(first),
        "exact": exact and len(tc) > 0,
        "db_target": st.get("apps", {}).get("thermostat", {}).get("target_c"),
        "online": state[1] if state else None,
    }
end = time.time() + 30
while True:
    db = sqlite3.connect("file:%s?mode=ro" % dbf, uri=True, timeout=5)
    F = {d[0]: facts(db, *d) for d in devs}
    db.close()
    if all(f["stored"] >= f["acked"] and f["db_target"] == f["last_target"] for f in F.values()) or time.time() > end:
        break
    time.sleep(0.3)
for name, f in F.items():
    json.dump(f, open("%s/facts.%s" % (w, name), "w"))
    checks = {
        "served": f["not_ok"] == 0 and f["acked_before_kill"] > 0 and f["acked_after_kill"] > 0 and f["max_latency"] < 2,
        "complete": f["acked"] > 0 and f["stored"] == f["acked"],
        "exact": f["exact"] and f["same_payload"],
        "ordered": f["in_order"],
        "state": f["db_target"] == f["last_target"] and f["online"] == 1,
    }
    for k, v in checks.items():
        print("F_%s_%s=%d" % (name, k, 1 if v else 0))
    print("F_%s_last=%s" % (name, f["last_target"]))
PY
}
phase "session resumed; comparing with the fleet's database"
eval "$(facts)"
fk() { local v="F_$1_$2"; [ "${!v:-0}" = 1 ]; } # DEV FACT: F_DEV_FACT is 1
for d in "${DEVS[@]}"; do
    echo "# $d: $(cat "$W/facts.$d")"
    ht_check "$d: the thermostat answered every change during the run (before the kill and after), none slower than 2 s" fk "$d" served
    # The loop beats every 250 ms: at least half of the beats the sampled
    # window holds must be seen (the window is the load phase, about 5 s or
    # more), so a sampler that saw nothing cannot pass.
    ht_check "$d: its control loop never stalled (heartbeat gap $(cut -d' ' -f1 "$W/beat.$d")s, $(cut -d' ' -f2 "$W/beat.$d") beats in $(cut -d' ' -f3 "$W/beat.$d") s)" \
        awk '$1 < 2 && $3 >= 3 && $2 >= $3 * 2 {f=1} END {exit !f}' "$W/beat.$d"
    ht_check "$d: each of its acknowledged changes is in hearth-fleet's database once per sequence number (none missing)" fk "$d" complete
    ht_check "$d: ... exactly as the device sent them; duplicates only as repeats of a sequence number with the same payload" fk "$d" exact
    ht_check "$d: ... first arrivals in sequence order" fk "$d" ordered
    ht_check "$d: the state hearth-fleet holds has the last target the device acknowledged, and the device online" fk "$d" state
    HT_URL=${URL[$d]}
    ht_req GET /api/v1/thermostat "" "${TOKEN[$d]}"
    now=$(sed -n 's/.*"target_c":\([0-9.]*\).*/\1/p' <<<"$HT_BODY")
    v=F_${d}_last
    ht_check "$d: ... which is the device's own target now (${now:-?})" \
        awk -v a="${now:-x}" -v b="${!v:-y}" 'BEGIN {exit !(a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a + 0 == b + 0)}'
done
REJ1=$(rejected)
ht_check "hearth-fleet rejected none of the real devices' messages (rejections before the load $REJ0, now $REJ1)" \
    [ -n "$REJ0" ] && [ "$REJ1" = "$REJ0" ]
two_running() { [ "$(rb_erl 2 'rabbit_nodes all_running' | tr -cd @ | wc -c)" = 2 ]; }
ht_check "the cluster runs on with two nodes" two_running
ht_check "hearthd (3) and hearth-fleet are still running" \
    bash -c "kill -0 ${DPID[dev1]} && kill -0 ${DPID[dev2]} && kill -0 ${DPID[dev3]} && kill -0 $FPID"
echo "# cluster start ${RB_START_SECONDS}s, node killed at +$((${KILL_AT%.*} - T0))s, test $(($(date +%s) - T0))s"
rb_cluster_kill
ht_done
