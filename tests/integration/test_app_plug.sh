#!/usr/bin/env bash
# provisions: 5.13-1
# needs: HEARTH_WITH_EXAMPLES
# The second application on the core: a smart plug (apps/plug) built as its
# own program, hearth-plugd (the device runtime with the plug application on
# the sim port), started as a separate process on loopback TLS. The sim
# port's files are the hardware: relay_file shows the relay, load_w is the
# load it switches, button_file is the factory-reset button.
#  - GET/PUT /api/v1/plug switch the relay (the relay file follows) and report
#    the power through the port, GET /api/v1/apps shows its state summary; the state survives a restart and start
#    applies it to the relay again; the power-on setting (admin only, PUT
#    /api/v1/plug/settings) decides what a start does.
#  - Invalid bodies (5.13-1) are refused with a 4xx and change nothing, in
#    the API or in the relay; without a session every route answers 401; a
#    plain user may switch but not change the settings (403).
#  - The thermostat's routes do not exist on the plug (404), and the plug's
#    do not exist on hearthd (404): neither application is in the core.
#    hearthd runs on the same sim port and switches the port's heater.
#  - Pressing the factory-reset button resets the plug as it does hearthd
#    (docs/erasure.md): one factory_reset event by the button, the restart
#    exit code, relay off, factory default afterwards.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
THERMOSTATD=$HEARTHD
HEARTHD=$(ht_bin hearth-plugd) || exit 1
relay="$HT_WORK/relay"; button="$HT_WORK/button"
PORT_OPTS=(--port-option "relay_file=$relay" --port-option "button_file=$button"
           --port-option load_w=42.5)

ht_admin_device plug "${PORT_OPTS[@]}"
T=$HT_ADMIN_TOKEN
grep -q '^hearth-plugd: listening on https://127.0.0.1:' "$HT_WORK/plug.hearthd.out" &&
    ht_pass "hearth-plugd is up and set up (admin logged in)" || ht_fail "no hearth-plugd ready line"

relay_is() { [ "$(cat "$relay" 2>/dev/null)" = "$1" ]; }
plug_field() { ht_req GET /api/v1/plug "" "$T"; ht_json "$1"; }

# --- a new plug: off, and start drove the relay off ---------------------------
ht_req GET /api/v1/plug "" "$T"
ht_expect_status 200 "GET /api/v1/plug"
[ "$(ht_json on)" = false ] && [ "$(ht_json power_w)" = 0.0 ] && [ "$(ht_json power_on)" = last ] &&
    ht_pass "new plug: off, 0 W, power_on last ($HT_BODY)" || ht_fail "new plug state: $HT_BODY"
relay_is 0 && ht_pass "start drove the relay off through the port" || ht_fail "relay file: '$(cat "$relay" 2>&1)'"

# --- switching ----------------------------------------------------------------
ht_req PUT /api/v1/plug '{"on":true}' "$T"
ht_expect_status 200 "PUT on"
[ "$(ht_json on)" = true ] && [ "$(ht_json power_w)" = 42.5 ] &&
    ht_pass "on: the API reports the simulated load 42.5 W" || ht_fail "after on: $HT_BODY"
relay_is 1 && ht_pass "relay switched on" || ht_fail "relay not on: '$(cat "$relay" 2>&1)'"
ht_req GET /api/v1/apps "" "$T"
apps=$(python3 -c 'import json,sys; print(" ".join(a["name"] + ":" + json.dumps(a["state"]["on"]) for a in json.loads(sys.argv[1])["apps"]))' "$HT_BODY" 2>/dev/null)
[ "$HT_STATUS" = 200 ] && [ "$apps" = "plug:true" ] &&
    ht_pass "GET /api/v1/apps: the plug is the one application, its summary says on" ||
    ht_fail "GET /api/v1/apps: $HT_STATUS $HT_BODY"

# --- hostile input: 4xx, nothing changes (5.13-1) ------------------------------
bad_bodies=('{"on":"false"}' '{"on":0}' '{"on":null}' '{}' '{"on":false,"extra":1}'
            '{"on":false,"on":false}' '{"on":[false]}' 'on=false' '{"on":false' '[false]'
            '{"ON":false}')
