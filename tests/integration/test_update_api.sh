#!/usr/bin/env bash
# provisions: 5.3-3 5.3-6 5.3-9 5.3-11 5.3-12 5.5-1 5.9-3
# needs: HEARTH_WITH_UPLOAD
# timeout: 300
#
# The update API of the real hearthd (docs/openapi.yaml, docs/updates.md):
# any authenticated user sees that an update is available, the risks it
# mitigates and the expected downtime (5.3-11, 5.3-12); only administrators
# change the policy (5.3-6), trigger checks and installs or upload a bundle
# (5.3-3); a refused upload tells the client nothing more than "rejected"
# while the administrator's view and the security log hold the reason
# (5.3-9 example 9); an install through the API ends with the restart code.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

ht_init
trap 'upd_repo_stop_all; ht_cleanup' EXIT

D=$HT_WORK/dev
upd_fixture "$D" 2048 4096 || { echo "fixture failed"; exit 1; }
cp "$D/label.json" "$D/state.label.json"
HT_CA=$D/ca/ca.crt
upd_bundle "$D/v2.hbu" --version 2.0.0 --secver 2 --notes "Fixes the API crash" \
    --mitigates "CVE-2026-0003: crash of the local API" --disruptive --downtime 15 \
    hearthd="$D/payload" >/dev/null
# While $D/busy exists, the repository answers every request 503 with
# Retry-After: 600 (5.9-3, below).
UPD_REPO_EXTRA="if (-f $D/busy) { rewrite ^ /busy-600/ last; }
        location ^~ /busy-600/ { add_header Retry-After 600 always; return 503; }"
upd_repo_start "$D/repo" "$UPD_WWW" "$D/repo-tls" "$HT_CA" || exit 1

ht_daemon_start dev/state --update-url "$UPD_REPO_URL" --update-trust "$UPD_TRUST" \
    --update-first-delay 3600 --update-first-window 0 || exit 1
ht_setup_admin dev/state || exit 1
ADMIN=$HT_ADMIN_TOKEN
USERPW="a different horse battery 9"
ht_req POST /api/v1/users "{\"username\":\"bob\",\"password\":\"$USERPW\",\"role\":\"user\"}" "$ADMIN"
ht_expect_status 201 "admin creates a regular user"
ht_login bob "$USERPW" || { ht_fail "bob cannot log in"; ht_done; }
USER=$HT_TOKEN

# Unauthenticated: nothing.
ht_req GET /api/v1/updates
ht_expect_status 401 "GET /updates needs authentication"

# Status for a regular user: no events, no reasons.
ht_req GET /api/v1/updates "" "$USER"
ht_expect_status 200 "5.3-11 any user reads the update status"
ht_check "status: automatic updates on by default" [ "$(ht_json policy | python3 -c 'import json,sys; print(json.load(sys.stdin)["automatic"])')" = True ]
ht_check "user view carries no security events (it does carry the status)" \
    bash -c "[ -z '$(ht_json events)' ] && [ -n '$(ht_json policy)' ]"

# Policy changes: admin only, validated.
ht_req PUT /api/v1/updates/policy '{"automatic":false}' "$USER"
ht_expect_status 403 "5.3-6 a regular user cannot change the update policy"
ht_req PUT /api/v1/updates/policy '{"automatic":false,"postpone_hours":721}' "$ADMIN"
ht_expect_status 422 "postpone_hours above 720 refused"
ht_req PUT /api/v1/updates/policy '{"automatic":"no"}' "$ADMIN"
ht_expect_status 422 "non-boolean automatic refused"
ht_req PUT /api/v1/updates/policy '{"automatic":false}' "$ADMIN"
ht_expect_status 200 "5.3-6 admin disables automatic updates"
ht_check "policy now off" grep -q '"automatic":false' <<<"$HT_BODY"

# Publish, then trigger a check: reported, not installed (automatic off).
upd_publish "$D/v2.hbu" 2.0.0
ht_req POST /api/v1/updates/check "" "$USER"
ht_expect_status 403 "a regular user cannot trigger a check"
ht_req POST /api/v1/updates/check "" "$ADMIN"
ht_expect_status 202 "admin triggers a check"
for _ in $(seq 1 100); do
    ht_req GET /api/v1/updates "" "$USER"
    grep -q '"state":"available"' <<<"$HT_BODY" && break
    sleep 0.1
done
ht_check "5.3-11 available update shown to the user with the risks it mitigates" \
    grep -q '"risks_mitigated":"CVE-2026-0003: crash of the local API"' <<<"$HT_BODY"
