#!/usr/bin/env bash
# provisions: 5.4-1 5.7-1
# timeout: 600
#
# An attacker who can write the device state directory (docs/threat-model.md,
# attacker 4) tries to make the programs load code of their choosing through
# the TPM connection before anything is verified, and to switch off the
# boot-time model check through device.json. Real hearth-boot, hearthd and
# hearth CLI, real swtpm; the library is built here.
#  - A shared library whose constructor writes a marker file stands in for
#    the attacker's code. device.json names it as "tpm_tcti" in every form the
#    tpm2-tss loader takes (absolute path, path with options, relative path,
#    bare module name resolvable through the library path, library file
#    name), on a file-root device with a planted keys/tpm-sealed.bin (the
#    real sealed blob of another device) and on a TPM device (swtpm).
#  - Also without the field: a file-root device whose device.json claims the
#    TPM root of trust; a TPM device whose device.json claims the file root
#    of trust with a planted keys/storage.key; HEARTH_TPM_TCTI itself set to
#    the library.
#  - hearth-boot, hearthd, `hearth slot status` and `hearth slot install`
#    must each refuse with an error naming the cause (which also proves the
#    program ran and read the file), and the marker must never appear.
#  - device.json without "model" or without "hw_id" is refused by
#    hearth-boot: the model check cannot be switched off.
# Every program is first shown to work on the untouched device, so a refusal
# below is caused by the edit and not by a broken setup.
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"
# shellcheck source=tpm_lib.sh
source "$(dirname "$0")/tpm_lib.sh"
# shellcheck source=../untested.sh
source "$(dirname "$0")/../untested.sh"
HEARTHD=$BUILD/daemon/hearthd
[ -x "$HEARTHD" ] || fail "$HEARTHD not built"
command -v swtpm >/dev/null || fail "swtpm is not installed"
command -v gcc >/dev/null || fail "gcc is needed to build the attacker's library"
trap 'swtpm_stop_all; boot_cleanup' EXIT
unset HEARTH_ROT HEARTH_TPM_TCTI

