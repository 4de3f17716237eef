#!/usr/bin/env bash
# provisions: 5.3-9 5.7-1 5.7-2
# needs: HEARTH_TPM
# timeout: 600
#
# Anti-rollback that fails closed, with the real CLI and the real hearth-boot,
# on both roots of trust (file, and TPM 2.0 on a swtpm started here):
# v1 installed in slot a, v2 staged in b, booted on trial and confirmed
# (floor 2). Then, from that state, each attack an attacker with file access
# tries to get the older, validly signed v1 to run:
#   flip-state    one byte flipped in b's program and one in boot/state
#   delete-state  one byte flipped in b's program, boot/state deleted
#   manifest      one byte flipped in b's manifest and one in boot/state
#   replay-state  one byte flipped in b's program, the authentic boot/state
#                 saved while v1 was installed put back
# Each time: `hearth slot install` of v1 is refused (rollback) before
# anything else; `hearth-boot --verify-only` reports recovery and changes no
# file; hearth-boot ends in recovery (exit 3), v1 never runs, the alert is in
# events.log, `hearth slot status` reports RECOVERY MODE and floor 2 (state
# and floor record); v1 is still refused afterwards; repairing b boots v2 and
# the floor stays 2 (the old behaviour wrote floor 1 and kept booting v1).
# File backend only: with boot/state AND keys/boot-floors gone, nothing
# authentic is left and no slot runs, not even the valid v2 (recovery).
# TPM only: the floors are in TPM NV: with boot/state deleted (and no file
# floor record at all) v2 still boots, and the whole v1-era state put back
# (v1's authentic boot/state, slot b emptied) ends in recovery, not in v1.
# Replays of the installed release (v2 re-signed by a key outside the key
# set: another file, same release id) are refused by stage, install and
# `bundle verify --installed-*` alike.
set -euo pipefail
. "$(dirname "$0")/test_boot_common.inc"
# shellcheck source=tpm_lib.sh
source "$(dirname "$0")/tpm_lib.sh"
trap 'swtpm_stop_all; boot_cleanup' EXIT
command -v swtpm >/dev/null || fail "swtpm is not installed"

make_device
make_bundle v1 1.0 1
make_bundle v2 2.0 2
# The same release as another file: v2 also signed by a key outside the key set.
cp "$T/v2.hbu" "$T/v2x.hbu"
"$HEARTH" keygen --out "$T/keys/stranger" >/dev/null
"$HEARTH" bundle sign "$T/v2x.hbu" --key "$T/keys/stranger" >/dev/null || fail "sign v2x"
cmp -s "$T/v2.hbu" "$T/v2x.hbu" && fail "v2x should be another file"
id2=$("$HEARTH" bundle inspect "$T/v2.hbu" | sed -n 's/^release id: *\([0-9a-f]*\).*/\1/p')
id2x=$("$HEARTH" bundle inspect "$T/v2x.hbu" | sed -n 's/^release id: *\([0-9a-f]*\).*/\1/p')
[ -n "$id2" ] && [ "$id2" = "$id2x" ] || fail "release ids differ: '$id2' '$id2x'"
ok "v2 re-signed by an unknown key: another file, the same release id"

FILE_DEV=$DEV
field() { "$HEARTH" slot status --state "$DEV" 2>/dev/null | sed -n "s/^$1: *//p" | head -n 1; }
record_sv() {
    "$HEARTH" slot status --state "$DEV" 2>/dev/null |
        sed -n 's/^floor record: *[^:]*: security version \([0-9]*\),.*/\1/p'
}
a_launches() { [ -f "$DEV/payload.log" ] && grep -c '^a ' "$DEV/payload.log" || echo 0; }
# Checksums of every file hearth-boot could touch (events.log aside).
tree_sum() {
    (cd "$DEV" && find boot keys slots -type f -print0 | sort -z | xargs -0 sha256sum)
}

# install v1 in a, v2 confirmed in b (floor 2)
setup_v1_v2() {
    "$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null ||
        fail "$ROT: install v1"
    mode a confirm-exit
    boot
    [ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = a ] || fail "$ROT: v1 boot"
    cp "$DEV/boot/state" "$T/v1state.$ROT"
    "$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v2.hbu" >/dev/null ||
        fail "$ROT: stage v2"
    mode b confirm-exit
    boot
    [ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = b ] || fail "$ROT: v2 trial boot"
    [ "$(field 'active slot')" = b ] || fail "$ROT: v2 not confirmed"
    [ "$(field 'min security version')" = 2 ] || fail "$ROT: floor not 2"
    [ "$(record_sv)" = 2 ] || fail "$ROT: floor record not 2: $("$HEARTH" slot status --state "$DEV")"
    ok "$ROT: v1 in a, v2 confirmed in b, floor 2 in the state and the floor record"
}

