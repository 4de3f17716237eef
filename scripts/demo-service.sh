#!/usr/bin/env bash
# Called by scripts/demo.sh: the manufacturer's associated service beside the
# demo device (issue 9, docs/fleet.md, docs/mqtt-broker.md):
#   - a service CA (hearth-fleet ca-init): the broker's and the enrolment
#     endpoint's server certificate, hearth-fleet's client certificate, and
#     the short-lived operational certificates devices enrol for;
#   - mosquitto with the shipped configuration and ACL
#     (packaging/mosquitto/, scripts/broker-conf.sh): TLS only, client
#     certificates from the service CA only, each device confined to
#     hearth/<its serial>/;
#   - the enrolment endpoint (hearth-fleet enrol-server), which accepts the
#     device's factory certificate (the demo manufacturer CA);
#   - hearth-fleet run (SQLite) with its report page on loopback.
# The service side lives in SERVICE_DIR (given by demo.sh): ./demo/ for a
# normal user; as root, a directory the broker's own user "mosquitto" (to
# which mosquitto drops root) can reach, outside the manufacturer's keys.
# Writes the pids to DEMO_DIR/{broker,enrol,fleet}.pid and the service CA
# certificate the device trusts to DEVICE_ROOT/service-ca.crt.
# Usage: demo-service.sh BUILD_DIR DEMO_DIR SERVICE_DIR DEVICE_ROOT MQTT_PORT ENROL_PORT REPORT_PORT
set -euo pipefail
B=$1 demo=$2 svcroot=$3 devroot=$4 mport=$5 eport=$6 rport=$7
root=$(cd "$(dirname "$0")/.." && pwd)
F=$B/services/fleet/hearth-fleet
svc=$demo/service

"$F" ca-init "$svc" --name "Hearth Demo Service CA" --server-names "IP:127.0.0.1,DNS:localhost" >/dev/null
install -m 0644 "$svc/ca.crt" "$devroot/service-ca.crt"

# The broker's files: the shipped configuration with this instance's paths.
br=$svcroot/broker
mkdir -p "$br"
install -m 0644 "$svc/server.crt" "$svc/ca.crt" "$svc/crl.pem" "$root/packaging/mosquitto/hearth.acl" "$br/"
install -m 0600 "$svc/server.key" "$br/server.key"
bash "$root/scripts/broker-conf.sh" "$root/packaging/mosquitto/hearth.conf" 127.0.0.1 "$mport" "$br" \
    "$br/server.crt" "$br/server.key" "$br/ca.crt" "$br/crl.pem" "$br/hearth.acl" >"$br/mosquitto.conf"
: >"$br/mosquitto.log"
# Started as root, mosquitto drops to its user "mosquitto" after reading its
# configuration: its key, log and persistence directory must be that user's.
if [ "$(id -u)" -eq 0 ]; then
  chown -R mosquitto:mosquitto "$br"
fi
nohup mosquitto -c "$br/mosquitto.conf" >"$br/stdout" 2>&1 &
echo $! >"$demo/broker.pid"

nohup "$F" enrol-server --ca "$svc" --manufacturer-ca "$demo/ca/ca.crt" --cert "$svc/server.crt" \
    --key "$svc/server.key" --listen "127.0.0.1:$eport" >"$demo/enrol.log" 2>&1 &
echo $! >"$demo/enrol.pid"

# The broker and the enrolment endpoint listen before the service connects.
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null && grep -q "listening on" "$demo/enrol.log"; then
    break
  fi
  sleep 0.1
done
nohup "$F" run --db "$demo/fleet.db" --broker "127.0.0.1:$mport" --ca "$svc/ca.crt" \
    --cert "$svc/fleet.crt" --key "$svc/fleet.key" --report-listen "127.0.0.1:$rport" \
    >"$demo/fleet.log" 2>&1 &
echo $! >"$demo/fleet.pid"
for _ in $(seq 1 100); do
  grep -q "subscribed" "$demo/fleet.log" 2>/dev/null && exit 0
  sleep 0.1
done
echo "demo: the fleet service did not connect to the broker; logs follow" >&2
cat "$demo/fleet.log" "$br/mosquitto.log" "$demo/enrol.log" >&2
exit 1
