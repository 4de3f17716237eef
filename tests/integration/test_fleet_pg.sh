#!/usr/bin/env bash
# provisions: 5.13-1 5.10-1 6-3 5.11-2 5.11-4 5.9-3
# needs: HEARTH_FLEET
# hearth-fleet on PostgreSQL, two instances splitting the stream
# (docs/fleet.md, "Several instances"): a real PostgreSQL started by the test
# (initdb, pg_ctl, as the unprivileged postgres user, unix socket only), a
# real mosquitto with mutual TLS and the shipped ACL, two `hearth-fleet run
# --shared fleet` instances on the same database, devices simulated with
# mosquitto_pub (their own certificates) and fleet_telemetry_pub:
#  - a device's status, state, telemetry, event and command reply become its
#    per-device state, as on SQLite; hostile payloads are rejected, counted
#    and change nothing (5.13-1); personal fields in an event are not stored;
#  - a message sent twice (same device, same seq), the two copies going to
#    the two instances, is stored once;
#  - a device's messages are ordered by its reset epoch and seq (docs/mqtt.md):
#    telemetry and events at ep 0 and, after a factory reset, at ep 1 with
#    the same seqs, split between the instances, are all stored and each
#    redelivery once; the login-failure rule's deltas (the shared counters)
#    stay within an epoch: +5 before the reset, +8 after it, nothing from the
#    lower post-reset counters or a late pre-reset report; a late state of
#    the old epoch does not replace the new one;
#  - the login_failures rule (3 devices) fires exactly once for three
#    devices whose two reports each were split between the instances
#    (telemetry examined for anomalies across the fleet, 5.10-1);
#  - `report --json` and `run --report-listen` (JSON and HTML) from the
#    PostgreSQL tables say what the test stored (counts, dev1's row, the
#    anomaly and its evidence, the rejections);
#  - the privacy topic on PostgreSQL (6-3, 5.11-2, 5.11-4): history refused
#    without consent, stored with it, deleted by the withdrawal; an erase
#    request delivered to both instances erases once and both copies are
#    answered with the same receipt, whose signature verifies (a changed
#    receipt does not); hostile erase requests are refused and change nothing;
#  - a device's factory reset on PostgreSQL (5.11-2, 6-3): the old owner's
#    consent withdrawn and history deleted, the change of hands recorded and
#    reported; the same reset again or an older one changes nothing;
#  - `announce` from PostgreSQL (5.9-3): every device in batches of 3 with a
#    7 s spread, the offsets recorded per device and received by three;
#  - a stream of 4000 reports: both instances store part of it, one is
#    stopped (SIGTERM) while the stream is being published and restarted,
#    and every report is stored exactly once.
set -u
SECONDS=0
source "$(dirname "$0")/lib.sh"
ht_init
source "$(dirname "$0")/fleet_lib.sh"
PUB=$(ht_bin fleet_telemetry_pub) || exit 1
STREAM=4000

fl_pg_initdb & initdb=$!
fl_ca || exit 1
for d in dev1 dev2 la1 la2 la3 pv1 pv2 rs1 rx1; do fl_device_cert "$d" || exit 1; done
fl_sign benchpub benchpub || exit 1
FL_ACL_EXTRA='user benchpub\ntopic write hearth/#\n\n'   # the stream's stand-in for many devices
wait "$initdb" || exit 1
fl_pg_start || exit 1
fl_broker_start || exit 1
FL_DB=$FL_PG_URL
rport=$(fl_free_port)
# The devices' certificates come from the service CA here: it is also the
# CA whose device certificates sign erase requests.
start_a() { FL_FLEET_ERR=$HT_WORK/fleet-a.err fl_fleet_start --shared fleet --client-id fleet-a --batch 50 \
    --rule login_failures=3/60 --report-listen "127.0.0.1:$rport" --device-ca "$FL_SVC/ca.crt" && PID_A=$FL_FLEET_PID; }
start_b() { FL_FLEET_ERR=$HT_WORK/fleet-b$1.err fl_fleet_start --shared fleet --client-id fleet-b --batch 50 \
    --rule login_failures=3/60 --device-ca "$FL_SVC/ca.crt" && PID_B=$FL_FLEET_PID; }
start_a || exit 1
start_b 1 || exit 1
ht_check "both instances subscribed with the shared subscription" \
    grep -q "subscribed to (shared)" "$HT_WORK/fleet-a.err" "$HT_WORK/fleet-b1.err"
ht_check "the privacy topic is no longer refused with PostgreSQL: no instance logs a failed subscription" \
    bash -c "! grep -q 'subscribe to .* failed' '$HT_WORK/fleet-a.err' '$HT_WORK/fleet-b1.err'"

# pub_lines DEVICE KIND: publish each line of standard input as DEVICE, one connection.
pub_lines() {
    # shellcheck disable=SC2046
    mosquitto_pub $(fl_tls_args "$1") -i "$1-pub-$RANDOM" -q 1 -t "hearth/$1/$2" -l
}

