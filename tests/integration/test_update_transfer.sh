#!/usr/bin/env bash
# provisions: 5.3-7 5.3-9 5.3-10 5.5-1 5.5-6 5.7-2
# timeout: 600
#
# The transfer itself: mutual TLS pinned to the manufacturer CA (an update
# server with any other certificate is refused before a byte is requested;
# a client without a device certificate is refused by the repository);
# Range resume from the last verified chunk after the server dies
# mid-transfer; a tampered chunk stops the transfer at that chunk; a server
# sending more than the signed size is cut off with bounded disk use; a
# payload swapped between verification and installation is caught.
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
STAGE=$UPD_STATE/updates/2.0.0.hbu.part
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
    s=$(stat -c %s "$STAGE" 2>/dev/null || echo 0)
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
staged=$(stat -c %s "$STAGE" 2>/dev/null || echo 0)
check "only whole verified chunks kept (staged $staged = prefix + k*64KiB)" \
    bash -c "[ $staged -gt 0 ] && [ \$(( ($staged - $PREFIX) % 65536 )) -eq 0 ]"
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
staged=$(stat -c %s "$STAGE" 2>/dev/null || echo 0)
check "staging file cut back to the last good chunk ($staged)" \
    bash -c "[ $staged -eq $((PREFIX + 10 * 65536)) ]"
check "state unchanged after tampered chunk" bash -c "[ '$FP0' = '$(upd_boot_fingerprint)' ]"
check "5.7-2 tampered chunk is an ALERT event" upd_seclog_has "$LOG" update_rejected "chunk 10"

# --- 5. Endless data: the server sends far more than the manifest says.
rm -f "$UPD_STATE/updates/"*.part
upd_publish "$W/good.hbu" 2.0.0
truncate -s 4G "$UPD_WWW/$UPD_HW/2.0.0.hbu"
start=$(date +%s%N)
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  $out (${ms} ms)"
check "5.3-9 endless data aborted (too_large) in ${ms} ms" \
    bash -c "[ '$(upd_field "$out" status)' = too_large ] && [ $ms -lt 20000 ]"
staged=$(du -sb "$UPD_STATE/updates" | cut -f1)
check "disk use bounded by the signed size ($staged <= $TOTAL)" bash -c "[ $staged -le $TOTAL ]"
check "state unchanged after endless data" bash -c "[ '$FP0' = '$(upd_boot_fingerprint)' ]"

# --- 6. Payload swapped after verification, before installation.
rm -f "$UPD_STATE/updates/"*.part
upd_publish "$W/good.hbu" 2.0.0
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" --swap-before-install 2>>"$W/driver.err")
echo "  $out"
check "5.3-9 payload swapped after verification caught at install" \
    bash -c "[ '$(upd_field "$out" outcome)' = rejected ] && [ '$(upd_field "$out" status)' = tampered ]"
boot=$("$UPD_DRIVER" bootcheck "$UPD_STATE" 2>>"$W/driver.err")
check "active slot a still boots, nothing pending ($boot)" \
    bash -c "[ '$(upd_field "$boot" slot)' = a ] && [ '$(upd_field "$boot" result)' = ok ] && [ '$(upd_field "$boot" mode)' = active ]"
check "swap logged" upd_seclog_has "$LOG" update_rejected "changed after verification"

# --- 7. And the same bundle without interference installs.
out=$("$UPD_DRIVER" check "$UPD_STATE" "$URL" 2>>"$W/driver.err")
check "clean retry installs ($out)" bash -c "[ '$(upd_field "$out" outcome)' = installed ]"

echo "# $CHECKS checks, $FAILS failed"
if [ "$FAILS" -ne 0 ]; then echo "--- driver stderr"; tail -30 "$W/driver.err"; exit 1; fi
