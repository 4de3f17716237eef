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
# TPM root, the sealing policy (docs/erasure.md, "TPM root of trust"): a copy
# of the old tpm-sealed.bin (what a remapped flash block may keep) is unsealed
# by this TPM and opens the old store before the reset; after it the same
# TPM refuses it (the erase epoch moved on), also with its header edited to
# claim the current epoch (the TPM's own policy check), and the device with
# the copy put back in place does not open; the old key's NV rollback
# counter is gone from the TPM.
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
# nv_defined HANDLE: the TPM lists the NV index (tpm2-tools, same swtpm).
nv_defined() {
    local h
    h=$(printf '0x%x' "$1")
    tpm2_getcap -T "$HEARTH_TPM_TCTI" handles-nv-index 2>/dev/null | tr 'A-F' 'a-f' | grep -qx -- "- $h"
}

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
    local blob="$dir/keys/tpm-sealed.bin" old="$HT_WORK/tpm.oldblob" out old_counter
    if [ "$kind" = tpm ]; then
        cp "$blob" "$old"
        ht_check "tpm: the key is sealed under the erase-epoch policy (blob version 2)" \
            [ "$(od -An -tu1 -j9 -N1 "$blob" | tr -d ' ')" = 2 ]
        old_counter=0x$(od -An -tx1 -j12 -N4 "$old" | tr -d ' \n')
        out=$("$D" unsealcopy "$old" "$HT_WORK/tpm.olddata" "$serial" 2>/dev/null)
        ht_check "tpm: before the reset this TPM unseals a copy of the blob and it opens the store ($out)" \
            [ "$out" = "unsealed, opened" ]
        ht_check "tpm: the old key's rollback counter $old_counter is in the TPM" \
            nv_defined "$old_counter"
    fi
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
    if [ "$kind" = tpm ]; then
        out=$("$D" unsealcopy "$old" "$HT_WORK/tpm.olddata" "$serial" 2>/dev/null)
        if [ "$out" != "unsealed, opened" ] && grep -q "TPM refuses to unseal" <<<"$out"; then
            ht_pass "tpm: after the reset this TPM refuses the old blob's copy ($out)"
        else
            ht_fail "tpm: after the reset the old blob's copy: $out"
        fi
        # The copy with the new blob's epoch fields (index, value): PolicyNV
        # passes, the digest is not the sealed object's: the TPM refuses.
        python3 -c 'import sys; o=bytearray(open(sys.argv[1],"rb").read()); n=open(sys.argv[2],"rb").read(); o[16:28]=n[16:28]; open(sys.argv[3],"wb").write(o)' \
            "$old" "$blob" "$old.forged"
        out=$("$D" unsealcopy "$old.forged" "$HT_WORK/tpm.olddata" "$serial" 2>/dev/null)
        if [ "$out" != "unsealed, opened" ] && grep -q "TPM refuses to unseal" <<<"$out"; then
            ht_pass "tpm: ... and with its header claiming the current epoch ($out)"
        else
            ht_fail "tpm: the old blob's copy with a forged epoch: $out"
        fi
        cp "$blob" "$HT_WORK/tpm.newblob"
        cp "$old" "$blob"
        if "$D" probe "$dir" admin >/dev/null 2>"$HT_WORK/tpm.putback.err"; then
            ht_fail "tpm: the device opens with the old blob put back"
        else
            ht_pass "tpm: the device with the old blob put back does not open ($(tail -1 "$HT_WORK/tpm.putback.err"))"
        fi
        cp "$HT_WORK/tpm.newblob" "$blob"
        local nvlist
        nvlist=$(tpm2_getcap -T "$HEARTH_TPM_TCTI" handles-nv-index 2>&1) || fail "tpm2_getcap: $nvlist"
        if nv_defined "$old_counter"; then
            ht_fail "tpm: the old key's rollback counter $old_counter is still defined"
        else
            ht_pass "tpm: the old key's rollback counter $old_counter was undefined"
        fi
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