# pg_wait SQL EXPECTED [SECONDS]: until the query prints EXPECTED.
pg_wait() {
    local i
    local end=$((SECONDS + ${3:-10}))
    while [ "$SECONDS" -le "$end" ]; do
        [ "$(fl_pg_q "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# ------------------------------------------------------------ one device
now=$(date +%s)
fl_pub dev1 status '{"v":1,"online":true}'
fl_pub dev1 state "{\"v\":1,\"seq\":1,\"ts\":$now,\"sw\":\"1.2.3\",\"apps\":{\"thermostat\":{\"target_c\":21.5}}}"
fl_pub dev1 telemetry "$(fl_telemetry 443,8443)"
fl_pub dev1 events "{\"v\":1,\"seq\":3,\"ts\":$now,\"sev\":\"warning\",\"event\":\"config_changed\",\"user\":\"alice\",\"source\":\"192.0.2.7\"}"
fl_pub dev1 cmd/res '{"v":1,"id":"req-1","status":200,"body":{"target_c":22},"duplicate":false}'
if pg_wait "SELECT telemetry_count, events_count, online, sw, model FROM devices WHERE id='dev1'" "1|1|1|1.2.3|thermostat" &&
    pg_wait "SELECT status FROM cmd_results WHERE device='dev1' AND reqid='req-1'" 200; then
    ht_pass "dev1's status, state, telemetry, event and command reply are its per-device state in PostgreSQL"
else
    ht_fail "dev1: $(fl_pg_q "SELECT * FROM devices WHERE id='dev1'")"
fi
ht_check "dev1's listening ports are recorded" \
    test "$(fl_pg_q "SELECT string_agg(port::text, ',' ORDER BY port) FROM device_ports WHERE device='dev1'")" = "443,8443"
detail=$(fl_pg_q "SELECT detail FROM events WHERE device='dev1'")
if [[ "$detail" == *config_changed* && "$detail" != *alice* && "$detail" != *192.0.2.7* ]]; then
    ht_pass "the event is stored without its personal fields: $detail"
else
    ht_fail "event detail: $detail"
fi

before=$(fl_pg_q "SELECT telemetry_count, events_count, state, telemetry FROM devices WHERE id='dev1'")
n=6
pub_lines dev1 telemetry <<'EOF2'
{"v":1,"hed":{"rid":1}} trailing
{"v":1,"hed":{"rid":"1"}}
{"v":1,"hed":{"rid":1,"rid":2}}
{"v":1,"hed":{"rid":1},"cmet":{"lf":-1}}
EOF2
fl_pub dev1 state "{\"v\":1,\"seq\":5,\"ts\":$now,\"sw\":\"1.2.3'); DROP TABLE devices; --\"}"
fl_pub dev1 events "{\"v\":1,\"seq\":6,\"ts\":$now,\"sev\":\"warning\",\"event\":\"x'; DELETE FROM events; --\"}"
if pg_wait "SELECT sum(count) FROM rejections" "$n"; then
    ht_pass "all $n hostile payloads (SQL in string fields among them) rejected and counted: $(fl_pg_q "SELECT string_agg(reason || '=' || count, ' ' ORDER BY reason) FROM rejections")"
else
    ht_fail "rejections: $(fl_pg_q "SELECT * FROM rejections")"
fi
ht_check "the hostile payloads changed nothing about dev1" \
    test "$before" = "$(fl_pg_q "SELECT telemetry_count, events_count, state, telemetry FROM devices WHERE id='dev1'")"

# ------------------------------------------------------------ redelivery
# The same report and the same event published twice in a row, three times:
# the broker hands consecutive messages of the shared subscription to the
# two instances in turn, so each copy of a pair goes to a different one.
t1=$(fl_telemetry 443); t2=$(fl_telemetry 443); t3=$(fl_telemetry 443)
printf '%s\n' "$t1" "$t1" "$t2" "$t2" "$t3" "$t3" | pub_lines dev2 telemetry
for i in 1 2 3; do
    e="{\"v\":1,\"seq\":$((100 + i)),\"ts\":$now,\"sev\":\"info\",\"event\":\"boot\"}"
    printf '%s\n' "$e" "$e"
done | pub_lines dev2 events
fl_pub dev2 status '{"v":1,"online":true}'   # the marker: after the pairs
if pg_wait "SELECT online FROM devices WHERE id='dev2'" 1; then
    sleep 0.5
    ht_check "3 reports and 3 events each received twice are stored once (reports unique per device and seq, events per device, seq and ts)" \
        test "$(fl_pg_q "SELECT (SELECT count(*) FROM telemetry WHERE device='dev2') || ' ' || (SELECT count(*) FROM events WHERE device='dev2') || ' ' || telemetry_count || ' ' || events_count FROM devices WHERE id='dev2'")" = "3 3 3 3"
else
    ht_fail "dev2's messages never arrived"
fi
ht_check "3 reports and 3 events each received twice are stored once: the same seq with the same ts at the same epoch is one message" \
    test "$(fl_pg_q "SELECT count(DISTINCT ep) || ' ' || count(*) FROM events WHERE device='dev2'")" = "1 3"

echo "# $SECONDS s"
# ------------------------------------------------------------ the rule across instances
# la1..la3 each send a report with 0 failed logins, then one with 4: the
# rise is seen only by comparing a device's two reports, which the two
# instances received one each.
for d in la1 la2 la3; do
    r0=$(fl_telemetry 443 0); r4=$(fl_telemetry 443 4)
    printf '%s\n' "$r0" "$r4" | pub_lines "$d" telemetry
done
if pg_wait "SELECT count(*) || ' ' || max(devices) FROM anomalies WHERE rule='login_failures'" "1 3"; then
    sleep 1
    ht_check "login_failures fired once for the 3 devices whose reports were split: $(fl_pg_q "SELECT evidence FROM anomalies WHERE rule='login_failures'")" \
        test "$(fl_pg_q "SELECT count(*) FROM anomalies WHERE rule='login_failures'")" = 1
else
    ht_fail "login_failures: $(fl_pg_q "SELECT rule, devices, evidence FROM anomalies")"
fi
ht_check "exactly one instance logged the anomaly" \
    test "$(cat "$HT_WORK"/fleet-a.err "$HT_WORK"/fleet-b1.err | grep -c 'anomaly login_failures')" = 1

# ------------------------------------------------------------ a factory reset: epochs
# rx1 is factory reset: its outbox starts again at seq 1 and its link adds
# "ep":1; its report ids (the telemetry's seq) start again too, as on a
# device whose clock went back with the reset. Each line goes to one of the
# two instances in turn, so a device's reports are handled out of order.
rid=$(( now * 1000 ))
tel() { echo "{\"v\":1,\"seq\":$1${2:+,\"ep\":$2},\"hed\":{\"rid\":$(( rid + $3 )),\"v\":\"1.0\"},\"cmet\":{\"lf\":$4,\"uvf\":0}}"; }
evt() { echo "{\"v\":1,\"seq\":$1${2:+,\"ep\":$2},\"ts\":$now,\"sev\":\"info\",\"event\":\"$3\"${4:-}}"; }
{ tel 1 "" 1 0; tel 2 "" 2 5; } | pub_lines rx1 telemetry
# the reset takes a reboot: the pre-reset reports are handled before the next ones arrive
pg_wait "SELECT count(*) FROM rule_hits WHERE device='rx1'" 1 || ht_fail "rx1's pre-reset rise: $(fl_pg_q "SELECT * FROM report_counters WHERE device='rx1'")"
{ evt 3 "" boot; evt 3 "" boot; } | pub_lines rx1 events
{ evt 1 1 factory_reset ',"reset_at":'"$now"',"reset_count":1,"reason":"api"'; evt 1 1 factory_reset ',"reset_at":'"$now"',"reset_count":1,"reason":"api"'; evt 3 1 boot; } | pub_lines rx1 events
fl_pub rx1 state "{\"v\":1,\"seq\":2,\"ep\":1,\"ts\":$now,\"sw\":\"2.0.0\",\"apps\":{\"thermostat\":{}}}"
{ tel 4 1 1 1; tel 5 1 2 9; tel 2 "" 2 5; tel 4 1 1 1; } | pub_lines rx1 telemetry
pg_wait "SELECT count(*) FROM report_counters WHERE device='rx1'" 4 || ht_fail "rx1's counters: $(fl_pg_q "SELECT * FROM report_counters WHERE device='rx1'")"
# late: a pre-reset report never stored before (a rise of 1) and a pre-reset state
tel 3 "" 3 6 | pub_lines rx1 telemetry
fl_pub rx1 state "{\"v\":1,\"seq\":4,\"ts\":$now,\"sw\":\"1.0.1\",\"apps\":{\"thermostat\":{}}}"
if pg_wait "SELECT count(*) FROM telemetry WHERE device='rx1'" 5; then
    sleep 0.5
    ht_check "telemetry of both epochs with the same seqs is stored, each redelivery once, the late pre-reset report as history: (ep, seq, lf)" \
        test "$(fl_pg_q "SELECT string_agg(ep || ':' || (seq - $rid) || ':' || (report::jsonb #>> '{cmet,lf}'), ' ' ORDER BY ep, seq) FROM telemetry WHERE device='rx1'")" = "0:1:0 0:2:5 0:3:6 1:1:1 1:2:9"
    ht_check "events of both epochs with the same seqs are stored, each redelivery once: (ep, seq, event) and the count" \
        test "$(fl_pg_q "SELECT string_agg(ep || ':' || seq || ':' || event, ' ' ORDER BY ep, seq) || ' ' || (SELECT events_count FROM devices WHERE id='rx1') FROM events WHERE device='rx1'")" = "0:3:boot 1:1:factory_reset 1:3:boot 3"
    ht_check "the old epoch's late state and report are history: rx1's state and last report stay epoch 1's (sw, reset_count, state_ep, telemetry_ep, telemetry_count)" \
        test "$(fl_pg_q "SELECT sw || ' ' || reset_count || ' ' || state_ep || ' ' || telemetry_ep || ' ' || telemetry_count FROM devices WHERE id='rx1'")" = "2.0.0 1 1 1 5"
    ht_check "the login-failure rule's shared counters give deltas within an epoch: +5 before the reset, +8 after it, none from the lower post-reset counters or the late pre-reset report: $(fl_pg_q "SELECT string_agg(ep || ':' || (seq - $rid) || ':' || what, ' ' ORDER BY ep, seq) FROM rule_hits WHERE device='rx1'")" \
        test "$(fl_pg_q "SELECT string_agg(ep || ':' || (seq - $rid) || ':' || what, ' ' ORDER BY ep, seq) FROM rule_hits WHERE device='rx1' AND rule='login_failures'")" = "0:2:failed_logins+5 1:2:failed_logins+8"
else
    ht_fail "rx1's reports: $(fl_pg_q "SELECT ep, seq, report FROM telemetry WHERE device='rx1'")"
fi

# ------------------------------------------------------------ the report from PostgreSQL
# Nothing is in flight now: the report must say what the tables hold.
expect=$(fl_pg_q "SELECT (SELECT count(*) FROM devices) || ' ' || (SELECT sum(telemetry_count) FROM devices) || ' ' ||
    (SELECT sum(events_count) FROM devices) || ' ' || (SELECT count(*) FROM anomalies) || ' ' || (SELECT sum(count) FROM rejections)")
if "$FLEET" report --db "$FL_PG_URL" --json >"$HT_WORK/report.json" 2>"$HT_WORK/report.err"; then
    got=$(python3 - "$HT_WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
print(s["devices"], s["telemetry"], s["events"], s["anomalies"], s["rejected"])
d = {x["id"]: x for x in r["devices"]}["dev1"]
print(d["sw"], d["model"], d["status"], d["telemetry_count"], d["events_count"], d["listening_tcp_ports"],
      d["telemetry"]["hed"]["rid"] > 0)
a = [x for x in r["anomalies"] if x["rule"] == "login_failures"]
print(len(a), a[0]["devices"], sorted(e["device"] for e in a[0]["evidence"]))
print(sum(x["count"] for x in r["rejections"]), sorted({e["event"] for e in r["events"]}))
PY
)
    want="$expect
1.2.3 thermostat online 1 1 [443, 8443] True
1 3 ['la1', 'la2', 'la3']
6 ['boot', 'config_changed', 'factory_reset']"
    if [ "$got" = "$want" ]; then
        ht_pass "report --json from PostgreSQL: counts ($expect), dev1's row, the anomaly's evidence, the rejections as stored"
    else
        ht_fail "report --json: got [$got], want [$want]"
    fi
else
    ht_fail "report --json on PostgreSQL failed: $(cat "$HT_WORK/report.err")"
fi
curl -sS --max-time 5 "http://127.0.0.1:$rport/report.json" >"$HT_WORK/served.json"
ht_check "run --report-listen serves the same JSON report (but its time) from PostgreSQL" \
    python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); a.pop("generated"); b.pop("generated"); sys.exit(a!=b or not a["devices"])' \
    "$HT_WORK/report.json" "$HT_WORK/served.json"
html=$(curl -sS --max-time 5 "http://127.0.0.1:$rport/")
ht_check "... and the HTML page: the anomaly with its evidence, dev1's row" \
    bash -c 'grep -Eq "<tr class=\"anomaly\">.*<td>login_failures</td>.*<td>3</td>.*la[123]: failed_logins\+4, la[123]: failed_logins\+4, la[123]: failed_logins\+4" <<<"$1" &&
        grep -q "<tr class=\"device\"><td>dev1</td><td>thermostat</td><td>1.2.3</td><td class=\"online\">online</td>" <<<"$1"' _ "$html"

echo "# $SECONDS s"
# ------------------------------------------------------------ personal data (privacy topic)
# pv1 gives consent for its temperature history, shares two messages of it,
# withdraws; then asks for the erasure of everything, twice (the two copies
# go to the two instances); pv2 sends hostile erase requests.
now=$(date +%s)
pvq() { fl_pg_q "SELECT (SELECT count(*) FROM privacy_history WHERE device='$1') || ' ' ||
    coalesce((SELECT granted::text FROM privacy_consents WHERE device='$1' AND purpose='temperature_history'), '-')"; }
hist() { echo "{\"v\":1,\"seq\":$1,\"type\":\"history\",\"purpose\":\"temperature_history\",\"app\":\"thermostat\",\"ts\":$now,\"samples\":[{\"t\":${now}000,\"c\":21.25}]}"; }
consent() { echo "{\"v\":1,\"seq\":$1,\"type\":\"consent\",\"purpose\":\"temperature_history\",\"granted\":$2,\"ts\":$3}"; }
fl_pub pv1 privacy "$(hist 1)"
if pg_wait "SELECT count FROM rejections WHERE reason='privacy/no_consent'" 1; then
    ht_check "6-3 history sent without a recorded consent is refused and not stored" test "$(pvq pv1)" = "0 -"
else
    ht_fail "history without consent: $(fl_pg_q "SELECT * FROM rejections") / $(pvq pv1)"
fi
fl_pub pv1 privacy "$(consent 2 true "$now")"
pg_wait "SELECT granted FROM privacy_consents WHERE device='pv1'" 1 || ht_fail "consent not recorded: $(pvq pv1)"
printf '%s\n' "$(hist 3)" "$(hist 4)" | pub_lines pv1 privacy
ht_check "6-3 with the consent recorded both history messages are stored (one by each instance's turn)" \
    pg_wait "SELECT count(*) FROM privacy_history WHERE device='pv1'" 2
fl_pub pv1 privacy "$(consent 5 false "$now")"
ht_check "6-3 the withdrawal deletes the device's history at once" \
    pg_wait "SELECT (SELECT count(*) FROM privacy_history WHERE device='pv1') || ' ' || granted FROM privacy_consents WHERE device='pv1'" "0 0"
fl_pub pv1 privacy "$(consent 4 true "$now")"   # an older change arriving late
sleep 0.5
ht_check "  ... and a late, older consent change (seq 4 after 5) does not grant it again" test "$(pvq pv1)" = "0 0"
fl_pub pv1 privacy "$(hist 6)"
ht_check "  ... and history sent after the withdrawal is refused" \
    pg_wait "SELECT count FROM rejections WHERE reason='privacy/no_consent'" 2

# pv1's other data, which the erasure deletes.
fl_pub pv1 telemetry "$(fl_telemetry 443)"
fl_pub pv1 events "{\"v\":1,\"seq\":7,\"ts\":$now,\"sev\":\"info\",\"event\":\"boot\"}"
pg_wait "SELECT telemetry_count || ' ' || events_count FROM devices WHERE id='pv1'" "1 1" || ht_fail "pv1's reports"
# erase_msg DEVICE KEYNAME REQUEST [SIGNED_TEXT]: an erase request signed with KEYNAME's key.
erase_msg() {
    local sig cert
    sig=$(printf '%s' "${4:-$3}" | openssl dgst -sha256 -sign "$FL_SVC/$2.key" | basenc --base64url | tr -d '=\n')
    cert=$(openssl x509 -in "$FL_SVC/$2.crt" -outform DER | basenc --base64url | tr -d '=\n')
    jq -cn --arg r "$3" --arg c "$cert" --arg s "$sig" '{v:1,seq:9,type:"erase",request:$r,cert:$c,sig:$s}'
}
rid=00000000-0000-4000-8000-00000000e1a5
req="{\"device\":\"pv1\",\"id\":\"$rid\",\"ts\":$now,\"scope\":\"personal_data\"}"
# shellcheck disable=SC2046
mosquitto_sub $(fl_tls_args pv1) -i pv1-link -q 1 -t hearth/pv1/cmd/req -C 2 -W 20 >"$HT_WORK/pv1.cmds" 2>&1 &
subpid=$!
sleep 0.5
msg=$(erase_msg pv1 pv1 "$req")
printf '%s\n' "$msg" "$msg" | pub_lines pv1 privacy
wait "$subpid"
if pg_wait "SELECT count(*) FROM privacy_erasures WHERE device='pv1'" 1 &&
    pg_wait "SELECT count(*) FROM telemetry WHERE device='pv1'" 0; then
    ht_pass "5.11-2 the erase request deletes pv1's data on PostgreSQL: telemetry, events, state $(fl_pg_q "SELECT (SELECT count(*) FROM events WHERE device='pv1') || ' ' || coalesce(telemetry, 'null') || ' ' || telemetry_count FROM devices WHERE id='pv1'")"
else
    ht_fail "erasure: $(fl_pg_q "SELECT * FROM privacy_erasures")"
fi
erased=$(cat "$HT_WORK"/fleet-a.err "$HT_WORK"/fleet-b1.err | grep -c "erased the personal data of pv1")
again=$(cat "$HT_WORK"/fleet-a.err "$HT_WORK"/fleet-b1.err | grep -c "request $rid of pv1 was answered before")
ht_check "the request delivered twice (one copy per instance) erased once; the other copy got the recorded receipt (erased $erased, again $again)" \
    test "$erased $again" = "1 1"
python3 - "$HT_WORK/pv1.cmds" "$HT_WORK" <<'PY' >"$HT_WORK/receipt.out" 2>&1
import base64, json, sys
cmds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(cmds) == 2, cmds
assert all(c["id"] == cmds[0]["id"] and c["path"] == "/api/v1/privacy/service-erase/receipt" for c in cmds), cmds
assert cmds[0]["body"]["receipt"] == cmds[1]["body"]["receipt"], "two different receipts"
b = cmds[0]["body"]
r = json.loads(b["receipt"])
rows = {d["where"]: d["rows"] for d in r["deleted"]}
assert r["device"] == "pv1" and r["request"] == "00000000-0000-4000-8000-00000000e1a5", r
assert rows["fleet database, telemetry"] == 1 and rows["fleet database, events"] == 1 and rows["fleet database, privacy_history"] == 0, rows
pad = lambda s: s + "=" * (-len(s) % 4)
open(sys.argv[2] + "/receipt.txt", "w").write(b["receipt"])
open(sys.argv[2] + "/receipt.sig", "wb").write(base64.urlsafe_b64decode(pad(b["sig"])))
open(sys.argv[2] + "/receipt.der", "wb").write(base64.urlsafe_b64decode(pad(b["cert"])))
open(sys.argv[2] + "/receipt-forged.txt", "w").write(b["receipt"].replace('"rows":1', '"rows":0', 1))
print(rows)
PY
rc=$?
ht_check "5.11-4 both copies were answered with the same receipt command, naming what was deleted where: $(cat "$HT_WORK/receipt.out")" test "$rc" = 0
openssl x509 -inform DER -in "$HT_WORK/receipt.der" -pubkey -noout >"$HT_WORK/receipt.pub" 2>/dev/null
ht_check "5.11-4 the receipt's signature verifies with the certificate it carries, which the service CA issued to hearth-fleet" \
    bash -c 'openssl dgst -sha256 -verify "$1/receipt.pub" -signature "$1/receipt.sig" "$1/receipt.txt" >/dev/null &&
        openssl verify -CAfile "$2/ca.crt" <(openssl x509 -inform DER -in "$1/receipt.der") >/dev/null &&
        openssl x509 -inform DER -in "$1/receipt.der" -noout -subject | grep -q "CN *= *hearth-fleet"' _ "$HT_WORK" "$FL_SVC"
ht_check "  control: the same signature does not verify over a receipt with one count changed" \
    bash -c '! openssl dgst -sha256 -verify "$1/receipt.pub" -signature "$1/receipt.sig" "$1/receipt-forged.txt" >/dev/null 2>&1' _ "$HT_WORK"

# Hostile erase requests against pv2 (on its own topic, as an attacker with
# its connection would): a certificate for pv2 from a CA the service does not
# trust, pv1's genuine key and certificate on pv2's topic, a request naming
# another device, a signature over another text, a request without an id.
fl_pub pv2 telemetry "$(fl_telemetry 443)"
fl_pub pv2 events "{\"v\":1,\"seq\":1,\"ts\":$now,\"sev\":\"info\",\"event\":\"boot\"}"
pg_wait "SELECT telemetry_count || ' ' || events_count FROM devices WHERE id='pv2'" "1 1" || ht_fail "pv2's reports"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=rogue CA" -days 2 \
    -keyout "$FL_SVC/rogue-ca.key" -out "$FL_SVC/rogue-ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=pv2" -keyout "$FL_SVC/rogue.key" \
    -out "$FL_SVC/rogue.csr" 2>/dev/null
openssl x509 -req -in "$FL_SVC/rogue.csr" -CA "$FL_SVC/rogue-ca.crt" -CAkey "$FL_SVC/rogue-ca.key" -CAcreateserial \
    -days 2 -out "$FL_SVC/rogue.crt" 2>/dev/null
before=$(fl_pg_q "SELECT telemetry_count, events_count, telemetry FROM devices WHERE id='pv2'")
inv0=$(fl_pg_q "SELECT coalesce((SELECT count FROM rejections WHERE reason='privacy/invalid'), 0)")
r2="{\"device\":\"pv2\",\"id\":\"00000000-0000-4000-8000-0000000000b2\",\"ts\":$now}"
{
    erase_msg pv2 rogue "$r2"
    erase_msg pv2 pv1 "$r2"
    erase_msg pv2 pv2 "{\"device\":\"pv1\",\"id\":\"00000000-0000-4000-8000-0000000000b3\",\"ts\":$now}"
    erase_msg pv2 pv2 "$r2" "{\"device\":\"pv2\",\"id\":\"00000000-0000-4000-8000-0000000000b4\",\"ts\":$now}"
    erase_msg pv2 pv2 "{\"device\":\"pv2\",\"ts\":$now}"
    echo '{"v":1,"seq":9,"type":"erase","request":7}'
} | pub_lines pv2 privacy
if pg_wait "SELECT count FROM rejections WHERE reason='privacy/invalid'" $((inv0 + 6)); then
    ht_pass "5.11-2 six hostile erase requests (rogue CA, another device's certificate, another device named, a signature over another text, no id, not a string) are refused and counted"
else
    ht_fail "hostile erase requests: $(fl_pg_q "SELECT * FROM rejections WHERE reason LIKE 'privacy/%'")"
fi
ht_check "  ... each with its reason in the logs" \
    bash -c 'e=$(cat "$1"/fleet-a.err "$1"/fleet-b1.err); for w in "does not chain" "names another device" "names another device or no id" "does not verify" "request, cert or sig"; do grep -q "rejected a privacy message from pv2: .*$w" <<<"$e" || exit 1; done' _ "$HT_WORK"
ht_check "  ... and change nothing: no erasure recorded for pv2, its data as before" \
    test "$(fl_pg_q "SELECT count(*) FROM privacy_erasures WHERE device='pv2'")|$before" = "0|$(fl_pg_q "SELECT telemetry_count, events_count, telemetry FROM devices WHERE id='pv2'")"

echo "# $SECONDS s"
# ------------------------------------------------------------ a factory reset: the device changed hands
# rs1's owner gave consent and shared history; the device is reset (its
# factory_reset event, reset number 2): the service withdraws that consent,
# deletes the history and records the change of hands. The new owner's
# consent after it stays when the same reset is reported again or an older
# one arrives late.
now=$(date +%s)
fl_pub rs1 privacy "$(consent 1 true $((now - 100)))"
pg_wait "SELECT granted FROM privacy_consents WHERE device='rs1'" 1 || ht_fail "rs1's consent"
fl_pub rs1 privacy "$(hist 2 | sed "s/\"ts\":$now/\"ts\":$((now - 50))/")"
pg_wait "SELECT count(*) FROM privacy_history WHERE device='rs1'" 1 || ht_fail "rs1's history"
reset_ev() { echo "{\"v\":1,\"seq\":$1,\"ts\":$now,\"sev\":\"warning\",\"event\":\"factory_reset\",\"reset_at\":$((now - 10)),\"reset_count\":$2,\"reason\":\"button\"}"; }
fl_pub rs1 events "$(reset_ev 1 2)"
if pg_wait "SELECT reset_count || ' ' || reset_at || ' ' || (changed_hands_at >= $now) FROM devices WHERE id='rs1'" "2 $((now - 10)) true"; then
    ht_check "5.11-2 6-3 rs1's factory reset withdrew the old owner's consent and deleted its history on PostgreSQL" \
        test "$(pvq rs1)" = "0 0"
else
    ht_fail "rs1's reset: $(fl_pg_q "SELECT reset_count, reset_at, changed_hands_at FROM devices WHERE id='rs1'") / $(pvq rs1)"
fi
seen=$(fl_pg_q "SELECT changed_hands_at FROM devices WHERE id='rs1'")
fl_pub rs1 privacy "$(consent 2 true "$now")"
pg_wait "SELECT granted FROM privacy_consents WHERE device='rs1'" 1 || ht_fail "the new owner's consent"
fl_pub rs1 events "$(reset_ev 3 2)"   # the same reset again (a re-sent notice)
fl_pub rs1 events "$(reset_ev 4 1)"   # an older reset, late
fl_pub rs1 events "{\"v\":1,\"seq\":5,\"ts\":$now,\"sev\":\"warning\",\"event\":\"factory_reset\",\"reason\":\"button\"}"
if pg_wait "SELECT events_count FROM devices WHERE id='rs1'" 3 && pg_wait "SELECT count FROM rejections WHERE reason='events/invalid'" 2; then
    ht_check "6-3 the same reset_count again and an older one change nothing: the new owner's consent stays" \
        test "$(fl_pg_q "SELECT reset_count || ' ' || changed_hands_at FROM devices WHERE id='rs1'") $(pvq rs1)" = "2 $seen 0 1"
    ht_check "  ... and a factory_reset event without its reset_count is rejected, not stored" \
        test "$(fl_pg_q "SELECT count(*) FROM events WHERE device='rs1' AND seq = 5")" = 0
else
    ht_fail "rs1's later events: $(fl_pg_q "SELECT events_count FROM devices WHERE id='rs1'") / $(fl_pg_q "SELECT * FROM rejections")"
fi
"$FLEET" report --db "$FL_PG_URL" --json >"$HT_WORK/report2.json" 2>>"$HT_WORK/report.err"
ht_check "the report from PostgreSQL shows rs1's change of hands and no change for dev1" \
    jq -e --argjson at $((now - 10)) '(.devices[] | select(.id == "rs1") | .changed_hands == {"reset_count":2,"reset_at":$at,"recorded_at":.changed_hands.recorded_at}) and (.devices[] | select(.id == "dev1") | .changed_hands == null)' "$HT_WORK/report2.json"

echo "# $SECONDS s"
# ------------------------------------------------------------ announcing an update from PostgreSQL
# Every device the database knows, in batches of 3 with a 7 s spread
# (5.9-3 example 2); three of them listen on their updates topic.
ndev=$(fl_pg_q "SELECT count(*) FROM devices")
nb=$(( (ndev + 2) / 3 ))
pids=()
for d in dev1 la1 pv2; do
    # shellcheck disable=SC2046
    mosquitto_sub $(fl_tls_args "$d") -i "$d-upd" -q 1 -t "hearth/$d/updates" -C 1 -W 20 >"$HT_WORK/$d.updates" 2>&1 &
    pids+=($!)
done
sleep 0.5
out=$("$FLEET" announce --db "$FL_PG_URL" --version 9.1.0 --batch 3 --spread 7 --broker "127.0.0.1:$FL_BROKER_PORT" \
    --ca "$FL_SVC/ca.crt" --cert "$FL_SVC/fleet.crt" --key "$FL_SVC/fleet.key" 2>&1)
ht_check "5.9-3 announce from PostgreSQL: $out" grep -q "announced 9.1.0 to $ndev devices in $nb batches of 3, 7 s apart" <<<"$out"
wait "${pids[@]}" 2>/dev/null
want=$(for ((k = 0; k < nb; k++)); do n=3; [ $k = $((nb - 1)) ] && n=$((ndev - 3 * k)); printf '%s|%s\n' $((7 * k)) "$n"; done)
got=$(fl_pg_q "SELECT announced_delay_s, count(*) FROM devices WHERE announced_version = '9.1.0' GROUP BY 1 ORDER BY 1")
ht_check "5.9-3 the recorded batch offsets: 3 devices each at 0, 7, 14 ... s, the rest in the last: $(tr '\n' ' ' <<<"$got")" test "$got" = "$want"
ht_check "  ... and the announcement: version, batch, spread, devices, batches" \
    test "$(fl_pg_q "SELECT version, batch, spread_s, devices, batches FROM announcements")" = "9.1.0|3|7|$ndev|$nb"
agree=0
for d in dev1 la1 pv2; do
    delay=$(fl_pg_q "SELECT announced_delay_s FROM devices WHERE id='$d'")
    jq -e --argjson d "$delay" '.v == 1 and .version == "9.1.0" and .delay_s == $d and .spread_s == 7' \
        "$HT_WORK/$d.updates" >/dev/null 2>&1 && agree=$((agree + 1))
done
ht_check "5.9-3 three devices each received the announcement with the delay recorded for it ($agree of 3)" test "$agree" = 3

echo "# $SECONDS s"
# ------------------------------------------------------------ a stream, one instance stopped
"$PUB" 127.0.0.1 "$FL_BROKER_PORT" "$FL_SVC/ca.crt" "$FL_SVC/benchpub.crt" "$FL_SVC/benchpub.key" 40 "$STREAM" \
    >"$HT_WORK/pub.out" 2>&1 &
pub=$!
for _ in $(seq 1 100); do
    [ "$(fl_pg_q "SELECT count(*) FROM telemetry WHERE device LIKE 'HT1-%'")" -ge 200 ] && break
done
mid=$(fl_pg_q "SELECT count(*) FROM telemetry WHERE device LIKE 'HT1-%'")
kill -TERM "$PID_B"; wait "$PID_B" 2>/dev/null
sleep 0.5
start_b 2 || exit 1
wait "$pub"
ht_check "the stream was published and acknowledged by the broker: $(cat "$HT_WORK/pub.out")" grep -q "published $STREAM" "$HT_WORK/pub.out"
if pg_wait "SELECT count(*) FROM telemetry WHERE device LIKE 'HT1-%'" "$STREAM" 15; then
    ht_pass "all $STREAM reports stored, instance B stopped after $mid and restarted"
else
    ht_fail "stored $(fl_pg_q "SELECT count(*) FROM telemetry WHERE device LIKE 'HT1-%'") of $STREAM"
fi
ht_check "each stored exactly once (the devices' counts agree with the rows)" \
    test "$(fl_pg_q "SELECT sum(telemetry_count) FROM devices WHERE id LIKE 'HT1-%'")" = "$STREAM"
kill -TERM "$PID_A" "$PID_B"; wait "$PID_A" "$PID_B" 2>/dev/null
stored() { sed -nE 's/.*stopped: stored ([0-9]+) messages \(([0-9]+) telemetry\).*/\2/p' "$1"; }
a=$(stored "$HT_WORK/fleet-a.err"); b1=$(stored "$HT_WORK/fleet-b1.err"); b2=$(stored "$HT_WORK/fleet-b2.err")
if [ "${a:-0}" -gt 0 ] && [ "${b1:-0}" -gt 0 ]; then
    ht_pass "both instances did work: telemetry handled by A $a, B $b1 before its stop and $b2 after"
else
    ht_fail "instances' work: A ${a:-none}, B ${b1:-none} / ${b2:-none}"
fi
ht_check "no batch failed or was written twice, no sanitizer report: no 'failed', 'aborted' or 'Sanitizer' in the instances' logs" \
    bash -c "! grep -hE 'failed|aborted|Sanitizer' '$HT_WORK'/fleet-*.err"

# ------------------------------------------------------------ schema 2 -> 3
# A database of schema 2 (db_pg.c's SCHEMA_V1 and SCHEMA_V2) holding what
# version 2 kept apart by (device, seq, ts): an event and a post-reset one
# reusing its seq; a report, the rules' counters and a hit. Opened for
# writing it is migrated: every row kept, existing rows at ep 0 and the
# reused seq at the next epoch in ts order, the new keys (device, ep, seq).
fl_pg_q "CREATE DATABASE fleet_v2" >/dev/null
V2_URL=${FL_PG_URL/\/postgres\?/\/fleet_v2?}
python3 - "$HEARTH_SOURCE_DIR/services/fleet/db_pg.c" <<'PY' | psql -X -q -v ON_ERROR_STOP=1 "$V2_URL" >/dev/null
import re, sys
s = open(sys.argv[1]).read()
for name in ("SCHEMA_V1", "SCHEMA_V2"):
    a = s.index("static const char %s[] =" % name)
    print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s[a:s.index(";\n", a)])))
print("""INSERT INTO devices(id, first_seen, last_seen, telemetry_count, events_count) VALUES('d1', 1, 1, 1, 2);
INSERT INTO events VALUES('d1', 1, 3, 100, 'info', 'boot', '{}'), ('d1', 3, 3, 200, 'warning', 'factory_reset', '{}');
INSERT INTO telemetry VALUES('d1', 1, 5000, 5, '{"a":1}');
INSERT INTO report_counters VALUES('d1', 5000, 1, 3, 0);
INSERT INTO rule_hits VALUES('login_failures', '', 0, 'd1', 5000, 1, 'failed_logins+3');""")
PY
"$FLEET" announce --db "$V2_URL" --version 1.0 --batch 1 --spread 0 --dry-run >/dev/null 2>"$HT_WORK/pgv2.err"
ht_check "a schema-2 PostgreSQL database opened for writing is migrated to schema 3: events keyed by (device, ep, seq), nothing lost: $(cat "$HT_WORK/pgv2.err")" \
    test "$(psql -X -A -t -q "$V2_URL" -c "SELECT (SELECT max(version) FROM fleet_schema) || ' ' ||
        (SELECT string_agg(ep || ':' || seq || ':' || event, ' ' ORDER BY ep, seq) FROM events) || ' ' ||
        (SELECT string_agg(ep || ':' || seq, ' ') FROM telemetry) || ' ' || (SELECT string_agg(ep || ':' || seq, ' ') FROM report_counters)
        || ' ' || (SELECT string_agg(ep || ':' || seq, ' ') FROM rule_hits)")" = "3 0:3:boot 1:3:factory_reset 0:5000 0:5000 0:5000"
if psql -X -q -v ON_ERROR_STOP=1 "$V2_URL" -c "INSERT INTO events(device, received, seq, ts, sev, event, detail, ep) VALUES('d1', 9, 3, 999, 'info', 'x', '{}', 1)" 2>/dev/null; then
    ht_fail "the migrated events table accepted a second (device, ep, seq)"
else
    ht_pass "the migrated events table refuses a second (device, ep, seq) whatever its ts"
fi
ht_check "... and the telemetry, counters and hits take the same seq at another epoch" \
    psql -X -q -v ON_ERROR_STOP=1 "$V2_URL" -c "INSERT INTO telemetry(device, received, seq, ts, report, ep) VALUES('d1', 2, 5000, 5, '{}', 1);
        INSERT INTO report_counters(device, ep, seq, received) VALUES('d1', 1, 5000, 2);
        INSERT INTO rule_hits(rule, key, epoch, device, seq, at, what, ep) VALUES('login_failures', '', 0, 'd1', 5000, 2, 'x', 1)"

# ------------------------------------------------------------ schema 1 -> 3
# A database of schema 1 (db_pg.c's SCHEMA_V1 only: no privacy tables,
# events unique by (device, seq)) with a device, two events and a report:
# opened for writing it is migrated version by version to 3, every row kept
# at epoch 0, the privacy tables there and usable.
fl_pg_q "CREATE DATABASE fleet_v1" >/dev/null
V1_URL=${FL_PG_URL/\/postgres\?/\/fleet_v1?}
python3 - "$HEARTH_SOURCE_DIR/services/fleet/db_pg.c" <<'PY' | psql -X -q -v ON_ERROR_STOP=1 "$V1_URL" >/dev/null
import re, sys
s = open(sys.argv[1]).read()
a = s.index("static const char SCHEMA_V1[] =")
print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s[a:s.index(";\n", a)])))
print("""INSERT INTO devices(id, first_seen, last_seen, telemetry_count, events_count) VALUES('d1', 1, 1, 1, 2);
INSERT INTO events VALUES('d1', 1, 3, 100, 'info', 'boot', '{}'), ('d1', 2, 4, 101, 'warning', 'login_failed', '{}');
INSERT INTO telemetry VALUES('d1', 1, 5000, 5, '{"a":1}');""")
PY
v1_before=$(psql -X -A -t -q "$V1_URL" -c "SELECT max(version) FROM fleet_schema")
"$FLEET" announce --db "$V1_URL" --version 1.0 --batch 1 --spread 0 --dry-run >/dev/null 2>"$HT_WORK/pgv1.err"
ht_check "a schema-1 PostgreSQL database (version $v1_before) opened for writing is migrated to 3, every row kept at epoch 0: $(cat "$HT_WORK/pgv1.err")" \
    test "$(psql -X -A -t -q "$V1_URL" -c "SELECT (SELECT max(version) FROM fleet_schema) || ' ' ||
        (SELECT string_agg(ep || ':' || seq || ':' || event, ' ' ORDER BY seq) FROM events) || ' ' ||
        (SELECT string_agg(ep || ':' || seq, ' ') FROM telemetry) || ' ' ||
        (SELECT count(*) FROM devices WHERE id = 'd1' AND reset_count IS NULL)")" = "3 0:3:boot 0:4:login_failed 0:5000 1"
ht_check "... with the privacy tables of version 2 in place and usable" \
    psql -X -q -v ON_ERROR_STOP=1 "$V1_URL" -c "INSERT INTO privacy_consents(device, purpose, granted, at) VALUES('d1', 'temperature_history', 1, 5);
        INSERT INTO privacy_erasures(device, request, received, receipt) VALUES('d1', 'r1', 6, '{}')"
echo "# $SECONDS s"
ht_done
