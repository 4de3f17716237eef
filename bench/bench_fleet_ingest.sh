#!/usr/bin/env bash
# bench_fleet_ingest.sh: hearth-fleet's ingest throughput, telemetry
# messages per second validated and stored in SQLite, against a plain
# `mosquitto_sub` consuming the same stream from the same broker in the same
# run (target: >= 20,000 msg/s and a ratio >= 0.8).
# Setup: a real mosquitto on loopback with mutual TLS (the tests' service CA,
# tests/integration/fleet_lib.sh); fleet_telemetry_pub publishes MESSAGES
# realistic telemetry reports from DEVICES device ids at QoS 1 (a ~400-byte
# report: ports, connections, bytes, packets, logins, memory).
# Method ("drain"): both consumers hold a persistent QoS 1 session
# (clean start off) and are offline while the fleet publishes, so the broker
# queues the same MESSAGES for each; then each consumer is started alone and
# timed from its first to its last message (mosquitto_sub: its %U receive
# stamps; hearth-fleet: first receipt to the commit of the last batch). One
# at a time, so neither takes the 2 cores from the other, and each runs at
# its own speed rather than the publisher's.
# PG=1 adds hearth-fleet on PostgreSQL (a server the script starts: initdb,
# pg_ctl, unix socket), drained the same way: one instance, then two
# instances with --shared (an MQTT shared subscription: the broker splits the
# queued stream between their sessions), each run into a database of its own.
# BASELINE=PATH adds a third consumer drained the same way: another
# hearth-fleet binary (e.g. one built from an older commit), with its own
# session and database, for a before/after figure in the same run.
# Usage: bench/bench_fleet_ingest.sh [BUILD_DIR]   (env MESSAGES=200000 DEVICES=10000 BASELINE= PG=)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
HEARTH_BUILD_DIR=$(cd "${1:-${HEARTH_BUILD_DIR:-$SRC/build}}" && pwd) || exit 1
export HEARTH_BUILD_DIR
MESSAGES=${MESSAGES:-200000}
DEVICES=${DEVICES:-10000}
source "$SRC/tests/integration/lib.sh"
ht_init
source "$SRC/tests/integration/fleet_lib.sh"
PUB=$(ht_bin fleet_telemetry_pub) || exit 1
ulimit -n 65536 2>/dev/null || true

fl_ca || exit 1
fl_sign benchpub benchpub || exit 1
FL_ACL_EXTRA='user benchpub\ntopic write hearth/#\n\n'   # the whole fleet's stand-in
fl_broker_start || exit 1
# Queue everything for the offline sessions, deliver with a wide window.
kill "$FL_BROKER_PID"; wait "$FL_BROKER_PID" 2>/dev/null
sed -i 's/^max_queued_messages .*/max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 1000/' "$FL_SVC/mosquitto.conf"
mosquitto -c "$FL_SVC/mosquitto.conf" >"$FL_SVC/mosquitto.out" 2>&1 &
FL_BROKER_PID=$!; HT_PIDS+=("$FL_BROKER_PID")
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$FL_BROKER_PORT") 2>/dev/null && break; sleep 0.05; done

# shellcheck disable=SC2046
SUB=(mosquitto_sub $(fl_tls_args fleet) -i bench-sub -c -q 1 -t 'hearth/+/telemetry')
# Register both persistent sessions, then leave.
"${SUB[@]}" -W 1 >/dev/null 2>&1
fl_fleet_start || exit 1
kill -TERM "$FL_FLEET_PID"; wait "$FL_FLEET_PID" 2>/dev/null
rm -f "$FL_DB" "$FL_DB"-wal "$FL_DB"-shm
BASELINE=${BASELINE:-}
MAIN_FLEET=$FLEET MAIN_DB=$FL_DB
if [ -n "$BASELINE" ]; then
    FLEET=$BASELINE FL_DB=$HT_WORK/baseline.db
    fl_fleet_start --client-id bench-baseline || exit 1
    kill -TERM "$FL_FLEET_PID"; wait "$FL_FLEET_PID" 2>/dev/null
    rm -f "$FL_DB" "$FL_DB"-wal "$FL_DB"-shm
    FLEET=$MAIN_FLEET FL_DB=$MAIN_DB
fi

