#!/usr/bin/env bash
# provisions: 5.6-7
# timeout: 600
# The Debian packages (docs/install.md), built from this build with CPack,
# and a device started from what they install:
#  - `cpack -G DEB` builds hearth and libhearth-dev; dpkg-shlibdeps filled
#    in the library dependencies; /etc/hearth/hearthd.conf is a conffile;
#  - lintian reports nothing (overrides: packaging/debian/*.lintian-overrides);
#  - both packages unpacked into a throwaway root (dpkg -x); the postinst's
#    systemd-sysusers and systemd-tmpfiles, run on that root, create the users
#    hearth and hearth-fetch (different uids, no login shell) and
#    /var/lib/hearth (0700, owned by hearth);
#  - the installed `hearth` CLI provisions a device; the installed hearthd
#    starts on it as the package's unprivileged user `hearth` (5.6-7: not
#    root, no capabilities, NoNewPrivs) under the system-call filter of the
#    installed hearthd.service (SystemCallFilter=, emulated without systemd
#    by unit_filter_exec), and its HTTPS API is reached with curl over TLS:
#    setup with the label's password, login, the device's identity;
#  - the unpacked hearth-boot, under hearth-boot.service's filters, verifies
#    a slot holding the unpacked hearthd (signed with keys the installed CLI
#    made) and runs it from a sealed memfd: both processes as `hearth`, no
#    capabilities, seccomp, no_new_privs; its API answers over TLS;
#  - started by root instead, the unpacked hearthd refuses without --user and
#    with --user runs as the package's user (uid, capabilities, seccomp);
#  - a program built against the unpacked libhearth-dev (pkg-config
#    hearth.pc) opens that device and reads the same identity.
# Needs a build configured with -DCMAKE_INSTALL_PREFIX=/usr (scripts/test.sh
# does); any other build is "Not Run", since a package of it would carry
# the wrong paths.
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
ht_init

B=$(ht_build_dir)
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$B/CMakeCache.txt")
if [ "$prefix" != /usr ]; then
    ht_untested "Debian package" "this build's prefix is $prefix; configure with -DCMAKE_INSTALL_PREFIX=/usr"
    hearth_untested_exit
fi
for t in cpack dpkg-deb lintian systemd-sysusers systemd-tmpfiles systemd-analyze setpriv taskset curl pkg-config gcc; do
    if ! command -v "$t" >/dev/null; then
        ht_untested "Debian package" "$t is not installed (scripts/deps.sh installs it)"
        hearth_untested_exit
    fi
done

# ---------------------------------------------------------------- build
out=$HT_WORK/out
start=$(date +%s)
if cpack --config "$B/CPackConfig.cmake" -B "$out" >"$HT_WORK/cpack.log" 2>&1; then
    ht_pass "cpack -G DEB ($(($(date +%s) - start)) s)"
else
    ht_fail "cpack: $(tail -20 "$HT_WORK/cpack.log")"
    ht_done
fi
deb=$(ls "$out"/hearth_*.deb 2>/dev/null)
dev=$(ls "$out"/libhearth-dev_*.deb 2>/dev/null)
[ -f "$deb" ] && [ -f "$dev" ] && ht_pass "packages: $(basename "$deb") $(basename "$dev")" ||
    { ht_fail "packages missing in $out: $(ls "$out")"; ht_done; }

depends=$(dpkg-deb -f "$deb" Depends)
case "$depends" in
    *libssl3*libevent*|*libevent*libssl3*) ht_pass "Depends from dpkg-shlibdeps: $depends" ;;
    *) ht_fail "Depends lacks the shared libraries: $depends" ;;
esac
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/hearth/hearthd.conf ] &&
    ht_pass "conffiles: /etc/hearth/hearthd.conf" || ht_fail "conffiles wrong"
case "$(dpkg-deb -f "$dev" Depends)" in
    *libssl-dev*libsodium-dev*|*libsodium-dev*libssl-dev*) ht_pass "libhearth-dev depends on the -dev packages hearth.pc requires" ;;
    *) ht_fail "libhearth-dev Depends: $(dpkg-deb -f "$dev" Depends)" ;;
