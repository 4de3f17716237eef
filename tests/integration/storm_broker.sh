#!/usr/bin/env bash
# storm_broker.sh start DIR PORT [CAFILE CERT KEY] | stop DIR: a mosquitto on
# 127.0.0.1:PORT (plain TCP; with CAFILE CERT KEY mutual TLS: the server
# certificate CERT/KEY, client certificates required and verified against
# CAFILE) for the reconnect storm (bench/bench_storm.sh,
# tests/integration/test_reconnect_storm.sh), started and stopped by
# storm_sim at the scenario's moments (it runs these commands itself).
#   start: write DIR/mosquitto.conf (first time), start mosquitto with the
#          caller's open-file limit, return once it listens (DIR/pid);
#   stop:  SIGTERM, wait until the process is gone (SIGKILL after 30 s).
# Anonymous clients (no ACL): the storm measures connection handling, the
# broker listens on loopback only and lives for one benchmark or test.
# max_connections -1 (unlimited) and the open-file limit let 10,000 in.
set -u
cmd=${1:?start|stop} dir=${2:?DIR}

alive() { # running and not a zombie
    local s
    s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$s" != Z ]
}

case $cmd in
start)
    port=${3:?PORT}
    mkdir -p "$dir"
    [ -f "$dir/mosquitto.conf" ] || cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
log_dest stderr
log_type error
log_type warning
CONF
    if [ -n "${4:-}" ] && ! grep -q '^require_certificate' "$dir/mosquitto.conf"; then
        printf 'cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n' "$4" "${5:?CERT}" "${6:?KEY}" \
            >>"$dir/mosquitto.conf"
    fi
    mosquitto -c "$dir/mosquitto.conf" >>"$dir/mosquitto.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    for _ in $(seq 1 200); do
        alive "$(cat "$dir/pid")" || break
        if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then exit 0; fi
        sleep 0.05
    done
    echo "storm_broker.sh: mosquitto did not start listening on $port" >&2
    cat "$dir/mosquitto.log" >&2
    exit 1
    ;;
stop)
    pid=$(cat "$dir/pid" 2>/dev/null) || exit 0
    kill -TERM "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 600); do
        alive "$pid" || exit 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    exit 0
    ;;
*) echo "usage: storm_broker.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
