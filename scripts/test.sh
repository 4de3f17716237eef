#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages, then builds and runs
# every test (unit, integration, fault, fuzz-corpus replay, hardening checks)
# in two configurations:
#   build/       release build with hardening flags (what ships), with
#                HEARTH_SECCOMP_KILL=ON: a system call missing from a
#                program's seccomp allow-list kills it, so the suite finds
#                missing entries (shipped builds refuse and log instead)
#   build-asan/  the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#                (no seccomp filter there: the sanitizer runtimes make calls
#                the product does not; privilege drop and Landlock still
#                apply, docs/sandbox.md), except the build.* checks of the
#                shipped artefacts and the source and the "external" tests
#                that run no Hearth program, which run once, above
# and builds (no tests) the configurations users build with other compilers
# and build types, which must compile warning-free too (warnings are errors):
#   build-gcc-release/    gcc, CMAKE_BUILD_TYPE=Release (-O3)
#   build-clang-release/  clang, CMAKE_BUILD_TYPE=Release
#   build-minimal/        gcc Release with what a product may compile out OFF
#                         (HEARTH_TPM, HEARTH_WITH_UPLOAD, HEARTH_WITH_EXAMPLES;
#                         docs/build-options.md), programs only (no tests)
# and cross-builds the tree for the ARM devices it is for (scripts/cross.sh,
# docs/cross-build.md), running only the unit tests under qemu-user:
#   build-arm64/ build-armhf/  plus each one's Debian package
# The tested configurations have the test hooks (HEARTH_TEST_HOOKS=ON: the
# fault-injection points the fault tests drive); the build-only ones have
# the default, what a product builds, and tests/hardening/test_no_test_hooks.sh
# checks gcc-release and clang-release for any test hook.
# Usage: scripts/test.sh [--quick]   (--quick: release configuration only,
# no build-only configurations, no cross builds)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh

jobs=$(nproc)
configs=(release asan)
builds=(gcc-release clang-release minimal)
if [ "${1:-}" = "--quick" ]; then
  configs=(release)
  builds=()
  crosses=()
else
  crosses=(arm64 armhf)
fi

