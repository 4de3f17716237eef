#!/usr/bin/env bash
# Called by scripts/demo.sh: put the demo device's software into signed A/B
# slots and start it the way a real device starts, through the verified
# launcher hearth-boot.
#   DEMO_DIR/keys/      the demo manufacturer's update root key and signing key
#                       (encrypted PKCS#8; passphrase in keys/passphrase)
#   DEVICE_ROOT/trust/  the read-only trust anchor (root public key + key set),
#                       standing in for ROM/OTP or /etc/hearth/trust on the
#                       read-only root file system: outside the device state
#                       (docs/boot.md, docs/updates.md)
#   DEVICE_ROOT/device/ the device state, handed to the user the device runs as
#   DEVICE_ROOT/bin/    hearth-boot (copied there by demo.sh)
# USER (given when demo.sh runs as root): the unprivileged user the device
# runs as; hearth-boot is started as that user with setpriv, with no
# supplementary groups, no capabilities and no_new_privs.
# Further arguments are passed to hearthd (the service link's options).
# Usage: demo-slots.sh BUILD_DIR DEMO_DIR DEVICE_ROOT PORT USER|"" [HEARTHD_ARG...]
set -euo pipefail
B=$1 demo=$2 devroot=$3 port=$4 user=${5:-}
shift 5 || shift $#
H=$B/tools/hearth
dev=$devroot/device
keys=$demo/keys
mkdir -p "$keys"
chmod 700 "$keys"
umask 077
openssl rand -hex 24 >"$keys/passphrase"
pass=(--pass-file "$keys/passphrase")

"$H" keygen --out "$keys/root.key" --alg ed25519 "${pass[@]}" >/dev/null
"$H" keygen --out "$keys/signer.key" --alg ed25519 "${pass[@]}" >/dev/null
"$H" keyset create --root-key "$keys/root.key" --out "$keys/keyset.hks" --version 1 \
    --expires 365 --add "$keys/signer.key.pub" "${pass[@]}" >/dev/null

trust=$devroot/trust
mkdir -p "$trust"
cp "$keys/root.key.pub" "$trust/root.pub"
cp "$keys/keyset.hks" "$trust/keyset"
cp "$keys/keyset.hks" "$dev/keyset.hks"
chmod 0444 "$trust/root.pub" "$trust/keyset"
chmod 0555 "$trust"

version=$("$H" --version | awk '{print $NF}')
printf 'Hearth demo thermostat %s: first release.\n' "$version" >"$demo/notes.txt"
"$H" bundle create --out "$demo/hearthd-$version.hbu" --model HTH-100 --hw-id HTH-100 \
    --version "$version" --security-version 1 --expires 365 --notes-file "$demo/notes.txt" \
    --mitigates "initial release" --payload hearthd="$B/daemon/hearthd" >/dev/null
"$H" bundle sign "$demo/hearthd-$version.hbu" --key "$keys/signer.key" "${pass[@]}" >/dev/null
"$H" slot install --state "$dev" --trust "$trust" --keyset "$dev/keyset.hks" \
    --bundle "$demo/hearthd-$version.hbu" >/dev/null

# The device's state belongs to the user it runs as (as StateDirectory=
# does for the units); everything above ran as the manufacturer.
run_as=()
if [ -n "$user" ]; then
  chown -R "$user:$user" "$dev"
  run_as=(setpriv "--reuid=$user" "--regid=$user" --clear-groups --inh-caps=-all
          --bounding-set=-all --no-new-privs)
fi
nohup "${run_as[@]}" "$devroot/bin/hearth-boot" --state "$dev" --trust "$trust" --keyset "$dev/keyset.hks" \
    -- --listen "127.0.0.1:$port" --foreground --update-trust "$trust" "$@" >"$demo/hearthd.log" 2>&1 &
echo $! >"$demo/run.pid"
