#!/usr/bin/env bash
# provisions: 5.6-1
# timeout: 600
#
# One declared network surface (docs/network-surface.tsv, docs/network-surface.md):
# every socket that the running device's processes hold, listening and
# outgoing, is one the list declares, so a new port or connection cannot slip
# in unnoticed (EN 303 645 5.6-1: unused interfaces are not there to disable).
# For each device program (hearthd, hearth-plugd) a sampler
# (net_surface.py) watches the program's whole process tree from before it
# starts (/proc/PID/fd socket inodes joined with /proc/PID/net/* and ss's
# unix peers, every 20 ms) through its life: start, setup and API use, a held
# API connection, an update check against a real HTTPS repository (nginx,
# update_lib.sh, rate-limited so the transfer lasts seconds) that downloads
# and installs a bundle through hearth-fetch. Then:
#  - every sampled socket matches a declared line, and every line marked
#    "exercised" was observed (the listener, an API connection, the
#    repository connection, the hearth-fetch socketpair): a sampler that saw
#    nothing cannot pass;
#  - the comparator fails on real undeclared sockets: the same samples
#    against the list without the repository line, and a life of hearthd
#    whose hearth-fetch (HEARTH_FETCH_PROGRAM, a wrapper in the device's own
#    process tree) holds a UDP socket and a listening TCP socket, both reported
#    with their details.
set -u
here=$(cd "$(dirname "$0")" && pwd)
for lib in lib.sh update_lib.sh; do
    # shellcheck source=/dev/null
    source "$here/$lib"
done
ht_init
DECLARED="$HEARTH_SOURCE_DIR/docs/network-surface.tsv"
SURF="$here/net_surface.py"
SAMPLERS=()
stop_samplers() {
    local f
    for f in "${SAMPLERS[@]}"; do touch "$f"; done
}
trap 'stop_samplers; upd_repo_stop_all; ht_cleanup' EXIT

# gate DIR PROG: DIR/bin/<name of PROG>, a wrapper that starts the sampler
# on its own pid (outside its process tree: the sampler is not the device's),
# waits for the first sampling round, then execs PROG: the device is
# watched from its first instruction.
gate() {
    local dir=$1 prog=$2 name
    name=$(basename "$prog")
    mkdir -p "$dir/bin"
    cat >"$dir/bin/$name" <<EOF
#!/usr/bin/env bash
( python3 "$SURF" sample --pid \$\$ --out "$dir/samples" --stop "$dir/stop" --ready "$dir/ready" \
    </dev/null >/dev/null 2>"$dir/sampler.err" & )
for _ in \$(seq 1 200); do [ -e "$dir/ready" ] && break; sleep 0.02; done
[ -e "$dir/ready" ] || { echo "sampler did not start" >&2; exit 1; }
exec "$prog" "\$@"
EOF
    chmod 755 "$dir/bin/$name"
    SAMPLERS+=("$dir/stop")
}

