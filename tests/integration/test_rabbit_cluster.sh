#!/usr/bin/env bash
# provisions: 5.5-1 5.9-1
# external: yes
# timeout: 300
# serial: yes
# A three-node RabbitMQ 3.10 cluster (Debian's rabbitmq-server, MQTT plugin)
# started by the test on loopback with the shipped configuration
# (packaging/rabbitmq/) and the per-device permissions made by the shipped
# tool (hearth-rabbitmq-device), probed with real MQTT 3.1.1 clients over
# mutual TLS (mosquitto_pub/_sub):
#  - every node accepts a device's certificate login and routes its
#    messages to the fleet identity connected to another node;
#  - a device cannot publish to or subscribe to another device's topics,
#    nor read the fleet-wide wildcard, nor take another device's session
#    queue by using its serial as client id; the fleet identity cannot
#    publish device topics; each refusal next to a control that passes;
#  - no client certificate, or one from another CA: refused in the TLS
#    handshake;
#  - 5.9-1: a node is killed (SIGKILL) while simulated devices publish
#    QoS 1 messages; each device moves on to the next address of its
#    list, and every message a broker acknowledged (PUBACK) reaches the
#    fleet subscriber on a surviving node (sequence numbers: no gaps); a
#    device's persistent session made on the lost node resumes on another
#    with the command queued meanwhile (quorum session queues);
#  - a device removed with the shipped tool is refused at its next CONNECT.
# Not done: the same with the real hearthd; see docs/deployment-scale.md.
# 5.5-1: the devices' only credential is their certificate (TLS 1.3/1.2,
# verify_peer, fail_if_no_peer_cert); no password, no anonymous login.
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
source "$(dirname "$0")/rabbit_lib.sh"
ht_init
if ! rb_available || ! command -v mosquitto_pub >/dev/null; then
    ht_untested "RabbitMQ cluster" "rabbitmq-server 3.10 with the MQTT plugin or mosquitto-clients not installed"
    ht_done
fi
T0=$(date +%s)

A=HTH-0A0A0A0A0A0A
B=HTH-0B0B0B0B0B0B
D=HTH-0D0D0D0D0D0D
SIMS=(HTH-51510000001 HTH-51510000002 HTH-51510000003)
rb_pki
rb_identities "$A" "$B" "$D" "${SIMS[@]}"
rb_cluster_start || { ht_fail "three-node cluster started"; ht_done; }
ht_pass "three-node cluster of RabbitMQ nodes on loopback started in ${RB_START_SECONDS}s"
declare -A C
for cn in "$A" "$B" "$D" hearth-fleet "${SIMS[@]}"; do C[$cn]=$(rb_client_cert "$cn") || ht_fail "certificate for $cn"; done
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

phase() { echo "# +$(($(date +%s) - T0))s: $*"; }
phase "cluster up"
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
ht_check "control: $B still receives its next command" wait_line "$W/b_cmd" "\"id\":\"r2\"" 10
ht_check "device $A using $B's serial as client id (persistent session) gets nothing of $B's" \
    refused_sub "$W/a_as_b_c"

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
# ------------------------------------------------------------- node loss
# Simulated devices: each publishes seq 1.. with QoS 1, one connection per
# message (so "acknowledged" = mosquitto_pub exited 0 after the PUBACK),
# trying its address list in order from where it is; a refused or lost
# message is retried (the outbox's rule) after a short jittered pause.
sim_device() { # CN FIRST_NODE: until $W/stop exists (at most 60 s)
    local cn=$1 n=$2 until=$(($(date +%s) + 60)) seq=1
    while [ ! -e "$W/stop" ] && [ "$(date +%s)" -lt "$until" ]; do
        if rq_pub "$cn" "$n" -i "$cn" -q 1 -t "hearth/$cn/events" -m "{\"v\":1,\"seq\":$seq,\"ts\":$(date +%s)}" 2>/dev/null; then
            echo "acked $seq node $n $(date +%s.%N)"
            seq=$((seq + 1))
        else
            echo "failed $seq node $n $(date +%s.%N)"
            n=$((n % 3 + 1))
            sleep "0.$((RANDOM % 3 + 1))"
        fi
    done
}
# moved_on I: simulated device I has 3 acknowledged messages from nodes 2/3
# after a failure.
moved_on() { [ "$(sed -n '/^failed/,$p' "$W/sim$1" | grep -c '^acked .* node [23] ')" -ge 3 ]; }
# Device D keeps a persistent session (as hearthd's link does) made on
# node 1: its queue is a quorum queue (packaging/rabbitmq/rabbitmq.conf).
rq_session() { # NODE ARGS...: D's persistent session on NODE
    local n=$1; shift
    timeout 15 stdbuf -oL mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "${RB_MQTTS[$n]}" --cafile "$CA" \
        --cert "${C[$D]}.crt" --key "${C[$D]}.key" -i "$D" -c -q 1 -v -d -t "hearth/$D/cmd/req" "$@"
}
rq_session 1 -W 2 >"$W/d_session1" 2>&1
ht_check "device $D made a persistent session on node 1" grep -q "received SUBACK" "$W/d_session1"
ht_check "node 1 serves before the kill" rq_pub "${SIMS[0]}" 1 -i "${SIMS[0]}" -q 1 -t "hearth/${SIMS[0]}/status" -m '{"v":1,"online":true}'
sims=()
for i in 0 1 2; do
    sim_device "${SIMS[$i]}" 1 >"$W/sim$i" 2>&1 &
    HT_PIDS+=("$!")
    sims+=("$!")
