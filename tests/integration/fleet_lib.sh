# shellcheck shell=bash
# Helpers for the hearth-fleet tests (after lib.sh and ht_init): a service CA
# made with openssl at test time, a real mosquitto on a free loopback port
# with mutual TLS (require_certificate, use_identity_as_username) and the
# per-device ACL of docs/fleet.md, device certificates (CN = device id), and
# hearth-fleet run against it.
#
#   fl_ca                         # $HT_WORK/svc: ca.crt, broker and hearth-fleet certs
#   fl_broker_start               # mosquitto on 127.0.0.1:$FL_BROKER_PORT
#   fl_device_cert dev1           # $HT_WORK/svc/dev1.{crt,key}
#   fl_pub dev1 telemetry '{...}' # mosquitto_pub as dev1 to hearth/dev1/telemetry, QoS 1
#   fl_fleet_start [ARGS...]      # hearth-fleet run --db $FL_DB ...; FL_FLEET_PID
#   fl_report                     # FL_REPORT: hearth-fleet report --db $FL_DB --json
#   fl_wait PY_EXPR [SECONDS]     # until the report satisfies a python expression on r
#   fl_pg_start                   # a PostgreSQL of its own (initdb, pg_ctl) on a unix socket: FL_PG_URL
#   fl_pg_q SQL                   # one query's result (psql -At)

FLEET=$(ht_bin hearth-fleet) || exit 1
FL_SVC="$HT_WORK/svc"
FL_DB="$HT_WORK/fleet.db"

fl_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fl_sign NAME CN [EXT]: key + certificate signed by the service CA.
fl_sign() {
    local name=$1 cn=$2 ext=${3:-}
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
        -keyout "$FL_SVC/$name.key" -out "$FL_SVC/$name.csr" 2>/dev/null || return 1
    local extf="$FL_SVC/$name.ext"
    printf '%s\n' "basicConstraints=CA:FALSE" ${ext:+"$ext"} >"$extf"
    openssl x509 -req -in "$FL_SVC/$name.csr" -CA "$FL_SVC/ca.crt" -CAkey "$FL_SVC/ca.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$extf" -out "$FL_SVC/$name.crt" 2>/dev/null
}

fl_ca() {
    mkdir -p "$FL_SVC" && chmod 700 "$FL_SVC"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=test service CA" \
        -days 2 -keyout "$FL_SVC/ca.key" -out "$FL_SVC/ca.crt" 2>/dev/null || return 1
    fl_sign broker "broker" "subjectAltName=IP:127.0.0.1,DNS:localhost" || return 1
    fl_sign fleet "hearth-fleet" || return 1
}

fl_device_cert() { fl_sign "$1" "$1"; }

# The shipped ACL (packaging/mosquitto/hearth.acl, docs/mqtt-broker.md): a
# device writes and reads only under its own id, the service reads every
# device's reports and writes commands and updates. FL_ACL_EXTRA: more lines
# first (a test's extra identities).
fl_acl() {
    printf '%b' "${FL_ACL_EXTRA:-}"
    cat "$HEARTH_SOURCE_DIR/packaging/mosquitto/hearth.acl"
}

fl_broker_start() {
    FL_BROKER_PORT=$(fl_free_port)
    fl_acl >"$FL_SVC/acl"
    {
        echo "per_listener_settings false"
        echo "allow_anonymous false"
        echo "persistence false"
        echo "max_queued_messages 100000"
        echo "log_dest file $FL_SVC/mosquitto.log"
        echo "acl_file $FL_SVC/acl"
        echo "listener $FL_BROKER_PORT 127.0.0.1"
        echo "cafile $FL_SVC/ca.crt"
        echo "certfile $FL_SVC/broker.crt"
        echo "keyfile $FL_SVC/broker.key"
        echo "require_certificate true"
        echo "use_identity_as_username true"
        echo "tls_version tlsv1.2"
    } >"$FL_SVC/mosquitto.conf"
    # mosquitto drops root for the user "mosquitto": let it read its files.
    if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
        chmod 711 "$HT_WORK"; chmod 711 "$FL_SVC"; chmod 644 "$FL_SVC/broker.key" "$FL_SVC/ca.crt" "$FL_SVC/broker.crt"
        echo "user mosquitto" >>"$FL_SVC/mosquitto.conf"
        touch "$FL_SVC/mosquitto.log"; chown mosquitto "$FL_SVC/mosquitto.log"
    fi
    mosquitto -c "$FL_SVC/mosquitto.conf" >"$FL_SVC/mosquitto.out" 2>&1 &
    FL_BROKER_PID=$!
    HT_PIDS+=("$FL_BROKER_PID")
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$FL_BROKER_PORT") 2>/dev/null; then return 0; fi
        kill -0 "$FL_BROKER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "fleet_lib: mosquitto did not start:" >&2
    cat "$FL_SVC/mosquitto.out" "$FL_SVC/mosquitto.log" >&2
    return 1
}

fl_tls_args() { # NAME
    echo "-h 127.0.0.1 -p $FL_BROKER_PORT --cafile $FL_SVC/ca.crt --cert $FL_SVC/$1.crt --key $FL_SVC/$1.key"
}