esac

start=$(date +%s)
lintian --tag-display-limit 0 "$deb" "$dev" >"$HT_WORK/lintian.log" 2>&1
rc=$?
lint=$(grep -v "^running with root privileges" "$HT_WORK/lintian.log")
if [ "$rc" -eq 0 ] && [ -z "$lint" ]; then
    ht_pass "lintian: no tags ($(($(date +%s) - start)) s)"
else
    ht_fail "lintian (rc $rc): $lint"
fi

# ---------------------------------------------------------------- unpack
root=$HT_WORK/root
mkdir -p "$root"
dpkg -x "$deb" "$root" && dpkg -x "$dev" "$root" && ht_pass "dpkg -x both packages" ||
    { ht_fail "dpkg -x"; ht_done; }
# What postinst does, on the throwaway root.
systemd-sysusers --root="$root" hearth.conf >"$HT_WORK/sysusers.log" 2>&1 &&
    systemd-tmpfiles --root="$root" --create hearth.conf >>"$HT_WORK/sysusers.log" 2>&1 ||
    ht_fail "postinst steps: $(cat "$HT_WORK/sysusers.log")"
uid=$(awk -F: '$1 == "hearth" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "hearth" { print $4 }' "$root/etc/passwd")
fuid=$(awk -F: '$1 == "hearth-fetch" { print $3 }' "$root/etc/passwd")
if [ -n "$uid" ] && [ -n "$fuid" ] && [ "$uid" != "$fuid" ] && [ "$uid" -gt 0 ] && [ "$fuid" -gt 0 ]; then
    ht_pass "users hearth ($uid) and hearth-fetch ($fuid): unprivileged, distinct"
else
    ht_fail "users: $(cat "$root/etc/passwd" 2>/dev/null)"
fi
grep -E "^hearth(-fetch)?:" "$root/etc/passwd" | cut -d: -f7 | grep -qv nologin &&
    ht_fail "a hearth user has a login shell" || ht_pass "no login shell for either user"
[ "$(stat -c '%a %u' "$root/var/lib/hearth")" = "700 $uid" ] &&
    ht_pass "/var/lib/hearth: mode 0700, owner hearth" ||
    ht_fail "/var/lib/hearth: $(stat -c '%a %u' "$root/var/lib/hearth" 2>&1)"

# ---------------------------------------------------------------- run it
HEARTH_CLI=$root/usr/bin/hearth
ht_provision dev || { ht_fail "provision with the installed hearth CLI"; ht_done; }
ht_pass "the installed hearth CLI provisioned a device"
# The installed hearthd, as the package's user hearth when we are root (the
# uid exists only in the throwaway root: setpriv takes numbers), else as
# ourselves (already unprivileged). ht_daemon_start runs $HEARTHD.
chmod 711 "$HT_WORK"
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$uid:$gid" "$HT_WORK/dev"
    run_uid=$uid
    as_hearth=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --inh-caps=-all
               --bounding-set=-all --no-new-privs)
else
    run_uid=$(id -u)
    as_hearth=()
fi
# As the units run it: already the user hearth (User=), so no --user.
HT_USER_ARGS=()
HT_DEVICE_USER=$uid:$gid
# Under a unit's own system-call filter (SystemCallFilter= expanded by
# unit_syscalls.py, loaded by unit_filter_exec, EPERM for the rest) and its
# MemoryDenyWriteExecute=, as systemd would start it; the control shows the
# filter bites.
filter=$B/tests/unit_filter_exec
# unit_wrapper UNIT PROGRAM WRAPPER: WRAPPER runs PROGRAM as the device user
# under UNIT's filters.
unit_wrapper() {
    local syscalls=$HT_WORK/$(basename "$1").syscalls mdwe=""
    python3 "$HEARTH_SOURCE_DIR/tests/hardening/unit_syscalls.py" "$1" >"$syscalls" || return 1
    grep -qx "MemoryDenyWriteExecute=yes" "$1" && mdwe=--mdwe
    printf '#!/bin/sh\nexec %s "%s" %s "%s" "%s" "$@"\n' "${as_hearth[*]}" "$filter" "$mdwe" \
        "$syscalls" "$2" >"$3"
    chmod 755 "$3"
}
unit=$root/lib/systemd/system/hearthd.service
unit_wrapper "$unit" "$root/usr/sbin/hearthd" "$HT_WORK/hearthd" ||
    { ht_fail "cannot expand the unit's SystemCallFilter="; ht_done; }
