#!/usr/bin/env bash
# provisions: none
# timeout: 120
# `hearth ics` end to end on the results of a real ctest run: a small CMake
# project with a passing, a failing and a skipped test (SKIP_RETURN_CODE),
# run with `ctest --output-junit`, and a label map that also names a test
# the run does not have. Checks:
#  - never Y where the evidence failed, did not run or does not exist: the
#    provisions those tests name are N, and the summary names each test;
#    a provision whose only test passed is Y; N/A only where the declared
#    condition does not hold (constrained-device: no -> 5.3-14, 5.3-15);
#  - the mandatory provisions the profile excludes, and the recommendations
#    not followed without a justification, are listed in every output;
#  - the HTML page, opened in a real browser (headless chromium), renders
#    the table with the same support values, the loud summary, and no
#    Content-Security-Policy violation or console message (no script);
#  - the shipped declarations and profile of the reference thermostat load;
#  - bad input (another build's results, no commit, a malformed
#    declarations file) is an error that writes no statement.
set -u
source "$HEARTH_SOURCE_DIR/tests/integration/lib.sh"
# No device here: only the CLI, the work dir and its cleanup (not ht_init).
HT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/hearth-it.XXXXXX")
trap ht_cleanup EXIT
HEARTH_CLI=$(ht_bin hearth) || exit 1
CHROMIUM=$(command -v chromium || true)
w=$HT_WORK

# A real ctest run.
mkdir -p "$w/proj"
cat >"$w/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(icsrun NONE)
enable_testing()
add_test(NAME unit.good COMMAND sh -c "exit 0")
add_test(NAME unit.bad COMMAND sh -c "echo broken; exit 1")
add_test(NAME integration.skipped COMMAND sh -c "echo 'UNTESTED: x (y)'; exit 77")
set_tests_properties(integration.skipped PROPERTIES SKIP_RETURN_CODE 77)
CM
cmake -S "$w/proj" -B "$w/proj/build" >/dev/null 2>&1 || { ht_fail "cmake on the sample project"; ht_done; }
(cd "$w/proj/build" && ctest --output-junit "$w/run.xml" >"$w/ctest.out" 2>&1)
ht_check "ctest wrote JUnit with 3 results (1 failed, 1 not run)" \
    bash -c 'grep -c "<testcase " "$1" | grep -qx 3 && grep -q "status=\"fail\"" "$1" && grep -q "status=\"notrun\"" "$1"' _ "$w/run.xml"

printf 'test\tkind\tprovisions\n%s\n%s\n%s\n%s\n' \
    "unit.good	unit	5.4-1 5.1-5" "unit.bad	unit	5.1-5 5.5-1" \
    "integration.skipped	integration	5.3-10" "integration.absent	integration	5.13-1" >"$w/map.tsv"
cat >"$w/decl.txt" <<'D'
format: hearth-declarations/1
manufacturer: Test & Sons <ltd>
product: Sample
condition constrained-device: no
condition network-updates: yes
justify 5.6-8: no MPU on this SoC
D
printf 'provision,include\n4.2-1,no\n5.9-1,no\n5.4-1,yes\n' >"$w/profile.csv"
commit=0123456789abcdef0123456789abcdef01234567
ics() { "$HEARTH_CLI" ics --map "$w/map.tsv" --junit "$w/run.xml" --commit "$commit" --date 2026-12-07 "$@"; }
if ics --profile "$w/profile.csv" --declarations "$w/decl.txt" --md "$w/s.md" --json "$w/s.json" \
        --html "$w/s.html" >"$w/summary.txt" 2>"$w/ics.err"; then
    ht_pass "hearth ics writes the statement"
else
    ht_fail "hearth ics: $(cat "$w/ics.err")"
    ht_done
fi
if python3 -c 'import jsonschema' 2>/dev/null; then
    ht_check "the JSON validates against docs/conformance/ics-schema.json" python3 -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' "$w/s.json" "$HEARTH_SOURCE_DIR/docs/conformance/ics-schema.json"
else
    ht_untested "JSON statement against its schema" "python3-jsonschema is not installed (scripts/deps.sh installs it)"
fi
# One reading of the JSON statement, one fact a line.
python3 - "$w/s.json" >"$w/facts.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d['provisions']:
    print('support', r['id'], r['support'])
print('count Y', sum(1 for r in d['provisions'] if r['support'] == 'Y'))
i = d['inputs']
print('run', i['commit'], i['results_total'], i['results_passed'], i['results_failed'], i['results_not_run'])
for t in sorted((t['test'], t['result']) for t in d['summary']['evidence_not_passed']):
    print('notpassed', *t)
print('excluded', *d['summary']['mandatory_excluded_by_profile'])
print('unjustified', *d['summary']['recommendations_without_justification'])
PY
fact() { grep -qx "$1" "$w/facts.txt"; }
ht_check "5.4-1 (its only test passed) is Y" fact "support 5.4-1 Y"
ht_check "5.1-5 (one test passed, one failed) is N" fact "support 5.1-5 N"
ht_check "5.5-1 (its test failed) is N" fact "support 5.5-1 N"
ht_check "5.3-10 (its test did not run: exit 77) is N" fact "support 5.3-10 N"
ht_check "5.13-1 (its test is missing from the run) is N" fact "support 5.13-1 N"
ht_check "5.3-14 and 5.3-15 are N/A (constrained-device: no)" \
    bash -c 'grep -qx "support 5.3-14 N/A" "$1" && grep -qx "support 5.3-15 N/A" "$1"' _ "$w/facts.txt"
