#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests, the benchmarks and the fuzzers need (clang and
# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes, for scripts/run-fuzzers.sh; libsystemd-dev: sd_notify for
# warmupd under a Type=notify unit, and sd-journal for the logs of warmupctl support-bundle; libarchive-dev: the
# support bundle's tar.gz; systemd: systemd-analyze, which checks the packaged unit; prometheus: promtool and
# the server, which check /metrics, the alert rules and the dashboard's queries; chromium: the headless browser the
# status page's tests drive through the DevTools protocol; libhiredis-dev: the Redis client of the fleet;
# redis-server, redis-tools (redis-cli) and jq: the fleet tests and the fleet commands of docs/fleet.md; python3 and
# python3-yaml: scripts/hindsight-keeps.py, an analysis of docs/evaluation.md). Run as root (or with sudo).
set -euo pipefail
packages=(
  build-essential cmake pkg-config ccache
  libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libtbb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev nlohmann-json3-dev libsimdjson-dev libcli11-dev libssl-dev libsystemd-dev libarchive-dev
  binutils curl systemd prometheus
  libhiredis-dev redis-server redis-tools jq
  python3 python3-yaml
  clang libclang-rt-14-dev
  chromium
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
