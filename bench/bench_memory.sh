#!/usr/bin/env bash
# bench_memory.sh [BUILD_DIR [DEVICE_BUILD_DIR]] -- memory of hearthd next to
# nginx, in one run:
#  - hearthd of the normal build (BUILD_DIR) and of the device-image build
#    (DEVICE_BUILD_DIR, configured with -DHEARTH_STATIC_OPENSSL=ON
#    -DHEARTH_TPM=OFF; default BUILD_DIR/device-image, built here when
#    missing), each on its own provisioned device, idle after setup + login;
#  - Debian's nginx (master + 1 worker) serving TLS on loopback with the
#    device's certificate and key and hearthd's TLS settings (nginx_lib.sh);
#  - the same three with 64 TLS connections held open (each did one
#    keep-alive GET: hearthd's authenticated GET /api/v1/thermostat, a
#    static file of the same bytes for nginx).
# For each: VmRSS (target for hearthd idle <= 8 MiB, with 64 connections
# <= 16 MiB), PSS, and private memory (Private_Clean + Private_Dirty from
# /proc/PID/smaps_rollup), the ratios against nginx, and what dominates
# hearthd's resident pages (by mapping).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export HEARTH_BUILD_DIR=${1:-${HEARTH_BUILD_DIR:-$here/../build}}
DEV_BUILD=${2:-$HEARTH_BUILD_DIR/device-image}
export HEARTH_SOURCE_DIR=$here/..
source "$here/../tests/integration/lib.sh"
ht_init
source "$here/nginx_lib.sh"
HOLD_PIDS=()
bench_cleanup() {
    local p
    for p in "${HOLD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    bench_nginx_stop
    ht_cleanup
}
trap bench_cleanup EXIT
CONNS=64

if [ ! -x "$DEV_BUILD/daemon/hearthd" ]; then
    echo "building the device image in $DEV_BUILD (HEARTH_STATIC_OPENSSL=ON, HEARTH_TPM=OFF) ..."
    t=$(date +%s)
    cmake -S "$HEARTH_SOURCE_DIR" -B "$DEV_BUILD" -DCMAKE_BUILD_TYPE=Release -DHEARTH_TPM=OFF \
        -DHEARTH_STATIC_OPENSSL=ON -DHEARTH_TESTS=OFF -DHEARTH_BENCH=OFF >"$HT_WORK/dev-cmake.log" 2>&1 ||
        { cat "$HT_WORK/dev-cmake.log" >&2; exit 1; }
    cmake --build "$DEV_BUILD" -j2 --target hearthd >"$HT_WORK/dev-build.log" 2>&1 ||
        { tail -30 "$HT_WORK/dev-build.log" >&2; exit 1; }
    echo "  built in $(( $(date +%s) - t )) s"
fi
NORMAL_HEARTHD=$HEARTHD
DEVICE_HEARTHD=$DEV_BUILD/daemon/hearthd

# mem PID... -> "rss pss private dirty" in KiB, summed over the processes
# (private = Private_Clean + Private_Dirty; dirty = Private_Dirty).
mem() {
    local p rss=0 pss=0 priv=0 dirty=0 r a b c
    for p in "$@"; do
        r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")
        read -r a b c < <(awk '/^Pss:/ {a=$2} /^Private_Clean:/ {b=$2} /^Private_Dirty:/ {c=$2}
                                END {print a, b, c}' "/proc/$p/smaps_rollup")
        rss=$((rss + r)); pss=$((pss + a)); priv=$((priv + b + c)); dirty=$((dirty + c))
    done
    echo "$rss $pss $priv $dirty"
}

# top_mappings PID: the five mappings with the most resident pages.
top_mappings() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6); sub(".*/", "", name) }
         /^Rss:/ { rss[name] += $2 }
         END { for (n in rss) printf "%d %s\n", rss[n], n }' "/proc/$1/smaps" |
        sort -rn | head -5 | awk '{ printf "%s %d KiB, ", $2, $1 }' | sed 's/, $//'
}

