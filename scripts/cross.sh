#!/usr/bin/env bash
# Cross-build Hearth for an ARM device with Debian's cross toolchains and
# multiarch -dev packages, and run the unit tests under qemu-user
# (docs/cross-build.md).
#
#   scripts/cross.sh ARCH [--no-test]   ARCH: arm64 | armhf
#   scripts/cross.sh sizes               table of stripped binary sizes of
#                                        build/ (amd64), build-arm64/, build-armhf/
#
# For ARCH it:
#   1. installs what is missing (like scripts/deps.sh): the foreign
#      architecture, crossbuild-essential-ARCH, qemu-user, and each library's
#      -dev package for ARCH; libevent-dev, which Debian 12 does not let sit
#      beside the host's (it is not Multi-Arch: same), is unpacked with
#      dpkg-deb -x into build-ARCH/_stage instead, over the co-installable
#      libevent runtime packages;
#   2. configures build-ARCH/ with cmake/toolchains/<triplet>.cmake
#      (RelWithDebInfo, no benchmarks, no sanitizers) and builds the tree:
#      library, programs, unit tests;
#   3. runs the unit tests (ctest label `unit`) under qemu-user, -j2. A unit
#      test that cannot run under qemu-user (QEMU_UNTESTED below says why) is
#      not run and is written to build-ARCH/test-untested.tsv (the format of
#      tests/untested.sh): it evidences nothing for ARCH;
#   4. builds the Debian package for ARCH with cpack when the tree defines one.
# The integration, fault and fuzz suites run natively only (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Unit tests that qemu-user cannot run, and why (test name TAB reason).
# qemu-user 7.2 (Debian 12) answers seccomp(2) with ENOSYS and
# prctl(PR_SET_SECCOMP) with EINVAL (a filter would bind qemu itself), and the
# Landlock calls with ENOSYS (docs/cross-build.md).
QEMU_UNTESTED=(
  "unit.sandbox"$'\t'"qemu-user implements neither seccomp filters nor Landlock: the allow-list and file rules cannot be applied to the emulated process"
  "unit.sandbox_kill"$'\t'"qemu-user implements neither seccomp filters nor Landlock: the allow-list and file rules cannot be applied to the emulated process"
  "unit.updater_transport"$'\t'"runs the real hearth-fetch, which refuses to run when it cannot load its seccomp filter, and qemu-user implements no seccomp filters"
)

arch_triplet() {
  case $1 in
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
    *) echo "cross: unknown architecture '$1' (arm64 or armhf)" >&2; exit 2 ;;
  esac
}

# What `file` says about a program of ARCH, and objdump about an object.
arch_file_pattern() {
  case $1 in
    arm64) echo "ELF 64-bit LSB .*ARM aarch64" ;;
    armhf) echo "ELF 32-bit LSB .*ARM, EABI5" ;;
  esac
}
arch_objfmt() {
  case $1 in
    arm64) echo elf64-littleaarch64 ;;
    armhf) echo elf32-littlearm ;;
  esac
}

# Size in bytes of FILE stripped with the binutils of its triplet: programs
# of every symbol (as the package installs them), the static library of its
# debug information only (an archive needs its symbols).
stripped_size() {
  local strip=$1 f=$2 tmp
  tmp=$(mktemp)
  case $f in
    *.a) "$strip" --strip-debug -o "$tmp" "$f" ;;
    *) "$strip" -o "$tmp" "$f" ;;
  esac
  stat -c %s "$tmp"
  rm -f "$tmp"
}

