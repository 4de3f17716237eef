#!/usr/bin/env bash
# provisions: 5.6-7
# timeout: 300
# What `cmake --install` puts on a device (docs/install.md), installed into a
# DESTDIR from this build:
#  - the programs in the Debian layout, libhearth with its headers and
#    hearth.pc, units, sysusers.d/tmpfiles.d, /etc/hearth, man pages;
#  - a program built with `pkg-config --cflags --libs hearth` against the
#    installed tree (PKG_CONFIG_SYSROOT_DIR) compiles warning-free and runs;
#  - each man page renders with no troff warning;
#  - least privilege of the units (5.6-7): `systemd-analyze security
#    --offline=true --root=DESTDIR` on the INSTALLED units; the parsed
#    exposure of hearthd.service, hearth-boot.service (also with the TPM
#    drop-in) and hearth-fetch@.service is at most 1.5, each unit runs as its
#    own unprivileged user with no capabilities, hearth-fetch has no network;
#    the same measurement on a copy with the shared hardening removed scores
#    above the threshold (so the score is read from the installed files);
#  - `systemd-analyze verify` accepts every unit with no message at all.
# Not shown here: the units running under a real systemd (this test does not
# need PID 1 to be systemd; the daemon itself is started from the installed
# files by build.package_deb).
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
ht_init

B=$(ht_build_dir)
THRESHOLD=1.5
for t in systemd-analyze pkg-config man gcc; do
    if ! command -v "$t" >/dev/null; then
        ht_untested "installed tree and units" "$t is not installed (scripts/deps.sh installs it)"
        hearth_untested_exit
    fi
done
cache() { sed -n "s/^$1:[A-Z]*=//p" "$B/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
trust=$(cache HEARTH_TRUST_DIR)

root=$HT_WORK/root
if DESTDIR=$root cmake --install "$B" >"$HT_WORK/install.log" 2>&1; then
    ht_pass "cmake --install into DESTDIR (prefix $prefix)"
else
    ht_fail "cmake --install: $(tail -5 "$HT_WORK/install.log")"
    ht_done
fi

# ---------------------------------------------------------------- layout
if [ "$prefix" = /usr ]; then unitdir=/lib/systemd/system; else unitdir=$prefix/lib/systemd/system; fi
libdir=$(cd "$root$prefix" && ls -d lib/*/pkgconfig lib/pkgconfig 2>/dev/null | head -1)
libdir=$prefix/${libdir%/pkgconfig}
sysconf=$( [ "$prefix" = /usr ] && echo /etc || echo "$prefix/etc")
for f in "$prefix/bin/hearth" "$prefix/bin/hearth-fleet" "$prefix/sbin/hearthd" "$prefix/sbin/hearth-boot" \
         "$prefix/libexec/hearth/hearth-fetch"; do
    [ -x "$root$f" ] && [ -f "$root$f" ] && ht_pass "program $f" || ht_fail "program $f missing"
done
for f in "$libdir/libhearth.a" "$libdir/pkgconfig/hearth.pc" "$prefix/include/hearth/runtime.h" \
         "$unitdir/hearthd.service" "$unitdir/hearth-boot.service" "$unitdir/hearth-fetch.socket" \
         "$unitdir/hearth-fetch@.service" "$prefix/lib/sysusers.d/hearth.conf" \
         "$prefix/lib/tmpfiles.d/hearth.conf" "$sysconf/hearth/hearthd.conf" \
         "$prefix/share/hearth/systemd/tpm.conf" "$prefix/share/hearth/mosquitto/hearth.conf" \
         "$prefix/share/hearth/mosquitto/hearth.acl" "$prefix/share/man/man1/hearth.1.gz" \
         "$prefix/share/man/man1/hearth-fleet.1.gz" \
         "$prefix/share/man/man8/hearthd.8.gz" "$prefix/share/man/man8/hearth-boot.8.gz" \
         "$prefix/share/man/man8/hearth-fetch.8.gz"; do
    [ -f "$root$f" ] && ht_pass "installed $f" || ht_fail "not installed: $f"
done
[ -d "$root$trust" ] && ht_pass "trust anchor directory $trust" || ht_fail "no $trust"
# Every public header is installed.
missing=$(cd "$HEARTH_SOURCE_DIR/include/hearth" && for h in *.h; do
              [ -f "$root$prefix/include/hearth/$h" ] || echo "$h"; done)
[ -z "$missing" ] && ht_pass "every include/hearth header installed" || ht_fail "headers missing: $missing"

# ---------------------------------------------------------------- man pages
for m in "$root$prefix"/share/man/man*/*.gz; do
    n=$(basename "$m")
    warn=$(zcat "$m" >"$HT_WORK/$n.roff" && LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
           man --warnings -E UTF-8 -l -Tutf8 -Z "$HT_WORK/$n.roff" 2>&1 >"$HT_WORK/$n.out")
    if [ -z "$warn" ] && [ -s "$HT_WORK/$n.out" ] && grep -q "^\.SH NAME" "$HT_WORK/$n.roff"; then
        ht_pass "man page $n renders without warnings"
    else
        ht_fail "man page $n: ${warn:-empty output}"
    fi
done

# ---------------------------------------------------------------- hearth.pc
export PKG_CONFIG_PATH=$root$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
pcflags=$(pkg-config --cflags --libs hearth 2>&1)
case " $pcflags " in
    *" -I$root$prefix/include "*" -L$root$libdir -lhearth "*) ht_pass "pkg-config --cflags --libs hearth: $pcflags" ;;
    *) ht_fail "pkg-config hearth: $pcflags" ;;
