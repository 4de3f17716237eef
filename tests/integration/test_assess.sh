#!/usr/bin/env bash
# provisions: 5.12-3 5.5-1 5.6-1 5.6-2 5.1-5 5.3-9 5.3-10
# needs: HEARTH_WITH_UPLOAD
# timeout: 120
# `hearth assess` (docs/assessment.md) must find real faults and pass a good
# device:
#  - deliberately weakened targets started here on loopback, one fault each,
#    and the unit that must FAIL on it: a factory default password
#    (default-credentials), no login throttle (brute-force), a version in the
#    Server header plus a banner on an undeclared port (unauth-disclosure,
#    open-ports) and a UDP socket that answers (open-ports: UDP) beside a
#    silent one (reported open|filtered), TLS 1.0 with a CBC suite from
#    `openssl s_server -tls1` (tls-config), an update route that installs
#    any uploaded bundle (update-path);
#  - the real hearthd, set up with an admin and a trust anchor for updates:
#    PASS for tls-config, open-ports (no UDP port open), unauth-disclosure,
#    setup-state, brute-force, update-path (a tampered, a foreign-signed and
#    an older bundle uploaded with the trusted test key: each refused 422,
#    installed and pending unchanged, 5.3-9 / 5.3-10), and never FAIL for
#    default-credentials;
#  - the device's own GET /api/v1/setup-check (5.12-3) answers from the same
#    units: PASS when set up and only the API listens, FAIL for open-ports once
#    an undeclared listener appears.
# Runs in a network namespace of its own (unshare --net, as root), so no other
# program's listener on this machine is in the port scans.
set -u
if [ "$(id -u)" = 0 ] && [ -z "${HEARTH_ASSESS_NETNS:-}" ] && command -v unshare >/dev/null; then
    export HEARTH_ASSESS_NETNS=1
    exec unshare --net -- bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
# shellcheck source=update_lib.sh
source "$(dirname "$0")/update_lib.sh"
[ -n "${ASSESS_TRACE:-}" ] && set -x
ht_init
if [ -z "${HEARTH_ASSESS_NETNS:-}" ]; then
    ht_untested "assessment in a network namespace" "needs root and unshare: other listeners on this machine would be in the scans"
    ht_done
fi
WEAK="$HEARTH_SOURCE_DIR/tests/integration/assess_weak_target.py"
CREDS="$HEARTH_SOURCE_DIR/data/assess/default-credentials.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=weak \
    -keyout "$HT_WORK/weak.key" -out "$HT_WORK/weak.crt" 2>/dev/null || { ht_fail "weak cert"; ht_done; }

# start_weak NAME ARGS...: a weakened target; sets WPORT and WPID.
start_weak() {
    local name=$1; shift
    python3 "$WEAK" --cert "$HT_WORK/weak.crt" --key "$HT_WORK/weak.key" "$@" >"$HT_WORK/$name.out" 2>&1 &
    WPID=$!
    HT_PIDS+=("$WPID")
    WPORT=""
    for _ in $(seq 1 100); do
        WPORT=$(sed -n 's/^ready //p' "$HT_WORK/$name.out")
        [ -n "$WPORT" ] && return 0
        sleep 0.05
    done
    echo "weak target $name did not start: $(cat "$HT_WORK/$name.out")" >&2
    return 1
}

# assess NAME ARGS...: run hearth assess into $HT_WORK/NAME/; sets ARC and
# writes $HT_WORK/NAME.units: "id<TAB>verdict<TAB>evidence" per unit (one
# python run per report: python starts slowly on a loaded machine).
assess() {
    local name=$1; shift
    local t0=$SECONDS
    "$HEARTH_CLI" assess --out "$HT_WORK/$name" --credentials "$CREDS" --timeout-ms 800 "$@" \
        >"$HT_WORK/$name.stdout" 2>"$HT_WORK/$name.stderr"
    ARC=$?
    echo "# assess $name: exit $ARC in $((SECONDS - t0)) s"
    sed 's/^/#   /' "$HT_WORK/$name.stdout"
    python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
assert r["schema"]=="hearth-assessment/1"
assert r["bounds"]["requests"] <= r["bounds"]["max_requests"]
for u in r["units"]:
    assert u["provisions"] and u["title"] and u["evidence"], u
    print("%s\t%s\t%s" % (u["id"], u["verdict"], u["evidence"]))' \
        "$HT_WORK/$name/assessment.json" >"$HT_WORK/$name.units" 2>"$HT_WORK/$name.pyerr" ||
        ht_fail "$name: the JSON report is valid ($(cat "$HT_WORK/$name.pyerr"))"
}

verdict() { awk -F'\t' -v u="$2" '$1==u {print $2}' "$HT_WORK/$1.units"; }
evidence() { awk -F'\t' -v u="$2" '$1==u {print $3}' "$HT_WORK/$1.units"; }
expect() { # NAME UNIT VERDICT [EVIDENCE-SUBSTRING]
    local v
    v=$(verdict "$1" "$2")
    if [ "$v" = "$3" ] && { [ -z "${4:-}" ] || evidence "$1" "$2" | grep -qF -- "$4"; }; then
        ht_pass "$1: $2 $3${4:+ ($4)}"
    else
        ht_fail "$1: $2 expected $3${4:+ with '$4'}, got $v: $(evidence "$1" "$2")"
    fi
}

