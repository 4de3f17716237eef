#!/usr/bin/env bash
# provisions: 5.5-1 5.5-6 5.5-7 5.6-1 5.6-2 5.6-5
# hearthd's transport, probed with real clients (curl, openssl s_client):
#  - TLS 1.3 works; TLS 1.2 works with ECDHE-ECDSA AEAD suites;
#  - TLS 1.1 / 1.0 refused by the server (protocol_version alert);
#  - weak TLS 1.2 suites (CBC, static RSA key exchange, NULL, RC4, 3DES)
#    refused by the server; no compression; no renegotiation;
#  - plain HTTP on the port gets no HTTP answer;
#  - the server certificate chains to the manufacturer CA and matches the
#    label's fingerprint;
#  - no Server header and no software version in unauthenticated answers,
#    including the ones libevent generates itself;
#  - the daemon listens on exactly one TCP port and no UDP port.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev
ht_daemon_start dev
ht_setup_admin dev || ht_fail "setup"
version=$(ht_version)
hostport="127.0.0.1:$HT_PORT"

sclient() { # extra s_client args; stdout+stderr
    timeout 10 openssl s_client -connect "$hostport" -servername localhost -CAfile "$HT_CA" "$@" </dev/null 2>&1
}

# --- good protocol versions
out=$(sclient -tls1_3)
echo "$out" | grep -qE 'New, TLSv1.3|Protocol *: TLSv1.3' && echo "$out" | grep -q 'Verify return code: 0 (ok)' &&
    ht_pass "TLS 1.3 handshake, certificate verified against the manufacturer CA" ||
    ht_fail "TLS 1.3: $(echo "$out" | tail -5)"
echo "$out" | grep -q 'Compression: NONE' && ht_pass "no TLS compression" || ht_fail "compression not NONE"
code=$(ht_curl --tlsv1.3 -o /dev/null -w '%{http_code}' "$HT_URL/api/v1/thermostat" -H "Authorization: Bearer $HT_ADMIN_TOKEN")
[ "$code" = 200 ] && ht_pass "curl over TLS 1.3: authenticated GET works" || ht_fail "curl TLS 1.3: $code"

for suite in ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305; do
    code=$(ht_curl --tls-max 1.2 --tlsv1.2 --ciphers "$suite" -o /dev/null -w '%{http_code}' \
        "$HT_URL/api/v1/thermostat" -H "Authorization: Bearer $HT_ADMIN_TOKEN")
    [ "$code" = 200 ] && ht_pass "TLS 1.2 with $suite works" || ht_fail "TLS 1.2 $suite: $code"
done

fp=$(openssl x509 -in <(sclient -tls1_3 -showcerts | sed -n '/BEGIN CERT/,/END CERT/p' | sed '/END CERT/q') \
    -noout -fingerprint -sha256 | cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f')
[ "sha256:$fp" = "$(ht_label_field dev fingerprint)" ] && ht_pass "served certificate matches the label fingerprint" ||
    ht_fail "certificate fingerprint sha256:$fp != label"

# --- old protocol versions: the client is made willing (SECLEVEL=0), so a
# failure must come from the server's protocol_version alert.
for v in tls1_1 tls1; do
    out=$(sclient -"$v" -cipher 'DEFAULT:@SECLEVEL=0')
    if echo "$out" | grep -qi 'alert protocol version'; then
        ht_pass "$v refused by the server (protocol_version alert)"
    elif echo "$out" | grep -qi 'no protocols available'; then
        echo "# skip: this openssl client cannot offer $v at all (not counted)"
    else
        ht_fail "$v not refused: $(echo "$out" | grep -E 'Protocol|Cipher|alert' | head -3)"
    fi
done
code=$(ht_curl --tlsv1.0 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' -o /dev/null -w '%{http_code}' "$HT_URL/" 2>/dev/null)
[ "$code" = 000 ] && ht_pass "curl --tls-max 1.1 gets no answer" || ht_fail "curl --tls-max 1.1 got HTTP $code"

# --- weak TLS 1.2 suites
for suite in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384 ECDHE-ECDSA-AES128-SHA256 \
             AES128-GCM-SHA256 AES256-SHA AES128-SHA256 ECDHE-ECDSA-NULL-SHA NULL-SHA256 \
             ECDHE-ECDSA-RC4-SHA RC4-SHA ECDHE-ECDSA-DES-CBC3-SHA DES-CBC3-SHA \
             DHE-RSA-AES128-GCM-SHA256 ECDHE-ECDSA-CAMELLIA128-SHA256 ECDHE-ECDSA-ARIA128-GCM-SHA256; do
    out=$(sclient -tls1_2 -cipher "$suite:@SECLEVEL=0")
    if echo "$out" | grep -qiE 'no cipher match|no ciphers available'; then
        echo "# skip: this openssl client cannot offer $suite (not counted)"
    elif echo "$out" | grep -qiE 'alert handshake failure|no shared cipher|alert insufficient security'; then
        ht_pass "weak suite $suite refused by the server"
    else
        ht_fail "weak suite $suite: $(echo "$out" | grep -E 'Cipher is|alert|error' | head -2)"
    fi
done

# --- renegotiation refused (TLS 1.2 client asks with "R")
out=$( (sleep 1; echo R; sleep 1) | timeout 10 openssl s_client -connect "$hostport" -CAfile "$HT_CA" -tls1_2 2>&1)
if echo "$out" | grep -qiE 'alert no renegotiation|:no renegotiation:'; then
    ht_pass "client-initiated renegotiation refused (no_renegotiation alert)"
else
    ht_fail "renegotiation not refused: $(echo "$out" | grep -iE 'reneg|alert' | head -3)"
fi

# --- plain HTTP on the TLS port
# A real TCP client (python3 socket): it must connect, send a plaintext
# request and get no HTTP answer back (the server only speaks TLS).
raw=$(python3 - "$HT_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /api/v1/device HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
try:
    while len(data) < 200:
        chunk = s.recv(200)
        if not chunk:
            break
        data += chunk
except (socket.timeout, ConnectionResetError):
    pass
print("CONNECTED " + data[:200].decode("latin-1").replace("\n", " "))
PY
)
case "$raw" in
    "CONNECTED HTTP/"*) ht_fail "plain HTTP got an HTTP answer: $raw" ;;
    CONNECTED*) ht_pass "plain HTTP gets no HTTP answer" ;;
    *) ht_fail "could not connect to the TLS port with a plain TCP client" ;;
