#!/usr/bin/env bash
# provisions: 5.13-1 5.5-4
# needs: HEARTH_FLEET
# hearth-fleet's ingest (docs/fleet.md) against a real mosquitto on loopback
# with mutual TLS and the per-device ACL, devices simulated with
# mosquitto_pub and their own certificates (CN = device id):
#  - state, telemetry, events, status and command replies of a device end up
#    as its per-device state in SQLite (online, software, last telemetry,
#    event counts, listening ports);
#  - hostile payloads are rejected and counted, and change no device (5.13-1):
#    oversized, not JSON, trailing garbage, wrong types, a wrong "v",
#    duplicate keys, nesting 50 deep, invalid UTF-8, a number cJSON would
#    accept but JSON does not (01), a negative counter, unknown fields;
#  - personal fields in an event ("user", "source") are never stored;
#  - a device's messages are ordered by its reset epoch and seq (docs/mqtt.md,
#    At-least-once): telemetry and events at ep 0 and after a factory reset
#    at ep 1 with the same seqs are all stored, each redelivery once; the
#    login-failure rule's counter deltas stay within an epoch (a post-reset
#    report with lower counters, or a late pre-reset one, counts nothing; a
#    spike after the reset is still seen); a late message of the old epoch is
#    history and does not replace the device's state or last report; a
#    malformed "ep" (negative, a string, a fraction, over 2^32-1, null) is
#    rejected like any malformed field;
#  - topic id spoofing: a device cannot publish under another id (the broker
#    refuses it, 5.5-4), and when a misconfigured broker lets a client publish
#    under ids outside [A-Za-z0-9_-] (a.b, a b, 65 characters, empty) the
#    service rejects the topic and creates no device;
#  - the database passes SQLite's integrity check afterwards;
#  - databases of schema 1 and 2 are migrated to 3 (every row kept but exact
#    duplicates, a reused seq given its own epoch).
set -u
SECONDS=0
source "$(dirname "$0")/lib.sh"
ht_init
source "$(dirname "$0")/fleet_lib.sh"

fl_ca || exit 1
for d in dev1 dev2 dev3; do fl_device_cert "$d" || exit 1; done
fl_sign injector injector || exit 1
# The "misconfigured broker": one identity may write anywhere under hearth/.
FL_ACL_EXTRA='user injector\ntopic write hearth/#\n\n'
fl_broker_start || exit 1
# login_failures at 1 device / 1 s: every counted rise is an anomaly with its
# delta as evidence (the epoch checks below read them)
fl_fleet_start --batch 1 --rule login_failures=1/1 || exit 1

now=$(date +%s)
fl_pub dev1 status '{"v":1,"online":true}'
fl_pub dev1 state "{\"v\":1,\"seq\":1,\"ts\":$now,\"sw\":\"1.2.3\",\"apps\":{\"thermostat\":{\"target_c\":21.5}}}"
fl_pub dev1 telemetry "$(fl_telemetry 443,8443)"
fl_pub dev1 events "{\"v\":1,\"seq\":3,\"ts\":$now,\"sev\":\"warning\",\"event\":\"login_failed\",\"user\":\"alice\",\"source\":\"192.0.2.7\",\"failures\":\"1\"}"
fl_pub dev1 cmd/res '{"v":1,"id":"req-1","status":200,"body":{"target_c":22},"duplicate":false}'
dev1='[d for d in r["devices"] if d["id"]=="dev1"]'
if fl_wait "len($dev1)==1 and $dev1[0]['telemetry_count']==1 and $dev1[0]['events_count']==1 and $dev1[0]['status']=='online' and $dev1[0]['sw']=='1.2.3'"; then
    ht_pass "dev1's status, state, telemetry and event are its per-device state"
else
    ht_fail "dev1 not stored as expected: $FL_REPORT"
fi
ht_check "dev1's kind (its applications) and listening ports come from its state and telemetry" \
    test "$(fl_q "$dev1[0]['model'], $dev1[0]['listening_tcp_ports']")" = "thermostat [443, 8443]"
ht_check "the command reply is stored by request id" \
    test "$(sqlite3 "$FL_DB" "SELECT status FROM cmd_results WHERE device='dev1' AND reqid='req-1'")" = 200
detail=$(sqlite3 "$FL_DB" "SELECT detail FROM events WHERE device='dev1'")
if [[ "$detail" == *login_failed* && "$detail" != *alice* && "$detail" != *192.0.2.7* && "$detail" != *'"user"'* ]]; then
    ht_pass "the event is stored without its personal fields: $detail"
