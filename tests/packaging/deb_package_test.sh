#!/usr/bin/env bash
# deb_package_test.sh BUILD_DIR — `cpack -G DEB` from the build folder, then checks the package without installing
# it anywhere (dpkg-deb reads and extracts it into a temporary folder):
#   1. the file list: the three programs, every plugin of BUILD_DIR/plugins under /usr/lib/warmup/plugins, the SDK
#      (headers and CMake package), the monitoring files (/usr/share/warmup/monitoring), the systemd unit, the
#      sysusers.d entry, /etc/warmup/warmupd.yaml;
#   2. the control data: name, version, library dependencies from dpkg-shlibdeps, the conffile, the maintainer
#      scripts that create the `warmup` user;
#   3. the packaged configuration is valid for the packaged programs (the extracted warmupctl validates it and finds
#      the extracted plugins) and keeps its state in /var/lib/warmup;
#   4. the unit's required keys, parsed from the file (Type=notify, a dedicated user, the hardening and state
#      options, Restart=on-failure with a start limit of 3), and `systemd-analyze verify` of the unit inside the
#      extracted tree when systemd-analyze exists (else that one check is skipped with the reason printed).
# Exit 0 when every check passes; the first failure prints what was expected and exits 1.
set -euo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/warmup-deb-test-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || fail "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out") > "$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$work"/out/warmup-host_"$version"_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || { cat "$work/cpack.log"; fail "no warmup-host_${version}_<arch>.deb made"; }

# 1. The file list.
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' > "$work/files"
for file in /usr/bin/warmupd /usr/bin/warmup-replay /usr/bin/warmupctl /usr/lib/systemd/system/warmupd.service \
            /usr/lib/sysusers.d/warmup.conf /etc/warmup/warmupd.yaml /usr/include/warmup/warmup.h \
            /usr/include/warmup/sdk/plugin.hpp /usr/lib/cmake/WarmupSDK/WarmupSDKConfig.cmake \
            /usr/lib/cmake/WarmupSDK/WarmupPlugin.cmake /usr/share/warmup/sdk-template/CMakeLists.txt \
            /usr/share/warmup/monitoring/warmupd-dashboard.json /usr/share/warmup/monitoring/warmupd-alerts.yaml \
            /usr/share/warmup/monitoring/warmupd-alerts.test.yaml /usr/share/warmup/monitoring/prometheus.yaml; do
  grep -qxF "$file" "$work/files" || fail "$file is not in the package"
done
for plugin in $(cd "$build/plugins" && ls -- *.so); do
  grep -qxF "/usr/lib/warmup/plugins/$plugin" "$work/files" || fail "plugin $plugin is not in the package"
done
outside=$(grep -v -e '^/usr/' -e '^/etc/' -e '^/$' "$work/files" || true)
[ -z "$outside" ] || fail "files outside /usr and /etc: $outside"

