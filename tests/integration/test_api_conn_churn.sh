#!/usr/bin/env bash
# provisions: 5.9-2
# The security log is bounded against connection churn: 25,000 real TCP
# connections (HEARTH_CHURN_N; 100,000 in earlier runs: at ~120 bytes a line,
# one line per connection would already be 3 MiB, three times the cap, so
# 25,000 shows the bound and keeps CI inside its time budget) to a real hearthd on loopback (parallel connectors, each
# holding a window of open connections so the daemon's connection cap keeps
# evicting) must leave events.log plus its rotated copy under the log cap
# (HEARTH_SECLOG_CAP_DEFAULT, 1 MiB) with every line valid JSON; the churn is
# recorded as aggregated "connections" summaries (a few lines, whose counts
# add up to the connections made), never as one line per connection; and
# the daemon still answers afterwards.
# timeout: 400
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev
ht_daemon_start dev
LOG="$HT_WORK/dev/events.log"
CAP=1048576 # HEARTH_SECLOG_CAP_DEFAULT (include/hearth/util.h)
TOTAL=${HEARTH_CHURN_N:-25000}

start=$(date +%s)
python3 - "$HT_PORT" "$TOTAL" >"$HT_WORK/churn.out" 2>"$HT_WORK/churn.err" <<'PY'
import os, socket, sys, collections
port, total = int(sys.argv[1]), int(sys.argv[2])
WORKERS, WINDOW = 8, 24   # 8 x 24 open at once: well past the 64-connection cap
def worker(k, n):
    # Own source address per worker: each gets its own ephemeral port range,
    # so 100,000 client-side TIME_WAITs never exhaust one.
    src = "127.0.0.%d" % (10 + k)
    made, failed, open_ = 0, 0, collections.deque()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.bind((src, 0))
            s.connect(("127.0.0.1", port))
            made += 1
            open_.append(s)
        except OSError:
            failed += 1
            s.close()
        while len(open_) > WINDOW:
            open_.popleft().close()
    while open_:
        open_.popleft().close()
    return made, failed
pids = []
for k in range(WORKERS):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        m, f = worker(k, total // WORKERS)
        os.write(w, b"%d %d\n" % (m, f))
        os._exit(0)
    os.close(w)
    pids.append((pid, r))
made = failed = 0
for pid, r in pids:
    data = os.read(r, 64).split()
    os.waitpid(pid, 0)
    made += int(data[0]); failed += int(data[1])
print(made, failed)
PY
rc=$?
elapsed=$(( $(date +%s) - start ))
read -r MADE FAILED <"$HT_WORK/churn.out" || { MADE=0; FAILED=0; }
echo "# $MADE connections made, $FAILED failed, in ${elapsed}s"
ht_check "connectors ran (exit $rc)" test "$rc" -eq 0
# Under load a loopback connect can time out in the kernel's SYN backlog
# (seen once in 25,000 on a loaded CI machine); what is checked below counts
# the connections actually made, so a few failed ones change nothing the
# test shows, and more than 0.1 % would mean the daemon stopped accepting.
ht_check "connections were made ($MADE of $TOTAL; failed: $FAILED, at most 0.1 %)" \
    test "$MADE" -eq $((TOTAL - FAILED)) -a "$FAILED" -le $((TOTAL / 1000))

# The daemon still serves a real client after the flood (a factory-default
# device answers 409 setup_required). This is connection number TOTAL + 1.
sleep 1
ht_req GET /api/v1/thermostat ""
ht_expect_status 409 "daemon answers after $TOTAL connections"

# Stop it: the last window's counts are written on the way out.
ht_daemon_stop
ht_check "daemon stopped cleanly (exit $HT_EXIT)" test "$HT_EXIT" -eq 0
size=$(( $(stat -c %s "$LOG" 2>/dev/null || echo 0) + $(stat -c %s "$LOG.1" 2>/dev/null || echo 0) ))
echo "# log on disk: $size bytes (cap $CAP)"
ht_check "log is not empty" test "$size" -gt 0
ht_check "log plus rotated copy <= cap ($size <= $CAP)" test "$size" -le "$CAP"

python3 - "$LOG" "$MADE" "$elapsed" >"$HT_WORK/parse.out" 2>&1 <<'PY'
import json, sys, os
log, made, elapsed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = bad = 0
summaries = []
per_conn = 0
for p in (log + ".1", log):
    if not os.path.exists(p):
        continue
    with open(p, "rb") as f:
        for raw in f:
            lines += 1
            try:
                rec = json.loads(raw)
                assert isinstance(rec, dict) and "event" in rec and "ts" in rec
            except Exception:
                bad += 1
                continue
            if rec["event"] == "connections":
                summaries.append(rec)
            if rec["event"] == "connection_closed":
                per_conn += 1
accepted = sum(int(r.get("accepted", 0)) for r in summaries)
cap_closed = sum(int(r.get("closed_connection_cap", 0)) for r in summaries)
print("lines", lines, "bad", bad, "summaries", len(summaries), "accepted", accepted,
      "cap_closed", cap_closed, "per_connection", per_conn)
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
check(lines > 0 and bad == 0, "every line is one JSON object (%d lines, %d bad)" % (lines, bad))
check(per_conn == 0, "no per-connection lines")
check(1 <= len(summaries) <= elapsed // 60 + 3, "churn aggregated into %d summary lines" % len(summaries))
# made by the connectors, plus the one request after the flood
check(accepted == made + 1, "summaries count every accepted connection (%d of %d)" % (accepted, made + 1))
check(cap_closed > made // 2, "the connection cap evicted (%d counted)" % cap_closed)
sys.exit(0 if ok else 1)
PY
prc=$?
sed 's/^/  /' "$HT_WORK/parse.out"
ht_check "log records valid and aggregated" test "$prc" -eq 0
ht_done
