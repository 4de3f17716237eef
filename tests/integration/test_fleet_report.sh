#!/usr/bin/env bash
# provisions: 5.10-1
# needs: HEARTH_FLEET
# The fleet report (docs/fleet.md, "Report") after real ingest through
# mosquitto with mutual TLS: `hearth-fleet report --json`, and the HTML page
# `run --report-listen` serves read-only on loopback, opened in a real
# browser (Debian's chromium, headless):
#  - the rendered page shows a row per device with its status and an
#    anomaly row with its evidence; the JSON report says the same;
#  - the page runs under its strict Content-Security-Policy (header and
#    meta: default-src 'none', the style allowed by its hash only) and the
#    browser reports no violation of it: the page needs no script, no
#    third-party resource, no inline style the policy does not name;
#  - the server is read-only (POST 405, other paths 404) and refuses to
#    listen on anything but loopback.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
source "$(dirname "$0")/fleet_lib.sh"
CHROMIUM=$(command -v chromium || true)

fl_ca || exit 1
for d in dev1 dev2; do fl_device_cert "$d" || exit 1; done
fl_broker_start || exit 1
rport=$(fl_free_port)
fl_fleet_start --batch 1 --report-listen "127.0.0.1:$rport" --rule update_verification=2/600 || exit 1
now=$(date +%s)
fl_pub dev1 status '{"v":1,"online":true}'
fl_pub dev2 status '{"v":1,"online":false}'
for d in dev1 dev2; do
    fl_state "$d" 1.0.0 thermostat
    fl_pub "$d" telemetry "$(fl_telemetry 443)"
    fl_pub "$d" events "{\"v\":1,\"seq\":2,\"ts\":$now,\"sev\":\"warning\",\"event\":\"update_rejected\",\"reason\":\"signature\"}"
done
if fl_wait "len(r['anomalies']) == 1 and r['summary']['telemetry'] == 2"; then
    ht_pass "JSON report: 2 devices, 2 reports, the update_verification anomaly"
else
    ht_fail "JSON report: $FL_REPORT"
fi
ht_check "JSON report: per-device status" \
    test "$(fl_q "[(d['id'], d['status']) for d in r['devices']]")" = "[('dev1', 'online'), ('dev2', 'offline')]"

url="http://127.0.0.1:$rport/"
hdrs=$(curl -s -D - -o "$HT_WORK/page.html" "$url")
ht_check "the page is served with its CSP header" \
    grep -q "^Content-Security-Policy: default-src 'none'; style-src 'sha256-" <<<"$hdrs"
ht_check "... and nosniff, no-store" bash -c 'grep -qi "^X-Content-Type-Options: nosniff" <<<"$1" && grep -qi "^Cache-Control: no-store" <<<"$1"' _ "$hdrs"
ht_check "the page has no script at all" bash -c '! grep -qi "<script" "$1"' _ "$HT_WORK/page.html"
ht_check "the page refers to no other resource (no src=, no href=)" \
    bash -c '! grep -Eqi "(src|href)=" "$1"' _ "$HT_WORK/page.html"
ht_check "/report.json is the JSON report" \
    bash -c 'curl -sf "$1" | python3 -c "import json,sys; r=json.load(sys.stdin); sys.exit(0 if len(r[\"devices\"])==2 else 1)"' _ "${url}report.json"
ht_check "POST is refused (read-only)" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$url")" = 405
ht_check "other paths are 404" test "$(curl -s -o /dev/null -w '%{http_code}' "${url}../etc/passwd")" = 404

if [ -z "$CHROMIUM" ]; then
    ht_untested "report page in a real browser" "chromium is not installed (scripts/deps.sh installs it)"
else
    # Root cannot use chromium's sandbox; the test's own profile dir.
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$HT_WORK/chromium" --enable-logging=stderr --v=0 \
        --dump-dom "$url" >"$HT_WORK/dom.html" 2>"$HT_WORK/chromium.err"
    dom=$(cat "$HT_WORK/dom.html")
    rows=$(grep -o '<tr class="device"><td>dev[12]</td><td>thermostat</td><td>1.0.0</td><td class="[a-z]*">[a-z]*</td>' <<<"$dom")
    if [ "$(printf '%s\n' "$rows" | wc -l)" = 2 ] && grep -q 'dev1</td><td>thermostat</td><td>1.0.0</td><td class="online">online' <<<"$rows" &&
        grep -q 'dev2</td><td>thermostat</td><td>1.0.0</td><td class="offline">offline' <<<"$rows"; then
        ht_pass "chromium renders a row per device with model, software and status"
    else
        ht_fail "device rows in the rendered page: ${rows:-none}; $(head -c 2000 "$HT_WORK/dom.html")"
    fi
    if grep -Eq '<tr class="anomaly">.*<td>update_verification</td>.*<td>2</td>.*dev1: update_rejected, dev2: update_rejected|<tr class="anomaly">.*<td>update_verification</td>.*<td>2</td>.*dev2: update_rejected, dev1: update_rejected' <<<"$dom"; then
        ht_pass "chromium renders the anomaly with its evidence"
    else
        ht_fail "anomaly row: $(grep -o '<tr class="anomaly">[^\n]*' <<<"$dom" | head -c 600)"
    fi
    if grep -qi "Content Security Policy\|Content-Security-Policy" "$HT_WORK/chromium.err"; then
        ht_fail "chromium reports a CSP violation: $(grep -i 'security policy' "$HT_WORK/chromium.err" | head -2)"
    elif grep -q "CONSOLE" "$HT_WORK/chromium.err"; then
        ht_fail "the page wrote to the console: $(grep CONSOLE "$HT_WORK/chromium.err" | head -2)"
    else
        ht_pass "chromium reports no policy violation or console message for the page"
    fi
fi

"$FLEET" report --db "$FL_DB" --html --out "$HT_WORK/report.html"
ht_check "report --html --out writes the same page (with its CSP in a meta tag)" \
    grep -q "http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'" "$HT_WORK/report.html"
if "$FLEET" run --db "$HT_WORK/x.db" --broker "127.0.0.1:$FL_BROKER_PORT" --ca "$FL_SVC/ca.crt" \
    --cert "$FL_SVC/fleet.crt" --key "$FL_SVC/fleet.key" --report-listen "0.0.0.0:$(fl_free_port)" \
    2>"$HT_WORK/nonloop.err"; then
    ht_fail "run served the report on 0.0.0.0"
else
    ht_check "run refuses a non-loopback report address" grep -q "loopback" "$HT_WORK/nonloop.err"
fi
ht_done
