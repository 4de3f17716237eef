#!/usr/bin/env bash
# Print which library or program links which (direct links, Hearth targets
# only), read from CMake's own dependency graph: the graph in
# docs/architecture.md is this script's output.
#   scripts/module-graph.sh            # configure a scratch build dir and print
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake -S "$root" -B "$tmp" --graphviz="$tmp/graph.dot" >/dev/null
python3 - "$tmp/graph.dot" <<'PY'
import re, sys
dot = open(sys.argv[1]).read()
names = dict(re.findall(r'"(node\d+)" \[ label = "([^"]+)"', dot))
def ours(n):  # libhearth modules, applications, ports and programs; not tests
    return n.startswith('hearth') and not any(w in n for w in ('test', 'fuzz', 'hostile', 'driver'))
links = {}
for a, b in re.findall(r'"(node\d+)" -> "(node\d+)"', dot):
    na, nb = names.get(a, ''), names.get(b, '')
    if ours(na) and ours(nb) and na != 'hearth':
        links.setdefault(na, set()).add(nb)
for k in sorted(links):
    print(f"{k:20s} -> {', '.join(sorted(links[k]))}")
PY
