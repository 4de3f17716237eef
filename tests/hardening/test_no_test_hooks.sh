#!/usr/bin/env bash
# provisions: 5.6-6
# The TEST ONLY hooks that weaken security (lower the Argon2id cost, count
# hashes, pause inside a hashing slot, replace the brute-force limiter's or
# the setup password's random source) are not in what ships: no symbol of
# them in any libhearth archive (src/*/libhearth_*.a) or in the programs
# hearthd, hearth-boot, hearth-fetch and hearth. They exist only in the unit
# tests' object libraries (HEARTH_TEST_HOOKS, src/auth and src/identity
# CMakeLists.txt).
# Positive controls, so an empty or stripped symbol table cannot pass: every
# inspected file must show a symbol it is known to define, and the unit test
# that uses the hooks must show them (the same nm finds them where they are).
set -euo pipefail
B=${HEARTH_BUILD_DIR:?}
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
exit $fail
