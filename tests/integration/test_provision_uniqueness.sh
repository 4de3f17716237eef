#!/usr/bin/env bash
# provisions: 5.1-1 5.1-2 5.4-4
# timeout: 1200
# release-only: yes
# (Its statistics need the release run's speed; the provisioning code runs
# under the sanitizers in provision_cli, provision_tpm and the API tests.)
# Provision N (default 500; HEARTH_PROVISION_N) devices with the real `hearth` CLI and check,
# over the whole batch, what 5.1-1/5.1-2/5.4-4 ask of pre-installed
# credentials: every setup password, serial, certificate and device key is
# unique; passwords have the documented format; symbol frequencies per
# position are consistent with uniform (chi-square); no password contains its
# serial; no two passwords share a longer prefix than chance allows.
set -euo pipefail

HEARTH="${HEARTH_BUILD_DIR:?}/tools/hearth"
[ -x "$HEARTH" ] || { echo "FAIL: $HEARTH not built"; exit 1; }
N="${HEARTH_PROVISION_N:-500}"
JOBS="${HEARTH_PROVISION_JOBS:-2}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hearth-prov-uniq.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/devs" "$tmp/labels"
"$HEARTH" ca init "$tmp/ca" >/dev/null

export HEARTH CA="$tmp/ca" DEVS="$tmp/devs" LABELS="$tmp/labels" ERRS="$tmp/errs"
start=$(date +%s.%N)
# Each device is a separate process; JOBS run in parallel (Argon2id of the
# setup password dominates, ~0.1 s each).
seq 1 "$N" | xargs -P "$JOBS" -n 20 bash -c '
    for i in "$@"; do
        if ! "$HEARTH" provision --ca "$CA" --out "$DEVS/d$i" --model HTH-Therm.2 \
                --label json >"$LABELS/$i.json" 2>>"$ERRS.$$"; then
            echo "device $i failed:" >&2; tail -3 "$ERRS.$$" >&2; exit 255
        fi
    done' _
end=$(date +%s.%N)
cat "$tmp/labels"/*.json >"$tmp/all.json"
got=$(wc -l <"$tmp/all.json")
[ "$got" -eq "$N" ] || { echo "FAIL: $got labels for $N devices"; exit 1; }
awk -v n="$N" -v s="$start" -v e="$end" \
    'BEGIN { printf "provisioned %d devices in %.1f s (%.0f ms per device, wall)\n", n, e - s, 1000 * (e - s) / n }'

# serial <TAB> password <TAB> fingerprint
sed -E 's/.*"serial":"([^"]*)","setup_password":"([^"]*)","fingerprint":"([^"]*)".*/\1\t\2\t\3/' \
    "$tmp/all.json" >"$tmp/all.tsv"

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
distinct() { cut -f"$1" "$tmp/all.tsv" | sort -u | wc -l; }

# 1. Uniqueness of passwords, serials, certificate fingerprints, public keys.
for col in 1:serials 2:passwords 3:fingerprints; do
    d=$(distinct "${col%%:*}")
    echo "distinct ${col#*:}: $d / $N"
    [ "$d" -eq "$N" ] || fail "duplicate ${col#*:}"
done
# All certificates through one openssl process; one line of public-key hex each.
for i in $(seq 1 "$N"); do cat "$tmp/devs/d$i/device.crt"; done >"$tmp/certs.pem"
openssl crl2pkcs7 -nocrl -certfile "$tmp/certs.pem" | openssl pkcs7 -print_certs -noout -text |
    awk '/^ *pub:/ { on = 1; k = ""; next }
         on && /^ *[0-9a-f][0-9a-f]:/ { gsub(/[ :]/, ""); k = k $0; next }
         on { print k; on = 0 }' >"$tmp/pubkeys"
dk=$(sort -u "$tmp/pubkeys" | wc -l)
echo "distinct device public keys: $dk / $(wc -l <"$tmp/pubkeys")"
[ "$dk" -eq "$N" ] && [ "$(wc -l <"$tmp/pubkeys")" -eq "$N" ] || fail "duplicate device keys"
# Uncompressed P-256 points: 65 bytes = 130 hex digits, so the parse is whole.
[ "$(awk 'length($0) != 130' "$tmp/pubkeys" | wc -l)" -eq 0 ] || fail "unparsed public keys"
ds=$(cat "$tmp/devs"/d*/keys/storage.key | od -An -v -tx1 -w32 | sort -u | wc -l)
echo "distinct storage root keys: $ds / $N"
[ "$ds" -eq "$N" ] || fail "duplicate storage root keys"

