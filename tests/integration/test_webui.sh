#!/usr/bin/env bash
# provisions: 5.1-1 5.1-4 5.3-6 5.3-11 5.3-12 5.5-5 5.11-1 5.11-3 5.12-1 5.12-2 5.12-3 6-1 6-2 6-3
# timeout: 240
# serial: yes
#
# The device's web interface (docs/web.md) on the real hearthd, with a real
# update repository holding a disruptive security update:
#  - curl: every embedded asset is served from the program byte for byte
#    (compared with web/ and found inside the hearthd binary) with its
#    Content-Type, a strong ETag (304 on revalidation), the strict
#    Content-Security-Policy, HSTS, nosniff, Referrer-Policy no-referrer, no
#    cookie; API replies carry HSTS and a CSP of default-src 'none'; other
#    paths under /ui/ are 404 and nothing but GET/HEAD serves a page; every
#    API operation in docs/openapi.yaml except setup and login is refused
#    without a session token (401) -- the pages give no way around it;
#  - one browser flow (Debian's chromium driven through chromium-driver by
#    tests/integration/webui_driver.py, 375 px wide): set up a new device
#    with the label's setup password, log in with the keyboard, change the
#    target, see the announced disruptive update with the risks it fixes,
#    its downtime and installation time, move that time, postpone updates,
#    change the password, add a user, log them out everywhere and erase
#    them, read the privacy notice, give and withdraw a consent and read the
#    receipt, read the security events, see the device's own setup checks
#    with their verdicts in words (5.12-3), factory-reset the device from the
#    page and set it up again with the label's setup password; no
#    Content-Security-Policy violation in the console; the token never in a
#    cookie or Web Storage.
# WEBUI_SCREENSHOTS=DIR keeps a PNG of every page (scripts/screenshots.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
# shellcheck source=update_lib.sh
source "$here/update_lib.sh"

ht_init
trap 'upd_repo_stop_all; [ -f "$HT_WORK/restarted.pid" ] && kill "$(cat "$HT_WORK/restarted.pid")" 2>/dev/null; ht_cleanup' EXIT
t_start=$(date +%s)

D=$HT_WORK/dev
upd_fixture "$D" 2048 4096 || { echo "fixture failed"; exit 1; }
HT_CA=$D/ca/ca.crt
SETUP_PW=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup_password"])' "$D/label.json")
upd_bundle "$D/v2.hbu" --version 2.0.0 --secver 2 --notes "Hearth 2.0.0: faster start-up." \
    --mitigates "CVE-2026-0042: a crafted request could crash the local API" --disruptive --downtime 15 \
    hearthd="$D/payload" >/dev/null
upd_publish "$D/v2.hbu" 2.0.0
upd_repo_start "$D/repo" "$UPD_WWW" "$D/repo-tls" "$HT_CA" || exit 1
ht_daemon_start dev/state --update-url "$UPD_REPO_URL" --update-trust "$UPD_TRUST" \
    --update-first-delay 0 --update-first-window 0 --update-notice 86400 || exit 1

# ------------------------------------------------------------ assets (curl)

mapfile -t files < <(sed -n 's/^set(HEARTH_WEB_FILES \(.*\))$/\1/p' "$HEARTH_SOURCE_DIR/src/web/CMakeLists.txt" | tr ' ' '\n')
[ "${#files[@]}" -ge 3 ] && ht_pass "src/web/CMakeLists.txt embeds ${#files[@]} assets" ||
    ht_fail "asset list not found in src/web/CMakeLists.txt"
