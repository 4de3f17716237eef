# shellcheck shell=bash
# Shared helpers for integration tests that drive the real hearthd over real
# TLS with curl. Source it, then call ht_init once:
#
#   source "$(dirname "$0")/lib.sh"
#   ht_init                         # temp dir + EXIT trap that cleans up
#   ht_provision dev1               # CA (once) + provisioned device in $HT_WORK/dev1
#   ht_daemon_start dev1            # hearthd on 127.0.0.1:<free port>; sets HT_URL, HT_PID
#   ht_req GET /api/v1/thermostat "" "$token"   # sets HT_STATUS, HT_BODY, HT_HDRS
#   ht_expect_status 401 "no token"
#   ht_setup_admin dev1             # setup + login; sets HT_ADMIN_TOKEN
#   ht_done                         # prints the summary, exits non-zero on any failure
#
# Run as root (CI), device programs are started as an unprivileged user
# (they refuse root without --user, docs/sandbox.md): HT_DEVICE_USER (a
# numeric uid:gid, no account needed), passed as "${HT_USER_ARGS[@]}"; the
# state directory and the directories of --port-option files are given to it
# by ht_own / ht_daemon_start. Not root: HT_USER_ARGS is empty.
#
# HT_STRACE_DIR=DIR: ht_daemon_start runs the program under `strace -f` and
# writes DIR/<test>.<name>.<pid>.trace (how the seccomp lists are traced,
# scripts/seccomp-trace.sh).
#
# Everything lives under $HT_WORK (mktemp), removed on exit together with
# every daemon started through ht_daemon_start. Label files (holding the
# setup password) are generated at test time and never leave $HT_WORK.
# Dependencies: bash, curl, openssl, python3 (JSON and YAML-ish parsing).

