# shellcheck shell=bash
# Helpers for update tests: an HTTPS update repository (nginx) on 127.0.0.1
# that authenticates itself with a certificate from the test's manufacturer
# CA and requires a device client certificate from the same CA
# (EN 303 645 5.3-10, 5.5-1). Sourced by tests/integration/test_update_*.sh,
# tests/fault/test_update_*.sh and bench/bench_update.sh.
#
# Usage:
#   source update_lib.sh
#   upd_server_cert "$work/repo-tls" "$ca_dir"          # server.crt/.key signed by the CA
#   upd_repo_start "$work/repo" "$root" "$work/repo-tls" "$ca_dir/ca.crt" [rate]
#   ... $UPD_REPO_URL ...
#   upd_repo_stop "$work/repo"
# Every nginx started here is stopped by upd_repo_stop_all (call it from the
# test's EXIT trap).

# shellcheck source=nginx_conf.sh
source "$(dirname "${BASH_SOURCE[0]}")/nginx_conf.sh"

UPD_REPO_DIRS=()

# upd_test_begin TAG: the common start of an update test script. Creates
# the work dir $W (hearth-TAG.XXXXXX under $TMPDIR), sets an EXIT trap that
# stops every repository started here and removes $W (upd_test_cleanup; a
# script needing more cleanup sets its own trap and calls it), makes
# INT/TERM exit 130, and defines the check counters FAILS/CHECKS with
# ok DESC, bad DESC and check DESC CMD... (defined here, not at source
# time, so scripts with their own ok/bad are unaffected).
upd_test_begin() {
    W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-$1.XXXXXX") || return 1
    trap upd_test_cleanup EXIT
    trap 'exit 130' INT TERM
    FAILS=0
    CHECKS=0
    ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
    bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
    check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
}

# upd_device_user DIR...: as root, give each DIR (recursively) to the
# unprivileged device user (HT_DEVICE_USER, default 61234:61234; the device
# programs refuse root without --user, docs/sandbox.md), let it traverse
# their parent directories, and set UPD_USER_ARGS=(--user U) for hearth-boot
# or hearthd. Not root: UPD_USER_ARGS=() and nothing changes.
upd_device_user() {
    UPD_USER_ARGS=()
    [ "$(id -u)" = 0 ] || return 0
    local u=${HT_DEVICE_USER:-61234:61234} d
    chown -R "$u" "$@"
    for d in "$@"; do chmod o+x "$(dirname "$d")"; done
    UPD_USER_ARGS=(--user "$u")
}

upd_test_cleanup() {
    upd_repo_stop_all
    rm -rf "$W"
}

# Locate build outputs.
upd_build_dir() {
    echo "${HEARTH_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}"
}

upd_find_bin() { # name -> path of a built program
    local b; b=$(upd_build_dir)
    local p
    for p in "$b/$1" "$b/tools/$1" "$b/daemon/$1" "$b/boot/$1" "$b/fetch/$1" "$b/tests/$1" "$b/tests/unit/$1"; do
        if [ -x "$p" ]; then echo "$p"; return 0; fi
    done
    return 1
}

# upd_server_cert DIR CA_DIR [CN]: key + certificate for the repository,
# signed by the manufacturer CA in CA_DIR (ca.crt + ca.key).
upd_server_cert() {
    local dir=$1 ca=$2 cn=${3:-localhost}
    mkdir -p "$dir"
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/server.key" 2>/dev/null
    openssl req -new -key "$dir/server.key" -subj "/CN=$cn/O=Hearth update repository" \
        -out "$dir/server.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' \
        >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
}

# upd_selfsigned_cert DIR: a server certificate NOT from the manufacturer CA.
upd_selfsigned_cert() {
    local dir=$1
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/server.key" -out "$dir/server.crt" -days 2 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
}

# upd_client_cert DIR CA_DIR: a client key+cert signed by CA_DIR (e.g. a
# rogue CA to prove the repository refuses foreign devices).
upd_client_cert() {
    local dir=$1 ca=$2
    mkdir -p "$dir"
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/client.key" 2>/dev/null
    openssl req -new -key "$dir/client.key" -subj "/CN=test-client" -out "$dir/client.csr" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >"$dir/cext.cnf"
    openssl x509 -req -in "$dir/client.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$dir/cext.cnf" -out "$dir/client.crt" 2>/dev/null
}

