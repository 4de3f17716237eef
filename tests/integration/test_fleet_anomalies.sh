#!/usr/bin/env bash
# provisions: 5.10-1
# needs: HEARTH_FLEET
# Fleet-level anomalies no single device can see (docs/fleet.md, "Anomaly
# rules"), raised by hearth-fleet from simulated devices (mosquitto clients
# with their own certificates) through a real mosquitto with mutual TLS. The
# thresholds are lowered to 3 devices with --rule so four devices suffice;
# the rule logic is the one the defaults use.
#  - update_verification: 3 devices reporting update_rejected within the
#    window raise it (EN 303 645 5.10-1 example 2); one device repeating it,
#    or only 2 devices, do not;
#  - login_failures: failed logins on 3 devices (two by event, one by its
#    telemetry counter rising) raise it (example 1, credential stuffing);
#  - new_port: 3 thermostats (their kind, from their state's applications)
#    starting to listen on TCP 2323 raise it keyed "thermostat:2323"; a
#    device whose first report already listed the port does not count (its
#    baseline), nor does a plug;
#  - offline: 3 devices' MQTT wills (their connections dropped) raise it;
#  - each anomaly lists its evidence: exactly the devices, with time and what.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
source "$(dirname "$0")/fleet_lib.sh"

fl_ca || exit 1
for d in dev1 dev2 dev3 dev4 other1; do fl_device_cert "$d" || exit 1; done
fl_broker_start || exit 1
fl_fleet_start --batch 1 --rule update_verification=3/600 --rule login_failures=3/300 \
    --rule offline=3/60 --rule new_port=3/3600 || exit 1
now=$(date +%s)
seq=0
# Their states name their kind: four thermostats and a plug.
for d in dev1 dev2 dev3 dev4; do fl_state "$d" 1.0.0 thermostat; done
fl_state other1 1.0.0 plug
event() { seq=$((seq + 1)); fl_pub "$1" events "{\"v\":1,\"seq\":$seq,\"ts\":$now,\"sev\":\"$3\",\"event\":\"$2\",\"reason\":\"signature\"}"; }
telemetry() { fl_pub "$1" telemetry "$(fl_telemetry "$2" "$3")"; } # DEV PORTS LOGIN_FAILURES
# anomaly RULE -> python expression for the list of that rule's anomalies
an() { echo "[a for a in r['anomalies'] if a['rule']=='$1']"; }
evidence() { echo "sorted(e['device'] for e in $(an "$1")[0]['evidence'])"; }

# ------------------------------------------------------------ update verification
for _ in 1 2 3 4 5; do event dev1 update_rejected warning; done
event dev2 update_rejected warning
event dev2 login_ok info
fl_wait "r['summary']['events'] >= 7" || ht_fail "events not ingested"
ht_check "one device repeating update_rejected, plus a second, raise nothing" \
    test "$(fl_report; fl_q "len($(an update_verification))")" = 0
event dev3 update_rejected warning
if fl_wait "len($(an update_verification)) == 1"; then
    ht_pass "3 devices failing update verification raise update_verification"
    ht_check "its evidence is exactly dev1, dev2, dev3" \
        test "$(fl_q "$(evidence update_verification)")" = "['dev1', 'dev2', 'dev3']"
    ht_check "the evidence says what and when" \
        test "$(fl_q "all(e['what']=='update_rejected' and abs(e['at']-$now) < 60 for e in $(an update_verification)[0]['evidence'])")" = True
else
    ht_fail "no update_verification anomaly: $FL_REPORT"
fi

# ------------------------------------------------------------ credential stuffing
telemetry dev3 443 0
event dev1 login_failed warning
event dev2 lockout warning
fl_wait "r['summary']['events'] >= 10" || ht_fail "events not ingested"
ht_check "failed logins on 2 devices raise nothing" test "$(fl_report; fl_q "len($(an login_failures))")" = 0
telemetry dev3 443 7
if fl_wait "len($(an login_failures)) == 1"; then
    ht_pass "failed logins across 3 devices (events and a telemetry counter) raise login_failures"
    ht_check "its evidence is dev1, dev2, dev3" \
        test "$(fl_q "$(evidence login_failures)")" = "['dev1', 'dev2', 'dev3']"
else
    ht_fail "no login_failures anomaly: $FL_REPORT"
fi

# ------------------------------------------------------------ a port appearing across a model
telemetry dev1 443 0
telemetry dev2 443 0
telemetry dev4 443,2323 0      # its first report: 2323 is its baseline
telemetry other1 443 0
telemetry dev1 443,2323 0
telemetry dev2 443,2323 0
telemetry other1 443,2323 0    # another kind of device: another key
fl_wait "r['summary']['telemetry'] >= 9" || ht_fail "telemetry not ingested"
ht_check "2323 appearing on 2 thermostats (and on a plug) raises nothing" \
    test "$(fl_report; fl_q "len($(an new_port))")" = 0
telemetry dev3 443,2323 0
if fl_wait "len($(an new_port)) == 1"; then
    ht_pass "TCP 2323 appearing on 3 thermostats raises new_port"
    ht_check "keyed by kind and port" test "$(fl_q "$(an new_port)[0]['key']")" = "thermostat:2323"
    ht_check "its evidence is dev1, dev2, dev3 (not dev4, whose first report listed it)" \
        test "$(fl_q "$(evidence new_port)")" = "['dev1', 'dev2', 'dev3']"
else
    ht_fail "no new_port anomaly: $FL_REPORT"
fi

# ------------------------------------------------------------ devices going offline at once
pids=()
for d in dev1 dev2 dev3; do
    fl_pub "$d" status '{"v":1,"online":true}'
    # shellcheck disable=SC2046
    mosquitto_sub $(fl_tls_args "$d") -i "$d-link" -q 1 -t "hearth/$d/updates" \
        --will-topic "hearth/$d/status" --will-payload '{"v":1,"online":false}' --will-qos 1 \
        --will-retain >/dev/null 2>&1 &
    pids+=($!)
done
sleep 1
kill -KILL "${pids[@]}" 2>/dev/null
wait "${pids[@]}" 2>/dev/null
if fl_wait "len($(an offline)) == 1"; then
    ht_pass "3 devices' connections dropping (their wills) raise offline"
    ht_check "its evidence is dev1, dev2, dev3" test "$(fl_q "$(evidence offline)")" = "['dev1', 'dev2', 'dev3']"
    ht_check "the devices are shown offline" \
        test "$(fl_q "sorted(d['id'] for d in r['devices'] if d['status']=='offline')")" = "['dev1', 'dev2', 'dev3']"
else
    ht_fail "no offline anomaly: $FL_REPORT"
fi
ht_check "exactly four anomalies in all" test "$(fl_q "len(r['anomalies'])")" = 4
ht_done
