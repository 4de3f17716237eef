#!/usr/bin/env bash
# provisions: 5.4-1 5.6-1 5.9-1 5.3-16
# hearthd lifecycle: refuses to start (exit 1, clear message) on a tampered
# state (a flipped store byte, an edited device.json); shuts down cleanly on
# SIGTERM and SIGINT (exit 0) with every setting kept (all state lives in the
# secure store); a SIGKILL loses nothing either; listens only where told;
# bad command lines are usage errors (exit 2).
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_admin_device dev
ht_req PUT /api/v1/thermostat '{"target_c":23.5,"mode":"off"}' "$HT_ADMIN_TOKEN"
ht_expect_status 200 "set target 23.5, off"

ht_daemon_stop
[ "$HT_EXIT" = 0 ] && ht_pass "SIGTERM: clean exit 0" || ht_fail "SIGTERM exit $HT_EXIT"
grep -q '"event":"daemon_stopping"' "$HT_WORK/dev/events.log" && ht_pass "shutdown logged" || ht_fail "no daemon_stopping event"

ht_daemon_start dev
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" || ht_fail "login after restart"
ht_req GET /api/v1/thermostat "" "$HT_TOKEN"
[ "$(ht_json target_c)" = 23.5 ] && [ "$(ht_json mode)" = off ] && ht_pass "settings kept across restart" || ht_fail "after restart: $HT_BODY"
ht_req GET /api/v1/device "" "$HT_TOKEN"
[ "$(ht_json model)" = HT-100 ] && [ -n "$(ht_json software_version)" ] && ht_pass "device info: model HT-100, version $(ht_json software_version)" ||
    ht_fail "device info: $HT_BODY"
ht_req PUT /api/v1/thermostat '{"target_c":24}' "$HT_TOKEN"
kill -KILL "$HT_PID"; wait "$HT_PID" 2>/dev/null
ht_daemon_start dev
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" || ht_fail "login after SIGKILL"
ht_req GET /api/v1/thermostat "" "$HT_TOKEN"
[ "$(ht_json target_c)" = 24.0 ] || [ "$(ht_json target_c)" = 24 ] && ht_pass "acknowledged change survives SIGKILL" || ht_fail "after SIGKILL: $HT_BODY"
kill -INT "$HT_PID"
for _ in $(seq 1 100); do kill -0 "$HT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$HT_PID"; rc=$?
[ "$rc" = 0 ] && ht_pass "SIGINT: clean exit 0" || ht_fail "SIGINT exit $rc"

# Listen address honoured: an explicit address is the only one bound. The
# check counts only once the daemon is shown listening on exactly that
# address (a daemon that never started binds nothing, wildcard or not).
"$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/dev" --listen 127.0.0.1:0 --foreground >"$HT_WORK/l.out" 2>"$HT_WORK/l.err" &
pid=$!; HT_PIDS+=("$pid")
for _ in $(seq 1 200); do grep -q listening "$HT_WORK/l.out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\)$/\1/p' "$HT_WORK/l.out")
socks=$(ss -Hltnp 2>/dev/null | grep "pid=$pid," | awk '{print $4}')
if [ -z "$port" ]; then
    ht_fail "listen address: hearthd did not start ($(head -c 300 "$HT_WORK/l.err"))"
elif [ "$socks" != "127.0.0.1:$port" ]; then
    ht_fail "listen address: hearthd (pid $pid) listens on '$(echo "$socks" | tr '\n' ' ')', expected exactly 127.0.0.1:$port"
else
    ht_pass "bound to 127.0.0.1:$port only (its only listening socket)"
fi
ht_daemon_stop "$pid"

# Usage errors.
"$HEARTHD" "${HT_USER_ARGS[@]}" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] && ht_pass "no --state: exit 2" || ht_fail "no --state: exit $rc"
"$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/dev" --bogus >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] && ht_pass "unknown option: exit 2" || ht_fail "unknown option: exit $rc"
"$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/dev" --listen 127.0.0.1:99999 --foreground >/dev/null 2>&1; rc=$?
[ "$rc" = 1 ] && ht_pass "bad port: exit 1" || ht_fail "bad port: exit $rc"
"$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/nonexistent" --foreground >/dev/null 2>&1; rc=$?
[ "$rc" = 1 ] && ht_pass "missing state: exit 1" || ht_fail "missing state: exit $rc"

# Tampering: flip one byte of the store (a copy of the state, so each case is independent).
cp -a "$HT_WORK/dev" "$HT_WORK/t1"
f="$HT_WORK/t1/data/store.hst"
size=$(stat -c %s "$f")
python3 - "$f" "$((size / 2))" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[off] ^= 0x01; open(p, "wb").write(b)
PY
timeout 20 "$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/t1" --listen 127.0.0.1:0 --foreground >"$HT_WORK/t1.out" 2>"$HT_WORK/t1.err"; rc=$?
[ "$rc" = 1 ] && ! grep -q listening "$HT_WORK/t1.out" && ht_pass "flipped store byte: refuses to start (exit 1)" ||
    ht_fail "flipped store byte: exit $rc, out: $(cat "$HT_WORK/t1.out")"
grep -q "^hearthd: refusing to start" "$HT_WORK/t1.err" && ht_pass "clear message: $(grep "^hearthd:" "$HT_WORK/t1.err" | head -c 200)" ||
    ht_fail "no clear message: $(cat "$HT_WORK/t1.err")"

cp -a "$HT_WORK/dev" "$HT_WORK/t2"
sed -i 's/HT-100/HT-999/' "$HT_WORK/t2/device.json"
timeout 20 "$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/t2" --listen 127.0.0.1:0 --foreground >"$HT_WORK/t2.out" 2>"$HT_WORK/t2.err"; rc=$?
[ "$rc" = 1 ] && ! grep -q listening "$HT_WORK/t2.out" && ht_pass "edited device.json: refuses to start (exit 1)" ||
    ht_fail "edited device.json: exit $rc"

# Background mode: detaches, prints the ready line, keeps serving.
"$HEARTHD" "${HT_USER_ARGS[@]}" --state "$HT_WORK/dev" --listen 127.0.0.1:0 >"$HT_WORK/bg.out" 2>&1; rc=$?
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\)$/\1/p' "$HT_WORK/bg.out")
bgpid=$(ss -Hltnp "( sport = :${port:-1} )" | sed -n 's/.*pid=\([0-9]*\),.*/\1/p' | head -1)
[ -n "$bgpid" ] && HT_PIDS+=("$bgpid")
[ "$rc" = 0 ] && [ -n "$port" ] && [ -n "$bgpid" ] && ht_pass "background mode: parent exits 0, daemon pid $bgpid on port $port" ||
    ht_fail "background mode: rc=$rc out=$(cat "$HT_WORK/bg.out")"
[ -n "$bgpid" ] && kill -TERM "$bgpid"
ht_done
