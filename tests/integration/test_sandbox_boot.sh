#!/usr/bin/env bash
# provisions: 5.6-7 5.4-1
# timeout: 300
#
# hearth-boot's sandbox, attacked from inside (docs/sandbox.md). The real
# hearth-boot supervises a verified slot program while the test-only
# LD_PRELOAD attacker (sandbox_probe.c) runs in its main thread after its
# filter is on: reading another device's storage key and store, the
# manufacturer's CA and signing keys, /etc/shadow, executing a shell,
# becoming root, ptrace of its parent, a packet socket -- each must fail,
# while its own device.json opens. /proc/PID/status of hearth-boot and of the
# program it launched show the filter (inherited across exec), no_new_privs,
# no capabilities and, started as root with --user, a non-root uid.
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"
PROBE=$BUILD/tests/sandbox_probe.so
[ -f "$PROBE" ] || fail "sandbox_probe.so not built"
filter=yes
[ "$(sed -n 's/^HEARTH_SANITIZE:BOOL=//p' "$BUILD/CMakeCache.txt")" = ON ] && filter=no
kills=$(sed -n 's/^HEARTH_SECCOMP_KILL:BOOL=//p' "$BUILD/CMakeCache.txt")
BOOT_PID=""
child=""
stop_all() {
    if [ -n "$BOOT_PID" ]; then kill -KILL "$BOOT_PID" 2>/dev/null || true; fi
    if [ -n "$child" ]; then kill -KILL "$child" 2>/dev/null || true; fi
    boot_cleanup
}
trap stop_all EXIT

make_device
make_bundle v1 1.0 1
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null
mode a confirm-wait
"$HEARTH" provision --ca "$T/ca" --out "$T/other" --model "$MODEL" --label json >/dev/null 2>&1 ||
    fail "provision other"
dev_own "$DEV" "$T/other"
report=$T/probe.report
: >"$report"
chmod 666 "$report"
deny="$T/other/keys/storage.key:$T/other/data/store.hst:$T/ca/ca.key:$T/keys/sign:/etc/shadow"
# 1. hearth-boot as a device runs it: its and its program's /proc status.
"$BOOT" "${DEV_USER_ARGS[@]}" --state "$DEV" --trust "$TRUST" 2>"$T/boot.stderr" &
BOOT_PID=$!
wait_launch() {
    for _ in $(seq 1 600); do
        [ "$(launches)" -ge "$1" ] && break
        kill -0 "$BOOT_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ "$(launches)" -ge "$1" ] || { cat "$T/boot.stderr" "$report"; fail "hearth-boot did not launch the slot"; }
}
wait_launch 1
ok "hearth-boot launched slot a under its sandbox"
child=$(tail -n 1 "$DEV/payload.log" | cut -d' ' -f3)
field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
for who in "hearth-boot:$BOOT_PID" "launched program:$child"; do
    name=${who%%:*} pid=${who##*:}
    if [ "$filter" = yes ]; then
        [ "$(field "$pid" Seccomp)" = 2 ] || fail "$name: Seccomp $(field "$pid" Seccomp)"
        ok "$name: Seccomp: 2"
    fi
    [ "$(field "$pid" NoNewPrivs)" = 1 ] || fail "$name: NoNewPrivs $(field "$pid" NoNewPrivs)"
    for c in CapEff CapPrm CapInh CapAmb CapBnd; do
        [ "$(field "$pid" $c)" = 0000000000000000 ] || fail "$name: $c $(field "$pid" $c)"
    done
    ok "$name: NoNewPrivs: 1, every capability set empty"
    if [ ${#DEV_USER_ARGS[@]} -gt 0 ]; then
        [ "$(field "$pid" Uid)" != 0 ] || fail "$name runs as root"
        ok "$name: runs as uid $(field "$pid" Uid)"
    fi
done
[ "$(awk '$1 == "Seccomp_filters:" {print $2}' "/proc/$child/status")" -ge 1 ] 2>/dev/null ||
    [ "$filter" = no ] || fail "the launched program carries no filter"

kill -TERM "$BOOT_PID"
set +e; wait "$BOOT_PID"; rc=$?; set -e
BOOT_PID=""
[ "$rc" = 0 ] || fail "hearth-boot exit $rc after SIGTERM"
ok "hearth-boot stops cleanly under its sandbox"

# 2. The same with the attacker inside hearth-boot.
[ "$filter" = no ] && export HEARTH_PROBE_NO_FILTER=1
HEARTH_PROBE_PROGRAM=hearth-boot HEARTH_PROBE_REPORT=$report HEARTH_PROBE_DENY=$deny \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" HEARTH_PROBE_ALLOW="$DEV/device.json" HEARTH_PROBE_EXEC=/bin/sh LD_PRELOAD=$PROBE \
    "$BOOT" "${DEV_USER_ARGS[@]}" --state "$DEV" --trust "$TRUST" 2>"$T/boot.stderr" &
BOOT_PID=$!
wait_launch 2
child=$(tail -n 1 "$DEV/payload.log" | cut -d' ' -f3)
for _ in $(seq 1 200); do
    grep -q probe-done "$report" && break
    kill -0 "$BOOT_PID" 2>/dev/null || break
    sleep 0.05
done
grep -q "^probe-start hearth-boot" "$report" || fail "the probe did not run in hearth-boot: $(cat "$report")"
ok "the attacker ran inside hearth-boot after its sandbox: $(grep probe-start "$report")"
fails=$(grep -c '^FAIL ' "$report" || true)
grep -E '^(ok|FAIL) ' "$report" | sed 's/^/  /'
[ "$fails" = 0 ] || fail "$fails attempts were allowed"
[ "$(grep -c '^ok ' "$report")" -ge 7 ] || fail "too few results: $(cat "$report")"
ok "every attempt from inside hearth-boot failed; its own device.json opened"
if [ "$filter" = yes ] && [ "$kills" = ON ]; then
    for _ in $(seq 1 100); do kill -0 "$BOOT_PID" 2>/dev/null || break; sleep 0.05; done
    set +e; wait "$BOOT_PID"; rc=$?; set -e
    BOOT_PID=""
    [ "$rc" = $((128 + 31)) ] || fail "kill mode: hearth-boot ended with $rc, not SIGSYS"
    ok "kill mode: the first unlisted call killed hearth-boot (SIGSYS)"
else
    grep -q probe-done "$report" || fail "the probe did not finish"
    if [ "$filter" = yes ]; then
        grep -q "hearth-boot: seccomp: refused system call" "$T/boot.stderr" ||
            fail "no seccomp log line from hearth-boot"
        ok "refused calls logged: $(grep -m1 'seccomp: refused' "$T/boot.stderr")"
    fi
    kill -TERM "$BOOT_PID"
    set +e; wait "$BOOT_PID"; rc=$?; set -e
    BOOT_PID=""
    [ "$rc" = 0 ] || fail "hearth-boot exit $rc after SIGTERM"
fi
echo "PASS"
