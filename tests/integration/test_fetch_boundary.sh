#!/usr/bin/env bash
# provisions: 5.6-7 5.4-1
# timeout: 300
#
# The boundary between hearthd and the process that parses the update
# repository's HTTP, attacked rather than configured (issue 8 section 1).
#
# Mode (a), hearthd spawns the helper: the real hearthd starts
# hearth-fetch-intruder (tests/integration/fetch_intruder.c) the way it
# starts hearth-fetch. The intruder does not sandbox itself, so what stops it
# is what hearthd put around it (Landlock + no_new_privs, applied by hearthd
# before the program runs). It tries to read keys/storage.key, the keys/
# directory, the secure store and device.json, to read hearthd's memory
# through /proc/<hearthd>/mem, to ptrace-attach to hearthd, to connect to the
# repository's port itself, and to execve /bin/sh, and it looks for key
# material in its request. Its report travels the only way it has: an HTTP
# request over the plaintext connection hearthd passed it, relayed over TLS
# to the test's nginx, whose access log the test reads -- no report line, no
# pass. Each attempt must fail with the errno of the mechanism that stops it
# (EACCES from Landlock, EPERM for ptrace), so a probe aimed at a wrong path
# (ENOENT) cannot pass either.
#
# Mode (b), --fetch-socket: systemd socket activation is emulated with
# systemd-socket-activate --accept --inetd + setpriv as another uid (as
# hearth-fetch.socket / hearth-fetch@.service do with User=hearth-fetch).
# The real hearth-fetch started that way completes a real update for the
# real hearthd, and the intruder started that way reports a uid different
# from hearthd's and cannot read the keys, hearthd's memory or ptrace it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"
upd_test_begin fetch-boundary
PIDS=()
cleanup_all() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    upd_test_cleanup
}
trap cleanup_all EXIT

HEARTHD=$(upd_find_bin hearthd) || { echo "hearthd not built"; exit 1; }
INTRUDER=$(upd_find_bin hearth-fetch-intruder) || { echo "hearth-fetch-intruder not built"; exit 1; }
upd_fixture "$W" 4096 4096 || { echo "fixture failed"; exit 1; }
FETCH=$HEARTH_FETCH_PROGRAM
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
# As root, hearthd runs as the unprivileged device user (it refuses root).
upd_device_user "$W"
LOG=$W/repo/access.log
# The repository URL's path is the state directory: the intruder learns
# where to look from the URL hearthd sends it.
URL="$UPD_REPO_URL$UPD_STATE"

# The Landlock ABI of this kernel (0: none). Without Landlock hearthd cannot
# confine a helper it spawns: that is a failure of the claim, not a skip.
ABI=$(python3 -c 'import ctypes; print(max(0, ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)))')
echo "Landlock ABI: $ABI"
check "Landlock is available (ABI $ABI)" bash -c "[ '$ABI' -ge 1 ]"
check "the probed files exist (a refusal is the sandbox's, not a wrong path)" \
    bash -c "[ -f '$UPD_STATE/keys/storage.key' ] && [ -d '$UPD_STATE/data' ] && [ -f '$UPD_STATE/device.json' ]"

# start_hearthd NAME [ARGS...]: hearthd with the repository at $URL, first
# check at once; output in $W/NAME.out/.err; its pid in $HD_PID.
start_hearthd() {
    local name=$1; shift
    "$HEARTHD" "${UPD_USER_ARGS[@]}" --state "$UPD_STATE" --listen 127.0.0.1:0 --foreground --update-url "$URL" \
        --update-trust "$UPD_TRUST" --update-first-delay 0 --update-first-window 0 \
        --update-period 3600 "$@" >"$W/$name.out" 2>"$W/$name.err" &
    HD_PID=$!
    PIDS+=("$HD_PID")
}

# report N: the Nth intruder report line in nginx's access log (waits 30 s).
report() {
    local n=$1 i line
    for i in $(seq 1 300); do
        line=$(grep '^/intruder-report?' "$LOG" 2>/dev/null | sed -n "${n}p")
        [ -n "$line" ] && { echo "${line%% *}"; return 0; }
        sleep 0.1
    done
    return 1
}
field() { tr '?&' '\n\n' <<<"$1" | sed -n "s/^$2=//p"; }
expect() { # REPORT FIELD VALUE WHAT
    local got; got=$(field "$1" "$2")
    check "$4 ($2=$got, want $3)" bash -c "[ '$got' = '$3' ]"
}

