#!/usr/bin/env bash
# provisions: 5.2-3
# The SBOM of what the device runs (docs/sbom.md), and monitoring it:
#  - the build's SBOM (build/sbom/hearthd.cdx.json) validates against the
#    official CycloneDX 1.6 JSON schema (vendored, third_party/cyclonedx),
#    and a broken copy does not (the validator is live);
#  - it is the real link set: hearthd's SHA-256 is the built file's; every
#    NEEDED library of hearthd (readelf) is there as the Debian package that
#    ships it, with dpkg's version and a pkg:deb purl;
#  - hearth bundle create --sbom signs it into the manifest, refuses an SBOM
#    that describes other software, inspect shows it (a bundle without one
#    says so), and the real hearthd started by the real hearth-boot from that
#    slot serves it at GET /api/v1/sbom (login required);
#  - hearth vuln check, with an OSV feed and a CSAF VEX document generated
#    here: an OSV range match is reported with the candidate release that
#    fixes it, a version outside the range is not, a CSAF known_not_affected
#    suppresses a match, a CSAF known_affected for the manufacturer's own
#    program is reported, exit status 3; without open findings exit 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
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
B=$(ht_build_dir)
SBOM=$B/sbom/hearthd.cdx.json
HEARTHD_BIN=$(ht_bin hearthd)
H=$(ht_bin hearth)
W=$HT_WORK
[ -s "$SBOM" ] || { ht_fail "no SBOM at $SBOM (HEARTH_SBOM=OFF?)"; ht_done; }

# --- schema
validate() { # FILE -> 0 valid
    python3 -W ignore - "$HEARTH_SOURCE_DIR/third_party/cyclonedx" "$1" <<'PY'
import json, sys, jsonschema
d = sys.argv[1] + "/"
store = {}
for f in ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
    s = json.load(open(d + f)); store[s["$id"]] = s
schema = store["http://cyclonedx.org/schema/bom-1.6.schema.json"]
v = jsonschema.Draft7Validator(schema, resolver=jsonschema.RefResolver.from_schema(schema, store=store))
errs = list(v.iter_errors(json.load(open(sys.argv[2]))))
for e in errs[:3]: print("  schema:", e.message[:200])
sys.exit(1 if errs else 0)
PY
}
validate "$SBOM" && ht_pass "build SBOM validates against CycloneDX 1.6 (bom-1.6.schema.json)" ||
    ht_fail "build SBOM is not valid CycloneDX 1.6"
python3 - "$SBOM" "$W/broken.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["components"][0]["hashes"][0]["alg"] = "SHA-999"
d["components"][1]["type"] = "gadget"
json.dump(d, open(sys.argv[2], "w"))
PY
validate "$W/broken.json" >/dev/null && ht_fail "the validator accepted a broken SBOM" ||
    ht_pass "control: an SBOM with an unknown hash algorithm and component type fails the schema"

# --- the real link set
want_sha=$(sha256sum "$HEARTHD_BIN" | cut -d' ' -f1)
got_sha=$(python3 -c 'import json,sys; print([c for c in json.load(open(sys.argv[1]))["components"] if c["name"]=="hearthd"][0]["hashes"][0]["content"])' "$SBOM")
[ "$want_sha" = "$got_sha" ] && ht_pass "hearthd's SHA-256 in the SBOM is the built program's" ||
    ht_fail "hearthd SHA-256: SBOM $got_sha, file $want_sha"
# Every NEEDED entry (readelf), resolved by the loader (ldd), owned by a
# Debian package (dpkg-query -S) at dpkg's version: an SBOM package of hearthd.
if python3 - "$SBOM" "$HEARTHD_BIN" <<'PY'; then ht_pass "every NEEDED library of hearthd is an SBOM package of it, with dpkg's version and a pkg:deb purl"; else ht_fail "NEEDED libraries vs SBOM"; fi
import json, re, subprocess, sys
sbom, prog = json.load(open(sys.argv[1])), sys.argv[2]
needed = re.findall(r"\(NEEDED\).*\[(.*)\]", subprocess.run(["readelf", "-d", prog], capture_output=True, text=True).stdout)
ldd = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", prog], capture_output=True, text=True).stdout, re.M))
paths = [ldd[n] for n in needed]
twins = [p[4:] if p.startswith("/usr/") else "/usr" + p for p in paths]
out = subprocess.run(["dpkg-query", "-S"] + paths + twins, capture_output=True, text=True).stdout
owner = {}
for line in out.splitlines():
    pkg, _, path = line.partition(": ")
    owner[path] = pkg.split(",")[0]
