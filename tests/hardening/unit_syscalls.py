#!/usr/bin/env python3
"""The system calls a systemd unit file allows (systemd.exec(5), SystemCallFilter=).

    unit_syscalls.py UNIT_FILE      one name per line, sorted

Settings are combined in order as systemd combines them: the first one, not
prefixed with ~, is the allow list; a later ~ setting removes its calls, a
later plain one adds them. @groups are expanded with `systemd-analyze
syscall-filter`, recursively. Used by tests/hardening/test_package_deb.sh
with unit_filter_exec to start the installed daemon under its unit's filter.
Fails (exit 1) on a unit without an allow list."""
import subprocess
import sys

_groups = {}


def group(name):
    if name not in _groups:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                             capture_output=True, text=True).stdout
        members = set()
        for line in out.splitlines():
            if not line.startswith("    "):
                continue  # the group's own header line
            item = line.strip()
            if item.startswith("#") or not item:
                continue
            members |= group(item) if item.startswith("@") else {item}
        _groups[name] = members
    return _groups[name]


def expand(words):
    calls = set()
    for w in words:
        calls |= group(w) if w.startswith("@") else {w}
    return calls


def main():
    allowed = None
    for line in open(sys.argv[1]):
        line = line.strip()
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1]
        deny = value.startswith("~")
        calls = expand(value.lstrip("~").split())
        if allowed is None:
            if deny:
                sys.exit("unit_syscalls: the first SystemCallFilter= is a deny list")
            allowed = calls
        elif deny:
            allowed -= calls
        else:
            allowed |= calls
    if not allowed:
        sys.exit("unit_syscalls: no SystemCallFilter= allow list in " + sys.argv[1])
    print("\n".join(sorted(allowed)))


main()