# 2. Format.
bad=$(cut -f2 "$tmp/all.tsv" | grep -Evc '^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}$' || true)
echo "passwords not matching XXXX-XXXX-XXXX-XXXX over the 32-symbol alphabet: $bad"
[ "$bad" -eq 0 ] || fail "$bad malformed passwords"

# 3-5. Statistics (awk): chi-square uniformity, serial containment, prefixes.
cut -f1,2 "$tmp/all.tsv" | awk -F'\t' -v N="$N" '
function wh(k, z) { return k * (1 - 2 / (9 * k) + z * sqrt(2 / (9 * k))) ^ 3 }  # Wilson-Hilferty quantile
BEGIN { A = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; Z = 4.75 }   # z=4.75: two-sided p ~ 2e-6
{
    pw = $2; gsub("-", "", pw); ser = toupper($1); gsub("-", "", ser)
    for (p = 1; p <= 16; p++) { c = substr(pw, p, 1); cnt[p, c]++; tot[c]++ }
    if (index(pw, ser) > 0) contains++
    for (i = 1; i + 3 <= length(ser); i++) if (index(pw, substr(ser, i, 4)) > 0) { overlap++; break }
    pws[NR] = pw
}
END {
    E = N / 32; chi = 0; worst = 0
    for (p = 1; p <= 16; p++) {
        cp = 0
        for (k = 1; k <= 32; k++) { c = substr(A, k, 1); d = cnt[p, c] - E; cp += d * d / E }
        chi += cp; if (cp > worst) { worst = cp; wpos = p }
    }
    df = 16 * 31; hi = wh(df, Z); lo = wh(df, -Z)
    printf "chi-square over 32 symbols x 16 positions: %.1f (df %d, expected %d, accept %.1f..%.1f)\n", chi, df, df, lo, hi
    if (chi > hi || chi < lo) { print "FAIL: symbol distribution not consistent with uniform"; bad++ }
    # The worst single position, Bonferroni-corrected for 16 tests.
    hi1 = wh(31, Z + 0.6)
    printf "worst position %d: chi-square %.1f (df 31, limit %.1f)\n", wpos, worst, hi1
    if (worst > hi1) { print "FAIL: position " wpos " is biased"; bad++ }
    pooled = 0; E16 = 16 * N / 32
    for (k = 1; k <= 32; k++) { c = substr(A, k, 1); d = tot[c] - E16; pooled += d * d / E16 }
    printf "pooled symbol frequencies: chi-square %.1f (df 31, limit %.1f)\n", pooled, wh(31, Z)
    if (pooled > wh(31, Z)) { print "FAIL: pooled symbol frequencies biased"; bad++ }
    printf "passwords containing their serial: %d; sharing 4+ symbols with it: %d\n", contains + 0, overlap + 0
    if (contains + overlap > 0) { print "FAIL: password related to its serial"; bad++ }
    # Longest common prefix over all pairs = max over neighbours in sorted order.
    n = 0; for (i in pws) s[++n] = pws[i]
    # insertion sort is O(n^2) but n is ~1000: fine
    for (i = 2; i <= n; i++) { v = s[i]; j = i - 1; while (j > 0 && s[j] > v) { s[j + 1] = s[j]; j-- } s[j + 1] = v }
    maxl = 0; ge4 = 0
    for (i = 2; i <= n; i++) {
        l = 0; while (l < 16 && substr(s[i], l + 1, 1) == substr(s[i - 1], l + 1, 1)) l++
        if (l > maxl) maxl = l
        if (l >= 4) ge4++
    }
    pairs = n * (n - 1) / 2
    printf "longest common prefix between any two passwords: %d symbols (pairs: %d; expected pairs sharing >= 4: %.2f, observed neighbours: %d; P(any >= 7) = %.1e)\n", maxl, pairs, pairs / 32 ^ 4, ge4, pairs / 32 ^ 7
    if (maxl >= 7) { print "FAIL: two passwords share a prefix of " maxl " symbols"; bad++ }
    exit (bad > 0)
}' || fails=$((fails + 1))

# 6. Every device got its secure store.
missing=$(for i in $(seq 1 "$N"); do [ -s "$tmp/devs/d$i/data/store.hst" ] || echo "$i"; done | wc -l)
echo "state dirs without a store: $missing"
[ "$missing" -eq 0 ] || fail "$missing devices without a store"

echo "provision uniqueness: $fails failure(s)"
[ "$fails" -eq 0 ]