esac
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HT_PORT/api/v1/device" 2>/dev/null)
[ "$code" = 000 ] && ht_pass "curl http:// fails" || ht_fail "curl http:// got $code"

# --- no Server header / version in unauthenticated answers, including
# libevent's own error pages (oversized headers, malformed request line).
check_leak() { # DESCRIPTION FILE
    if ! grep -q '^HTTP/1.1 [0-9]' "$2"; then ht_fail "$1: no HTTP answer to inspect"
    elif grep -qi '^Server:' "$2"; then ht_fail "$1: Server header present"
    elif [ -n "$version" ] && grep -qF "$version" "$2"; then ht_fail "$1: software version disclosed"
    elif grep -qiE 'libevent|openssl|hearthd|HT-100' "$2"; then ht_fail "$1: implementation or model disclosed: $(head -c 300 "$2")"
    else ht_pass "$1: no Server header, version or implementation name"; fi
}
for p in /api/v1/device /api/v1/thermostat /api/v1/nothing /; do
    ht_curl -i -o "$HT_WORK/r.txt" "$HT_URL$p" || true
    check_leak "GET $p unauthenticated" "$HT_WORK/r.txt"
done
ht_curl -i -o "$HT_WORK/r.txt" -X POST -H 'Content-Type: application/json' --data-binary '{"username":"a","password":"b"}' "$HT_URL/api/v1/login" || true
check_leak "failed login" "$HT_WORK/r.txt"
ht_curl -i -o "$HT_WORK/r.txt" -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$HT_URL/api/v1/device" || true
check_leak "oversized headers" "$HT_WORK/r.txt"
printf 'BREW /api/v1/device HTCPCP/1.0\r\n\r\n' | timeout 5 openssl s_client -quiet -connect "$hostport" -CAfile "$HT_CA" >"$HT_WORK/r.txt" 2>/dev/null || true
check_leak "malformed request line" "$HT_WORK/r.txt"
head -c 20000 /dev/zero | tr '\0' ' ' >"$HT_WORK/big.json"
ht_curl -i -o "$HT_WORK/r.txt" -X POST -H 'Content-Type: application/json' --data-binary "@$HT_WORK/big.json" "$HT_URL/api/v1/login" || true
check_leak "oversized body" "$HT_WORK/r.txt"

# --- exactly one listening socket, on the configured address
listen=$(ss -Hltnp 2>/dev/null | grep "pid=$HT_PID," | awk '{print $4}')
n=$(echo "$listen" | grep -c . || true)
[ "$n" = 1 ] && [ "$listen" = "127.0.0.1:$HT_PORT" ] && ht_pass "only one TCP listener: $listen" ||
    ht_fail "TCP listeners of hearthd: $(echo "$listen" | tr '\n' ' ')"
u=$(ss -Hlunp 2>/dev/null | grep -c "pid=$HT_PID," || true)
[ "$u" = 0 ] && ht_pass "no UDP sockets" || ht_fail "$u UDP sockets"
kill -0 "$HT_PID" && ht_pass "daemon alive after the probes" || ht_fail "daemon died"
ht_done
