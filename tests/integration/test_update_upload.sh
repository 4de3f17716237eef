#!/usr/bin/env bash
# provisions: 5.3-3 5.3-9 5.5-5 5.13-1
# needs: HEARTH_WITH_UPLOAD
# timeout: 600
#
# Local update through the real hearthd (docs/api.md "Streaming upload"): an
# administrator uploads a signed bundle of several MiB with curl; hearthd
# streams it into the updater's verifying sink (5.3-3: simple to apply, same
# verification as a network update, 5.3-9) and installs it into the inactive
# slot, pending. The 4 KiB body cap still holds for everyone else: an
# unauthenticated 200 MiB stream is refused with 401 before its body is read
# (resident memory stays flat, the server cuts the stream off), a plain user
# gets 403 (5.5-5), a wrong type 415, an oversized length 413, a chunked body
# 411 (5.13-1). A tampered bundle is refused (422, reason only in the
# security log and the admin view), a dropped or too slow upload leaves
# nothing installed and the next upload works, one upload at a time (409).
# Throughout, the API answers GET /api/v1/thermostat and the control loop
# keeps ticking.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"
# The streamed-upload check below measures hearthd's own buffers. In a
# sanitizer build ASan's quarantine keeps every freed chunk (256 MiB by
# default), which would count as growth; a small quarantine still catches a
# use after free of the most recent chunks. No effect on other builds.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"

BG=()
stop_bg() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    BG=()
}
ht_init
trap 'stop_bg; ht_cleanup' EXIT

D=$HT_WORK/dev
BUNDLE_MIB=6
upd_fixture "$D" 4096 65536 || { echo "fixture failed"; exit 1; }
cp "$D/label.json" "$D/state.label.json" # ht_label_field dev/state ...
HT_CA=$D/ca/ca.crt
head -c $((BUNDLE_MIB * 1024 * 1024)) /dev/urandom >"$D/big"
upd_bundle "$D/v2.hbu" --version 2.0.0 --secver 2 --disruptive --downtime 7 \
    --mitigates "CVE-2026-0042" hearthd="$D/big" >/dev/null || { echo "bundle failed"; exit 1; }
SIZE=$(stat -c %s "$D/v2.hbu")
# Tampered copies: one payload byte flipped (caught when its chunk
# completes) and one manifest byte flipped (caught before any payload byte
# is stored).
cp "$D/v2.hbu" "$D/bad-payload.hbu"
upd_flip_byte "$D/bad-payload.hbu" $((SIZE / 2))
cp "$D/v2.hbu" "$D/bad-manifest.hbu"
upd_flip_byte "$D/bad-manifest.hbu" 200
truncate -s 200M "$HT_WORK/zeros"       # sparse: 200 MiB of zeros, no disk
truncate -s 1100M "$HT_WORK/too-big"    # above the updater's 1 GiB bound

# Under AddressSanitizer (-DHEARTH_SANITIZE=ON) freed blocks sit in a
# quarantine of up to 256 MiB, which would make the RSS checks measure
# ASan's bookkeeping; a small quarantine keeps them meaningful there. No
# effect on a normal build.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
# No --update-url: the device has a trust anchor, so uploads are on.
ht_daemon_start dev/state --update-trust "$UPD_TRUST" --heartbeat "$D/hb" || exit 1
ht_setup_admin dev/state || exit 1
ADMIN=$HT_ADMIN_TOKEN
USERPW="a different horse battery 9"
ht_req POST /api/v1/users "{\"username\":\"bob\",\"password\":\"$USERPW\",\"role\":\"user\"}" "$ADMIN"
ht_expect_status 201 "admin creates a regular user"
ht_login bob "$USERPW" || { ht_fail "bob cannot log in"; ht_done; }
USER=$HT_TOKEN
EVENTS=$D/state/events.log
FP0=$(upd_boot_fingerprint)

# Background witnesses: the API keeps answering, the control loop keeps ticking.
( while :; do
      c=$(ht_curl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
          "$HT_URL/api/v1/thermostat" 2>/dev/null)
      echo "$(date +%s%3N) ${c:-000}"
      sleep 0.2
  done ) >"$HT_WORK/poll.log" 2>/dev/null &
