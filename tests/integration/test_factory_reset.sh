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
#  - the reset button (the sim port's button_file) does the same;
#  - the security log's personal fields are crypto-erased (docs/security-log.md):
#    user names and the client address are served by GET /api/v1/events
#    before the reset but never stand in clear in events.log, and after the
#    reset neither the device's new store nor any 32-byte window of any file
#    left in the state directory (as the field key or as the store secret it
#    comes from) opens a sealed field of a copy of the old log, which the
#    device's key opened before the reset (reset_driver tryevents).
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
# Personal fields: served opened by the API, sealed in the file.
LOG="$HT_WORK/dev/events.log"
ht_event_served "$admin" user_added user bob && ht_pass "the events API names bob before the reset" ||
    ht_fail "no user_created for bob in the events API: $HT_BODY"
ht_event_served "$admin" login source 127.0.0.1 &&
    ht_pass "the events API gives the client address of a login (127.0.0.1)" ||
    ht_fail "no login from 127.0.0.1 in the events API: $HT_BODY"
# WHEN: events.log holds no user name or client address in clear (the
# daemon's own listening address, the same 127.0.0.1 here, is no client's).
no_clear() {
    local hit
    hit=$(grep -v '"event":"daemon_started","listen":"127.0.0.1"' "$LOG" 2>/dev/null |
        grep -m1 'bob\|alice\|carol\|127\.0\.0\.1')
    if [ -n "$hit" ]; then
        ht_fail "$1: events.log holds a name or address in clear: $hit"
    else
        ht_pass "$1: no user name or client address in clear in events.log"
    fi
}
no_clear "before the reset"
# Control: the same grep finds the names in what the API served.
grep -q 'bob' <<<"$HT_BODY" && grep -q '127\.0\.0\.1' <<<"$HT_BODY" &&
    ht_pass "control: the grep finds bob and 127.0.0.1 where they are" || ht_fail "control grep: $HT_BODY"
grep -q '"event":"user_added","user":"hse1:' "$LOG" &&
    ht_pass "events.log keeps the event name readable, the user sealed" ||
    ht_fail "no sealed user_created line in events.log"
cp "$LOG" "$HT_WORK/events.old"
ht_own "$HT_WORK/events.old"
serial=$(ht_label_field dev serial)
RD="$(ht_build_dir)/tests/reset_driver"
# as_dev_owner CMD...: as the state's owner (the tools refuse another
# user's key directory; as_owner.sh does this for --state DIR).
as_dev_owner() {
    if [ "$(id -u)" = 0 ] && [ "$(stat -c %u "$HT_WORK/dev")" != 0 ]; then
        setpriv --reuid="$(stat -c %u "$HT_WORK/dev")" --regid="$(stat -c %g "$HT_WORK/dev")" --clear-groups "$@"
    else
        "$@"
    fi
}
if as_dev_owner "$RD" tryevents "$HT_WORK/dev" "$HT_WORK/events.old" "$serial" >"$HT_WORK/tryevents.before" 2>&1; then
    ht_fail "before the reset the device's key does not open the log's fields ($(cat "$HT_WORK/tryevents.before"))"
else
    ht_pass "before the reset the device's key opens the log's fields ($(cat "$HT_WORK/tryevents.before"))"
fi
# The log's rotated generation, as the logger's rotation leaves it (a copy
# of the live log, same owner and mode): the reset must remove it too.
cp -p "$LOG" "$HT_WORK/dev/events.log.1"
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
[ ! -e "$HT_WORK/dev/events.log.1" ] && ht_pass "the rotated log (events.log.1) is gone too" ||
    ht_fail "events.log.1 survived the reset"
no_clear "after the reset"
grep -q '"event":"factory_reset","via":"api"' "$LOG" &&
    ht_pass "the fresh log records the reset by how it was asked (api), not by whom" ||
    ht_fail "factory_reset line: $(grep factory_reset "$LOG")"

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
ht_event_served "$carol" login user carol && ht_pass "after the reset the events API names the new owner" ||
    ht_fail "no login for carol in the events API: $HT_BODY"
no_clear "after the new setup"
if as_dev_owner "$RD" tryevents "$HT_WORK/dev" "$HT_WORK/events.old" "$serial" >"$HT_WORK/tryevents.after" 2>&1; then
    ht_pass "after the reset nothing on the device opens the old log's fields ($(cat "$HT_WORK/tryevents.after"))"
else
    ht_fail "after the reset the old log's fields opened or nothing was tried ($(cat "$HT_WORK/tryevents.after"))"
fi

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
