#!/usr/bin/env bash
# provisions: 5.4-1
# Passwords sent to the real hearthd do not stay in its memory once the
# requests are answered: the setup password, the administrator's password
# (setup + two logins), a wrong password (two failed logins, the last
# request before the scan) and the session token of a logout. After the
# replies, every writable mapping of the process (heap, thread stacks,
# anonymous memory) is read through /proc/PID/mem and searched. What wipes
# them: cJSON and libevent allocate through hearth_wipe_malloc (freed blocks
# zeroed), the JSON body copy is wiped, OpenSSL cleanses record plaintext
# (SSL_OP_CLEANSE_PLAINTEXT), job bodies and replies are wiped.
# Control: the user name "admin", sent in the same bodies and kept by the
# accounts, is found, so the scan does read the memory the bodies went to.
# hearthd is non-dumpable, so reading its memory needs root (CAP_SYS_PTRACE):
# run otherwise the scan is reported untested (tests/untested.sh).
set -u
source "$(dirname "$0")/lib.sh"
ht_init
ht_provision dev
ht_daemon_start dev
pw_admin="Scan-Me-Pass-7Qz-horse"
pw_wrong="Wrong-Guess-Xk9-lamp"
spw=$(ht_label_field dev setup_password)
ht_req POST /api/v1/setup "{\"setup_password\":\"$spw\",\"username\":\"admin\",\"password\":\"$pw_admin\"}"
ht_expect_status 200 "setup with the setup password and the admin password"
ht_login admin "$pw_admin" && ht_pass "login with the admin password" || ht_fail "login"
tok=$HT_TOKEN
ht_req POST /api/v1/logout "" "$tok"
ht_expect_status 200 "logout (the token is revoked)"
ht_login admin "$pw_admin" || ht_fail "second login"
for _ in 1 2; do
    ht_req POST /api/v1/login "{\"username\":\"admin\",\"password\":\"$pw_wrong\"}"
    ht_expect_status 401 "wrong password refused"
done
sleep 0.5

scan() {
    python3 - "$HT_PID" "$@" <<'EOF'
import re, sys
pid = int(sys.argv[1])
pats = [p.encode() for p in sys.argv[2:]]
hits = {p: 0 for p in pats}
readable = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        f = line.split()
        if "r" not in f[1] or "w" not in f[1]:
            continue
        a, b = (int(x, 16) for x in f[0].split("-"))
        try:
            mem.seek(a)
            data = mem.read(b - a)
        except OSError:
            continue
        readable += len(data)
        for p in pats:
            hits[p] += len(re.findall(re.escape(p), data))
print(readable)
for p in pats:
    print(hits[p])
EOF
}
if ! out=$(scan admin "$pw_admin" "$pw_wrong" "$spw" "$tok" 2>"$HT_WORK/scan.err"); then
    ht_untested "passwords absent from hearthd's memory" "cannot read /proc/PID/mem of a non-dumpable process ($(tail -1 "$HT_WORK/scan.err")); needs root"
    ht_done
fi
mapfile -t r <<<"$out"
echo "# scanned ${r[0]} bytes of writable memory of hearthd (pid $HT_PID)"
[ "${r[1]}" -gt 0 ] && ht_pass "control: the user name is found ${r[1]} times" ||
    ht_fail "control: user name not found: the scan does not see the request data"
[ "${r[2]}" = 0 ] && ht_pass "admin password not in memory" || ht_fail "admin password found ${r[2]} times"
[ "${r[3]}" = 0 ] && ht_pass "wrong password of the last request not in memory" ||
    ht_fail "wrong password found ${r[3]} times"
[ "${r[4]}" = 0 ] && ht_pass "setup password not in memory" || ht_fail "setup password found ${r[4]} times"
[ "${r[5]}" = 0 ] && ht_pass "revoked session token not in memory" || ht_fail "revoked token found ${r[5]} times"
ht_done