# upd_repo_start STATE ROOT TLSDIR CLIENT_CA [RATE]
# Serves ROOT over HTTPS on a free 127.0.0.1 port with client-certificate
# verification against CLIENT_CA. RATE (e.g. 2m) limits the per-connection
# send rate so tests can interrupt a transfer. $UPD_REPO_EXTRA, when set,
# is added to the server block (e.g. a location that answers 503 with a
# Retry-After header, or one that sends bundles slowly). Sets UPD_REPO_PORT,
# UPD_REPO_URL. The access log (STATE/access.log) records
# "<uri> <status> <body_bytes_sent> "<range>" <client_verify> <method>" per
# request (the method last: the verify result may contain spaces).
upd_repo_start() {
    local state=$1 root=$2 tls=$3 client_ca=$4 rate=${5:-0}
    mkdir -p "$state/tmp"
    local try port
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        { nginx_conf_head "$state" info 64; cat <<EOF
http {
    log_format upd '\$request_uri \$status \$body_bytes_sent "\$http_range" \$ssl_client_verify \$request_method';
    access_log $state/access.log upd;
    client_body_temp_path $state/tmp/body;
    proxy_temp_path $state/tmp/proxy;
    fastcgi_temp_path $state/tmp/fastcgi;
    uwsgi_temp_path $state/tmp/uwsgi;
    scgi_temp_path $state/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $tls/server.crt;
        ssl_certificate_key $tls/server.key;
        ssl_client_certificate $client_ca;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $root;
        ${UPD_REPO_EXTRA:-}
        location / { limit_rate $rate; }
    }
}
EOF
        } >"$state/nginx.conf"
        : >"$state/error.log"
        nginx -p "$state" -c "$state/nginx.conf" 2>>"$state/error.log" &
        echo $! >"$state/master.pid"
        local i
        for i in $(seq 1 50); do
            if ! kill -0 "$(cat "$state/master.pid")" 2>/dev/null; then break; fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                UPD_REPO_PORT=$port
                UPD_REPO_URL="https://127.0.0.1:$port"
                UPD_REPO_DIRS+=("$state")
                return 0
            fi
            sleep 0.1
        done
        kill "$(cat "$state/master.pid")" 2>/dev/null || true
        wait "$(cat "$state/master.pid")" 2>/dev/null || true
    done
    echo "update_lib: could not start nginx" >&2
    cat "$state/error.log" >&2
    return 1
}

# upd_repo_stop STATE: stop the nginx of STATE (fast shutdown drops open
# connections, which is what the interruption tests want).
upd_repo_stop() {
    local state=$1 pid
    [ -f "$state/master.pid" ] || return 0
    pid=$(cat "$state/master.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$state/master.pid"
}

upd_repo_stop_all() {
    local s
    for s in "${UPD_REPO_DIRS[@]}"; do upd_repo_stop "$s"; done
}

# upd_repo_bytes_sent STATE URI_SUBSTRING: total body bytes nginx sent for
# matching requests.
upd_repo_bytes_sent() {
    local state=$1 pat=$2
    awk -v p="$pat" 'index($1, p) { s += $3 } END { print s + 0 }' "$state/access.log"
}

# upd_repo_requests STATE URI_SUBSTRING: number of matching requests.
upd_repo_requests() {
    local state=$1 pat=$2
    [ -f "$state/access.log" ] || { echo "no-access-log"; return 0; }
    awk -v p="$pat" 'index($1, p) { n++ } END { print n + 0 }' "$state/access.log"
}

# upd_flip_byte FILE OFFSET: invert one byte in place.
upd_flip_byte() {
    local f=$1 off=$2 b
    b=$(dd if="$f" bs=1 skip="$off" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 0xff)))" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

# upd_seclog_has LOG EVENT [TEXT]: the security log has an EVENT line
# (containing TEXT, if given).
upd_seclog_has() {
    local log=$1 ev=$2 txt=${3:-}
    [ -f "$log" ] || return 1
    if [ -n "$txt" ]; then
        grep -F "\"event\":\"$ev\"" "$log" | grep -qF -- "$txt"
    else
        grep -qF "\"event\":\"$ev\"" "$log"
    fi
}

