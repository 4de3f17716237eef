#!/usr/bin/env bash
# bench_announce.sh: the load an update announcement puts on the update
# repository (EN 303 645 5.9-3, TR 103 621 example 2), measured in one run
# for the same DEVICES (default 2,000) simulated devices announced to
#   spread  as `hearth-fleet announce` does it: batches of BATCH (default
#           200) devices, batch k told delay_s = k*SPREAD, spread_s =
#           SPREAD (default 10 s);
#   all     without batches or spread: every device told delay_s 0,
#           spread_s 0 (--batch DEVICES --spread 0), i.e. "check now".
# Set-up: a real mosquitto on loopback with mutual TLS (the fleet tests'
# broker, tests/integration/fleet_lib.sh); a fleet database holding DEVICES
# device ids; `hearth-fleet announce` publishes the announcements through
# the broker; one mosquitto_sub (QoS 1, hearth/+/updates) hands them to
# announce_sim (bench/announce_sim.c), whose devices parse each with the
# device's parser, wait as hearthd does (hearth_link_update_due_ms: delay_s
# + uniform(0, spread_s)), then each opens its own mutual-TLS connection to
# a real nginx update repository on loopback (client certificate required,
# as tests/integration/update_lib.sh starts it; one worker, worker_connections
# raised to DEVICES so the repository is not capped by the test setup) and
# GETs the manifest (MANIFEST_BYTES, default 2,048 bytes, standing in for a
# signed manifest prefix). A failed check retries after hearth_backoff's
# delay, as the updater does.
# Prints per case: peak requests/s at the repository (its access log, any
# 1 s window), checks per device, time from the first announcement until
# 99 % and all devices have checked, check latency (connect + TLS + GET)
# p50/p99/max, repository CPU seconds and its busiest second; then the
# ratios. Writes per-100 ms curves to OUT_DIR (default docs/)
# update-announce.dat and plots update-announce.png with gnuplot.
# Usage: bench/bench_announce.sh [BUILD_DIR]
#        (env DEVICES BATCH SPREAD MANIFEST_BYTES OUT_DIR; PLOT=0: no files)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
HEARTH_BUILD_DIR=$(cd "${1:-${HEARTH_BUILD_DIR:-$SRC/build}}" && pwd) || exit 1
export HEARTH_BUILD_DIR
DEVICES=${DEVICES:-2000}
BATCH=${BATCH:-200}
SPREAD=${SPREAD:-10}
MANIFEST_BYTES=${MANIFEST_BYTES:-2048}
OUT_DIR=${OUT_DIR:-$SRC/docs}
PLOT=${PLOT:-1}
source "$SRC/tests/integration/lib.sh"
ht_init
source "$SRC/tests/integration/fleet_lib.sh"
source "$SRC/tests/integration/nginx_conf.sh"
SIM=$(ht_bin announce_sim) || exit 1
command -v nginx >/dev/null || { echo "bench_announce: nginx not installed"; exit 1; }
# Every device holds a socket in announce_sim and one in nginx.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((DEVICES + 200)) ]; then
    echo "bench_announce: open-file limit $(ulimit -n) is below $((DEVICES + 200))"; exit 1
fi

fl_ca || exit 1
fl_sign benchsub benchsub || exit 1          # the simulated fleet's one subscriber
fl_sign device HT1-device "extendedKeyUsage=clientAuth" || exit 1  # the devices' client certificate
fl_sign repo localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth" || exit 1
FL_ACL_EXTRA='user benchsub\ntopic read hearth/+/updates\n\n'
fl_broker_start || exit 1
mkdir -p "$HT_WORK/www/HT1"
head -c "$MANIFEST_BYTES" /dev/urandom >"$HT_WORK/www/HT1/latest.hbm"

# The fleet: DEVICES ids in the service's database (the schema from the
# program itself: a dry-run announce opens and creates it).
"$FLEET" announce --db "$FL_DB" --version 0 --batch 1 --spread 0 --dry-run >/dev/null || exit 1
sqlite3 "$FL_DB" "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < $DEVICES)
    INSERT INTO devices(id, first_seen, last_seen) SELECT printf('HT1-%06d', i), unixepoch(), unixepoch() FROM c" || exit 1

