#!/usr/bin/env bash
# provisions: 5.3-2 5.3-4 5.3-9 5.7-1 5.4-1
# needs: HEARTH_TEST_HOOKS
# timeout: 1200
#
# Power cut at every step of an update (MCUboot-simulator style). The fault
# points of key-set persistence, download, verification, installation, the
# slot switch (mark pending) and the confirmation are enumerated with
# HEARTH_FAULT_TRACE; then, for every N, the process is killed with SIGKILL
# at point N (HEARTH_FAULT_KILL_AT=N) from the same starting state. After
# each kill: the real boot decision (hearth_boot_decide(), the library
# function hearth-boot calls; driven by `hearth-update-driver bootcheck`,
# which has no decision logic of its own; once writing nothing, once
# persisted on a copy of the device) must choose a slot that also verifies
# on its own against the trust anchor, the secure store must open intact,
# and a new update attempt must succeed (nothing is left half-done).
# The updater installs from the stream (each verified chunk straight into
# the inactive slot), so the download's kill points are the install's: after
# a kill behind the k-th verified chunk the retry must resume from at least
# that chunk, i.e. the slot's content is consistent with the resume point.
# Torn writes are simulated on a partly written slot (a payload file torn
# mid-chunk with garbage after it, and a half-written slot without record).
# HEARTH_FAULT_STRIDE=K (scripts/test.sh sets 3 for the sanitizer build)
# kills at every K-th point of each sweep (1, 1+K, ...) and lowers the floor
# to MIN_KILL_POINTS/K: the sanitizers then see a third of the recovery
# paths (K=3), and the release run, which sets none, every one.
# The test fails if it reaches fewer than MIN_KILL_POINTS kill points, or if
# any kill point was not followed by a decision, so a lost fault point or a
# skipped check cannot pass silently.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../integration/update_lib.sh
source "$here/../integration/update_lib.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-upd-fault.XXXXXX")
cleanup() { upd_repo_stop_all; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
unset HEARTH_FAULT_KILL_AT HEARTH_FAULT_TRACE

FAILS=0
CHECKS=0
KILLS=0
DECISIONS=0   # kill points after which the real boot decision ran and chose a slot
# Stated floor: 87 points when this floor was set (75 install, 10 confirm,
# 2 torn writes). A change that removes fault points must lower it here,
# visibly, in review.
MIN_KILL_POINTS=87
STRIDE=${HEARTH_FAULT_STRIDE:-1}
case $STRIDE in '' | *[!0-9]* | 0) echo "HEARTH_FAULT_STRIDE must be a positive integer"; exit 1 ;; esac
MIN_KILL_POINTS=$((MIN_KILL_POINTS / STRIDE))
ok() { CHECKS=$((CHECKS + 1)); }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }

upd_fixture "$W" 65536 4096 || { echo "fixture failed"; exit 1; }
upd_bundle "$W/v2.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
upd_publish "$W/v2.hbu" 2.0.0
# A newer key set is published too, so its persistence is on the path.
"$UPD_DRIVER" keyset "$W/keys/keyset-v2.hks" 2 2592000 "$W/keys/root.key" "+$W/keys/signer.pub" >/dev/null
cp "$W/keys/keyset-v2.hks" "$UPD_WWW/keyset.hks"
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
URL=$UPD_REPO_URL
cp -a "$UPD_STATE" "$W/template"
PREFIX=$("$UPD_DRIVER" prefix "$W/v2.hbu" "$W/v2.hbm" | sed 's/.*prefix=//')
RESUMES=0

reset_state() { rm -rf "$UPD_STATE"; cp -a "$1" "$UPD_STATE"; }

