#!/usr/bin/env bash
# Stripped sizes of what a device ships, per build option
# (docs/build-options.md): hearthd, hearth-plugd, hearth, hearth-boot,
# hearth-fetch and libhearth, built with CMAKE_BUILD_TYPE=Release in one
# directory per configuration:
#   default       every option at its default (HEARTH_TPM, HEARTH_WITH_UPLOAD,
#                 HEARTH_WITH_EXAMPLES ON; HEARTH_TEST_HOOKS OFF)
#   no-tpm        -DHEARTH_TPM=OFF
#   no-upload     -DHEARTH_WITH_UPLOAD=OFF
#   minimal       all three feature options OFF (HEARTH_WITH_EXAMPLES=OFF
#                 only leaves hearth-plugd out: it changes no other size)
#   test-hooks    -DHEARTH_TEST_HOOKS=ON (what scripts/test.sh tests; not shipped)
# Programs are measured after `strip --strip-all` of a copy, libraries after
# `strip --strip-debug` (an archive keeps its symbol table). libhearth is the
# single archive libhearth.a where the build makes one, else the sum of the
# module archives src/*/libhearth_*.a. Each line prints the size and its ratio
# to the default configuration, measured in the same run.
# Usage: bench/bench_sizes.sh   (or scripts/bench.sh sizes; the builds go to
# $HEARTH_SIZES_DIR, default build-sizes/ in the tree;
# each configuration is a cmake build there, reused on a second run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${HEARTH_SIZES_DIR:-$root/build-sizes}
jobs=$(nproc)
configs=(default no-tpm no-upload minimal test-hooks)
flags_of() {
  case $1 in
    default) ;;
    no-tpm) echo -DHEARTH_TPM=OFF ;;
    no-upload) echo -DHEARTH_WITH_UPLOAD=OFF ;;
    minimal) echo -DHEARTH_TPM=OFF -DHEARTH_WITH_UPLOAD=OFF -DHEARTH_WITH_EXAMPLES=OFF ;;
    test-hooks) echo -DHEARTH_TEST_HOOKS=ON ;;
  esac
}
progs=(daemon/hearthd apps/plug/hearth-plugd tools/hearth boot/hearth-boot fetch/hearth-fetch)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# size_of DIR ITEM: stripped bytes of ITEM in build DIR, "-" if not built.
size_of() {
  local d=$1 item=$2 f
  if [ "$item" = libhearth ]; then
    f=$(find "$d" -name libhearth.a -not -path '*/CMakeFiles/*' | head -1)
    if [ -n "$f" ]; then
      cp "$f" "$tmp/lib.a"; strip --strip-debug "$tmp/lib.a"; stat -c %s "$tmp/lib.a"
      return
    fi
    local sum=0 a
    for a in "$d"/src/*/libhearth_*.a; do
      cp "$a" "$tmp/lib.a"; strip --strip-debug "$tmp/lib.a"
      sum=$((sum + $(stat -c %s "$tmp/lib.a")))
    done
    echo "$sum"
    return
  fi
  f=$d/$item
  [ -f "$f" ] || { echo -; return; }
  cp "$f" "$tmp/prog"; strip --strip-all "$tmp/prog"; stat -c %s "$tmp/prog"
}

declare -A size
for c in "${configs[@]}"; do
  d=$work/$c
  # shellcheck disable=SC2046
  cmake -S "$root" -B "$d" -DCMAKE_BUILD_TYPE=Release -DHEARTH_TESTS=OFF -DHEARTH_BENCH=OFF \
    $(flags_of "$c") >/dev/null
  cmake --build "$d" -j "$jobs" >/dev/null
  for p in "${progs[@]}" libhearth; do size[$c,$p]=$(size_of "$d" "$p"); done
done

printf '%-14s' "configuration"
for p in "${progs[@]}" libhearth; do printf ' %18s' "$(basename "$p")"; done
printf '\n'
for c in "${configs[@]}"; do
  printf '%-14s' "$c"
  for p in "${progs[@]}" libhearth; do
    v=${size[$c,$p]} ref=${size[default,$p]}
    if [ "$v" = - ]; then printf ' %18s' "not built"; continue; fi
    printf ' %9d (%5s)' "$v" "$(awk -v a="$v" -v b="$ref" 'BEGIN { printf "%.3f", a / b }')"
  done
  printf '\n'
done
echo "# bytes after strip (programs --strip-all, libhearth --strip-debug); (ratio to default)"
echo "# compiler: $(cc --version | head -1); $(uname -m)"
