#!/usr/bin/env bash
# provisions: 5.6-6
# Release builds contain no test hooks:
# 1. The TEST ONLY hooks that weaken security (lower the Argon2id cost, count
#    hashes, pause inside a hashing slot, replace the brute-force limiter's or
#    the setup password's random source): no symbol of them in any libhearth
#    archive (src/*/libhearth_*.a) or in the programs hearthd, hearth-boot,
#    hearth-fetch and hearth. They exist only in the unit tests' object
#    libraries (HEARTH_TEST_HOOKS, src/auth and src/identity CMakeLists.txt).
# 2. The fault-injection points (HEARTH_FAULT_KILL_AT, _TRACE, _STOP_AT,
#    _SLEEP, _FAIL: kill, stop, slow down or fail a step on request) read the
#    environment only in a build with the CMake option HEARTH_TEST_HOOKS=ON:
#    in a build without it (the default, what a product builds) no
#    HEARTH_FAULT_ name is in libhearth_util.a or in any program.
# Positive controls, so an empty or stripped symbol table cannot pass: every
# inspected file must show a symbol it is known to define, and the unit test
# that uses the hooks must show them (the same nm finds them where they are);
# every program must show a fault point's name ("fs.dirsync", an argument
# at the call sites) and the unit test built with fault injection the
# HEARTH_FAULT_ names (the same strings probe finds them where they are).
# In a build with HEARTH_TEST_HOOKS=ON (scripts/test.sh's tested
# configurations) check 2 cannot hold: it is recorded as untested there, and
# scripts/test.sh runs this script on its build-only Release configurations,
# built with the default.
# Usage: test_no_test_hooks.sh [BUILD_DIR]   (default: $HEARTH_BUILD_DIR)
set -euo pipefail
B=${1:-${HEARTH_BUILD_DIR:?}}
HEARTH_SOURCE_DIR=${HEARTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../untested.sh
source "$HEARTH_SOURCE_DIR/tests/untested.sh"
hooks=(hearth_auth_test_set_pwhash_cost hearth_auth_test_hash_count
       hearth_auth_test_set_rand hearth_auth_test_set_hash_hook
       hearth_auth_test_rl_failures hearth_auth_test_rl_used
       hearth_identity_test_set_pw_source hearth_identity_test_last_draws)
pat=$(IFS='|'; echo "${hooks[*]}")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# check FILE KNOWN_SYMBOL: FILE's symbol table shows KNOWN_SYMBOL and no hook.
check() {
  local f=$1 known=$2 syms
  if [ ! -f "$f" ]; then bad "$f was not built"; return; fi
  syms=$(nm -A "$f" 2>/dev/null || true)
  if ! grep -Eq " [TtDdBbRr] ${known}$" <<<"$syms"; then
    bad "$f: symbol table does not show $known (stripped or not the expected file)"
    return
  fi
  local hit
  hit=$(grep -Ew "$pat" <<<"$syms" || true)
  if [ -n "$hit" ]; then bad "$f contains test hooks:"; echo "$hit"; return; fi
  echo "ok: $(basename "$f"): no test hooks ($known present)"
}

check "$B/src/auth/libhearth_auth.a" hearth_pw_hash
check "$B/src/identity/libhearth_identity.a" hearth_setup_password_generate
for a in "$B"/src/*/libhearth_*.a; do
  mod=$(basename "$a" .a); mod=${mod#libhearth_}
  case $mod in auth|identity) continue ;; esac
  # any defined global symbol of the module's own prefix shows a real table
  known=$(nm -g --defined-only "$a" 2>/dev/null | awk '$3 ~ /^hearth_/ {print $3; exit}')
  if [ -z "$known" ]; then bad "$a: no hearth_ symbol defined"; continue; fi
  check "$a" "$known"
done
check "$B/daemon/hearthd" hearth_auth_login
check "$B/boot/hearth-boot" hearth_slots_open
check "$B/fetch/hearth-fetch" main
check "$B/tools/hearth" hearth_setup_password_generate

# Positive control: the hooks are where the tests need them.
ut="$B/tests/unit_auth"
if [ -f "$ut" ]; then
  n=$(nm "$ut" | grep -Ecw "hearth_auth_test_set_pwhash_cost|hearth_auth_test_set_hash_hook" || true)
  [ "$n" -eq 2 ] || bad "control: $ut should define the auth hooks (found $n of 2): nm cannot see them?"
  [ "$n" -eq 2 ] && echo "ok: control: the unit test's build of auth.c has the hooks"
else
  bad "control: $ut was not built"
fi

# 2. Fault injection.
hooks_on=0
grep -q '^HEARTH_TEST_HOOKS:BOOL=ON$' "$B/CMakeCache.txt" 2>/dev/null && hooks_on=1
fault_env='HEARTH_FAULT_(KILL_AT|TRACE|STOP_AT|SLEEP|FAIL)'
# check_strings FILE: FILE's strings show a fault point name, and (hooks
# off) no HEARTH_FAULT_ variable name.
check_strings() {
  local f=$1 str hit
  if [ ! -f "$f" ]; then bad "$f was not built"; return; fi
  str=$(strings -a "$f")
  if ! grep -qx 'fs.dirsync' <<<"$str"; then
    bad "$f: strings do not show the fault point name fs.dirsync (not the expected file?)"
    return
  fi
  hit=$(grep -Eo "$fault_env" <<<"$str" | sort -u || true)
  if [ $hooks_on = 1 ]; then
    [ -n "$hit" ] || bad "$f: built with HEARTH_TEST_HOOKS=ON but shows no HEARTH_FAULT_ name"
    return
  fi
  if [ -n "$hit" ]; then bad "$f reads fault-injection variables: $(tr '\n' ' ' <<<"$hit")"; return; fi
  echo "ok: $(basename "$f"): no fault-injection variable (fs.dirsync point present)"
}
progs=("$B/src/util/libhearth_util.a" "$B/daemon/hearthd" "$B/boot/hearth-boot"
       "$B/fetch/hearth-fetch" "$B/tools/hearth")
[ -f "$B/apps/plug/hearth-plugd" ] && progs+=("$B/apps/plug/hearth-plugd")
for f in "${progs[@]}"; do check_strings "$f"; done
if [ $hooks_on = 1 ]; then
  hearth_untested "no fault-injection hooks in the programs of this build" \
    "built with HEARTH_TEST_HOOKS=ON; scripts/test.sh checks its build-only Release configurations"
fi
# Positive control: the unit test built with fault injection shows the names.
uf="$B/tests/unit_floors"
if [ -f "$uf" ]; then
  n=$(strings -a "$uf" | grep -Eo "$fault_env" | sort -u | wc -l)
  [ "$n" -eq 5 ] || bad "control: $uf should name the 5 fault variables (found $n): strings cannot see them?"
  [ "$n" -eq 5 ] && echo "ok: control: the unit test's build of fault.c names the 5 fault variables"
else
  bad "control: $uf was not built"
fi
exit $fail