CSP="default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
for f in "${files[@]}"; do
    p="/ui/$f"; [ "$f" = index.html ] && p=/
    case $f in
        *.html) ct="text/html; charset=utf-8" ;; *.css) ct="text/css; charset=utf-8" ;;
        *.js) ct="text/javascript; charset=utf-8" ;; *.svg) ct="image/svg+xml" ;; *) ct=unknown ;;
    esac
    ht_req GET "$p"
    ht_check "GET $p: 200 without a token" [ "$HT_STATUS" = 200 ]
    ht_check "GET $p: the bytes of web/$f" cmp -s "$HT_WORK/last.body" "$HEARTH_SOURCE_DIR/web/$f"
    ht_check "GET $p: Content-Type $ct" [ "$(ht_header Content-Type)" = "$ct" ]
    ht_check "GET $p: the strict Content-Security-Policy" [ "$(ht_header Content-Security-Policy)" = "$CSP" ]
    ht_check "GET $p: HSTS, nosniff, Referrer-Policy no-referrer, framing denied" bash -c \
        '[ "$1" = max-age=31536000 ] && [ "$2" = nosniff ] && [ "$3" = no-referrer ] && [ "$4" = DENY ]' _ \
        "$(ht_header Strict-Transport-Security)" "$(ht_header X-Content-Type-Options)" \
        "$(ht_header Referrer-Policy)" "$(ht_header X-Frame-Options)"
    ht_check "GET $p: no cookie set" bash -c '! grep -qi "^Set-Cookie:" "$1"' _ "$HT_HDRS"
    etag=$(ht_header ETag)
    ht_check "GET $p: strong ETag ($etag)" bash -c '[[ $1 =~ ^\"[0-9a-f]{32}\"$ ]]' _ "$etag"
    code=$(ht_curl -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$HT_URL$p")
    ht_check "GET $p with If-None-Match: 304" [ "$code" = 304 ]
    head=$(ht_curl -I -o /dev/null -w '%{http_code} %{size_download}' "$HT_URL$p")
    ht_check "HEAD $p: 200, no body ($head)" [ "$head" = "200 0" ]
done
HEARTHD_BIN=$HEARTHD python3 - "$HEARTH_SOURCE_DIR/web" "${files[@]}" <<'PY' && ht_pass "every asset is inside the hearthd binary, byte for byte (no file on the device)" || ht_fail "an asset is not embedded in hearthd"
import os, sys
prog = open(os.environ["HEARTHD_BIN"], "rb").read()
sys.exit(0 if all(open(os.path.join(sys.argv[1], f), "rb").read() in prog for f in sys.argv[2:]) else 1)
PY
for p in /ui/ /ui/nope.js /ui/../CMakeLists.txt /ui/app.js/ /index.html /ui/%61pp.js; do
    ht_req GET "$p"
    ht_check "GET $p: 404 (only the table's exact paths)" [ "$HT_STATUS" = 404 ]
done
ht_req POST / '{}'
ht_check "POST /: no page ($HT_STATUS)" [ "$HT_STATUS" = 404 ]
ht_req GET /api/v1/device
ht_check "API reply: HSTS and CSP default-src 'none'" bash -c \
    '[ "$1" = max-age=31536000 ] && [ "$2" = "default-src '"'"'none'"'"'; frame-ancestors '"'"'none'"'"'" ] && [ "$3" = no-referrer ]' _ \
    "$(ht_header Strict-Transport-Security)" "$(ht_header Content-Security-Policy)" "$(ht_header Referrer-Policy)"

# ------------------------------------------------------------ the browser flow

SPKI=$(openssl s_client -connect "127.0.0.1:$HT_PORT" </dev/null 2>/dev/null | openssl x509 -pubkey -noout |
    openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    ht_untested "the web interface in a real browser" "chromium and chromium-driver are not installed (scripts/deps.sh installs them)"
else
    # The factory reset ends hearthd with the restart code; on a device
    # hearth-boot starts it again. Here the test does, on the same port.
    (
        while kill -0 "$HT_PID" 2>/dev/null; do sleep 0.2; done
        "$HEARTHD" --state "$D/state" --listen "127.0.0.1:$HT_PORT" --foreground "${HT_USER_ARGS[@]}" \
            --update-url "$UPD_REPO_URL" --update-trust "$UPD_TRUST" --update-first-delay 3600 \
            >>"$HT_WORK/restarted.out" 2>>"$HT_WORK/restarted.err" &
        echo $! >"$HT_WORK/restarted.pid"
    ) &
    RESTARTER=$!
    t0=$(date +%s)
    python3 "$here/webui_driver.py" --url "$HT_URL" --ca "$HT_CA" --spki "$SPKI" --setup-password "$SETUP_PW" \
        --work "$HT_WORK" --screenshots "${WEBUI_SCREENSHOTS:-}" >"$HT_WORK/driver.out" 2>"$HT_WORK/driver.err"
    kill "$RESTARTER" 2>/dev/null
    cat "$HT_WORK/driver.out"
    n_ok=$(grep -c '^ok ' "$HT_WORK/driver.out")
    n_fail=$(grep -c '^FAIL' "$HT_WORK/driver.out")
    HT_CHECKS=$((HT_CHECKS + n_ok + n_fail))
    HT_FAILS=$((HT_FAILS + n_fail))
    if [ "$n_ok" -lt 40 ]; then
        ht_fail "the browser flow ran only $n_ok checks; $(tail -5 "$HT_WORK/driver.err")"
    fi
    echo "  browser flow: $(( $(date +%s) - t0 )) s"
fi

# ------------------------------------------------------------ no way around the token

if [ -f "$HT_WORK/restarted.pid" ]; then
    HT_PIDS+=("$(cat "$HT_WORK/restarted.pid")")
    ht_login newowner "sunlit meadow kettle 41" || ht_fail "log in as the owner who set the device up after the reset"
elif ! ht_login anna "quiet harbour lantern 73"; then
    # No browser ran (or it failed before setup): set the device up here.
    ht_req POST /api/v1/setup "{\"setup_password\":\"$SETUP_PW\",\"username\":\"anna\",\"password\":\"quiet harbour lantern 73\"}"
    ht_login anna "quiet harbour lantern 73" || ht_fail "log in as anna"
fi
mapfile -t ops < <(python3 - "$HEARTH_SOURCE_DIR/docs/openapi.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for path, ops in doc["paths"].items():
    for method, op in ops.items():
        if method in ("get", "post", "put", "delete", "patch"):
            role = op.get("x-hearth-role", "user")
            if role != "service": # the service's own route (MQTT commands), not a local user's
                print(method.upper(), path.replace("{name}", "anna").replace("{purpose}", "usage_telemetry"), role)
PY
)
n=0
for op in "${ops[@]}"; do
    read -r m p role <<<"$op"
    [ "$role" = none ] && continue # setup and login
    b=""; [ "$m" = POST ] || [ "$m" = PUT ] && b='{}'
    ht_req "$m" "$p" "$b"
    if [ "$HT_STATUS" = 401 ]; then n=$((n + 1)); else ht_fail "$m $p without a token: $HT_STATUS"; fi
done
ht_check "5.5-5 all $n API operations but setup and login refuse a request without a token" [ "$n" -ge 15 ]
ht_req GET /api/v1/thermostat "" "$HT_TOKEN"
ht_check "positive control: the same API answers with the token" [ "$HT_STATUS" = 200 ]
echo "  test time: $(( $(date +%s) - t_start )) s"
ht_done
