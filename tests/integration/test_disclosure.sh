#!/usr/bin/env bash
# provisions: 5.2-1 5.3-13
# The real hearthd serves /.well-known/security.txt (RFC 9116) from the
# manufacturer's configuration built into it, without authentication and in
# every state, as text/plain; charset=utf-8: Contact (each configured one),
# exactly one Expires in RFC 3339 UTC, in the future and less than a year
# ahead, Preferred-Languages, Canonical, Policy, every value the configuration
# file holds, and the support period's end (5.3-13), which GET /api/v1/device
# also reports as support_until. Nothing device-specific is in it. The expiry
# rule itself (an expired file is refused and logged) is unit.disclosure's.
set -u
source "$(dirname "$0")/lib.sh"
ht_init
CONF="$HEARTH_SOURCE_DIR/packaging/config/manufacturer.conf"
conf() { sed -n "s/^$1 *= *//p" "$CONF"; }
ht_provision dev
ht_daemon_start dev
serial=$(ht_label_field dev serial)
model=$(ht_label_field dev model)

check_txt() { # $1: state name
    ht_req GET /.well-known/security.txt
    ht_expect_status 200 "$1: security.txt served without a login"
    case "$(ht_header Content-Type)" in
        "text/plain; charset=utf-8") ht_pass "$1: Content-Type text/plain; charset=utf-8" ;;
        *) ht_fail "$1: Content-Type $(ht_header Content-Type)" ;;
    esac
    case "$HT_BODY" in
        *"$serial"*|*"$model"*|*"$(ht_version)"*) ht_fail "$1: security.txt discloses the device's identity" ;;
        *) ht_pass "$1: nothing device-specific in security.txt" ;;
    esac
}
check_txt "factory default"
cp "$HT_WORK/last.body" "$HT_WORK/security.txt"

# Fields against the configuration file and RFC 9116's rules.
if python3 - "$HT_WORK/security.txt" "$CONF" <<'PY'; then ht_pass "security.txt fields match the configuration and RFC 9116"; else ht_fail "security.txt fields"; fi
import sys, re, datetime
txt = open(sys.argv[1]).read()
conf = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = [x.strip() for x in line.split("=", 1)]
        conf.setdefault(k, []).append(v)
fields = {}
for line in txt.splitlines():
    if not line or line.startswith("#"):
        continue
    k, v = line.split(": ", 1)
    fields.setdefault(k.lower(), []).append(v)
ok = True
def need(cond, what):
    global ok
    if not cond:
        print("  not so:", what); ok = False
need(fields.get("contact") == conf["contact"], "Contact lines are the configured contacts")
need(len(fields.get("expires", [])) == 1, "exactly one Expires")
exp = datetime.datetime.strptime(fields["expires"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
now = datetime.datetime.now(datetime.timezone.utc)
need(now < exp < now + datetime.timedelta(days=365), "Expires in the future and less than a year ahead")
need(fields.get("policy") == conf["policy"], "Policy")
need(fields.get("canonical") == conf["canonical"], "Canonical")
need(fields.get("preferred-languages") == conf["preferred_languages"], "Preferred-Languages")
need(set(fields) <= {"contact", "expires", "encryption", "acknowledgments", "preferred-languages", "canonical", "policy", "hiring"}, "only RFC 9116 fields")
need(("until %s " % conf["support_until"][0]) in txt, "the support period's end is stated")
sys.exit(0 if ok else 1)
PY

ht_setup_admin dev || { ht_fail setup; ht_done; }
check_txt "set up"
ht_req GET /api/v1/device "" "$HT_ADMIN_TOKEN"
ht_expect_status 200 "device information"
[ "$(ht_json support_until)" = "$(conf support_until)" ] &&
    ht_pass "GET /api/v1/device: support_until $(conf support_until)" ||
    ht_fail "GET /api/v1/device: support_until '$(ht_json support_until)' (body $HT_BODY)"
grep -q "$(conf support_until)" "$HEARTH_SOURCE_DIR/SECURITY.md" &&
    ht_pass "SECURITY.md states the same support period" || ht_fail "SECURITY.md does not state $(conf support_until)"
ht_done
