#!/usr/bin/env python3
"""Sample the sockets of a process tree and compare them with a declared list.

Used by tests/integration/test_network_surface.sh (EN 303 645 5.6-1, 5.6-2);
the declared list is docs/network-surface.tsv.

  net_surface.py sample --pid PID [--pid PID...] --out FILE --stop FILE [--interval S]
                        [--ready FILE]
      Until FILE --stop exists: walk the process tree under each PID
      (/proc/PID/task/*/children), resolve every socket descriptor
      (/proc/PID/fd -> socket:[inode]) in the process's own network namespace
      (/proc/PID/net/{tcp,tcp6,udp,udp6,udplite,udplite6,raw,raw6,unix,netlink,packet})
      and append one line per socket not yet recorded for that process:
      pid comm family role local remote inode state fd ppid. A socket found in none of
      those tables in 10 rounds is recorded with family "unknown"
      (AF_ALG, vsock, an unbound socket kept open, ...): it can never match a
      declared line. An unnamed unix socket's remote is
      "pair" when its peer has no name either (ss -x gives the peer), "none"
      when it has no peer, else the peer's path. A socket is recorded again
      whenever one of those fields changes.
  net_surface.py compare --declared TSV --samples FILE --root-comm NAME [--var K=V...]
      Each sampled socket must match a declared line; prints every undeclared
      one with its details and every "exercised" line that no sample matched.
      Exit status 0 only if there is neither.
"""
import argparse
import os
import socket
import struct
import subprocess
import sys
import time

TABLES = {
    "tcp": ["tcp", "tcp6"],
    "udp": ["udp", "udp6", "udplite", "udplite6"],
    "raw": ["raw", "raw6"],
}
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}


def _addr(hexaddr):
    ip, port = hexaddr.split(":")
    raw = bytes.fromhex(ip)
    if len(raw) == 4:
        text = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(ip, 16)))
    else:
        words = struct.unpack("<4I", raw)
        text = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
    return text, int(port, 16)


def read_tables(pid):
    """inode -> (family, role, local, remote, state) for the netns of pid."""
    out = {}
    base = "/proc/%d/net/" % pid
    for fam, names in TABLES.items():
        for name in names:
            try:
                with open(base + name) as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for ln in lines:
                c = ln.split()
                if len(c) < 10:
                    continue
                (lip, lport), (rip, rport) = _addr(c[1]), _addr(c[2])
                st = int(c[3], 16)
                if fam == "tcp":
                    state = TCP_STATES.get(st, str(st))
                    role = "listen" if st == 10 else "conn"
                else:
                    state = "-"
                    role = "conn" if rport != 0 else "unconnected"
                out[c[9]] = (fam, role, "%s:%d" % (lip, lport), "%s:%d" % (rip, rport), state)
    try:
        with open(base + "unix") as f:
            for ln in f.read().splitlines()[1:]:
                c = ln.split()
                if len(c) < 7:
                    continue
                path = c[7] if len(c) > 7 else "-"
                stype = {1: "stream", 2: "dgram", 5: "seqpacket"}.get(int(c[4], 16), c[4])
                flags = int(c[3], 16)
                role = "listen" if flags & 0x10000 else ("anon" if path == "-" else "named")
                out[c[6]] = ("unix", role, path, "-", stype)
    except OSError:
        pass
    for name, fam, ino_col in (("netlink", "netlink", 9), ("packet", "packet", 8)):
        try:
            with open(base + name) as f:
                for ln in f.read().splitlines()[1:]:
                    c = ln.split()
                    if len(c) > ino_col:
                        out[c[ino_col]] = (fam, "-", "proto=%s" % c[1], "-", "-")
        except OSError:
            pass
    return out


