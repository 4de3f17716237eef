#!/usr/bin/env bash
# provisions: 5.4-1
# needs: HEARTH_TEST_HOOKS
# A password change's answer is what the device holds after a restart, even
# when the storage misbehaves (the review found a change answered "failed"
# that took effect at restart). hearthd runs with every directory fsync
# failing once it has started (HEARTH_FAULT_FAIL=fs.dirsync, EIO, armed by
# HEARTH_FAULT_FAIL_ARM): the first change has replaced
# the store file, so it is answered 200 and memory follows; the next one
# finds the directory still unsynced and is refused, changing nothing.
# After a restart without the fault exactly the password the answers name
# as current works, and the others do not.
# timeout: 240
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_admin_device dev
A=$HT_ADMIN_TOKEN
PW0=$HT_ADMIN_PW
PW1="violet harbour lanterns drift 31"
PW2="copper meadow whistles softly 58"
ht_daemon_stop

# The fault is armed once hearthd has started: its own store writes at start
# (the telemetry run record) must not be what leaves the directory unsynced.
HEARTH_FAULT_FAIL=fs.dirsync HEARTH_FAULT_FAIL_ARM="$HT_WORK/dev/fault.armed" ht_daemon_start dev
: >"$HT_WORK/dev/fault.armed"
ht_req GET /api/v1/thermostat "" "$A"
ht_expect_status 200 "session survives the restart"
ht_req POST /api/v1/password "{\"old_password\":\"$PW0\",\"new_password\":\"$PW1\"}" "$A"
S1=$HT_STATUS
ht_req POST /api/v1/password "{\"old_password\":\"$PW1\",\"new_password\":\"$PW2\"}" "$A"
S2=$HT_STATUS
echo "# first change: HTTP $S1; second change: HTTP $S2"
ht_check "the change that replaced the file is answered as done (HTTP $S1)" test "$S1" = 200
ht_check "a change while the directory is unsynced is refused (HTTP $S2)" test "$S2" != 200 -a -n "$S2" -a "$S2" != 000
ht_daemon_stop
ht_check "the daemon logged store_sync_failed" grep -q '"event":"store_sync_failed"' "$HT_WORK/dev/events.log"

# The answers say PW1 is current: after a restart PW1 works, PW0 and PW2 not.
ht_daemon_start dev
ht_login admin "$PW1"
ht_check "the password the answers named works after the restart (HTTP $HT_STATUS)" test "$HT_STATUS" = 200
ht_req POST /api/v1/login "{\"username\":\"admin\",\"password\":\"$PW0\"}"
ht_expect_status 401 "the replaced password does not"
ht_req POST /api/v1/login "{\"username\":\"admin\",\"password\":\"$PW2\"}"
ht_expect_status 401 "the refused change's password does not"
ht_done
