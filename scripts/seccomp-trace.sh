#!/bin/bash
# seccomp-trace.sh TRACE... : the system calls a sandboxed program made after
# its sandbox was applied, one name per line, sorted (docs/sandbox.md).
#
# The traces come from `strace -f -qq -o FILE PROGRAM ...` (lib.sh writes them
# for every device program it starts when HT_STRACE_DIR is set; the boot
# tests do the same for hearth-boot). Each file is read from the first
# landlock_restrict_self() or seccomp() call on: what the process and every
# thread and child it started did from then on is what its allow-list must
# hold (children's calls count: filters stack, so a child's own filter cannot
# allow what its parent's refuses). --families prints the socket() address
# families seen instead.
set -euo pipefail
mode=names
if [ "${1:-}" = --families ]; then mode=families; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--families] TRACE..." >&2; exit 2; }
for f in "$@"; do
    awk -v mode="$mode" '
        !on && /(landlock_restrict_self|seccomp)\(/ { on = 1 }
        !on { next }
        mode == "names" && match($0, /^[0-9]+ +[a-z0-9_]+\(/) {
            s = substr($0, RSTART, RLENGTH - 1); sub(/^[0-9]+ +/, "", s); print s
        }
        mode == "families" && match($0, /socket\(AF_[A-Z0-9]+/) {
            print substr($0, RSTART + 7, RLENGTH - 7)
        }' "$f"
done | sort -u
