#!/usr/bin/env bash
# provisions: 5.5-4 5.5-5 5.6-2
# After setup, EVERY operation documented in docs/openapi.yaml (the list is
# derived from the file, so a new endpoint is covered automatically) must be
# refused without authentication (401) -- except login -- and those marked
# x-hearth-role: admin must be refused for a plain user (403). Refusals change
# nothing. Unknown paths give 404, wrong methods 405 with Allow, and no
# refusal discloses the model, serial or software version.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_admin_device dev
serial=$(ht_label_field dev serial)
model=$(ht_label_field dev model)
version=$(ht_version)

USER_PW="plain user passphrase 42"
ht_req POST /api/v1/users "{\"username\":\"bob\",\"password\":\"$USER_PW\",\"role\":\"user\"}" "$HT_ADMIN_TOKEN"
ht_expect_status 201 "admin creates user bob"
ht_login bob "$USER_PW" && ht_pass "bob logs in" || ht_fail "bob login: $HT_STATUS $HT_BODY"
BOB_TOKEN=$HT_TOKEN

mapfile -t ops < <(python3 - "$HEARTH_SOURCE_DIR/docs/openapi.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
glob_sec = doc.get("security", [])
for path, ops in doc["paths"].items():
    for method, op in ops.items():
        if method not in ("get", "post", "put", "delete", "patch"):
            continue
        sec = op.get("security", glob_sec)
        role = op.get("x-hearth-role", "user" if sec else "none")
        print(method.upper(), path.replace("{name}", "bob"), role)
PY
)
[ "${#ops[@]}" -ge 12 ] && ht_pass "openapi.yaml: ${#ops[@]} operations" || ht_fail "openapi.yaml: only ${#ops[@]} operations"

state_before=$(ht_req GET /api/v1/users "" "$HT_ADMIN_TOKEN"; echo "$HT_BODY")
thermo_before=$(ht_req GET /api/v1/thermostat "" "$HT_ADMIN_TOKEN"; echo "$HT_BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["target_c"], d["mode"])')

body_for() { # a syntactically valid body for each operation, so only auth can stop it
    case "$1 $2" in
        "POST /api/v1/password") echo "{\"old_password\":\"$USER_PW\",\"new_password\":\"another long passphrase 9\"}" ;;
        "POST /api/v1/users") echo '{"username":"mallory","password":"mallory passphrase 77","role":"admin"}' ;;
        "PUT /api/v1/users/bob/password") echo '{"password":"hijacked passphrase 55"}' ;;
        "PUT /api/v1/thermostat") echo '{"target_c":29.5,"mode":"off"}' ;;
        POST*|PUT*) echo '{}' ;;
        *) echo "" ;;
    esac
}

for op in "${ops[@]}"; do
    read -r m p role <<<"$op"
    b=$(body_for "$m" "$p")
    if [ "$role" = none ]; then
        continue # setup (409 after setup, tested elsewhere) and login (public)
    fi
    # No token, a malformed token, a well-formed but unknown token.
    for tok in "" "not a token!" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; do
        ht_req "$m" "$p" "$b" "$tok"
        if [ "$HT_STATUS" = 401 ] && [ "$(ht_json error)" = unauthenticated ]; then
            ht_pass "$m $p without valid token: 401"
        else
            ht_fail "$m $p with token '$tok': expected 401, got $HT_STATUS $HT_BODY"
        fi
        case "$HT_BODY" in *"$serial"*|*"$model"*|*"$version"*) ht_fail "$m $p 401 discloses identity" ;; esac
        grep -qi '^WWW-Authenticate: Bearer' "$HT_HDRS" || ht_fail "$m $p 401 without WWW-Authenticate"
    done
    if [ "$role" = admin ] || [ "$role" = service ]; then
        ht_req "$m" "$p" "$b" "$BOB_TOKEN"
        if [ "$HT_STATUS" = 403 ] && [ "$(ht_json error)" = forbidden ]; then
            ht_pass "$m $p as plain user: 403"
        else
            ht_fail "$m $p as plain user: expected 403, got $HT_STATUS $HT_BODY"
        fi
    fi
done

# Nothing changed by any refusal.
ht_req GET /api/v1/users "" "$HT_ADMIN_TOKEN"
[ "$HT_BODY" = "$state_before" ] && ht_pass "users unchanged by refused requests" ||
    ht_fail "users changed: $state_before -> $HT_BODY"
ht_req GET /api/v1/thermostat "" "$HT_ADMIN_TOKEN"
now=$(echo "$HT_BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["target_c"], d["mode"])')
[ "$now" = "$thermo_before" ] && ht_pass "thermostat unchanged by refused requests" ||
    ht_fail "thermostat changed: $thermo_before -> $now"
ht_login bob "$USER_PW" && ht_pass "bob's password unchanged" || ht_fail "bob's password was changed"

# A plain user can use the thermostat and read device info (any authenticated role).
ht_req PUT /api/v1/thermostat '{"target_c":22.5}' "$BOB_TOKEN"
ht_expect_status 200 "plain user sets the thermostat"
ht_req GET /api/v1/device "" "$BOB_TOKEN"
ht_expect_status 200 "plain user reads device info"

# Undocumented paths and methods.
# "/" is the web interface (docs/web.md, tests/integration/test_webui.sh).
for p in /api /api/v1 /api/v1/ /api/v1/debug /api/v2/thermostat /api/v1/thermostat/ /api/v1/users/bob/extra /../etc/passwd /api/v1/%2e%2e/users; do
    ht_req GET "$p" "" "$HT_ADMIN_TOKEN"
    ht_expect_status 404 "unknown path $p"
done
ht_req DELETE /api/v1/thermostat "" "$HT_ADMIN_TOKEN"
ht_expect_status 405 "DELETE /api/v1/thermostat"
[ "$(ht_header Allow)" = "GET, PUT" ] && ht_pass "405 carries Allow: GET, PUT" || ht_fail "Allow: '$(ht_header Allow)'"
for m in OPTIONS PATCH TRACE HEAD; do
    ht_req "$m" /api/v1/thermostat "" "$HT_ADMIN_TOKEN"
    ht_expect_status 405 "$m /api/v1/thermostat"
done
ht_done
