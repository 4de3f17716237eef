#!/usr/bin/env bash
# provisions: 5.6-8 5.6-9 5.6-6
# Checks that every shipped binary carries the hardening the build promises
# (cmake/Hardening.cmake): PIE, full RELRO (GNU_RELRO + BIND_NOW), a
# non-executable stack, stack-protector and FORTIFY_SOURCE instrumentation,
# and that stack-clash protection and (on x86-64) CET branch protection were
# on every compile line. (The linked binaries carry no CET property note on
# Debian 12: its glibc start files are built without one, and the linker
# keeps a note only when every object has it.)
# A missing binary is a failure, not a skip. Also checks the process
# separation of updates: hearthd must not link libcurl (the transfer runs in
# hearth-fetch, docs/updates.md), and hearth-fetch must not link the store.
set -euo pipefail
B=${HEARTH_BUILD_DIR:?}
bins=("$B/tools/hearth" "$B/daemon/hearthd" "$B/boot/hearth-boot" "$B/fetch/hearth-fetch")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for b in "${bins[@]}"; do
  if [ ! -x "$b" ]; then bad "$b was not built"; continue; fi
  name=$(basename "$b")
  hdr=$(readelf -h "$b")
  ph=$(readelf -lW "$b")
  dyn=$(readelf -dW "$b")
  syms=$(readelf --dyn-syms -W "$b")
  grep -q "Type:.*DYN" <<<"$hdr" || bad "$name is not position independent (PIE)"
  grep -q "GNU_RELRO" <<<"$ph" || bad "$name has no GNU_RELRO segment"
  grep -Eq "BIND_NOW|FLAGS_1.*NOW" <<<"$dyn" || bad "$name lacks BIND_NOW (partial RELRO only)"
  stack=$(grep "GNU_STACK" <<<"$ph" || true)
  [ -n "$stack" ] || bad "$name has no GNU_STACK header"
  grep -q "RWE" <<<"$stack" && bad "$name has an executable stack"
  grep -q "__stack_chk_fail" <<<"$syms" || bad "$name is not built with the stack protector"
  nchk=$(grep -c "__[a-z_]*_chk@" <<<"$syms" || true)
  [ "$nchk" -gt 0 ] || bad "$name uses no FORTIFY_SOURCE checked functions"
  echo "$name: PIE, full RELRO, NX stack, stack protector, FORTIFY ($nchk checked calls)"
done

# Process separation (EN 303 645 5.6-6): libcurl only in hearth-fetch.
if [ -x "$B/daemon/hearthd" ]; then
  if readelf -dW "$B/daemon/hearthd" | grep NEEDED | grep -q "libcurl"; then
    bad "hearthd links libcurl (the transfer belongs in hearth-fetch)"
  else
    echo "hearthd: no libcurl ($(readelf -dW "$B/daemon/hearthd" | grep -c NEEDED) shared libraries needed)"
  fi
fi
if [ -x "$B/fetch/hearth-fetch" ]; then
  readelf -dW "$B/fetch/hearth-fetch" | grep NEEDED | grep -q "libcurl" || bad "hearth-fetch does not link libcurl"
  if readelf --syms -W "$B/fetch/hearth-fetch" | grep -Eq " (hearth_store|hearth_auth|hearth_device)_[a-z_]+$"; then
    bad "hearth-fetch contains store/auth/identity code"
  else
    echo "hearth-fetch: libcurl, no store/auth/identity code"
  fi
fi

cc="$B/compile_commands.json"
if [ ! -f "$cc" ]; then
  bad "no compile_commands.json to check compile flags"
else
  total=$(grep -c '"command"' "$cc" || true)
  flags=(-fstack-clash-protection -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Werror)
  [ "$(uname -m)" = x86_64 ] && flags+=(-fcf-protection=full)
  for flag in "${flags[@]}"; do
    n=$(grep '"command"' "$cc" | grep -c -- "$flag" || true)
    [ "$n" -eq "$total" ] || bad "$flag on $n of $total compile commands"
  done
  echo "compile flags: ${flags[*]} on all $total commands"
fi
exit $fail