esac
cat >"$HT_WORK/consumer.c" <<'EOF'
/* A program of a device maker, built against the installed libhearth. */
#include <stdio.h>
#include <string.h>
#include "hearth/bundle.h"
#include "hearth/layout.h"

int main(void)
{
    char path[256];
    unsigned char r[16];
    if (hearth_layout_path("/var/lib/hearth", HEARTH_LAYOUT_BOOT_STATE, path, sizeof path) != HEARTH_OK)
        return 1;
    if (hearth_random(r, sizeof r) != HEARTH_OK) return 1;
    printf("%s %s\n", path, hearth_trust_default_dir());
    return 0;
}
EOF
# shellcheck disable=SC2086
if gcc -std=c11 -Wall -Wextra -Werror -o "$HT_WORK/consumer" "$HT_WORK/consumer.c" $pcflags \
       2>"$HT_WORK/consumer.err"; then
    ht_pass "a program builds with pkg-config hearth against the installed tree"
    out=$("$HT_WORK/consumer" 2>&1)
    [ "$out" = "/var/lib/hearth/boot/state $trust" ] && ht_pass "and runs: $out" ||
        ht_fail "consumer printed: $out"
else
    ht_fail "consumer build: $(head -20 "$HT_WORK/consumer.err")"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# ---------------------------------------------------------------- units
# exposure ROOT UNIT: the parsed "Overall exposure level" (empty if none).
exposure() {
    systemd-analyze security --offline=true --root="$1" "$2" 2>"$HT_WORK/sa.err" |
        tee "$HT_WORK/sa.$2.out" |
        sed -n "s/^→ Overall exposure level for $2: \([0-9]*\.[0-9]\).*/\1/p"
}
# check_unit ROOT UNIT LABEL: exposure at most THRESHOLD, printed.
check_unit() {
    local s
    s=$(exposure "$1" "$2")
    if [ -z "$s" ]; then
        ht_fail "$3: no exposure score: $(cat "$HT_WORK/sa.err")"
    elif awk -v s="$s" -v t="$THRESHOLD" 'BEGIN { exit !(s <= t) }'; then
        ht_pass "$3: systemd-analyze security exposure $s (<= $THRESHOLD)"
    else
        ht_fail "$3: exposure $s > $THRESHOLD: $(grep '✗' "$HT_WORK/sa.$2.out")"
    fi
    echo "EXPOSURE $3 $s"
}
# setting_ok UNIT SETTING: systemd-analyze marked SETTING ✓ for UNIT.
setting_ok() { grep -q "^✓ $2 " "$HT_WORK/sa.$1.out"; }

check_unit "$root" hearthd.service hearthd.service
for s in 'User=/DynamicUser=' 'CapabilityBoundingSet=~CAP_SYS_ADMIN' 'NoNewPrivileges=' \
         'ProtectSystem=' 'PrivateDevices=' 'SystemCallFilter=~@resources'; do
    setting_ok hearthd.service "$s" && ht_pass "hearthd.service: $s" || ht_fail "hearthd.service: $s not set"
