#!/usr/bin/env bash
# provisions: 5.5-8 5.5-1
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
#    connection, while another device is still accepted.
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
start_enrol() {
    "$FLEET" enrol-server --ca "$SCA" --manufacturer-ca "$HT_WORK/ca/ca.crt" --cert "$SCA/server.crt" \
        --key "$SCA/server.key" --listen 127.0.0.1:0 --lifetime 600 >"$HT_WORK/enrol.out" 2>"$HT_WORK/enrol.err" &
    ENROL_PID=$!
    HT_PIDS+=("$ENROL_PID")
    local line=""
    for _ in $(seq 1 100); do
        line=$(grep -m1 "enrol-server listening on " "$HT_WORK/enrol.out" 2>/dev/null || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    URL=${line##* }
    [ -n "$line" ]
}
start_enrol || { ht_fail "enrol-server start: $(cat "$HT_WORK/enrol.err")"; ht_done; }

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
    curl -sS --max-time 10 --cacert "$HT_WORK/service-ca.crt" "${cert[@]}" -o "$W/post.body" -w '%{http_code}' \
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
ht_done