# fl_pub DEVICE KIND PAYLOAD [TOPIC]: publish as DEVICE (its certificate).
fl_pub() {
    local dev=$1 kind=$2 payload=$3 topic=${4:-hearth/$1/$2}
    # shellcheck disable=SC2046
    mosquitto_pub $(fl_tls_args "$dev") -i "$dev-pub-$RANDOM" -q 1 -t "$topic" -m "$payload"
}

# FL_WRAP: a command to run hearth-fleet under (e.g. "perf record -g -o FILE").
# FL_FLEET_ERR: its standard error (default $HT_WORK/fleet.err).
fl_fleet_start() {
    local err=${FL_FLEET_ERR:-$HT_WORK/fleet.err}
    # shellcheck disable=SC2086
    ${FL_WRAP:-} "$FLEET" run --db "$FL_DB" --broker "127.0.0.1:$FL_BROKER_PORT" --ca "$FL_SVC/ca.crt" \
        --cert "$FL_SVC/fleet.crt" --key "$FL_SVC/fleet.key" "$@" 2>"$err" &
    FL_FLEET_PID=$!
    HT_PIDS+=("$FL_FLEET_PID")
    local i
    for i in $(seq 1 100); do
        grep -q "subscribed" "$err" 2>/dev/null && return 0
        kill -0 "$FL_FLEET_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "fleet_lib: hearth-fleet did not connect:" >&2
    cat "$err" >&2
    return 1
}

# fl_pg_start: a PostgreSQL server of the test's own, run as the system's
# unprivileged "postgres" user (initdb refuses root, and needs a user name,
# which uid 61234 has not), listening only on a unix socket in a directory
# of mode 0700 (so "trust" there means: root and postgres only). FL_PG_URL
# is the database hearth-fleet gets with --db.
FL_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
# fl_pg_initdb: its first half alone (the slow part), to run in the
# background while the test makes its certificates; fl_pg_start then skips it.
fl_pg_initdb() {
    [ -x "$FL_PG_BIN/initdb" ] || { echo "fleet_lib: no PostgreSQL server (scripts/deps.sh: postgresql)" >&2; return 1; }
    local pg=$HT_WORK/pg
    chmod 711 "$HT_WORK"
    mkdir -p "$pg" && chown postgres:postgres "$pg" && chmod 700 "$pg" || return 1
    setpriv --reuid postgres --regid postgres --init-groups "$FL_PG_BIN/initdb" -D "$pg/data" -U fleet \
        --auth=trust -E UTF8 --no-sync --no-instructions >"$HT_WORK/initdb.log" 2>&1 ||
        { cat "$HT_WORK/initdb.log" >&2; return 1; }
}
fl_pg_start() {
    local pg=$HT_WORK/pg as=(setpriv --reuid postgres --regid postgres --init-groups)
    [ -f "$pg/data/PG_VERSION" ] || fl_pg_initdb || return 1
    "${as[@]}" "$FL_PG_BIN/pg_ctl" -D "$pg/data" -w -s -l "$pg/log" -o \
        "-c listen_addresses='' -c unix_socket_directories=$pg -c max_connections=20 -c shared_buffers=32MB" \
        start || { cat "$pg/log" >&2; return 1; }
    FL_PG_PID=$(head -1 "$pg/data/postmaster.pid")
    HT_PIDS+=("$FL_PG_PID")
    FL_PG_URL="postgresql:///postgres?host=$pg&user=fleet"
}

fl_pg_q() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$FL_PG_URL" -c "$1"; }

fl_report() { FL_REPORT=$("$FLEET" report --db "$FL_DB" --json); }

# fl_wait EXPR [SECONDS]: poll the JSON report until the python expression
# EXPR (over r, the parsed report) is true; 1 on timeout.
fl_wait() {
    local expr=$1 secs=${2:-10} i
    for i in $(seq 1 $((secs * 10))); do
        if fl_report 2>/dev/null &&
            printf '%s' "$FL_REPORT" | python3 -c "import json,sys; r=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# fl_q EXPR: evaluate a python expression over the last report, print it.
fl_q() { printf '%s' "$FL_REPORT" | python3 -c "import json,sys; r=json.load(sys.stdin); print($1)"; }

# fl_telemetry PORTS [LF] [UVF]: a telemetry/v1 report (docs/telemetry/schema-v1.json)
# listing TCP PORTS (comma-separated), with login_failures LF and
# update_verification_failures UVF.
fl_telemetry() {
    local ports="" p
    for p in ${1//,/ }; do ports+="${ports:+,}{\"pt\":$p}"; done
    FL_RID=$(( ${FL_RID:-$(date +%s%3N)} + 1 ))
    printf '{"v":1,"hed":{"rid":%s,"v":"1.0"},"met":{"tp":{"pts":[%s],"t":%s},"ns":{"bi":1200,"bo":3400,"pi":10,"po":12},"tc":{"ec":{"cs":[],"t":1}}},"cmet":{"lf":%s,"lo":0,"uvf":%s,"iff":0,"bc":1,"ur":0,"rss":5120,"ut":60,"al":0}}' \
        "$FL_RID" "$ports" "$(wc -w <<<"${1//,/ }")" "${2:-0}" "${3:-0}"
}

# fl_state DEVICE SW APP: publish the device's state (its applications name its kind).
fl_state() {
    fl_pub "$1" state "{\"v\":1,\"seq\":1,\"ts\":$(date +%s),\"sw\":\"$2\",\"apps\":{\"$3\":{\"on\":true}}}"
}