HEARTH_SOURCE_DIR=${HEARTH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../untested.sh
source "$HEARTH_SOURCE_DIR/tests/untested.sh"
HT_FAILS=0
HT_CHECKS=0
HT_PIDS=()
HT_WORK=""
HT_ADMIN_USER="admin"
HT_DEVICE_USER=${HT_DEVICE_USER:-61234:61234}
HT_USER_ARGS=()
[ "$(id -u)" = 0 ] && HT_USER_ARGS=(--user "$HT_DEVICE_USER")
# A password that passes the SP 800-63B policy (not in any blocklist).
HT_ADMIN_PW="correct horse battery staple 7"

# ------------------------------------------------------------- locations

ht_build_dir() {
    echo "${HEARTH_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}"
}

# ht_bin NAME: path of a built program (hearthd, hearth, hearth-plugd, ...).
ht_bin() {
    local b p
    b=$(ht_build_dir)
    for p in "$b/daemon/$1" "$b/tools/$1" "$b/bench/$1" "$b"/apps/*/"$1" "$b"/services/*/"$1" "$b/$1"; do
        if [ -x "$p" ]; then echo "$p"; return 0; fi
    done
    echo "lib.sh: program $1 not found under $b" >&2
    return 1
}

# ------------------------------------------------------------- lifecycle

# ht_init: create the work dir and install the cleanup trap.
ht_init() {
    HT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/hearth-it.XXXXXX")
    chmod 700 "$HT_WORK"
    # The device user must reach its state below $HT_WORK (not list it).
    [ ${#HT_USER_ARGS[@]} -eq 0 ] || chmod 711 "$HT_WORK"
    trap ht_cleanup EXIT
    trap 'exit 130' INT TERM
    HEARTHD=$(ht_bin hearthd) || exit 1
    HEARTH_CLI=$(ht_bin hearth) || exit 1
    # As root, the CLI runs on a state as the state's owner (as_owner.sh).
    if [ ${#HT_USER_ARGS[@]} -gt 0 ]; then
        HEARTH_CLI=$("$HEARTH_SOURCE_DIR/tests/integration/as_owner.sh" --wrap "$HEARTH_CLI" "$HT_WORK/bin") || exit 1
    fi
}

# ht_cleanup: stop every daemon we started, remove the work dir.
ht_cleanup() {
    local pid
    for pid in "${HT_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    if [ -n "$HT_WORK" ] && [ -d "$HT_WORK" ]; then
        if [ "$HT_FAILS" -ne 0 ] && [ -n "${HT_KEEP_ON_FAIL:-}" ]; then
            echo "lib.sh: keeping $HT_WORK for inspection" >&2
        else
            rm -rf "$HT_WORK"
        fi
    fi
}

# ------------------------------------------------------------- results

ht_pass() { HT_CHECKS=$((HT_CHECKS + 1)); echo "ok   - $*"; }
ht_fail() { HT_CHECKS=$((HT_CHECKS + 1)); HT_FAILS=$((HT_FAILS + 1)); echo "FAIL - $*"; }

# ht_check DESCRIPTION CMD...: pass if CMD succeeds.
ht_check() {
    local d=$1; shift
    if "$@"; then ht_pass "$d"; else ht_fail "$d"; fi
}

# ht_expect_status CODE DESCRIPTION: check the last ht_req status.
ht_expect_status() {
    if [ "$HT_STATUS" = "$1" ]; then
        ht_pass "$2 (HTTP $HT_STATUS)"
    else
        ht_fail "$2: expected HTTP $1, got $HT_STATUS body=$HT_BODY"
    fi
}

# ht_untested WHAT WHY: a case this machine's clients cannot test; recorded
# as untested (tests/untested.sh), never counted as a pass.
ht_untested() { hearth_untested "$@"; }

# ht_done: summary; exit 1 if anything failed (or nothing was checked), 77
# (ctest: Not Run) if nothing was checked because everything was untested.
ht_done() {
    echo "# $HT_CHECKS checks, $HT_FAILS failed, $HEARTH_UNTESTED_COUNT untested"
    if [ "$HT_FAILS" -ne 0 ]; then exit 1; fi
    if [ "$HT_CHECKS" -eq 0 ] && [ "$HEARTH_UNTESTED_COUNT" -gt 0 ]; then hearth_untested_exit; fi
    if [ "$HT_CHECKS" -eq 0 ]; then exit 1; fi
    exit 0
}

# ------------------------------------------------------------- devices

# ht_provision NAME [MODEL]: manufacturer CA in $HT_WORK/ca (first call) and a
# device state dir $HT_WORK/NAME. The setup password is in $HT_WORK/NAME.label.json.
ht_provision() {
    local name=$1 model=${2:-HT-100}
    if [ ! -f "$HT_WORK/ca/ca.crt" ]; then
        "$HEARTH_CLI" ca init "$HT_WORK/ca" >/dev/null 2>>"$HT_WORK/provision.err" || { echo "lib.sh: ca init failed" >&2; return 1; }
    fi
    HT_CA="$HT_WORK/ca/ca.crt"
    (umask 077; "$HEARTH_CLI" provision --ca "$HT_WORK/ca" --out "$HT_WORK/$name" \
        --model "$model" --rot file --label json >"$HT_WORK/$name.label.json" 2>>"$HT_WORK/provision.err") ||
        { echo "lib.sh: provision $name failed" >&2; return 1; }
}

# ht_label_field NAME FIELD: a field of the device's label (setup_password, serial, ...).
ht_label_field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$HT_WORK/$1.label.json" "$2"
}

# ht_own PATH...: as root, give PATH (recursively) to the device user, so a
# device program started with "${HT_USER_ARGS[@]}" can use it. No-op otherwise.
ht_own() {
    [ ${#HT_USER_ARGS[@]} -eq 0 ] && return 0
    chown -R "$HT_DEVICE_USER" "$@"
}

# ht_own_port_dirs ARGS...: ht_own the directory of every absolute path given
# as a --port-option or --heartbeat value in ARGS (the device program writes
# those files).
ht_own_port_dirs() {
    local prev="" a v
    for a in "$@"; do
        if [ "$prev" = --port-option ] || [ "$prev" = --heartbeat ]; then
            v=${a#*=}
            case $v in /*) ht_own "$(dirname "$v")" ;; esac
        fi
        prev=$a
    done
}

# ht_daemon_start NAME [EXTRA ARGS...]: start $HEARTHD (hearthd, or another
# device program such as hearth-plugd) on 127.0.0.1:0 and wait for its ready
# line. Sets HT_PID, HT_PORT, HT_URL; logs in $HT_WORK/NAME.hearthd.{out,err}.
ht_daemon_start() {
    local name=$1; shift
    local out="$HT_WORK/$name.hearthd.out" err="$HT_WORK/$name.hearthd.err"
    local prog
    prog=$(basename "$HEARTHD")
    : >"$out"
    ht_own "$HT_WORK/$name"
    ht_own_port_dirs "$@"
    if [ -n "${HT_STRACE_DIR:-}" ]; then
        strace -f -qq -o "$HT_STRACE_DIR/${HEARTH_TEST_NAME:-test}.${name//\//_}.$$.$RANDOM.trace" \
            "$HEARTHD" --state "$HT_WORK/$name" --listen 127.0.0.1:0 --foreground \
            "${HT_USER_ARGS[@]}" "$@" >"$out" 2>>"$err" &
        local spid=$! i
        for i in $(seq 1 100); do
            HT_PID=$(pgrep -P "$spid" | head -1)
            [ -n "$HT_PID" ] && break
            sleep 0.05
        done
        HT_PIDS+=("$HT_PID" "$spid")
    else
        "$HEARTHD" --state "$HT_WORK/$name" --listen 127.0.0.1:0 --foreground \
            "${HT_USER_ARGS[@]}" "$@" >"$out" 2>>"$err" &
        HT_PID=$!
        HT_PIDS+=("$HT_PID")
    fi
    local line=""
    for _ in $(seq 1 200); do
        line=$(grep -m1 "^$prog: listening on https://" "$out" 2>/dev/null || true)
        [ -n "$line" ] && break
        if ! kill -0 "$HT_PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    if [ -z "$line" ]; then
        echo "lib.sh: $prog did not become ready; stderr:" >&2
        cat "$err" >&2
        return 1
    fi
    HT_PORT=${line##*:}
    HT_URL="https://127.0.0.1:$HT_PORT"
}

# ht_daemon_stop [PID]: SIGTERM and wait (up to 10 s) for a clean exit.
# Sets HT_EXIT to the exit status.
ht_daemon_stop() {
    local pid=${1:-$HT_PID}
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    wait "$pid" 2>/dev/null
    HT_EXIT=$?
}

# ------------------------------------------------------------- HTTP

# ht_curl ARGS...: curl trusting only the test CA, with a time limit.
ht_curl() {
    curl -sS --path-as-is --cacert "$HT_CA" --max-time 30 "$@"
}

# ht_req METHOD PATH [JSON_BODY] [TOKEN]: one request; sets HT_STATUS, HT_BODY
# and HT_HDRS (file with the response headers). A body is sent as
# application/json. HT_STATUS is 000 if the request failed at transport level.
ht_req() {
    local method=$1 path=$2 body=${3:-} token=${4:-}
    HT_HDRS="$HT_WORK/last.headers"
    local args=(-D "$HT_HDRS" -o "$HT_WORK/last.body" -w '%{http_code}')
    if [ "$method" = HEAD ]; then args+=(--head); else args+=(-X "$method"); fi
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    HT_STATUS=$(ht_curl "${args[@]}" "$HT_URL$path" 2>/dev/null) || true
    [ -n "$HT_STATUS" ] || HT_STATUS=000
    HT_BODY=$(cat "$HT_WORK/last.body" 2>/dev/null || true)
}

# ht_json FIELD [JSON]: one top-level field of HT_BODY (or of JSON).
ht_json() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[2]).get(sys.argv[1]); print("" if v is None else (json.dumps(v) if isinstance(v,(bool,dict,list)) else v))' \
        "$1" "${2:-$HT_BODY}" 2>/dev/null
}

# ht_event_served TOKEN EVENT FIELD VALUE: GET /api/v1/events (admin TOKEN)
# serves an EVENT whose FIELD is VALUE. Personal fields (user names,
# addresses) are sealed in events.log (docs/security-log.md): tests read them
# here, through the API, which opens them; event names stay greppable in the
# file. Leaves HT_STATUS and HT_BODY as the request set them.
ht_event_served() {
    ht_req GET "/api/v1/events?limit=64" "" "$1"
    [ "$HT_STATUS" = 200 ] || return 1
    python3 -c 'import json,sys
ev=json.loads(sys.argv[1])["events"]
sys.exit(0 if any(e.get("event")==sys.argv[2] and e.get(sys.argv[3])==sys.argv[4] for e in ev) else 1)' \
        "$HT_BODY" "$2" "$3" "$4"
}

# ht_header NAME: value of a response header of the last ht_req ("" if absent).
ht_header() {
    grep -i "^$1:" "$HT_HDRS" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ //'
}

# ht_setup_admin NAME: complete setup with HT_ADMIN_USER/HT_ADMIN_PW and log
# in; sets HT_ADMIN_TOKEN. The daemon of NAME must be running.
ht_setup_admin() {
    local spw
    spw=$(ht_label_field "$1" setup_password)
    ht_req POST /api/v1/setup \
        "{\"setup_password\":\"$spw\",\"username\":\"$HT_ADMIN_USER\",\"password\":\"$HT_ADMIN_PW\"}"
    [ "$HT_STATUS" = 200 ] || { echo "lib.sh: setup failed: $HT_STATUS $HT_BODY" >&2; return 1; }
    ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" || return 1
    HT_ADMIN_TOKEN=$HT_TOKEN
}

# ht_admin_device NAME [hearthd options...]: provision NAME, start hearthd on
# it and set it up with the admin account (HT_ADMIN_TOKEN); a failed setup
# fails the test and ends it.
ht_admin_device() {
    ht_provision "$1"
    ht_daemon_start "$@"
    ht_setup_admin "$1" || { ht_fail "setup"; ht_done; }
}

# ht_login USER PASSWORD: sets HT_TOKEN (returns 1 on failure).
ht_login() {
    ht_req POST /api/v1/login "{\"username\":\"$1\",\"password\":\"$2\"}"
    [ "$HT_STATUS" = 200 ] || return 1
    HT_TOKEN=$(ht_json token)
    [ -n "$HT_TOKEN" ]
}

# ht_version: the software version string of this build (from CMakeLists.txt),
# for checks that it is never disclosed unauthenticated.
ht_version() {
    sed -n 's/^project(hearth VERSION \([0-9.]*\).*/\1/p' "$HEARTH_SOURCE_DIR/CMakeLists.txt"
}
