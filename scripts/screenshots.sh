#!/usr/bin/env bash
# Screenshots of every page of the device's web interface for docs/web.md:
# runs the browser tests (tests/integration/test_webui.sh: a real hearthd, a
# real update repository, Debian's chromium driven through chromium-driver at
# 375 px wide; test_privacy_service_erase.sh for the erase receipt) with
# WEBUI_SCREENSHOTS set, so each picture is the page as the
# test saw it, then copies them to docs/screenshots/.
# Usage: scripts/screenshots.sh [BUILD_DIR]   (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-$root/build}
[ -x "$build/daemon/hearthd" ] || { echo "screenshots: build first (cmake --build $build)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The erase receipt needs the real broker and hearth-fleet: that page is
# taken by the service-erase test.
for t in test_webui test_privacy_service_erase; do
    HEARTH_BUILD_DIR=$build WEBUI_SCREENSHOTS=$out bash "tests/integration/$t.sh" >"$out/$t.log" 2>&1 || {
        tail -30 "$out/$t.log" >&2; echo "screenshots: $t.sh failed" >&2; exit 1; }
done
mkdir -p docs/screenshots
n=0
for f in "$out"/*.png; do cp "$f" docs/screenshots/; n=$((n + 1)); done
echo "screenshots: $n pages in docs/screenshots/"