# ---------------------------------------------------------- mode (a)
HEARTH_FETCH_PROGRAM=$INTRUDER start_hearthd a
A_PID=$HD_PID
R=$(report 1) || R=""
echo "  report: $R"
check "mode a: the intruder ran and reported through the relayed TLS connection" bash -c "[ -n '$R' ]"
keyset_url="$URL/keyset.hks"
expect "$R" req_len $((4 + 2 + ${#keyset_url} + 8 + 8 + 4)) "5.6-7 the request is the URL and three numbers, room for no key"
expect "$R" req_pem 0 "5.6-7 no PEM in the request"
expect "$R" storage_key errno13 "5.6-7 keys/storage.key cannot be read"
expect "$R" keys_dir errno13 "5.6-7 the keys/ directory cannot be opened"
expect "$R" store errno13 "5.6-7 the secure store cannot be opened"
expect "$R" device_json errno13 "5.6-7 nothing in the state directory can be read"
expect "$R" proc_mem errno13 "5.6-7 hearthd's memory cannot be read through /proc"
# ptrace is stopped by hearthd's seccomp filter, which the helper inherits:
# ENOSYS (38) where unlisted calls fail, killed (sigsys) in a kill-mode
# build; EPERM (1) where no filter is installed (ASan builds).
got=$(field "$R" ptrace)
check "5.6-7 hearthd cannot be ptraced (ptrace=$got, want errno1, errno38 or sigsys)" \
    bash -c "case '$got' in errno1|errno38|sigsys) true ;; *) false ;; esac"
expect "$R" exec errno13 "5.6-7 /bin/sh cannot be executed"
if [ "$ABI" -ge 4 ]; then
    expect "$R" connect errno13 "5.6-7 no TCP connection of its own (Landlock ABI $ABI)"
else
    echo "note: Landlock ABI $ABI < 4: TCP connect of a replaced helper is not restricted on this kernel"
fi
check "mode a: hearthd survived the intruder" kill -0 "$A_PID"
kill -TERM "$A_PID" 2>/dev/null; wait "$A_PID" 2>/dev/null

# ---------------------------------------------------------- mode (b)
if [ "$(id -u)" != 0 ]; then
    echo "note: mode (b) needs root (setpriv --reuid); not run"
    echo "# $CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit
fi
U=65534
# activate NAME PROGRAM: systemd-socket-activate on $W/NAME.sock running
# PROGRAM as uid/gid $U per connection, stdin/stdout the connection.
activate() {
    local name=$1 prog=$2 i
    systemd-socket-activate --accept --inetd -l "$W/$name.sock" \
        setpriv --reuid=$U --regid=$U --clear-groups --no-new-privs "$prog" 2>>"$W/$name.activate.err" &
    PIDS+=("$!")
    for i in $(seq 1 50); do
        # As hearth-fetch.socket does (SocketUser=hearth, SocketMode=0600):
        # only the device user may connect.
        if [ -S "$W/$name.sock" ]; then
            chmod 0600 "$W/$name.sock" && chown "$(stat -c %u:%g "$UPD_STATE")" "$W/$name.sock"
            return
        fi
        sleep 0.1
    done
    return 1
}
activate intruder "$INTRUDER" || bad "systemd-socket-activate did not start"
start_hearthd b1 --fetch-socket "$W/intruder.sock"
B_PID=$HD_PID
R=$(report 2) || R=""
echo "  report: $R"
check "mode b: the intruder ran and reported" bash -c "[ -n '$R' ]"
expect "$R" uid $U "5.6-7 the helper runs as another user than hearthd (uid $(stat -c %u "$UPD_STATE"))"
expect "$R" storage_key errno13 "5.6-7 mode b: keys/storage.key cannot be read"
expect "$R" keys_dir errno13 "5.6-7 mode b: the keys/ directory cannot be opened"
expect "$R" proc_mem errno13 "5.6-7 mode b: hearthd's memory cannot be read"
expect "$R" ptrace errno1 "5.6-7 mode b: hearthd cannot be ptraced"
kill -TERM "$B_PID" 2>/dev/null; wait "$B_PID" 2>/dev/null

# The real hearth-fetch as another user: a real update, installed.
activate fetch "$FETCH" || bad "systemd-socket-activate did not start"
upd_bundle "$W/v2.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
mkdir -p "$UPD_WWW/$UPD_STATE"
cp "$UPD_WWW/keyset.hks" "$UPD_WWW/$UPD_STATE/keyset.hks"
mkdir -p "$UPD_WWW/$UPD_STATE/$UPD_HW"
cp "$W/v2.hbu" "$UPD_WWW/$UPD_STATE/$UPD_HW/2.0.0.hbu"
"$UPD_DRIVER" prefix "$W/v2.hbu" "$UPD_WWW/$UPD_STATE/$UPD_HW/latest.hbm" >/dev/null
start_hearthd b2 --fetch-socket "$W/fetch.sock"
B_PID=$HD_PID
for _ in $(seq 1 300); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
wait "$B_PID"; rc=$?
check "5.6-7 mode b: hearthd installed the update through hearth-fetch as uid $U (exit $rc)" \
    bash -c "[ '$(upd_slot_field "$UPD_STATE" 'pending slot')' = b ]"
check "mode b: the payload arrived intact" cmp -s "$W/payload" "$UPD_STATE/slots/b/payload/hearthd"
check "mode b: the repository saw the device's certificate on that transfer" \
    bash -c "grep '2.0.0.hbu' '$LOG' | grep -q ' SUCCESS '"

echo "# $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