# after_crash LABEL: the device must still boot a verified slot with its
# store intact. The real decision runs twice: as a health check on the
# device (writes nothing, so the retry below starts from the crash state),
# and as hearth-boot runs it before a launch (persisted) on a copy of the
# device, where it must choose the same slot and write its state.
after_crash() {
    local label=$1 out slot mode out2
    out=$("$UPD_DRIVER" bootcheck "$UPD_STATE" 2>>"$W/driver.err")
    slot=$(upd_field "$out" slot)
    mode=$(upd_field "$out" mode)
    if [ "$(upd_field "$out" result)" = ok ] && [ "$(upd_field "$out" store)" = ok ] &&
        { [ "$slot" = a ] || [ "$slot" = b ]; }; then ok; else bad "$label: no valid boot: $out"; fi
    if [ "$slot" = b ] && [ "$(upd_field "$out" version)" != 2.0.0 ]; then bad "$label: slot b not 2.0.0"; fi
    rm -rf "$W/probe"
    cp -a "$UPD_STATE" "$W/probe"
    out2=$("$UPD_DRIVER" bootcheck "$W/probe" persist 2>>"$W/driver.err")
    if [ "$(upd_field "$out2" result)" = ok ] && [ "$(upd_field "$out2" written)" = 1 ] &&
        [ "$(upd_field "$out2" slot)" = "$slot" ] && [ "$(upd_field "$out2" mode)" = "$mode" ]; then ok
    else bad "$label: persisted decision differs or was not written: $out2 (health check: $out)"; fi
    case $mode in trial | active | fallback) DECISIONS=$((DECISIONS + 1)) ;; esac
}

RESUME_MIN=0
recover_install() {
    local label=$1 out
    out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
    case "$(upd_field "$out" outcome)" in
        installed) ok ;;
        *) bad "$label: retry after crash did not install: $out" ;;
    esac
    if [ "$RESUME_MIN" -gt 0 ]; then
        RESUMES=$((RESUMES + 1))
        if [ "$(upd_field "$out" resumed_from)" -ge "$RESUME_MIN" ]; then ok
        else bad "$label: retry did not resume from the verified chunks in the slot (>= $RESUME_MIN): $out"; fi
    fi
    cmp -s "$W/payload" "$UPD_STATE/slots/b/payload/hearthd" && ok || bad "$label: installed payload differs"
    out=$("$UPD_DRIVER" bootcheck "$UPD_STATE" 2>>"$W/driver.err")
    if [ "$(upd_field "$out" slot)" = b ] && [ "$(upd_field "$out" result)" = ok ]; then ok
    else bad "$label: after retry the update is not what boots: $out"; fi
}

# ---------------------------------------------------------------- install
reset_state "$W/template"
HEARTH_FAULT_TRACE=$W/trace-install "$UPD_DRIVER" check "$UPD_STATE" "$URL" >/dev/null 2>>"$W/driver.err"
N_INSTALL=$(wc -l <"$W/trace-install")
echo "# install: $N_INSTALL fault points ($(cut -d' ' -f2 "$W/trace-install" | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}'))"
for n in $(seq 1 "$STRIDE" "$N_INSTALL"); do
    reset_state "$W/template"
    { HEARTH_FAULT_KILL_AT=$n "$UPD_DRIVER" check "$UPD_STATE" "$URL" >/dev/null 2>>"$W/driver.err"; } 2>/dev/null
    rc=$?
    name=$(sed -n "${n}p" "$W/trace-install" | cut -d' ' -f2)
    if [ $rc -ne 137 ]; then bad "install point $n ($name): process not killed (rc $rc)"; continue; fi
    KILLS=$((KILLS + 1))
    after_crash "install kill at $n ($name)"
    # Killed behind the k-th verified chunk: the retry keeps at least k.
    k=$(head -n "$n" "$W/trace-install" | grep -c ' update.download.chunk$')
    [ "$name" = update.download.chunk ] && RESUME_MIN=$((PREFIX + k * 4096)) || RESUME_MIN=0
    recover_install "install kill at $n ($name)"
done

# ------------------------------------------------------------ torn writes
# A slot payload torn mid-chunk (power cut while the page cache was flushed
# partially) with garbage after the verified part: the install is killed
# behind its 8th verified chunk, then the file is cut to 5 chunks + 1234
# bytes and 3000 random bytes appended. The retry re-verifies what the slot
# holds, keeps only whole good chunks and resumes after chunk 5.
RESUME_MIN=0
reset_state "$W/template"
n8=$(grep -n ' update.download.chunk$' "$W/trace-install" | sed -n 8p | cut -d: -f1)
{ HEARTH_FAULT_KILL_AT=$n8 "$UPD_DRIVER" check "$UPD_STATE" "$URL" >/dev/null 2>>"$W/driver.err"; } 2>/dev/null
[ $? -eq 137 ] || bad "torn slot: install not killed at the 8th chunk (point $n8)"
TORN=$UPD_STATE/slots/b/payload/hearthd
truncate -s $((5 * 4096 + 1234)) "$TORN"
head -c 3000 /dev/urandom >>"$TORN"
after_crash "torn slot payload"
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
if [ "$(upd_field "$out" outcome)" = installed ] && [ "$(upd_field "$out" resumed_from)" = $((PREFIX + 5 * 4096)) ]; then ok
else bad "torn slot payload not resumed from the last good chunk: $out"; fi
cmp -s "$W/payload" "$TORN" && ok || bad "torn slot payload: installed payload differs"
KILLS=$((KILLS + 1))