pkgs = [owner.get(p) or owner.get(t) for p, t in zip(paths, twins)]
vout = subprocess.run(["dpkg-query", "-W", "-f", "${binary:Package} ${Version}\n"] + sorted(set(pkgs)), capture_output=True, text=True).stdout
vmap = dict(l.split(" ", 1) for l in vout.splitlines())
vers = [vmap.get(p) or vmap.get(p.split(":")[0]) for p in pkgs]
dep = [x for x in sbom["dependencies"] if x["ref"] == "program:hearthd"][0]["dependsOn"]
ok = len(needed) >= 5
for n, pkg, ver in zip(needed, pkgs, vers):
    name = pkg.split(":")[0]
    hits = [c for c in sbom["components"] if c["name"] == name and c["version"] == ver
            and c.get("purl", "").startswith("pkg:deb/debian/%s@" % name) and "arch=" in c["purl"] and c["bom-ref"] in dep]
    if not hits:
        print("  missing:", n, pkg, ver); ok = False
print("  %d NEEDED libraries checked" % len(needed))
sys.exit(0 if ok else 1)
PY

# --- signed into a bundle, shown by inspect, refused when it describes other software
echo "notes" >"$W/notes"
common=(--model HT-100 --hw-id hw1 --version 0.1.0 --security-version 1 --expires 30 --notes-file "$W/notes" --mitigates none)
"$H" bundle create --out "$W/with.hbd" "${common[@]}" --payload hearthd="$HEARTHD_BIN" --sbom "$SBOM" >/dev/null 2>"$W/err" &&
    ht_pass "bundle create --sbom" || ht_fail "bundle create --sbom: $(cat "$W/err")"
"$H" bundle inspect "$W/with.hbd" >"$W/inspect" 2>&1
grep -q "^sbom: *CycloneDX 1.6, .*signed with the manifest: hearthd 0.1.0, 3 program(s), [0-9]* package(s)" "$W/inspect" &&
    grep -q "libssl3 .*pkg:deb/debian/libssl3@" "$W/inspect" &&
    ht_pass "bundle inspect shows the signed SBOM and its packages" || ht_fail "inspect: $(grep -A2 sbom "$W/inspect")"
"$H" bundle inspect "$W/with.hbd" --sbom >"$W/out.json" && cmp -s "$W/out.json" "$SBOM" &&
    ht_pass "bundle inspect --sbom gives the SBOM byte for byte" || ht_fail "inspect --sbom differs"
head -c 100000 /dev/urandom >"$W/other"
if "$H" bundle create --out "$W/bad.hbd" "${common[@]}" --payload hearthd="$W/other" --sbom "$SBOM" >/dev/null 2>"$W/err"; then
    ht_fail "bundle create accepted an SBOM of other software"
else
    grep -q "describes other software" "$W/err" && [ ! -e "$W/bad.hbd" ] &&
        ht_pass "an SBOM whose hearthd is not the payload is refused, no bundle written" || ht_fail "refusal: $(cat "$W/err")"
fi
"$H" bundle create --out "$W/old.hbd" "${common[@]}" --payload hearthd="$HEARTHD_BIN" >/dev/null 2>&1
"$H" bundle inspect "$W/old.hbd" | grep -q "^sbom: *none" && ht_pass "a bundle without an SBOM: inspect says none" ||
    ht_fail "inspect of a bundle without SBOM"

# --- served by the device from the slot hearth-boot launched
D=$W/dev
UPD_V1_PAYLOAD=$HEARTHD_BIN upd_fixture "$D" 4096 4096 >/dev/null || { ht_fail "update fixture"; ht_done; }
HT_CA=$D/ca/ca.crt
upd_bundle "$D/b.hbu" --version 0.1.0 --secver 1 --sbom "$SBOM" hearthd="$HEARTHD_BIN" >/dev/null
"$UPD_CLI" slot install --state "$UPD_STATE" --trust "$UPD_TRUST" --keyset "$UPD_STATE/keyset.hks" \
    --bundle "$D/b.hbu" --slot b >/dev/null || ht_fail "slot install"