sizes() {
  local -a names=(hearthd hearth hearth-boot hearth-fetch libhearth.a)
  local -a dirs=() archs=() strips=()
  [ -d build ] && { dirs+=(build); archs+=(amd64); strips+=(strip); }
  local a t
  for a in arm64 armhf; do
    t=$(arch_triplet "$a")
    [ -d "build-$a" ] && { dirs+=("build-$a"); archs+=("$a"); strips+=("$t-strip"); }
  done
  [ ${#dirs[@]} -gt 0 ] || { echo "cross: no build directory to measure" >&2; exit 1; }
  printf '| file (stripped, bytes) |'
  printf ' %s |' "${archs[@]}"
  printf '\n| --- |'
  for a in "${archs[@]}"; do printf ' ---: |'; done
  printf '\n'
  local n i f found
  for n in "${names[@]}"; do
    printf '| %s |' "$n"
    for i in "${!dirs[@]}"; do
      found=$(find "${dirs[$i]}" \( -name _stage -o -name _CPack_Packages \) -prune -o \
                   -name "$n" -type f -print | sort | head -1)
      if [ -n "$found" ]; then
        f=$(stripped_size "${strips[$i]}" "$found")
        printf ' %s |' "$f"
      else
        printf ' not built |'
      fi
    done
    printf '\n'
  done
}

if [ "${1:-}" = "sizes" ]; then
  sizes
  exit 0
fi

arch=${1:?usage: scripts/cross.sh arm64|armhf [--no-test] | sizes}
run_tests=1
[ "${2:-}" = "--no-test" ] && run_tests=0
triplet=$(arch_triplet "$arch")
dir=$root/build-$arch
stage=$dir/_stage
jobs=$(nproc)

# ---------------------------------------------------------------- 1. packages
LIBS_DEV=(libssl-dev libsodium-dev libcjson-dev libcurl4-openssl-dev libtss2-dev
          libcmocka-dev libseccomp-dev libmosquitto-dev)
LIBEVENT_RT=(libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
             libevent-openssl-2.1-7 libevent-pthreads-2.1-7)
PACKAGES=("crossbuild-essential-$arch" qemu-user)
for p in "${LIBS_DEV[@]}" "${LIBEVENT_RT[@]}"; do PACKAGES+=("$p:$arch"); done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  $SUDO dpkg --add-architecture "$arch"   # deps.sh runs apt-get update before installing
fi
bash scripts/deps.sh "${PACKAGES[@]}"

# libevent-dev:ARCH would replace the host's libevent-dev; unpack it instead,
# the same version as the installed runtime libraries, and point its
# development symlinks at them.
ev_ver=$(dpkg-query -W -f='${Version}' "libevent-2.1-7:$arch")
if [ "$(cat "$stage/libevent-dev.version" 2>/dev/null)" != "$ev_ver" ]; then
  rm -rf "$stage"
  mkdir -p "$stage/debs"
  chmod 0777 "$stage/debs"   # apt-get download drops privileges to _apt
  (cd "$stage/debs" && apt-get download -q "libevent-dev:$arch=$ev_ver")
  dpkg-deb -x "$stage"/debs/libevent-dev_*_"$arch".deb "$stage"
  for so in /usr/lib/"$triplet"/libevent*-2.1.so.7.*; do
    ln -sf "$so" "$stage/usr/lib/$triplet/$(basename "$so")"
  done
  sed -i "s|^prefix=/usr\$|prefix=$stage/usr|" "$stage/usr/lib/$triplet"/pkgconfig/libevent*.pc
  rm -f "$stage/usr/lib/$triplet"/*.a
  echo "$ev_ver" >"$stage/libevent-dev.version"
fi

# ------------------------------------------------------------ 2. build
echo "=== [$arch] configure and build in build-$arch"
cmake -S "$root" -B "$dir" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$triplet.cmake" \
  -DHEARTH_CROSS_STAGE="$stage" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DHEARTH_BENCH=OFF -DHEARTH_SANITIZE=OFF -DHEARTH_FUZZ=OFF -DHEARTH_FLEET=OFF >/dev/null
cmake --build "$dir" -j "$jobs"

# ------------------------------------------------------------ 3. unit tests
status=0
if [ $run_tests -eq 1 ]; then
  echo "=== [$arch] unit tests under qemu-user"
  exclude=""
  {
    printf 'test\tuntested\twhy\n'
    for e in "${QEMU_UNTESTED[@]}"; do
      name=${e%%$'\t'*}
      printf '%s\t%s on %s under qemu-user\t%s\n' "$name" "$name" "$arch" "${e#*$'\t'}"
      exclude+="${exclude:+|}^${name//./\\.}\$"
    done
  } >"$dir/test-untested.tsv"
  start=$(date +%s)
  if ! (cd "$dir" && ctest --output-on-failure -j 2 --timeout 900 -L '^unit$' -E "$exclude"); then
    status=1
  fi
  echo "cross: $arch unit tests took $(( $(date +%s) - start )) s;" \
       "$(( $(wc -l <"$dir/test-untested.tsv") - 1 )) untested, listed in build-$arch/test-untested.tsv (they evidence nothing)"
fi

# ------------------------------------------------------------ 4. package
if [ -f "$dir/CPackConfig.cmake" ]; then
  echo "=== [$arch] Debian package"
  rm -f "$dir"/*.deb
  (cd "$dir" && cpack -G DEB >/dev/null)
  pattern=$(arch_file_pattern "$arch")
  for deb in "$dir"/*.deb; do
    a=$(dpkg-deb -f "$deb" Architecture)
    if [ "$a" != "$arch" ]; then
      echo "cross: $(basename "$deb"): Architecture '$a', not $arch" >&2
      status=1
    fi
    x=$(mktemp -d)
    dpkg-deb -x "$deb" "$x"
    n=0
    while IFS= read -r f; do
      desc=$(file -b "$f")
      case $desc in
        ELF*|current\ ar\ archive*) ;;
        *) continue ;;
      esac
      if [[ $desc == current\ ar\ archive* ]]; then
        # every member must be an object of ARCH
        fmts=$("$triplet-objdump" -f "$f" | grep "file format" || true)
        other=$(grep -v "format $(arch_objfmt "$arch")\$" <<<"$fmts" || true)
        if [ -z "$fmts" ] || [ -n "$other" ]; then
          echo "cross: ${f#"$x"}: members not $arch: ${other:-none readable}" >&2
          status=1
        fi
      elif ! grep -Eq "$pattern" <<<"$desc"; then
        echo "cross: ${f#"$x"}: $desc, not $arch" >&2
        status=1
      fi
      n=$((n + 1))
    done < <(find "$x" -type f)
    rm -rf "$x"
    echo "cross: $(basename "$deb"): Architecture $a, $n binaries checked for $arch"
  done
fi

exit $status
