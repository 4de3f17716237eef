#!/usr/bin/env bash
# provisions: 5.5-4 5.5-5 5.6-2 5.1-1 5.3-16
# Factory-default lockdown and the setup flow over real TLS:
#  - before setup, every documented endpoint except POST /api/v1/setup is
#    refused (409 setup_required) and nothing about the device (model,
#    serial, version) is disclosed;
#  - setup: wrong setup password 401, weak admin password 422 with a reason,
#    success, then the setup password is refused for good (409).
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev
ht_daemon_start dev

serial=$(ht_label_field dev serial)
model=$(ht_label_field dev model)
spw=$(ht_label_field dev setup_password)

# Every endpoint documented in the OpenAPI description, placeholders filled.
mapfile -t endpoints < <(python3 - "$HEARTH_SOURCE_DIR/docs/openapi.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for path, ops in doc["paths"].items():
    for method, op in ops.items():
        if method in ("get", "post", "put", "delete", "patch"):
            print(method.upper(), path.replace("{name}", "someone"), op.get("x-hearth-state", "set-up"))
PY
)
[ "${#endpoints[@]}" -ge 10 ] && ht_pass "openapi.yaml lists ${#endpoints[@]} operations" ||
    ht_fail "openapi.yaml parsed to only ${#endpoints[@]} operations"

for ep in "${endpoints[@]}"; do
    read -r m p state <<<"$ep"
    [ "$p" = /api/v1/setup ] && continue
    body=""
    [ "$m" != GET ] && [ "$m" != DELETE ] && body='{"username":"x","password":"y"}'
    ht_req "$m" "$p" "$body"
    if [ "$state" = any ]; then
        # Public documents served in every state (x-hearth-state: any, e.g.
        # security.txt); they must still disclose nothing about the device.
        [ "$HT_STATUS" = 200 ] && ht_pass "factory default: $m $p served (public in every state)" ||
            ht_fail "factory default: $m $p gave $HT_STATUS"
    elif [ "$HT_STATUS" = 409 ] && [ "$(ht_json error)" = setup_required ]; then
        ht_pass "factory default: $m $p refused (409 setup_required)"
    else
        ht_fail "factory default: $m $p gave $HT_STATUS $HT_BODY"
    fi
    case "$HT_BODY" in
        *"$serial"*|*"$model"*|*"$(ht_version)"*) ht_fail "factory default: $m $p disclosed identity: $HT_BODY" ;;
    esac
done

# Login with a token-less attempt must not work either (even with the setup password).
ht_req POST /api/v1/login "{\"username\":\"admin\",\"password\":\"$spw\"}"
ht_expect_status 409 "factory default: login with the setup password refused"

# --- setup flow
ht_req POST /api/v1/setup '{"setup_password":"AAAA-BBBB-CCCC-DDDD","username":"admin","password":"correct horse battery staple 7"}'
ht_expect_status 401 "setup with a wrong setup password"
[ "$(ht_json error)" = invalid_credentials ] && ht_pass "wrong setup password: error code" ||
    ht_fail "wrong setup password: body $HT_BODY"

ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin\",\"password\":\"password\"}"
ht_expect_status 422 "setup with a weak admin password"
if [ "$(ht_json error)" = weak_password ] && [ "$(ht_json field)" = password ] && [ -n "$(ht_json message)" ]; then
    ht_pass "weak password: reason given ($(ht_json message))"
else
    ht_fail "weak password: body $HT_BODY"
fi
ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin\",\"password\":\"12345678\"}"
ht_expect_status 422 "setup with a numeric-sequence admin password"

# Still in factory default after the rejections (state unchanged).
ht_req GET /api/v1/thermostat
ht_expect_status 409 "still factory default after rejected setups"

ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 200 "setup with the label's setup password and a good admin password"

ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin2\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 409 "setup password refused after setup"
[ "$(ht_json error)" = already_set_up ] && ht_pass "setup refused: already_set_up" ||
    ht_fail "setup refused body: $HT_BODY"

# Initialized: login works, then the device identity is disclosed to the user only.
ht_req GET /api/v1/device
ht_expect_status 401 "device info without a token after setup"
ht_login admin "$HT_ADMIN_PW" && ht_pass "admin can log in" || ht_fail "admin login: $HT_STATUS $HT_BODY"
ht_req GET /api/v1/device "" "$HT_TOKEN"
ht_expect_status 200 "device info with a token"
[ "$(ht_json model)" = "$model" ] && [ "$(ht_json serial)" = "$serial" ] &&
    ht_pass "device info shows model $model and serial (5.3-16)" || ht_fail "device info: $HT_BODY"

# The state survives a restart: still initialized.
ht_daemon_stop
ht_daemon_start dev
ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin3\",\"password\":\"$HT_ADMIN_PW\"}"
ht_expect_status 409 "setup still refused after a restart"
ht_done
