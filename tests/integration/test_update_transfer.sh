#!/usr/bin/env bash
# provisions: 5.3-7 5.3-9 5.3-10 5.5-1 5.5-6 5.7-2
# timeout: 600
#
# The transfer itself: mutual TLS pinned to the manufacturer CA (an update
# server with any other certificate is refused before a byte is requested;
# a client without a device certificate is refused by the repository);
# install from the stream: the payload goes straight into the inactive
# slot, which stays unbootable until committed; Range resume from the last
# verified chunk kept in that slot after the server dies mid-transfer; a
# tampered chunk stops the transfer at that chunk; a server sending more
# than the signed size is cut off with bounded disk use; a slot payload
# changed after verification is caught by the boot verification.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/hearth-upd-xfer.XXXXXX")
DRV_PID=""
cleanup() {
    [ -n "$DRV_PID" ] && kill "$DRV_PID" 2>/dev/null
    upd_repo_stop_all
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

SIZE=$((8 * 1024 * 1024))
upd_fixture "$W" "$SIZE" 65536 || { echo "fixture failed"; exit 1; }
LOG=$UPD_STATE/events.log
upd_bundle "$W/good.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
PREFIX=$("$UPD_DRIVER" prefix "$W/good.hbu" "$W/good.hbm" | sed 's/.*prefix=//')
TOTAL=$(stat -c %s "$W/good.hbu")
PART=$UPD_STATE/slots/b/payload/hearthd   # written as the download streams
FP0=$(upd_boot_fingerprint)

# --- 1. Untrusted server certificate (self-signed, not from the CA).
upd_selfsigned_cert "$W/rogue-tls"
upd_repo_start "$W/rogue" "$UPD_WWW" "$W/rogue-tls" "$W/ca/ca.crt" || exit 1
upd_publish "$W/good.hbu" 2.0.0
out=$("$UPD_DRIVER" check "$UPD_STATE" "$UPD_REPO_URL" 2>>"$W/driver.err")
echo "  $out"
check "5.3-10 untrusted repository certificate refused" \
    bash -c "[ '$(upd_field "$out" outcome)' = rejected ] && [ '$(upd_field "$out" bytes)' = 0 ]"
check "5.5-1 no HTTP request reached the rogue server" bash -c "[ -f '$W/rogue/access.log' ] && ! grep -q . '$W/rogue/access.log'"
# Positive control: the rogue server is up and its log records a request
# made by a client that does accept its certificate.
curl -s -k -o /dev/null --max-time 10 "${UPD_REPO_URL}/probe-control" || true
check "positive control: the rogue server logs a request from a client that trusts it" \
    grep -q '^/probe-control ' "$W/rogue/access.log"
check "5.3-10 untrusted repository logged" upd_seclog_has "$LOG" update_rejected "TLS"
check "state unchanged after rogue server" bash -c "[ '$FP0' = '$(upd_boot_fingerprint)' ]"
upd_repo_stop "$W/rogue"

# --- 2. The real repository refuses clients without a device certificate.
upd_repo_start "$W/repo" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
URL=$UPD_REPO_URL
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$W/ca/ca.crt" "$URL/$UPD_HW/latest.hbm" || true)
check "5.3-10 repository refuses a client without certificate (HTTP $code)" bash -c "[ '$code' = 400 ]"
mkdir -p "$W/rogue-ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$W/rogue-ca/ca.key" \
    -out "$W/rogue-ca/ca.crt" -days 2 -subj "/CN=Rogue CA" 2>/dev/null
upd_client_cert "$W/rogue-client" "$W/rogue-ca"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$W/ca/ca.crt" --cert "$W/rogue-client/client.crt" \
    --key "$W/rogue-client/client.key" "$URL/$UPD_HW/latest.hbm" || true)
check "5.3-10 repository refuses a device certificate from another CA (HTTP $code)" \
    bash -c "[ '$code' = 400 ] || [ '$code' = 000 ]"

# --- 3. Interrupted download resumes from the last verified chunk.
upd_repo_stop "$W/repo"
upd_repo_start "$W/slow" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" 2m || exit 1
"$UPD_DRIVER" check "$UPD_STATE" "$UPD_REPO_URL" --attempts 1 >"$W/first.out" 2>>"$W/driver.err" &
DRV_PID=$!
for _ in $(seq 1 200); do
    s=$(stat -c %s "$PART" 2>/dev/null || echo 0)
    [ "$s" -gt $((2 * 1024 * 1024)) ] && break
    sleep 0.05
done
upd_repo_stop "$W/slow"     # the server dies mid-transfer
wait "$DRV_PID"; DRV_PID=""
first=$(cat "$W/first.out")
echo "  first:  $first"
got1=$(upd_field "$first" bytes)
check "interrupted transfer reported as a transient failure" \
    bash -c "[ '$(upd_field "$first" outcome)' = failed ] && [ ${got1:-0} -gt 0 ] && [ ${got1:-0} -lt $SIZE ]"
part=$(stat -c %s "$PART" 2>/dev/null || echo 0)
check "only whole verified chunks kept in slot b ($part bytes = k*64KiB)" \
    bash -c "[ $part -gt 0 ] && [ \$(( $part % 65536 )) -eq 0 ]"
check "the interrupted slot b cannot boot (installing, no manifest, not pending)" upd_slot_partial b
boot=$("$UPD_DRIVER" bootcheck "$UPD_STATE" 2>>"$W/driver.err")
check "slot a still boots during the interrupted install ($boot)" \
    bash -c "[ '$(upd_field "$boot" slot)' = a ] && [ '$(upd_field "$boot" mode)' = active ]"
staged=$((PREFIX + part))
upd_repo_start "$W/repo2" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
second=$("$UPD_DRIVER" check "$UPD_STATE" "$UPD_REPO_URL" 2>>"$W/driver.err")
echo "  second: $second"
got2=$(upd_field "$second" bytes)
sent2=$(upd_repo_bytes_sent "$W/repo2" 2.0.0.hbu)
check "resumed with Range from the last good chunk ($(upd_field "$second" resumed_from))" \
    bash -c "[ '$(upd_field "$second" resumed_from)' = '$staged' ] && grep -q 'bytes=$staged-' '$W/repo2/access.log'"
check "bytes re-downloaded ($got2, server sent $sent2) < total ($TOTAL)" \
    bash -c "[ ${got2:-0} -lt $TOTAL ] && [ ${sent2:-0} -lt $TOTAL ] && [ $((got2 + staged)) -eq $TOTAL ]"
check "resumed update installed" bash -c "[ '$(upd_field "$second" outcome)' = installed ]"
check "installed payload is byte-identical" cmp -s "$W/payload" "$UPD_STATE/slots/b/payload/hearthd"

# Fresh device state for the remaining cases (the update is now pending).
upd_repo_stop_all
rm -rf "$W"/state "$W"/ca "$W"/keys "$W"/www "$W"/repo* "$W"/b-1.0.0.hbu "$W"/payload*
upd_fixture "$W" "$SIZE" 65536 || exit 1
LOG=$UPD_STATE/events.log
upd_bundle "$W/good.hbu" --version 2.0.0 --secver 2 hearthd="$W/payload" >/dev/null
upd_repo_start "$W/repo3" "$UPD_WWW" "$W/repo-tls" "$W/ca/ca.crt" || exit 1
URL=$UPD_REPO_URL
FP0=$(upd_boot_fingerprint)

# --- 4. A tampered chunk stops the transfer at that chunk.
cp "$W/good.hbu" "$W/tampered.hbu"
upd_flip_byte "$W/tampered.hbu" $((PREFIX + 10 * 65536 + 7))
upd_publish "$W/tampered.hbu" 2.0.0 "$W/good.hbu"
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
echo "  $out"
got=$(upd_field "$out" bytes)
check "5.3-9 tampered chunk 10 rejected" bash -c "[ '$(upd_field "$out" status)' = tampered ]"
check "transfer stopped early ($got of $TOTAL bytes accepted)" bash -c "[ ${got:-$TOTAL} -le $((11 * 65536 + PREFIX)) ]"
part=$(stat -c %s "$PART" 2>/dev/null || echo 0)
check "slot b payload cut back to the last good chunk ($part)" \
    bash -c "[ $part -eq $((10 * 65536)) ]"
check "slot b after the tampered chunk cannot boot" upd_slot_partial b
check "state unchanged after tampered chunk" bash -c "[ '$FP0' = '$(upd_boot_fingerprint)' ]"
check "5.7-2 tampered chunk is an ALERT event" upd_seclog_has "$LOG" update_rejected "chunk 10"

# --- 5. Endless data: the server sends far more than the manifest says.
rm -f "$UPD_STATE/slots/b/install.rec"   # a fresh install, not a resume
upd_publish "$W/good.hbu" 2.0.0
truncate -s 4G "$UPD_WWW/$UPD_HW/2.0.0.hbu"
start=$(date +%s%N)
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  $out (${ms} ms)"
check "5.3-9 endless data aborted (too_large) in ${ms} ms" \
    bash -c "[ '$(upd_field "$out" status)' = too_large ] && [ $ms -lt 20000 ]"
used=$(du -sb "$UPD_STATE/slots/b" "$UPD_STATE/updates" | awk '{ n += $1 } END { print n }')
check "disk use bounded by the signed size ($used <= $TOTAL)" bash -c "[ $used -le $TOTAL ]"
check "state unchanged after endless data" bash -c "[ '$FP0' = '$(upd_boot_fingerprint)' ]"

# --- 6. A slot payload changed after its bytes were verified, before the
# slot is committed (the hook flips its last byte): each byte is hashed
# once, as it arrives, so the updater commits it; hearth-boot verifies the
# whole slot before starting it and refuses it.
upd_publish "$W/good.hbu" 2.0.0
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" --swap-before-install 2>>"$W/driver.err")
echo "  $out"
check "slot changed after verification: committed and pending ($(upd_field "$out" outcome))" \
    bash -c "[ '$(upd_field "$out" outcome)' = installed ] && ! cmp -s '$W/payload' '$PART'"
boot=$("$UPD_DRIVER" bootcheck "$UPD_STATE" persist 2>>"$W/driver.err")
check "5.3-9 hearth-boot refuses the changed slot, slot a boots ($boot)" \
    bash -c "[ '$(upd_field "$boot" slot)' = a ] && [ '$(upd_field "$boot" result)' = ok ]"
check "5.7-2 changed slot is an ALERT" upd_seclog_has "$LOG" software_integrity_violation "chunk"

# --- 7. And the same bundle without interference installs.
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
check "clean retry downloads and installs ($out)" \
    bash -c "[ '$(upd_field "$out" outcome)' = installed ] && [ '$(upd_field "$out" bytes)' -gt 0 ]"
check "installed payload is byte-identical after the retry" cmp -s "$W/payload" "$PART"

echo "# $CHECKS checks, $FAILS failed"
if [ "$FAILS" -ne 0 ]; then echo "--- driver stderr"; tail -30 "$W/driver.err"; exit 1; fi