PG=${PG:-}
if [ -n "$PG" ]; then
    fl_pg_start || exit 1
    PG_BASE=$FL_PG_URL
    for d in one two; do fl_pg_q "CREATE DATABASE $d" || exit 1; done
    PG_ONE=${PG_BASE/\/postgres?//one?} PG_TWO=${PG_BASE/\/postgres?//two?}
    # Register the PostgreSQL instances' sessions (and schemas), then leave.
    FL_DB=$PG_ONE fl_fleet_start --client-id bench-pg1 || exit 1
    kill -TERM "$FL_FLEET_PID"; wait "$FL_FLEET_PID" 2>/dev/null
    for c in a b; do
        FL_DB=$PG_TWO fl_fleet_start --client-id "bench-pg2$c" --shared bench || exit 1
        kill -TERM "$FL_FLEET_PID"; wait "$FL_FLEET_PID" 2>/dev/null
    done
fi

echo "== bench_fleet_ingest: $MESSAGES telemetry messages from $DEVICES devices, QoS 1, mutual TLS, loopback mosquitto"
"$PUB" 127.0.0.1 "$FL_BROKER_PORT" "$FL_SVC/ca.crt" "$FL_SVC/benchpub.crt" "$FL_SVC/benchpub.key" "$DEVICES" "$MESSAGES" || exit 1

# 1. mosquitto_sub drains its queue.
/usr/bin/time -f '%U %S' -o "$HT_WORK/sub.cpu" "${SUB[@]}" -C "$MESSAGES" -F '%U' >"$HT_WORK/sub.ts" 2>"$HT_WORK/sub.err"
sub_cpu=$(awk '{print $1 + $2}' "$HT_WORK/sub.cpu")
sub_n=$(wc -l <"$HT_WORK/sub.ts")
sub_t0=$(head -1 "$HT_WORK/sub.ts"); sub_t1=$(tail -1 "$HT_WORK/sub.ts")

# 2. hearth-fleet drains its queue into SQLite (then the baseline, if given).
# Prints "stored devices first_rx last_commit cpu_s".
drain_fleet() {
    fl_fleet_start "$@" || return 1
    local n _
    for _ in $(seq 1 600); do
        n=$(sqlite3 "$FL_DB" 'SELECT count(*) FROM telemetry' 2>/dev/null || echo 0)
        [ "$n" -ge "$MESSAGES" ] && break
        sleep 0.2
    done
    kill -TERM "$FL_FLEET_PID"; wait "$FL_FLEET_PID" 2>/dev/null
    local line
    line=$(grep "stopped: stored" "$HT_WORK/fleet.err")
    echo "$(sqlite3 "$FL_DB" 'SELECT count(*) FROM telemetry') $(sqlite3 "$FL_DB" 'SELECT count(*) FROM devices')" \
        "$(sed -E 's/.*first_rx ([0-9.]+).*/\1/' <<<"$line") $(sed -E 's/.*last_commit ([0-9.]+).*/\1/' <<<"$line")" \
        "$(sed -E 's/.*cpu_s ([0-9.]+).*/\1/' <<<"$line")"
}
read -r fleet_n fleet_dev f_t0 f_t1 f_cpu <<<"$(drain_fleet)"
base="- - - - -"
if [ -n "$BASELINE" ]; then
    FLEET=$BASELINE FL_DB=$HT_WORK/baseline.db
    base=$(drain_fleet --client-id bench-baseline)
    FLEET=$MAIN_FLEET FL_DB=$MAIN_DB
fi

# 3. PostgreSQL: one instance, then two splitting the stream. Prints
# "stored devices first_rx last_commit cpu_s" over the instances.
drain_pg() { # URL INSTANCES
    local url=$1 k=$2 pids=() i n _
    for i in $(seq 1 "$k"); do
        if [ "$k" = 1 ]; then
            FL_DB=$url FL_FLEET_ERR=$HT_WORK/pg$k-$i.err fl_fleet_start --client-id bench-pg1 || return 1
        else
            local c=(- a b)
            FL_DB=$url FL_FLEET_ERR=$HT_WORK/pg$k-$i.err fl_fleet_start --client-id "bench-pg2${c[$i]}" --shared bench ||
                return 1
        fi
        pids+=("$FL_FLEET_PID")
    done
    for _ in $(seq 1 900); do
        n=$(psql -X -A -t -q "$url" -c 'SELECT count(*) FROM telemetry' 2>/dev/null || echo 0)
        [ "$n" -ge "$MESSAGES" ] && break
        sleep 0.2
    done
    kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null
    cat "$HT_WORK"/pg"$k"-*.err | grep "stopped: stored" | python3 -c '
import re, sys
f0 = []; f1 = []; cpu = 0.0
for l in sys.stdin:
    f0.append(float(re.search(r"first_rx ([0-9.]+)", l).group(1)))
    f1.append(float(re.search(r"last_commit ([0-9.]+)", l).group(1)))
    cpu += float(re.search(r"cpu_s ([0-9.]+)", l).group(1))
print(min(x for x in f0 if x > 0), max(f1), cpu)' | {
        read -r a b c
        echo "$(psql -X -A -t -q "$url" -c 'SELECT count(*) FROM telemetry') $(psql -X -A -t -q "$url" -c 'SELECT count(*) FROM devices') $a $b $c"
    }
}
pg1="- - - - -" pg2="- - - - -"
if [ -n "$PG" ]; then
    pg1=$(drain_pg "$PG_ONE" 1)
    pg2=$(drain_pg "$PG_TWO" 2)
