#!/usr/bin/env bash
# provisions: 5.6-6
# Unless a development build asks for it (-DHEARTH_FETCH_BUILD_TREE=ON),
# hearthd and the updater library carry no path into the build tree: the
# updater finds hearth-fetch only through HEARTH_FETCH_PROGRAM or the install
# location (docs/updates.md, "Process separation"). Control: the install
# location, compiled in the same way, is found by the same search, so the
# search does see the programs' string constants.
set -euo pipefail
source "${HEARTH_SOURCE_DIR:?}/tests/untested.sh"
B=${HEARTH_BUILD_DIR:?}
fail=0
bad() { echo "FAIL: $*"; fail=1; }
opt=$(sed -n 's/^HEARTH_FETCH_BUILD_TREE:BOOL=//p' "$B/CMakeCache.txt")
install=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$B/CMakeCache.txt")
if [ "$opt" = ON ]; then
    hearth_untested "no build path in hearthd" "this build was configured with HEARTH_FETCH_BUILD_TREE=ON"
    hearth_untested_exit
fi
build_path="$B/fetch/hearth-fetch"
for f in "$B/daemon/hearthd" "$B/src/updater/libhearth_updater.a"; do
    [ -f "$f" ] || { bad "$f was not built"; continue; }
    s=$(strings -a "$f")
    if ! grep -q "^$install/.*hearth/hearth-fetch$" <<<"$s"; then
        bad "control: $(basename "$f") does not show the install path of hearth-fetch under $install"
        continue
    fi
    if grep -qF "$build_path" <<<"$s"; then
        bad "$(basename "$f") contains the build-tree path $build_path"
    else
        echo "ok: $(basename "$f"): no build-tree path (install path present)"
    fi
done
exit $fail
