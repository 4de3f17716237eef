#!/usr/bin/env bash
# Run every benchmark against a release build and print the figures, each
# with its reference measured in the same run. Results: docs/performance.md.
# Usage: scripts/bench.sh [NAME...]   (names: store pwhash api verify boot update memory storm fleet_ingest announce)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/deps.sh >/dev/null
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null
export HEARTH_BUILD_DIR=$root/build HEARTH_SOURCE_DIR=$root
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(store pwhash api verify boot update memory storm fleet_ingest announce)
status=0
for n in "${names[@]}"; do
  echo "=================== bench: $n"
  if [ -f "bench/bench_$n.sh" ]; then
    bash "bench/bench_$n.sh" "$root/build" || status=1
  elif [ -x "build/bench/bench_$n" ]; then
    "build/bench/bench_$n" || status=1
  else
    echo "bench_$n: not built" >&2
    status=1
  fi
done
# Non-zero when a benchmark failed to run or reported a figure off target.
exit $status