# repo_start DIR: the update repository (nginx, mutual TLS) on a free port.
repo_start() {
    local d=$1 i
    mkdir -p "$d/tmp"
    REPO_PORT=$(fl_free_port)
    { nginx_conf_head "$d" error $((DEVICES + 256)); cat <<EOF
worker_rlimit_nofile $((DEVICES * 2 + 1024));
http {
    log_format bench '\$msec \$status \$ssl_client_verify';
    access_log $d/access.log bench;
    client_body_temp_path $d/tmp; proxy_temp_path $d/tmp;
    fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
    default_type application/octet-stream;
    sendfile on;
    server {
        listen 127.0.0.1:$REPO_PORT ssl;
        ssl_certificate $FL_SVC/repo.crt;
        ssl_certificate_key $FL_SVC/repo.key;
        ssl_client_certificate $FL_SVC/ca.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $HT_WORK/www;
    }
}
EOF
    } >"$d/nginx.conf"
    nginx -p "$d" -c "$d/nginx.conf" 2>>"$d/error.log" &
    REPO_PID=$!
    HT_PIDS+=("$REPO_PID")
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$REPO_PORT") 2>/dev/null && return 0
        kill -0 "$REPO_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench_announce: nginx did not start: $(cat "$d/error.log")" >&2
    return 1
}

# run_case NAME BATCH SPREAD
run_case() {
    local name=$1 batch=$2 spread=$3 d=$HT_WORK/$1 i
    repo_start "$d" || return 1
    sleep 0.2
    local worker
    worker=$(pgrep -P "$REPO_PID" | head -1)
    mkfifo "$HT_WORK/$name.fifo"
    # shellcheck disable=SC2046
    stdbuf -oL mosquitto_sub $(fl_tls_args benchsub) -i "bench-sub-$name" -q 1 -t 'hearth/+/updates' \
        -F '%t %p' >"$HT_WORK/$name.fifo" 2>"$HT_WORK/$name.sub.err" &
    local sub=$!
    HT_PIDS+=("$sub")
    "$SIM" --url "https://127.0.0.1:$REPO_PORT/HT1/latest.hbm" --ca "$FL_SVC/ca.crt" \
        --cert "$FL_SVC/device.crt" --key "$FL_SVC/device.key" --devices "$DEVICES" \
        --server-pid "$REPO_PID" ${worker:+--server-pid "$worker"} --curve "$HT_WORK/$name.curve" \
        <"$HT_WORK/$name.fifo" >"$HT_WORK/$name.txt" 2>"$HT_WORK/$name.err" &
    local sim=$!
    HT_PIDS+=("$sim")
    for i in $(seq 1 100); do
        grep -q "bench-sub-$name" "$FL_SVC/mosquitto.log" 2>/dev/null && break
        sleep 0.05
    done
    sleep 0.5   # its SUBSCRIBE follows the CONNECT
    "$FLEET" announce --db "$FL_DB" --version "2.0.$name" --batch "$batch" --spread "$spread" \
        --broker "127.0.0.1:$FL_BROKER_PORT" --ca "$FL_SVC/ca.crt" --cert "$FL_SVC/fleet.crt" \
        --key "$FL_SVC/fleet.key" | sed "s/^/   /"
    wait "$sim"
    local rc=$?
    kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
    kill -QUIT "$REPO_PID" 2>/dev/null; wait "$REPO_PID" 2>/dev/null
    sed 's/^/   /' "$HT_WORK/$name.err" | head -5
    [ $rc -eq 0 ] || echo "   announce_sim exit $rc (not every device checked)"
    grep -E "^(announcements_span_ms|longest_wait_ms|refused_announcements|duplicate_announcements)=" "$HT_WORK/$name.txt" | tr "\n" " " | sed "s/^/   /"; echo
    return 0
}

echo "== bench_announce: $DEVICES devices, repository nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') (mutual TLS, 1 worker), mosquitto $(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version //p')"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "-- spread: batches of $BATCH, $SPREAD s apart, spread_s $SPREAD"
run_case spread "$BATCH" "$SPREAD" || exit 1
echo "-- all: one batch of $DEVICES, spread_s 0"
run_case all "$DEVICES" 0 || exit 1

python3 - "$HT_WORK" "$DEVICES" "$BATCH" "$SPREAD" "$OUT_DIR" "$PLOT" <<'PY'
import os, sys
work, devices, batch, spread, out_dir, plot = sys.argv[1:]
devices = int(devices)
res = {}
for name in ("spread", "all"):
    kv = dict(l.strip().split("=", 1) for l in open(f"{work}/{name}.txt") if "=" in l)
    t0 = float(kv["t0_unix"])
    ts, codes = [], {}
    for l in open(f"{work}/{name}/access.log"):
        f = l.split()
        ts.append(float(f[0]) - t0)
        codes[f[1]] = codes.get(f[1], 0) + 1
    ts.sort()
    peak, j = 0, 0
    for i in range(len(ts)):          # most requests within any 1 s
        while ts[i] - ts[j] >= 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    kv.update(repo_requests=len(ts), repo_ok=codes.get("200", 0), repo_peak=peak, ts=ts)
    res[name] = kv
