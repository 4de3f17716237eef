# shellcheck shell=bash
# Shared swtpm handling for the TPM 2.0 integration tests (not a test itself:
# no test_ prefix). Source it after defining fail():
#
#   fail() { echo "FAIL: $*" >&2; exit 1; }
#   source "$(dirname "$0")/tpm_lib.sh"
#   trap 'swtpm_stop_all; rm -rf "$tmp"' EXIT
#   start_swtpm "$tmp/tpmA"      # sets PORT and PID
#   stop_swtpm "$PID"
#
# A device using the TPM is opened through the platform configuration, never
# through device.json: export HEARTH_ROT=tpm and
# HEARTH_TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT" for the programs under test
# (docs/provisioning.md, "Platform configuration").
#
# Each swtpm listens on 127.0.0.1 only, on a random free port pair (server
# PORT, control PORT+1), and is remembered in SWTPM_PIDS so the EXIT trap
# stops every instance, including ones a failing check left running.

SWTPM_PIDS=""
PORT=0
PID=0

# swtpm_try STATEDIR PORT: one attempt to start swtpm on PORT (control channel
# on PORT+1) with its state in STATEDIR, appending to STATEDIR.log; returns 0
# once the control port answers, 1 if swtpm died or never answered. Sets PID.
swtpm_try() {
    local state=$1 port=$2
    swtpm socket --tpmstate dir="$state" --tpm2 \
        --server type=tcp,port="$port",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
        --flags not-need-init,startup-clear >>"$state.log" 2>&1 &
    PID=$!
    SWTPM_PIDS="$SWTPM_PIDS $PID"
    for _ in $(seq 1 50); do
        kill -0 "$PID" 2>/dev/null || break
        if (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    stop_swtpm "$PID"
    return 1
}

# start_swtpm STATEDIR: start swtpm with its state in STATEDIR (created) and
# its log in STATEDIR.log; retries other ports if one is taken. Sets PORT and PID.
start_swtpm() {
    local state=$1 port
    mkdir -p "$state"
    : >"$state.log"
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 40000))
        if swtpm_try "$state" "$port"; then
            PORT=$port
            return 0
        fi
    done
    fail "could not start swtpm (see $state.log)"
}

# start_swtpm_at STATEDIR PORT: (re)start swtpm on a known port, for a test
# whose TCTI string names that port; retries while the old instance's port
# is still being released. Sets PID.
start_swtpm_at() {
    local state=$1 port=$2
    for _ in $(seq 1 50); do
        swtpm_try "$state" "$port" && return 0
        sleep 0.2
    done
    fail "swtpm did not come back on port $port (see $state.log)"
}

# stop_swtpm PID: stop one instance and reap it.
stop_swtpm() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# swtpm_stop_all: stop every instance started here (for the EXIT trap).
swtpm_stop_all() {
    local p
    for p in $SWTPM_PIDS; do
        stop_swtpm "$p"
    done
}
