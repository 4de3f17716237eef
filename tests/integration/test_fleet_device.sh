#!/usr/bin/env bash
# provisions: 5.10-1 5.9-3
# End to end, with every part real: the real hearthd (its MQTT link, its
# telemetry every second) -> a real mosquitto (shipped configuration and
# ACL, mutual TLS) -> the real `hearth-fleet run` (SQLite), and back:
#  - 5.10-1: the device's security telemetry and security events reach the
#    fleet service, which stores them per device (the report lists the
#    device online with its telemetry and events) and rejects none of the
#    device's messages (the link's outbox sequence numbers included);
#  - 5.9-3: `hearth-fleet announce` sends the device an update announcement
#    with a spread, which the device accepts as a hint to check later
#    (recorded in its security log with its delay), not as an instruction.
# needs: HEARTH_WITH_LINK HEARTH_FLEET
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
ht_init
ulimit -n 4096 2>/dev/null || true
mq_link_setup dev || { ht_fail "device and broker"; ht_done; }
FLEET=$(ht_bin hearth-fleet) || { ht_fail "hearth-fleet not built"; ht_done; }
SER=$MQ_SERIAL
DB=$HT_WORK/fleet.db

"$FLEET" run --db "$DB" --broker "127.0.0.1:$MQ_PORT" --ca "$MQ_CA/ca.crt" --cert "$MQ_WORK/fleet.crt" \
    --key "$MQ_WORK/fleet.key" 2>"$HT_WORK/fleet.err" &
FPID=$!
HT_PIDS+=("$FPID")
for _ in $(seq 1 100); do grep -q "subscribed" "$HT_WORK/fleet.err" && break; sleep 0.1; done
ht_check "hearth-fleet connects and subscribes" grep -q "subscribed" "$HT_WORK/fleet.err"

ht_daemon_start dev "${MQ_LINK_ARGS[@]}" --telemetry-interval 1 || { ht_fail "hearthd starts"; ht_done; }

# report_has PY: the fleet's JSON report satisfies the python expression
# over r (the report) and d (this device's row, or {}).
report_has() {
    "$FLEET" report --db "$DB" --json >"$HT_WORK/report.json" 2>/dev/null || return 1
    python3 - "$HT_WORK/report.json" "$SER" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = next((x for x in r.get("devices", []) if x.get("id") == sys.argv[2]), {})
sys.exit(0 if eval(sys.argv[3]) else 1)
PY
}
wait_report() {
    for _ in $(seq 1 150); do report_has "$1" && return 0; sleep 0.2; done
    return 1
}
ht_check "5.10-1 the fleet lists the device online" wait_report 'd.get("status") == "online"'
ht_check "5.10-1 the device's telemetry reports are stored (at least 3)" \
    wait_report 'r["summary"]["telemetry"] >= 3'
ht_check "5.10-1 its security events are stored" wait_report 'r["summary"]["events"] >= 1'
ht_check "the device's state names its application" wait_report '"thermostat" in json.dumps(d)'
ht_check "no message of the real device was rejected" report_has 'r["summary"]["rejected"] == 0'
ht_check "  ... (positive control: the report is the fleet's, with this device in it)" \
    report_has 'd.get("id") == sys.argv[2]'

"$FLEET" announce --db "$DB" --version 9.9.9 --batch 10 --spread 30 --broker "127.0.0.1:$MQ_PORT" \
    --ca "$MQ_CA/ca.crt" --cert "$MQ_WORK/fleet.crt" --key "$MQ_WORK/fleet.key" >"$HT_WORK/announce.out" 2>&1
ht_check "hearth-fleet announces version 9.9.9 to the fleet (its one device)" grep -q "announced 9.9.9 to 1 devices" "$HT_WORK/announce.out"
announced() { grep -q '"event":"update_announced"' "$HT_WORK/dev/events.log"; }
for _ in $(seq 1 100); do announced && break; sleep 0.1; done
ht_check "5.9-3 the device takes the announcement as a hint to check later (security log)" announced
ht_check "hearthd and hearth-fleet are still running" bash -c "kill -0 $HT_PID && kill -0 $FPID"
ht_done
