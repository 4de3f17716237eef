#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages, then builds and runs
# every test (unit, integration, fault, fuzz-corpus replay, hardening checks)
# in two configurations:
#   build/       release build with hardening flags (what ships)
#   build-asan/  the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
# Usage: scripts/test.sh [--quick]   (--quick: release configuration only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh

jobs=$(nproc)
configs=(release asan)
[ "${1:-}" = "--quick" ] && configs=(release)

status=0
summary=()
for cfg in "${configs[@]}"; do
  case $cfg in
    release) dir=build;      flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_SANITIZE=ON -DHEARTH_BENCH=OFF) ;;
  esac
  echo "=== [$cfg] configure and build in $dir"
  cmake -S "$root" -B "$root/$dir" "${flags[@]}" >/dev/null
  cmake --build "$root/$dir" -j "$jobs"
  echo "=== [$cfg] ctest"
  if (cd "$root/$dir" && ctest --output-on-failure -j "$jobs" --timeout 1500); then
    summary+=("$cfg: all tests passed")
  else
    status=1
    summary+=("$cfg: FAILURES (see above)")
  fi
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "EN 303 645 evidence map: build/test-provisions.tsv"
exit $status
