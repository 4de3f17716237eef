#!/usr/bin/env bash
# provisions: 5.5-8 5.5-1 5.9-1
# Operational identity end to end (docs/operational-identity.md): a real
# `hearth-fleet enrol-server` (mutual TLS, manufacturer CA) and a real
# provisioned device whose key stays in its store (hearth-enrol-probe, the
# device side of src/enrol) against a real mosquitto running the shipped
# configuration with the service CA made by `hearth-fleet ca-init`:
#  - the shipped broker refuses the factory certificate; the device enrols,
#    stores an operational certificate, and the broker accepts it;
#  - enrolment is refused for a CSR naming another CN, a CSR for another key,
#    the reserved fleet CN, a client certificate from another CA, an expired
#    factory certificate, no client certificate, garbage, an oversized body,
#    another method or path (each paired with an accepted control);
#  - renewal before expiry gives a new certificate;
#  - `hearth-fleet revoke` rebuilds the CRL and reloads the broker: the
#    device's renewal is refused and the broker refuses its next
#    connection, while another device is still accepted;
#  - rate limiting (small limits set by the options): a burst beyond a
#    device's allowance is answered 429 with Retry-After and adds nothing to
#    issued.log, other devices and other addresses are still served, the
#    device is served again after the wait, the device's client reports
#    "busy"; a full table forgets its least recently used entry;
#  - issued.log: an append after a torn last line starts a line of its own;
#    `hearth-fleet ca-prune` (and enrol-server at start) drops only entries
#    long expired, keeps unreadable lines, and the CRL is the same after it
#    (the revoked device's unexpired certificates stay listed); killed at
#    every write/fsync/rename step it leaves the old log or the new one;
#    NUL bytes in the records hide no record written after them.
# 5.9-1 (resilience of the service to power outages) is claimed for the
# last two only: the service CA's records come through a crash at every step
# of a prune, and a zero-filled tail, without losing what the CRL needs.
# The rate limits are not offered as evidence of any 5.9 provision.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
mq_test_start
FLEET="$(ht_build_dir)/services/fleet/hearth-fleet"
[ -x "$FLEET" ] || { ht_fail "hearth-fleet not built"; ht_done; }
PROBE=$(ht_bin hearth-enrol-probe) || { ht_fail "hearth-enrol-probe not built"; ht_done; }
if [ ${#HT_USER_ARGS[@]} -gt 0 ]; then
    PROBE=$("$HEARTH_SOURCE_DIR/tests/integration/as_owner.sh" --wrap "$PROBE" "$HT_WORK/bin") || exit 1
fi

# ------------------------------------------------ service CA, devices
SCA="$HT_WORK/service-ca"
"$FLEET" ca-init "$SCA" --server-names IP:127.0.0.1,DNS:localhost >"$HT_WORK/ca-init.out" 2>&1 ||
    { ht_fail "hearth-fleet ca-init: $(cat "$HT_WORK/ca-init.out")"; ht_done; }
chmod 711 "$SCA"
ht_check "ca-init: CA key 0600, fleet key 0600" \
    test "$(stat -c %a "$SCA/ca.key") $(stat -c %a "$SCA/fleet.key")" = "600 600"
openssl x509 -in "$SCA/fleet.crt" -noout -subject -ext extendedKeyUsage >"$HT_WORK/fleet.txt" 2>&1
ht_check "ca-init: fleet certificate CN hearth-fleet, clientAuth only" \
    grep -qz "CN = hearth-fleet.*TLS Web Client Authentication" "$HT_WORK/fleet.txt"
cp "$SCA/ca.crt" "$HT_WORK/service-ca.crt"
chmod 644 "$HT_WORK/service-ca.crt"
# The broker: the service CA's server certificate, its CA, its CRL.
cp "$SCA/server.crt" "$W/broker.crt"
cp "$SCA/server.key" "$W/broker.key"
MQ_CAFILE="$HT_WORK/service-ca.crt" MQ_CRLFILE="$SCA/crl.pem" mq_broker_start ||
    { ht_fail "broker start"; ht_done; }

ht_provision dev1 || { ht_fail "provision dev1"; ht_done; }
ht_provision dev2 || { ht_fail "provision dev2"; ht_done; }
ht_own "$HT_WORK/dev1" "$HT_WORK/dev2"
S1=$(ht_label_field dev1 serial)
probe() { # probe CMD DEV [args]
    local cmd=$1 dev=$2; shift 2
    "$PROBE" "$cmd" --state "$HT_WORK/$dev" --service-ca "$HT_WORK/service-ca.crt" "$@" 2>"$HT_WORK/probe.err"
}
mqtt_ok() { probe mqtt "$1" --broker-ca "$HT_WORK/service-ca.crt" --port "$MQ_PORT" >"$HT_WORK/mqtt.out"; }

# ------------------------------------------------ enrol-server
start_enrol() { # start_enrol [NAME [options]]: outputs in $HT_WORK/NAME.{out,err}
    local name=${1:-enrol}
    shift || true
    "$FLEET" enrol-server --ca "$SCA" --manufacturer-ca "$HT_WORK/ca/ca.crt" --cert "$SCA/server.crt" \
        --key "$SCA/server.key" --listen 127.0.0.1:0 --lifetime 600 "$@" >"$HT_WORK/$name.out" 2>"$HT_WORK/$name.err" &
    ENROL_PID=$!
    HT_PIDS+=("$ENROL_PID")
    local line=""
    for _ in $(seq 1 100); do
        line=$(grep -m1 "enrol-server listening on " "$HT_WORK/$name.out" 2>/dev/null || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    URL=${line##* }
    [ -n "$line" ]
}
start_enrol || { ht_fail "enrol-server start: $(cat "$HT_WORK/enrol.err")"; ht_done; }
stop_enrol() { # SIGTERM; it must stop cleanly (exit 0: no sanitizer report either)
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    local rc=$?
    ht_check "  the enrol-server stopped cleanly on SIGTERM (exit $rc)" test "$rc" -eq 0
}

# ------------------------------------------------ enrol, connect
probe current dev1 >"$HT_WORK/cur.out"
ht_check "before enrolment the device has only its factory certificate" grep -q "^operational=0" "$HT_WORK/cur.out"
if mqtt_ok dev1; then ht_fail "the shipped broker accepted a factory certificate"
else ht_pass "the shipped broker refuses the factory certificate ($(tr '\n' ' ' <"$HT_WORK/mqtt.out"))"; fi
probe enrol dev1 --url "$URL" >"$HT_WORK/e1.out"
ht_check "device 1 enrols (outcome 0)" grep -q "^outcome=0 " "$HT_WORK/e1.out"
probe enrol dev2 --url "$URL" >"$HT_WORK/e2.out"
ht_check "device 2 enrols" grep -q "^outcome=0 " "$HT_WORK/e2.out"
OPC="$HT_WORK/dev1/operational.crt"
openssl x509 -in "$OPC" -noout -subject -issuer -ext extendedKeyUsage,basicConstraints -dates >"$HT_WORK/op.txt" 2>&1
ht_check "operational certificate: CN = serial, issued by the service CA, clientAuth only" \
    grep -qz "subject=CN = $S1.*issuer=CN = Hearth Service CA.*TLS Web Client Authentication" "$HT_WORK/op.txt"
nb=$(date -d "$(sed -n 's/notBefore=//p' "$HT_WORK/op.txt")" +%s)
na=$(date -d "$(sed -n 's/notAfter=//p' "$HT_WORK/op.txt")" +%s)
ht_check "lifetime as configured (600 s + 60 s back-dating): $((na - nb)) s" test $((na - nb)) -eq 660
[ "$(openssl x509 -in "$OPC" -noout -pubkey)" = "$(openssl x509 -in "$HT_WORK/dev1/device.crt" -noout -pubkey)" ] &&
    ht_pass "operational certificate certifies the factory key (no new key)" || ht_fail "operational key differs"
ht_check "issuance recorded in issued.log" grep -q " $S1 " "$SCA/issued.log"
probe current dev1 >"$HT_WORK/cur.out"
ht_check "the device now presents its operational certificate" grep -q "^operational=1" "$HT_WORK/cur.out"
ht_check "the broker accepts device 1's operational certificate" mqtt_ok dev1
ht_check "  (it was the operational certificate that was presented)" grep -q "presenting=operational" "$HT_WORK/mqtt.out"
ht_check "the broker accepts device 2's operational certificate" mqtt_ok dev2
# No private key was written by enrolment: the state holds the same files
# plus operational.crt, which holds no key.
! grep -q "PRIVATE KEY" "$OPC" && ht_pass "operational.crt holds no key" || ht_fail "a key in operational.crt"

# ------------------------------------------------ hostile enrolments
MFR="$HT_WORK/mfr-wrap"
mq_ca_wrap "$HT_WORK/ca/ca.crt" "$HT_WORK/ca/ca.key" "$MFR"
mq_issue "$MFR" "$W/t1" TESTDEV-1                 # a factory-style certificate, key on disk (test client)
mq_issue "$MFR" "$W/t1x" TESTDEV-9 --expired
mq_issue "$MFR" "$W/tfleet" hearth-fleet
mq_ca_init "$W/rogue" "Rogue CA"
mq_issue "$W/rogue" "$W/trogue" TESTDEV-1 --key "$W/t1.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/other.key" 2>/dev/null
csr() { openssl req -new -key "$1" -subj "/CN=$2" -out "$3" 2>/dev/null; }
csr "$W/t1.key" TESTDEV-1 "$W/good.csr"
csr "$W/t1.key" OTHER-2 "$W/othercn.csr"
csr "$W/other.key" TESTDEV-1 "$W/otherkey.csr"
csr "$W/tfleet.key" hearth-fleet "$W/fleet.csr"
csr "$W/t1x.key" TESTDEV-9 "$W/expired.csr"
head -c 3000 /dev/urandom | base64 -w0 >"$W/garbage.csr"
{ cat "$W/good.csr"; head -c 5000 /dev/zero | tr '\0' 'A'; } >"$W/big.csr"
post() { # post CERT_PREFIX BODY [curl args] -> HTTP status ("000": no TLS session)
    local cert=()
    [ -n "$1" ] && cert=(--cert "$1.crt" --key "$1.key")
    curl -sS --max-time 10 --cacert "$HT_WORK/service-ca.crt" "${cert[@]}" -o "$W/post.body" -D "$W/post.hdr" -w '%{http_code}' \
        -H 'Content-Type: application/pkcs10' --data-binary "@$2" "${@:3}" "${PURL:-$URL}" 2>/dev/null || true
}
expect() { # expect CODE DESCRIPTION ARGS-for-post
    local want=$1 d=$2; shift 2
    local got
    got=$(post "$@")
    [ "$got" = "$want" ] && ht_pass "$d (HTTP $got)" || ht_fail "$d: expected $want, got $got $(head -c 200 "$W/post.body")"
}
expect 200 "positive: the test client's CSR for its own CN and key" "$W/t1" "$W/good.csr"
ht_check "  and the answer is a certificate for CN TESTDEV-1" \
    grep -q "subject=CN = TESTDEV-1" <(openssl x509 -in "$W/post.body" -noout -subject)
expect 403 "CSR naming another CN refused" "$W/t1" "$W/othercn.csr"
expect 403 "CSR for another key refused" "$W/t1" "$W/otherkey.csr"
expect 403 "the fleet service's CN is never issued to a device" "$W/tfleet" "$W/fleet.csr"
expect 400 "garbage body refused" "$W/t1" "$W/garbage.csr"
expect 413 "oversized body refused" "$W/t1" "$W/big.csr"
expect 405 "GET refused" "$W/t1" "$W/good.csr" -X GET
got=$(PURL="${URL%/enrol}/other" post "$W/t1" "$W/good.csr")
[ "$got" = 404 ] && ht_pass "other paths: 404" || ht_fail "other path: $got"
expect 000 "a client certificate from another CA: no TLS session" "$W/trogue" "$W/good.csr"
expect 000 "an expired factory certificate: no TLS session" "$W/t1x" "$W/expired.csr"
expect 000 "no client certificate: no TLS session" "" "$W/good.csr"
ht_check "the enrol-server survived all of it" kill -0 "$ENROL_PID"

# ------------------------------------------------ renewal
ser1=$(openssl x509 -in "$OPC" -noout -serial)
probe current dev1 >"$HT_WORK/cur.out"
renew_at=$(sed -n 's/.*renew_at=\([0-9]*\).*/\1/p' "$HT_WORK/cur.out")
ht_check "renewal is due after 2/3 of the lifetime ($((renew_at - nb)) of $((na - nb)) s)" \
    test "$((renew_at - nb))" -eq $(((na - nb) / 3 * 2))
probe enrol dev1 --url "$URL" >"$HT_WORK/e3.out"
ser2=$(openssl x509 -in "$OPC" -noout -serial)
grep -q "^outcome=0 " "$HT_WORK/e3.out" && [ "$ser1" != "$ser2" ] &&
    ht_pass "renewal before expiry stores a new certificate ($ser2)" || ht_fail "renewal: $(cat "$HT_WORK/e3.out" "$HT_WORK/probe.err")"
ht_check "the renewed certificate is accepted by the broker" mqtt_ok dev1

# ------------------------------------------------ revocation
before=$(grep -c "Reloading config" "$MQ_LOG" || true)
"$FLEET" revoke "$S1" --ca "$SCA" --broker-pid "$MQ_PIDFILE" >"$HT_WORK/revoke.out" 2>&1
ht_check "hearth-fleet revoke: both of device 1's certificates are in the CRL" \
    grep -q "revoked $S1; the CRL lists 2 certificate" "$HT_WORK/revoke.out"
ht_check "the broker reloaded (SIGHUP from hearth-fleet revoke)" mq_broker_wait_reloaded mq "$before"
if mqtt_ok dev1; then ht_fail "revoked device 1 still accepted by the broker"
else ht_pass "the broker refuses revoked device 1's next connection"; fi
ht_check "positive: device 2 is still accepted" mqtt_ok dev2
probe enrol dev1 --url "$URL" >"$HT_WORK/e4.out"
ht_check "renewal refused for the revoked device (outcome 2: refused)" grep -q "^outcome=2 " "$HT_WORK/e4.out"
ht_check "  the service says why" grep -q "refused $S1: 403 device revoked" "$HT_WORK/enrol.err"
probe current dev1 >"$HT_WORK/cur.out"
ht_check "the device keeps its stored certificate (used until expiry, the broker refuses it)" \
    grep -q "^operational=1" "$HT_WORK/cur.out"
probe enrol dev2 --url "$URL" >"$HT_WORK/e5.out"
ht_check "positive: device 2 still renews" grep -q "^outcome=0 " "$HT_WORK/e5.out"
ht_check "a bad revoke argument is refused" bash -c "! '$FLEET' revoke '../x' --ca '$SCA' 2>/dev/null"
MAIN_URL=$URL

# ------------------------------------------------ rate limiting
issued() { grep -c " $1 " "$SCA/issued.log" || true; }
retry_after() { tr -d '\r' <"$W/post.hdr" | sed -n 's/^[Rr]etry-[Aa]fter: *//p'; }
for n in 2 3 4 5 6; do
    mq_issue "$MFR" "$W/t$n" "TESTDEV-$n"
    csr "$W/t$n.key" "TESTDEV-$n" "$W/good$n.csr"
done
# Per device: a burst of 3, one token back every 5 s; no address limit here.
start_enrol rl1 --device-burst 3 --device-refill 5 --address-burst 0 ||
    { ht_fail "rate-limited enrol-server start: $(cat "$HT_WORK/rl1.err")"; ht_done; }
RL1_PID=$ENROL_PID
n0=$(issued TESTDEV-2)
codes=""
for _ in 1 2 3 4 5; do codes="$codes $(post "$W/t2" "$W/good2.csr")"; done
ra=$(retry_after)
ht_check "a burst of 5 from one device with a burst of 3: 200 200 200 429 429 (got$codes)" \
    test "$codes" = " 200 200 200 429 429"
ht_check "  the 429 carries Retry-After in seconds, 1..5 ($ra)" test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 5
ht_check "  and says why" grep -q "too many enrolment requests from this device" "$W/post.body"
ht_check "  issued.log grew by the 3 admitted only ($((${n0:-0})) -> $(issued TESTDEV-2))" \
    test "$(issued TESTDEV-2)" -eq $((n0 + 3))
ht_check "  the service logs the refusals" \
    test "$(grep -c "refused TESTDEV-2: 429 rate limited (device)" "$HT_WORK/rl1.err")" -eq 2
expect 200 "another device is served while the first is limited (no cross-device starvation)" "$W/t3" "$W/good3.csr"
# The device's own client against the limit: its answer is classed busy
# (HEARTH_ENROL_BUSY, the backoff module's busy schedule).
rm -f "$HT_WORK/pe.out"
for _ in 1 2 3 4; do probe enrol dev2 --url "$URL" >>"$HT_WORK/pe.out"; done
ht_check "device 2's client: 3 enrolments, then outcome 3 (busy) on the 429 ($(cut -d' ' -f1 "$HT_WORK/pe.out" | tr '\n' ' '))" \
    test "$(cut -d' ' -f1 "$HT_WORK/pe.out" | tr '\n' ' ')" = "outcome=0 outcome=0 outcome=0 outcome=3 "
pe_ra=$(tail -1 "$HT_WORK/pe.out" | sed -n 's/.*retry_after=\([0-9]*\).*/\1/p')
ht_check "... and reads the service's Retry-After for its backoff (${pe_ra:-none} s, in 1..5; the successes carry none)" \
    bash -c "[ -n '$pe_ra' ] && [ '$pe_ra' -ge 1 ] && [ '$pe_ra' -le 5 ] && [ \$(grep -c 'retry_after=0\$' '$HT_WORK/pe.out') = 3 ]"
expect 429 "device TESTDEV-2 is still limited" "$W/t2" "$W/good2.csr"
ra=$(retry_after)
sleep "${ra:-5}"
expect 200 "after Retry-After ($ra s) the device is served again" "$W/t2" "$W/good2.csr"
expect 429 "  control: one token came back, not the whole burst" "$W/t2" "$W/good2.csr"
ht_check "  issued.log: 4 for TESTDEV-2 in all" test "$(issued TESTDEV-2)" -eq $((n0 + 4))
stop_enrol "$RL1_PID"
ht_check "  the server counted 5 rate-limited requests" grep -q "5 refused, 5 rate limited" "$HT_WORK/rl1.err"

# Per address: two requests per address, whatever the device; 127.0.0.2 is
# another address of the loopback interface.
start_enrol rl2 --address-burst 2 --address-refill 3600 ||
    { ht_fail "enrol-server (address limit) start: $(cat "$HT_WORK/rl2.err")"; ht_done; }
RL2_PID=$ENROL_PID
expect 200 "address limit 2: device 4 from 127.0.0.1" "$W/t4" "$W/good4.csr"
expect 200 "  device 5 from 127.0.0.1" "$W/t5" "$W/good5.csr"
n6=$(issued TESTDEV-6)
expect 429 "  device 6 from the same address is refused" "$W/t6" "$W/good6.csr"
ra=$(retry_after)
ht_check "  Retry-After: the address's next token, about an hour ($ra s)" test "${ra:-0}" -gt 3500 -a "${ra:-0}" -le 3600
expect 200 "  device 6 from another address is served" "$W/t6" "$W/good6.csr" --interface 127.0.0.2
ht_check "  issued.log: only the admitted one for device 6" test "$(issued TESTDEV-6)" -eq $((n6 + 1))
stop_enrol "$RL2_PID"

# A table of 2 entries: a third device takes the least recently used entry,
# and that device starts over (the documented cost of bounded memory).
start_enrol rl3 --device-burst 1 --device-refill 3600 --address-burst 0 --rate-slots 2 ||
    { ht_fail "enrol-server (2 slots) start: $(cat "$HT_WORK/rl3.err")"; ht_done; }
RL3_PID=$ENROL_PID
codes="$(post "$W/t4" "$W/good4.csr") $(post "$W/t4" "$W/good4.csr") $(post "$W/t5" "$W/good5.csr")"
codes="$codes $(post "$W/t6" "$W/good6.csr") $(post "$W/t4" "$W/good4.csr")"
ht_check "2-entry table, burst 1: dev4 200, dev4 429, dev5 200, dev6 200 (evicts dev4), dev4 200 (got $codes)" \
    test "$codes" = "200 429 200 200 200"
stop_enrol "$RL3_PID"
ht_check "  the server counted the evictions" grep -q "1 rate limited, 2 rate entries evicted" "$HT_WORK/rl3.err"
ht_check "bad rate options are refused" bash -c "! '$FLEET' enrol-server --ca '$SCA' --manufacturer-ca x --cert x --key x \
    --listen 127.0.0.1:0 --device-refill 0 2>/dev/null && ! '$FLEET' enrol-server --ca '$SCA' --manufacturer-ca x \
    --cert x --key x --listen 127.0.0.1:0 --rate-slots 1 2>/dev/null"

# ------------------------------------------------ issued.log: torn line, pruning
URL=$MAIN_URL
S2=$(ht_label_field dev2 serial)
printf '0123abcd %s' "$S2" >>"$SCA/issued.log" # a record torn by a crash
probe enrol dev2 --url "$URL" >"$HT_WORK/e6.out"
ht_check "an enrolment after a torn last line" grep -q "^outcome=0 " "$HT_WORK/e6.out"
ht_check "  its record is a line of its own" grep -qE "^[0-9a-f]+ $S2 [0-9]+\$" <(tail -n 1 "$SCA/issued.log")
ht_check "  the torn line stays as it was" grep -qx "0123abcd $S2" "$SCA/issued.log"
"$FLEET" revoke --refresh --ca "$SCA" >"$HT_WORK/refresh1.out" 2>&1
crl_serials() { openssl crl -in "$1" -noout -text | sed -n 's/.*Serial Number: *//p' | sort; }
crl_serials "$SCA/crl.pem" >"$W/crl.before"
now=$(date +%s)
hex() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
{
    echo "$(hex) OLD-1 $((now - 30 * 86400))"
    echo "$(hex) $S1 $((now - 20 * 86400))" # revoked device, long expired
    echo "$(hex) OLD-2 $((now - 86400))"    # expired a day ago: within 7 days
    echo "not a record"
} >>"$SCA/issued.log"
cp "$SCA/issued.log" "$W/issued.before"
"$FLEET" ca-prune --ca "$SCA" >"$HT_WORK/prune.out" 2>&1
ht_check "ca-prune: 2 pruned, 2 unreadable kept ($(cat "$HT_WORK/prune.out"))" \
    grep -q ", 2 pruned, 2 unreadable kept" "$HT_WORK/prune.out"
ht_check "  exactly the two long-expired lines are gone" \
    test "$(diff "$W/issued.before" "$SCA/issued.log" | grep -c '^<')" -eq 2 -a \
    "$(grep -c -e " OLD-1 " -e " $S1 $((now - 20 * 86400))\$" "$SCA/issued.log")" -eq 0
ht_check "  the one expired a day ago, the unreadable lines and every unexpired entry stay" \
    bash -c "grep -q ' OLD-2 ' '$SCA/issued.log' && grep -qx 'not a record' '$SCA/issued.log' && \
    test \$(grep -c ' $S1 ' '$SCA/issued.log') -eq \$((\$(grep -c ' $S1 ' '$W/issued.before') - 1))"
ht_check "  the log is 0600" test "$(stat -c %a "$SCA/issued.log")" = 600
"$FLEET" revoke --refresh --ca "$SCA" >"$HT_WORK/refresh2.out" 2>&1
crl_serials "$SCA/crl.pem" >"$W/crl.after"
ht_check "the CRL after pruning lists the same certificates ($(wc -l <"$W/crl.after"): the revoked device's unexpired ones)" \
    bash -c "test -s '$W/crl.after' && cmp -s '$W/crl.before' '$W/crl.after' && grep -q 'lists 2 certificate' '$HT_WORK/refresh2.out'"
# Control: the comparison sees a lost entry (the same log without device 1's lines).
mkdir -p "$W/ctl" && cp "$SCA/ca.key" "$SCA/ca.crt" "$SCA/revoked.txt" "$W/ctl/"
grep -v " $S1 " "$SCA/issued.log" >"$W/ctl/issued.log"
"$FLEET" revoke --refresh --ca "$W/ctl" --crl "$W/ctl/crl.pem" >/dev/null 2>&1
crl_serials "$W/ctl/crl.pem" >"$W/crl.ctl"
ht_check "  control: without device 1's entries the CRL differs (lists $(wc -l <"$W/crl.ctl"))" \
    bash -c "! cmp -s '$W/crl.before' '$W/crl.ctl'"
ino=$(stat -c %i "$SCA/issued.log")
"$FLEET" ca-prune --ca "$SCA" >"$HT_WORK/prune2.out" 2>&1
ht_check "a second ca-prune drops nothing and does not rewrite the log" \
    bash -c "grep -q ', 0 pruned' '$HT_WORK/prune2.out' && test $ino -eq \$(stat -c %i '$SCA/issued.log')"
cp "$SCA/issued.log" "$W/issued.keep"
ht_check "ca-prune --keep-expired-days 0 is refused" bash -c "! '$FLEET' ca-prune --ca '$SCA' --keep-expired-days 0 2>/dev/null"
ht_check "ca-prune --ca without a CA directory fails" bash -c "! '$FLEET' ca-prune --ca '$W/none/x' 2>/dev/null"
ht_check "  and the log is unchanged" cmp -s "$W/issued.keep" "$SCA/issued.log"
echo "$(hex) OLD-3 $((now - 40 * 86400))" >>"$SCA/issued.log"
start_enrol rl4 || { ht_fail "enrol-server start (prune): $(cat "$HT_WORK/rl4.err")"; ht_done; }
ht_check "enrol-server prunes at start (1 pruned)" grep -q "issued.log: .* kept, 1 pruned" "$HT_WORK/rl4.err"
ht_check "  OLD-3 is gone" bash -c "! grep -q ' OLD-3 ' '$SCA/issued.log'"
stop_enrol "$ENROL_PID"
URL=$MAIN_URL

# A zero-filled tail (what a power cut can leave after an append) hides
# no record written after it: a revocation appended behind NUL bytes is
# enforced by the enrolment endpoint and lands in the CRL.
head -c 32 /dev/zero >>"$SCA/revoked.txt"
"$FLEET" revoke TESTDEV-5 --ca "$SCA" >"$HT_WORK/revoke5.out" 2>&1
n5=$(grep -c " TESTDEV-5 " "$SCA/issued.log")
ht_check "revocation written after a zero-filled tail: the CRL lists device 1's 2 + TESTDEV-5's $n5" \
    grep -q "revoked TESTDEV-5; the CRL lists $((2 + n5)) certificate" "$HT_WORK/revoke5.out"
expect 403 "  and the enrolment endpoint refuses TESTDEV-5" "$W/t5" "$W/good5.csr"
ht_check "  as revoked" grep -q "device revoked" "$W/post.body"
expect 200 "  control: TESTDEV-4 is still served" "$W/t4" "$W/good4.csr"

# Killed at every fault point of a prune (temporary file, write, fsync,
# rename, directory fsync): the log is the old one or the new one, and the
# next prune finishes the job and leaves no temporary file.
PC="$W/pc"
mkdir -p "$PC"
cp "$W/issued.before" "$PC/issued.orig"
cp "$PC/issued.orig" "$PC/issued.log"
"$FLEET" ca-prune --ca "$PC" >/dev/null 2>&1 && mv "$PC/issued.log" "$PC/issued.new"
rm -f "$PC/lock" "$PC/trace"
cp "$PC/issued.orig" "$PC/issued.log"
HEARTH_FAULT_TRACE="$PC/trace" "$FLEET" ca-prune --ca "$PC" >/dev/null 2>&1
points=0
[ -f "$PC/trace" ] && points=$(wc -l <"$PC/trace")
if [ "$points" -eq 0 ]; then
    ht_untested "ca-prune killed at every step" "fault points are compiled in only with HEARTH_TEST_HOOKS=ON"
else
    old=0 new=0 bad=""
    for k in $(seq 1 "$points"); do
        cp "$PC/issued.orig" "$PC/issued.log"
        { HEARTH_FAULT_KILL_AT=$k "$FLEET" ca-prune --ca "$PC" >/dev/null 2>&1; rc=$?; } 2>/dev/null
        [ "$rc" -eq 137 ] || bad="$bad $k:rc=$rc"
        if cmp -s "$PC/issued.log" "$PC/issued.orig"; then old=$((old + 1))
        elif cmp -s "$PC/issued.log" "$PC/issued.new"; then new=$((new + 1))
        else bad="$bad $k:torn"; fi
        "$FLEET" ca-prune --ca "$PC" >/dev/null 2>&1 || bad="$bad $k:reprune"
        cmp -s "$PC/issued.log" "$PC/issued.new" || bad="$bad $k:notnew"
        ! compgen -G "$PC/issued.log.tmp.*" >/dev/null || bad="$bad $k:tmp"
    done
    ht_check "ca-prune killed at each of its $points fault points: old log $old times, new log $new times, never torn$bad" \
        test -z "$bad" -a "$old" -gt 0 -a "$new" -gt 0
fi
ht_done
