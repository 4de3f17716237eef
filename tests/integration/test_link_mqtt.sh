#!/usr/bin/env bash
# provisions: 5.5-1 5.5-4 5.5-5 5.5-6 5.8-1 5.8-2 5.13-1
# The real hearthd linked to a real mosquitto (shipped configuration, TLS
# with client certificates) and the fleet service's identity on the other
# side (docs/mqtt.md):
#  - 5.5-1/5.8-1/5.8-2: hearthd connects with mutual TLS (its certificate,
#    the service CA pinned) and publishes its status, state and security
#    events (personal fields removed) only under its own id;
#  - 5.5-4/5.5-5: a command from the fleet identity runs through the API as
#    the service principal (sets the thermostat target, answered); the
#    core's routes (users, setup, password, update install, device info)
#    are refused and recorded;
#  - at-least-once: the same request id sent twice executes once, the
#    duplicate gets the recorded reply;
#  - 5.13-1: malformed and oversized commands are refused and change nothing;
#  - MQTT 3.1.1 with several broker addresses, the first one dead;
#  - sessions: by default a command sent while the device is away runs
#    when it is back; with --mqtt-session clean it is dropped.
# needs: HEARTH_WITH_LINK
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mqtt_lib.sh"
ht_init
ulimit -n 4096 2>/dev/null || true
mq_link_setup dev || { ht_fail "device and broker"; ht_done; }
W=$MQ_WORK
SER=$MQ_SERIAL
# target_is C: the thermostat's target as the local API reports it.
target_is() {
    ht_req GET /api/v1/thermostat "" "$HT_TOKEN"
    python3 -c 'import json,sys; sys.exit(0 if abs(json.loads(sys.argv[1])["target_c"] - float(sys.argv[2])) < 0.01 else 1)' \
        "$HT_BODY" "$1"
}
cmd() { mq_pub "$W/fleet" -t "hearth/$SER/cmd/req" -m "$1"; }

mq_sub_start "$W/fleet" "$W/fleet.out" -t "hearth/+/state" -t "hearth/+/events" -t "hearth/+/cmd/res" \
    -t "hearth/+/status" || { ht_fail "fleet subscribes"; ht_done; }

ht_daemon_start dev "${MQ_LINK_ARGS[@]}" ||
    { ht_fail "hearthd starts"; ht_done; }
ht_setup_admin dev || { ht_fail "setup"; ht_done; }
ht_check "hearthd connects with its certificate and says it is online (retained status)" \
    mq_wait_for "$W/fleet.out" "hearth/$SER/status {\"v\":1,\"online\":true}"
ht_check "hearthd publishes its state under its own id" \
    mq_wait_for "$W/fleet.out" "hearth/$SER/state {\"v\":1,\"seq\":"
ht_check "the state carries the thermostat" \
    bash -c "grep -F 'hearth/$SER/state' '$W/fleet.out' | grep -q '\"apps\":{\"thermostat\":{\"current_c\"'"

# ----------------------------------------------------------- commands
cmd '{"v":1,"id":"set-1","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":23.5}}'
ht_check "a command from the fleet identity is answered 200" \
    mq_wait_for "$W/fleet.out" "hearth/$SER/cmd/res {\"v\":1,\"seq\":"
ht_check "... with its request id, status and the API's body" \
    bash -c "grep -F 'cmd/res' '$W/fleet.out' | grep -F '\"id\":\"set-1\",\"status\":200' | grep -F '\"target_c\":23.50' | grep -qF '\"duplicate\":false'"
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW"
ht_check "the target changed on the device (local API)" target_is 23.5
ht_check "the execution is in the security log with its request id" \
    grep -q '"event":"command_executed".*"id":"set-1"' "$HT_WORK/dev/events.log"

# The same request id again (at-least-once redelivery) after a local change:
# the recorded reply, not a second execution.
ht_req PUT /api/v1/thermostat '{"target_c":19}' "$HT_TOKEN"
cmd '{"v":1,"id":"set-1","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":23.5}}'
# (Wait for the duplicate's own reply: the first reply matches everything
# but the duplicate flag.)
ht_check "a duplicate request id is answered with the recorded reply, marked duplicate" \
    mq_wait_for "$W/fleet.out" '"duplicate":true'
