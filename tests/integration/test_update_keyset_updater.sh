#!/usr/bin/env bash
# provisions: 5.7-1 5.3-9 5.3-10
# needs: HEARTH_TEST_HOOKS
# timeout: 600
#
# The updater keeps hearth-boot's key-set floor (boot state) in step with the
# key sets it accepts from the HTTPS repository (nginx, mutual TLS), so a key
# set rolled back on the device's disk is refused at boot (TUF rollback
# attack on metadata; EN 303 645 5.3-9, 5.3-10, 5.7-1):
#  - each newer key set accepted raises the floor (key set file first, then
#    the store record, then the boot floor);
#  - a rolled-back key set file is refused by the real hearth-boot
#    (ALERT keyset_rollback, recovery) and repaired by the next check;
#  - killed at every fault point of the key-set acceptance, the boot floor
#    is never above the key set file the device has, the device still
#    verifies, and the next check completes the raise;
#  - a release signed by the key added in the rotation then installs and
#    hearth-boot would start it with the rotated key set.
# (The revoked-key attack itself is in test_update_keyset_boot.sh; here the
# factory slot is signed by K1, so the key sets keep K1 active.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-upd-ksfloor.XXXXXX")
cleanup() { upd_repo_stop_all; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
unset HEARTH_FAULT_KILL_AT HEARTH_FAULT_TRACE

upd_fixture "$W" 65536 16384 || { echo "fixture failed"; exit 1; }
BOOT=$(upd_find_bin hearth-boot) || { echo "hearth-boot not built"; exit 1; }
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
URL=$UPD_REPO_URL
S=$UPD_STATE
LOG=$S/events.log
K=$W/keys

floor() { upd_slot_field "$S" "min key-set version"; }
# Version of the device's key set file (it is always exactly one of ours).
file_version() {
    local v
    for v in 1 2 3; do cmp -s "$S/keyset.hks" "$K/keyset-v$v.hks" && { echo $v; return; }; done
    echo unknown
}
# verify_boot: the real hearth-boot decides and verifies, launches nothing.
verify_boot() {
    "$BOOT" --state "$S" --trust "$UPD_TRUST" --keyset "$S/keyset.hks" --verify-only \
        >"$W/boot.out" 2>>"$W/boot.err"
}
check() { "$UPD_DRIVER" check "$S" "$URL" 2>>"$W/driver.err"; }

"$UPD_DRIVER" keygen "$K/signer2.key" "$K/signer2.pub" >/dev/null
for v in 2 3; do
    "$UPD_DRIVER" keyset "$K/keyset-v$v.hks" $v 2592000 "$K/root.key" "+$K/signer.pub" \
        "+$K/signer2.pub" >/dev/null
done

# The factory install (the driver, like an old provisioning line) sets no floor.
[ "$(floor)" = 0 ] && ok "factory state: key-set floor 0" || bad "factory floor is '$(floor)'"

# 1. First check with key set v1 in the repository: accepted, floor 1.
out=$(check)
[ "$(floor)" = 1 ] && ok "key set v1 accepted by the updater -> boot floor 1" ||
    bad "floor after v1 check: '$(floor)' ($out)"

# 2. Key rotation: v2 adds K2. Floor 2.
cp "$K/keyset-v2.hks" "$UPD_WWW/keyset.hks"
out=$(check)
[ "$(file_version)" = 2 ] && ok "key set file is v2" || bad "key set file is $(file_version)"
[ "$(floor)" = 2 ] && ok "updater raised the boot floor to 2 with the key set" ||
    bad "floor after v2: '$(floor)'"
grep -F '"event":"keyset_floor_raised"' "$LOG" | grep -qF '"from":"1","to":"2"' &&
    ok "keyset_floor_raised 1 -> 2 logged" || bad "no keyset_floor_raised 1->2 event"
verify_boot && ok "hearth-boot verifies with key set v2 ($(cat "$W/boot.out"))" ||
    bad "hearth-boot --verify-only with v2: rc $? $(cat "$W/boot.out")"

# 3. Rolled back on disk: hearth-boot refuses it; the next check repairs it.
cp "$K/keyset-v1.hks" "$S/keyset.hks"
n0=$(grep -c '"event":"keyset_rollback"' "$LOG" || true)
verify_boot
rc=$?
n1=$(grep -c '"event":"keyset_rollback"' "$LOG" || true)
if [ $rc = 3 ] && grep -q '^recovery:' "$W/boot.out" && [ "$n1" -gt "$n0" ]; then
    ok "hearth-boot refuses the rolled-back key set v1 (ALERT keyset_rollback, recovery)"
else
    bad "rolled-back key set at boot: rc $rc, events $n0->$n1, $(cat "$W/boot.out")"
fi
out=$(check)
[ "$(file_version)" = 2 ] && ok "next check restored key set v2 on the device" ||
    bad "key set file after repair check: $(file_version) ($out)"
verify_boot && ok "device verifies again after the repair" || bad "after repair: $(cat "$W/boot.out")"
[ "$(floor)" = 2 ] && ok "floor unchanged (2) by the rollback and repair" || bad "floor '$(floor)'"

# 4. Power cut at every fault point of accepting key set v3.
cp "$K/keyset-v3.hks" "$UPD_WWW/keyset.hks"
rm -rf "$W/template"; cp -a "$S" "$W/template"
restore() { rm -rf "$S"; cp -a "$W/template" "$S"; }
rm -f "$W/trace"
HEARTH_FAULT_TRACE=$W/trace check >/dev/null
N=$(wc -l <"$W/trace")
grep -q ' slots.raise_keyset_floor$' "$W/trace" || bad "accepting v3 did not pass slots.raise_keyset_floor"
ip=$(sed -n 's/^\([0-9]*\) update.keyset.persist$/\1/p' "$W/trace" | head -n 1)
ir=$(sed -n 's/^\([0-9]*\) slots.raise_keyset_floor$/\1/p' "$W/trace" | head -n 1)
[ -n "$ip" ] && [ -n "$ir" ] && [ "$ip" -lt "$ir" ] && ok "key set file written before the boot floor is raised (points $ip < $ir)" ||
    bad "order of persist ($ip) and raise ($ir)"
echo "# key-set acceptance: $N fault points ($(cut -d' ' -f2 "$W/trace" | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}'))"
kills=0
for n in $(seq 1 "$N"); do
    restore
    name=$(sed -n "${n}p" "$W/trace" | cut -d' ' -f2)
    { HEARTH_FAULT_KILL_AT=$n "$UPD_DRIVER" check "$S" "$URL" >/dev/null 2>>"$W/driver.err"; } 2>/dev/null
    rc=$?
    if [ $rc -ne 137 ]; then bad "kill at $n ($name): not killed (rc $rc)"; continue; fi
    kills=$((kills + 1))
    fv=$(file_version); f=$(floor)
    if [ "$fv" = unknown ] || [ -z "$f" ] || [ "$f" -gt "$fv" ]; then
        bad "kill at $n ($name): boot floor '$f' above key set file v$fv"; continue
    fi
    if ! verify_boot; then bad "kill at $n ($name): device does not verify: $(cat "$W/boot.out")"; continue; fi
    check >/dev/null
    if [ "$(file_version)" != 3 ] || [ "$(floor)" != 3 ]; then
        bad "kill at $n ($name): retry left file v$(file_version), floor $(floor)"; continue
    fi
done
[ "$kills" = "$N" ] && ok "killed at all $N points: floor <= key set file every time, device verifies, retry reaches v3/3" ||
    bad "only $kills of $N kills"

# 5. A release signed by K2 installs; hearth-boot would try it with v3.
upd_bundle "$W/b2.hbu" --key "$K/signer2.key" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
upd_publish "$W/b2.hbu" 2.0.0
out=$(check)
[ "$(upd_field "$out" outcome)" = installed ] && ok "release signed by K2 installed" || bad "install: $out"
verify_boot && grep -q 'would boot slot b (trial)' "$W/boot.out" &&
    ok "hearth-boot would start it on trial with key set v3, floor $(floor)" ||
    bad "boot after install: $(cat "$W/boot.out")"

echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
