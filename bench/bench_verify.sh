#!/usr/bin/env bash
# bench_verify: update-bundle verification throughput against the reference
# `openssl dgst -sha256` (one core, SHA-NI where present) on the same bytes,
# measured in the same run, page cache warm for all. Medians of several runs.
#   1. 256 MiB payload bundle: openssl dgst on the payload file, then the
#      parallel chunk verifier (open + signature + every 1 MiB chunk) with 2
#      threads, and with 1 thread pinned to core 0 (openssl pinned as well).
#      Targets: >= 1.5x openssl with both cores, >= 0.95x on one core.
#   2. Peak RSS of the verifier (getrusage and /usr/bin/time): bounded by
#      threads x 1 MiB, not by the image size.
#   3. 64 MiB installed slot (hearth_slot_verify_dir, 2 threads) vs openssl
#      dgst of its payload. Target: <= 0.8x of openssl's time.
# Usage: bench/bench_verify.sh   (HEARTH_BUILD_DIR: build dir, default build/;
#        BENCH_RUNS: runs per figure, default 7)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${HEARTH_BUILD_DIR:-$SRC/build}
H=$BUILD/tools/hearth
BV=$BUILD/bench/bench_verify
RUNS=${BENCH_RUNS:-7}
for x in "$H" "$BV"; do [ -x "$x" ] || { echo "bench_verify: $x not built (make hearth-cli bench_verify)" >&2; exit 1; }; done
T=$(mktemp -d /tmp/hearth-bench-verify-XXXXXX)
trap 'rm -rf "$T"' EXIT
export HEARTH_KEY_PASS="bench passphrase, not a secret"

# Fixtures: keys, key set, trust anchor, 256 MiB and 64 MiB bundles.
"$H" keygen --out "$T/root.key" >/dev/null
"$H" keygen --out "$T/sign.key" >/dev/null
mkdir "$T/trust" && cp "$T/root.key.pub" "$T/trust/"
"$H" keyset create --root-key "$T/root.key" --out "$T/ks" --version 1 --expires 1 --add "$T/sign.key.pub" >/dev/null
echo "notes" > "$T/notes"
mk() { # name MiB
    head -c $(($2 * 1024 * 1024)) /dev/urandom > "$T/$1.img"
    "$H" bundle create --out "$T/$1.hbd" --model bench --hw-id b1 --version 1 --security-version 1 \
        --expires 1 --notes-file "$T/notes" --mitigates none --payload "rootfs=$T/$1.img" >/dev/null 2>&1
    "$H" bundle sign "$T/$1.hbd" --key "$T/sign.key" >/dev/null
}
mk big 256
mk small 64
"$H" bundle verify "$T/small.hbd" --keyset "$T/ks" --trust "$T/trust" --extract "$T/slot" >/dev/null 2>&1
cat "$T/big.hbd" "$T/big.img" "$T/slot/payload/rootfs" > /dev/null # warm the page cache

# median wall time (s) of a command, via hyperfine if present
median() {
    if command -v hyperfine >/dev/null; then
        hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$T/h.json" "$1" >/dev/null 2>&1
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$T/h.json"
    else
        python3 - "$1" "$RUNS" <<'PY'
import subprocess, sys, time, statistics
ts = []
for _ in range(int(sys.argv[2])):
    t0 = time.monotonic(); subprocess.run(sys.argv[1], shell=True, stdout=subprocess.DEVNULL, check=True)
    ts.append(time.monotonic() - t0)
print(statistics.median(ts))
PY
    fi
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

ref_big=$(median "openssl dgst -sha256 $T/big.img")
ref_big1=$(median "taskset -c 0 openssl dgst -sha256 $T/big.img")
out2=$("$BV" bundle "$T/big.hbd" "$T/ks" "$T/trust" 2 "$RUNS")
out1=$(taskset -c 0 "$BV" bundle "$T/big.hbd" "$T/ks" "$T/trust" 1 "$RUNS")
rss_time=$( { /usr/bin/time -f '%M' "$BV" bundle "$T/big.hbd" "$T/ks" "$T/trust" 2 1 >/dev/null; } 2>&1 | tail -1)
ref_slot=$(median "openssl dgst -sha256 $T/slot/payload/rootfs")
outs=$("$BV" slot "$T/slot" "$T/ks" "$T/trust" 2 "$RUNS")
# whole process (exec, key set, signature, chunks), like openssl's figure
cli2=$(median "$H bundle verify $T/big.hbd --keyset $T/ks --trust $T/trust --threads 2")
cli1=$(median "taskset -c 0 $H bundle verify $T/big.hbd --keyset $T/ks --trust $T/trust --threads 1")
clis=$(median "$H bundle verify-slot $T/slot --keyset $T/ks --trust $T/trust --threads 2")

python3 - "$ref_big" "$ref_big1" "$out2" "$out1" "$rss_time" "$ref_slot" "$outs" "$(nproc)" \
    "$cli2" "$cli1" "$clis" <<'EOF'
import re, sys
def f(s, k): return float(re.search(k + r"=([0-9.]+)", s).group(1))
ref, ref1, o2, o1, rss_t, refs, os_, ncpu, c2, c1, cs = sys.argv[1:12]
ref, ref1, refs, c2, c1, cs = float(ref), float(ref1), float(refs), float(c2), float(c1), float(cs)
mib = f(o2, "bytes") / (1 << 20)
t2, t1, ts = f(o2, "median_s"), f(o1, "median_s"), f(os_, "median_s")
smib = f(os_, "bytes") / (1 << 20)
def row(name, t, size): print(f"{name:<46} {t*1000:9.1f} ms {size / t:8.0f} MiB/s")
print(f"bundle payload {mib:.0f} MiB, 1 MiB chunks, SHA-256, {ncpu} CPUs online")
row("openssl dgst -sha256 (reference)", ref, mib)
row("openssl dgst -sha256, pinned to core 0", ref1, mib)
row("hearth verifier in-process, 2 threads", t2, mib)
row("hearth verifier in-process, 1 thread, core 0", t1, mib)
row("hearth bundle verify (whole CLI), 2 threads", c2, mib)
row("hearth bundle verify (whole CLI), 1 thr, core 0", c1, mib)
# ratios use the whole-process CLI figures: same footing as openssl's
r2, r1 = ref / c2, ref1 / c1
print(f"speed ratio 2 threads / openssl:   {r2:5.2f}x  (target >= 1.5x)  {'PASS' if r2 >= 1.5 else 'MISS'}")
print(f"speed ratio 1 thread  / openssl:   {r1:5.2f}x  (target >= 0.95x) {'PASS' if r1 >= 0.95 else 'MISS'}")
print(f"peak RSS of verifier (2 threads):  {f(o2, 'rss_kb')/1024:.1f} MiB getrusage, {int(rss_t)/1024:.1f} MiB /usr/bin/time "
      f"(payload {mib:.0f} MiB)")
row(f"openssl dgst -sha256 on {smib:.0f} MiB slot payload", refs, smib)
row(f"hearth_slot_verify_dir {smib:.0f} MiB in-process, 2 thr", ts, smib)
row(f"hearth bundle verify-slot (whole CLI), 2 threads", cs, smib)
rs = cs / refs
print(f"slot verification time / openssl:  {rs:5.2f}   (target <= 0.8)    {'PASS' if rs <= 0.8 else 'MISS'}")
EOF
