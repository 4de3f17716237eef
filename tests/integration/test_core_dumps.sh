#!/usr/bin/env bash
# provisions: 5.4-1
# A crashed hearthd leaves no core file with the storage root key, the
# device key or a password in it (hearth_process_harden, src/util/process.c).
# The test shell allows unlimited cores first and proves the kernel then
# writes them (a control process crashed the same way leaves one). The real
# hearthd is started, answers setup and a login (a password is in its memory)
# and then:
#   - /proc/PID/limits shows "Max core file size 0 0" (RLIMIT_CORE set by
#     hearthd itself, although it inherited unlimited);
#   - crashed with SIGSEGV it leaves no core file;
#   - it is non-dumpable (PR_SET_DUMPABLE 0). /proc/PID/status has no field
#     for that; the kernel shows it by making /proc/PID owned by root instead
#     of the process's user, so a second hearthd runs as an unprivileged user
#     (nobody via setpriv when the test runs as root) and its /proc entry is
#     checked against an ordinary process of the same user; it answers a
#     login, then SIGABRT leaves no core either.
# Where the kernel pipes cores to a handler (core_pattern "|...") or dumps
# non-dumpable processes anyway (fs.suid_dumpable != 0), the file checks are
# reported untested (tests/untested.sh), never counted as passes.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev

ulimit -c unlimited 2>/dev/null || ulimit -S -c "$(ulimit -H -c)"
[ "$(ulimit -c)" = unlimited ] && ht_pass "test shell allows unlimited core files" ||
    ht_fail "cannot raise the core limit in the test shell (ulimit -c = $(ulimit -c))"

pattern=$(cat /proc/sys/kernel/core_pattern)
suid=$(cat /proc/sys/fs/suid_dumpable)
echo "# kernel.core_pattern='$pattern' fs.suid_dumpable=$suid"
CWD="$HT_WORK/cwd"
mkdir -p "$CWD"
cd "$CWD" || exit 1
case $pattern in
    /*) CORE_DIR=$(dirname "$pattern") ;;
    *) CORE_DIR=$CWD ;;
esac

# new_cores MARKER: core files written in the core directory after MARKER.
new_cores() {
    find "$CORE_DIR" -maxdepth 1 -type f -newer "$1" ! -name '.marker*' 2>/dev/null
}

files_checkable=1
if [ "${pattern:0:1}" = "|" ]; then
    ht_untested "no core file after a crash" "core_pattern pipes cores to '$pattern'"
    files_checkable=0
fi

# Control: an ordinary process crashed the same way does leave a core.
if [ $files_checkable = 1 ]; then
    touch "$CWD/.marker0"; sleep 1
    sleep 30 &
    cpid=$!
    sleep 0.2
    kill -SEGV "$cpid"; wait "$cpid" 2>/dev/null
    ctl=$(new_cores "$CWD/.marker0")
    if [ -n "$ctl" ]; then
        ht_pass "control: a crashed ordinary process leaves a core ($(basename "$(head -1 <<<"$ctl")"))"
        rm -f $ctl
    else
        ht_untested "no core file after a crash" "even an ordinary crashed process leaves no core in $CORE_DIR"
        files_checkable=0
    fi
fi

# The real daemon, holding secrets.
ht_daemon_start dev
ht_setup_admin dev || ht_fail "setup on the real hearthd"
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && ht_pass "hearthd answers: login with a password" ||
    ht_fail "login on the real hearthd"
pid=$HT_PID
lim=$(awk '/^Max core file size/ {print $5, $6}' "/proc/$pid/limits")
[ "$lim" = "0 0" ] && ht_pass "hearthd RLIMIT_CORE soft/hard = 0/0 (inherited unlimited)" ||
    ht_fail "hearthd core limit is '$lim', expected '0 0'"
if [ "$suid" != 0 ]; then
    ht_untested "no core file after a crash" "fs.suid_dumpable=$suid dumps non-dumpable processes too"
    files_checkable=0
fi
if [ $files_checkable = 1 ]; then
    touch "$CWD/.marker1"; sleep 1
    kill -SEGV "$pid"; wait "$pid" 2>/dev/null; rc=$?
    # 139 = SIGSEGV; under AddressSanitizer its handler turns it into an abort (134).
    [ "$rc" = 139 ] || [ "$rc" = 134 ] && ht_pass "hearthd died of SIGSEGV (exit $rc)" ||
        ht_fail "hearthd exit $rc after SIGSEGV"
    got=$(new_cores "$CWD/.marker1")
    [ -z "$got" ] && ht_pass "no core file from the crashed hearthd" || ht_fail "hearthd left a core: $got"
fi

# Non-dumpable: the kernel makes /proc/PID/status, mem, ... of a non-dumpable
# process owned by root instead of the process's user. Observable when the daemon does not run
# as root: as root the test runs it as nobody (setpriv), otherwise as itself.
# Control: an ordinary process of that user owns its /proc/PID.
run_as=()
uid=$(id -u)
if [ "$uid" = 0 ]; then
    uid=65534
    run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    cp -a "$HT_WORK/dev" "$HT_WORK/dev2"
    chown -R 65534:65534 "$HT_WORK/dev2" "$CWD"
    chmod 711 "$HT_WORK"
else
    cp -a "$HT_WORK/dev" "$HT_WORK/dev2"
fi
"${run_as[@]}" sleep 30 &
cpid=$!
sleep 0.3
cown=$(stat -c %u "/proc/$cpid/status")
kill "$cpid"; wait "$cpid" 2>/dev/null
[ "$cown" = "$uid" ] && ht_pass "control: an ordinary process of uid $uid owns its /proc/PID/status" ||
    ht_fail "control: /proc/PID/status of an ordinary uid-$uid process owned by $cown"
out="$HT_WORK/dev2.out"
"${run_as[@]}" "$HEARTHD" --state "$HT_WORK/dev2" --listen 127.0.0.1:0 --foreground >"$out" 2>"$HT_WORK/dev2.err" &
pid=$!
HT_PIDS+=("$pid")
for _ in $(seq 1 200); do grep -q '^hearthd: listening on' "$out" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
line=$(grep -m1 '^hearthd: listening on https://' "$out" || true)
if [ -n "$line" ]; then
    HT_URL="https://127.0.0.1:${line##*:}"
    ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && ht_pass "hearthd as uid $uid answers a login" ||
        ht_fail "login on hearthd as uid $uid"
    puid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
    own=$(stat -c %u "/proc/$pid/status")
    mown=$(stat -c %u "/proc/$pid/mem")
    [ "$puid" = "$uid" ] && [ "$own" = 0 ] && [ "$mown" = 0 ] &&
        ht_pass "hearthd (uid $puid) is non-dumpable: its /proc/PID/status and mem are owned by root" ||
        ht_fail "hearthd uid $puid, /proc/PID/status owned by $own, mem by $mown: dumpable"
    if [ $files_checkable = 1 ]; then
        touch "$CWD/.marker2"; sleep 1
        kill -ABRT "$pid"; wait "$pid" 2>/dev/null; rc=$?
        [ "$rc" = 134 ] && ht_pass "hearthd died of SIGABRT (exit 134)" || ht_fail "hearthd exit $rc after SIGABRT"
        got=$(new_cores "$CWD/.marker2")
        [ -z "$got" ] && ht_pass "no core file after SIGABRT" || ht_fail "hearthd left a core: $got"
    fi
else
    ht_fail "hearthd as uid $uid did not start: $(cat "$HT_WORK/dev2.err")"
fi
chmod 700 "$HT_WORK"
ht_done
