# shellcheck shell=bash
# Reporting what a test script could not test, so that it evidences nothing
# instead of passing silently (cmake/Testing.cmake, README "Tests").
#
#   source "$HEARTH_SOURCE_DIR/tests/untested.sh"   # lib.sh does this
#   hearth_untested "TLS 1.1 refusal" "no installed client can offer TLS 1.1"
#   hearth_untested_exit     # when nothing at all could be tested: exit 77
#
# Each call prints `UNTESTED: <what> (<why>)` and appends a line
# `<test>\t<what>\t<why>` to $HEARTH_UNTESTED_DIR/<test>.tsv (set by ctest;
# scripts/test.sh collects these into build/test-untested.tsv). Sourcing this
# file removes the test's file from an earlier run, so the list always
# describes the last run. A script with at least one real check still passes
# or fails on its checks; one with none exits 77, which ctest shows as
# "Not Run", never "Passed".

HEARTH_UNTESTED_COUNT=0
_hearth_untested_file=""
if [ -n "${HEARTH_UNTESTED_DIR:-}" ] && [ -n "${HEARTH_TEST_NAME:-}" ]; then
    mkdir -p "$HEARTH_UNTESTED_DIR" 2>/dev/null
    _hearth_untested_file="$HEARTH_UNTESTED_DIR/$HEARTH_TEST_NAME.tsv"
    rm -f "$_hearth_untested_file"
fi

# hearth_untested WHAT WHY
hearth_untested() {
    local what=${1//$'\t'/ } why=${2//$'\t'/ }
    HEARTH_UNTESTED_COUNT=$((HEARTH_UNTESTED_COUNT + 1))
    echo "UNTESTED: $what ($why)"
    if [ -n "$_hearth_untested_file" ]; then
        printf '%s\t%s\t%s\n' "${HEARTH_TEST_NAME}" "$what" "$why" >>"$_hearth_untested_file"
    fi
}

# hearth_untested_exit: nothing could be tested; ctest reports "Not Run".
hearth_untested_exit() {
    echo "# nothing tested: reported as not run (exit 77)"
    exit 77
}