replays_refused() {
    local out
    if out=$("$HEARTH" slot stage --state "$DEV" --trust "$TRUST" --bundle "$T/v2x.hbu" 2>&1); then
        fail "$ROT: stage accepted a replay of the installed release"
    fi
    grep -q "already installed" <<<"$out" || fail "$ROT: stage replay: $out"
    if out=$("$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v2x.hbu" 2>&1); then
        fail "$ROT: install accepted a replay of the installed release"
    fi
    grep -q "already installed" <<<"$out" || fail "$ROT: install replay: $out"
    out=$("$HEARTH" bundle verify "$T/v2x.hbu" --keyset "$TRUST/keyset" --trust "$TRUST" \
        --installed-security-version 2 --installed-version 2.0 2>&1) &&
        fail "$ROT: bundle verify accepted the replay"
    grep -q "REJECTED (exists)" <<<"$out" || fail "$ROT: bundle verify replay: $out"
    [ "$(field 'active slot')" = b ] && [ "$(field 'pending slot')" = none ] ||
        fail "$ROT: a refused replay changed the boot state"
    ok "$ROT: replay of the installed release (another file) refused by stage, install, bundle verify"
}

attack() {
    local v=$1
    rm -rf "$DEV"
    cp -a "$T/good.$ROT" "$DEV"
    local size
    size=$(stat -c %s "$DEV/slots/b/payload/hearthd")
    if [ "$v" = manifest ]; then
        flip_byte "$DEV/slots/b/manifest.bin" 20
    else
        flip_byte "$DEV/slots/b/payload/hearthd" $((size / 2))
    fi
    case $v in
        flip-state | manifest) flip_byte "$DEV/boot/state" 20 ;;
        delete-state) rm -f "$DEV/boot/state" ;;
        replay-state) cp "$T/v1state.$ROT" "$DEV/boot/state" ;;
    esac
    mode a confirm-exit
    mode b confirm-exit
    local before out rc
    before=$(a_launches)

    # The install path refuses v1 right away, and changes nothing.
    local sum0
    sum0=$(tree_sum)
    if out=$("$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" 2>&1); then
        fail "$ROT/$v: slot install of v1 succeeded: $out"
    fi
    grep -qi "rollback" <<<"$out" || fail "$ROT/$v: install refusal does not say rollback: $out"
    [ "$(tree_sum)" = "$sum0" ] || fail "$ROT/$v: the refused install changed files"

    # --verify-only: recovery, and not one file changed (no rename either).
    set +e
    out=$("$BOOT" --state "$DEV" --trust "$TRUST" --verify-only 2>>"$T/boot.stderr")
    rc=$?
    set -e
    [ "$rc" = 3 ] || fail "$ROT/$v: --verify-only exited $rc ($out)"
    grep -q '^recovery:' <<<"$out" || fail "$ROT/$v: --verify-only said '$out'"
    [ "$(tree_sum)" = "$sum0" ] || fail "$ROT/$v: --verify-only changed files"
    ls "$DEV"/boot/state.bad.* >/dev/null 2>&1 && fail "$ROT/$v: --verify-only renamed the state"

    boot
    [ "$BOOT_RC" = 3 ] || fail "$ROT/$v: hearth-boot exited $BOOT_RC, expected recovery (3)"
    [ "$(a_launches)" = "$before" ] || fail "$ROT/$v: v1 (slot a) was launched"
    [ -f "$DEV/boot/recovery" ] || fail "$ROT/$v: no boot/recovery"
    grep -q '"severity":"alert","event":"recovery_mode"' "$DEV/events.log" ||
        fail "$ROT/$v: no recovery_mode alert"
    case $v in
        replay-state) grep -q '"severity":"alert","event":"software_integrity_violation","slot":"b"' \
            "$DEV/events.log" || fail "$ROT/$v: no integrity alert for b" ;;
        delete-state) grep -q '"severity":"alert","event":"boot_state_missing"' "$DEV/events.log" ||
            fail "$ROT/$v: no boot_state_missing alert" ;;
        *) grep -q '"severity":"alert","event":"boot_state_tampered"' "$DEV/events.log" ||
            fail "$ROT/$v: no boot_state_tampered alert" ;;
    esac
    "$HEARTH" slot status --state "$DEV" > "$T/status" 2>&1 || true
    grep -q '^RECOVERY MODE' "$T/status" || fail "$ROT/$v: status does not report recovery"
    [ "$(field 'min security version')" = 2 ] || fail "$ROT/$v: floor went down: $(cat "$T/status")"
    [ "$(record_sv)" = 2 ] || fail "$ROT/$v: floor record not 2: $(cat "$T/status")"

    # Still refused after hearth-boot wrote its recovery state; still no v1.
    "$HEARTH" slot install --state "$DEV" --trust "$TRUST" --bundle "$T/v1.hbu" >/dev/null 2>&1 &&
        fail "$ROT/$v: slot install of v1 succeeded after the recovery boot"
    boot
    [ "$BOOT_RC" = 3 ] && [ "$(a_launches)" = "$before" ] || fail "$ROT/$v: second boot ran v1"

    # Repair b: v2 boots again, the floor stays 2.
    rm -rf "$DEV/slots/b"
    cp -a "$T/good.$ROT/slots/b" "$DEV/slots/b"
    boot
    [ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = b ] || fail "$ROT/$v: repaired b does not boot"
    [ "$(a_launches)" = "$before" ] || fail "$ROT/$v: v1 ran after the repair"
    [ "$(field 'min security version')" = 2 ] && [ "$(record_sv)" = 2 ] ||
        fail "$ROT/$v: floor after the repair: $("$HEARTH" slot status --state "$DEV")"
    ok "$ROT/$v: install of v1 refused, --verify-only changed nothing, recovery + alerts, v1 never ran, floor 2; repaired b boots"
}