def unix_peers():
    """inode -> peer inode of every unix socket of this network namespace
    (ss; /proc/net/unix does not show peers). Without ss no unix socket
    could be judged: the sampler stops with an error."""
    try:
        out = subprocess.run(["ss", "-xanH"], capture_output=True, text=True, timeout=10,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        sys.exit("net_surface.py: ss -xanH failed (%s): unix peers unknown" % e)
    peers = {}
    for ln in out.splitlines():
        c = ln.split()
        if len(c) >= 8:
            peers[c[5]] = c[7]
    return peers


def tree(root):
    """root and all its descendants (pids), as far as they can be read."""
    seen, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return seen


def sockets_of(pid):
    """[(inode, fd)] of pid's socket descriptors."""
    inodes = []
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return inodes
    for fd in fds:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.append((t[8:-1], fd))
    return inodes


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def cmd_sample(a):
    recorded = set()
    unknown = {}  # (pid, inode) -> rounds it was in no table
    rounds = 0
    with open(a.out, "a") as out:
        while True:
            rounds += 1
            for root in a.pid:
                pids = tree(root)
                # A process is named by what it runs while its descriptors
                # are read: a child between posix_spawn's clone and its exec
                # still runs the device program (with the device's
                # descriptors, closed before the exec); one whose name
                # changed meanwhile is read again in the next round.
                names, owned = {}, {}
                for p in pids:
                    before = comm(p)
                    fds = sockets_of(p)
                    if comm(p) == before:
                        names[p], owned[p] = before, fds
                pids = list(owned)
                peers = None
                root_table = None
                for p in pids:
                    inodes = owned[p]
                    if not inodes:
                        continue
                    # A socket belongs to the network namespace it was created
                    # in: one passed to a process in another namespace is in
                    # the device's tables, not in that process's.
                    if root_table is None:
                        root_table = read_tables(root)
                    table = dict(root_table)
                    if p != root:
                        table.update(read_tables(p))
                    name = names[p]
                    for ino, fd in inodes:
                        fam, role, loc, rem, state = table.get(ino, ("unknown", "-", "-", "-", "-"))
                        # A socket just created (not yet bound or connected)
                        # or just closed is in no table for a moment: it is
                        # "unknown" only when it stays so for 10 rounds.
                        if fam == "unknown":
                            unknown[(p, ino)] = unknown.get((p, ino), 0) + 1
                            if unknown[(p, ino)] < 10:
                                continue
                        if fam == "unix" and role != "listen":
                            # remote: "pair" when the other end has no name
                            # (a socketpair: an unnamed socket cannot be
                            # connected to, so the device made it; its other
                            # end may be in flight to hearth-fetch over
                            # SCM_RIGHTS, or closed), else the path of the
                            # named socket it is connected to.
                            if peers is None:
                                peers = unix_peers()
                            peer = peers.get(ino, "0")
                            path = table.get(peer, ("unix", "-", "-"))[2]
                            if peer in ("0", "*"):
                                rem = "none"  # not (or no longer) connected
                            else:
                                rem = "pair" if path == "-" else path
                        # A TCP socket seen before connect() completes has no
                        # peer yet: sample it again until it has one.
                        if fam == "tcp" and state in ("SYN_SENT", "CLOSE") and rem.endswith(":0"):
                            continue
                        # A socket is recorded again whenever what it is
                        # changes (an unconnected socket that connects).
                        row = (p, name, ino, fam, role, loc, rem)
                        if row in recorded:
                            continue
                        recorded.add(row)
                        out.write("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n" %
                                  (p, name, fam, role, loc, rem, ino, state, fd, ppid(p)))
                        out.flush()
            if rounds == 1 and a.ready:
                open(a.ready, "w").close()
            if os.path.exists(a.stop):
                break
            time.sleep(a.interval)
    with open(a.out + ".rounds", "w") as f:
        f.write("%d\n" % rounds)
    return 0


def _port(addr):
    return addr.rsplit(":", 1)[1] if ":" in addr else addr


def load_declared(path, env):
    rows = []
    with open(path) as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
    header = lines[0].split("\t")
    for ln in lines[1:]:
        c = dict(zip(header, ln.split("\t")))
        for k in ("local", "remote"):
            v = c[k]
            if v.startswith("$"):
                c[k] = env.get(v[1:], None)  # an unset variable matches nothing
        rows.append(c)
    return rows


def matches(d, s, root_comm):
    if d["program"] == "device" and s["comm"] != root_comm:
        return False
    if d["program"] == "hearth-fetch" and s["comm"] != "hearth-fetch":
        return False
    if d["family"] != s["family"]:
        return False
    if d["local"] is None or d["remote"] is None:
        return False
    if s["family"] == "unix":
        # anon: an unnamed socket whose peer has no name either (a
        # socketpair), or that is not connected; out: an unnamed socket connected to the named socket
        # at the declared path; listen/named: that local path.
        if d["role"] == "anon":
            return s["role"] == "anon" and s["remote"] in ("pair", "none")
        if d["role"] == "out":
            return s["role"] == "anon" and s["remote"] == d["remote"]
        return s["role"] == d["role"] and s["local"] == d["local"]
    lp, rp = _port(s["local"]), _port(s["remote"])
    if d["role"] == "listen":
        return s["role"] == "listen" and lp == d["local"]
    if d["role"] == "in":
        return s["role"] == "conn" and lp == d["local"]
    if d["role"] == "out":
        return s["role"] == "conn" and rp == d["remote"] and (d["local"] == "*" or lp == d["local"])
    return False


def cmd_compare(a):
    env = dict(v.split("=", 1) for v in a.var)
    declared = load_declared(a.declared, env)
    cols = ["pid", "comm", "family", "role", "local", "remote", "inode", "state", "fd", "ppid"]
    samples = []
    with open(a.samples) as f:
        for ln in f:
            samples.append(dict(zip(cols, ln.rstrip("\n").split("\t"))))
    seen = set()
    undeclared = 0
    for s in samples:
        hit = [d["id"] for d in declared if matches(d, s, a.root_comm)]
        if hit:
            seen.update(hit)
        else:
            undeclared += 1
            print("UNDECLARED socket: pid %(pid)s (%(comm)s) %(family)s %(role)s local %(local)s "
                  "remote %(remote)s inode %(inode)s state %(state)s fd %(fd)s parent %(ppid)s" % s)
    missing = [d["id"] for d in declared if d["test"] == "exercised" and d["id"] not in seen]
    for m in missing:
        print("NOT OBSERVED: declared exercised socket '%s' was never sampled" % m)
    print("compared %d sockets: %d undeclared; declared entries observed: %s" %
          (len(samples), undeclared, ",".join(sorted(seen)) or "none"))
    return 1 if undeclared or missing else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, action="append", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--stop", required=True)
    s.add_argument("--interval", type=float, default=0.02)
    s.add_argument("--ready", help="created after the first round")
    c = sub.add_parser("compare")
    c.add_argument("--declared", required=True)
    c.add_argument("--samples", required=True)
    c.add_argument("--root-comm", required=True)
    c.add_argument("--var", action="append", default=[])
    a = p.parse_args()
    return cmd_sample(a) if a.cmd == "sample" else cmd_compare(a)


if __name__ == "__main__":
    sys.exit(main())