def sec(v): return f"{int(v)/1000:.1f}" if int(v) >= 0 else "never"
print()
print(f"{'case':7} {'asked/s':>8} {'repo peak/s':>11} {'requests':>9} {'200':>7} {'checks/dev':>10} {'t99 s':>7} {'t100 s':>7} "
      f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'repo cpu s':>10} {'cpu% 1s':>7}")
for name, r in res.items():
    print(f"{name:7} {r['peak_checks_started_per_s']:>8} {r['repo_peak']:>11} {r['repo_requests']:>9} {r['repo_ok']:>7} {r['attempts_per_device']:>10} "
          f"{sec(r['t99_ms']):>7} {sec(r['t100_ms']):>7} {r['check_p50_ms']:>7} {r['check_p99_ms']:>7} "
          f"{r['check_max_ms']:>7} {r['server_cpu_s']:>10} {r['server_cpu_peak_pct_1s']:>7}")
s, a = res["spread"], res["all"]
print("(asked/s: most checks the devices started, i.e. connections opened to the repository, in any 1 s;")
print(" repo peak/s: requests served in the busiest 1 s of the repository's access log; t99/t100: from the first")
print(" announcement until 99 %/all devices checked; p50..max: one check, connect + TLS + GET, as a device saw it)")
print()
print(f"peak checks started/s, all at once / spread:             "
      f"{int(a['peak_checks_started_per_s']) / max(int(s['peak_checks_started_per_s']), 1):.1f}")
print(f"peak requests/s served by the repository, all / spread:  {a['repo_peak'] / max(s['repo_peak'], 1):.1f}")
print(f"repository CPU busiest second, all at once / spread:     "
      f"{float(a['server_cpu_peak_pct_1s']) / max(float(s['server_cpu_peak_pct_1s']), 1):.1f}")
print(f"check p99 latency, all at once / spread:                 {int(a['check_p99_ms']) / max(int(s['check_p99_ms']), 1):.1f}")
print(f"devices checked: spread {s['fetched']} of {devices}, all at once {a['fetched']} of {devices}")
print(f"announcements received twice: spread {s['duplicate_announcements']}, all at once {a['duplicate_announcements']}")
ok = all(int(r["fetched"]) == devices and int(r["duplicate_announcements"]) == 0 and int(r["refused_announcements"]) == 0
         for r in (s, a))
if plot == "1":
    os.makedirs(out_dir, exist_ok=True)
    with open(f"{out_dir}/update-announce.dat", "w") as f:
        f.write(f"# bench/bench_announce.sh: {devices} devices; index 0: batches of {batch}, spread {spread} s; "
                "index 1: all at once.\n# t_s repo_requests_last_1s checks_in_flight repo_cpu_pct devices_done\n")
        for name in ("spread", "all"):
            curve = [l.split() for l in open(f"{work}/{name}.curve") if not l.startswith("#")]
            ts, j, k = res[name]["ts"], 0, 0
            for c in curve:
                t = float(c[0])
                while k < len(ts) and ts[k] <= t:
                    k += 1
                while j < k and ts[j] <= t - 1.0:
                    j += 1
                f.write(f"{t:.1f} {k - j} {c[3]} {c[4]} {c[6]}\n")
            f.write("\n\n")
    print(f"data: {out_dir}/update-announce.dat")
print("result:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
rc=$?
if [ "$PLOT" = 1 ] && command -v gnuplot >/dev/null && [ -f "$OUT_DIR/update-announce.dat" ]; then
    gnuplot <<GP
set terminal pngcairo size 1100,800 noenhanced
set output "$OUT_DIR/update-announce.png"
set multiplot layout 2,1 title "Update announcement to $DEVICES devices: update repository load (nginx, mutual TLS, loopback)"
set xlabel "seconds since the first announcement"
set grid
set key top right
set ylabel "repository requests in the last 1 s"
plot "$OUT_DIR/update-announce.dat" index 1 using 1:2 with lines lw 1 lc rgb "#d62728" title "all at once (delay 0, no spread)", \
     "" index 0 using 1:2 with lines lw 2 lc rgb "#1f77b4" title "hearth-fleet announce: batches of $BATCH, spread $SPREAD s"
set ylabel "devices checked"
set key bottom right
plot "$OUT_DIR/update-announce.dat" index 1 using 1:5 with lines lw 1 lc rgb "#d62728" title "all at once", \
     "" index 0 using 1:5 with lines lw 2 lc rgb "#1f77b4" title "batches with spread"
unset multiplot
GP
    echo "plot: $OUT_DIR/update-announce.png"
fi
exit $rc