done
for _ in $(seq 1 100); do
    [ "$(cat "$W"/sim* | grep -c '^acked')" -ge 9 ] && break
    sleep 0.1
done
for n in 1 2 3; do echo "# node $n: $(grep VmRSS "/proc/${RB_BEAM[$n]}/status" 2>/dev/null)"; done
phase "load running, killing node 1"
rb_kill_node 1
KILL_AT=$(date +%s.%N)
for _ in $(seq 1 300); do
    moved_on 0 && moved_on 1 && moved_on 2 && break
    sleep 0.1
done
touch "$W/stop"
for p in "${sims[@]}"; do wait "$p"; done
phase "load stopped"
ht_check "fleet (node 2) sends $D a command while $D is offline and node 1, where its session was made, is gone" \
    rq_pub hearth-fleet 2 -i hearth-fleet-cmd -q 1 -t "hearth/$D/cmd/req" -m '{"v":1,"id":"while-away"}'
rq_session 3 -C 1 -W 10 >"$W/d_session3" 2>&1
ht_check "device $D resumes its session on node 3 and receives the command queued while it was away" \
    grep -q "^hearth/$D/cmd/req .*while-away" "$W/d_session3"
ht_check "node 1's Erlang VM is gone" bash -c "! kill -0 ${RB_BEAM[1]} 2>/dev/null"
sleep 1
for i in 0 1 2; do
    cn=${SIMS[$i]}
    acked=$(grep -c '^acked' "$W/sim$i")
    before=$(grep -c '^acked .* node 1 ' "$W/sim$i")
    after=$(grep '^acked' "$W/sim$i" | grep -vc ' node 1 ')
    moved=$(grep -m1 -n '^failed' "$W/sim$i" | cut -d: -f1)
    back=$(sed -n '/^failed/,$p' "$W/sim$i" | grep -m1 '^acked' | awk '{print $5}')
    ht_check "simulated device $cn: $before acknowledged by node 1, then moved on and $after acknowledged by nodes 2/3" \
        test "$before" -gt 0 -a "$after" -gt 0 -a -n "$moved"
    [ -n "$back" ] && echo "# $cn: first acknowledgement after the kill at +$(python3 -c "print(f'{$back-$KILL_AT:.2f}')")s"
    got=$(grep "^hearth/$cn/events " "$W/fleet" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sort -n | uniq)
    missing=$(comm -23 <(grep '^acked' "$W/sim$i" | awk '{print $2}' | sort -u) <(sort -u <<<"$got") | sort -n | tr '\n' ' ')
    ht_check "every one of $cn's $acked acknowledged events reached the fleet on node 2 (missing: ${missing:-none})" \
        [ -z "$missing" ]
done
two_running() { [ "$(rb_erl 2 'rabbit_nodes all_running' | tr -cd @ | wc -c)" = 2 ]; }
ht_check "the cluster runs on with two nodes" two_running
echo "# cluster start ${RB_START_SECONDS}s, node killed at +$((${KILL_AT%.*} - T0))s, test $(($(date +%s) - T0))s"
ht_done