upd_device_user "$D"
"$(upd_find_bin hearth-boot)" "${UPD_USER_ARGS[@]}" --state "$UPD_STATE" --trust "$UPD_TRUST" --keyset "$UPD_STATE/keyset.hks" \
    -- --listen 127.0.0.1:0 --foreground --update-trust "$UPD_TRUST" >"$D/boot.out" 2>"$D/boot.err" &
BOOT_PID=$!
line=""
for _ in $(seq 1 300); do
    line=$(grep -m1 '^hearthd: listening on https://' "$D/boot.out" 2>/dev/null || true)
    [ -n "$line" ] && break
    sleep 0.05
done
if [ -z "$line" ]; then
    ht_fail "hearthd did not start from the slot: $(tail -3 "$D/boot.err")"
else
    HT_URL="https://127.0.0.1:${line##*:}"
    ht_req GET /api/v1/sbom
    ht_expect_status 409 "GET /api/v1/sbom before setup"
    cp "$D/label.json" "$D/state.label.json"
    spw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup_password"])' "$D/label.json")
    ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin\",\"password\":\"$HT_ADMIN_PW\"}"
    ht_login admin "$HT_ADMIN_PW" || ht_fail "login"
    ht_req GET /api/v1/sbom
    ht_expect_status 401 "GET /api/v1/sbom without a token"
    ht_req GET /api/v1/sbom "" "$HT_TOKEN"
    ht_expect_status 200 "GET /api/v1/sbom"
    cmp -s "$W/last.body" "$SBOM" && ht_pass "the device serves the SBOM signed into its running slot, byte for byte ($(stat -c %s "$SBOM") bytes)" ||
        ht_fail "served SBOM differs from the bundle's"
    case "$(ht_header Content-Type)" in application/vnd.cyclonedx+json*) ht_pass "Content-Type $(ht_header Content-Type)" ;; *) ht_fail "Content-Type $(ht_header Content-Type)" ;; esac
fi

