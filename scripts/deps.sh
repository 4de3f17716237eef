#!/usr/bin/env bash
# Install the Debian packages Hearth needs to build, test and benchmark.
# Only missing packages are installed; runs apt-get update first when it must
# install anything. Needs root (or sudo). Package choices: docs/dependencies.md.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev llvm binutils file
  # libraries (docs/dependencies.md says why each)
  libssl-dev openssl libsodium-dev libevent-dev libcjson-dev libcurl4-openssl-dev
  libtss2-dev libcmocka-dev libseccomp-dev
  # password blocklist source (common passwords list)
  john-data
  # test peers and tools: real TLS clients/servers, software TPM, QR labels
  curl swtpm swtpm-tools tpm2-tools nginx-light qrencode python3 iproute2 procps
  # packet capture for the data-in-transit test (tests/integration/test_privacy_capture.sh);
  # jq for the privacy tests' JSON checks
  tcpdump jq
  # the SBOM test validates against the CycloneDX JSON schema (docs/sbom.md)
  python3-jsonschema
  # least privilege: socket activation and user switching as systemd does it
  # (systemd-socket-activate, setpriv), syscall tracing, packaging checks
  systemd util-linux strace lintian fakeroot dpkg-dev
  # associated services (issue 9): MQTT brokers (mosquitto; RabbitMQ with its
  # MQTT plugin for the cluster), the client library, the fleet database
  mosquitto mosquitto-clients libmosquitto-dev rabbitmq-server libsqlite3-dev sqlite3
  libpq-dev postgresql
  # a real browser for the fleet report's and the web interface's tests
  # (headless chromium; chromium-driver: WebDriver for tests/integration/webui_driver.py)
  chromium chromium-driver
  # JSON Schema validation of generated documents (the conformance statement)
  python3-jsonschema
  # static analysis in CI
  cppcheck clang-tidy
  # benchmarks
  wrk hyperfine time bc gnuplot-nox
)

# `scripts/deps.sh PACKAGE...` does the same for the named packages instead
# (scripts/cross.sh installs a cross toolchain with it).
if [ $# -gt 0 ]; then
  PACKAGES=("$@")
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# nginx-light's package starts a system nginx on port 80; tests run their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop nginx 2>/dev/null || true; fi
$SUDO service nginx stop 2>/dev/null || true