# --- the attacker's library ---------------------------------------------------
EVIL=$T/evil
MARK=$T/MARKER-attacker-code-ran
mkdir -p "$EVIL"
cat >"$EVIL/evil.c" <<EOF
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void)
{
    int fd = open("$MARK", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { (void)write(fd, "ran\n", 4); close(fd); }
}
EOF
gcc -shared -fPIC -o "$EVIL/libtss2-tcti-evil.so.0" "$EVIL/evil.c" || fail "build evil library"
cp "$EVIL/libtss2-tcti-evil.so.0" "$EVIL/libtss2-tcti-evil.so"
cp "$EVIL/libtss2-tcti-evil.so.0" "$EVIL/evil"
# The library does run when loaded: otherwise "no marker" would prove nothing.
LD_PRELOAD="$EVIL/libtss2-tcti-evil.so.0" /bin/true
[ -s "$MARK" ] || fail "the test library's constructor does not write the marker"
rm -f "$MARK"
ok "attacker library built; its constructor writes $MARK when loaded"
# The bare name "evil" must resolve for the loader; a real attacker would
# use any directory on the search path.
export LD_LIBRARY_PATH="$EVIL"

# nlaunch DEV: program starts the test payload logged in DEV so far.
nlaunch() { if [ -f "$1/payload.log" ]; then wc -l <"$1/payload.log"; else echo 0; fi; }

no_marker() {
    [ ! -e "$MARK" ] || fail "ATTACKER CODE RAN ($1): $(cat "$MARK")"
}

# --- devices: a file-root one and a TPM one ------------------------------------
make_device
make_bundle v1 1.0 1
"$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null \
    || fail "install v1 on the file device"
FILE_DEV=$DEV

start_swtpm "$T/tpm"
TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT"
TPM_DEV=$T/devtpm
HEARTH_ROT=tpm HEARTH_TPM_TCTI="$TPM_TCTI" "$HEARTH" provision --ca "$T/ca" --out "$TPM_DEV" \
    --model "$MODEL" --label json >/dev/null 2>"$T/prov-tpm.err" \
    || { cat "$T/prov-tpm.err"; fail "provision the TPM device"; }
[ -s "$TPM_DEV/keys/tpm-sealed.bin" ] || fail "TPM device has no sealed blob"
HEARTH_ROT=tpm HEARTH_TPM_TCTI="$TPM_TCTI" "$HEARTH" slot install --state "$TPM_DEV" \
    --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null || fail "install v1 on the TPM device"

# run_all DEV LABEL EXPECT [ENV...]: hearth-boot, hearthd, slot status and
# slot install on DEV with the platform environment ENV; each must fail with
# an error containing EXPECT and the marker must stay absent.
run_all() {
    local dev=$1 label=$2 expect=$3
    shift 3
    local rc out before
    out=$T/out.$RANDOM
    before=$(nlaunch "$dev")
    set +e
    dev_own "$dev"
    env "$@" "$BOOT" "${DEV_USER_ARGS[@]}" --state "$dev" --trust "$TRUST" --once >"$out" 2>&1
    rc=$?
    set -e
    [ "$rc" = 3 ] || { cat "$out"; fail "$label: hearth-boot exited $rc, expected 3 (recovery)"; }
    grep -qF -- "$expect" "$out" || { cat "$out"; fail "$label: hearth-boot error lacks '$expect'"; }
    [ "$(nlaunch "$dev")" = "$before" ] \
        || fail "$label: hearth-boot launched the slot"
    no_marker "$label, hearth-boot"

    set +e
    timeout 30 env "$@" "$HEARTHD" "${DEV_USER_ARGS[@]}" --state "$dev" --listen 127.0.0.1:0 --foreground >"$out" 2>&1
    rc=$?
    set -e
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || { cat "$out"; fail "$label: hearthd exited $rc"; }
    grep -qF -- "$expect" "$out" || { cat "$out"; fail "$label: hearthd error lacks '$expect'"; }
    grep -q "listening on" "$out" && fail "$label: hearthd started listening"
    no_marker "$label, hearthd"

    set +e
    env "$@" "$HEARTH" slot status --state "$dev" >"$out" 2>&1
    rc=$?
    set -e
    [ "$rc" = 1 ] || { cat "$out"; fail "$label: slot status exited $rc"; }
    grep -qF -- "$expect" "$out" || { cat "$out"; fail "$label: slot status error lacks '$expect'"; }
    no_marker "$label, slot status"

    set +e
    env "$@" "$HEARTH" slot install --state "$dev" --trust "$TRUST" --bundle "$T/v1.hbu" \
        >"$out" 2>&1
    rc=$?
    set -e
    [ "$rc" = 1 ] || { cat "$out"; fail "$label: slot install exited $rc"; }
    grep -qF -- "$expect" "$out" || { cat "$out"; fail "$label: slot install error lacks '$expect'"; }
    no_marker "$label, slot install"
    rm -f "$out"
    ok "$label: hearth-boot, hearthd, slot status, slot install refuse ('$expect'); no attacker code ran"
}

# baseline DEV LABEL [ENV...]: the same programs work on the untouched device.
baseline() {
    local dev=$1 label=$2
    shift 2
    local out=$T/base.out before after
    before=$(nlaunch "$dev")
    echo confirm-exit >"$dev/payload-mode.a"
    dev_own "$dev"
    set +e
    env "$@" "$BOOT" "${DEV_USER_ARGS[@]}" --state "$dev" --trust "$TRUST" --once >"$out" 2>&1
    local rc=$?
    set -e
    after=$(nlaunch "$dev")
    [ "$rc" = 0 ] && [ "$after" -gt "$before" ] || { cat "$out"; fail "$label: baseline boot rc=$rc"; }
    env "$@" "$HEARTH" slot status --state "$dev" >"$out" 2>&1 || { cat "$out"; fail "$label: baseline slot status"; }
    grep -q "^active slot: *a" "$out" || { cat "$out"; fail "$label: baseline slot status output"; }
    env "$@" "$HEARTHD" "${DEV_USER_ARGS[@]}" --state "$dev" --listen 127.0.0.1:0 --foreground >"$out" 2>&1 &
    local pid=$!
    BOOT_PIDS="$BOOT_PIDS $pid"
    for _ in $(seq 1 200); do
        grep -q "listening on https://" "$out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "listening on https://" "$out" || { cat "$out"; fail "$label: baseline hearthd did not start"; }
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    no_marker "$label, baseline"
    ok "$label: untouched device boots slot a, slot status reads it, hearthd starts"
}

# set_json DEV PYTHON-EXPR: edit DEV/device.json as a dict `d`, attacker-style.
set_json() {
    python3 - "$1/device.json" "$2" <<'EOF'
import json, sys
p, expr = sys.argv[1], sys.argv[2]
d = json.load(open(p))
exec(expr)
open(p, "w").write(json.dumps(d, indent=1) + "\n")
EOF
}

TCTI_FORMS=(
    "$EVIL/libtss2-tcti-evil.so.0"
    "$EVIL/libtss2-tcti-evil.so.0:conf=1"
    "./evil/libtss2-tcti-evil.so.0"
    "evil"
    "evil:host=127.0.0.1,port=2321"
    "libtss2-tcti-evil.so.0"
    "device:$EVIL/libtss2-tcti-evil.so.0"
)

# --- file-root device ----------------------------------------------------------
baseline "$FILE_DEV" "file device"
cp "$FILE_DEV/device.json" "$T/file-device.json"
cp "$TPM_DEV/keys/tpm-sealed.bin" "$FILE_DEV/keys/tpm-sealed.bin" # planted
cd "$T" # the relative form resolves from here
for form in "${TCTI_FORMS[@]}"; do
    cp "$T/file-device.json" "$FILE_DEV/device.json"
    set_json "$FILE_DEV" "d['rot'] = 'tpm'; d['tpm_tcti'] = '$form'"
    run_all "$FILE_DEV" "file device, tpm_tcti=$form" '"tpm_tcti" is refused'
done
# No TPM connection in the file, only the claim "tpm": the platform says file.
cp "$T/file-device.json" "$FILE_DEV/device.json"
set_json "$FILE_DEV" "d['rot'] = 'tpm'"
run_all "$FILE_DEV" "file device claiming rot tpm" "configured for 'file'"
# On a TPM platform the planted blob (another device's, sealed on this very
# TPM) even unseals, but yields a key under which device.mac does not verify.
run_all "$FILE_DEV" "file device claiming rot tpm on a TPM platform" "device.mac" \
    HEARTH_ROT=tpm HEARTH_TPM_TCTI="$TPM_TCTI"
# The library named through the environment instead: refused as well.
cp "$T/file-device.json" "$FILE_DEV/device.json"
for form in "$EVIL/libtss2-tcti-evil.so.0" "evil" "libtss2-tcti-evil.so.0:x"; do
    run_all "$FILE_DEV" "HEARTH_TPM_TCTI=$form" "HEARTH_TPM_TCTI" HEARTH_TPM_TCTI="$form"
done

# A removed model or hw_id is refused at boot (and by everything else).
for field in model hw_id; do
    cp "$T/file-device.json" "$FILE_DEV/device.json"
    set_json "$FILE_DEV" "del d['$field']"
    run_all "$FILE_DEV" "file device without $field" "missing field \"$field\""
done
# Edited but complete: the MAC under the root of trust no longer matches.
cp "$T/file-device.json" "$FILE_DEV/device.json"
set_json "$FILE_DEV" "d['model'] = 'OTHER'; d['hw_id'] = 'OTHER'"
run_all "$FILE_DEV" "file device with another model" "device.mac"
rm -f "$FILE_DEV/keys/tpm-sealed.bin"
cp "$T/file-device.json" "$FILE_DEV/device.json"
baseline "$FILE_DEV" "file device restored"

# --- TPM device (swtpm) --------------------------------------------------------
PLAT=(HEARTH_ROT=tpm HEARTH_TPM_TCTI="$TPM_TCTI")
baseline "$TPM_DEV" "TPM device" "${PLAT[@]}"
cp "$TPM_DEV/device.json" "$T/tpm-device.json"
for form in "${TCTI_FORMS[@]}"; do
    cp "$T/tpm-device.json" "$TPM_DEV/device.json"
    set_json "$TPM_DEV" "d['tpm_tcti'] = '$form'"
    run_all "$TPM_DEV" "TPM device, tpm_tcti=$form" '"tpm_tcti" is refused' "${PLAT[@]}"
done
# Downgrade to the file root of trust with a key the attacker knows.
cp "$T/tpm-device.json" "$TPM_DEV/device.json"
set_json "$TPM_DEV" "d['rot'] = 'file'"
head -c 32 /dev/urandom >"$TPM_DEV/keys/storage.key"
chmod 600 "$TPM_DEV/keys/storage.key"
run_all "$TPM_DEV" "TPM device claiming rot file" "configured for 'tpm'" "${PLAT[@]}"
rm -f "$TPM_DEV/keys/storage.key"
for field in model hw_id; do
    cp "$T/tpm-device.json" "$TPM_DEV/device.json"
    set_json "$TPM_DEV" "del d['$field']"
    run_all "$TPM_DEV" "TPM device without $field" "missing field \"$field\"" "${PLAT[@]}"
done
cp "$T/tpm-device.json" "$TPM_DEV/device.json"
baseline "$TPM_DEV" "TPM device restored" "${PLAT[@]}"
no_marker "end"
# The TPM device here is reached through the linked-in swtpm transport. The
# other two transports are opened the same way but not exercised here.
[ -c /dev/tpmrm0 ] ||
    hearth_untested "TPM device reached through the device: transport" "no kernel TPM on this machine"
hearth_untested "TPM device reached through the tabrmd: transport" \
    "tpm2-abrmd and libtss2-tcti-tabrmd are not dependencies (only its option syntax is unit-tested)"
ok "device configuration attacks: all refused, attacker code never ran"
