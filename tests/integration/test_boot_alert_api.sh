#!/usr/bin/env bash
# provisions: 5.7-1 5.7-2 5.5-5 5.10-1
# timeout: 300
#
# An unauthorised change to the installed software reaches the administrator
# through the API (EN 303 645 5.7-2), not only the log: the real hearth-boot
# finds a modified hearthd in the active slot, refuses it, records an
# integrity alert in the authenticated boot state and falls back to the other
# valid slot; the hearthd that then runs shows the alert to an administrator
# in GET /api/v1/updates ("integrity"), and to nobody else. That hearthd
# also samples its security telemetry from its own /proc/self.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

ht_init
BOOT_PID=""
cleanup() {
    if [ -n "$BOOT_PID" ]; then
        kill -TERM "$BOOT_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$BOOT_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BOOT_PID" 2>/dev/null
    fi
    ht_cleanup
}
trap cleanup EXIT

HEARTHD=$(upd_find_bin hearthd) || { echo "hearthd not built"; exit 1; }
BOOT=$(upd_find_bin hearth-boot) || { echo "hearth-boot not built"; exit 1; }
D=$HT_WORK/dev
# Slot a: hearthd 1.0.0 (security version 1), installed at the factory.
UPD_V1_PAYLOAD=$HEARTHD upd_fixture "$D" 4096 4096 || { echo "fixture failed"; exit 1; }
cp "$D/label.json" "$D/state.label.json"
HT_CA=$D/ca/ca.crt
# Slot b: hearthd 1.0.1, same security version, installed and made active.
upd_bundle "$D/b.hbu" --version 1.0.1 --secver 1 hearthd="$HEARTHD" >/dev/null
"$UPD_CLI" slot install --state "$UPD_STATE" --trust "$UPD_TRUST" \
    --keyset "$UPD_STATE/keyset.hks" --bundle "$D/b.hbu" --slot b >/dev/null
ht_check "slot b is the active slot" [ "$(upd_slot_field "$UPD_STATE" 'active slot')" = b ]

# The attack: one byte of the active software changed on disk.
prog=$UPD_STATE/slots/b/payload/hearthd
upd_flip_byte "$prog" $(( $(stat -c %s "$prog") / 2 ))

upd_device_user "$D"
"$BOOT" "${UPD_USER_ARGS[@]}" --state "$UPD_STATE" --trust "$UPD_TRUST" --keyset "$UPD_STATE/keyset.hks" \
    -- --listen 127.0.0.1:0 --foreground --update-trust "$UPD_TRUST" >"$D/boot.out" 2>"$D/boot.err" &
BOOT_PID=$!
line=""
for _ in $(seq 1 200); do
    line=$(grep -m1 '^hearthd: listening on https://' "$D/boot.out" 2>/dev/null || true)
    [ -n "$line" ] && break
    sleep 0.05
done
[ -n "$line" ] || { echo "hearthd did not start"; cat "$D/boot.err"; exit 1; }
HT_PORT=${line##*:}
HT_URL="https://127.0.0.1:$HT_PORT"
ht_check "hearth-boot fell back to slot a" grep -q "booting slot a" "$D/boot.out" "$D/boot.err"
ht_check "5.7-2 the violation is in the security log" \
    upd_seclog_has "$UPD_STATE/events.log" software_integrity_violation

ht_setup_admin dev/state || { ht_fail "setup failed"; ht_done; }
ADMIN=$HT_ADMIN_TOKEN
USERPW="a different horse battery 9"
ht_req POST /api/v1/users "{\"username\":\"bob\",\"password\":\"$USERPW\",\"role\":\"user\"}" "$ADMIN"
ht_expect_status 201 "admin creates a regular user"
ht_login bob "$USERPW" || { ht_fail "bob cannot log in"; ht_done; }
USER=$HT_TOKEN

ht_req GET /api/v1/updates "" "$ADMIN"
ht_expect_status 200 "admin reads the update and integrity status"
integ=$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("integrity")))' <<<"$HT_BODY")
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$integ"; }
ht_check "5.7-2 the API reports at least one integrity alert ($integ)" \
    [ "$(field "$integ" 'd["alerts_total"] if d else 0')" -ge 1 ]
ht_check "the newest alert names slot b" [ "$(field "$integ" 'd["alerts"][0]["slot"]')" = b ]
ht_check "slot b is reported invalid" [ "$(field "$integ" 'd["slot_b"]')" = invalid ]
ht_check "the device runs slot a" \
    [ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["installed"]["slot"])' <<<"$HT_BODY")" = a ]

ht_req GET /api/v1/updates "" "$USER"
ht_expect_status 200 "a regular user reads the update status"
ht_check "integrity details are for administrators only" \
    [ "$(python3 -c 'import json,sys; print("integrity" in json.load(sys.stdin))' <<<"$HT_BODY")" = False ]
ht_req GET /api/v1/updates
ht_expect_status 401 "nothing without authentication"

# The hearthd hearth-boot launched samples its own security telemetry: its
# /proc/self is reachable through hearth-boot's Landlock domain too.
ht_req GET /api/v1/telemetry "" "$ADMIN"
ht_expect_status 200 "admin reads the telemetry report of the launched hearthd"
ports=$(python3 -c 'import json,sys; print(" ".join(str(p["pt"]) for p in json.load(sys.stdin)["met"]["tp"]["pts"]))' \
    <<<"$HT_BODY" 2>/dev/null || true)
ht_check "5.10-1 its report lists its own listening port $HT_PORT (ports: ${ports:-none})" \
    grep -qw "$HT_PORT" <<<"$ports"
ht_check "5.10-1 no telemetry_sample_failed event under hearth-boot" \
    bash -c "! grep -q telemetry_sample_failed '$UPD_STATE/events.log'"
ht_done
