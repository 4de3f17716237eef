# shellcheck shell=bash
# A three-node RabbitMQ cluster with the MQTT plugin on loopback, started by
# the test itself (never the system service). Source after lib.sh and
# ht_init:
#
#   source "$(dirname "$0")/mqtt_lib.sh"; source "$(dirname "$0")/rabbit_lib.sh"
#   rb_pki [EXTRA_CA]             # service CA (mqtt_lib.sh's mq_init), node certificate
#   rb_identities SERIAL...       # certificate-login users + permissions (+ hearth-fleet)
#   rb_cluster_start              # 3 nodes joined; RB_MQTTS[1..3], RB_BEAM[1..3]
#   rb_client_cert CN [rogue]     # prints a client certificate's prefix (.crt/.key)
#   rb_kill_node N                # SIGKILL node N's Erlang VM
#   rb_cluster_kill               # SIGKILL every node (end of test: lib.sh's
#                                 # cleanup would wait for each to shut down)
#
# Layout: $RB_DIR = $HT_WORK/rabbit, one directory per node (mnesia, logs,
# config, enabled plugins), a private epmd on a free loopback port, an
# Erlang cookie generated here in the nodes' own HOME. Run as root, the
# nodes and every rabbitmqctl run as the rabbitmq account (the package's)
# or, without it, as uid:gid $RB_USER. The per-device permissions come from
# packaging/rabbitmq/hearth-rabbitmq-device (what a manufacturer runs).
#
# Every wait is bounded; a node that does not come up fails the test with
# its log. Dependencies: rabbitmq-server (Debian's 3.10, with erlang-base's
# epmd and erl_call), openssl, python3, setpriv (util-linux).

RB_DIR=""
RB_SBIN=${RB_SBIN:-/usr/lib/rabbitmq/bin}
RB_NODES=3
RB_AS=()
RB_USER=""
declare -a RB_MQTTS RB_DIST RB_AMQP RB_BEAM RB_WRAP
RB_EPMD_PORT=""
RB_START_SECONDS=""

# rb_available: 0 if this machine can run RabbitMQ with the MQTT plugin.
rb_available() {
    [ -x "$RB_SBIN/rabbitmq-server" ] && [ -x "$RB_SBIN/rabbitmqctl" ] &&
        compgen -G "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_mqtt-*" >/dev/null &&
        command -v epmd >/dev/null
}

# rb_free_ports N: N distinct free loopback TCP ports, one per line (held
# open together while chosen, so they differ).
rb_free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# rb_run CMD...: run CMD as the broker's account with the nodes' HOME and
# epmd (env execs, so "rb_run ... &" in the caller's shell gives $! = CMD).
rb_run() {
    env HOME="$RB_DIR/home" ERL_EPMD_PORT="$RB_EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_CONF_ENV_FILE=/dev/null "${RB_AS[@]}" "$@"
}

# rb_ctl N ARGS...: rabbitmqctl against node N (bounded by a timeout).
rb_ctl() {
    local n=$1; shift
    rb_run timeout 60 "$RB_SBIN/rabbitmqctl" -q -n "hearth$n@localhost" "$@"
}

# rb_erl N 'MODULE FUNCTION': call an Erlang function without arguments on
# node N with erl_call (erlang-base, a C program: milliseconds, where every
# rabbitmqctl starts an Elixir VM for seconds). rb_erl_eval N 'EXPR.':
# evaluate an expression there (prints {ok, Value}).
rb_erl() {
    rb_run timeout 10 erl_call -sname "hearth$1@localhost" -a "$2" 2>/dev/null
}
rb_erl_eval() {
    echo "$2" | rb_run timeout 10 erl_call -sname "hearth$1@localhost" -e 2>/dev/null
}