# --- monitoring: feeds generated here
python3 - "$SBOM" "$W" <<'PY'
import json, sys, copy
sbom, w = json.load(open(sys.argv[1])), sys.argv[2]
comp = {c["name"]: c for c in sbom["components"]}
def prop(c, n): return [p["value"] for p in c.get("properties", []) if p["name"] == n][0]
ssl, sod, zl = comp["libssl3"], comp["libsodium23"], comp["zlib1g"]
ssl_src, ssl_v = prop(ssl, "hearth:deb:source"), prop(ssl, "hearth:deb:source-version")
fix = ssl_v + "+test1"  # sorts after the installed version (dpkg order)
osv = [
  {"id": "DEBIAN-TEST-0001", "aliases": ["CVE-2099-0001"], "summary": "openssl test",
   "affected": [{"package": {"ecosystem": "Debian:12", "name": ssl_src},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fix}]}]}]},
  {"id": "DEBIAN-TEST-0002", "aliases": ["CVE-2099-0002"],
   "affected": [{"package": {"ecosystem": "Debian:12", "name": prop(zl, "hearth:deb:source")},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.0-1"}]}]}]},
  {"id": "DEBIAN-TEST-0003", "aliases": ["CVE-2099-0003"],
   "affected": [{"package": {"ecosystem": "Debian", "name": prop(sod, "hearth:deb:source")},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
  {"id": "DEBIAN-TEST-0004", "affected": [{"package": {"ecosystem": "Debian:11", "name": ssl_src},
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]},
]
json.dump({"vulns": osv}, open(w + "/osv.json", "w"))
vex = {
  "document": {"category": "csaf_vex", "csaf_version": "2.0", "title": "test VEX",
               "publisher": {"category": "vendor", "name": "Hearth Project", "namespace": "https://hearth.example"},
               "tracking": {"id": "HEARTH-VEX-TEST-1", "status": "final", "version": "1",
                            "initial_release_date": "2026-12-07T00:00:00Z", "current_release_date": "2026-12-07T00:00:00Z",
                            "revision_history": [{"number": "1", "date": "2026-12-07T00:00:00Z", "summary": "test"}]}},
  "product_tree": {"branches": [{"category": "vendor", "name": "Debian", "branches": [
      {"category": "product_name", "name": "libsodium23", "product": {"product_id": "P-SODIUM", "name": "libsodium23",
       "product_identification_helper": {"purl": sod["purl"]}}}]}],
    "full_product_names": [{"product_id": "P-HEARTHD", "name": "hearthd 0.1.0",
       "product_identification_helper": {"purl": comp["hearthd"]["purl"]}}]},
  "vulnerabilities": [
    {"cve": "CVE-2099-0003", "product_status": {"known_not_affected": ["P-SODIUM"]},
     "flags": [{"label": "vulnerable_code_not_in_execute_path", "product_ids": ["P-SODIUM"]}]},
    {"cve": "CVE-2099-0100", "product_status": {"known_affected": ["P-HEARTHD"]}}]}
json.dump(vex, open(w + "/vex.json", "w"))
# Candidate release 0.2.0: openssl at the fixed version, hearthd rebuilt.
cand = copy.deepcopy(sbom)
cand["metadata"]["component"]["version"] = "0.2.0"
for c in cand["components"]:
    if c["name"] == "hearthd":
        c["version"] = "0.2.0"; c["purl"] = c["purl"].replace("@0.1.0", "@0.2.0")
    for p in c.get("properties", []):
        if p["name"] == "hearth:deb:source-version" and p["value"] == ssl_v and c["name"] == "libssl3":
            p["value"] = fix
json.dump(cand, open(w + "/cand.json", "w"))
PY
"$H" vuln check --sbom "$W/with.hbd" --feed "$W/osv.json" --feed "$W/vex.json" --candidate "$W/cand.json" >"$W/v.txt" 2>&1
rc=$?
[ $rc = 3 ] && ht_pass "vuln check: exit 3 with open findings" || ht_fail "vuln check exit $rc: $(cat "$W/v.txt")"
"$H" vuln check --sbom "$W/with.hbd" --feed "$W/osv.json" --feed "$W/vex.json" --candidate "$W/cand.json" --json >"$W/v.json" 2>&1
if python3 - "$W/v.json" <<'PY'; then ht_pass "vuln check: openssl affected (fixed by 0.2.0), zlib and Debian 11 not, libsodium suppressed by VEX, hearthd's own advisory reported"; else ht_fail "vuln check findings: $(cat "$W/v.json")"; fi
import json, sys
d = json.load(open(sys.argv[1]))
f = {(x["component"], x["id"]): x for x in d["findings"]}
ok = True
def need(c, m):
    global ok
    if not c: print("  not so:", m); ok = False
ssl = f.get(("libssl3", "DEBIAN-TEST-0001"))
need(ssl and ssl["state"] == "affected" and ssl["fixed_by"] == ["0.2.0"] and "CVE-2099-0001" in ssl["aliases"], "openssl affected, fixed by 0.2.0")
need(not any(k[1] == "DEBIAN-TEST-0002" for k in f), "zlib outside the range: not reported")
need(not any(k[1] == "DEBIAN-TEST-0004" for k in f), "Debian:11 record does not match Debian 12")
sod = f.get(("libsodium23", "DEBIAN-TEST-0003"))
need(sod and sod["state"] == "not_affected" and sod["vex"] == "HEARTH-VEX-TEST-1" and sod["justification"] == "vulnerable_code_not_in_execute_path", "libsodium suppressed by VEX")
own = f.get(("hearthd", "CVE-2099-0100"))
need(own and own["state"] == "affected" and own["fixed_by"] == ["0.2.0"], "hearthd known_affected, fixed by 0.2.0")
need(d["summary"] == {"open": 2, "suppressed": 1}, "summary 2 open, 1 suppressed")
sys.exit(0 if ok else 1)
PY
"$H" vuln check --sbom "$W/cand.json" --feed "$W/osv.json" --feed "$W/vex.json" >"$W/v2.txt" 2>&1
rc=$?
[ $rc = 0 ] && grep -q "summary: 0 affected" "$W/v2.txt" && ht_pass "the candidate release: nothing open, exit 0" ||
    ht_fail "candidate check exit $rc: $(cat "$W/v2.txt")"
echo '{"document":{"csaf_version":"1.9"}}' >"$W/bad.json"
"$H" vuln check --sbom "$SBOM" --feed "$W/bad.json" >/dev/null 2>&1
[ $? = 1 ] && ht_pass "a feed of an unsupported CSAF version is an error (exit 1)" || ht_fail "bad feed not refused"
ht_done
