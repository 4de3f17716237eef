#!/usr/bin/env bash
# provisions: 5.6-9
# timeout: 900
# serial: yes
# cppcheck 2.10 over src daemon boot fetch tools apps ports finds nothing at
# the configuration in the repository (scripts/static-analysis.sh,
# .cppcheck-suppressions; docs/static-analysis.md), after a control shows it
# reports a planted defect. Evidence for 5.6-9 (secure development:
# automated analysis of every change) beside the fuzzers and sanitizers.
# Serial: the analyser uses every core, and timing-sensitive tests must not
# run beside it.
set -euo pipefail
source "${HEARTH_SOURCE_DIR:?}/tests/hardening/static_analysis.sh"
static_analysis_test cppcheck nullPointerRedundantCheck
