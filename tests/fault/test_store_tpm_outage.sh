#!/usr/bin/env bash
# TPM outages and NV wear (5.4-1): the TPM root of trust's rollback counter
# must never brick the store. A real swtpm is stopped while a process holds
# the store open and commits: at most 16 commits are accepted ahead of the
# counter (each is on disk and is what a restart loads), the rest are
# refused and change nothing; the device then restarts (reopen) once the
# TPM is back, and the counter catches up. A burst of commits with the TPM
# up advances the NV counter at most 16 times (the NV write budget); later
# commits queue up to the same bound and are then refused, and the store
# still opens with the counter equal to the generation.
# provisions: 5.4-1
# needs: HEARTH_TPM
# timeout: 300
set -euo pipefail

BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
C=$BUILD/tests/store_tpm_check
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=../integration/tpm_lib.sh
source "$(dirname "$0")/../integration/tpm_lib.sh"
[ -x "$C" ] || fail "$C is not built (needs -DHEARTH_TPM=ON; make store_tpm_check)"
command -v swtpm >/dev/null || fail "swtpm is not installed"

tmp=$(mktemp -d /tmp/hearth-tpm-outage.XXXXXX)
cleanup() {
    [ -n "${S_PID:-}" ] && kill "$S_PID" 2>/dev/null
    swtpm_stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT

start_swtpm "$tmp/tpm"
TP=$PORT
TCTI="swtpm:host=127.0.0.1,port=$TP"
"$C" create "$tmp/keys" "$tmp/data" "$TCTI" >/dev/null || fail "create"

# session: start a store_tpm_check session (coprocess); say CMD: send a
# command and read its answer into REPLY.
session() {
    coproc S { exec "$C" session "$tmp/keys" "$tmp/data" "$TCTI" 2>>"$tmp/session.err"; }
    S_PID=$S_PID
    read -r -t 60 REPLY <&"${S[0]}" || fail "session did not start: $(cat "$tmp/session.err")"
    [ "$REPLY" = ready ] || fail "session: $REPLY"
}
say() {
    echo "$1" >&"${S[1]}"
    read -r -t 120 REPLY <&"${S[0]}" || fail "no answer to '$1'"
    echo "  $1 -> $REPLY"
}
quit() {
    echo quit >&"${S[1]}"
    wait "$S_PID" || true
    S_PID=
}
field() { echo "$REPLY" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }

echo "1. TPM outage while the store is open, then a restart"
session
say state
g0=$(field generation)
[ "$(field counter)" = "$g0" ] || fail "counter does not start at the generation"
stop_swtpm "$PID"
# 100 tries: more than the 64 a reopen would catch up, so commits that ran
# ahead without bound would make the store unopenable for good.
say "put 100"
[ "$(field ok)" = 16 ] || fail "expected exactly 16 commits ahead of the counter, got: $REPLY"
[ "$(field refused)" = 84 ] || fail "expected the other 84 refused: $REPLY"
say state
[ "$(field generation)" = $((g0 + 16)) ] || fail "refused commits changed the store: $REPLY"
[ "$(field counter)" = none ] || fail "the TPM was expected unreachable: $REPLY"
[ "$(field value)" = v16 ] || fail "the store does not hold the last accepted commit: $REPLY"
quit
grep -q '"event":"store_counter_lag"' "$tmp/session.err" || fail "no store_counter_lag warning"
start_swtpm_at "$tmp/tpm" "$TP"
# The device starts again: the store opens and the counter catches up.
session
say state
[ "$(field generation)" = $((g0 + 16)) ] && [ "$(field counter)" = $((g0 + 16)) ] \
    || fail "after the outage the store did not reopen with the counter caught up: $REPLY"
[ "$(field value)" = v16 ] || fail "a restart does not load the last accepted commit: $REPLY"

echo "2. TPM outage and recovery within one process"
g1=$(field generation)
stop_swtpm "$PID"
say "put 3"
[ "$(field ok)" = 3 ] || fail "commits within the bound were refused: $REPLY"
start_swtpm_at "$tmp/tpm" "$TP"
say "put 1"
[ "$(field ok)" = 1 ] || fail "commit after the TPM came back refused: $REPLY"
say state
[ "$(field generation)" = $((g1 + 4)) ] && [ "$(field counter)" = $((g1 + 4)) ] \
    || fail "the counter did not catch up once the TPM answered: $REPLY"
quit

echo "3. a burst of commits: the NV write budget bounds counter increments"
session
say state
g2=$(field generation)
say "put 40"
[ "$(field ok)" = 32 ] || fail "expected 16 budgeted + 16 queued commits, got: $REPLY"
[ "$(field status)" = busy ] || fail "commits beyond the bound must be refused as BUSY: $REPLY"
say state
[ "$(field generation)" = $((g2 + 32)) ] || fail "unexpected generation: $REPLY"
[ "$(field counter)" = $((g2 + 16)) ] \
    || fail "the counter moved other than 16 times in the burst: $REPLY"
quit
session
say state
[ "$(field counter)" = "$(field generation)" ] || fail "reopen did not catch up: $REPLY"
quit
echo "PASS"