# hold URL PATH [TOKEN]: open $CONNS TLS connections, one keep-alive GET on
# each, keep them open until killed. Waits until all are up.
hold() {
    local out=$HT_WORK/hold.$RANDOM
    python3 - "$1" "$2" "$HT_CA" "${3:-}" "$CONNS" >"$out" 2>&1 <<'PY' &
import http.client, ssl, sys, time
url, path, ca, token, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host, port = url.split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=ca)
conns = []
for _ in range(n):
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    c.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    conns.append(c)
print("held", len(conns), flush=True)
time.sleep(600)
PY
    HOLD_PIDS+=($!)
    for _ in $(seq 1 300); do grep -q '^held' "$out" && return 0; sleep 0.1; done
    echo "bench_memory: connections not held: $(cat "$out")" >&2
    return 1
}
unhold() { local p; for p in "${HOLD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; HOLD_PIDS=(); sleep 0.5; }

# One device per build; both run at the same time as nginx.
declare -A IDLE BUSY TOP PIDS
for build in normal device; do
    HEARTHD=$NORMAL_HEARTHD
    [ $build = device ] && HEARTHD=$DEVICE_HEARTHD
    ht_provision "$build"
    ht_daemon_start "$build"
    ht_setup_admin "$build"
    PIDS[$build]=$HT_PID
    eval "URL_$build=\$HT_URL TOKEN_$build=\$HT_ADMIN_TOKEN"
done
ht_req GET /api/v1/thermostat "" "$HT_ADMIN_TOKEN"
printf '%s' "$HT_BODY" >"$HT_WORK/thermostat.json"
mkdir -p "$HT_WORK/nginx/www"
cp "$HT_WORK/thermostat.json" "$HT_WORK/nginx/www/"
bench_nginx_start device "$HT_WORK/nginx/www"
curl -s --cacert "$HT_CA" -o /dev/null "$NGINX_URL/thermostat.json"
sleep 2
for build in normal device; do IDLE[$build]=$(mem "${PIDS[$build]}"); TOP[$build]=$(top_mappings "${PIDS[$build]}"); done
# shellcheck disable=SC2046
IDLE[nginx]=$(mem $(bench_nginx_pids))

for build in normal device; do
    url=URL_$build tok=TOKEN_$build
    hold "${!url}" /api/v1/thermostat "${!tok}"
    sleep 1
    BUSY[$build]=$(mem "${PIDS[$build]}")
    unhold
done
hold "$NGINX_URL" /thermostat.json
sleep 1
# shellcheck disable=SC2046
BUSY[nginx]=$(mem $(bench_nginx_pids))
unhold

kib() { awk -v k="$1" 'BEGIN { printf "%6d KiB (%4.1f MiB)", k, k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
row() { # LABEL "rss pss priv dirty" "nginx rss pss priv dirty"
    local r p v d nr np nv nd
    read -r r p v d <<<"$2"; read -r nr np nv nd <<<"$3"
    printf '  %-24s RSS %s  PSS %s  private %s (dirty %5d KiB)   ratio vs nginx: RSS %s PSS %s private %s\n' \
        "$1" "$(kib "$r")" "$(kib "$p")" "$(kib "$v")" "$d" "$(ratio "$r" "$nr")" "$(ratio "$p" "$np")" "$(ratio "$v" "$nv")"
}
verdict() { [ "$1" -le "$2" ] && echo "met" || echo "NOT MET"; }

echo "== bench_memory: hearthd (normal, device image) and nginx $(nginx -v 2>&1 | sed 's/.*\///'), same run"
echo "   device image: $DEVICE_HEARTHD ($(ldd "$DEVICE_HEARTHD" | grep -c '=>') shared libraries; normal build $(ldd "$NORMAL_HEARTHD" | grep -c '=>'))"
echo "idle (after setup + login):"
row "hearthd (normal build)" "${IDLE[normal]}" "${IDLE[nginx]}"
row "hearthd (device image)" "${IDLE[device]}" "${IDLE[nginx]}"
row "nginx (master+worker)" "${IDLE[nginx]}" "${IDLE[nginx]}"
echo "with $CONNS TLS connections held open:"
row "hearthd (normal build)" "${BUSY[normal]}" "${BUSY[nginx]}"
row "hearthd (device image)" "${BUSY[device]}" "${BUSY[nginx]}"
row "nginx (master+worker)" "${BUSY[nginx]}" "${BUSY[nginx]}"
read -r n_idle _ <<<"${IDLE[normal]}"; read -r d_idle _ <<<"${IDLE[device]}"
read -r n_busy _ <<<"${BUSY[normal]}"; read -r d_busy _ <<<"${BUSY[device]}"
echo "targets: idle VmRSS <= 8 MiB: normal $(verdict "$n_idle" 8192), device image $(verdict "$d_idle" 8192);" \
     "$CONNS connections <= 16 MiB: normal $(verdict "$n_busy" 16384), device image $(verdict "$d_busy" 16384)"
echo "largest resident mappings, idle:"
echo "  normal build: ${TOP[normal]}"
echo "  device image: ${TOP[device]}"