# rb_init: work dir, account, cookie, epmd. Called by rb_pki / rb_cluster_start.
rb_init() {
    [ -n "$RB_DIR" ] && return 0
    RB_DIR="$HT_WORK/rabbit"
    mkdir -p "$RB_DIR/home" "$RB_DIR/pki"
    if [ "$(id -u)" = 0 ]; then
        if id rabbitmq >/dev/null 2>&1; then RB_USER="$(id -u rabbitmq):$(id -g rabbitmq)"
        else RB_USER=${RB_USER:-61235:61235}; fi
        RB_AS=(setpriv --reuid="${RB_USER%:*}" --regid="${RB_USER#*:}" --clear-groups --inh-caps=-all --)
    fi
    # The cookie: random, only in the nodes' HOME, readable by their account only.
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RB_DIR/home/.erlang.cookie")
    [ -z "$RB_USER" ] || chown -R "$RB_USER" "$RB_DIR"
    # Many connections per node in the tests; the nodes inherit this limit.
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# ------------------------------------------------------------- certificates
# From mqtt_lib.sh (the service CA $MQ_CA, the broker's and the fleet's
# certificates); the nodes get copies they can read as their own account.

# rb_pki [EXTRA_CA_FILE]: the service CA and the broker certificate (CN
# broker, 127.0.0.1 and localhost) for every node. The nodes trust the
# service CA and, if given, EXTRA_CA_FILE (a test trusting the
# manufacturer CA for factory certificates; the shipped configuration
# does not).
rb_pki() {
    rb_init
    [ -n "$MQ_CA" ] || mq_init || return 1
    cat "$MQ_CA/ca.crt" ${1:+"$1"} >"$RB_DIR/pki/trusted.crt"
    cp "$MQ_WORK/broker.crt" "$RB_DIR/pki/broker.crt"
    (umask 077; cp "$MQ_WORK/broker.key" "$RB_DIR/pki/broker.key")
    [ -z "$RB_USER" ] || chown -R "$RB_USER" "$RB_DIR/pki"
}

# rb_client_cert CN [rogue]: prints the prefix of a client certificate
# (PREFIX.crt, PREFIX.key) for CN from the service CA (hearth-fleet: the
# fleet's own from mq_init), or with "rogue" from another CA.
rb_client_cert() {
    local cn=$1 p="$MQ_WORK/rb-$1"
    if [ "$cn" = hearth-fleet ] && [ -z "${2:-}" ]; then echo "$MQ_WORK/fleet"; return 0; fi
    if [ -n "${2:-}" ]; then
        [ -f "$MQ_WORK/rogue-ca/ca.crt" ] || mq_ca_init "$MQ_WORK/rogue-ca" "Rogue CA" >/dev/null || return 1
        p="$MQ_WORK/rb-$cn.rogue"
        [ -f "$p.crt" ] || mq_issue "$MQ_WORK/rogue-ca" "$p" "$cn" >&2 || return 1
    else
        [ -f "$p.crt" ] || mq_issue "$MQ_CA" "$p" "$cn" >&2 || return 1
    fi
    echo "$p"
}

# ------------------------------------------------------------- identities

RB_DEVICE_TOOL="$HEARTH_SOURCE_DIR/packaging/rabbitmq/hearth-rabbitmq-device"

# rb_identities SERIAL...: the certificate-login users of these devices and
# of the fleet (hearth-fleet) with their permissions, made by the shipped
# tool as a definitions file. Before rb_cluster_start: node 1 imports it at
# boot; after: imported into the running cluster with rabbitmqctl.
rb_identities() {
    rb_init
    "$RB_DEVICE_TOOL" definitions --fleet "$@" >"$RB_DIR/definitions.json" || return 1
    [ -z "$RB_USER" ] || chown "$RB_USER" "$RB_DIR/definitions.json"
    if [ -n "${RB_BEAM[1]:-}" ]; then
        rb_ctl 1 import_definitions "$RB_DIR/definitions.json" >/dev/null
    fi
}

# rb_device_tool ARGS...: the shipped hearth-rabbitmq-device against node 2
# (a rabbitmqctl wrapper with this cluster's account, cookie and epmd).
rb_device_tool() {
    local w="$RB_DIR/rabbitmqctl"
    if [ ! -x "$w" ]; then
        printf '#!/bin/sh\nexec env HOME=%q ERL_EPMD_PORT=%q RABBITMQ_CONF_ENV_FILE=/dev/null %s timeout 60 %q -q -n hearth2@localhost "$@"\n' \
            "$RB_DIR/home" "$RB_EPMD_PORT" "${RB_AS[*]}" "$RB_SBIN/rabbitmqctl" >"$w"
        chmod 755 "$w"
    fi
    RABBITMQCTL="$w" "$RB_DEVICE_TOOL" "$@"
}

# ------------------------------------------------------------- nodes

# rb_node_config N: the node's rabbitmq.conf = the shipped fragment + this
# node's listeners, files and cluster peers.
rb_node_config() {
    local n=$1 d="$RB_DIR/node$1" i
    mkdir -p "$d/mnesia" "$d/log"
    {
        cat "${RB_CONF:-$HEARTH_SOURCE_DIR/packaging/rabbitmq/rabbitmq.conf}"
        echo "# --- test node $n (rabbit_lib.sh)"
        echo "listeners.tcp.default = 127.0.0.1:${RB_AMQP[$n]}"
        echo "mqtt.listeners.tcp = none"
        echo "mqtt.listeners.ssl.default = 127.0.0.1:${RB_MQTTS[$n]}"
        echo "ssl_options.cacertfile = $RB_DIR/pki/trusted.crt"
        echo "ssl_options.certfile = $RB_DIR/pki/broker.crt"
        echo "ssl_options.keyfile = $RB_DIR/pki/broker.key"
        # Node 1 is the seed; the others join it on their first boot (peer
        # discovery): no stop_app/join_cluster/start_app.
        # The users and permissions (rb_identities) are imported by node 1
        # when it boots; the others receive them when they join.
        if [ "$n" = 1 ] && [ -f "$RB_DIR/definitions.json" ]; then
            echo "load_definitions = $RB_DIR/definitions.json"
        fi
        if [ "$n" -gt 1 ]; then
            echo "cluster_formation.peer_discovery_backend = classic_config"
            echo "cluster_formation.classic_config.nodes.1 = hearth1@localhost"
            echo "cluster_formation.discovery_retry_limit = 240"
            echo "cluster_formation.discovery_retry_interval = 500"
        fi
        echo "log.file.level = info"
        echo "log.console = false"
    } >"$d/rabbitmq.conf"
    cp "$HEARTH_SOURCE_DIR/packaging/rabbitmq/enabled_plugins" "$d/enabled_plugins"
    [ -z "$RB_USER" ] || chown -R "$RB_USER" "$d"
}

# rb_node_start N: start node N in the background (not waiting).
rb_node_start() {
    local n=$1 d="$RB_DIR/node$1"
    env HOME="$RB_DIR/home" ERL_EPMD_PORT="$RB_EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_CONF_ENV_FILE=/dev/null \
        RABBITMQ_NODENAME="hearth$n@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="${RB_AMQP[$n]}" RABBITMQ_DIST_PORT="${RB_DIST[$n]}" \
        RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" \
        RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
        RABBITMQ_PID_FILE="$d/beam.pid" RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none" \
        "${RB_AS[@]}" "$RB_SBIN/rabbitmq-server" >"$d/console.out" 2>&1 &
    RB_WRAP[$n]=$!
    HT_PIDS+=("$!")
}

# rb_node_log N: the node's log (for failures).
rb_node_log() {
    local d="$RB_DIR/node$1"
    echo "---- hearth$1 console:" >&2; tail -n 30 "$d/console.out" >&2
    echo "---- hearth$1 log:" >&2; tail -n 60 "$d/log/"*.log >&2 2>/dev/null
}

# rb_node_wait N [SECONDS]: wait until node N runs the broker; sets
# RB_BEAM[N] (the Erlang VM's pid, for rb_kill_node).
rb_node_wait() {
    local n=$1 t=${2:-60} d="$RB_DIR/node$1" i
    for i in $(seq 1 $((t * 5))); do
        [ "$(rb_erl "$n" 'rabbit is_running')" = true ] && break
        if ! kill -0 "${RB_WRAP[$n]}" 2>/dev/null; then i=-1; break; fi
        sleep 0.2
    done
    if [ "$i" = -1 ] || [ "$i" = $((t * 5)) ]; then
        echo "rabbit_lib.sh: node hearth$n did not start within ${t}s:" >&2
        rb_node_log "$n"
        return 1
    fi
    RB_BEAM[$n]=$(cat "$d/beam.pid" 2>/dev/null)
    [ -n "${RB_BEAM[$n]}" ] && HT_PIDS+=("${RB_BEAM[$n]}")
}

# rb_cluster_start: ports, configs, private epmd, node 1, then nodes 2 and 3
# together (they join node 1 by the classic peer-discovery configuration),
# and a check that all three run as one cluster with the vhost up. Sets RB_START_SECONDS.
rb_cluster_start() {
    rb_init
    local t0 ports n
    t0=$(date +%s.%N)
    mapfile -t ports < <(rb_free_ports $((RB_NODES * 3 + 1)))
    RB_EPMD_PORT=${ports[0]}
    for n in $(seq 1 "$RB_NODES"); do
        RB_AMQP[$n]=${ports[$((n * 3 - 2))]}
        RB_DIST[$n]=${ports[$((n * 3 - 1))]}
        RB_MQTTS[$n]=${ports[$((n * 3))]}
        rb_node_config "$n"
    done
    env HOME="$RB_DIR/home" "${RB_AS[@]}" epmd -port "$RB_EPMD_PORT" -address 127.0.0.1 >"$RB_DIR/epmd.out" 2>&1 &
    HT_PIDS+=("$!")
    # Node 1 first: a node that joins while the seed is still in its boot
    # steps (feature flags, the definitions import) can come up with the
    # vhost down. Then the others together.
    rb_node_start 1
    rb_node_wait 1 100 || return 1
    for n in $(seq 2 "$RB_NODES"); do rb_node_start "$n"; done
    for n in $(seq 2 "$RB_NODES"); do rb_node_wait "$n" 100 || return 1; done
    for n in $(seq 1 "$RB_NODES"); do
        if [ "$(rb_erl_eval "$n" 'rabbit_vhost_sup_sup:is_vhost_alive(<<"/">>).')" != "{ok, true}" ]; then
            echo "rabbit_lib.sh: vhost / is down on hearth$n" >&2
            rb_node_log "$n"
            return 1
        fi
    done
    local running
    running=$(rb_erl 1 'rabbit_nodes all_running' | tr -cd '@' | wc -c)
    if [ "$running" != "$RB_NODES" ]; then
        echo "rabbit_lib.sh: cluster has $running running nodes, expected $RB_NODES" >&2
        for n in $(seq 1 "$RB_NODES"); do rb_node_log "$n"; done
        return 1
    fi
    RB_START_SECONDS=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$t0")
}

# rb_kill_node N: SIGKILL node N's Erlang VM (a crash, not a shutdown).
rb_kill_node() {
    kill -KILL "${RB_BEAM[$1]}"
}

# rb_cluster_kill: SIGKILL every node's Erlang VM and start script, at the
# end of a test (their data is the test's own: nothing to shut down
# cleanly; lib.sh's cleanup would give each several seconds to stop).
rb_cluster_kill() {
    local n
    for n in $(seq 1 "$RB_NODES"); do
        [ -n "${RB_BEAM[$n]:-}" ] && kill -KILL "${RB_BEAM[$n]}" 2>/dev/null
        [ -n "${RB_WRAP[$n]:-}" ] && kill -KILL "${RB_WRAP[$n]}" 2>/dev/null
    done
    return 0
}