# ------------------------------------------------------------ fixtures
# upd_fixture WORK [PAYLOAD_BYTES] [CHUNK]: a manufacturer CA, a provisioned
# device ($WORK/state, model hearth-t1, hw id hw-rev-a) with a trust anchor
# (one root key) in $WORK/trust -- outside the state directory, as on a
# device (docs/updates.md); pass it with --trust / --update-trust --, key set
# v1 (one active signing key) and bundle 1.0.0
# (security version 1) installed in slot A; an empty repository tree in
# $WORK/www with the key set published; a payload file $WORK/payload for
# later bundles (UPD_V1_PAYLOAD=file: slot A's "hearthd" payload, e.g. the
# real hearthd for end-to-end runs). Sets UPD_DRIVER, UPD_CLI, UPD_STATE, UPD_TRUST,
# UPD_WWW, UPD_HW.
UPD_MODEL=hearth-t1
UPD_HW=hw-rev-a

upd_fixture() {
    local w=$1 size=${2:-1048576} chunk=${3:-65536}
    mkdir -p "$w"
    UPD_DRIVER=$(upd_find_bin hearth-update-driver) || { echo "update_lib: hearth-update-driver not built" >&2; return 1; }
    UPD_CLI=$(upd_find_bin hearth) || { echo "update_lib: hearth CLI not built" >&2; return 1; }
    # As root, the CLI runs on a state as the state's owner (docs/sandbox.md).
    if [ "$(id -u)" = 0 ]; then
        UPD_CLI=$("$(dirname "${BASH_SOURCE[0]}")/as_owner.sh" --wrap "$UPD_CLI" "$1/bin") || return 1
    fi
    # No build path is compiled into the updater (HEARTH_FETCH_BUILD_TREE
    # OFF): the helper is named the way a packager would (ctest sets it too).
    if [ -z "${HEARTH_FETCH_PROGRAM:-}" ]; then
        HEARTH_FETCH_PROGRAM=$(upd_find_bin hearth-fetch) || { echo "update_lib: hearth-fetch not built" >&2; return 1; }
        export HEARTH_FETCH_PROGRAM
    fi
    UPD_STATE=$w/state
    UPD_TRUST=$w/trust
    UPD_WWW=$w/www
    UPD_CHUNK=$chunk
    "$UPD_CLI" ca init "$w/ca" >/dev/null 2>&1 || { echo "ca init failed" >&2; return 1; }
    "$UPD_CLI" provision --ca "$w/ca" --out "$UPD_STATE" --model "$UPD_MODEL" --hw-id "$UPD_HW" \
        --serial UPD-TEST-0001 --label json >"$w/label.json" 2>"$w/provision.err" || {
        cat "$w/provision.err" >&2; return 1; }
    mkdir -p "$w/keys" "$UPD_TRUST" "$UPD_WWW/$UPD_HW"
    "$UPD_DRIVER" keygen "$w/keys/root.key" "$w/keys/root.pub" >/dev/null
    "$UPD_DRIVER" keygen "$w/keys/signer.key" "$w/keys/signer.pub" >/dev/null
    "$UPD_DRIVER" keyset "$w/keys/keyset-v1.hks" 1 2592000 "$w/keys/root.key" "+$w/keys/signer.pub" >/dev/null
    cp "$w/keys/root.pub" "$UPD_TRUST/root.pub"
    cp "$w/keys/keyset-v1.hks" "$UPD_STATE/keyset.hks"
    cp "$w/keys/keyset-v1.hks" "$UPD_WWW/keyset.hks"
    head -c "$size" /dev/urandom >"$w/payload"
    if [ -n "${UPD_V1_PAYLOAD:-}" ]; then cp "$UPD_V1_PAYLOAD" "$w/payload-v1"; else head -c 4096 /dev/urandom >"$w/payload-v1"; fi
    upd_bundle "$w/b-1.0.0.hbu" --version 1.0.0 --secver 1 hearthd="$w/payload-v1" >/dev/null
    "$UPD_DRIVER" factory "$UPD_STATE" "$w/b-1.0.0.hbu" >/dev/null || return 1
    upd_server_cert "$w/repo-tls" "$w/ca"
}

# upd_bundle OUT [driver bundle options] name=path...: signed by the
# fixture's signer unless --key/--unsigned is given.
upd_bundle() {
    local out=$1; shift
    local has_key=0 a
    for a in "$@"; do case $a in --key|--unsigned) has_key=1 ;; esac; done
    local w; w=$(dirname "$UPD_STATE")
    rm -f "$out"
    if [ $has_key = 0 ]; then
        "$UPD_DRIVER" bundle "$out" --key "$w/keys/signer.key" --model "$UPD_MODEL" --hw-id "$UPD_HW" \
            --chunk "$UPD_CHUNK" "$@"
    else
        "$UPD_DRIVER" bundle "$out" --model "$UPD_MODEL" --hw-id "$UPD_HW" --chunk "$UPD_CHUNK" "$@"
    fi
}