for b in "${bad_bodies[@]}"; do
    ht_req PUT /api/v1/plug "$b" "$T"
    case "$HT_STATUS" in 4??) ht_pass "body $b refused (HTTP $HT_STATUS)" ;;
        *) ht_fail "body $b: HTTP $HT_STATUS $HT_BODY" ;; esac
done
HT_STATUS=$(ht_curl -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $T" \
    -H 'Content-Type: text/plain' --data-binary '{"on":false}' "$HT_URL/api/v1/plug" 2>/dev/null)
ht_expect_status 415 "a body that is not application/json"
[ "$(plug_field on)" = true ] && relay_is 1 &&
    ht_pass "after the refused bodies the plug is still on (API and relay)" ||
    ht_fail "a refused body changed the plug: on=$(plug_field on) relay=$(cat "$relay")"
for b in '{"power_on":"sometimes"}' '{"power_on":"LAST"}' '{"power_on":1}' '{}' \
         '{"power_on":"on","on":true}'; do
    ht_req PUT /api/v1/plug/settings "$b" "$T"
    case "$HT_STATUS" in 4??) ht_pass "settings $b refused (HTTP $HT_STATUS)" ;;
        *) ht_fail "settings $b: HTTP $HT_STATUS $HT_BODY" ;; esac
done
[ "$(plug_field power_on)" = last ] && ht_pass "power_on still last" || ht_fail "power_on changed"

