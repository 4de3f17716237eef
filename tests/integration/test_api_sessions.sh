#!/usr/bin/env bash
# provisions: 5.5-5 5.1-1 5.4-1 5.5-7
# Sessions and password changes over the real daemon:
#  - changing one's own password is one step, needs the old password, and
#    revokes every other session of the account (the calling one stays);
#  - logout revokes the token; admin reset revokes the user's sessions;
#    deleting a user revokes their sessions; the last admin cannot be deleted;
#  - the security-event log records these events but never contains a
#    password or a token used in this test (5.4-1, 5.5-7).
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_admin_device dev
SPW=$(ht_label_field dev setup_password)
secrets=("$HT_ADMIN_PW" "$SPW" "$HT_ADMIN_TOKEN")

PW1="first gentle river stone 31"
PW2="second quiet meadow lamp 32"
PW3="third amber window cloud 33"
secrets+=("$PW1" "$PW2" "$PW3")
ht_req POST /api/v1/users "{\"username\":\"carol\",\"password\":\"$PW1\",\"role\":\"user\"}" "$HT_ADMIN_TOKEN"
ht_expect_status 201 "create carol"
ht_req POST /api/v1/users "{\"username\":\"carol\",\"password\":\"$PW1\",\"role\":\"user\"}" "$HT_ADMIN_TOKEN"
ht_expect_status 409 "create carol twice"
ht_req POST /api/v1/users '{"username":"weak","password":"qwertyuiop","role":"user"}' "$HT_ADMIN_TOKEN"
ht_expect_status 422 "create a user with a keyboard-sequence password"

ht_login carol "$PW1"; A=$HT_TOKEN
ht_login carol "$PW1"; B=$HT_TOKEN
secrets+=("$A" "$B")
[ -n "$A" ] && [ -n "$B" ] && [ "$A" != "$B" ] && ht_pass "two distinct sessions for carol" || ht_fail "sessions: '$A' '$B'"

ht_req POST /api/v1/password "{\"old_password\":\"wrong old passphrase\",\"new_password\":\"$PW2\"}" "$A"
ht_expect_status 401 "password change with a wrong old password"
ht_req GET /api/v1/thermostat "" "$B"
ht_expect_status 200 "other session still valid after the rejected change"
ht_req POST /api/v1/password "{\"old_password\":\"$PW1\",\"new_password\":\"password1\"}" "$A"
ht_expect_status 422 "password change to a blocklisted password"
[ "$(ht_json field)" = new_password ] && ht_pass "422 names new_password" || ht_fail "422 body $HT_BODY"

ht_req POST /api/v1/password "{\"old_password\":\"$PW1\",\"new_password\":\"$PW2\"}" "$A"
ht_expect_status 200 "password change in one step"
ht_req GET /api/v1/thermostat "" "$A"
ht_expect_status 200 "calling session survives its own password change"
ht_req GET /api/v1/thermostat "" "$B"
ht_expect_status 401 "other session revoked by the password change"
ht_login carol "$PW1" && ht_fail "old password still works" || ht_pass "old password no longer works"
ht_login carol "$PW2" && ht_pass "new password works" || ht_fail "new password: $HT_STATUS $HT_BODY"
C=$HT_TOKEN; secrets+=("$C")

# Logout.
ht_req POST /api/v1/logout "" "$A"
ht_expect_status 200 "logout"
ht_req GET /api/v1/thermostat "" "$A"
ht_expect_status 401 "token refused after logout"
ht_req POST /api/v1/logout "" "$A"
ht_expect_status 401 "second logout with the revoked token"