grep -q -- "--mdwe" "$HT_WORK/hearthd" && ht_pass "hearthd.service: MemoryDenyWriteExecute emulated too" ||
    ht_fail "hearthd.service without MemoryDenyWriteExecute=yes"
if "$filter" "$HT_WORK/hearthd.service.syscalls" /usr/bin/taskset -c 0 /bin/true 2>/dev/null; then
    ht_fail "control: sched_setaffinity (@resources) allowed under the unit's filter"
elif taskset -c 0 /bin/true; then
    ht_pass "control: the unit's filter ($(wc -l <"$HT_WORK/hearthd.service.syscalls") calls) refuses sched_setaffinity, allowed without it"
else
    ht_fail "control: taskset fails even without the filter"
fi
wx='import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)'
if "$filter" --mdwe "$HT_WORK/hearthd.service.syscalls" /usr/bin/python3 -c "$wx" 2>/dev/null; then
    ht_fail "control: a writable+executable mapping allowed under MemoryDenyWriteExecute"
elif python3 -c "$wx"; then
    ht_pass "control: MemoryDenyWriteExecute refuses a writable+executable mapping, allowed without it"
else
    ht_fail "control: a writable+executable mapping fails even without the filter"
fi
HEARTHD=$HT_WORK/hearthd
# With the unit's own --fetch-socket option (the socket path made local).
grep -q -- "--fetch-socket /run/hearth/fetch.sock" "$unit" ||
    ht_fail "hearthd.service does not pass --fetch-socket /run/hearth/fetch.sock"
if ht_daemon_start dev --fetch-socket "$HT_WORK/fetch.sock"; then
    ht_pass "the installed hearthd started ($HT_URL)"
else
    ht_fail "the installed hearthd did not start"
    ht_done
fi
st=/proc/$HT_PID/status
ruid=$(awk '/^Uid:/ { print $2 }' "$st")
caps=$(awk '/^CapEff:/ { print $2 }' "$st")
[ "$(readlink "/proc/$HT_PID/exe")" = "$root/usr/sbin/hearthd" ] &&
    ht_pass "the running program is the unpacked /usr/sbin/hearthd" ||
    ht_fail "running $(readlink "/proc/$HT_PID/exe")"
[ "$ruid" = "$run_uid" ] && [ "$ruid" != 0 ] && [ "$caps" = 0000000000000000 ] &&
    ht_pass "hearthd runs as uid $ruid, no capabilities" ||
    ht_fail "hearthd uid $ruid CapEff $caps"
[ "$(awk '/^Seccomp:/ { print $2 }' "$st")" = 2 ] && [ "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" = 1 ] &&
    ht_pass "hearthd runs under a seccomp filter with no_new_privs" ||
    ht_fail "hearthd: $(grep -E '^(Seccomp|NoNewPrivs):' "$st" | tr '\n' ' ')"

ht_req GET /api/v1/device
ht_expect_status 409 "factory default: nothing but setup over TLS"
ht_setup_admin dev && ht_pass "setup with the label's password and login over TLS" || ht_fail "setup/login"
ht_req GET /api/v1/device "" "${HT_ADMIN_TOKEN:-}"
ht_expect_status 200 "device identity with a session"
serial=$(ht_label_field dev serial)
[ "$(ht_json serial)" = "$serial" ] && ht_pass "the API serves the provisioned device ($serial)" ||
    ht_fail "device info: $HT_BODY"
ht_daemon_stop
[ "$HT_EXIT" = 0 ] && ht_pass "hearthd stopped cleanly on SIGTERM" || ht_fail "hearthd exit $HT_EXIT"

