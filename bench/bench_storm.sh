#!/usr/bin/env bash
# bench_storm.sh: the reconnect storm (EN 303 645 5.9-3), measured in one run
# for three reconnect policies of the same DEVICES (default 10,000)
# simulated devices against a real mosquitto on loopback:
#   hearth  Hearth's backoff (hearth_backoff, include/hearth/backoff.h,
#           defaults: first delay 0..30 s, full jitter 1 s doubling to 120 s);
#   fixed   libmosquitto's default: reconnect every 1 s, no jitter;
#   exp     plain exponential without jitter: 1 s doubling to 120 s.
# Each policy: all devices connect (paced, not measured), stay up 31 s, the
# broker is stopped, kept down OUTAGE_S (default 60) seconds, restarted; the
# run ends when every device has its CONNACK again. storm_sim is one epoll
# process doing real MQTT CONNECTs (MQTT 5 by default, MQTT=3 for 3.1.1)
# over plain TCP, or with TLS=1 over mutual TLS (a CA, the broker's and the
# devices' certificates generated here at run time, P-256; full handshakes
# only).
# Prints per policy: peak connection attempts/s (1 s window; during the
# outage and after the restart), attempts per device (during the outage and
# after the restart), time until 99 % and 100 % are back, broker CPU seconds
# and peak RSS (VmHWM) from the restart to the last CONNACK; then the ratios
# against Hearth's. Writes the per-100 ms curves to OUT_DIR (default docs/)
# reconnect-storm.dat and plots reconnect-storm.png there with gnuplot.
# Usage: bench/bench_storm.sh [BUILD_DIR]   (env DEVICES OUTAGE_S MQTT TLS SETUP_RATE OUT_DIR)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${HEARTH_BUILD_DIR:-$SRC/build}}" && pwd) || exit 1
SIM=$BUILD/storm_sim
BROKER=$SRC/tests/integration/storm_broker.sh
DEVICES=${DEVICES:-10000}
OUTAGE_S=${OUTAGE_S:-60}
MQTT=${MQTT:-5}
TLS=${TLS:-0}
# Initial connects per second (setup, not measured); a TLS handshake costs
# the broker far more than a TCP accept.
SETUP_RATE=${SETUP_RATE:-$([ "$TLS" = 1 ] && echo 250 || echo 2000)}
NAME=reconnect-storm
[ "$TLS" = 1 ] && NAME=reconnect-storm-tls
OUT_DIR=${OUT_DIR:-$SRC/docs}
[ -x "$SIM" ] || { echo "bench_storm: $SIM not built (HEARTH_TESTS=ON builds it)"; exit 1; }
command -v mosquitto >/dev/null || { echo "bench_storm: mosquitto not installed"; exit 1; }

# Each device holds one socket in storm_sim and one in mosquitto.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((DEVICES + 100)) ]; then
    echo "bench_storm: open-file limit $(ulimit -n) is below $((DEVICES + 100))"; exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench-storm.XXXXXX")