# upd_publish BUNDLE VERSION [PREFIX_FROM]: publish as the latest release:
# <www>/<hw>/VERSION.hbu and <www>/<hw>/latest.hbm (the signed prefix, taken
# from PREFIX_FROM if given, for mix-and-match cases).
upd_publish() {
    local b=$1 v=$2 pf=${3:-$1}
    rm -f "$UPD_WWW/$UPD_HW/"*.hbu "$UPD_WWW/$UPD_HW/latest.hbm"
    cp "$b" "$UPD_WWW/$UPD_HW/$v.hbu"
    "$UPD_DRIVER" prefix "$pf" "$UPD_WWW/$UPD_HW/latest.hbm" >/dev/null
}

# upd_boot_fingerprint: the boot state file's checksum + the active slot's
# manifest checksum, to assert "nothing changed" in what boots.
upd_boot_fingerprint() {
    # The authenticated boot state as `hearth slot status` decodes it, minus
    # the write generation and the key-set floor: accepting a newer key set
    # legitimately raises hearth-boot's floor (docs/boot.md) even when the
    # bundle of the same check is rejected; and minus the line of the
    # inactive slot when it is not pending: the updater installs from the
    # stream, so a rejected download leaves that slot "installing" with the
    # verified chunks before the bad one (never bootable; upd_slot_partial
    # checks that state where a test expects it).
    # Only the decoded state (stdout) counts, not the log lines slot status
    # may print while it catches a lagging floor record up. A state the CLI
    # cannot read gives a value that matches nothing, so two failed reads
    # never compare as "unchanged".
    local st
    st=$("$UPD_CLI" slot status --state "$UPD_STATE" 2>"$UPD_STATE.status.err") ||
        { echo "slot status failed: $(cat "$UPD_STATE.status.err")" >&2; echo "unreadable-$RANDOM$RANDOM$RANDOM"; return 0; }
    local inactive=none
    if grep -q '^pending slot: *none' <<<"$st"; then
        case $(sed -n 's/^active slot: *//p' <<<"$st") in a) inactive=b ;; b) inactive=a ;; esac
    fi
    { sed -e 's/ (generation [0-9]*)//' -e '/^min key-set version:/d' \
          -e 's/, key-set version [0-9]*$//' -e "/^slot $inactive: /d" <<<"$st"
      cat "$UPD_STATE/slots/a/manifest.bin" 2>/dev/null; } | sha256sum | cut -d' ' -f1
}

# upd_slot_partial SLOT: the slot holds a partial streaming install that
# can never boot: "installing" in the authenticated boot state, not
# pending, no manifest (the commit record), an install record.
upd_slot_partial() {
    local st
    st=$("$UPD_CLI" slot status --state "$UPD_STATE" 2>/dev/null) || return 1
    grep -q "^slot $1: *installing " <<<"$st" && ! grep -q "^pending slot: *$1" <<<"$st" &&
        [ ! -e "$UPD_STATE/slots/$1/manifest.bin" ] && [ -s "$UPD_STATE/slots/$1/install.rec" ]
}

# upd_field LINE KEY: value of key=value in a driver result line.
upd_field() {
    echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1 | tr -d '"'
}

# upd_slot_field STATE FIELD: a field of `hearth slot status` ("active slot").
upd_slot_field() {
    "$UPD_CLI" slot status --state "$1" 2>/dev/null | sed -n "s/^$2: *//p" | cut -d' ' -f1
}

# upd_heartbeat_sampler HBFILE OUT: background sampler of hearthd's
# heartbeat file; writes each distinct epoch_ms seen to OUT (one a line).
# Prints its pid.
upd_heartbeat_sampler() {
    local hb=$1 out=$2
    (
        last=""
        while :; do
            v=$(cut -d' ' -f1 "$hb" 2>/dev/null)
            if [ -n "$v" ] && [ "$v" != "$last" ]; then echo "$v" >>"$out"; last=$v; fi
            sleep 0.01
        done
    ) >/dev/null 2>&1 &
    echo $!
}

# upd_max_gap OUT [FROM_MS]: largest gap (ms) between consecutive samples.
upd_max_gap() {
    awk -v from="${2:-0}" '$1 >= from { if (p) { d = $1 - p; if (d > m) m = d } p = $1 } END { print m + 0 }' "$1"
}