BG+=($!)
BG+=("$(upd_heartbeat_sampler "$D/hb" "$HT_WORK/hb.samples")")

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$HT_PID/status" 2>/dev/null; }
RSS_PID=""
rss_start() {
    ( while :; do rss_kb; sleep 0.02; done ) >"$HT_WORK/rss.$1" 2>/dev/null &
    RSS_PID=$!
    BG+=("$RSS_PID")
}
rss_stop() { # prints the peak VmRSS (KiB) sampled since rss_start
    kill "$RSS_PID" 2>/dev/null; wait "$RSS_PID" 2>/dev/null
    sort -n "$HT_WORK/rss.$1" | tail -1
}

# upload TOKEN FILE [curl args]: POST FILE streamed from disk (-T keeps curl
# from loading it into memory). Sets CODE, SENT (bytes curl sent), SECS.
upload() {
    local tok=$1 f=$2; shift 2
    local args=(-o "$HT_WORK/up.body" -D "$HT_WORK/up.hdrs" -w '%{http_code} %{size_upload} %{time_total}'
        -X POST -T "$f" -H 'Content-Type: application/octet-stream')
    [ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
    : >"$HT_WORK/up.body"
    local out
    out=$(ht_curl "${args[@]}" "$@" "$HT_URL/api/v1/updates/upload" 2>/dev/null)
    read -r CODE SENT SECS <<<"${out:-000 0 0}"
    UP_BODY=$(cat "$HT_WORK/up.body")
}
mib() { echo $(( $1 / 1048576 )); }

# ---- 5.13-1 / 5.5-4: an unauthenticated 200 MiB stream is refused unread.
base=$(rss_kb)
rss_start flood
upload "" "$HT_WORK/zeros" -H 'Expect:' # send the body at once, no 100-continue
peak=$(rss_stop flood)
ht_check "unauthenticated upload refused with 401 ($CODE)" [ "$CODE" = 401 ]
ht_check "uniform JSON error 'unauthenticated'" [ "$(ht_json error "$UP_BODY")" = unauthenticated ]
ht_check "401 carries WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$HT_WORK/up.hdrs"
ht_check "curl stops sending on the early 401 (sent $(mib "$SENT") MiB of 200 in ${SECS}s)" \
    [ "$SENT" -lt $((32 * 1048576)) ]
ht_check "hearthd resident memory flat during the curl flood (base ${base} KiB, peak ${peak} KiB)" \
    [ $((peak - base)) -lt 8192 ]
# A client that ignores the answer and pushes 200 MiB of zeros regardless:
# the server reads and discards at most a short linger, then closes.
base=$(rss_kb)
rss_start blind
blind=$(python3 - "$HT_PORT" "$HT_CA" <<'PY'
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
s.settimeout(15)
total = 200 * 1024 * 1024
s.sendall(b"POST /api/v1/updates/upload HTTP/1.1\r\nHost: device\r\n"
          b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % total)
chunk, sent, t0 = b"\0" * 65536, 0, time.time()
try:
    while sent < total:
        s.sendall(chunk)
        sent += len(chunk)
except (OSError, ssl.SSLError):
    pass
secs = time.time() - t0
resp = b""
try:
    while len(resp) < 4096:
        d = s.recv(4096)
        if not d:
            break
        resp += d
except (OSError, ssl.SSLError):
    pass
status = resp.split(b" ", 2)[1].decode() if resp.startswith(b"HTTP/1.1 ") else "none"
print(sent, "%.2f" % secs, status)
PY
)
peak=$(rss_stop blind)
read -r bsent bsecs bstatus <<<"${blind:-0 0 none}"
ht_check "server cut a blind 200 MiB unauthenticated stream off (client got $((bsent / 1024)) KiB out in ${bsecs}s, answer: $bstatus)" \
    bash -c "[ '$bsent' -lt $((32 * 1048576)) ] && [ '$bstatus' != 200 ]"
ht_check "hearthd resident memory flat during the blind stream (base ${base} KiB, peak ${peak} KiB)" \
    [ $((peak - base)) -lt 8192 ]
upload "" "$HT_WORK/zeros" # curl's default: Expect: 100-continue
ht_check "with Expect: 100-continue the refused body is never sent ($CODE, $SENT bytes)" \
    bash -c "[ '$CODE' = 401 ] && [ '$SENT' -lt 1048576 ]"
upload "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$D/v2.hbu"
ht_check "unknown token refused with 401 ($CODE)" [ "$CODE" = 401 ]

# ---- 5.5-5: only administrators may install software.
upload "$USER" "$D/v2.hbu"
ht_check "plain user refused with 403 ($CODE)" [ "$CODE" = 403 ]
ht_check "uniform JSON error 'forbidden'" [ "$(ht_json error "$UP_BODY")" = forbidden ]

# ---- 5.13-1: type, size and framing checked before the body is read.
upload "$ADMIN" "$D/v2.hbu" -H 'Content-Type: application/json'
ht_check "wrong Content-Type refused with 415 ($CODE)" [ "$CODE" = 415 ]
upload "$ADMIN" "$HT_WORK/too-big"
ht_check "Content-Length above the bundle bound refused with 413 ($CODE, $SENT bytes sent)" \
    bash -c "[ '$CODE' = 413 ] && [ '$SENT' -lt 1048576 ]"
code=$(head -c 100000 /dev/zero | ht_curl -o "$HT_WORK/up.body" -w '%{http_code}' -X POST -T - \
    -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/octet-stream' \
    "$HT_URL/api/v1/updates/upload" 2>/dev/null)
ht_check "chunked upload refused with 411 (${code:-000})" [ "${code:-000}" = 411 ]
code=$(ht_curl -o /dev/null -w '%{http_code}' -X POST -T "$D/v2.hbu" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/octet-stream' "$HT_URL/api/v1/updates/upload?x=1" 2>/dev/null)
ht_check "query string refused with 400 (${code:-000})" [ "${code:-000}" = 400 ]
ht_check "nothing installed by the refused requests" [ "$(upd_slot_field "$D/state" 'pending slot')" = none ]

# ---- 5.3-9: tampered bundles are refused, the uploader learns nothing more.
n_rej=$(grep -c '"event":"update_rejected"' "$EVENTS" 2>/dev/null)
upload "$ADMIN" "$D/bad-manifest.hbu"
ht_check "bundle with a flipped manifest byte refused with 422 ($CODE, $(mib "$SENT") of $(mib "$SIZE") MiB sent)" \
    [ "$CODE" = 422 ]
upload "$ADMIN" "$D/bad-payload.hbu"
ht_check "bundle with a flipped payload byte refused with 422 ($CODE)" [ "$CODE" = 422 ]
ht_check "the uploader is told no reason" [ "$(ht_json error "$UP_BODY")" = update_rejected ]
ht_check "5.3-9 both rejections are security events in events.log" \
    [ "$(grep -c '"event":"update_rejected"' "$EVENTS")" -ge $((n_rej + 2)) ]
ht_req GET /api/v1/updates "" "$ADMIN"
ht_check "the administrator's view shows the rejection" grep -q '"event":"update_rejected"' <<<"$HT_BODY"
ht_check "slot state unchanged after the refused uploads" [ "$(upd_boot_fingerprint)" = "$FP0" ]
ht_check "no staging file left behind" [ ! -e "$D/state/updates/upload.part" ]

# ---- one upload at a time; a dropped connection leaves nothing installed.
# curl itself in the background (not the ht_curl function's subshell), so
# that killing it drops the connection.
curl -sS --cacert "$HT_CA" -o /dev/null -X POST -T "$D/v2.hbu" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/octet-stream' --limit-rate 256k \
    "$HT_URL/api/v1/updates/upload" 2>/dev/null &
SLOW=$!
BG+=("$SLOW")
for _ in $(seq 1 50); do
    [ -s "$D/state/updates/upload.part" ] && break
    sleep 0.1
done
ht_check "slow upload in progress (staging file growing)" [ -s "$D/state/updates/upload.part" ]
upload "$ADMIN" "$D/v2.hbu"
ht_check "a second simultaneous upload is refused with 409 ($CODE)" [ "$CODE" = 409 ]
ht_req GET /api/v1/thermostat "" "$ADMIN"
ht_expect_status 200 "GET /api/v1/thermostat answered during the upload"
sleep 1
kill "$SLOW" 2>/dev/null; wait "$SLOW" 2>/dev/null
for _ in $(seq 1 50); do
    upd_seclog_has "$EVENTS" update_upload_aborted "connection closed" && break
    sleep 0.1
done
ht_check "dropped connection aborts the upload (security event)" \
    upd_seclog_has "$EVENTS" update_upload_aborted "connection closed"
ht_check "nothing installed after the dropped upload" [ "$(upd_boot_fingerprint)" = "$FP0" ]
ht_check "staging file removed after the dropped upload" [ ! -e "$D/state/updates/upload.part" ]

# ---- a slow-loris upload (below the minimum rate) is cut.
# (curl itself notices late: it sleeps between rate-limited bursts.)
curl -sS --cacert "$HT_CA" -o /dev/null -X POST -T "$D/v2.hbu" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/octet-stream' --limit-rate 2k --max-time 60 \
    "$HT_URL/api/v1/updates/upload" 2>/dev/null &
SLOW=$!
BG+=("$SLOW")
t0=$(date +%s)
cut=""
for _ in $(seq 1 300); do
    if grep -q 'upload slower than the minimum rate' "$EVENTS"; then cut=$(($(date +%s) - t0)); break; fi
    sleep 0.1
done
kill "$SLOW" 2>/dev/null; wait "$SLOW" 2>/dev/null
ht_check "upload below the minimum rate (2 KiB/s) cut by the server after ${cut:-more than 30} s" \
    bash -c "[ -n '$cut' ] && [ '${cut:-99}' -le $((2 * 10 + 2)) ]"
ht_check "nothing installed by the slow upload" [ "$(upd_boot_fingerprint)" = "$FP0" ]

# ---- 5.3-3: the real upload: streamed, verified, installed, pending.
t_success=$(date +%s%3N)
rss_start ok
base=$(rss_kb)
upload "$ADMIN" "$D/v2.hbu" --limit-rate 8M # long enough for the RSS sampler to see it
peak=$(rss_stop ok)
ht_check "5.3-3 admin uploads a $(mib "$SIZE") MiB signed bundle: 200 ($CODE in ${SECS}s)" [ "$CODE" = 200 ]
ht_check "reply names the version and the restart" \
    bash -c "[ '$(ht_json installed "$UP_BODY")' = 2.0.0 ] && [ '$(ht_json restart_required "$UP_BODY")' = true ]"
ht_check "5.3-12 reply carries disruption and downtime" \
    bash -c "[ '$(ht_json disruptive "$UP_BODY")' = true ] && [ '$(ht_json expected_downtime_s "$UP_BODY")' = 7 ]"
if [ "$(sed -n 's/^HEARTH_SANITIZE:BOOL=//p' "$(ht_build_dir)/CMakeCache.txt")" = ON ]; then
    # Under ASan the allocator's size-class caches and quarantine hold freed
    # chunks, so the growth measures the sanitizer (5-12 MiB seen for this
    # body, load-dependent); the release run holds the bound.
    ht_untested "streamed upload's peak RSS bound (grew $((peak - base)) KiB here)" \
        "sanitizer build: ASan's allocator keeps freed chunks; the release build checks it"
else
    ht_check "streamed: hearthd's peak RSS grew by $((peak - base)) KiB for a $(mib "$SIZE") MiB body" \
        [ $((peak - base)) -lt $((SIZE / 1024 / 2)) ]
fi
ht_check "update_installed logged" upd_seclog_has "$EVENTS" update_installed
rc=""
for _ in $(seq 1 100); do
    if ! kill -0 "$HT_PID" 2>/dev/null; then wait "$HT_PID"; rc=$?; break; fi
    sleep 0.1
done
ht_check "hearthd then exits with the restart code 75 (got ${rc:-still running})" [ "$rc" = 75 ]
ht_check "update installed into the inactive slot b, pending" \
    [ "$(upd_slot_field "$D/state" 'pending slot')" = b ]
ht_check "slot a still the active one until the trial boot" \
    [ "$(upd_slot_field "$D/state" 'active slot')" = a ]
ht_check "installed payload is the uploaded one" cmp -s "$D/big" "$D/state/slots/b/payload/hearthd"

stop_bg
total=$(awk -v t="$t_success" '$1 < t' "$HT_WORK/poll.log" | wc -l)
bad=$(awk -v t="$t_success" '$1 < t && $2 != 200' "$HT_WORK/poll.log" | wc -l)
ht_check "GET /api/v1/thermostat answered 200 throughout the refused, dropped and slow uploads ($total polls, $bad not 200)" \
    bash -c "[ $total -ge 20 ] && [ $bad -eq 0 ]"
gap=$(upd_max_gap "$HT_WORK/hb.samples")
ht_check "the control loop kept ticking (largest heartbeat gap ${gap} ms)" [ "$gap" -lt 3000 ]
ht_done
