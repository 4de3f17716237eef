#!/usr/bin/env bash
# provisions: 5.1-5 5.13-1 5.9-2
# Resource exhaustion: 150 idle TCP connections, 30 TLS connections that
# trickle a request one byte at a time, and 20 that stall mid-handshake must
# not stop a legitimate client: it is served promptly (the connection cap
# evicts the oldest idle connection), trickled requests are cut at the
# request deadline, and the daemon stays up.
# timeout: 120
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_admin_device dev
T=$HT_ADMIN_TOKEN

python3 - "$HT_PORT" "$HT_WORK/attack" <<'PY' &
import socket, ssl, sys, time, threading
port, state = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
socks, trick, closed = [], [], 0
for _ in range(150):                       # idle: connect, say nothing
    try: socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError: pass
for _ in range(20):                        # stalled handshake: half a ClientHello
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"); socks.append(s)
    except OSError: pass
for _ in range(30):                        # TLS up, request trickled
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))
        trick.append(s)
    except OSError: pass
open(state + ".ready", "w").write(f"{len(socks)} {len(trick)}\n")
req = b"GET /api/v1/thermostat HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
start = time.time()
alive = list(trick)
i = 0
while alive and time.time() - start < 40:
    for s in list(alive):
        try: s.send(req[i % len(req):i % len(req) + 1])
        except OSError: alive.remove(s); closed += 1
    i += 1
    time.sleep(1)
open(state + ".done", "w").write(f"{closed} {len(trick)} {time.time()-start:.1f}\n")
time.sleep(60)
PY
attacker=$!
HT_PIDS+=("$attacker")
for _ in $(seq 1 100); do [ -f "$HT_WORK/attack.ready" ] && break; sleep 0.1; done
echo "# attacker holds: $(cat "$HT_WORK/attack.ready" 2>/dev/null) (plain, trickling TLS)"

worst=0
for i in 1 2 3 4 5; do
    t=$(ht_curl -o "$HT_WORK/b" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $T" "$HT_URL/api/v1/thermostat")
    code=${t%% *}; secs=${t#* }
    worst=$(python3 -c "print(max($worst, $secs))")
    [ "$code" = 200 ] && ht_pass "legitimate request $i served under attack in ${secs}s" || ht_fail "request $i: $code"
    sleep 1
done
python3 -c "import sys; sys.exit(0 if $worst < 3.0 else 1)" && ht_pass "worst latency under attack ${worst}s (< 3 s)" ||
    ht_fail "worst latency ${worst}s"

# A password-hashing request (worker pool) also gets through.
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && ht_pass "login works under attack" || ht_fail "login under attack: $HT_STATUS"

# Trickling connections are cut by the request deadline (10 s), well before
# the attacker's 40 s of trickling.
for _ in $(seq 1 500); do [ -f "$HT_WORK/attack.done" ] && break; sleep 0.1; done
read -r closed total secs <"$HT_WORK/attack.done" || true
[ "${total:-0}" -gt 0 ] && [ "${closed:-0}" = "$total" ] && ht_pass "all $total trickling connections were closed by the server" ||
    ht_fail "trickling connections closed: ${closed:-?}/${total:-?}"
conns=$(ss -Htn state established "( sport = :$HT_PORT )" | wc -l)
# The cap shows only if the attacker did open more connections than it.
read -r opened _ <"$HT_WORK/attack.ready" 2>/dev/null || opened=0
[ "${opened:-0}" -gt 64 ] && [ "$conns" -le 64 ] && ht_pass "server holds $conns connections (cap 64) after the attacker opened ${opened:-0}" ||
    ht_fail "server holds $conns connections; the attacker opened ${opened:-0} (must be more than the cap of 64)"
kill "$attacker" 2>/dev/null; wait "$attacker" 2>/dev/null
kill -0 "$HT_PID" && ht_pass "daemon alive" || ht_fail "daemon died"
ht_req GET /api/v1/thermostat "" "$T"
ht_expect_status 200 "served normally after the attack"
ht_done