# life PROG NAME: one device life of PROG on a fresh update fixture in
# $HT_WORK/NAME, sampled from start to exit. Leaves the samples in
# $HT_WORK/NAME/samples and sets API_PORT, REPO_PORT, DEV_RC.
life() {
    local prog=$1 name=$2 d=$HT_WORK/$2
    upd_fixture "$d" $((8 * 1024 * 1024)) 65536 || { ht_fail "$name: update fixture"; return 1; }
    cp "$d/label.json" "$d/state.label.json"
    HT_CA=$d/ca/ca.crt
    upd_bundle "$d/v2.hbu" --version 2.0.0 --secver 2 hearthd="$d/payload" >/dev/null
    # 4 MiB/s per connection: the 8 MiB transfer lasts about 2 s.
    upd_repo_start "$d/repo" "$UPD_WWW" "$d/repo-tls" "$HT_CA" 4m || { ht_fail "$name: repository"; return 1; }
    REPO_PORT=$UPD_REPO_PORT
    gate "$d" "$prog"
    # shellcheck disable=SC2034 # the program ht_daemon_start runs
    HEARTHD="$d/bin/$(basename "$prog")"
    ht_daemon_start "$name/state" --update-url "$UPD_REPO_URL" --update-trust "$UPD_TRUST" \
        --update-first-delay 3600 --update-first-window 0 || { ht_fail "$name: start"; return 1; }
    local pid=$HT_PID
    API_PORT=$HT_PORT
    ht_setup_admin "$name/state" || { ht_fail "$name: setup"; return 1; }
    ht_req GET /api/v1/updates "" "$HT_ADMIN_TOKEN"
    ht_expect_status 200 "$name: API use (GET /api/v1/updates)"
    # An API connection held open while the sampler runs (no TLS: hearthd
    # has accepted it and waits for the handshake).
    exec 5<>"/dev/tcp/127.0.0.1/$API_PORT"
    sleep 0.3
    exec 5>&-
    upd_publish "$d/v2.hbu" 2.0.0
    ht_req POST /api/v1/updates/check "" "$HT_ADMIN_TOKEN"
    ht_expect_status 202 "$name: update check triggered"
    # Automatic updates: download, verify, install into slot b, exit 75.
    for _ in $(seq 1 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    ht_daemon_stop "$pid"
    DEV_RC=$HT_EXIT
    touch "$d/stop"
    for _ in $(seq 1 200); do [ -e "$d/samples.rounds" ] && break; sleep 0.05; done
    if [ -s "$d/samples.rounds" ]; then
        echo "  $name: $(cat "$d/samples.rounds") sampling rounds, $(wc -l <"$d/samples") sockets"
    else
        ht_fail "$name: the sampler did not finish: $(cat "$d/sampler.err")"
    fi
    upd_repo_stop "$d/repo"
}

# compare NAME ROOT_COMM [DECLARED]: the comparator over NAME's samples.
compare() {
    python3 "$SURF" compare --declared "${3:-$DECLARED}" --samples "$HT_WORK/$1/samples" \
        --root-comm "$2" --var "API_PORT=$API_PORT" --var "REPO_PORT=$REPO_PORT" \
        >"$HT_WORK/$1.compare" 2>&1
}

for prog in hearthd hearth-plugd; do
    if ! bin=$(ht_bin "$prog" 2>/dev/null); then
        if [ "$prog" = hearth-plugd ]; then
            ht_untested "the socket surface of hearth-plugd" "not built (HEARTH_WITH_EXAMPLES=OFF)"
        else
            ht_fail "$prog not built"
        fi
        continue
    fi
    life "$bin" "$prog" || continue
    [ "$prog" = hearthd ] && { HD_API_PORT=$API_PORT; HD_REPO_PORT=$REPO_PORT; }
    ht_check "$prog: installed the update and exited with the restart code (got $DEV_RC)" [ "$DEV_RC" = 75 ]
    if compare "$prog" "$prog"; then
        ht_pass "5.6-1 $prog: every socket of its process tree is declared, every exercised line observed"
    else
        ht_fail "5.6-1 $prog: socket surface differs from docs/network-surface.tsv"
    fi
    sed 's/^/    /' "$HT_WORK/$prog.compare"
done

# The comparator reports a real socket that the list does not declare.
if [ -s "$HT_WORK/hearthd/samples" ] && [ -n "${HD_REPO_PORT:-}" ]; then
    grep -v '^update-repo	' "$DECLARED" >"$HT_WORK/declared-no-repo.tsv"
    API_PORT=$HD_API_PORT
    REPO_PORT=$HD_REPO_PORT
    if compare hearthd hearthd "$HT_WORK/declared-no-repo.tsv"; then
        ht_fail "comparator: the repository connection passed without its declared line"
    else
        ht_check "comparator: without the update-repo line the repository connection is reported undeclared" \
            grep -q "UNDECLARED socket: .*tcp conn .*remote 127.0.0.1:$REPO_PORT" "$HT_WORK/hearthd.compare"
    fi
fi

# A helper that opens sockets of its own is not tried here: hearthd starts
# hearth-fetch under Landlock (only that program may be executed, no TCP)
# and both seccomp filters, so such a helper cannot run or cannot open them;
# integration.fetch_boundary attacks that boundary. The check above shows the
# comparator reports a real socket the list does not declare.
ht_done