ht_check "... duplicate:true" bash -c "grep -F '\"id\":\"set-1\"' '$W/fleet.out' | grep -qF '\"duplicate\":true'"
ht_check "the duplicate did not execute again (target stays 19)" target_is 19
ht_check "executed exactly once" test "$(grep -c '"event":"command_executed".*"id":"set-1"' "$HT_WORK/dev/events.log")" = 1

# ------------------------------------------------------ forbidden routes
n=0
for spec in 'POST /api/v1/users {"username":"evil","password":"correct horse battery staple 9","role":"admin"}' \
            'POST /api/v1/setup {"setup_password":"x","username":"a","password":"b"}' \
            'POST /api/v1/password {"old_password":"x","new_password":"correct horse battery staple 9"}' \
            'POST /api/v1/updates/install {}' \
            'GET /api/v1/device' 'GET /api/v1/events'; do
    n=$((n + 1))
    read -r m p b <<<"$spec"
    if [ -n "${b:-}" ]; then body=",\"body\":$b"; else body=""; fi
    cmd "{\"v\":1,\"id\":\"forbid-$n\",\"method\":\"$m\",\"path\":\"$p\"$body}"
    ht_check "service command $m $p is refused 403" mq_wait_for "$W/fleet.out" "\"id\":\"forbid-$n\",\"status\":403"
    ht_check "... and recorded (command_refused)" \
        grep -q "\"event\":\"command_refused\".*\"id\":\"forbid-$n\"" "$HT_WORK/dev/events.log"
done
ht_req GET /api/v1/users "" "$HT_TOKEN"
ht_check "no account was created" bash -c "! grep -q evil '$HT_WORK/last.body'"
ht_check "the refusal reached the service as a security event" \
    mq_wait_for "$W/fleet.out" "\"event\":\"command_refused\",\"id\":\"forbid-1\""

# ---------------------------------------------------- malformed commands
cmd '{"v":1,"id":"bad-1","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":99}}'
ht_check "a schema violation in the body is refused 422 by the API" mq_wait_for "$W/fleet.out" '"id":"bad-1","status":422'
cmd '{"v":1,"id":"bad-2","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":25},"extra":1}'
ht_check "an unknown member is refused 400" mq_wait_for "$W/fleet.out" '"id":"bad-2","status":400'
cmd '{"v":1,"id":"bad-3","id":"bad-3","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":25}}'
ht_check "a duplicate member is refused" grep -q '"command_refused","id":"bad-3"' <(sleep 1; cat "$HT_WORK/dev/events.log" | sed 's/"event":/"/;s/"severity":"[a-z]*",//')
cmd '{"v":2,"id":"bad-4","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":25}}'
ht_check "a wrong version is refused 400" mq_wait_for "$W/fleet.out" '"id":"bad-4","status":400'
cmd '{"v":1,"id":"bad-5","method":"PUT","path":"/api/v1/../v1/thermostat","body":{"target_c":25}}'
ht_check "a non-canonical path is refused 400" mq_wait_for "$W/fleet.out" '"id":"bad-5","status":400'
big=$(python3 -c 'print("{\"v\":1,\"id\":\"bad-6\",\"method\":\"PUT\",\"path\":\"/api/v1/thermostat\",\"body\":{\"target_c\":25,\"pad\":\"" + "x"*9000 + "\"}}")')
cmd "$big"
ht_check "an oversized command is refused" \
    bash -c "for i in \$(seq 1 100); do grep -q '\"event\":\"command_refused\".*over 8192' '$HT_WORK/dev/events.log' && exit 0; sleep 0.05; done; exit 1"
cmd 'not json at all'
cmd '{"v":1,"id":"bad id!","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":25}}'
sleep 1
ht_check "no malformed command changed anything (target stays 19)" target_is 19

# ------------------------------------------------------------- events
ht_req POST /api/v1/login '{"username":"admin","password":"wrong password for the test"}'
ht_check "a failed login reaches the service as an event" mq_wait_for "$W/fleet.out" '"event":"login_failed"'
ht_check "... without the user name or the client address" \
    bash -c "grep -F '\"event\":\"login_failed\"' '$W/fleet.out' | grep -v -e '\"user\"' -e '\"source\"' -e '127.0.0.1' | grep -q ."

# ------------------------------------------- MQTT 3.1.1, several brokers
ht_daemon_stop
ht_check "a clean stop says offline (retained status)" \
    mq_wait_for "$W/fleet.out" "hearth/$SER/status {\"v\":1,\"online\":false}"
