#!/usr/bin/env bash
# Screenshots of every page of the device's web interface for docs/web.md:
# runs the browser test (tests/integration/test_webui.sh: a real hearthd, a
# real update repository, Debian's chromium driven through chromium-driver at
# 375 px wide) with WEBUI_SCREENSHOTS set, so each picture is the page as the
# test saw it, then copies them to docs/screenshots/.
# Usage: scripts/screenshots.sh [BUILD_DIR]   (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${1:-$root/build}
[ -x "$build/daemon/hearthd" ] || { echo "screenshots: build first (cmake --build $build)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
HEARTH_BUILD_DIR=$build WEBUI_SCREENSHOTS=$out bash tests/integration/test_webui.sh >"$out/test.log" 2>&1 || {
    tail -30 "$out/test.log" >&2; echo "screenshots: the browser test failed" >&2; exit 1; }
mkdir -p docs/screenshots
n=0
for f in "$out"/*.png; do cp "$f" docs/screenshots/; n=$((n + 1)); done
echo "screenshots: $n pages in docs/screenshots/"
