# shellcheck shell=bash
# Test certificates and a real mosquitto broker for the MQTT tests. Source it
# after lib.sh and ht_init (everything lives under $HT_WORK/mqtt, brokers are
# stopped by lib.sh's cleanup):
#
#   source "$(dirname "$0")/lib.sh"; source "$(dirname "$0")/mqtt_lib.sh"
#   ht_init
#   mq_init                            # service CA + broker cert + fleet cert (CN hearth-fleet)
#                                      # (mq_test_start: both, and W=$MQ_WORK)
#   mq_issue "$MQ_CA" "$MQ_WORK/devA" DEV-A            # client cert for CN DEV-A (7 days)
#   mq_issue "$MQ_CA" "$MQ_WORK/old" DEV-B --expired   # already expired
#   mq_revoke "$MQ_CA" "$MQ_WORK/devA.crt"             # into the CA's CRL ($MQ_CA/crl.pem)
#   mq_broker_start                    # mosquitto on 127.0.0.1:<free port>: MQ_PORT, MQ_PID
#   mq_pub "$MQ_WORK/devA" -t hearth/DEV-A/state -m '{"v":1}'
#   mq_broker_reload                   # SIGHUP (reloads the CRL and TLS files)
#   mq_broker_restart / mq_broker_stop
#
# Certificate authorities here are plain `openssl ca` directories (test
# fixtures only, generated at test time: ca.key, ca.crt, crl.pem, index.txt).
# A device's real factory identity comes from the project's own tools
# (ht_provision in lib.sh): mq_trust_ca adds such a CA (e.g. the
# manufacturer CA $HT_WORK/ca) to what the next broker accepts, with an
# empty CRL of its own (mosquitto checks every client's issuer against the
# crlfile, so each accepted CA needs one).
#
# Brokers: several may run at once, each under a name (default "mq");
# functions take the name as an optional last argument and set MQ_PORT,
# MQ_PID, MQ_DIR, MQ_LOG, MQ_PIDFILE for the broker they act on. The config
# is generated from the shipped packaging/mosquitto/hearth.conf (values of
# the listener, path and logging keys replaced) with the shipped hearth.acl,
# unless MQ_ACL names another ACL file. As root, mosquitto runs as the
# system user "mosquitto" (or MQ_BROKER_USER, uid:gid) from the start, via
# setpriv, so it never holds root.
# Dependencies: openssl, mosquitto, mosquitto_pub/sub, setpriv (util-linux).

MQ_WORK=""
MQ_CA=""
MQ_TEMPLATE_DIR="$HEARTH_SOURCE_DIR/packaging/mosquitto"
MQ_ACL=${MQ_ACL:-}
MQ_EXTRA_CAS=()
declare -gA MQ_PORTS=() MQ_PIDS=() MQ_DIRS=()
MQ_BROKER_USER=${MQ_BROKER_USER:-}
MQ_CLIENT_TIMEOUT=${MQ_CLIENT_TIMEOUT:-10}

# ------------------------------------------------------------- CAs

# mq_init: $HT_WORK/mqtt with the service CA ($MQ_CA), the broker's server
# certificate ($MQ_WORK/broker.{crt,key}: 127.0.0.1, localhost) and the
# fleet service's client certificate ($MQ_WORK/fleet.{crt,key}, CN hearth-fleet).
mq_init() {
    [ -n "$HT_WORK" ] || { echo "mqtt_lib.sh: call ht_init first" >&2; return 1; }
    MQ_WORK="$HT_WORK/mqtt"
    mkdir -p "$MQ_WORK"
    # The broker (another uid when root) reaches its files below here.
    chmod 711 "$HT_WORK" "$MQ_WORK"
    if [ "$(id -u)" = 0 ] && [ -z "$MQ_BROKER_USER" ]; then
        if id mosquitto >/dev/null 2>&1; then
            MQ_BROKER_USER="$(id -u mosquitto):$(id -g mosquitto)"
        else
            MQ_BROKER_USER="61235:61235"
        fi
    fi
    mq_ca_init "$MQ_WORK/service-ca" "Hearth Test Service CA" || return 1
    MQ_CA="$MQ_WORK/service-ca"
    mq_issue "$MQ_CA" "$MQ_WORK/broker" broker --server || return 1
    mq_issue "$MQ_CA" "$MQ_WORK/fleet" hearth-fleet || return 1
}