else
    ht_fail "event detail: $detail"
fi

# ------------------------------------------------------------ hostile payloads
before=$(sqlite3 "$FL_DB" "SELECT telemetry_count, events_count, state, telemetry FROM devices WHERE id='dev1'")
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
printf '{"v":1,"seq":9,"ts":%s,"sw":"\xff\xfe"}' "$now" >"$HT_WORK/badutf8"
deep=$(printf '%.0s[' $(seq 1 50))1$(printf '%.0s]' $(seq 1 50))
n=0
while IFS='|' read -r kind payload; do
    fl_pub dev1 "$kind" "$payload"; n=$((n + 1))
done <<EOF2
telemetry|{"v":1,"hed":{"rid":1},"use":{"pad":"$big"}}
telemetry|not json at all
telemetry|{"v":1,"hed":{"rid":1}} trailing
telemetry|{"v":1,"hed":{"rid":"1"}}
telemetry|{"v":2,"hed":{"rid":1}}
telemetry|{"v":1,"hed":{"rid":1,"rid":2}}
telemetry|{"v":1,"hed":{"rid":1},"use":{"deep":$deep}}
telemetry|{"v":1,"hed":{"rid":01}}
telemetry|{"v":1,"hed":{"rid":1},"met":{"tp":{"pts":[{"pt":70000}]}}}
telemetry|[1,2,3]
telemetry|{"v":1,"hed":{"rid":1},"cmet":{"lf":-1}}
telemetry|{"v":1,"hed":{"rid":1},"model":"HT-1"}
state|{"v":1,"seq":5,"ts":$now,"sw":"1.2.3<script>"}
status|{"v":1,"online":"yes"}
status|{"v":1,"online":true,"admin":true}
events|{"v":1,"seq":6,"ts":$now,"sev":"emergency-ish","event":"login_failed"}
events|{"v":1,"seq":6,"ep":-1,"ts":$now,"sev":"info","event":"boot"}
events|{"v":1,"seq":6,"ep":"1","ts":$now,"sev":"info","event":"boot"}
events|{"v":1,"seq":6,"ep":1.5,"ts":$now,"sev":"info","event":"boot"}
state|{"v":1,"seq":6,"ep":4294967296,"ts":$now,"sw":"1.2.3","apps":{}}
telemetry|{"v":1,"seq":6,"ep":null,"hed":{"rid":1}}
cmd/res|{"v":1,"id":"bad id!","status":200}
EOF2
# shellcheck disable=SC2046
mosquitto_pub $(fl_tls_args dev1) -q 1 -t hearth/dev1/state -f "$HT_WORK/badutf8"; n=$((n + 1))
if fl_wait "sum(x['count'] for x in r['rejections']) >= $n"; then
    ht_pass "all $n hostile payloads rejected and counted: $(fl_q "{x['reason']: x['count'] for x in r['rejections']}")"
else
    ht_fail "rejections: $(fl_q "r['rejections']")"
fi
after=$(sqlite3 "$FL_DB" "SELECT telemetry_count, events_count, state, telemetry FROM devices WHERE id='dev1'")
ht_check "the hostile payloads changed nothing about dev1" test "$before" = "$after"
ht_check "the oversized payload was refused for its size" \
    test "$(sqlite3 "$FL_DB" "SELECT count FROM rejections WHERE reason='telemetry/too_large'")" -ge 1

# ------------------------------------------------------------ redelivery and a factory reset
# At-least-once (docs/mqtt.md): the same event again (a QoS 1 redelivery,
# byte for byte) is stored once.
fl_pub dev1 events "{\"v\":1,\"seq\":3,\"ts\":$now,\"sev\":\"warning\",\"event\":\"login_failed\",\"user\":\"alice\",\"source\":\"192.0.2.7\",\"failures\":\"1\"}"
fl_pub dev1 events "{\"v\":1,\"seq\":4,\"ts\":$now,\"sev\":\"info\",\"event\":\"boot\"}"
if fl_wait "$dev1[0]['events_count'] >= 2"; then
    ht_check "a redelivered event is stored once: rows and count" \
        test "$(sqlite3 "$FL_DB" "SELECT (SELECT group_concat(event || '@' || seq, ' ') FROM (SELECT event, seq FROM events WHERE device='dev1' ORDER BY rowid)) || ' ' || events_count FROM devices WHERE id='dev1'")" = "login_failed@3 boot@4 2"
else
    ht_fail "the second event was not stored: $(sqlite3 "$FL_DB" "SELECT seq, ts, event FROM events WHERE device='dev1'")"
