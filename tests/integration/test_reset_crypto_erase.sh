#!/usr/bin/env bash
# provisions: 5.11-1 5.1-1
# needs: HEARTH_TPM
# Crypto-erase (docs/erasure.md), for both roots of trust (file key; TPM
# through a swtpm started here): a set-up device's store is copied aside,
# the device is factory-reset, and then every 32-byte window of every file
# left in the state directory, and the key the device's root of trust now
# yields (the TPM unseals it), is tried as the storage key of that copy:
# none opens it. The same probe run on the device before the reset opens it
# (so the probe can succeed). Afterwards the device is in factory default
# (no users), the old admin password does not log in and the label's setup
# password sets it up again.
set -u
source "$(dirname "$0")/lib.sh"
fail() { ht_fail "$*"; ht_done; }
# shellcheck source=tpm_lib.sh
source "$(dirname "$0")/tpm_lib.sh"
ht_init
trap 'swtpm_stop_all; ht_cleanup' EXIT
D="$(ht_build_dir)/tests/reset_driver"
[ -x "$D" ] || fail "reset_driver is not built"
ADMIN_PW="correct horse battery staple 7"

one_root() { # KIND
    local kind=$1 dir="$HT_WORK/$1"
    if [ "$kind" = tpm ]; then
        start_swtpm "$HT_WORK/tpmstate" || fail "swtpm does not start"
        export HEARTH_ROT=tpm HEARTH_TPM_TCTI="swtpm:host=127.0.0.1,port=$PORT"
    else
        export HEARTH_ROT=file
        unset HEARTH_TPM_TCTI
    fi
    [ -f "$HT_WORK/ca/ca.crt" ] || "$HEARTH_CLI" ca init "$HT_WORK/ca" >/dev/null 2>&1
    "$HEARTH_CLI" provision --ca "$HT_WORK/ca" --out "$dir" --model HT-100 --rot "$kind" \
        --label json >"$dir.label.json" 2>"$HT_WORK/$kind.prov.err" ||
        fail "$kind: provision: $(cat "$HT_WORK/$kind.prov.err")"
    local spw serial
    spw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup_password"])' "$dir.label.json")
    serial=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$dir.label.json")
    "$D" setup "$dir" "$spw" admin "$ADMIN_PW" 2>/dev/null || fail "$kind: setup"
    cp -a "$dir/data" "$HT_WORK/$kind.olddata"
    if "$D" tryold "$dir" "$HT_WORK/$kind.olddata" "$serial" >"$HT_WORK/$kind.before" 2>/dev/null; then
        ht_fail "$kind: before the reset the probe does not open the store ($(cat "$HT_WORK/$kind.before"))"
    else
        ht_pass "$kind: before the reset the probe opens the store ($(cat "$HT_WORK/$kind.before"))"
    fi
    "$D" reset "$dir" >/dev/null 2>"$HT_WORK/$kind.reset.err" || fail "$kind: reset: $(tail -2 "$HT_WORK/$kind.reset.err")"
    if "$D" tryold "$dir" "$HT_WORK/$kind.olddata" "$serial" >"$HT_WORK/$kind.after" 2>/dev/null; then
        ht_pass "$kind: after the reset nothing on the device opens the old store ($(cat "$HT_WORK/$kind.after"))"
    else
        ht_fail "$kind: after the reset the old store opened or nothing was tried ($(cat "$HT_WORK/$kind.after"))"
    fi
    ht_check "$kind: factory default, no users" [ "$("$D" probe "$dir" admin 2>/dev/null)" = "factory users=0" ]
    if "$D" login "$dir" admin "$ADMIN_PW" 2>/dev/null; then
        ht_fail "$kind: the old admin password still works"
    else
        ht_pass "$kind: the old admin password does not work"
    fi
    ht_check "$kind: the label's setup password sets the device up again" \
        "$D" setup "$dir" "$spw" owner2 "$ADMIN_PW"
    ht_check "$kind: the new owner is the only user" \
        [ "$("$D" probe "$dir" owner2 2>/dev/null)" = "initialized users=1" ]
}

one_root file
one_root tpm
ht_done
