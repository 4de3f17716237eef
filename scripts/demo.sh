#!/usr/bin/env bash
# The main job: install missing Debian packages, build, create a demo
# manufacturer CA, factory-provision a fresh demo thermostat, start the
# manufacturer's associated service beside it (a local mosquitto broker with
# the shipped configuration, the enrolment endpoint and hearth-fleet with
# SQLite: scripts/demo-service.sh), start the device on 127.0.0.1 connected
# to that service, then print its URL, its label (with the one-time setup
# password), the fleet report's address and the next commands to run. Each run provisions a NEW device, because a
# setup password is printed only once and the device keeps only its hash.
#
# The device never runs as root (EN 303 645 5.6-7). Run by a normal user,
# everything lives under ./demo/ (git-ignored) and the device runs as that
# user. Run by root (a fresh Debian 12 machine), the manufacturer's side (CA,
# signing keys) stays in ./demo/ and the device's side -- state, trust anchor
# and a copy of the programs it runs -- goes to /var/lib/hearth-demo/, owned
# by the system user hearth-demo (created on first use), which hearth-boot
# and hearthd run as, with no capabilities and no_new_privs, as the systemd
# units run them as user hearth (docs/install.md).
# Usage: scripts/demo.sh [PORT]      (default 8443; the service uses
# PORT+10440 for MQTT, PORT+10000 for enrolment, PORT+9637 for the report)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${1:-8443}
mport=$((port + 10440)) eport=$((port + 10000)) rport=$((port + 9637))
demo=$root/demo

bash scripts/deps.sh >/dev/null
echo "demo: building (build/) ..."
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j "$(nproc)" >/dev/null
B=$root/build

# Who the device runs as, and where its side lives.
user=""
devroot=$demo
svcroot=$demo
if [ "$(id -u)" -eq 0 ]; then
  svcroot=/var/lib/hearth-demo-service
  user=hearth-demo
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "Hearth demo device" "$user"
    echo "demo: created the system user $user to run the demo device (not root)"
  fi
  devroot=/var/lib/hearth-demo
fi
dev=$devroot/device

# Stop a previous demo device and its service.
stopped=0
for p in run fleet enrol broker; do
  if [ -f "$demo/$p.pid" ] && kill "$(cat "$demo/$p.pid")" 2>/dev/null; then stopped=1; fi
done
[ "$stopped" -eq 0 ] || sleep 1
rm -rf "$demo" "$devroot" "$svcroot"
mkdir -p "$demo" "$devroot/bin" "$svcroot"
chmod 700 "$demo"
[ "$svcroot" = "$demo" ] || chmod 755 "$svcroot"
[ "$devroot" = "$demo" ] || chmod 755 "$devroot" "$devroot/bin"
# The device's programs, where its user can run them (./ may be private).
install -m 0755 "$B/boot/hearth-boot" "$B/tools/hearth" "$devroot/bin/"

"$B/tools/hearth" ca init "$demo/ca" --name "Hearth Demo Manufacturer CA" >/dev/null
label=$("$B/tools/hearth" provision --ca "$demo/ca" --out "$dev" --model HTH-100 --label text)

# The manufacturer's service: broker, enrolment endpoint, fleet service.
bash "$root/scripts/demo-service.sh" "$B" "$demo" "$svcroot" "$devroot" "$mport" "$eport" "$rport"

# Sign the daemon into slot A and start the device through hearth-boot in the
# background, connected to the service; it prints its URL once listening.
# (A device waits a random first delay of up to 30 s before its first
# connection so a fleet powering up together does not storm its broker;
# the demo shortens that window to 3 s.)
bash "$root/scripts/demo-slots.sh" "$B" "$demo" "$devroot" "$port" "$user" \
    --mqtt-broker "127.0.0.1:$mport" --mqtt-ca "$devroot/service-ca.crt" --mqtt-first-delay-max 3000 \
    --enrol-url "https://127.0.0.1:$eport/enrol" --enrol-ca "$devroot/service-ca.crt"
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

  Web page:     $url/   (open it in a browser; the certificate is from the demo CA:
                trust $dev/ca.crt, or accept it once; docs/web.md)
  API:          $url/api/v1/
  CA to trust:  $dev/ca.crt
  Events log:   $dev/events.log (names and addresses in it are sealed; GET /api/v1/events
                or the web page's security events show them to an admin)
  Runs as:      $(ps -o user= -p "$(cat "$demo/run.pid")") (hearth-boot and hearthd; never root)

Device label (printed once; the device keeps only a hash of the setup password):
$label

Next: open $url/ in a browser and follow the setup page (the setup password
from the label, then a password of your own), or do the same with curl:
  curl --cacert $dev/ca.crt -X POST $url/api/v1/setup \\
       -H 'Content-Type: application/json' \\
       -d '{"setup_password":"<from the label>","username":"admin","password":"<a passphrase of yours>"}'
  curl --cacert $dev/ca.crt -X POST $url/api/v1/login \\
       -H 'Content-Type: application/json' -d '{"username":"admin","password":"<yours>"}'
  curl --cacert $dev/ca.crt -H "Authorization: Bearer <token>" $url/api/v1/thermostat

Its service (the manufacturer's side, on this machine):
  Fleet report: http://127.0.0.1:$rport/   (JSON: http://127.0.0.1:$rport/report.json)
  MQTT broker:  mosquitto on 127.0.0.1:$mport with the shipped configuration and ACL;
                the device enrolled for its operational certificate at
                https://127.0.0.1:$eport/enrol and connected with it
  Logs:         $demo/fleet.log, $svcroot/broker/mosquitto.log, $demo/hearthd.log

Take the broker away and the thermostat carries on (its local API answers, its
state changes and events queue in its outbox); bring it back and the device
reconnects, paced by its backoff, and delivers what it queued, in order:
  kill \$(cat $demo/broker.pid)
  mosquitto -c $svcroot/broker/mosquitto.conf -d
  grep 'hearth link' $demo/hearthd.log

Its software runs from signed slot A, verified at start by hearth-boot:
  ${user:+runuser -u $user -- }$devroot/bin/hearth slot status --state $dev
API reference: docs/openapi.yaml.  Stop the device and its service:
  kill \$(cat $demo/run.pid $demo/fleet.pid $demo/enrol.pid $demo/broker.pid)
MSG