# mq_test_start: ht_init + mq_init for a test script (ends the test with a
# failure if the fixtures cannot be made); W=$MQ_WORK.
mq_test_start() {
    ht_init
    mq_init || { ht_fail "MQTT test certificates"; ht_done; }
    # shellcheck disable=SC2034 # for the sourcing test
    W=$MQ_WORK
}

# mq_ca_init DIR [NAME]: a self-signed P-256 CA usable with `openssl ca`
# (DIR/ca.key 0600, DIR/ca.crt, DIR/openssl.cnf, database) and an empty
# CRL DIR/crl.pem.
mq_ca_init() {
    local dir=$1 name=${2:-Hearth Test CA}
    mkdir -p "$dir/issued"
    chmod 711 "$dir"
    : >"$dir/index.txt"
    echo 'unique_subject = no' >"$dir/index.txt.attr"
    echo 1000 >"$dir/crlnumber"
    cat >"$dir/openssl.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir/issued
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
rand_serial = yes
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 7
default_crl_days = 30
policy = any_policy
copy_extensions = none
unique_subject = no
[ any_policy ]
commonName = supplied
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key") 2>/dev/null ||
        { echo "mqtt_lib.sh: CA key failed" >&2; return 1; }
    openssl req -new -x509 -key "$dir/ca.key" -subj "/CN=$name" -days 30 -sha256 \
        -config "$dir/openssl.cnf" -extensions ca_ext -out "$dir/ca.crt" 2>/dev/null ||
        { echo "mqtt_lib.sh: CA certificate failed" >&2; return 1; }
    mq_crl "$dir"
}

# mq_issue CADIR PREFIX CN [--server] [--days N | --expired] [--key FILE]:
# PREFIX.key (new P-256 key, 0600; or the given FILE's key, not copied) and
# PREFIX.crt for CN, signed by CADIR. Client (clientAuth) unless --server.
# --expired: valid for one day two days ago.
mq_issue() {
    local ca=$1 prefix=$2 cn=$3; shift 3
    local ext=client_ext days=7 expired="" key=""
    while [ $# -gt 0 ]; do
        case $1 in
            --server) ext=server_ext ;;
            --days) days=$2; shift ;;
            --expired) expired=1 ;;
            --key) key=$2; shift ;;
            *) echo "mq_issue: unknown option $1" >&2; return 2 ;;
        esac
        shift
    done
    if [ -z "$key" ]; then
        key="$prefix.key"
        (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key") 2>/dev/null ||
            { echo "mq_issue: key failed" >&2; return 1; }
    fi
    openssl req -new -key "$key" -subj "/CN=$cn" -config "$ca/openssl.cnf" -out "$prefix.csr" 2>/dev/null ||
        { echo "mq_issue: CSR failed" >&2; return 1; }
    local validity=(-days "$days")
    if [ -n "$expired" ]; then
        validity=(-startdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)")
    fi
    openssl ca -batch -notext -config "$ca/openssl.cnf" -extensions "$ext" "${validity[@]}" \
        -in "$prefix.csr" -out "$prefix.crt" 2>"$prefix.err" ||
        { echo "mq_issue: signing failed: $(cat "$prefix.err")" >&2; return 1; }
    rm -f "$prefix.csr" "$prefix.err"
}

# mq_revoke CADIR CERT: revoke CERT and regenerate CADIR/crl.pem.
mq_revoke() {
    openssl ca -batch -config "$1/openssl.cnf" -revoke "$2" 2>/dev/null ||
        { echo "mq_revoke: failed for $2" >&2; return 1; }
    mq_crl "$1"
}

# mq_crl CADIR: (re)generate CADIR/crl.pem from the CA's database (atomic).
mq_crl() {
    openssl ca -batch -config "$1/openssl.cnf" -gencrl -out "$1/crl.pem.tmp" 2>/dev/null ||
        { echo "mq_crl: failed for $1" >&2; return 1; }
    chmod 644 "$1/crl.pem.tmp"
    mv -f "$1/crl.pem.tmp" "$1/crl.pem"
}

