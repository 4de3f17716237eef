#!/usr/bin/env bash
# provisions: 5.11-1 5.1-1 5.1-4
# Erasure through the local API and the reset button, with the real hearthd
# over TLS (docs/erasure.md):
#  - an admin forces a user's sessions out (POST /api/v1/users/{name}/logout);
#  - erasing a user removes the account and its sessions; the last admin
#    cannot be erased (409, nothing changes);
#  - a factory reset needs the caller's own password (a wrong one: 403,
#    nothing erased) and the confirmation text; then the device restarts in
#    factory default: users, sessions and the event log are gone, the old
#    admin password does not work, the label's setup password sets it up
#    again;
#  - the reset button (the sim port's button_file) does the same.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev
button="$HT_WORK/button/press"
mkdir -p "$HT_WORK/button"
ht_own "$HT_WORK/button"
ht_daemon_start dev --port-option "button_file=$button"
ht_setup_admin dev || { ht_fail "setup"; ht_done; }
admin=$HT_ADMIN_TOKEN
spw=$(ht_label_field dev setup_password)
upw="another long passphrase 42"

# --- a second user, logged in twice; the admin forces them out.
ht_req POST /api/v1/users "{\"username\":\"alice\",\"password\":\"$upw\",\"role\":\"user\"}" "$admin"
ht_expect_status 201 "admin adds alice"
ht_login alice "$upw" && t1=$HT_TOKEN || ht_fail "alice logs in"
ht_login alice "$upw" && t2=$HT_TOKEN || ht_fail "alice logs in again"
ht_req POST /api/v1/users/alice/logout "" "$t1"
ht_expect_status 403 "a user cannot force sessions out"
ht_req POST /api/v1/users/alice/logout "" "$admin"
ht_expect_status 200 "admin forces alice's sessions out"
[ "$(ht_json revoked)" = 2 ] && ht_pass "both sessions revoked" || ht_fail "revoked: $HT_BODY"
ht_req GET /api/v1/device "" "$t2"
ht_expect_status 401 "alice's session no longer works"
ht_req POST /api/v1/users/nobody/logout "" "$admin"
ht_expect_status 404 "forcing out an unknown user: 404"

# --- erase one user.
ht_login alice "$upw" && t3=$HT_TOKEN || ht_fail "alice logs in once more"
ht_req DELETE /api/v1/users/alice "" "$admin"
ht_expect_status 200 "admin erases alice"
[ "$(ht_json erased)" = '["account", "sessions", "application_data", "core_data"]' ] &&
    ht_pass "erasure lists what went" || ht_fail "erase body: $HT_BODY"
ht_req GET /api/v1/device "" "$t3"
ht_expect_status 401 "the erased user's session is gone"
ht_req POST /api/v1/login "{\"username\":\"alice\",\"password\":\"$upw\"}"
ht_expect_status 401 "the erased user cannot log in"
ht_req DELETE /api/v1/users/admin "" "$admin"
ht_expect_status 409 "the last admin cannot be erased"
ht_req GET /api/v1/users "" "$admin"
case "$HT_BODY" in *'"admin"'*) ht_pass "the last admin is still there" ;; *) ht_fail "users: $HT_BODY" ;; esac

# --- factory reset: refusals change nothing.
ht_req POST /api/v1/factory-reset '{"password":"wrong password here","confirm":"factory reset"}' "$admin"
ht_expect_status 403 "factory reset with a wrong password refused"
ht_req POST /api/v1/factory-reset "{\"password\":\"$HT_ADMIN_PW\",\"confirm\":\"yes\"}" "$admin"
ht_expect_status 422 "factory reset without the confirmation text refused"
ht_req POST /api/v1/factory-reset "{\"password\":\"$HT_ADMIN_PW\",\"confirm\":\"factory reset\"}"
ht_expect_status 401 "factory reset without a session refused"
ht_req GET /api/v1/users "" "$admin"
ht_expect_status 200 "still set up after the refusals"

# --- factory reset.
ht_req POST /api/v1/users "{\"username\":\"bob\",\"password\":\"$upw\",\"role\":\"user\"}" "$admin"
ht_expect_status 201 "admin adds bob"
grep -q '"user":"bob"' "$HT_WORK/dev/events.log" && ht_pass "the event log names bob before the reset" ||
    ht_fail "no bob in the event log"
ht_req POST /api/v1/factory-reset "{\"password\":\"$HT_ADMIN_PW\",\"confirm\":\"factory reset\"}" "$admin"
ht_expect_status 202 "factory reset accepted"
[ "$(ht_json reset)" = true ] && ht_pass "reply says reset" || ht_fail "reset body: $HT_BODY"
pid=$HT_PID
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" 2>/dev/null
rc=$?
[ "$rc" = 75 ] && ht_pass "hearthd exits with the restart code (75) after the reset" ||
    ht_fail "hearthd exit status $rc after the reset"
[ ! -e "$HT_WORK/dev/reset.new" ] && ht_pass "no staging directory left" || ht_fail "reset.new left"
grep -q 'bob\|alice' "$HT_WORK/dev/events.log" 2>/dev/null &&
    ht_fail "the event log still names users" || ht_pass "the old event log is gone"

ht_daemon_start dev --port-option "button_file=$button"
ht_req GET /api/v1/device "" "$admin"
ht_expect_status 409 "after the reset: factory default (the old session is gone)"
ht_req POST /api/v1/login "{\"username\":\"admin\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 409 "after the reset: the old admin password does not log in"
ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"carol\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 200 "the label's setup password sets the device up again"
ht_login carol "$HT_ADMIN_PW" && carol=$HT_TOKEN || ht_fail "new owner logs in"
ht_req GET /api/v1/users "" "$carol"
if [ "$HT_STATUS" = 200 ] && [ "$(ht_json users)" = '[{"username": "carol", "role": "admin"}]' ]; then
    ht_pass "the new owner is the only user"
else
    ht_fail "users after reset: $HT_STATUS $HT_BODY"
fi
ht_req POST /api/v1/login "{\"username\":\"admin\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 401 "the old admin account does not exist any more"

# --- the reset button (physical presence) resets too.
pid=$HT_PID
: >"$button"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" 2>/dev/null
rc=$?
[ "$rc" = 75 ] && ht_pass "button press: hearthd reset and exited with the restart code" ||
    ht_fail "button press: exit status $rc"
ht_daemon_start dev
ht_req POST /api/v1/login "{\"username\":\"carol\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 409 "after the button reset: factory default"
ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"dave\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 200 "after the button reset: the setup password works"
ht_done