# ---------------------------------------------------------------- --user
# Started by root instead of systemd: the installed hearthd refuses to run as
# root without --user, and with --user drops to the package's user before it
# opens anything (src/sandbox, docs/sandbox.md).
if [ "$(id -u)" -eq 0 ]; then
    timeout 20 "$root/usr/sbin/hearthd" --state "$HT_WORK/dev" --listen 127.0.0.1:0 --foreground \
        >"$HT_WORK/asroot.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "refusing to run as root" "$HT_WORK/asroot.out" &&
       ! grep -q "listening on" "$HT_WORK/asroot.out"; then
        ht_pass "as root without --user the installed hearthd refuses (exit $rc)"
    else
        ht_fail "as root without --user: exit $rc, $(cat "$HT_WORK/asroot.out")"
    fi
    HEARTHD=$root/usr/sbin/hearthd
    HT_USER_ARGS=(--user "$uid:$gid")
    if ht_daemon_start dev; then
        s=$(awk '/^(Uid|CapEff|NoNewPrivs|Seccomp):/ { printf "%s ", $2 }' "/proc/$HT_PID/status")
        [ "$s" = "$uid 0000000000000000 1 2 " ] &&
            ht_pass "started by root with --user $uid:$gid: uid $uid, no capabilities, no_new_privs, seccomp" ||
            ht_fail "with --user: Uid/CapEff/NoNewPrivs/Seccomp $s"
        ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && ht_req GET /api/v1/device "" "$HT_TOKEN"
        ht_expect_status 200 "with --user: login and the device's identity over TLS"
        ht_daemon_stop
    else
        ht_fail "the installed hearthd with --user did not start"
    fi
    HT_USER_ARGS=()
fi

