#!/usr/bin/env bash
# The command ctest runs for a script test whose build option is OFF
# (`# needs:` in the script's header, cmake/Testing.cmake): the whole test is
# recorded as untested (tests/untested.sh) and reported "Not Run", never
# "Passed".  Usage: skipped.sh "built with HEARTH_TPM=OFF"
set -u
# shellcheck source=untested.sh
source "${HEARTH_SOURCE_DIR:?}/tests/untested.sh"
hearth_untested "${HEARTH_TEST_NAME:-this test}" "$1"
hearth_untested_exit
