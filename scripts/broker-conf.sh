#!/usr/bin/env bash
# Print a mosquitto configuration for one broker instance: the shipped
# packaging/mosquitto/hearth.conf (TLS only, client certificates from the
# service CA, the CN as user name, the ACL; docs/mqtt-broker.md) with this
# instance's listener, TLS files, ACL, persistence directory and log file.
# Shared by the demo (scripts/demo-service.sh) and the tests
# (tests/integration/mqtt_lib.sh), so both run the shipped settings.
# Usage: broker-conf.sh TEMPLATE ADDR PORT DIR CERT KEY CAFILE CRLFILE ACL
set -euo pipefail
[ $# -eq 9 ] || { echo "usage: broker-conf.sh TEMPLATE ADDR PORT DIR CERT KEY CAFILE CRLFILE ACL" >&2; exit 2; }
template=$1 addr=$2 port=$3 dir=$4 cert=$5 key=$6 cafile=$7 crlfile=$8 acl=$9
for k in certfile keyfile cafile crlfile acl_file listener persistence_location log_dest; do
  grep -q "^$k " "$template" || { echo "broker-conf.sh: $k missing from $template" >&2; exit 1; }
done
awk -v addr="$addr" -v port="$port" -v dir="$dir" -v cafile="$cafile" -v crlfile="$crlfile" \
    -v acl="$acl" -v cert="$cert" -v key="$key" '
    $1 == "listener"             { print "listener " port " " addr; next }
    $1 == "certfile"             { print "certfile " cert; next }
    $1 == "keyfile"              { print "keyfile " key; next }
    $1 == "cafile"               { print "cafile " cafile; next }
    $1 == "crlfile"              { print "crlfile " crlfile; next }
    $1 == "acl_file"             { print "acl_file " acl; next }
    $1 == "persistence_location" { print "persistence_location " dir "/"; next }
    $1 == "log_dest"             { print "log_dest file " dir "/mosquitto.log"; next }
    { print }
' "$template"