fi

# A factory reset (docs/erasure.md step 4): dev3's outbox starts again at
# seq 1 and its link adds "ep":1. Its report ids (the telemetry's seq) start
# again too here, as on a device whose clock went back with the reset.
# sq WHERE EXPECTED: wait until a query on the database gives EXPECTED.
sq_wait() {
    local i
    for i in $(seq 1 50); do
        [ "$(sqlite3 "$FL_DB" "$1")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
ev3() { # SEQ EP EVENT [EXTRA]
    fl_pub dev3 events "{\"v\":1,\"seq\":$1${2:+,\"ep\":$2},\"ts\":$now,\"sev\":\"info\",\"event\":\"$3\"${4:-}}"
}
tel3() { # SEQ EP RID LF
    fl_pub dev3 telemetry "{\"v\":1,\"seq\":$1${2:+,\"ep\":$2},\"hed\":{\"rid\":$3,\"v\":\"1.0\"},\"cmet\":{\"lf\":$4,\"uvf\":0}}"
}
st3() { # SEQ EP SW
    fl_pub dev3 state "{\"v\":1,\"seq\":$1${2:+,\"ep\":$2},\"ts\":$now,\"sw\":\"$3\",\"apps\":{\"thermostat\":{}}}"
}
rid=$(( now * 1000 ))
lf_anomalies="SELECT coalesce(group_concat(json_extract(evidence, '\$[0].what'), ' '), '') FROM anomalies WHERE rule='login_failures' AND evidence LIKE '%\"dev3\"%'"
# before the reset (no "ep": epoch 0): seq 1..2, a rise of 5 failed logins
st3 1 "" 1.0.0
ev3 2 "" boot
tel3 3 "" $((rid + 1)) 0
tel3 4 "" $((rid + 2)) 5
sq_wait "$lf_anomalies" "failed_logins+5" || ht_fail "the pre-reset rise was not seen: $(sqlite3 "$FL_DB" "$lf_anomalies")"
sleep 1.1 # the rule's 1 s window: the next rise counts again
# after the reset (epoch 1): the same seqs and report ids, lower counters
ev3 1 1 factory_reset ',"reset_at":'"$now"',"reset_count":1,"reason":"api"'
st3 2 1 2.0.0
tel3 3 1 $((rid + 1)) 1
ev3 4 1 boot
# redeliveries of each epoch's messages, and a late pre-reset report that
# was never stored (a higher counter than the post-reset one)
tel3 4 "" $((rid + 2)) 5
tel3 3 1 $((rid + 1)) 1
ev3 2 "" boot
ev3 4 1 boot
tel3 5 "" $((rid + 3)) 6
st3 6 "" 1.0.1
sleep 1.1
# a real spike after the reset: 1 -> 9
tel3 5 1 $((rid + 2)) 9
if sq_wait "SELECT count(*) FROM telemetry WHERE device='dev3' AND ep=1 AND seq=$((rid + 2))" 1; then
    ht_check "telemetry of both epochs with the same seqs is stored, each redelivery once, a late pre-reset report as history: (ep, seq, lf)" \
        test "$(sqlite3 "$FL_DB" "SELECT group_concat(ep || ':' || (seq - $rid) || ':' || json_extract(report, '\$.cmet.lf'), ' ') FROM (SELECT * FROM telemetry WHERE device='dev3' ORDER BY ep, seq)")" = "0:1:0 0:2:5 0:3:6 1:1:1 1:2:9"
    ht_check "events of both epochs with the same seqs are stored, each redelivery once: (ep, seq, event) and the count" \
        test "$(sqlite3 "$FL_DB" "SELECT group_concat(ep || ':' || seq || ':' || event, ' ') || ' ' || (SELECT events_count FROM devices WHERE id='dev3') FROM (SELECT * FROM events WHERE device='dev3' ORDER BY ep, seq)")" = "0:2:boot 1:1:factory_reset 1:4:boot 3"
    ht_check "the late pre-reset state and report are history: dev3's state and last report stay epoch 1's (sw, reset_count, state_ep, telemetry_ep, lf)" \
        test "$(sqlite3 "$FL_DB" "SELECT sw || ' ' || reset_count || ' ' || state_ep || ' ' || telemetry_ep || ' ' || json_extract(telemetry, '\$.cmet.lf') || ' ' || telemetry_count FROM devices WHERE id='dev3'")" = "2.0.0 1 1 1 9 5"
    ht_check "the login-failure rule's deltas stay within an epoch: +5 before the reset, +8 after it, nothing from the lower post-reset counters or the late pre-reset report" \
        sq_wait "$lf_anomalies" "failed_logins+5 failed_logins+8"
else
    ht_fail "the post-reset spike was not stored: $(sqlite3 "$FL_DB" "SELECT ep, seq, report FROM telemetry WHERE device='dev3'")"
fi

# ------------------------------------------------------------ topic spoofing
fl_pub dev1 telemetry "$(fl_telemetry 443)" hearth/dev2/telemetry
# shellcheck disable=SC2046
if mosquitto_pub $(fl_tls_args dev1) -q 1 -t 'hearth/a+b/telemetry' -m '{"v":1}' 2>/dev/null; then
    ht_fail "mosquitto_pub published to a wildcard topic"
else
    ht_pass "a topic with a wildcard in the id cannot even be published (hearth/a+b/telemetry)"
fi
long=$(printf 'x%.0s' $(seq 1 65))
rej0=$(sqlite3 "$FL_DB" "SELECT coalesce(sum(count),0) FROM rejections WHERE reason LIKE 'topic/%'")
for t in 'hearth/a.b/telemetry' 'hearth/a b/telemetry' "hearth/$long/telemetry" 'hearth//telemetry' 'hearth/dév/state'; do
    fl_pub injector telemetry "$(fl_telemetry 443)" "$t"
done
fl_pub injector telemetry "$(fl_telemetry 443)" hearth/dev2/telemetry   # a valid id: the marker
if fl_wait "any(d['id']=='dev2' for d in r['devices'])"; then
    ht_check "no device was created from a spoofed id (only dev1, dev3 and the injected valid dev2)" \
        test "$(sqlite3 "$FL_DB" "SELECT group_concat(id, ' ') FROM (SELECT id FROM devices ORDER BY id)")" = "dev1 dev2 dev3"
    ht_check "the 5 spoofed topics were rejected" \
        test "$(( $(sqlite3 "$FL_DB" "SELECT coalesce(sum(count),0) FROM rejections WHERE reason LIKE 'topic/%'") - rej0 ))" = 5
    ht_check "dev1 could not publish as dev2 (the broker's ACL): dev2 has only the injected report" \
        test "$(sqlite3 "$FL_DB" "SELECT telemetry_count FROM devices WHERE id='dev2'")" = 1
else
    ht_fail "the marker message never arrived: $FL_REPORT"
fi
ht_check "the database is intact" test "$(sqlite3 "$FL_DB" 'PRAGMA integrity_check')" = ok
ht_check "hearth-fleet is still running" kill -0 "$FL_FLEET_PID"

# ------------------------------------------------------------ schema 1 -> 3
# A database of schema 1 (db.c's SCHEMA_V1, with the privacy tables erase.c
# used to create, a redelivered event stored twice and an erasure recorded
# twice) is migrated when opened for writing: nothing but the exact
# duplicates goes, the consent gains its ts and seq columns.
old_db=$HT_WORK/v1.db
python3 - "$HEARTH_SOURCE_DIR/services/fleet/db.c" <<'PY' | sqlite3 "$old_db"
import re, sys
s = open(sys.argv[1]).read()
a = s.index("static const char SCHEMA_V1[] =")
print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s[a:s.index(";\n", a)])))
print("""CREATE TABLE privacy_consents(device TEXT NOT NULL, purpose TEXT NOT NULL, granted INTEGER NOT NULL,
 at INTEGER NOT NULL, PRIMARY KEY(device, purpose)) WITHOUT ROWID;
CREATE TABLE privacy_history(device TEXT NOT NULL, received INTEGER NOT NULL, ts INTEGER NOT NULL, app TEXT NOT NULL,
 samples TEXT NOT NULL);
CREATE TABLE privacy_erasures(device TEXT NOT NULL, request TEXT NOT NULL, received INTEGER NOT NULL, receipt TEXT NOT NULL);
INSERT INTO privacy_consents VALUES('d1', 'temperature_history', 1, 5);
INSERT INTO privacy_history VALUES('d1', 5, 5, 'thermostat', '[]');
INSERT INTO privacy_erasures VALUES('d1', 'r1', 1, '{}'), ('d1', 'r1', 2, '{}'), ('d1', 'r2', 3, '{}');
INSERT INTO devices(id, first_seen, last_seen) VALUES('d1', 1, 1);
INSERT INTO events VALUES('d1', 1, 3, 100, 'info', 'boot', '{}'), ('d1', 2, 3, 100, 'info', 'boot', '{}'),
 ('d1', 3, 3, 200, 'info', 'boot', '{}');
PRAGMA user_version = 1;""")
PY
"$FLEET" report --db "$old_db" --json >/dev/null 2>"$HT_WORK/v1.err"
ht_check "a report refuses the schema-1 database with a clear message: $(cat "$HT_WORK/v1.err")" grep -q "older than this hearth-fleet" "$HT_WORK/v1.err"
"$FLEET" announce --db "$old_db" --version 1.0 --batch 1 --spread 0 --dry-run >/dev/null 2>&1
ht_check "opened for writing it is migrated to schema 3: exact duplicate events and erasures go, the rest stays" \
    test "$(sqlite3 "$old_db" "PRAGMA user_version; SELECT count(*) FROM events; SELECT group_concat(request) FROM privacy_erasures;
        SELECT device || ' ' || granted || ' ' || coalesce(ts, 'null') FROM privacy_consents; SELECT count(*) FROM privacy_history;
        PRAGMA integrity_check" | tr '\n' ' ')" = "3 2 r1,r2 d1 1 null 1 ok "