fi

python3 - "$sub_n" "$sub_t0" "$sub_t1" "$fleet_n" "$f_t0" "$f_t1" "$fleet_dev" "$MESSAGES" "$sub_cpu" "$f_cpu" "$(cut -d' ' -f1 /proc/loadavg)" $base $pg1 $pg2 <<'PY'
import sys
sn, s0, s1, fn, f0, f1, fd, m, scpu, fcpu, load, bn, bd, b0, b1, bcpu = sys.argv[1:17]
pgs = [sys.argv[17:22], sys.argv[22:27]]
scpu, fcpu = float(scpu), float(fcpu)
sn, fn, fd, m = int(sn), int(fn), int(fd), int(m)
s0, s1, f0, f1 = float(s0), float(s1), float(f0), float(f1)
sr = sn / (s1 - s0); fr = fn / (f1 - f0)
print(f"mosquitto_sub (reference):     {sn} messages in {s1-s0:.3f} s: {sr:,.0f} msg/s")
print(f"hearth-fleet run (SQLite):     {fn} messages in {f1-f0:.3f} s: {fr:,.0f} msg/s "
      f"({fd} devices, every message validated and committed)")
print(f"ratio hearth-fleet / mosquitto_sub: {fr/sr:.2f}  (target >= 0.8; target rate >= 20,000 msg/s)")
# CPU time per message: what each consumer costs, whatever else the machine runs.
print(f"CPU per message: mosquitto_sub {scpu/sn*1e6:.1f} us, hearth-fleet {fcpu/fn*1e6:.1f} us "
      f"(one core's worth: {sn/scpu:,.0f} and {fn/fcpu:,.0f} msg/s; ratio {(fn/fcpu)/(sn/scpu):.2f}); load average {load}")
if bn != "-":
    bn, b0, b1, bcpu = int(bn), float(b0), float(b1), float(bcpu)
    br = bn / (b1 - b0)
    print(f"baseline hearth-fleet (BASELINE): {bn} messages in {b1-b0:.3f} s: {br:,.0f} msg/s, "
          f"ratio to mosquitto_sub {br/sr:.2f}, CPU per message {bcpu/bn*1e6:.1f} us; this build / baseline {fr/br:.2f}")
pg_ok = True
for k, (pn, pd, p0, p1, pcpu) in enumerate(pgs, 1):
    if pn == "-":
        continue
    pn, pd, p0, p1, pcpu = int(pn), int(pd), float(p0), float(p1), float(pcpu)
    pr = pn / (p1 - p0)
    print(f"hearth-fleet run (PostgreSQL, {k} instance{'s' if k > 1 else ''}): {pn} messages in {p1-p0:.3f} s: "
          f"{pr:,.0f} msg/s ({pd} devices), ratio to mosquitto_sub {pr/sr:.2f}, "
          f"CPU per message {pcpu/pn*1e6:.1f} us (hearth-fleet processes only; PostgreSQL's own not counted)")
    pg_ok = pg_ok and pn == m
ok = fn == m and sn == m and fr >= 20000 and fr / sr >= 0.8 and pg_ok
print("result:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