cleanup() { for p in hearth fixed exp; do "$BROKER" stop "$W/$p" 2>/dev/null; done; [ -n "${KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
TLS_ARGS=() BROKER_TLS=() TRANSPORT="plain TCP"
if [ "$TLS" = 1 ]; then
    # Fixtures made now, never stored: a CA, the broker's certificate for
    # 127.0.0.1 and one client certificate every simulated device presents.
    C=$W/certs
    mkdir -p "$C"
    chmod 755 "$W" "$C" # mosquitto may drop to its own user
    ext() { printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' "$1" "${2:-}"; }
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" \
            -subj "/CN=storm bench CA" -days 2 -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign &&
            for n in broker device; do
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$n.key" -out "$C/$n.csr" \
                    -subj "/CN=storm-$n" &&
                    if [ $n = broker ]; then ext serverAuth "subjectAltName=IP:127.0.0.1" >"$C/$n.ext"; else ext clientAuth >"$C/$n.ext"; fi &&
                    openssl x509 -req -in "$C/$n.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 2 \
                        -sha256 -extfile "$C/$n.ext" -out "$C/$n.crt" || exit 1
            done
    } 2>"$W/certs.err" || { echo "bench_storm: certificates failed"; cat "$W/certs.err"; exit 1; }
    chmod 644 "$C"/*.key # the broker's user reads its key; a throw-away directory
    TLS_ARGS=(--tls-ca "$C/ca.crt" --tls-cert "$C/device.crt" --tls-key "$C/device.key")
    BROKER_TLS=("$C/ca.crt" "$C/broker.crt" "$C/broker.key")
    TRANSPORT="mutual TLS"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== bench_storm: $DEVICES devices, MQTT $MQTT over $TRANSPORT, outage ${OUTAGE_S} s, mosquitto $(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version //p')"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg), somaxconn $(sysctl -n net.core.somaxconn)"
for p in hearth fixed exp; do
    port=$(free_port)
    "$BROKER" start "$W/$p" "$port" "${BROKER_TLS[@]}" || exit 1
    echo "-- $p (port $port)"
    "$SIM" --policy "$p" --devices "$DEVICES" --mqtt "$MQTT" --port "$port" \
        --outage-ms $((OUTAGE_S * 1000)) --hold-ms 31000 --max-recovery-ms 600000 --setup-rate "$SETUP_RATE" "${TLS_ARGS[@]}" \
        --pidfile "$W/$p/pid" --start-cmd "$BROKER start $W/$p $port" --stop-cmd "$BROKER stop $W/$p" \
        --curve "$W/$p.dat" >"$W/$p.txt" 2>"$W/$p.err"
    rc=$?
    "$BROKER" stop "$W/$p"
    sed 's/^/   /' "$W/$p.txt"
    [ $rc -eq 0 ] || { echo "   storm_sim exit $rc (not every device came back)"; cat "$W/$p.err"; }
done

val() { sed -n "s/^$2=//p" "$W/$1.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }'; }
sec() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }
echo
echo "attempt = one connect() a device starts; 'after' = started once the broker was relaunched"
printf '%-7s %9s %9s %9s %8s %8s %8s %8s %7s %7s %7s %8s %9s\n' policy "peak/s" "peak out" "peak aft" \
    "acks/s" "att out" "att aft" "aft bkr" "t99 s" "t100 s" "cpu s" "cpu% 1s" "RSS KiB"
for p in hearth fixed exp; do
    printf '%-7s %9s %9s %9s %8s %8s %8s %8s %7s %7s %7s %8s %9s\n' "$p" "$(val $p peak_attempts_per_s)" \
        "$(val $p peak_attempts_per_s_outage)" "$(val $p peak_attempts_per_s_after)" "$(val $p peak_connacks_per_s)" \
        "$(val $p attempts_per_device_outage)" "$(val $p attempts_per_device_after)" \
        "$(val $p attempts_per_device_after_reaching_broker)" \
        "$(sec "$(val $p t99_ms)")" "$(sec "$(val $p t100_ms)")" \
        "$(val $p broker_cpu_s)" "$(val $p broker_cpu_peak_pct_1s)" "$(val $p broker_peak_rss_kib)"
done
echo "(att out/aft: attempts per device during the outage / after the restart; aft bkr: after the restart"
echo " and reaching a listening broker; cpu s: broker CPU from its relaunch to the last CONNACK)"
H=$(val hearth peak_attempts_per_s)
echo
echo "peak attempts/s, fixed 1 s / Hearth:        $(ratio "$(val fixed peak_attempts_per_s)" "$H")  (target >= 10)"
echo "peak attempts/s, exponential / Hearth:      $(ratio "$(val exp peak_attempts_per_s)" "$H")"
echo "peak after restart, fixed / Hearth:         $(ratio "$(val fixed peak_attempts_per_s_after)" "$(val hearth peak_attempts_per_s_after)")"
echo "peak after restart, exponential / Hearth:   $(ratio "$(val exp peak_attempts_per_s_after)" "$(val hearth peak_attempts_per_s_after)")"
echo "Hearth attempts per device after restart:   $(val hearth attempts_per_device_after)  (target <= 1.5), max $(val hearth max_attempts_device_after)"
echo "Hearth devices back:                         $(val hearth back) of $DEVICES"

# Curves: one file, one block per policy (gnuplot index 0, 1, 2).
mkdir -p "$OUT_DIR"
{
    echo "# bench/bench_storm.sh: $DEVICES devices, MQTT $MQTT over $TRANSPORT, outage ${OUTAGE_S} s; per 100 ms bin, rates per second"
    for p in hearth fixed exp; do cat "$W/$p.dat"; printf '\n\n'; done
} >"$OUT_DIR/$NAME.dat"
if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal pngcairo size 1100,800 noenhanced
set output "$OUT_DIR/$NAME.png"
set multiplot layout 2,1 title "Reconnect storm: $DEVICES devices, $TRANSPORT, mosquitto stopped at t=0, relaunched at t=${OUTAGE_S} s"
set xlabel "seconds since the broker was stopped"
set grid
set key top right
set arrow 1 from $OUTAGE_S, graph 0 to $OUTAGE_S, graph 1 nohead dt 2
set ylabel "connection attempts in the last 1 s"
set logscale y
set yrange [1:*]
plot "$OUT_DIR/$NAME.dat" index 1 using 1:6 with lines lw 1 lc rgb "#d62728" title "libmosquitto default (fixed 1 s, no jitter)", \
     "" index 2 using 1:6 with lines lw 1 lc rgb "#ff7f0e" title "exponential 1 s..120 s, no jitter", \
     "" index 0 using 1:6 with lines lw 2 lc rgb "#1f77b4" title "Hearth (hearth_backoff)"
unset logscale y
set yrange [0:*]
set ylabel "devices connected"
set key bottom right
plot "$OUT_DIR/$NAME.dat" index 1 using 1:4 with lines lw 1 lc rgb "#d62728" title "fixed 1 s", \
     "" index 2 using 1:4 with lines lw 1 lc rgb "#ff7f0e" title "exponential", \
     "" index 0 using 1:4 with lines lw 2 lc rgb "#1f77b4" title "Hearth"
unset multiplot
GP
    echo "plot: $OUT_DIR/$NAME.png; data: $OUT_DIR/$NAME.dat"
fi