status=0
summary=()
for cfg in "${configs[@]}"; do
  case $cfg in
    # The release build is the shipping one: configured for /usr, as the
    # Debian package is (build.package_deb builds it from this tree), plus
    # the test hooks the fault tests drive (HEARTH_TEST_HOOKS=ON).
    release) dir=build;      flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
                                    -DHEARTH_TEST_HOOKS=ON -DHEARTH_SECCOMP_KILL=ON) ;;
    asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTH_SANITIZE=ON -DHEARTH_BENCH=OFF
                                    -DHEARTH_TEST_HOOKS=ON) ;;
  esac
  echo "=== [$cfg] configure and build in $dir"
  cmake -S "$root" -B "$root/$dir" "${flags[@]}" >/dev/null
  cmake --build "$root/$dir" -j "$jobs"
  echo "=== [$cfg] ctest"
  # Each script test records what it could not test in test-untested/<test>.tsv
  # (tests/untested.sh); clear the last run's records so the list describes this run.
  rm -f "$root/$dir"/test-untested/*.tsv
  # The build.* tests check the shipped build's artefacts and the source
  # (hardening flags, packages, installed units, static analysis, banned
  # functions), not run-time behaviour, and the tests labelled "external"
  # run no Hearth program (the brokers with the shipped configuration and
  # their own clients): they run in the release configuration only;
  # repeating them on the sanitizer build would check nothing new and cost
  # minutes of CI. The same for the tests labelled "release-only" (long
  # tests whose Hearth code runs under the sanitizers in other tests; each
  # says which in its header).
  # The power-cut sweeps (update, boot, TPM floors) kill at every third
  # point under the sanitizers: a third of the recovery paths run there,
  # every one in the release run, which also checks which outcomes each
  # sweep reaches.
  select=()
  sizes=()
  if [ "$cfg" = asan ]; then
    select=(-LE '^(build|external|release-only)$')
    sizes=(HEARTH_FAULT_STRIDE=3)
  fi
  # The run's results as JUnit: the evidence the conformance statement is
  # generated from (below, and docs/conformance.md).
  rm -f "$root/$dir/ctest-junit.xml"
  if (cd "$root/$dir" && env "${sizes[@]}" ctest --output-on-failure -j "$jobs" --timeout 1500 "${select[@]}" \
        --output-junit "$root/$dir/ctest-junit.xml"); then
    summary+=("$cfg: all tests passed")
  else
    status=1
    summary+=("$cfg: FAILURES (see above)")
  fi
  # The EN 303 645 conformance statement (Annex B) of the reference
  # thermostat, from this run's release results: build/ics/statement.{md,json,html}.
  # It reports what the run showed, failures included; only a failure to
  # generate it fails CI, never what it says.
  if [ "$cfg" = release ]; then
    commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
    dirty=""
    [ -z "$(git -C "$root" status --porcelain 2>/dev/null)" ] || dirty=" (the working tree had uncommitted changes)"
    mkdir -p "$root/$dir/ics"
    if [ -z "$commit" ]; then
      summary+=("$cfg: no conformance statement: not a git checkout, no commit to name")
    elif "$root/$dir/tools/hearth" ics --map "$root/$dir/test-provisions.tsv" --junit "$root/$dir/ctest-junit.xml" \
          --commit "$commit" --profile "$root/docs/conformance/thermostat-profile.csv" \
          --declarations "$root/docs/conformance/thermostat-declarations.txt" \
          --md "$root/$dir/ics/statement.md" --json "$root/$dir/ics/statement.json" \
          --html "$root/$dir/ics/statement.html" >"$root/$dir/ics/summary.txt"; then
      summary+=("$cfg: conformance statement of commit ${commit:0:12}$dirty in $dir/ics/: $(head -1 "$root/$dir/ics/summary.txt")")
    else
      status=1
      summary+=("$cfg: CONFORMANCE STATEMENT NOT GENERATED (see above)")
    fi
  fi
  {
    printf 'test\tuntested\twhy\n'
    cat "$root/$dir"/test-untested/*.tsv 2>/dev/null || true
  } >"$root/$dir/test-untested.tsv"
  n=$(($(wc -l <"$root/$dir/test-untested.tsv") - 1))
  summary+=("$cfg: $n untested case(s), listed in $dir/test-untested.tsv (they evidence nothing)")
  summary+=("$cfg: done at ${SECONDS} s since the start (CI budget: 45 min in all)")
done

for b in "${builds[@]}"; do
  extra=(-DHEARTH_TEST_HOOKS=OFF)
  case $b in
    gcc-release)   cc=gcc;   type=Release ;;
    clang-release) cc=clang; type=Release ;;
    minimal)       cc=gcc;   type=Release
                   extra+=(-DHEARTH_TPM=OFF -DHEARTH_WITH_UPLOAD=OFF -DHEARTH_WITH_EXAMPLES=OFF -DHEARTH_WITH_LINK=OFF
                           -DHEARTH_TESTS=OFF -DHEARTH_BENCH=OFF) ;;
  esac
  dir=build-$b
  echo "=== [$b] build only ($cc, CMAKE_BUILD_TYPE=$type ${extra[*]})"
  if cmake -S "$root" -B "$root/$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$type" "${extra[@]}" >/dev/null &&
     cmake --build "$root/$dir" -j "$jobs"; then
    summary+=("$b: builds warning-free (not tested)")
  else
    status=1
    summary+=("$b: BUILD FAILED (see above)")
    continue
  fi
  # What ships has no test hooks (the minimal build has no unit tests for
  # the check's positive controls; it compiles the same fault.c).
  if [ "$b" != minimal ]; then
    if HEARTH_SOURCE_DIR=$root bash tests/hardening/test_no_test_hooks.sh "$root/$dir"; then
      summary+=("$b: no test hooks (tests/hardening/test_no_test_hooks.sh)")
    else
      status=1
      summary+=("$b: TEST HOOKS FOUND (see above)")
    fi
  fi
  summary+=("$b: done at ${SECONDS} s since the start")
done

for a in "${crosses[@]}"; do
  echo "=== [cross-$a] build, unit tests under qemu-user, Debian package"
  if bash scripts/cross.sh "$a"; then
    summary+=("cross-$a: builds warning-free, unit tests passed under qemu-user, package checked")
  else
    status=1
    summary+=("cross-$a: FAILURES (see above)")
  fi
  n=$(($(wc -l <"$root/build-$a/test-untested.tsv" 2>/dev/null || echo 1) - 1))
  summary+=("cross-$a: $n unit test(s) not run under qemu-user, listed in build-$a/test-untested.tsv (they evidence nothing)")
  summary+=("cross-$a: done at ${SECONDS} s since the start")
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "EN 303 645 evidence map: build/test-provisions.tsv; untested cases: build/test-untested.tsv"
exit $status