# ---------------------------------------------------------------- hearth-boot
# hearth-boot.service's way: the installed hearth-boot verifies a slot holding
# the installed hearthd, signed with keys made by the installed CLI, and runs
# it from a sealed memfd, both as the device user under hearth-boot.service's
# filters (memfd_create and fexecve under MemoryDenyWriteExecute).
keys=$HT_WORK/keys trust=$HT_WORK/trust
mkdir -m 700 "$keys" && mkdir "$trust"
openssl rand -hex 16 >"$keys/pass"
pass=(--pass-file "$keys/pass")
ht_provision boot
bundle=$HT_WORK/hearthd.hbu
echo "first release" >"$HT_WORK/notes"
if "$HEARTH_CLI" keygen --out "$keys/root.key" "${pass[@]}" >/dev/null &&
   "$HEARTH_CLI" keygen --out "$keys/signer.key" "${pass[@]}" >/dev/null &&
   "$HEARTH_CLI" keyset create --root-key "$keys/root.key" --out "$keys/keyset.hks" --version 1 \
       --expires 30 --add "$keys/signer.key.pub" "${pass[@]}" >/dev/null &&
   cp "$keys/root.key.pub" "$trust/root.pub" && cp "$keys/keyset.hks" "$trust/keyset" &&
   chmod 0444 "$trust"/* && chmod 0555 "$trust" && cp "$keys/keyset.hks" "$HT_WORK/boot/keyset.hks" &&
   "$HEARTH_CLI" bundle create --out "$bundle" --model HT-100 --hw-id HT-100 --version 1.0.0 \
       --security-version 1 --expires 30 --notes-file "$HT_WORK/notes" --mitigates none \
       --payload hearthd="$root/usr/sbin/hearthd" >/dev/null &&
   "$HEARTH_CLI" bundle sign "$bundle" --key "$keys/signer.key" "${pass[@]}" >/dev/null &&
   "$HEARTH_CLI" slot install --state "$HT_WORK/boot" --trust "$trust" \
       --keyset "$HT_WORK/boot/keyset.hks" --bundle "$bundle" >"$HT_WORK/slot.log" 2>&1; then
    ht_pass "the installed CLI signed the installed hearthd into slot a"
else
    ht_fail "slot install: $(cat "$HT_WORK/slot.log")"
fi
[ "$(id -u)" -eq 0 ] && chown -R "$uid:$gid" "$HT_WORK/boot"
unit_wrapper "$root/lib/systemd/system/hearth-boot.service" "$root/usr/sbin/hearth-boot" \
    "$HT_WORK/hearth-boot" || ht_fail "cannot expand hearth-boot.service's SystemCallFilter="
bout=$HT_WORK/boot.out
"$HT_WORK/hearth-boot" --state "$HT_WORK/boot" --trust "$trust" --keyset "$HT_WORK/boot/keyset.hks" \
    -- --listen 127.0.0.1:0 --foreground --fetch-socket "$HT_WORK/fetch.sock" >"$bout" 2>"$HT_WORK/boot.err" &
bpid=$!
HT_PIDS+=("$bpid")
line=""
for _ in $(seq 1 300); do
    line=$(grep -m1 "^hearthd: listening on https://" "$bout" 2>/dev/null || true)
    [ -n "$line" ] || ! kill -0 "$bpid" 2>/dev/null || { sleep 0.1; continue; }
    break
done
if [ -n "$line" ]; then
    HT_URL="https://127.0.0.1:${line##*:}"
    child=$(pgrep -P "$bpid" | head -1)
    ht_pass "the installed hearth-boot verified and launched slot a ($HT_URL)"
    [ "$(readlink "/proc/$child/exe")" = "/memfd:hearthd (deleted)" ] &&
        ht_pass "hearthd runs from hearth-boot's sealed memfd" ||
        ht_fail "hearth-boot's child runs $(readlink "/proc/$child/exe")"
    for p in "$bpid" "$child"; do
        s=$(awk '/^(Uid|CapEff|Seccomp|NoNewPrivs):/ { printf "%s ", $2 }' "/proc/$p/status")
        [ "$s" = "$run_uid 0000000000000000 1 2 " ] &&
            ht_pass "$(cat "/proc/$p/comm"): uid $run_uid, no capabilities, no_new_privs, seccomp" ||
            ht_fail "pid $p: Uid/CapEff/NoNewPrivs/Seccomp $s"
    done
    ht_req GET /api/v1/device
    ht_expect_status 409 "the slot's hearthd serves its API over TLS"
    ht_daemon_stop "$bpid"
    [ "$HT_EXIT" = 0 ] && ht_pass "hearth-boot stopped cleanly on SIGTERM" || ht_fail "hearth-boot exit $HT_EXIT"
else
    ht_fail "hearth-boot did not launch hearthd: $(tail -5 "$HT_WORK/boot.err")"
fi

# ---------------------------------------------------------------- libhearth-dev
libdir=$(dirname "$(ls "$root"/usr/lib/*/pkgconfig/hearth.pc)")
cat >"$HT_WORK/ident.c" <<'EOF'
/* Opens a provisioned device with the packaged libhearth. */
#include <stdio.h>
#include "hearth/common.h"
#include "hearth/identity.h"

int main(int argc, char **argv)
{
    hearth_device *d = NULL;
    if (argc != 2 || hearth_device_open(argv[1], &d) != HEARTH_OK) {
        fprintf(stderr, "%s\n", hearth_err_msg());
        return 1;
    }
    printf("%s %s\n", hearth_device_model(d), hearth_device_serial(d));
    hearth_device_close(d);
    return 0;
}
EOF
# shellcheck disable=SC2046
if gcc -std=c11 -Wall -Wextra -Werror -o "$HT_WORK/ident" "$HT_WORK/ident.c" \
       $(PKG_CONFIG_PATH=$libdir PKG_CONFIG_SYSROOT_DIR=$root pkg-config --cflags --libs hearth) \
       2>"$HT_WORK/ident.err"; then
    # As the device's user: libhearth refuses a key directory of another user.
    got=$("${as_hearth[@]}" "$HT_WORK/ident" "$HT_WORK/dev" 2>&1)
    [ "$got" = "HT-100 $serial" ] && ht_pass "a program built from libhearth-dev opens the device: $got" ||
        ht_fail "libhearth-dev program: $got"
else
    ht_fail "build against libhearth-dev: $(head -20 "$HT_WORK/ident.err")"
fi
ht_done