# --- weakened target 1: a factory default password
start_weak defpw --default-cred admin:admin || ht_fail "start defpw"
assess defpw --target "127.0.0.1:$WPORT" --ports "$WPORT" --max-seconds 10
ht_check "defpw: exit 3 (a unit failed)" test "$ARC" = 3
expect defpw default-credentials FAIL "ACCEPTED: admin:admin"
kill "$WPID"

# --- weakened target 2: no login throttle
start_weak nothrottle --no-throttle || ht_fail "start nothrottle"
assess nothrottle --target "127.0.0.1:$WPORT" --ports "$WPORT" --max-seconds 15
expect nothrottle brute-force FAIL "NO THROTTLING"
expect nothrottle default-credentials PASS
kill "$WPID"

# --- weakened target 3: a version in the Server header, a banner on an undeclared port
start_weak leak --server-header "WeakCam/2.4.1 Python/3.11" || ht_fail "start leak"
python3 -c 'import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 2323)); s.listen(8); print("ready", flush=True)
while True:
    c,_=s.accept(); c.sendall(b"BusyBox v1.19.4 login: "); c.close()' >"$HT_WORK/banner.out" 2>&1 &
banner=$!
HT_PIDS+=("$banner")
# A UDP service that answers any datagram (5683: CoAP's port) and one that
# listens without answering (5684).
python3 -c 'import socket,threading
a=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 5683))
b=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 5684))
print("ready", flush=True)
threading.Thread(target=lambda: [b.recvfrom(64) for _ in iter(int, 1)], daemon=True).start()
while True:
    d, peer = a.recvfrom(64); a.sendto(b"WeakCam CoAP 2.4.1", peer)' >"$HT_WORK/udp.out" 2>&1 &
udp=$!
HT_PIDS+=("$udp")
for _ in $(seq 1 100); do grep -q ready "$HT_WORK/banner.out" && grep -q ready "$HT_WORK/udp.out" && break; sleep 0.05; done
assess leak --target "127.0.0.1:$WPORT" --ports "$WPORT,2323,5683,5684" --max-seconds 10
expect leak unauth-disclosure FAIL "WeakCam/2.4.1"
expect leak open-ports FAIL "NOT DECLARED: 2323"
expect leak open-ports FAIL "UDP NOT DECLARED: 5683"
expect leak open-ports FAIL "no ICMP port unreachable): 5684"
ht_check "leak: the banner is evidence" grep -q "BusyBox v1.19.4" "$HT_WORK/leak/assessment.md"
expect leak tls-config PASS
kill "$WPID" "$banner" "$udp"

# --- weakened target 4: TLS 1.0 (openssl s_server, security level 0)
openssl s_server -accept 127.0.0.1:4433 -cert "$HT_WORK/weak.crt" -key "$HT_WORK/weak.key" \
    -tls1 -cipher 'ALL:@SECLEVEL=0' -www -quiet >"$HT_WORK/tls1.out" 2>&1 </dev/null &
tls1=$!
HT_PIDS+=("$tls1")
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/4433) 2>/dev/null && break
    sleep 0.05
done
assess tls1 --target 127.0.0.1:4433 --ports 4433 --max-seconds 10
expect tls1 tls-config FAIL "TLS 1.0 ACCEPTED"
kill "$tls1"
wait "$tls1" "$banner" 2>/dev/null

# --- weakened target 5: an update route that installs whatever is uploaded
printf '%s\n' "weak-admin-pw-$RANDOM$RANDOM" >"$HT_WORK/weak-admin.pw"
start_weak acceptall --admin "admin:$(cat "$HT_WORK/weak-admin.pw")" --accept-uploads ||
    ht_fail "start acceptall"
# The device's test signing key (update_lib.sh's fixture: a manufacturer CA,
# a device with a trust anchor, a key set naming this signer, 1.0.0 at
# security version 1 installed), made before the weak target is assessed.
U=$HT_WORK/upd
upd_fixture "$U" 4096 4096 || { ht_fail "update fixture"; ht_done; }
printf '%s\n' "${HEARTH_TEST_KEY_PASS:-test-passphrase-not-secret}" >"$HT_WORK/key.pass"
chmod 600 "$HT_WORK/key.pass"
KEYARGS=(--bundle-key "$U/keys/signer.key" --bundle-key-pass "$HT_WORK/key.pass")
assess acceptall --target "127.0.0.1:$WPORT" --ports "$WPORT" --admin "admin:$HT_WORK/weak-admin.pw" \
    "${KEYARGS[@]}" --max-seconds 10
expect acceptall update-path FAIL "tampered bundle: ACCEPTED (200), UPDATE STATE CHANGED"
kill "$WPID"