# Admin reset revokes carol's sessions.
ht_req PUT /api/v1/users/carol/password "{\"password\":\"$PW3\"}" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "admin resets carol's password"
ht_req GET /api/v1/thermostat "" "$C"
ht_expect_status 401 "carol's session revoked by the reset"
ht_login carol "$PW3" && ht_pass "carol logs in with the reset password" || ht_fail "reset login"
D=$HT_TOKEN; secrets+=("$D")
ht_req PUT /api/v1/users/nosuchuser/password "{\"password\":\"$PW3\"}" "$HT_ADMIN_TOKEN"
ht_expect_status 404 "reset of an unknown user"
ht_req PUT /api/v1/users/BAD%20NAME/password "{\"password\":\"$PW3\"}" "$HT_ADMIN_TOKEN"
ht_expect_status 422 "reset with an invalid user name in the path"

# Users list and deletion.
ht_req GET /api/v1/users "" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "list users"
python3 -c 'import json,sys; u={x["username"]:x["role"] for x in json.loads(sys.argv[1])["users"]}; sys.exit(0 if u=={"admin":"admin","carol":"user"} else 1)' "$HT_BODY" &&
    ht_pass "users: admin (admin), carol (user)" || ht_fail "users: $HT_BODY"
ht_req DELETE /api/v1/users/carol "" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "delete carol"
ht_req GET /api/v1/thermostat "" "$D"
ht_expect_status 401 "deleted user's session revoked"
ht_req DELETE /api/v1/users/carol "" "$HT_ADMIN_TOKEN"
ht_expect_status 404 "delete carol again"
ht_req DELETE /api/v1/users/admin "" "$HT_ADMIN_TOKEN"
ht_expect_status 409 "the last admin cannot be deleted"

# Events: recorded, readable by the admin through the API, and secret-free.
ht_req GET "/api/v1/events?limit=64" "" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "admin reads recent events"
n=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["events"]))' "$HT_BODY" 2>/dev/null || echo 0)
[ "$n" -ge 5 ] && ht_pass "events ring holds $n events" || ht_fail "events: $HT_BODY"
ht_req GET "/api/v1/events?limit=0" "" "$HT_ADMIN_TOKEN"
ht_expect_status 422 "events limit=0"
ht_req GET "/api/v1/events?limit=abc" "" "$HT_ADMIN_TOKEN"
ht_expect_status 422 "events limit=abc"
ht_req GET "/api/v1/events?foo=1" "" "$HT_ADMIN_TOKEN"
ht_expect_status 400 "events unknown query parameter"
ht_req GET "/api/v1/events" "" "$HT_ADMIN_TOKEN"
events_api=$HT_BODY

ht_daemon_stop
log="$HT_WORK/dev/events.log"
[ -s "$log" ] && ht_pass "events.log written" || ht_fail "events.log missing"
# The search only shows something if every secret was captured (an empty
# token from a failed login would match nothing), every file searched
# exists, and the events API answered with events.
leaked=0
for s in "${secrets[@]}"; do
    if [ -z "$s" ]; then leaked=1; ht_fail "a secret to look for is empty (a login or setup step failed)"; continue; fi
    grep -qF -- "$s" "$log" "$HT_WORK/dev.hearthd.err" "$HT_WORK/dev.hearthd.out"; rc=$?
    if [ "$rc" = 0 ]; then
        leaked=1; ht_fail "a secret (${#s} chars) appears in the event log or daemon output"
    elif [ "$rc" != 1 ]; then
        leaked=1; ht_fail "could not search the event log and daemon output (grep exit $rc)"
    fi
    case "$events_api" in *"$s"*) leaked=1; ht_fail "a secret appears in GET /api/v1/events" ;; esac
done
case "$events_api" in *'"events"'*) ;; *) leaked=1; ht_fail "GET /api/v1/events returned no events to search: $events_api" ;; esac
[ $leaked = 0 ] && ht_pass "no password, setup password or token in events.log, daemon output or the events API (${#secrets[@]} secrets checked)"
python3 -c '
import json,sys
for line in open(sys.argv[1]): json.loads(line)
' "$log" && ht_pass "events.log is valid JSONL" || ht_fail "events.log not JSONL"
ht_done
