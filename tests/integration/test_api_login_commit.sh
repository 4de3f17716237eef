#!/usr/bin/env bash
# provisions: 5.9-2
# needs: HEARTH_TEST_HOOKS
# A failed login must not stall the API for a commit: the auth module writes
# the store with its request lock released. The daemon is restarted with
# every store commit slowed to 3 s (HEARTH_FAULT_SLEEP=store.commit:3000, a
# slow flash); a failed login right after the restart writes the limiter
# state (it takes >= 3 s, which shows the commit happened), and an
# authenticated request sent while it is committing is answered in well
# under those 3 s and with the session intact.
# timeout: 240
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_admin_device dev
T=$HT_ADMIN_TOKEN
ht_daemon_stop

HEARTH_FAULT_SLEEP=store.commit:3000 ht_daemon_start dev
ht_req GET /api/v1/thermostat "" "$T"
ht_expect_status 200 "session survives the restart"

# timed CMD...: run a curl that prints "<status> <seconds>".
ht_curl --interface 127.0.0.7 -o /dev/null -w '%{http_code} %{time_total}\n' \
    -H 'Content-Type: application/json' \
    --data-binary '{"username":"admin","password":"not the password 1"}' \
    "$HT_URL/api/v1/login" >"$HT_WORK/failed_login" 2>/dev/null &
LPID=$!
sleep 0.7
read -r gst gtime < <(ht_curl -o /dev/null -w '%{http_code} %{time_total}\n' \
    -H "Authorization: Bearer $T" "$HT_URL/api/v1/thermostat" 2>/dev/null)
wait "$LPID"
read -r lst ltime <"$HT_WORK/failed_login"
echo "# failed login: HTTP $lst in ${ltime}s; concurrent authenticated GET: HTTP $gst in ${gtime}s"
ht_check "the failed login was refused (HTTP $lst)" test "$lst" = 401
ht_check "the failed login committed through the slow store (${ltime}s >= 2.9s)" \
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 2.9 else 1)" "$ltime"
ht_check "the authenticated request was answered (HTTP $gst)" test "$gst" = 200
ht_check "and did not wait for the commit (${gtime}s < 1.5s)" \
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1.5 else 1)" "$gtime"
ht_done
