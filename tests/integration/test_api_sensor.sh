#!/usr/bin/env bash
# provisions: 5.13-1 5.9-1
# The thermostat behind the API validates what its sensor reports: readings
# outside the sensor's physical range (or garbage) are discarded, the last
# good value stays in effect, and each rejection is a security event visible
# in events.log and to the admin through GET /api/v1/events. The control loop
# keeps running (heartbeat file advances) whether or not anyone uses the API.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev
sensor="$HT_WORK/sensor"; beat="$HT_WORK/heartbeat"
echo "18.5" >"$sensor"
ht_daemon_start dev --port-option "temperature_file=$sensor" --heartbeat "$beat"
ht_setup_admin dev || { ht_fail "setup"; ht_done; }
T=$HT_ADMIN_TOKEN

current() { ht_req GET /api/v1/thermostat "" "$T"; ht_json current_c; }
wait_current() { # VALUE: poll up to 5 s
    for _ in $(seq 1 50); do
        [ "$(current)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_current 18.5 && ht_pass "sensor reading 18.5 shown by the API" || ht_fail "current_c=$(current), want 18.5"

for bad in 150 -60 1e9 nan inf "hot" "" "21.0junk"; do
    printf '%s\n' "$bad" >"$sensor.tmp" && mv "$sensor.tmp" "$sensor"
    sleep 0.8
    c=$(current)
    [ "$c" = 18.5 ] && ht_pass "reading '$bad' discarded (current stays 18.5)" || ht_fail "reading '$bad' accepted: current_c=$c"
done
echo "22.25" >"$sensor.tmp" && mv "$sensor.tmp" "$sensor"
wait_current 22.25 && ht_pass "a valid reading is taken again" || ht_fail "current_c=$(current), want 22.25"

n=$(grep -c '"event":"sensor_reading_rejected"' "$HT_WORK/dev/events.log" || true)
[ "$n" -ge 1 ] && ht_pass "rejected readings logged as security events ($n lines)" || ht_fail "no sensor_reading_rejected in events.log"
ht_req GET "/api/v1/events?limit=64" "" "$T"
case "$HT_BODY" in *sensor_reading_rejected*) ht_pass "rejections visible through GET /api/v1/events" ;;
    *) ht_fail "events API lacks sensor_reading_rejected" ;; esac

b1=$(cut -d' ' -f1 "$beat" 2>/dev/null); sleep 1.2; b2=$(cut -d' ' -f1 "$beat" 2>/dev/null)
[ -n "$b1" ] && [ -n "$b2" ] && [ "$b2" -gt "$b1" ] && ht_pass "control loop heartbeat advances ($b1 -> $b2)" ||
    ht_fail "heartbeat did not advance: '$b1' -> '$b2'"
kill -0 "$HT_PID" && ht_pass "daemon alive" || ht_fail "daemon died"
ht_done