run_rot() {
    ROT=$1
    setup_v1_v2
    replays_refused
    rm -rf "$T/good.$ROT"
    cp -a "$DEV" "$T/good.$ROT"
    for v in flip-state delete-state manifest replay-state; do attack "$v"; done
}

# --- file root of trust --------------------------------------------------------
run_rot file
rm -rf "$DEV"
cp -a "$T/good.file" "$DEV"
rm -f "$DEV/boot/state" "$DEV/keys/boot-floors"
before=$(launches)
boot
[ "$BOOT_RC" = 3 ] || fail "file: nothing authentic left, yet hearth-boot exited $BOOT_RC"
[ "$(launches)" = "$before" ] || fail "file: a slot ran with no authentic floor left"
grep -q '"severity":"alert","event":"rollback_floors_unknown"' "$DEV/events.log" ||
    fail "file: no rollback_floors_unknown alert"
[ -e "$DEV/boot/state" ] && fail "file: hearth-boot wrote a state without knowing the floors"
ok "file: boot/state and keys/boot-floors both gone -> recovery, no slot runs (not even v2), nothing written"

# --- TPM root of trust (swtpm) -------------------------------------------------
start_swtpm "$T/tpm"
TCTI="swtpm:host=127.0.0.1,port=$PORT"
# This platform's root of trust is the TPM at $TCTI (platform configuration,
# docs/provisioning.md: never read from device.json).
export HEARTH_ROT=tpm HEARTH_TPM_TCTI="$TCTI"
DEV=$T/devtpm
"$HEARTH" provision --ca "$T/ca" --out "$DEV" --model "$MODEL" --serial SN-ROLLBACK-TPM \
    --rot tpm --label json >/dev/null 2>"$T/prov-tpm.err" ||
    { cat "$T/prov-tpm.err"; fail "provision with the TPM root of trust"; }
run_rot tpm
grep -q '^floor record: *TPM NV:' <("$HEARTH" slot status --state "$DEV") ||
    fail "tpm: the floor record is not reported as TPM NV"
[ -e "$DEV/keys/boot-floors" ] && fail "tpm: a file floor record exists on a TPM device"
# boot/state deleted: the floors still come from TPM NV; b (v2) boots, a never.
rm -rf "$DEV"
cp -a "$T/good.tpm" "$DEV"
rm -f "$DEV/boot/state"
before=$(a_launches)
boot
[ "$BOOT_RC" = 0 ] && [ "$(last_launch_slot)" = b ] || fail "tpm: state deleted, b should boot"
[ "$(field 'min security version')" = 2 ] || fail "tpm: floor after a deleted state"
# Whole-directory rollback to the v1 days: the TPM floor still says 2.
rm -rf "$DEV"
cp -a "$T/good.tpm" "$DEV"
cp "$T/v1state.tpm" "$DEV/boot/state"
rm -rf "$DEV/slots/b"
mkdir -p "$DEV/slots/b"
boot
[ "$BOOT_RC" = 3 ] && [ "$(a_launches)" = "$before" ] ||
    fail "tpm: the v1-era state and slots booted v1 (rc $BOOT_RC)"
ok "tpm: floors in TPM NV: deleted state -> v2 boots; the v1-era directory -> recovery, v1 never runs"
echo "PASS"