# 2. The control data.
[ "$(dpkg-deb -f "$deb" Package)" = warmup-host ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "package version $(dpkg-deb -f "$deb" Version)"
depends=$(dpkg-deb -f "$deb" Depends)
for library in libc6 libstdc++6 libsystemd0 libyaml-cpp0.7 libtbb12; do
  grep -q "$library" <<< "$depends" || fail "Depends lacks $library: $depends"
done
mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
grep -qxF /etc/warmup/warmupd.yaml "$work/control/conffiles" || fail "/etc/warmup/warmupd.yaml is not a conffile"
[ -x "$work/control/postinst" ] && grep -q "systemd-sysusers warmup.conf" "$work/control/postinst" ||
  fail "postinst does not create the warmup user"
# An upgrade (postinst configure <old version>) restarts a running daemon, so it runs the new binary with the new plugins:
# run the script with stand-ins for systemctl and the systemd marker folder and see what it asks for.
stub="$work/stub"
mkdir -p "$stub/bin"
printf '#!/bin/sh\necho "systemctl $*" >> "%s/calls"\n' "$stub" > "$stub/bin/systemctl"
printf '#!/bin/sh\nexit 0\n' > "$stub/bin/systemd-sysusers"
chmod +x "$stub/bin/systemctl" "$stub/bin/systemd-sysusers"
sed 's|/run/systemd/system|'"$stub"'|' "$work/control/postinst" > "$stub/postinst"
PATH="$stub/bin:$PATH" sh "$stub/postinst" configure 0.0.9 || fail "postinst configure (upgrade) failed"
grep -qx "systemctl try-restart warmupd.service" "$stub/calls" || fail "an upgrade does not restart a running warmupd: $(cat "$stub/calls")"
: > "$stub/calls"
PATH="$stub/bin:$PATH" sh "$stub/postinst" configure || fail "postinst configure (first install) failed"
grep -q "try-restart" "$stub/calls" && fail "a first install must not start warmupd"

# 3. The packaged configuration, with the packaged programs and plugins.
root="$work/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/warmupd" --version | grep -q "^warmupd $version (plugin ABI " || fail "packaged warmupd --version"
validate=$("$root/usr/bin/warmupctl" validate --config "$root/etc/warmup/warmupd.yaml" 2>&1) ||
  { echo "$validate"; fail "the packaged configuration is refused"; }
grep -q "$root/usr/lib/warmup/plugins/sim_backend.so" <<< "$validate" ||
  fail "the packaged configuration does not load the packaged plugins: $validate"
grep -qx "  dir: /var/lib/warmup" "$root/etc/warmup/warmupd.yaml" || fail "the packaged configuration's state.dir"

# 4. The unit file.
unit="$root/usr/lib/systemd/system/warmupd.service"
# unit_values SECTION KEY: every value of KEY in [SECTION], one per line (comments and other sections ignored).
unit_values() {
  awk -v section="[$1]" -v key="$2" '
    /^[[:space:]]*[#;]/ { next }
    /^\[/ { current = $0; next }
    current == section && index($0, key "=") == 1 { print substr($0, length(key) + 2) }' "$unit"
}
expect_key() {  # SECTION KEY VALUE
  unit_values "$1" "$2" | grep -qxF -- "$3" || fail "warmupd.service: [$1] $2=$3 expected, found '$(unit_values "$1" "$2" | tr '\n' ' ')'"
}
expect_key Service Type notify
expect_key Service ExecStart "/usr/bin/warmupd --config /etc/warmup/warmupd.yaml"
expect_key Service User warmup
expect_key Service Group warmup
expect_key Service ProtectSystem strict
expect_key Service StateDirectory warmup
expect_key Service ReadWritePaths /var/lib/warmup
expect_key Service NoNewPrivileges yes
expect_key Service PrivateTmp yes
expect_key Service CacheDirectory warmup
expect_key Service Environment TMPDIR=/var/cache/warmup
expect_key Service Restart on-failure
expect_key Service RestartPreventExitStatus 2
expect_key Unit StartLimitBurst 3
expect_key Install WantedBy multi-user.target
[ -n "$(unit_values Unit StartLimitIntervalSec)" ] || fail "warmupd.service: no StartLimitIntervalSec"
grep -q "^u warmup " "$root/usr/lib/sysusers.d/warmup.conf" || fail "sysusers.d entry for the warmup user"

if command -v systemd-analyze > /dev/null; then
  # Verified inside the extracted tree (--root), so the unit's ExecStart is the packaged binary. What the system
  # provides is copied in beside it: its units (the targets the unit depends on; the packaged unit is left as it
  # is) and the kill of ExecReload.
  cp -rn /lib/systemd/system/. "$root/usr/lib/systemd/system/"
  mkdir -p "$root/bin"
  cp /bin/kill "$root/bin/kill"
  if ! verify=$(systemd-analyze verify --root="$root" /usr/lib/systemd/system/warmupd.service 2>&1) || [ -n "$verify" ]; then
    echo "$verify"
    fail "systemd-analyze verify warmupd.service"
  fi
  echo "systemd-analyze verify: OK"
else
  echo "SKIP systemd-analyze verify: systemd-analyze is not installed (the unit's keys were checked by parsing it)"
fi
echo "deb package test: OK ($(basename "$deb"), $(wc -l < "$work/files") entries)"