done
# No @privileged call is allowed (setuid/setgroups/chown/mount class, and
# capset: the sandbox calls it only when a capability is held; docs/install.md).
# Both sets are checked to be non-empty, so a parser that reads nothing fails.
us=$HEARTH_SOURCE_DIR/tests/hardening/unit_syscalls.py
printf 'SystemCallFilter=@privileged\n' >"$HT_WORK/privileged.unit"
python3 "$us" "$root$unitdir/hearthd.service" >"$HT_WORK/hearthd.calls"
python3 "$us" "$HT_WORK/privileged.unit" >"$HT_WORK/privileged.calls"
priv=$(comm -12 "$HT_WORK/hearthd.calls" "$HT_WORK/privileged.calls")
if [ "$(wc -l <"$HT_WORK/hearthd.calls")" -gt 100 ] && grep -qx setuid "$HT_WORK/privileged.calls" &&
   grep -qx capset "$HT_WORK/privileged.calls" && grep -qx read "$HT_WORK/hearthd.calls" && [ -z "$priv" ]; then
    ht_pass "hearthd.service allows no @privileged call ($(wc -l <"$HT_WORK/hearthd.calls") calls allowed)"
else
    ht_fail "hearthd.service allows from @privileged: $(echo $priv)"
fi
check_unit "$root" hearth-boot.service hearth-boot.service
setting_ok hearth-boot.service 'User=/DynamicUser=' && ht_pass "hearth-boot.service: own user" ||
    ht_fail "hearth-boot.service runs as root"
check_unit "$root" hearth-fetch@1.service hearth-fetch@.service
for s in 'PrivateNetwork=' 'User=/DynamicUser=' 'RestrictAddressFamilies=~AF_(INET|INET6)'; do
    setting_ok hearth-fetch@1.service "$s" && ht_pass "hearth-fetch@.service: $s" ||
        ht_fail "hearth-fetch@.service: $s not set"
done
grep -qx "User=hearth" "$root$unitdir/hearthd.service" &&
    grep -qx "User=hearth-fetch" "$root$unitdir/hearth-fetch@.service" &&
    ht_pass "hearthd and hearth-fetch run as different users (hearth, hearth-fetch)" ||
    ht_fail "the units' users are not hearth and hearth-fetch"

# The TPM variant: the drop-in as a TPM product installs it.
tpm=$HT_WORK/root-tpm
cp -a "$root" "$tpm"
mkdir -p "$tpm/etc/systemd/system/hearthd.service.d"
cp "$root$prefix/share/hearth/systemd/tpm.conf" "$tpm/etc/systemd/system/hearthd.service.d/"
check_unit "$tpm" hearthd.service "hearthd.service + tpm.conf"
grep -q "DeviceAllow=.*/dev/tpmrm0:rw" "$HT_WORK/sa.hearthd.service.out" &&
    ht_pass "TPM drop-in: the TPM is the one device allowed" || ht_fail "TPM drop-in not applied"

# Break it: without the shared hardening the same measurement must fail.
weak=$HT_WORK/root-weak
cp -a "$root" "$weak"
python3 - "$weak$unitdir/hearthd.service" "$HEARTH_SOURCE_DIR/packaging/systemd/hardening.inc" <<'EOF'
import sys
unit, inc = sys.argv[1], sys.argv[2]
drop = {l for l in open(inc).read().splitlines() if l and not l.startswith('#')}
lines = [l for l in open(unit).read().splitlines() if l not in drop]
open(unit, 'w').write('\n'.join(lines) + '\n')
EOF
s=$(exposure "$weak" hearthd.service)
if [ -n "$s" ] && awk -v s="$s" -v t="$THRESHOLD" 'BEGIN { exit !(s > t) }'; then
    ht_pass "control: hearthd.service without the shared hardening scores $s (> $THRESHOLD)"
else
    ht_fail "control: unhardened unit scored '${s}', the measurement does not see the files"
fi

# systemd-analyze verify in the installed tree: systemd's own targets are
# copied in so the units' dependencies resolve; any message is a failure.
cp -n /lib/systemd/system/*.target "$root$unitdir/" 2>/dev/null
units=()
for u in hearthd.service hearth-boot.service hearth-fetch.socket hearth-fetch@.service; do
    units+=("$unitdir/$u")
done
msg=$(systemd-analyze verify --man=no --root="$root" "${units[@]}" 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -z "$msg" ] && ht_pass "systemd-analyze verify: all four units, no message" ||
    ht_fail "systemd-analyze verify (rc $rc): $msg"
# Control: verify does report a broken unit in this setup.
sed -i 's/^UMask=0077$/UMask=0077\nProtectSytem=strict/' "$root$unitdir/hearthd.service"
msg=$(systemd-analyze verify --man=no --root="$root" "$unitdir/hearthd.service" 2>&1)
[ -n "$msg" ] && ht_pass "control: verify reports a misspelt setting" ||
    ht_fail "control: verify is silent about a misspelt setting"
ht_done
