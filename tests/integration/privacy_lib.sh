# Helpers of the privacy tests (test_privacy_*.sh): a real hearthd linked to
# a real mosquitto (shipped ACL, mutual TLS) with the real `hearth-fleet run`
# as the service, and a mosquitto_sub with the service's identity as an
# independent observer of hearth/+/privacy and hearth/+/state.
# Sourced after lib.sh and mqtt_lib.sh.

# pv_start [hearthd options...]: broker, fleet, observer, device set up with
# the admin account. Sets SER, DB, FLEET, FPID, OBS.
pv_start() {
    mq_link_setup dev || { ht_fail "device and broker"; ht_done; }
    FLEET=$(ht_bin hearth-fleet) || { ht_fail "hearth-fleet not built"; ht_done; }
    SER=$MQ_SERIAL
    DB=$HT_WORK/fleet.db
    pv_fleet_start
    OBS=$HT_WORK/observer.out
    mq_sub_start "$MQ_WORK/fleet" "$OBS" -t 'hearth/+/privacy' -t 'hearth/+/state' ||
        { ht_fail "observer subscribes"; ht_done; }
    ht_daemon_start dev "${MQ_LINK_ARGS[@]}" "$@" || { ht_fail "hearthd starts"; ht_done; }
    ht_setup_admin dev || { ht_fail "setup"; ht_done; }
}

# pv_fleet_start: `hearth-fleet run` (persistent session) trusting the
# manufacturer CA's device certificates for erase requests.
pv_fleet_start() {
    "$FLEET" run --db "$DB" --broker "127.0.0.1:$MQ_PORT" --ca "$MQ_CA/ca.crt" --cert "$MQ_WORK/fleet.crt" \
        --key "$MQ_WORK/fleet.key" --device-ca "$HT_WORK/ca/ca.crt" 2>>"$HT_WORK/fleet.err" &
    FPID=$!
    HT_PIDS+=("$FPID")
    local n m
    n=$(grep -c "subscribed" "$HT_WORK/fleet.err" 2>/dev/null || true)
    for _ in $(seq 1 200); do # 20 s: a loaded machine (CI runs two tests at once)
        m=$(grep -c "subscribed" "$HT_WORK/fleet.err" 2>/dev/null || true)
        [ "${m:-0}" -gt "${n:-0}" ] && return 0
        sleep 0.1
    done
    ht_fail "hearth-fleet connects and subscribes"
}

# pv_sql QUERY: one value from the fleet's database.
pv_sql() { sqlite3 -readonly "$DB" "$1" 2>/dev/null; }

# pv_obs_privacy TYPE: the observer's privacy messages of that type, one a line.
pv_obs_privacy() { mq_sub_messages "$OBS" | grep "^hearth/$SER/privacy " | grep -F "\"type\":\"$1\""; }

# pv_wait CMD...: until CMD succeeds (20 s, however long each try takes).
pv_wait() {
    local end=$((SECONDS + 20))
    while [ "$SECONDS" -le "$end" ]; do "$@" && return 0; sleep 0.1; done
    return 1
}

# pv_jq FILTER [JSON]: jq -e FILTER on HT_BODY (or JSON); its status is the
# filter's truth (jq starts in milliseconds where python3 takes seconds on a
# loaded machine).
pv_jq() { printf '%s' "${2:-$HT_BODY}" | jq -e "$1" >/dev/null 2>&1; }
# pv_val FIELD: one top-level field of HT_BODY as text.
pv_val() { printf '%s' "$HT_BODY" | jq -r ".$1 // empty" 2>/dev/null; }
