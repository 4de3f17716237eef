#!/usr/bin/env bash
# provisions: 5.3-7 5.3-9 5.3-10 5.3-11 5.3-12 5.5-3 5.7-1
# End-to-end test of the real `hearth` CLI: keygen (encrypted keys), keyset
# create/sign/inspect, bundle create/sign/inspect/verify/verify-slot, and the
# tampered and policy-violating variants a device must reject, each checked
# for its precise status. Everything lives in a temp dir removed on exit.
set -u
BUILD=${HEARTH_BUILD_DIR:-$(cd "$(dirname "$0")/../../build" && pwd)}
H="$BUILD/tools/hearth"
[ -x "$H" ] || { echo "FAIL: $H not built"; exit 1; }
W=$(mktemp -d /tmp/hearth-bundle-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
FAILS=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok   $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL $*"; }
# expect RC PATTERN DESCRIPTION -- CMD...: exit code and output pattern.
expect() {
    local rc=$1 pat=$2 what=$3
    shift 4
    local out got
    out=$("$@" 2>&1)
    got=$?
    if [ "$got" -eq "$rc" ] && printf '%s' "$out" | grep -q -- "$pat"; then
        ok "$what"
    else
        bad "$what (exit $got, wanted $rc and /$pat/): $out"
    fi
}
flip() { # flip one byte of FILE at OFFSET
    python3 - "$1" "$2" <<'PY'
import sys
p, o = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 1]))
PY
}

export HEARTH_KEY_PASS="release engineering passphrase 1"
printf 'a different passphrase\n' > other.pass
chmod 600 other.pass

# ---------------------------------------------------------------- keys
expect 0 "key id" "5.3-7 keygen ed25519 root key" -- "$H" keygen --out root.key
expect 0 "ecdsa-p256" "5.5-3 keygen p256 signing key" -- "$H" keygen --out sign.key --alg p256
expect 0 "ed25519" "keygen key to be revoked" -- "$H" keygen --out old.key
expect 0 "key id" "keygen with --pass-file" -- "$H" keygen --out stranger.key --pass-file other.pass
expect 0 "key id" "keygen a rogue root" -- "$H" keygen --out rogue.key
expect 1 "refusing to overwrite" "keygen refuses to overwrite" -- "$H" keygen --out sign.key
[ "$(stat -c %a sign.key)" = 600 ] && ok "private key mode 0600" || bad "private key mode $(stat -c %a sign.key)"
grep -q "BEGIN ENCRYPTED PRIVATE KEY" sign.key && ! grep -q "BEGIN PRIVATE KEY" sign.key \
    && ok "5.3-7 private key encrypted at rest" || bad "private key not encrypted"
openssl pkey -in sign.key -passin pass:wrong -noout 2>/dev/null \
    && bad "openssl opened the key with a wrong passphrase" || ok "wrong passphrase does not open the key"
openssl pkey -in sign.key -passin env:HEARTH_KEY_PASS -noout 2>/dev/null \
    && ok "key is standard PKCS#8 (openssl opens it with the passphrase)" || bad "openssl cannot read key"

mkdir trust && cp root.key.pub trust/
mkdir rogue-trust && cp rogue.key.pub rogue-trust/

# -------------------------------------------------------------- key set
expect 0 "version 2" "keyset create" -- "$H" keyset create --root-key root.key --out ks2 --version 2 \
    --expires 30 --add sign.key.pub --revoke old.key.pub
expect 0 "verification: OK" "keyset inspect verifies against trust anchor" -- "$H" keyset inspect ks2 --trust trust
expect 0 "REVOKED" "keyset inspect shows revoked key" -- "$H" keyset inspect ks2
expect 0 "version 1" "older key set" -- "$H" keyset create --root-key root.key --out ks1 --version 1 \
    --expires 30 --add sign.key.pub old.key.pub
expect 0 "version 3" "key set signed by a rogue root" -- "$H" keyset create --root-key rogue.key --out ks-rogue \
    --version 3 --expires 30 --add sign.key.pub stranger.key.pub

# --------------------------------------------------------------- bundle
head -c 3500000 /dev/urandom > rootfs.img
printf '#!/bin/sh\necho app v1.4\n' > app.sh
printf 'Hearth 1.4.0\n- faster boot\n' > notes.txt
expect 0 "unsigned bundle" "bundle create" -- "$H" bundle create --out b.hbd --model cam --hw-id rev2 \
    --version 1.4.0 --security-version 7 --expires 30 --notes-file notes.txt \
    --mitigates "CVE-2099-1234 remote code execution in web UI" --disruptive --downtime 40 \
    --payload rootfs=rootfs.img --payload app=app.sh --progress
expect 1 "refusing to overwrite" "bundle create refuses to overwrite" -- "$H" bundle create --out b.hbd \
    --model cam --hw-id rev2 --version 1 --security-version 1 --expires 1 --notes-file notes.txt \
    --mitigates x --payload a=app.sh
expect 0 "UNSIGNED" "bundle inspect shows unsigned" -- "$H" bundle inspect b.hbd
expect 0 "CVE-2099-1234" "5.3-11 inspect shows mitigated risks" -- "$H" bundle inspect b.hbd
expect 0 "about 40 s" "5.3-12 inspect shows disruption and downtime" -- "$H" bundle inspect b.hbd
expect 1 "REJECTED (tampered): bundle is not signed" "5.3-10 unsigned bundle rejected" -- \
    "$H" bundle verify b.hbd --keyset ks2 --trust trust