# A slot torn during extraction (payload half written, no manifest yet).
reset_state "$W/template"
mkdir -p "$UPD_STATE/slots/b/payload"
head -c 10000 "$W/payload" >"$UPD_STATE/slots/b/payload/hearthd"
after_crash "torn slot b"
recover_install "torn slot b"
KILLS=$((KILLS + 1))

# ---------------------------------------------------------- confirmation
# State: 2.0.0 installed in b, pending, and hearth-boot has started it on
# trial (booted = b). Kill the self-test/confirm at every point.
reset_state "$W/template"
"$UPD_DRIVER" check "$UPD_STATE" "$URL" >/dev/null 2>>"$W/driver.err"
out=$("$UPD_DRIVER" bootcheck "$UPD_STATE" persist 2>>"$W/driver.err")
[ "$(upd_field "$out" slot)" = b ] || bad "trial boot of b not chosen: $out"
rm -rf "$W/template-trial"; cp -a "$UPD_STATE" "$W/template-trial"
HEARTH_FAULT_TRACE=$W/trace-confirm "$UPD_DRIVER" confirm "$UPD_STATE" >"$W/confirm.out" 2>>"$W/driver.err"
grep -q 'confirmed=1' "$W/confirm.out" && ok || bad "untraced confirm did not confirm: $(cat "$W/confirm.out")"
N_CONFIRM=$(wc -l <"$W/trace-confirm")
echo "# confirm: $N_CONFIRM fault points ($(cut -d' ' -f2 "$W/trace-confirm" | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}'))"
for n in $(seq 1 "$STRIDE" "$N_CONFIRM"); do
    reset_state "$W/template-trial"
    { HEARTH_FAULT_KILL_AT=$n "$UPD_DRIVER" confirm "$UPD_STATE" >/dev/null 2>>"$W/driver.err"; } 2>/dev/null
    rc=$?
    name=$(sed -n "${n}p" "$W/trace-confirm" | cut -d' ' -f2)
    if [ $rc -ne 137 ]; then bad "confirm point $n ($name): process not killed (rc $rc)"; continue; fi
    KILLS=$((KILLS + 1))
    after_crash "confirm kill at $n ($name)"
    # The software restarts (hearth-boot) and confirms on the next try,
    # or the slot is already active.
    out=$("$UPD_DRIVER" bootcheck "$UPD_STATE" persist 2>>"$W/driver.err")
    out2=$("$UPD_DRIVER" confirm "$UPD_STATE" 2>>"$W/driver.err")
    active=$(upd_slot_field "$UPD_STATE" 'active slot')
    if [ "$active" = b ] || [ "$(upd_field "$out" slot)" = a ]; then ok
    else bad "confirm kill at $n ($name): neither confirmed on retry nor reverted: $out / $out2"; fi
done

echo "# kill points tested: $KILLS (install $N_INSTALL, of them $RESUMES behind a verified chunk and resumed; confirm $N_CONFIRM, torn writes 2), real boot decision after $DECISIONS of them; every ${STRIDE}. point; floor $MIN_KILL_POINTS; $CHECKS checks, $FAILS failed"
if [ "$KILLS" -lt "$MIN_KILL_POINTS" ]; then bad "only $KILLS kill points reached, the stated floor is $MIN_KILL_POINTS"; fi
if [ "$DECISIONS" -ne "$KILLS" ]; then bad "the boot decision ran after $DECISIONS of $KILLS kill points"; fi
if [ "$FAILS" -ne 0 ]; then echo "--- driver stderr (tail)"; tail -20 "$W/driver.err"; exit 1; fi