# mq_trust_ca CA_CERT CA_KEY: the next broker also accepts clients of this CA
# (e.g. the manufacturer CA: "$HT_WORK/ca/ca.crt" "$HT_WORK/ca/ca.key"),
# with an empty CRL signed by it. Tests only: the shipped broker trusts the
# service CA alone.
mq_trust_ca() {
    local d="$MQ_WORK/extra-ca.${#MQ_EXTRA_CAS[@]}"
    mq_ca_wrap "$1" "$2" "$d" || return 1
    MQ_EXTRA_CAS+=("$d")
}

# mq_ca_wrap CA_CERT CA_KEY DIR: an `openssl ca` directory DIR around an
# existing CA (e.g. the manufacturer CA made by `hearth ca init`), so
# mq_issue/mq_revoke/mq_crl work with it (test certificates such as an
# expired factory certificate). Copies the key into DIR (0600).
mq_ca_wrap() {
    local crt=$1 key=$2 d=$3
    mkdir -p "$d/issued"
    chmod 711 "$d"
    sed "s|^dir = .*|dir = $d|" "$MQ_CA/openssl.cnf" >"$d/openssl.cnf"
    : >"$d/index.txt"
    echo 'unique_subject = no' >"$d/index.txt.attr"
    echo 1000 >"$d/crlnumber"
    cp "$crt" "$d/ca.crt"
    (umask 077; cp "$key" "$d/ca.key")
    mq_crl "$d"
}

# ------------------------------------------------------------- broker

# mq_free_port: a loopback port nothing listens on now (mosquitto cannot
# bind port 0 and report it, so the start retries if the port is taken
# between this check and the bind).
mq_free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

# _mq_select [NAME]: MQ_PORT, MQ_PID, MQ_DIR, MQ_LOG, MQ_PIDFILE of broker NAME.
_mq_select() {
    local n=${1:-mq}
    MQ_PORT=${MQ_PORTS[$n]:-}
    MQ_PID=${MQ_PIDS[$n]:-}
    MQ_DIR=${MQ_DIRS[$n]:-}
    MQ_LOG="$MQ_DIR/mosquitto.log"
    # shellcheck disable=SC2034 # for the tests (hearth-fleet revoke --broker-pid)
    MQ_PIDFILE="$MQ_DIR/mosquitto.pid"
    [ -n "$MQ_DIR" ] || { echo "mqtt_lib.sh: no broker named $n" >&2; return 1; }
}

# mq_broker_conf DIR PORT CAFILE CRLFILE ACL: the shipped hearth.conf with the
# listener, TLS file paths, ACL, persistence and logging of this instance.
mq_broker_conf() {
    local dir=$1 port=$2 cafile=$3 crlfile=$4 acl=$5
    bash "$HEARTH_SOURCE_DIR/scripts/broker-conf.sh" "$MQ_TEMPLATE_DIR/hearth.conf" \
        127.0.0.1 "$port" "$dir" "$MQ_WORK/broker.crt" "$dir/broker.key" "$cafile" "$crlfile" "$acl"
}