cp b.hbd b-old.hbd
cp b.hbd b-stranger.hbd
expect 1 "wrong passphrase" "sign with wrong passphrase fails" -- "$H" bundle sign b.hbd --key sign.key --pass-file other.pass
expect 0 "signed with 1 key" "bundle sign" -- "$H" bundle sign b.hbd --key sign.key
expect 0 "ecdsa-p256-sha256" "5.5-3 inspect names the signature algorithm" -- "$H" bundle inspect b.hbd
V=("$H" bundle verify b.hbd --keyset ks2 --trust trust --model cam --hw-id rev2 --installed-security-version 6)
expect 0 "^OK: cam 1.4.0" "5.3-9 signed bundle verifies" -- "${V[@]}"
expect 0 "verifying payloads: 100%" "progress with --progress" -- "${V[@]}" --progress --threads 2
expect 1 "REJECTED (policy)" "wrong model rejected" -- "$H" bundle verify b.hbd --keyset ks2 --trust trust --model doorbell
expect 1 "REJECTED (policy)" "wrong hardware id rejected" -- "$H" bundle verify b.hbd --keyset ks2 --trust trust --hw-id rev1
expect 1 "REJECTED (rollback)" "5.3-9 older security version rejected" -- "$H" bundle verify b.hbd --keyset ks2 \
    --trust trust --installed-security-version 8
expect 1 "REJECTED (exists).*already installed" "same version replay rejected" -- "$H" bundle verify b.hbd \
    --keyset ks2 --trust trust --installed-security-version 7 --installed-version 1.4.0
expect 0 "^OK" "same security version, other software version accepted" -- "$H" bundle verify b.hbd \
    --keyset ks2 --trust trust --installed-security-version 7 --installed-version 1.3.9
expect 1 "REJECTED (rollback): key set" "rolled-back key set rejected" -- "$H" bundle verify b.hbd \
    --keyset ks1 --trust trust --min-keyset-version 2
expect 1 "REJECTED (tampered): key set.*not signed by the trust anchor" "key set not signed by trust anchor" -- \
    "$H" bundle verify b.hbd --keyset ks-rogue --trust trust

# signed by a revoked / an unknown key
HEARTH_KEY_PASS="$HEARTH_KEY_PASS" "$H" bundle sign b-old.hbd --key old.key >/dev/null
expect 1 "REJECTED (revoked)" "bundle signed by revoked key rejected" -- "$H" bundle verify b-old.hbd --keyset ks2 --trust trust
"$H" bundle sign b-stranger.hbd --key stranger.key --pass-file other.pass >/dev/null
expect 1 "REJECTED (tampered).*not in key set" "bundle signed by unknown key rejected" -- \
    "$H" bundle verify b-stranger.hbd --keyset ks2 --trust trust

# expired manifest
expect 0 "unsigned bundle" "create an already-expired bundle" -- "$H" bundle create --out exp.hbd --model cam \
    --hw-id rev2 --version 1.4.1 --security-version 7 --expires-at 1000000000 --notes-file notes.txt \
    --mitigates none --payload app=app.sh
"$H" bundle sign exp.hbd --key sign.key >/dev/null
expect 1 "REJECTED (expired)" "expired manifest rejected" -- "$H" bundle verify exp.hbd --keyset ks2 --trust trust

# byte-level tampering
PAYOFF=$(( $(stat -c %s b.hbd) - 3500000 - $(stat -c %s app.sh) ))
cp b.hbd t1.hbd && flip t1.hbd $((PAYOFF + 2000000))
expect 1 "REJECTED (tampered): payload 'rootfs' chunk 1" "5.3-9 flipped payload byte rejected" -- \
    "$H" bundle verify t1.hbd --keyset ks2 --trust trust
cp b.hbd t2.hbd && flip t2.hbd 100
expect 1 "REJECTED (tampered): manifest signature does not verify" "flipped manifest byte rejected" -- \
    "$H" bundle verify t2.hbd --keyset ks2 --trust trust
cp b.hbd t3.hbd && printf 'twelve bytes' >> t3.hbd
expect 1 "payload 'app' is 12 bytes longer than its manifest entry" "payload longer than manifest rejected" -- \
    "$H" bundle verify t3.hbd --keyset ks2 --trust trust
cp b.hbd t4.hbd && truncate -s -1000 t4.hbd
expect 1 "REJECTED (tampered): payload 'rootfs' is truncated" "truncated payload rejected" -- \
    "$H" bundle verify t4.hbd --keyset ks2 --trust trust

# ------------------------------------------------------------ slot
expect 0 "installed into slotA" "verify and install into a slot" -- "${V[@]}" --extract slotA
[ -f slotA/manifest.bin ] && [ -f slotA/manifest.sig ] && cmp -s slotA/payload/rootfs rootfs.img \
    && ok "slot holds manifest, signature and exact payloads" || bad "slot content wrong"
expect 0 "^OK: slot" "5.7-1 slot verifies on its own" -- "$H" bundle verify-slot slotA --keyset ks2 --trust trust
flip slotA/payload/rootfs 5
expect 1 "REJECTED (tampered): payload 'rootfs' chunk 0" "5.7-1 tampered slot rejected" -- \
    "$H" bundle verify-slot slotA --keyset ks2 --trust trust

echo "$((CHECKS - FAILS))/$CHECKS checks passed"
[ "$FAILS" -eq 0 ]