# --- the real hearthd, set up, with a trust anchor for updates (uploads on)
cp "$U/label.json" "$HT_WORK/upd/state.label.json"
HT_CA=$U/ca/ca.crt
ht_daemon_start upd/state --update-trust "$UPD_TRUST" || { ht_fail "hearthd start"; ht_done; }
ht_setup_admin upd/state || { ht_fail "setup"; ht_done; }
printf '%s\n' "$HT_ADMIN_PW" >"$HT_WORK/admin.pw"
chmod 600 "$HT_WORK/admin.pw"
ht_req GET /.well-known/security.txt
sectxt_status=$HT_STATUS
ht_req GET /api/v1/updates "" "$HT_ADMIN_TOKEN"
updates_before=$(printf '%s' "$HT_BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["installed"], d["pending"], d["restart_required"])')
t0=$SECONDS
assess dev --target "127.0.0.1:$HT_PORT" --admin "$HT_ADMIN_USER:$HT_WORK/admin.pw" \
    --cacert "$HT_CA" "${KEYARGS[@]}" --max-seconds 10
sed 's/^/#   /' "$HT_WORK/dev.units"
ht_check "hearthd: assessed within its bound ($((SECONDS - t0)) s <= 16)" test $((SECONDS - t0)) -le 16
expect dev tls-config PASS "verified against the given CA"
expect dev open-ports PASS "open UDP (answered): none"
ht_check "hearthd: every probed UDP port closed (ICMP port unreachable), none open|filtered" \
    bash -c '! grep -q "open|filtered" <<<"$1" && grep -qE "UDP datagram to ([0-9]+) of \1 ports in [0-9]+ ms: \1 closed" <<<"$1"' \
    _ "$(evidence dev open-ports)"
expect dev unauth-disclosure PASS
expect dev setup-state PASS "setup-state=PASS"
expect dev update-path PASS "tampered bundle: refused 422 update_rejected, update state unchanged; foreign-key bundle: refused 422 update_rejected, update state unchanged; older bundle: refused 422 update_rejected, update state unchanged"
ht_req GET /api/v1/updates "" "$HT_ADMIN_TOKEN"
updates_after=$(printf '%s' "$HT_BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["installed"], d["pending"], d["restart_required"])')
ht_check "hearthd: installed and pending unchanged after the probes ($updates_after)" \
    test "$updates_after" = "$updates_before"
ht_check "hearthd: three update_rejected events in the security log" \
    test "$(grep -c '"event":"update_rejected"' "$U/state/events.log")" -ge 3
expect dev brute-force PASS "throttled from guess"
v=$(verdict dev default-credentials)
ht_check "hearthd: default-credentials not FAIL ($v: $(evidence dev default-credentials))" \
    test "$v" = PASS -o "$v" = INCONCLUSIVE
if [ "$sectxt_status" = 200 ]; then
    expect dev security-txt PASS
else
    expect dev security-txt FAIL "answered $sectxt_status"
fi
ht_check "hearthd: no FAIL but security-txt" \
    test -z "$(awk -F'\t' '$2=="FAIL" && $1!="security-txt"' "$HT_WORK/dev.units")"
ht_check "hearthd: Markdown and HTML reports" \
    grep -q '<td class="PASS">PASS</td>' "$HT_WORK/dev/assessment.html"
ht_check "hearthd: the admin password is in no report" \
    bash -c '! grep -rqF -- "$1" "$2"' _ "$HT_ADMIN_PW" "$HT_WORK/dev"

# --- the device's own check (GET /api/v1/setup-check)
ht_req GET /api/v1/setup-check
ht_expect_status 401 "setup-check needs a session"
ht_req GET /api/v1/setup-check "" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "setup-check as admin"
inside() { # UNIT: its verdict in the last setup-check answer (flat JSON, one object per unit)
    printf '%s' "$HT_BODY" | grep -o "\"id\":\"$1\"[^}]*" | grep -o '"verdict":"[^"]*"' | cut -d'"' -f4
}
ht_check "setup-check: setup-state PASS" test "$(inside setup-state)" = PASS
ht_check "setup-check: open-ports PASS (only the API listens)" test "$(inside open-ports)" = PASS
python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1", 2424)); s.listen(1); print("ready", flush=True); time.sleep(60)' \
    >"$HT_WORK/extra.out" 2>&1 &
extra=$!
HT_PIDS+=("$extra")
for _ in $(seq 1 100); do grep -q ready "$HT_WORK/extra.out" && break; sleep 0.05; done
ht_req GET /api/v1/setup-check "" "$HT_ADMIN_TOKEN"
ht_check "setup-check: open-ports FAIL with an undeclared listener ($(printf '%s' "$HT_BODY" | grep -o 'NOT DECLARED: [0-9]*'))" \
    test "$(inside open-ports)" = FAIL
kill "$extra" 2>/dev/null

# --- a device still in its factory default state
ht_provision fresh
ht_daemon_start fresh
assess fresh --target "127.0.0.1:$HT_PORT" --ports "$HT_PORT" --max-seconds 8
expect fresh setup-state FAIL "factory default"
ht_done