# --- authentication and roles ---------------------------------------------------
for r in "GET /api/v1/plug" "PUT /api/v1/plug" "PUT /api/v1/plug/settings"; do
    ht_req ${r% *} ${r#* } '{"on":false}' ""
    ht_expect_status 401 "$r without a session"
    ht_req ${r% *} ${r#* } '{"on":false}' "not-a-token"
    ht_expect_status 401 "$r with a forged token"
done
relay_is 1 && [ "$(plug_field on)" = true ] && ht_pass "unauthenticated requests changed nothing" ||
    ht_fail "an unauthenticated request switched the plug"
USER_PW="plain user passphrase 42"
ht_req POST /api/v1/users "{\"username\":\"bob\",\"password\":\"$USER_PW\",\"role\":\"user\"}" "$T"
ht_expect_status 201 "admin adds a plain user"
ht_login bob "$USER_PW" && U=$HT_TOKEN && ht_pass "plain user logged in" || { ht_fail "user login"; U=x; }
ht_req PUT /api/v1/plug/settings '{"power_on":"off"}' "$U"
ht_expect_status 403 "a plain user may not change the power-on setting"
[ "$(plug_field power_on)" = last ] && ht_pass "the 403 changed nothing" || ht_fail "403 changed the setting"
ht_req PUT /api/v1/plug '{"on":false}' "$U"
ht_expect_status 200 "a plain user may switch the plug"
relay_is 0 && ht_pass "relay off after the user's switch" || ht_fail "relay not off"
ht_req PUT /api/v1/plug '{"on":true}' "$U"
ht_expect_status 200 "plain user switches it on again"

# --- the thermostat is not part of this device -------------------------------------
for m in GET PUT; do
    ht_req $m /api/v1/thermostat '{"target_c":21}' "$T"
    ht_expect_status 404 "$m /api/v1/thermostat on the plug"
done

# --- restarts: the state is kept and applied again ---------------------------------------
ht_daemon_stop
[ "$HT_EXIT" = 0 ] && ht_pass "hearth-plugd stopped cleanly" || ht_fail "exit status $HT_EXIT"
relay_is 0 && ht_pass "stop switched the relay off" || ht_fail "relay left '$(cat "$relay")' after stop"
ht_daemon_start plug "${PORT_OPTS[@]}" || { ht_fail "restart"; ht_done; }
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && T=$HT_TOKEN
[ "$(plug_field on)" = true ] && relay_is 1 &&
    ht_pass "after a restart the plug is on again (stored state, relay driven)" ||
    ht_fail "after restart: $(plug_field on), relay $(cat "$relay")"
ht_req PUT /api/v1/plug '{"on":false}' "$T"
ht_daemon_stop
ht_daemon_start plug "${PORT_OPTS[@]}" || { ht_fail "restart"; ht_done; }
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && T=$HT_TOKEN
[ "$(plug_field on)" = false ] && [ "$(plug_field power_w)" = 0.0 ] && relay_is 0 &&
    ht_pass "switched off before a restart: off after it" || ht_fail "off did not persist: $HT_BODY"
ht_req PUT /api/v1/plug/settings '{"power_on":"on"}' "$T"
ht_expect_status 200 "admin sets power_on to on"
ht_daemon_stop
ht_daemon_start plug "${PORT_OPTS[@]}" || { ht_fail "restart"; ht_done; }
ht_login "$HT_ADMIN_USER" "$HT_ADMIN_PW" && T=$HT_TOKEN
[ "$(plug_field on)" = true ] && [ "$(plug_field power_on)" = on ] && relay_is 1 &&
    ht_pass "power_on=on: the plug starts on although it was off" || ht_fail "power_on=on ignored: $HT_BODY"

# --- the factory-reset button (the sim port's button_file) ----------------------------
# On the plug as on hearthd, a press is physical presence: the device resets
# (docs/erasure.md) and exits with the restart code, relay off.
if grep -q '"factory_reset"' "$HT_WORK/plug/events.log"; then
    ht_fail "a reset event before the button was pressed"
else
    ht_pass "no reset event before the press"
fi
pid=$HT_PID
: >"$button"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
[ ! -e "$button" ] && ht_pass "the port took the press (button file consumed)" || ht_fail "button never read"
wait "$pid" 2>/dev/null
rc=$?
[ "$rc" = 75 ] && ht_pass "the press reset hearth-plugd, which exited with the restart code" ||
    ht_fail "after the press: exit status $rc"
relay_is 0 && ht_pass "the reset left the relay off" || ht_fail "relay left '$(cat "$relay")' by the reset"
n=$(grep -c '"factory_reset".*"via":"button"' "$HT_WORK/plug/events.log" || true)
[ "$n" = 1 ] && ht_pass "one press, one factory_reset event (by the button) in the fresh log" ||
    ht_fail "factory_reset events by the button: $n"
ht_daemon_start plug "${PORT_OPTS[@]}" || { ht_fail "restart after the reset"; ht_done; }
ht_req POST /api/v1/login "{\"username\":\"$HT_ADMIN_USER\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 409 "after the button reset the plug is in factory default"
relay_is 0 && ht_pass "... and its relay stays off" || ht_fail "relay '$(cat "$relay")' after the reset"
ht_daemon_stop

# --- the plug's routes are not in hearthd either --------------------------------------------
# hearthd runs on the same sim port: its heater is the port's heater channel.
HEARTHD=$THERMOSTATD
heater="$HT_WORK/heater"
ht_admin_device thermo --port-option "heater_file=$heater"
ht_req GET /api/v1/thermostat "" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "hearthd serves its thermostat (positive control)"
ht_req GET /api/v1/plug "" "$HT_ADMIN_TOKEN"
ht_expect_status 404 "GET /api/v1/plug on hearthd"
heater_is() { # VALUE: poll up to 5 s
    for _ in $(seq 1 50); do [ "$(cat "$heater" 2>/dev/null)" = "$1" ] && return 0; sleep 0.1; done
    return 1
}
# The simulated room starts at 18 C and never reaches 30 C within the test.
ht_req PUT /api/v1/thermostat '{"target_c":30,"mode":"heat"}' "$HT_ADMIN_TOKEN"
ht_expect_status 200 "thermostat target 30 C"
heater_is 1 && ht_pass "hearthd heats the simulated room through the port's heater" ||
    ht_fail "heater file '$(cat "$heater" 2>&1)' after target 30"
ht_req PUT /api/v1/thermostat '{"mode":"off"}' "$HT_ADMIN_TOKEN"
ht_expect_status 200 "thermostat mode off"
heater_is 0 && ht_pass "mode off switches the port's heater off" || ht_fail "heater still '$(cat "$heater")'"
ht_done