ht_check "no provision is Y without a passing test or a declaration" fact "count Y 1"
ht_check "the commit and the run's counts are in the statement" fact "run $commit 3 1 1 1"
ht_check "the evidence that did not pass is listed: failed, not run, missing" \
    test "$(grep ^notpassed "$w/facts.txt" | tr '\n' ' ')" = \
         "notpassed integration.absent missing notpassed integration.skipped not-run notpassed unit.bad failed "
ht_check "the profile's excluded mandatory provision is named (5.2-1)" fact "excluded 5.2-1"
ht_check "unjustified recommendations are named; the justified 5.6-8 is not" \
    bash -c 'grep -q "^unjustified.* 5.9-1" "$1" && ! grep -q "^unjustified.* 5.6-8" "$1"' _ "$w/facts.txt"
ht_check "Markdown: the summary says the same" \
    bash -c 'grep -q "Mandatory provisions the profile excludes (1):\*\* 5.2-1" "$1" && grep -q "^| 5.1-5 | .* | \*\*N\*\* | Evidence did not hold in run" "$1"' _ "$w/s.md"
ht_check "the command prints the loud summary" \
    bash -c 'grep -q "1 Y, .* N, 2 N/A of 67" "$1" && grep -q "WARNING: the profile excludes 1 mandatory" "$1" && grep -q "1 failed, 1 not run, 1 missing" "$1"' _ "$w/summary.txt"

if [ -z "$CHROMIUM" ]; then
    ht_untested "the HTML statement in a real browser" "chromium is not installed (scripts/deps.sh installs it)"
else
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$w/chromium" --enable-logging=stderr --v=0 \
        --dump-dom "file://$w/s.html" >"$w/dom.html" 2>"$w/chromium.err"
    dom=$(cat "$w/dom.html")
    ht_check "chromium renders 67 rows of table B.1" test "$(grep -o '<tr id="p[0-9.-]*"' <<<"$dom" | wc -l)" = 67
    ht_check "... with Y for 5.4-1, N for 5.1-5, N/A for 5.3-14" \
        bash -c 'grep -q "<tr id=\"p5.4-1\"><td class=\"id\">5.4-1</td>.*<td class=\"Y\">Y</td>" <<<"$1" &&
                 grep -q "<tr id=\"p5.1-5\" class=\"loud\">.*<td class=\"N\">N</td>" <<<"$1" &&
                 grep -q "<tr id=\"p5.3-14\"><td.*<td class=\"NA\">N/A</td>" <<<"$1"' _ "$dom"
    ht_check "... the counts and the excluded mandatory provision" \
        bash -c 'grep -q "<b id=\"nY\">1</b> Y" <<<"$1" && grep -q "<li id=\"excluded\"><b>Mandatory provisions the profile excludes (1):</b> <a href=\"#p5.2-1\">5.2-1</a>" <<<"$1"' _ "$dom"
    ht_check "... the manufacturer's name escaped, not markup" \
        bash -c 'grep -q "Test &amp; Sons &lt;ltd&gt;" <<<"$1" && ! grep -q "<ltd>" <<<"$1"' _ "$dom"
    if grep -qi "Content Security Policy\|Content-Security-Policy" "$w/chromium.err"; then
        ht_fail "chromium reports a CSP violation: $(grep -i 'security policy' "$w/chromium.err" | head -2)"
    elif grep -q "CONSOLE" "$w/chromium.err"; then
        ht_fail "the page wrote to the console: $(grep CONSOLE "$w/chromium.err" | head -2)"
    else
        ht_pass "chromium reports no policy violation or console message for the page"
    fi
fi

# The reference thermostat's shipped inputs load.
if ics --profile "$HEARTH_SOURCE_DIR/docs/conformance/thermostat-profile.csv" \
       --declarations "$HEARTH_SOURCE_DIR/docs/conformance/thermostat-declarations.txt" --json "$w/t.json" >/dev/null 2>"$w/t.err"; then
    ht_check "the reference thermostat's declarations: 5.3-14 N/A, 5.2-1 N (the manufacturer's to do)" \
        test "$(python3 -c "import json,sys; p={r['id']:r for r in json.load(open(sys.argv[1]))['provisions']}; print(p['5.3-14']['support'], p['5.2-1']['support'], p['5.2-1']['basis'])" "$w/t.json")" = "N/A N profile"
else
    ht_fail "the shipped thermostat declarations or profile: $(cat "$w/t.err")"
fi

# Bad input: an error, and no statement written.
printf '<testsuite><testcase name="other.build" status="run"/></testsuite>\n' >"$w/other.xml"
ht_check "results of another build are refused" \
    bash -c '! "$1" ics --map "$2/map.tsv" --junit "$2/other.xml" --commit abcdef0 --json "$2/o1.json" 2>/dev/null && test ! -e "$2/o1.json"' _ "$HEARTH_CLI" "$w"
ht_check "no commit: usage error" \
    bash -c '"$1" ics --map "$2/map.tsv" --junit "$2/run.xml" --json "$2/o2.json" 2>/dev/null; test $? = 2 && test ! -e "$2/o2.json"' _ "$HEARTH_CLI" "$w"
printf 'format: hearth-declarations/1\nconditon telemetry: no\n' >"$w/typo.txt"
ht_check "a typo in the declarations is an error naming the line" \
    bash -c '! "$1" ics --map "$2/map.tsv" --junit "$2/run.xml" --commit abcdef0 --declarations "$2/typo.txt" --json "$2/o3.json" 2>"$2/typo.err" && grep -q "typo.txt:2: unknown key" "$2/typo.err" && test ! -e "$2/o3.json"' _ "$HEARTH_CLI" "$w"
ht_done
