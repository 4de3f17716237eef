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
#
# The real hearth-fetch, inspected while it works (issue 8 section 2): the
# repository sends bundles at 2 KiB/s, so the helper that parses the bundle
# transfer lives for seconds. In both modes the test finds it (a
# hearth-fetch child of hearthd, or of systemd-socket-activate) and reads
# /proc/PID/status while it runs: Seccomp 2 with a filter of its own on top
# of what it inherited, NoNewPrivs 1, no effective or permitted capability;
# with --fetch-socket its uid differs from hearthd's, that uid cannot read
# the state directory, and the helper holds no file open. The transfer then
# finishes and the update must be installed, so a helper that never ran, or
# was killed while being looked at, cannot pass.
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
# Bundles at 2 KiB/s: the helper of a ~5 KiB bundle transfer lives ~2 s.
UPD_REPO_EXTRA='location ~ \.hbu$ { limit_rate 2k; }'
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

# The sanitizer build installs no seccomp filter (docs/sandbox.md).
filter=yes
[ "$(sed -n 's/^HEARTH_SANITIZE:BOOL=//p' "$(upd_build_dir)/CMakeCache.txt")" = ON ] && filter=no

# inspect PARENT HEARTHD_PID MODE: find the real hearth-fetch (a child of
# PARENT) that stays up for the slow bundle transfer (the keyset and
# manifest transfers end in milliseconds) and check its /proc status.
# Fields of hearthd's status are read for comparison.
inspect() {
    local parent=$1 hd=$2 mode=$3 pid="" st="" fds="" i p
    for i in $(seq 1 150); do
        for p in $(pgrep -P "$parent" -x hearth-fetch); do
            sleep 0.3 # it sandboxes itself before it reads its request
            st=$(cat "/proc/$p/status" 2>/dev/null) || st=""
            fds=$(ls -l "/proc/$p/fd" 2>/dev/null | awk 'NR > 1 { print $NF }')
            kill -0 "$p" 2>/dev/null || st=""
            [ -n "$st" ] && { pid=$p; break 2; }
        done
        sleep 0.1
    done
    sf() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$2"; }
    check "mode $mode: the real hearth-fetch was seen working (pid ${pid:-none}, child of $parent)" \
        bash -c "[ -n '$pid' ]"
    local hd_st; hd_st=$(cat "/proc/$hd/status" 2>/dev/null)
    local sc nnp ceff cprm filt hfilt uid huid
    sc=$(sf Seccomp "$st"); nnp=$(sf NoNewPrivs "$st"); ceff=$(sf CapEff "$st"); cprm=$(sf CapPrm "$st")
    filt=$(sf Seccomp_filters "$st"); hfilt=$(sf Seccomp_filters "$hd_st")
    uid=$(sf Uid "$st"); huid=$(sf Uid "$hd_st")
    if [ "$filter" = yes ]; then
        check "5.6-7 mode $mode: hearth-fetch runs under seccomp filtering (Seccomp: ${sc:-?}, want 2)" \
            bash -c "[ '$sc' = 2 ]"
        if [ "$mode" = a ]; then
            check "5.6-7 mode a: its own filter on top of hearthd's (Seccomp_filters ${filt:-?} > hearthd's ${hfilt:-?})" \
                bash -c "[ -n '$filt' ] && [ -n '$hfilt' ] && [ '$filt' -gt '$hfilt' ]"
        else
            check "5.6-7 mode b: its own filter (Seccomp_filters ${filt:-?} >= 1)" bash -c "[ '${filt:-0}' -ge 1 ]"
        fi
    else
        echo "note: sanitizer build: no seccomp filter is installed; Seccomp ${sc:-?} not checked"
    fi
    check "5.6-7 mode $mode: NoNewPrivs: ${nnp:-?} (want 1)" bash -c "[ '$nnp' = 1 ]"
    check "5.6-7 mode $mode: no capability (CapEff ${ceff:-?}, CapPrm ${cprm:-?})" \
        bash -c "[ '$ceff' = 0000000000000000 ] && [ '$cprm' = 0000000000000000 ]"
    # (mode b: stderr is the activation's log file, the journal's stand-in)
    check "mode $mode: it holds only sockets, pipes and /dev/null open ($(tr '\n' ' ' <<<"$fds"))" \
        bash -c "[ -n '$fds' ] && ! grep -qvx -e 'socket:.*' -e 'pipe:.*' -e /dev/null -e '$W/fetch.activate.err' <<<'$fds'"
    if [ "$mode" = b ]; then
        local u=${uid%%[[:space:]]*}
        check "5.6-7 mode b: hearth-fetch's uid ${u:-?} is not hearthd's (${huid%%[[:space:]]*})" \
            bash -c "[ -n '$u' ] && [ '$u' != '${huid%%[[:space:]]*}' ]"
        local rc=0
        setpriv --reuid="${u:-0}" --regid="${u:-0}" --clear-groups cat "$UPD_STATE/keys/storage.key" \
            >/dev/null 2>&1 || rc=$?
        check "5.6-7 mode b: its uid cannot read keys/storage.key (cat exit $rc)" \
            bash -c "[ -n '$u' ] && [ '$u' != 0 ] && [ '$rc' != 0 ]"
        rc=0
        setpriv --reuid="${u:-0}" --regid="${u:-0}" --clear-groups ls "$UPD_STATE/" >/dev/null 2>&1 || rc=$?
        check "5.6-7 mode b: its uid cannot list the state directory (ls exit $rc)" \
            bash -c "[ -n '$u' ] && [ '$u' != 0 ] && [ '$rc' != 0 ]"
    fi
}

