# shellcheck shell=bash
# Shared by test_static_cppcheck.sh and test_static_clang_tidy.sh: run one
# analyser of scripts/static-analysis.sh over the product's sources with the
# repository's configuration and require zero findings, after a positive
# control showing that the same configuration reports a planted defect (a
# NULL dereference on a path the code itself tests for): an analyser that
# checks nothing, a configuration that switched the checks off or a runner
# that lost the exit status would otherwise pass on any tree.
#
#   static_analysis_test TOOL CONTROL_ID
# TOOL: cppcheck or clang-tidy; CONTROL_ID: the finding id the control must
# produce (cppcheck's nullPointerRedundantCheck, clang-tidy's
# clang-analyzer-core.NullDereference).
static_analysis_test() {
  local tool=$1 control_id=$2
  local S=${HEARTH_SOURCE_DIR:?} B=${HEARTH_BUILD_DIR:?}
  local run=$S/scripts/static-analysis.sh fail=0 tmp out rc
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN

  mkdir -p "$tmp/src"
  cat >"$tmp/src/planted.c" <<'C'
#include <stddef.h>
int planted(const int *p);
int planted(const int *p)
{
    if (p == NULL) return *p;
    return 0;
}
C
  printf '[{"directory": "%s", "file": "%s", "command": "cc -std=gnu11 -c %s"}]\n' \
    "$tmp" "$tmp/src/planted.c" "$tmp/src/planted.c" >"$tmp/compile_commands.json"
  rc=0
  out=$(bash "$run" -p "$tmp" "$tool" "$tmp/src/planted.c" 2>&1) || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q "planted.c:5:.*$control_id" <<<"$out"; then
    echo "FAIL: control: $tool did not report the planted NULL dereference as $control_id (exit $rc):"
    echo "$out"
    fail=1
  else
    echo "control: $tool reports the planted defect ($control_id) and exits 1"
  fi

  rc=0
  out=$(bash "$run" -B "$B" "$tool" 2>&1) || rc=$?
  echo "$out"
  if [ "$rc" -ne 0 ]; then
    echo "FAIL: $tool has findings (or could not run) on src daemon boot fetch tools apps ports; fix them or, for a false positive, suppress it with a reason (docs/static-analysis.md)"
    fail=1
  elif ! grep -Eq '^(cppcheck|clang-tidy) [0-9.]+: [1-9][0-9]* files, 0 findings$' <<<"$out"; then
    echo "FAIL: $tool printed no summary of the files it checked"
    fail=1
  fi
  return $fail
}
