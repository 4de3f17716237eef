#!/usr/bin/env bash
# The main job: install missing Debian packages, build, create a demo
# manufacturer CA, factory-provision a fresh demo thermostat and start it on
# 127.0.0.1, then print its URL, its label (with the one-time setup password)
# and the next commands to run. Everything lives under ./demo/ (git-ignored);
# each run provisions a NEW device, because a setup password is printed only
# once and the device keeps only its hash.
# Usage: scripts/demo.sh [PORT]      (default 8443)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${1:-8443}
demo=$root/demo

bash scripts/deps.sh >/dev/null
echo "demo: building (build/) ..."
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null
B=$root/build

# Stop a previous demo device.
if [ -f "$demo/run.pid" ]; then
  kill "$(cat "$demo/run.pid")" 2>/dev/null || true
  sleep 1
fi
rm -rf "$demo"
mkdir -p "$demo"
chmod 700 "$demo"

"$B/tools/hearth" ca init "$demo/ca" --name "Hearth Demo Manufacturer CA" >/dev/null
label=$("$B/tools/hearth" provision --ca "$demo/ca" --out "$demo/device" --model HTH-100 --label text)

# Start the device in the background; it prints its URL once listening.
if [ -x "$B/boot/hearth-boot" ] && [ -f "$root/scripts/demo-slots.sh" ]; then
  bash "$root/scripts/demo-slots.sh" "$B" "$demo" "$port"
else
  nohup "$B/daemon/hearthd" --state "$demo/device" --listen "127.0.0.1:$port" --foreground \
    >"$demo/hearthd.log" 2>&1 &
  echo $! >"$demo/run.pid"
fi
for _ in $(seq 1 100); do
  grep -q "listening on" "$demo/hearthd.log" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o "https://[0-9.:]*" "$demo/hearthd.log" | head -1 || true)
if [ -z "$url" ]; then
  echo "demo: the device did not start; log follows" >&2
  cat "$demo/hearthd.log" >&2
  exit 1
fi

cat <<MSG

Hearth demo thermostat is running (pid $(cat "$demo/run.pid")).

  URL:          $url/api/v1/
  CA to trust:  $demo/device/ca.crt
  Events log:   $demo/device/events.log

Device label (printed once; the device keeps only a hash of the setup password):
$label

Next: set the device up (choose your own admin password), log in, use it:
  curl --cacert $demo/device/ca.crt -X POST $url/api/v1/setup \\
       -H 'Content-Type: application/json' \\
       -d '{"setup_password":"<from the label>","username":"admin","password":"<a passphrase of yours>"}'
  curl --cacert $demo/device/ca.crt -X POST $url/api/v1/login \\
       -H 'Content-Type: application/json' -d '{"username":"admin","password":"<yours>"}'
  curl --cacert $demo/device/ca.crt -H "Authorization: Bearer <token>" $url/api/v1/thermostat

Its software runs from signed slot A, verified at start by hearth-boot:
  $B/tools/hearth slot status --state $demo/device
API reference: docs/openapi.yaml.  Stop the device: kill \$(cat $demo/run.pid)
MSG