DEAD=$(mq_free_port)
: >"$HT_WORK/dev.hearthd.err"
ht_daemon_start dev --mqtt-broker "127.0.0.1:$DEAD" --mqtt-broker "127.0.0.1:$MQ_PORT" \
    --mqtt-ca "$MQ_CA/ca.crt" --mqtt-protocol 3.1.1 --mqtt-first-delay-max 0 ||
    { ht_fail "hearthd restarts"; ht_done; }
ht_check "MQTT 3.1.1: the dead first broker is skipped, the second one connects" \
    bash -c "for i in \$(seq 1 200); do grep -q 'connected to 127.0.0.1:$MQ_PORT' '$HT_WORK/dev.hearthd.err' && exit 0; sleep 0.05; done; exit 1"
ht_check "... after trying the first one" grep -q "connecting to 127.0.0.1:$DEAD" "$HT_WORK/dev.hearthd.err"
cmd '{"v":1,"id":"v311-1","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":21}}'
ht_check "MQTT 3.1.1: a command is executed and answered" mq_wait_for "$W/fleet.out" '"id":"v311-1","status":200'
ht_check "the request-id memory survived the restart (set-1 is still a duplicate)" \
    bash -c "mosquitto_pub ${MQ_ARGS[*]} --cert '$W/fleet.crt' --key '$W/fleet.key' -q 1 -t 'hearth/$SER/cmd/req' -m '{\"v\":1,\"id\":\"set-1\",\"method\":\"PUT\",\"path\":\"/api/v1/thermostat\",\"body\":{\"target_c\":23.5}}' 2>/dev/null; sleep 1.5; test \$(grep -F '\"id\":\"set-1\"' '$W/fleet.out' | grep -cF '\"duplicate\":true') -ge 2"
ht_check "... and the target is the 3.1.1 command's (21), not set-1's" target_is 21

# ------------------------------------------- sessions: persistent and clean
# restart_link [ARGS]: stop hearthd, send the command AWAY_ID while it is
# away, start it again (MQTT 5) with ARGS until it is connected.
restart_link() {
    ht_daemon_stop
    mq_wait_for "$W/fleet.out" "hearth/$SER/status {\"v\":1,\"online\":false}" || true
    cmd "{\"v\":1,\"id\":\"$AWAY_ID\",\"method\":\"PUT\",\"path\":\"/api/v1/thermostat\",\"body\":{\"target_c\":$AWAY_C}}"
    : >"$HT_WORK/dev.hearthd.err"
    ht_daemon_start dev "${MQ_LINK_ARGS[@]}" "$@" || return 1
    local i
    for i in $(seq 1 200); do grep -q 'connected to 127.0.0.1' "$HT_WORK/dev.hearthd.err" && return 0; sleep 0.05; done
    return 1
}
AWAY_ID=away-1 AWAY_C=19.5
restart_link || { ht_fail "hearthd restarts (persistent session)"; ht_done; }
ht_check "persistent session (default): a command sent while the device was away runs when it is back" \
    mq_wait_for "$W/fleet.out" '"id":"away-1","status":200'
ht_check "... and set the target (19.5)" target_is 19.5
# The first clean connection ends the persistent session; the second shows
# what clean means: nothing was kept while the device was away.
AWAY_ID=away-2 AWAY_C=18
restart_link --mqtt-session clean || { ht_fail "hearthd restarts (clean session)"; ht_done; }
AWAY_ID=away-3 AWAY_C=17
restart_link --mqtt-session clean || { ht_fail "hearthd restarts (clean session, again)"; ht_done; }
cmd '{"v":1,"id":"clean-1","method":"PUT","path":"/api/v1/thermostat","body":{"target_c":22.5}}'
ht_check "--mqtt-session clean: a command sent while connected runs" \
    mq_wait_for "$W/fleet.out" '"id":"clean-1","status":200'
ht_check "... one sent while the device was away does not (the broker kept no session)" \
    bash -c "! grep -qF '\"id\":\"away-3\"' '$W/fleet.out'"
ht_check "... and the target is clean-1's (22.5)" target_is 22.5
ht_check "an invalid --mqtt-session value is refused" \
    bash -c "! '$HEARTHD' --state '$HT_WORK/dev' --mqtt-session sometimes 2>/dev/null"
ht_done
