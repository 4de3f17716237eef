#!/usr/bin/env bash
# bench_api.sh [BUILD_DIR] -- hearthd's HTTPS API against nginx in the same run.
#
#  1. Throughput: authenticated GET /api/v1/thermostat over TLS keep-alive
#     (wrk, 2 threads, 8 connections, 10 s) vs nginx serving a static file of
#     the same size with the SAME certificate, key and TLS settings. Prints
#     both req/s and the ratio (target >= 0.5).
#  2. hearthd idle RSS (VmRSS, target <= 8 MiB) and stripped binary sizes.
#  3. Login latency p50/p95 through the API (Argon2id; target 50-300 ms).
# The device key is exported to a temp file for nginx only, inside the
# benchmark's private temp dir, and deleted on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export HEARTH_BUILD_DIR=${1:-${HEARTH_BUILD_DIR:-$here/../build}}
export HEARTH_SOURCE_DIR=$here/..
source "$here/../tests/integration/lib.sh"
ht_init
source "$here/nginx_lib.sh"
bench_cleanup() {
    bench_nginx_stop
    ht_cleanup
}
trap bench_cleanup EXIT
command -v wrk >/dev/null || { echo "bench_api: wrk not installed" >&2; exit 1; }

ht_provision dev
ht_daemon_start dev
ht_setup_admin dev
echo "hearthd pid $HT_PID on $HT_URL"
sleep 1
idle_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$HT_PID/status")

# --- 1. throughput
ht_req GET /api/v1/thermostat "" "$HT_ADMIN_TOKEN"
body_len=${#HT_BODY}
mkdir -p "$HT_WORK/nginx/www"
printf '%s' "$HT_BODY" >"$HT_WORK/nginx/www/thermostat.json"
bench_nginx_start dev "$HT_WORK/nginx/www"
nport=$NGINX_PORT

cat >"$HT_WORK/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $HT_ADMIN_TOKEN"
LUA
run_wrk() { # URL [LUA] -> req/s
    local args=(-t2 -c8 -d10s --latency)
    [ -n "${2:-}" ] && args+=(-s "$2")
    wrk "${args[@]}" "$1" >"$HT_WORK/wrk.out" 2>&1
    grep -q 'Non-2xx' "$HT_WORK/wrk.out" && { echo "bench_api: non-2xx responses:" >&2; cat "$HT_WORK/wrk.out" >&2; exit 1; }
    awk '/^Requests\/sec:/ {print $2}' "$HT_WORK/wrk.out"
}
h_rps=$(run_wrk "$HT_URL/api/v1/thermostat" "$HT_WORK/auth.lua")
h_p50=$(awk '/ 50%/ {print $2}' "$HT_WORK/wrk.out")
n_rps=$(run_wrk "https://127.0.0.1:$nport/thermostat.json")
n_p50=$(awk '/ 50%/ {print $2}' "$HT_WORK/wrk.out")
echo "throughput (TLS keep-alive, ${body_len}-byte JSON, wrk -t2 -c8 -d10s):"
printf '  hearthd authenticated GET /api/v1/thermostat: %10.0f req/s (p50 %s)\n' "$h_rps" "$h_p50"
printf '  nginx static file, same cert and TLS:          %10.0f req/s (p50 %s)\n' "$n_rps" "$n_p50"
python3 -c "r=$h_rps/$n_rps; print(f'  ratio hearthd/nginx: {r:.2f} (target >= 0.5) {\"OK\" if r >= 0.5 else \"BELOW TARGET\"}')"

# --- 2. memory and size
sleep 1
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$HT_PID/status")
nrss=$(for p in $(bench_nginx_pids); do awk '/^VmRSS:/ {print $2}' "/proc/$p/status"; done | paste -sd+ | bc)
echo "memory (VmRSS):"
printf '  hearthd idle (after setup + login): %6d KiB (%.1f MiB; target <= 8 MiB) %s\n' "$idle_rss" "$(echo "$idle_rss/1024" | bc -l)" "$([ "$idle_rss" -le 8192 ] && echo OK || echo ABOVE TARGET)"
printf '  hearthd after the load:             %6d KiB (%.1f MiB)\n' "$rss" "$(echo "$rss/1024" | bc -l)"
printf '  nginx (master+worker): %6d KiB; ratio hearthd/nginx %.2f\n' "$nrss" "$(echo "$rss/$nrss" | bc -l)"
for b in "$HEARTHD" "$HEARTH_CLI"; do
    strip -o "$HT_WORK/stripped" "$b"
    printf '  stripped %-8s %8d bytes\n' "$(basename "$b")" "$(stat -c %s "$HT_WORK/stripped")"
done
printf '  stripped nginx   %8d bytes (reference)\n' "$(stat -c %s "$(command -v nginx)")"

# --- 3. login latency
python3 - "$HT_URL" "$HT_CA" "$HT_ADMIN_USER" "$HT_ADMIN_PW" <<'PY'
import http.client, json, ssl, statistics, sys, time
url, ca, user, pw = sys.argv[1:]
host, port = url.split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=ca)
times = []
for _ in range(15):
    c = http.client.HTTPSConnection(host, int(port), context=ctx)
    c.connect()  # TLS handshake outside the timed part
    t = time.perf_counter()
    c.request("POST", "/api/v1/login", json.dumps({"username": user, "password": pw}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    times.append((time.perf_counter() - t) * 1000)
    assert r.status == 200, r.status
    c.close()
times.sort()
p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
ok = "OK" if 50 <= p50 <= 300 else "OUTSIDE TARGET"
print(f"login latency through the API (15 logins): p50 {p50:.0f} ms, p95 {p95:.0f} ms (target 50-300 ms) {ok}")
PY
