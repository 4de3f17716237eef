#!/usr/bin/env bash
# provisions: 5.9-3
# needs: HEARTH_FLEET HEARTH_WITH_LINK
# timeout: 120
#
# The update repository under an announcement, bounded (the full-size run is
# bench/bench_announce.sh, docs/fleet.md "Announcing an update"): 160
# simulated devices (announce_sim: each parses the announcement that
# `hearth-fleet announce` really published through a mutual-TLS mosquitto,
# waits delay_s + uniform(0, spread_s) as hearthd does, then opens its own
# mutual-TLS connection to a real nginx repository and GETs the manifest),
# announced once in two batches of 80 with a 4 s spread and once all at once
# (delay 0, no spread).
# Shows (5.9-3 example 2): every device checks in both cases and gets its
# announcement exactly once (a second copy would re-draw its random time
# and a device keeps the earlier one); with batches
# and spread the checks really are spread (the last batch checks no earlier
# than 4 s after the first announcement) and in their busiest second the
# devices open at most half the connections to the repository that they
# open when every device is told to check at once. (What the repository
# manages to serve per second is printed, not asserted: on a loaded
# machine the simulator's own TLS handshakes bound it.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
command -v nginx >/dev/null || { ht_untested "5.9-3" "nginx not installed"; ht_done; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/hearth-announce-load.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

DEVICES=160 BATCH=80 SPREAD=4 PLOT=0 \
    bash "$HEARTH_SOURCE_DIR/bench/bench_announce.sh" "${HEARTH_BUILD_DIR:-$HEARTH_SOURCE_DIR/build}" | tee "$OUT/out"
row() { awk -v c="$1" '$1 == c' "$OUT/out"; }
col() { row "$1" | awk -v n="$2" '{ print $n }'; }
sp=$(col spread 2) al=$(col all 2) sp_t100=$(col spread 8) al_t100=$(col all 8)
ht_check "5.9-3 spread: the benchmark ran and printed its figures" test -n "$sp" -a -n "$al"
ht_check "5.9-3 spread: all 160 devices checked the repository" grep -q "devices checked: spread 160 of 160" "$OUT/out"
ht_check "5.9-3 all at once: all 160 devices checked the repository" grep -q "all at once 160 of 160" "$OUT/out"
ht_check "5.9-3 every device got its announcement once (none twice, none refused)" \
    grep -q "announcements received twice: spread 0, all at once 0" "$OUT/out"
ht_check "5.9-3 spread: the last batch checked no earlier than 4 s after the first announcement (t100 $sp_t100 s)" \
    awk -v t="$sp_t100" 'BEGIN { exit !(t + 0 >= 4.0) }'
ht_check "5.9-3 spread: the devices' busiest second asked the repository for $sp checks, <= half of all-at-once's ($al; t100 $al_t100 s)" \
    test $((${sp:-999999} * 2)) -le "${al:-0}"
ht_done