# mq_broker_start [NAME]: configure and start broker NAME (default "mq") on a
# free loopback port, wait until it accepts connections. Options through
# variables: MQ_ACL (ACL file), MQ_CRLFILE (crlfile path; default the service
# CA's crl.pem, plus the extra CAs' CRLs), MQ_CAFILE (default: service CA +
# mq_trust_ca's CAs).
mq_broker_start() {
    local n=${1:-mq} dir port
    dir="$MQ_WORK/broker-$n"
    mkdir -p "$dir"
    local cafile=${MQ_CAFILE:-$dir/cafile.pem} crlfile=${MQ_CRLFILE:-$dir/crl.pem}
    local acl=${MQ_ACL:-$MQ_TEMPLATE_DIR/hearth.acl}
    if [ -z "${MQ_CAFILE:-}" ]; then
        cat "$MQ_CA/ca.crt" >"$cafile"
        local d
        for d in "${MQ_EXTRA_CAS[@]}"; do cat "$d/ca.crt" >>"$cafile"; done
    fi
    [ -n "${MQ_CRLFILE:-}" ] || _mq_crl_bundle "$crlfile"
    cp "$acl" "$dir/hearth.acl"
    (umask 077; cp "$MQ_WORK/broker.key" "$dir/broker.key")
    MQ_DIRS[$n]=$dir
    for _ in 1 2 3 4 5; do
        port=$(mq_free_port) || return 1
        mq_broker_conf "$dir" "$port" "$cafile" "$crlfile" "$dir/hearth.acl" >"$dir/mosquitto.conf" || return 1
        [ -z "$MQ_BROKER_USER" ] || chown -R "$MQ_BROKER_USER" "$dir"
        MQ_PORTS[$n]=$port
        if _mq_launch "$n" 2>"$dir/start.err"; then return 0; fi
        grep -q "Address already in use" "$MQ_LOG" "$dir/stdout" 2>/dev/null || break
    done
    cat "$dir/start.err" >&2
    return 1
}

# _mq_crl_bundle FILE: the service CA's CRL and every extra CA's, in one file.
_mq_crl_bundle() {
    local d
    cat "$MQ_CA/crl.pem" >"$1.tmp"
    for d in "${MQ_EXTRA_CAS[@]}"; do cat "$d/crl.pem" >>"$1.tmp"; done
    chmod 644 "$1.tmp"
    [ -z "$MQ_BROKER_USER" ] || chown "$MQ_BROKER_USER" "$1.tmp"
    mv -f "$1.tmp" "$1"
}

# _mq_launch NAME: start mosquitto with NAME's config, wait for readiness.
_mq_launch() {
    local n=$1 pid
    _mq_select "$n" || return 1
    # A restart starts a fresh log (readiness and reload counts read it);
    # the previous run's lines are kept in mosquitto.log.old.
    if [ -s "$MQ_LOG" ]; then cat "$MQ_LOG" >>"$MQ_LOG.old"; fi
    : >"$MQ_LOG"
    [ -z "$MQ_BROKER_USER" ] || chown "$MQ_BROKER_USER" "$MQ_LOG"
    if [ -n "$MQ_BROKER_USER" ]; then
        setpriv --reuid="${MQ_BROKER_USER%%:*}" --regid="${MQ_BROKER_USER##*:}" --clear-groups \
            --inh-caps=-all --bounding-set=-all --no-new-privs \
            mosquitto -c "$MQ_DIR/mosquitto.conf" >>"$MQ_DIR/stdout" 2>&1 &
    else
        mosquitto -c "$MQ_DIR/mosquitto.conf" >>"$MQ_DIR/stdout" 2>&1 &
    fi
    pid=$!
    HT_PIDS+=("$pid")
    MQ_PIDS[$n]=$pid
    echo "$pid" >"$MQ_DIR/mosquitto.pid"
    _mq_select "$n"
    mq_broker_wait_ready "$n"
}

