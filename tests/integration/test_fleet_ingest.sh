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
#  - an event delivered twice is stored once, and one after a factory reset
#    that reuses a seq with a later ts is stored (docs/mqtt.md, At-least-once);
#  - topic id spoofing: a device cannot publish under another id (the broker
#    refuses it, 5.5-4), and when a misconfigured broker lets a client publish
#    under ids outside [A-Za-z0-9_-] (a.b, a b, 65 characters, empty) the
#    service rejects the topic and creates no device;
#  - the database passes SQLite's integrity check afterwards.
set -u
SECONDS=0
source "$(dirname "$0")/lib.sh"
ht_init
source "$(dirname "$0")/fleet_lib.sh"

fl_ca || exit 1
for d in dev1 dev2; do fl_device_cert "$d" || exit 1; done
fl_sign injector injector || exit 1
# The "misconfigured broker": one identity may write anywhere under hearth/.
FL_ACL_EXTRA='user injector\ntopic write hearth/#\n\n'
fl_broker_start || exit 1
fl_fleet_start --batch 1 || exit 1

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
# byte for byte) is stored once; an event after the device's factory reset
# reuses seq 3 with a later ts and is a new event, stored.
fl_pub dev1 events "{\"v\":1,\"seq\":3,\"ts\":$now,\"sev\":\"warning\",\"event\":\"login_failed\",\"user\":\"alice\",\"source\":\"192.0.2.7\",\"failures\":\"1\"}"
fl_pub dev1 events "{\"v\":1,\"seq\":3,\"ts\":$((now + 7)),\"sev\":\"info\",\"event\":\"boot\"}"
if fl_wait "$dev1[0]['events_count'] >= 2"; then
    ht_check "a redelivered event is stored once and a post-reset event reusing its seq is stored: rows and count" \
        test "$(sqlite3 "$FL_DB" "SELECT (SELECT group_concat(event || '@' || (ts - $now), ' ') FROM (SELECT event, ts FROM events WHERE device='dev1' ORDER BY rowid)) || ' ' || events_count FROM devices WHERE id='dev1'")" = "login_failed@0 boot@7 2"
else
    ht_fail "the post-reset event was not stored: $(sqlite3 "$FL_DB" "SELECT seq, ts, event FROM events WHERE device='dev1'")"
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
    ht_check "no device was created from a spoofed id (only dev1 and the injected valid dev2)" \
        test "$(sqlite3 "$FL_DB" "SELECT group_concat(id, ' ') FROM (SELECT id FROM devices ORDER BY id)")" = "dev1 dev2"
    ht_check "the 5 spoofed topics were rejected" \
        test "$(( $(sqlite3 "$FL_DB" "SELECT coalesce(sum(count),0) FROM rejections WHERE reason LIKE 'topic/%'") - rej0 ))" = 5
    ht_check "dev1 could not publish as dev2 (the broker's ACL): dev2 has only the injected report" \
        test "$(sqlite3 "$FL_DB" "SELECT telemetry_count FROM devices WHERE id='dev2'")" = 1
else
    ht_fail "the marker message never arrived: $FL_REPORT"
fi
ht_check "the database is intact" test "$(sqlite3 "$FL_DB" 'PRAGMA integrity_check')" = ok
ht_check "hearth-fleet is still running" kill -0 "$FL_FLEET_PID"

# ------------------------------------------------------------ schema 1 -> 2
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
ht_check "opened for writing it is migrated to schema 2: exact duplicate events and erasures go, the rest stays" \
    test "$(sqlite3 "$old_db" "PRAGMA user_version; SELECT count(*) FROM events; SELECT group_concat(request) FROM privacy_erasures;
        SELECT device || ' ' || granted || ' ' || coalesce(ts, 'null') FROM privacy_consents; SELECT count(*) FROM privacy_history;
        PRAGMA integrity_check" | tr '\n' ' ')" = "2 2 r1,r2 d1 1 null 1 ok "
ht_done