ht_check "5.3-12 disruption flag and expected downtime shown" \
    bash -c "grep -q '\"disruptive\":true' <<<'$HT_BODY' && grep -q '\"expected_downtime_s\":15' <<<'$HT_BODY' && grep -q 'disruption_notice' <<<'$HT_BODY'"
ht_check "nothing installed while automatic is off" [ "$(upd_slot_field "$D/state" 'pending slot')" = none ]

# Local upload: a tampered bundle is refused; the client learns only that.
cp "$D/v2.hbu" "$D/bad.hbu"
upd_flip_byte "$D/bad.hbu" $(( $(stat -c %s "$D/bad.hbu") - 10 ))
size=$(stat -c %s "$D/bad.hbu")
if [ "$size" -le 4096 ]; then
    code=$(ht_curl -o "$HT_WORK/up.body" -w '%{http_code}' -X POST -H "Authorization: Bearer $USER" \
        -H 'Content-Type: application/octet-stream' --data-binary @"$D/bad.hbu" "$HT_URL/api/v1/updates/upload")
    ht_check "a regular user cannot upload ($code)" [ "$code" = 403 ]
    code=$(ht_curl -o "$HT_WORK/up.body" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/octet-stream' --data-binary @"$D/bad.hbu" "$HT_URL/api/v1/updates/upload")
    ht_check "5.3-9 tampered upload refused with 422 ($code)" [ "$code" = 422 ]
    ht_check "5.3-9 the uploader is told no reason (answer: $(head -c 120 "$HT_WORK/up.body"))" \
        bash -c "grep -q '\"error\"' '$HT_WORK/up.body' && ! grep -qi 'chunk\|digest\|tampered' '$HT_WORK/up.body'"
    ht_req GET /api/v1/updates "" "$ADMIN"
    ht_check "5.3-9 the administrator sees why" grep -q '"event":"update_rejected"' <<<"$HT_BODY"
    ht_check "5.7-2 rejection in the security log" upd_seclog_has "$D/state/events.log" update_rejected
    ht_check "state unchanged after refused upload" [ "$(upd_slot_field "$D/state" 'pending slot')" = none ]
else
    ht_fail "test bundle larger than hearthd's body limit ($size bytes)"
fi

# 5.9-3: a check asked for by hand honours the repository's Retry-After.
# The repository turns busy; the first check asked for meets its 503 with
# Retry-After: 600; the next one is refused with 503 and the time left,
# and the repository is not asked again.
touch "$D/busy"
busy503() { awk '$2 == 503 { n++ } END { print n + 0 }' "$D/repo/access.log"; }
ht_req POST /api/v1/updates/check "" "$ADMIN"
ht_expect_status 202 "admin triggers a check while the repository is busy"
for _ in $(seq 1 100); do # until that check has ended
    ht_req GET /api/v1/updates "" "$ADMIN"
    [ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["last_check"]["outcome"])' <<<"$HT_BODY" 2>/dev/null)" = failed ] && break
    sleep 0.1
done
n_busy=$(busy503)
ht_req POST /api/v1/updates/check "" "$ADMIN"
wait_s=$(ht_header Retry-After)
ht_check "5.9-3 the repository answered 503 + Retry-After: 600 ($n_busy times)" [ "$n_busy" -ge 1 ]
ht_check "5.9-3 the next check asked for is refused with 503 while the hint runs (got $HT_STATUS: $HT_BODY)" \
    bash -c "[ '$HT_STATUS' = 503 ] && grep -q repository_busy <<<'$HT_BODY'"
ht_check "5.9-3 the refusal says how long to wait: Retry-After ${wait_s:-none} in [590, 600]" \
    bash -c "[ -n '$wait_s' ] && [ '$wait_s' -ge 590 ] && [ '$wait_s' -le 600 ]"
sleep 0.5
ht_check "5.9-3 the repository was not asked again ($n_busy, then $(busy503))" [ "$(busy503)" = "$n_busy" ]
rm -f "$D/busy"

# Install through the API: hearthd installs and exits with the restart code.
ht_req POST /api/v1/updates/install "" "$USER"
ht_expect_status 403 "a regular user cannot install"
ht_req POST /api/v1/updates/install "" "$ADMIN"
ht_expect_status 202 "5.3-3 admin installs the available update"
rc=""
for _ in $(seq 1 100); do
    if ! kill -0 "$HT_PID" 2>/dev/null; then wait "$HT_PID"; rc=$?; break; fi
    sleep 0.1
done
ht_check "hearthd exited with the restart code 75 (got ${rc:-still running})" [ "$rc" = 75 ]
ht_check "update pending in slot b" [ "$(upd_slot_field "$D/state" 'pending slot')" = b ]
ht_done
