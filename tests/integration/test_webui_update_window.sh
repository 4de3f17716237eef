#!/usr/bin/env bash
# provisions: 5.3-12
# timeout: 120
#
# A disruptive update (docs/updates.md, "Disruptive updates") on the real
# hearthd with automatic updates on: the updater finds it, but instead of
# installing it announces it -- the security event
# update_disruption_announced, and in GET /api/v1/updates for every user the
# expected downtime and the installation time one notice period ahead -- and
# installs nothing. Moving that time is for administrators only, within its
# bounds (now .. 30 days); moving it to a few seconds ahead makes the
# updater install it then (hearthd exits with the restart code, slot b
# pending), not before. The disruption notice says the restart interrupts
# the heating (it no longer claims it does not).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

ht_init
trap 'upd_repo_stop_all; ht_cleanup' EXIT
t_start=$(date +%s)

D=$HT_WORK/dev
upd_fixture "$D" 2048 4096 || { echo "fixture failed"; exit 1; }
cp "$D/label.json" "$D/state.label.json"
HT_CA=$D/ca/ca.crt
upd_bundle "$D/v2.hbu" --version 2.0.0 --secver 2 --notes "2.0.0" \
    --mitigates "CVE-2026-0042: crash of the local API" --disruptive --downtime 15 \
    hearthd="$D/payload" >/dev/null
upd_publish "$D/v2.hbu" 2.0.0
upd_repo_start "$D/repo" "$UPD_WWW" "$D/repo-tls" "$HT_CA" || exit 1
# First check at once; one hour of notice; the regular checks a day apart,
# so only the window can make it install during the test.
ht_daemon_start dev/state --update-url "$UPD_REPO_URL" --update-trust "$UPD_TRUST" \
    --update-first-delay 0 --update-first-window 0 --update-period 86400 --update-notice 3600 || exit 1
echo "  [$(( $(date +%s) - t_start )) s] device started"
ht_setup_admin dev/state || exit 1
ADMIN=$HT_ADMIN_TOKEN
ht_req POST /api/v1/users '{"username":"bob","password":"a different horse battery 9","role":"user"}' "$ADMIN"
ht_expect_status 201 "admin creates a regular user"
ht_login bob "a different horse battery 9" || ht_fail "bob logs in"
USER=$HT_TOKEN

echo "  [$(( $(date +%s) - t_start )) s] set up"
t_found=$(date +%s)
for _ in $(seq 1 100); do
    ht_req GET /api/v1/updates "" "$USER"
    [ "$(ht_json state)" = available ] && [ -n "$(ht_json window)" ] && break
    sleep 0.1
done
ht_check "automatic policy on: the disruptive update is found ($(ht_json state))" [ "$(ht_json state)" = available ]
win=$(ht_json window)
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$win" "$1" 2>/dev/null; }
at=$(field at_unix)
ht_check "5.3-12 announced to every user: window in GET /api/v1/updates ($win)" \
    bash -c '[ "$1" = 2.0.0 ] && [ "$2" = 15 ] && [ -n "$3" ]' _ "$(field version)" "$(field expected_downtime_s)" "$(field announced_at)"
announced=$(python3 -c 'import calendar,sys,time; print(calendar.timegm(time.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")))' "$(field announced_at)")
ht_check "... installing one notice period (3600 s) after the announcement ($announced -> $at)" \
    bash -c '[ "$1" = $(( $2 + 3600 )) ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]' _ "$at" "$announced" "$t_start" "$t_found"
notice=$(ht_json disruption_notice)
ht_check "5.3-12 the notice gives the downtime and says the heater is off during the restart ($notice)" \
    bash -c 'grep -q "expected downtime about 15 s" <<<"$1" && grep -q "heater is off" <<<"$1" && ! grep -q "does not interrupt" <<<"$1"' _ "$notice"
ht_check "update_disruption_announced in the security log" \
    grep -q '"event":"update_disruption_announced","reason":"installs at [0-9T:Z-]*; expected downtime about 15 s","version":"2.0.0"' "$D/state/events.log"
ht_req GET /api/v1/events "" "$ADMIN"
ht_check "... and in GET /api/v1/events" grep -q update_disruption_announced <<<"$HT_BODY"
ht_check "nothing installed while the window is ahead" [ "$(upd_slot_field "$D/state" 'pending slot')" = none ]
ht_check "... and hearthd still runs" kill -0 "$HT_PID"

# Moving it: admin only, bounded, validated.
now=$(date +%s)
ht_req PUT /api/v1/updates/window "{\"at\":$((now + 60))}" "$USER"
ht_expect_status 403 "a regular user cannot move the installation"
ht_req PUT /api/v1/updates/window "{\"at\":$((now + 31 * 86400))}" "$ADMIN"
ht_check "more than 30 days ahead refused (422 out_of_range at)" \
    bash -c '[ "$1" = 422 ] && [ "$2" = at ]' _ "$HT_STATUS" "$(ht_json field)"
ht_req PUT /api/v1/updates/window "{\"at\":$((now - 3600))}" "$ADMIN"
ht_expect_status 422 "an hour in the past refused"
ht_req PUT /api/v1/updates/window '{"at":"tomorrow"}' "$ADMIN"
ht_expect_status 422 "a non-number refused"
ht_req GET /api/v1/updates "" "$USER"
ht_check "refusals changed nothing (at still $at)" [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["window"]["at_unix"])' "$HT_BODY")" = "$at" ]

# Move it to 3 s ahead: installs then, not before.
t_move=$(date +%s)
ht_req PUT /api/v1/updates/window "{\"at\":$((t_move + 3))}" "$ADMIN"
ht_expect_status 200 "5.3-12 an administrator moves the installation to 3 s from now"
ht_check "the new time is in the answer" grep -q "\"at_unix\":$((t_move + 3))" <<<"$HT_BODY"
ht_check "update_window_moved logged with the administrator" \
    grep -q '"event":"update_window_moved","reason":"installs at [0-9T:Z-]* (moved by admin)"' "$D/state/events.log"
sleep 1
ht_check "one second later: still not installed" [ "$(upd_slot_field "$D/state" 'pending slot')" = none ]
rc=""
for _ in $(seq 1 200); do
    if ! kill -0 "$HT_PID" 2>/dev/null; then wait "$HT_PID"; rc=$?; break; fi
    sleep 0.1
done
t_done=$(date +%s)
ht_check "installed at the window: hearthd exited with the restart code 75 after $((t_done - t_move)) s (got ${rc:-still running})" \
    bash -c '[ "$1" = 75 ] && [ $(( $2 - $3 )) -ge 3 ]' _ "$rc" "$t_done" "$t_move"
ht_check "update 2.0.0 pending in slot b" [ "$(upd_slot_field "$D/state" 'pending slot')" = b ]
ht_check "announced before installed (security log order)" bash -c \
    "grep -n -e update_disruption_announced -e update_installed '$D/state/events.log' | head -1 | grep -q update_disruption_announced"
echo "  test time: $(( $(date +%s) - t_start )) s"
ht_done