# mq_broker_wait_ready [NAME]: until the broker listens (10 s at most).
mq_broker_wait_ready() {
    _mq_select "${1:-mq}" || return 1
    local i
    for _ in $(seq 1 200); do
        if ! kill -0 "$MQ_PID" 2>/dev/null; then break; fi
        if grep -q "Opening ipv4 listen socket on port $MQ_PORT" "$MQ_LOG" 2>/dev/null &&
            (exec 3<>"/dev/tcp/127.0.0.1/$MQ_PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "mqtt_lib.sh: mosquitto ${1:-mq} did not become ready; log:" >&2
    cat "$MQ_LOG" "$MQ_DIR/stdout" >&2 2>/dev/null
    return 1
}

# mq_broker_stop [NAME]: SIGTERM and wait for it to exit.
mq_broker_stop() {
    _mq_select "${1:-mq}" || return 1
    ht_daemon_stop "$MQ_PID"
}

# mq_broker_restart [NAME]: stop, then start again on the same port with the
# same configuration and persistence.
mq_broker_restart() {
    local n=${1:-mq} i
    mq_broker_stop "$n"
    # The port may linger for a moment after the old process is gone.
    for i in $(seq 1 50); do
        _mq_launch "$n" 2>/dev/null && return 0
        sleep 0.1
    done
    _mq_launch "$n"
}

# mq_broker_reload [NAME]: refresh the broker's CRL bundle (unless MQ_CRLFILE
# names the file that someone else maintains), SIGHUP, and wait until the
# broker has reloaded (its log says so).
mq_broker_reload() {
    local n=${1:-mq} before i
    _mq_select "$n" || return 1
    [ -n "${MQ_CRLFILE:-}" ] || _mq_crl_bundle "$MQ_DIR/crl.pem"
    before=$(grep -c "Reloading config" "$MQ_LOG" 2>/dev/null || true)
    kill -HUP "$MQ_PID" || return 1
    mq_broker_wait_reloaded "$n" "$before"
}

# mq_broker_wait_reloaded [NAME] [COUNT]: until the log shows more than
# COUNT (default: 0) "Reloading config" lines; for reloads someone else
# triggered (hearth-fleet revoke).
mq_broker_wait_reloaded() {
    local n=${1:-mq} before=${2:-0} i
    _mq_select "$n" || return 1
    for _ in $(seq 1 100); do
        [ "$(grep -c "Reloading config" "$MQ_LOG" 2>/dev/null || true)" -gt "$before" ] && return 0
        sleep 0.05
    done
    echo "mqtt_lib.sh: broker $n did not reload" >&2
    return 1
}

# ------------------------------------------------------------- clients

# mq_client_args PREFIX [NAME]: TLS arguments for mosquitto_pub/sub with the
# certificate PREFIX.crt/PREFIX.key ("" for none) against broker NAME.
mq_client_args() {
    local prefix=$1
    _mq_select "${2:-mq}" || return 1
    MQ_ARGS=(-h 127.0.0.1 -p "$MQ_PORT" --cafile "$MQ_CA/ca.crt" -V mqttv5)
    [ -z "$prefix" ] || MQ_ARGS+=(--cert "$prefix.crt" --key "$prefix.key")
}

# mq_pub PREFIX ARGS...: one mosquitto_pub as PREFIX's certificate to the
# current broker (MQ_BROKER, default "mq"); QoS 1 unless ARGS say otherwise.
# Returns mosquitto_pub's status; its stderr is in $MQ_WORK/pub.err.
mq_pub() {
    local prefix=$1; shift
    mq_client_args "$prefix" "${MQ_BROKER:-mq}" || return 1
    timeout "$MQ_CLIENT_TIMEOUT" mosquitto_pub "${MQ_ARGS[@]}" -q 1 "$@" 2>"$MQ_WORK/pub.err"
}

# mq_sub_start PREFIX OUT ARGS...: a background mosquitto_sub as PREFIX's
# certificate writing "topic payload" lines to OUT; waits until it has
# subscribed (its SUBACK is in OUT.err: -d). Sets MQ_SUB_PID.
mq_sub_start() {
    local prefix=$1 out=$2; shift 2
    mq_client_args "$prefix" "${MQ_BROKER:-mq}" || return 1
    : >"$out"
    stdbuf -oL mosquitto_sub "${MQ_ARGS[@]}" -q 1 -v -d "$@" >"$out" 2>"$out.err" &
    MQ_SUB_PID=$!
    HT_PIDS+=("$MQ_SUB_PID")
    local i
    for _ in $(seq 1 200); do
        grep -q "received SUBACK" "$out" "$out.err" 2>/dev/null && return 0
        kill -0 "$MQ_SUB_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# mq_sub_messages OUT: the "topic payload" lines an mq_sub_start client has
# received so far (its -d debug lines left out).
mq_sub_messages() {
    grep -v -e '^Client ' -e '^Subscribed (mid' "$1" || true
}

# mq_sub_stop: stop the last mq_sub_start's client.
mq_sub_stop() {
    kill -TERM "$MQ_SUB_PID" 2>/dev/null
    wait "$MQ_SUB_PID" 2>/dev/null || true
}

# mq_connect_ok PREFIX [NAME]: does the broker accept a connection with this
# certificate (CONNACK success)? A publish to a topic nobody may use would
# tell nothing, so this only connects, and disconnects at once.
mq_connect_ok() {
    mq_client_args "$1" "${2:-${MQ_BROKER:-mq}}" || return 1
    timeout "$MQ_CLIENT_TIMEOUT" mosquitto_sub "${MQ_ARGS[@]}" -t "hearth/probe/none" -C 1 -W 1 -d \
        >"$MQ_WORK/connect.out" 2>&1
    grep -q "received CONNACK (0)" "$MQ_WORK/connect.out"
}

# ------------------------------------------------- device link (hearthd)

# mq_link_setup NAME: mq_init, a provisioned device NAME (serial in MQ_SERIAL)
# and a broker that, for tests only, also accepts the manufacturer CA's
# factory certificates; the service CA readable by the device user.
# Sets MQ_LINK_ARGS, the hearthd options for this broker.
mq_link_setup() {
    mq_init || return 1
    ht_provision "$1" || return 1
    MQ_SERIAL=$(ht_label_field "$1" serial)
    mq_trust_ca "$HT_WORK/ca/ca.crt" "$HT_WORK/ca/ca.key" || return 1
    mq_broker_start || return 1
    chmod 644 "$MQ_CA/ca.crt"
    MQ_LINK_ARGS=(--mqtt-broker "127.0.0.1:$MQ_PORT" --mqtt-ca "$MQ_CA/ca.crt" --mqtt-first-delay-max 0)
}

# mq_wait_for OUT PATTERN [TRIES]: until an mq_sub_start client has received
# a line containing PATTERN (fixed string); TRIES x 50 ms (default 200).
mq_wait_for() {
    local n=${3:-200}
    for _ in $(seq 1 "$n"); do
        mq_sub_messages "$1" | grep -qF -- "$2" && return 0
        sleep 0.05
    done
    return 1
}

# mq_silent_start PORT LOG NSILENT NTLS: a hostile "broker" on 127.0.0.1:PORT
# (sets MQ_SILENT_PID). Its first NSILENT connections are accepted and never
# answered (not even the TLS handshake); the next NTLS complete the TLS
# handshake with the broker's certificate, read the CONNECT and never send a
# CONNACK; then it stops listening. LOG gets one line per connection when
# the client closes it: "N MODE ACCEPT CLOSE BYTES" (monotonic seconds).
mq_silent_start() {
    local port=$1 log=$2 nsilent=$3 ntls=$4
    : >"$log"
    python3 - "$port" "$log" "$nsilent" "$ntls" "$MQ_WORK/broker.crt" "$MQ_WORK/broker.key" <<'PY' &
import select, socket, ssl, sys, time
port, log, nsilent, ntls, crt, key = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(crt, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
open(log + ".ready", "w").close()
conns, n, done = {}, 0, 0
while done < nsilent + ntls:
    r, _, _ = select.select([srv] + list(conns), [], [], 1.0)
    for s in r:
        if s is srv:
            if n >= nsilent + ntls:
                srv.accept()[0].close()
                continue
            c, _ = srv.accept()
            t, n = time.monotonic(), n + 1
            mode = "silent" if n <= nsilent else "tls"
            if mode == "tls":
                c.settimeout(5)
                try:
                    c = ctx.wrap_socket(c, server_side=True)
                except (OSError, ssl.SSLError) as e:
                    print("hostile server: handshake failed:", e, file=sys.stderr)
            conns[c] = [n, mode, t, 0]
            continue
        try:
            d = s.recv(4096)
        except (OSError, ssl.SSLError):
            d = b""
        if d:
            conns[s][3] += len(d)
            continue
        k, mode, t, b = conns.pop(s)
        with open(log, "a") as f:
            f.write("%d %s %.3f %.3f %d\n" % (k, mode, t, time.monotonic(), b))
        s.close()
        done += 1
srv.close()
PY
    MQ_SILENT_PID=$!
    HT_PIDS+=("$MQ_SILENT_PID")
    for _ in $(seq 1 100); do
        [ -e "$log.ready" ] && return 0
        sleep 0.05
    done
    return 1
}
