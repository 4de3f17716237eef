#!/usr/bin/env bash
# provisions: 5.9-3
# needs: HEARTH_FLEET
# Announcing an update in batches with a spread (EN 303 645 5.9-3 example 2;
# docs/fleet.md "Announcing an update"): 7 devices known to hearth-fleet
# (they reported through a real mosquitto with mutual TLS), each listening
# on its own hearth/<id>/updates with its own certificate. `hearth-fleet
# announce --batch 3 --spread 60` must:
#  - reach every known device exactly once, at QoS 1, with the version;
#  - put them in batches of 3: delay_s 0 for 3 devices, 60 for 3, 120 for 1,
#    and spread_s 60 for all, so the repository sees about 3 checks a minute;
#  - record the announcement per device and as a whole in the database.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
source "$(dirname "$0")/fleet_lib.sh"

fl_ca || exit 1
devs=(d1 d2 d3 d4 d5 d6 d7)
for d in "${devs[@]}"; do fl_device_cert "$d" || exit 1; done
fl_broker_start || exit 1
fl_fleet_start --batch 1 || exit 1
for d in "${devs[@]}"; do fl_pub "$d" status '{"v":1,"online":true}'; done
fl_wait "r['summary']['devices'] == 7" || ht_fail "the devices were not ingested: $FL_REPORT"

pids=()
for d in "${devs[@]}"; do
    # shellcheck disable=SC2046
    mosquitto_sub $(fl_tls_args "$d") -i "$d-link" -q 1 -t "hearth/$d/updates" -C 1 -W 20 \
        >"$HT_WORK/$d.updates" 2>&1 &
    pids+=($!)
done
sleep 1 # subscriptions in place
out=$("$FLEET" announce --db "$FL_DB" --version 2.0.0 --batch 3 --spread 60 \
    --broker "127.0.0.1:$FL_BROKER_PORT" --ca "$FL_SVC/ca.crt" --cert "$FL_SVC/fleet.crt" \
    --key "$FL_SVC/fleet.key" 2>&1)
ht_check "announce reports 7 devices in 3 batches: $out" grep -q "to 7 devices in 3 batches of 3, 60 s apart" <<<"$out"
wait "${pids[@]}" 2>/dev/null
got=$(for d in "${devs[@]}"; do cat "$HT_WORK/$d.updates"; echo; done)
delays=$(python3 -c '
import json, sys
msgs = [json.loads(l) for l in sys.stdin.read().split("\n") if l.strip()]
assert all(m["v"] == 1 and m["version"] == "2.0.0" and m["spread_s"] == 60 for m in msgs), msgs
print(len(msgs), sorted(m["delay_s"] for m in msgs))' <<<"$got" 2>&1)
ht_check "each device got one announcement of 2.0.0 with spread 60; delays by batch: $delays" \
    test "$delays" = "7 [0, 0, 0, 60, 60, 60, 120]"
ht_check "the database records the version and delay per device" \
    test "$(sqlite3 "$FL_DB" "SELECT count(*), count(DISTINCT announced_delay_s) FROM devices WHERE announced_version='2.0.0'")" = "7|3"
ht_check "... and the announcement" \
    test "$(sqlite3 "$FL_DB" "SELECT version, batch, spread_s, devices, batches FROM announcements")" = "2.0.0|3|60|7|3"
ht_check "a version outside the allowed characters is refused" \
    bash -c '! "$1" announce --db "$2" --version "2.0;rm" --batch 3 --spread 60 --dry-run 2>/dev/null' _ "$FLEET" "$FL_DB"
ht_done