# ------------------------------------------------------------ schema 2 -> 3
# A database of schema 2 (db.c's SCHEMA_V1 and SCHEMA_V2) holding what
# version 2 kept apart by (device, seq, ts) or stored twice: an event and a
# post-reset one reusing its seq, a report stored twice (a redelivery) and a
# different one with the same report id. Migrated: every row but the exact
# duplicate is kept, existing rows at ep 0 and a reused seq at the next
# epoch in ts order, and the new keys (device, ep, seq) hold.
v2_db=$HT_WORK/v2.db
python3 - "$HEARTH_SOURCE_DIR/services/fleet/db.c" <<'PY' | sqlite3 "$v2_db"
import re, sys
s = open(sys.argv[1]).read()
for name in ("SCHEMA_V1", "SCHEMA_V2"):
    a = s.index("static const char %s[] =" % name)
    print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', s[a:s.index(";\n", a)])))
print("""INSERT INTO devices(id, first_seen, last_seen, telemetry_count, events_count) VALUES('d1', 1, 1, 3, 2);
INSERT INTO events VALUES('d1', 1, 3, 100, 'info', 'boot', '{}'), ('d1', 3, 3, 200, 'warning', 'factory_reset', '{}'),
 ('d1', 4, 4, 200, 'info', 'boot', '{}');
INSERT INTO telemetry VALUES('d1', 1, 5000, 5, '{"a":1}'), ('d1', 2, 5000, 5, '{"a":1}'), ('d1', 3, 5000, 5, '{"a":2}'),
 ('d1', 4, 6000, 6, '{"a":3}');
PRAGMA user_version = 2;""")
PY
"$FLEET" announce --db "$v2_db" --version 1.0 --batch 1 --spread 0 --dry-run >/dev/null 2>"$HT_WORK/v2.err"
ht_check "a schema-2 database opened for writing is migrated to schema 3: events and reports keyed by (device, ep, seq), only the exact duplicate report gone: $(cat "$HT_WORK/v2.err")" \
    test "$(sqlite3 "$v2_db" "PRAGMA user_version;
        SELECT group_concat(ep || ':' || seq || ':' || event, ' ') FROM (SELECT * FROM events ORDER BY ep, seq);
        SELECT group_concat(ep || ':' || seq || ':' || report, ' ') FROM (SELECT * FROM telemetry ORDER BY ep, seq);
        PRAGMA integrity_check" | tr '\n' ' ')" = '3 0:3:boot 0:4:boot 1:3:factory_reset 0:5000:{"a":1} 0:6000:{"a":3} 1:5000:{"a":2} ok '
if sqlite3 "$v2_db" "INSERT INTO events(device, received, seq, ts, sev, event, detail, ep) VALUES('d1', 9, 3, 999, 'info', 'x', '{}', 1)" 2>/dev/null; then
    ht_fail "the migrated events table accepted a second (device, ep, seq)"
else
    ht_pass "the migrated events table refuses a second (device, ep, seq) whatever its ts"
fi
sqlite3 "$v2_db" "INSERT INTO events(device, received, seq, ts, sev, event, detail, ep) VALUES('d1', 9, 3, 100, 'info', 'x', '{}', 2)"
ht_check "and takes the same (device, seq, ts) at another epoch" \
    test "$(sqlite3 "$v2_db" "SELECT count(*) FROM events WHERE seq = 3")" = 3
ht_done