# publish_v2: a genuine 2.0.0 at the URL's repository path.
publish_v2() {
    [ -f "$W/v2.hbu" ] || upd_bundle "$W/v2.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
    mkdir -p "$UPD_WWW/$UPD_STATE/$UPD_HW"
    cp "$UPD_WWW/keyset.hks" "$UPD_WWW/$UPD_STATE/keyset.hks"
    cp "$W/v2.hbu" "$UPD_WWW/$UPD_STATE/$UPD_HW/2.0.0.hbu"
    "$UPD_DRIVER" prefix "$W/v2.hbu" "$UPD_WWW/$UPD_STATE/$UPD_HW/latest.hbm" >/dev/null
}

# wait_installed NAME: hearthd $HD_PID exits after installing; the update
# must be pending in slot b with the payload intact.
wait_installed() {
    local name=$1 rc
    for _ in $(seq 1 300); do kill -0 "$HD_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$HD_PID"; rc=$?
    check "$name: hearthd installed the update (exit $rc, pending slot $(upd_slot_field "$UPD_STATE" 'pending slot'))" \
        bash -c "[ '$(upd_slot_field "$UPD_STATE" 'pending slot')' = b ]"
    check "$name: the payload arrived intact" cmp -s "$W/payload" "$UPD_STATE/slots/b/payload/hearthd"
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

# The real hearth-fetch spawned by hearthd, inspected while it receives the
# bundle; the state is restored afterwards for mode (b).
cp -a "$UPD_STATE" "$W/state-before-a2"
publish_v2
start_hearthd a2
inspect "$HD_PID" "$HD_PID" a
wait_installed "mode a (real hearth-fetch, inspected)"
rm -rf "$UPD_STATE" && mv "$W/state-before-a2" "$UPD_STATE"

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

# The real hearth-fetch as another user: a real update, installed, the
# helper inspected while it receives the bundle.
activate fetch "$FETCH" || bad "systemd-socket-activate did not start"
FETCH_ACT=${PIDS[-1]}
publish_v2
n_before=$(wc -l <"$LOG")
start_hearthd b2 --fetch-socket "$W/fetch.sock"
inspect "$FETCH_ACT" "$HD_PID" b
wait_installed "5.6-7 mode b: through hearth-fetch as uid $U"
check "mode b: the repository saw the device's certificate on that transfer" \
    bash -c "tail -n +$((n_before + 1)) '$LOG' | grep '2.0.0.hbu' | grep -q ' SUCCESS '"

echo "# $CHECKS checks, $FAILS failed"
[ "$FAILS" -eq 0 ]
