#!/usr/bin/env bash
# provisions: none
# timeout: 60
# The provisions data (data/en303645-v2.tsv) against the standard's own text,
# and the profile parser against the exact ETSI export it was written for.
# The texts are ETSI's, not the project's: they are read from
# $HEARTH_ETSI_DIR (cmake -DHEARTH_ETSI_DIR=..., default ../shared/etsi
# beside the checkout); without them this test is Not Run, never passed.
#  - the 67 "Provision <id>" paragraphs of EN 303 645 v2 are exactly the
#    data file's ids, in document order;
#  - each provision's modal verb (shall / should, never both) and the word
#    it opens with (Where / If / When / For: a condition) are the data
#    file's verb and lead, hence its Annex B status (M, R, M C, R C);
#  - every TS 103 645 id the data maps is a provision of TS 103 645 v1.1.1;
#  - `hearth ics` reads product-profile-selection.txt exactly as it is (with
#    its extraction noise: ids with a footnote mark glued on, a record
#    without its category column) into the same selection as the shipped
#    CSV form docs/conformance/thermostat-profile.csv, and names the noise.
set -u
source "$HEARTH_SOURCE_DIR/tests/integration/lib.sh"
# No device here: only the CLI, the work dir and its cleanup (not ht_init).
HT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/hearth-it.XXXXXX")
trap ht_cleanup EXIT
HEARTH_CLI=$(ht_bin hearth) || exit 1
etsi=${HEARTH_ETSI_DIR:-}
if [ -z "$etsi" ] || [ ! -f "$etsi/EN-303-645-v2.txt" ] || [ ! -f "$etsi/TS-103-645-v1.1.1.txt" ] ||
   [ ! -f "$etsi/product-profile-selection.txt" ]; then
    ht_untested "provisions data against the EN 303 645 text" "the ETSI texts are not in '${etsi:-unset}' (cmake -DHEARTH_ETSI_DIR)"
    ht_done
fi

if out=$(python3 - "$HEARTH_SOURCE_DIR/data/en303645-v2.tsv" "$etsi/EN-303-645-v2.txt" "$etsi/TS-103-645-v1.1.1.txt" 2>&1 <<'PY'
import re, sys
data, en, ts = sys.argv[1:4]
rows = [l.rstrip('\n').split('\t') for l in open(data, encoding='utf-8')
        if l[:1].isdigit()]
text = open(en, encoding='utf-8').read()
prov = re.findall(r'^Provision (\d+(?:\.\d+)?-\d+) (.*)$', text, re.M)
bad = []
if [p[0] for p in prov] != [r[0] for r in rows]:
    bad.append('ids or their order differ from the standard: %s' % sorted(set(p[0] for p in prov) ^ set(r[0] for r in rows)))
words = dict(prov)
for r in rows:
    pid, status, cond, ctext, tsids, verb, lead, title = r
    t = words.get(pid, '')
    shall, should = re.search(r'\bshall\b', t), re.search(r'\bshould\b', t)
    if shall and should:
        bad.append('%s: uses both shall and should' % pid)
    v = 'shall' if shall else 'should' if should else None
    first = t.split()[0] if t else ''
    l = first if first in ('Where', 'If', 'When', 'For') else '-'
    want = ('M' if v == 'shall' else 'R') + (' C' if l != '-' else '')
    if v != verb or l != lead or status != want:
        bad.append('%s: text says %s/%s (status %s), data says %s/%s (status %s)' % (pid, v, l, want, verb, lead, status))
tstext = open(ts, encoding='utf-8').read()
tsids = set(re.findall(r'^\s*Provision (4\.\d+-\d+) ', tstext, re.M))
mapped = set(i for r in rows for i in r[4].split(',') if i != '-')
if mapped != tsids:
    bad.append('TS 103 645 ids: mapped %d, in the text %d, differ: %s' % (len(mapped), len(tsids), sorted(mapped ^ tsids)))
print('\n'.join(bad) if bad else '%d provisions, %d TS ids checked' % (len(rows), len(mapped)))
sys.exit(1 if bad else 0)
PY
); then
    ht_pass "data/en303645-v2.tsv agrees with the standard's text: $out"
else
    ht_fail "data/en303645-v2.tsv vs the standard: $out"
fi

# A small evidence set so the CLI runs; the profile is what is compared.
printf 'test\tkind\tprovisions\nunit.x\tunit\t5.1-1\n' >"$HT_WORK/map.tsv"
printf '<testsuite><testcase name="unit.x" status="run"/></testsuite>\n' >"$HT_WORK/run.xml"
ics() { "$HEARTH_CLI" ics --map "$HT_WORK/map.tsv" --junit "$HT_WORK/run.xml" --commit abcdef0 "$@"; }
if ics --profile "$etsi/product-profile-selection.txt" --json "$HT_WORK/etsi.json" >/dev/null 2>"$HT_WORK/etsi.err" &&
   ics --profile "$HEARTH_SOURCE_DIR/docs/conformance/thermostat-profile.csv" --json "$HT_WORK/csv.json" >/dev/null 2>&1; then
    ht_pass "hearth ics reads the exact ETSI export and the CSV form"
    python3 - "$HT_WORK/etsi.json" "$HT_WORK/csv.json" >"$HT_WORK/facts.txt" <<'PY'
import json, sys
e, c = (json.load(open(f)) for f in sys.argv[1:3])
sel = lambda d: [(p['id'], p['profile']) for p in d['provisions']]
print('same' if sel(e) == sel(c) else 'differ %s' % [a for a, b in zip(sel(e), sel(c)) if a != b])
for n in e['notes']:
    print('note', n)
print('excluded', *e['summary']['mandatory_excluded_by_profile'])
PY
    ht_check "both give the same selection for all 67 provisions" grep -qx same "$HT_WORK/facts.txt"
    ht_check "the noise is named: 4.8-21 read as 4.8-2, 4.7-21 as 4.7-2, record 16 without category" \
        bash -c 'grep -q "read .4.8-21. as 4.8-2" "$1" && grep -q "read .4.7-21. as 4.7-2" "$1" && grep -q "record 16 (4.4-1) has no category" "$1"' _ "$HT_WORK/facts.txt"
    ht_check "the mandatory provisions it excludes are named: 5.2-1 5.3-3 5.3-13 5.11-1 6-1 6-2 6-3" \
        grep -qx "excluded 5.2-1 5.3-3 5.3-13 5.11-1 6-1 6-2 6-3" "$HT_WORK/facts.txt"
else
    ht_fail "hearth ics on the profiles: $(cat "$HT_WORK/etsi.err")"
fi
# Cut short or altered, the export is refused, not half read.
head -n 60 "$etsi/product-profile-selection.txt" >"$HT_WORK/cut.txt"
ht_check "an export cut short is refused" bash -c '! "$@" 2>/dev/null' _ ics --profile "$HT_WORK/cut.txt" --json "$HT_WORK/cut.json"
ht_check "... and writes nothing" test ! -e "$HT_WORK/cut.json"
ht_done
