#!/usr/bin/env bash
# install_test.sh BUILD_DIR — `cmake --install` into a temporary prefix P, then use only P, as a platform team would:
#   1. P holds the three programs, every plugin of BUILD_DIR/plugins under P/lib/warmup/plugins, the ABI and SDK
#      headers, the WarmupSDK CMake package and the monitoring files (P/share/warmup/monitoring: dashboard, alert
#      rules and their tests, Prometheus example, which promtool accepts as installed when it is available); every
#      installed file is under P (the systemd service component, with its /etc path, goes only into the Debian
#      package); the installed configurations (P/share/warmup/configs) replay on the installed programs and plugins.
#   2. The installed warmupd, with no configuration, finds the installed plugins, serves, and answers /readyz 200.
#   3. The installed template (P/share/warmup/sdk-template), configured with only -DCMAKE_PREFIX_PATH=P, builds a
#      plugin that the installed warmupctl inspects as a loadable predictor exporting only the entry symbol.
# Exit 0 when every check passes; the first failure prints what was expected and exits 1. Everything lives in one
# mktemp -d folder removed at exit (a started daemon is stopped first). Installs nothing outside that folder.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/warmup-install-test-XXXXXX")
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid"; wait "$daemon_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }

# 1. The layout.
for program in warmupd warmup-replay warmupctl; do
  [ -x "$prefix/bin/$program" ] || fail "$prefix/bin/$program is not installed"
done
shipped=$(cd "$build/plugins" && ls -- *.so | sort)
installed=$(cd "$prefix/lib/warmup/plugins" && ls -- *.so | sort)
[ -n "$shipped" ] || fail "no plugin in $build/plugins"
[ "$shipped" = "$installed" ] || fail "installed plugins differ from build/plugins: $(diff <(echo "$shipped") <(echo "$installed") || true)"
for file in include/warmup/warmup.h include/warmup/common.h include/warmup/version.h include/warmup/ext/state.h \
            include/warmup/sdk/plugin.hpp \
            include/warmup/sdk/params.hpp lib/cmake/WarmupSDK/WarmupSDKConfig.cmake \
            lib/cmake/WarmupSDK/WarmupSDKConfigVersion.cmake lib/cmake/WarmupSDK/WarmupSDKTargets.cmake \
            lib/cmake/WarmupSDK/WarmupPlugin.cmake lib/cmake/WarmupSDK/warmup_plugin.map \
            share/warmup/sdk-template/CMakeLists.txt share/doc/warmup-host/README.md \
            share/doc/warmup-host/docs/operations.md share/doc/warmup-host/docs/status-page.png \
            share/warmup/monitoring/warmupd-dashboard.json share/warmup/monitoring/warmupd-alerts.yaml \
            share/warmup/monitoring/warmupd-alerts.test.yaml share/warmup/monitoring/prometheus.yaml; do
  [ -f "$prefix/$file" ] || fail "$prefix/$file is not installed"
done
# The installed copies stand on their own: the example configuration finds its rule file beside it.
if command -v promtool > /dev/null; then
  promtool check config "$prefix/share/warmup/monitoring/prometheus.yaml" > "$work/promtool.log" 2>&1 ||
    { cat "$work/promtool.log"; fail "promtool check config of the installed prometheus.yaml"; }
  (cd "$prefix/share/warmup/monitoring" && promtool test rules warmupd-alerts.test.yaml) > "$work/promtool.log" 2>&1 ||
    { cat "$work/promtool.log"; fail "promtool test rules of the installed alert rules"; }
fi
# The installed configurations run on the installed programs and plugins, as the docs run them from a checkout: a
# scenario replayed by its evaluation configuration (two hours of it: the check is that it runs, not what it finds).
configs="$prefix/share/warmup/configs"
[ -f "$configs/default.yaml" ] || fail "$configs/default.yaml is not installed"
"$prefix/bin/warmup-replay" --config "$configs/evaluation/synth-ai-ide-1.5x.yaml" \
    --trace "synth:$configs/scenarios/ai-ide.yaml" --to 2h --out "$work/replay" --quiet > "$work/replay.log" 2>&1 ||
  { cat "$work/replay.log"; fail "the installed warmup-replay did not run an installed evaluation configuration"; }
[ -f "$work/replay/report.json" ] || fail "the installed replay wrote no report.json"
# Every file went under the prefix (the service component, with its absolute /etc path, is package-only).
outside=$(grep -v "^$prefix/" "$build/install_manifest.txt" || true)
[ -z "$outside" ] || fail "cmake --install wrote outside the prefix: $outside"
[ ! -e "$prefix/lib/systemd" ] || fail "the systemd unit was installed by a plain cmake --install"

# 2. The installed daemon on the embedded default: plugins found next to the executable, no configuration needed.
"$prefix/bin/warmupd" --port 0 > "$work/warmupd.log" 2>&1 &
daemon_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\) .*|\1|p' "$work/warmupd.log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/warmupd.log"; fail "the installed warmupd did not start"; }
code=$(curl -s -o "$work/readyz.json" -w '%{http_code}' "http://127.0.0.1:$port/readyz")
[ "$code" = 200 ] && grep -q '"status": *"ready"' "$work/readyz.json" ||
  fail "installed warmupd /readyz answered $code $(cat "$work/readyz.json")"
plugins=$(curl -s "http://127.0.0.1:$port/api/warmup/plugins")
grep -q "$prefix/lib/warmup/plugins/sim_backend.so" <<< "$plugins" || fail "plugins not loaded from the prefix: $plugins"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || fail "the installed warmupd did not stop cleanly (exit $?)"
daemon_pid=""

# 3. A plugin built against the installed SDK only.
cp -r "$prefix/share/warmup/sdk-template" "$work/my-predictor"
cmake -S "$work/my-predictor" -B "$work/my-predictor/build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" > "$work/template.log" 2>&1 || { cat "$work/template.log"; fail "template configure"; }
grep -q "WARMUP_SOURCE_DIR:PATH=$" "$work/my-predictor/build/CMakeCache.txt" || fail "the template used a source checkout"
grep -q "WarmupSDK_DIR:PATH=$prefix/lib/cmake/WarmupSDK" "$work/my-predictor/build/CMakeCache.txt" ||
  fail "WarmupSDK was not found in the prefix: $(grep WarmupSDK_DIR "$work/my-predictor/build/CMakeCache.txt")"
cmake --build "$work/my-predictor/build" > "$work/template-build.log" 2>&1 || { cat "$work/template-build.log"; fail "template build"; }
library="$work/my-predictor/build/hour_of_day_predictor.so"
exports=$(nm -D --defined-only "$library" | awk '{print $3}')
[ "$exports" = warmup_plugin_entry ] || fail "the plugin exports '$exports', not only warmup_plugin_entry"
inspect=$("$prefix/bin/warmupctl" inspect "$library") || { echo "$inspect"; fail "warmupctl inspect refused the plugin"; }
grep -q "org.example.predictor.hour-of-day" <<< "$inspect" || fail "inspect does not show the plugin id: $inspect"
grep -q "predictor" <<< "$inspect" || fail "inspect does not show the kind: $inspect"
echo "install test: OK ($(wc -l <<< "$installed") plugins; template plugin loaded by the installed warmupctl)"
