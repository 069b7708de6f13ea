#!/usr/bin/env bash
# catalog-memory.sh [N] — the resident memory of an idle warmupd whose catalog lists N models one by one (default
# 20000: `{model: "m/<i>", memory_mb: 64, load_ms: 2000, unload_ms: 100}` each, after the embedded default's
# settings), against the same daemon with one glob entry covering them all: once started, and again after a reload
# (SIGHUP) of the same file. Prints VmRSS and VmHWM (the peak: the YAML parser's tree while the file is read) in MiB.
#
#   scripts/catalog-memory.sh            # from the project's root, after a build (build/bin/warmupd)
#   WARMUPD=/usr/bin/warmupd scripts/catalog-memory.sh 5000
set -euo pipefail
count=${1:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
warmupd=${WARMUPD:-$root/build/bin/warmupd}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

# The embedded default's settings (plugin folders made absolute) with `catalog:` replaced, and no state folder.
settings() {
    sed -e "/^catalog:/,\$d" -e "s|\${WARMUP_EXE_DIR}|$(dirname "$warmupd")|" "$root/configs/default.yaml"
}
{ settings; echo "catalog:"; for ((i = 0; i < count; ++i)); do
    echo "  - {model: \"m/$i\", memory_mb: 64, load_ms: 2000, unload_ms: 100}"; done; } > "$work/listed.yaml"
{ settings; echo "catalog:"; echo "  - {model: \"m/*\", memory_mb: 64, load_ms: 2000, unload_ms: 100}"; } > "$work/glob.yaml"

mib() { awk -v key="$1:" '$1 == key {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
wait_log() {  # wait_log PATTERN: until the daemon's log has it (60 s at most)
    for _ in $(seq 600); do grep -q "$1" "$work/log" && return 0; sleep 0.1; done
    echo "catalog-memory.sh: no '$1' in the daemon's log:" >&2; cat "$work/log" >&2; exit 1
}

for catalog in listed glob; do
    (cd "$work" && exec "$warmupd" --config "$work/$catalog.yaml" --port 0) > "$work/log" 2>&1 &
    pid=$!
    wait_log "STARTUP warmupd listening"
    sleep 1
    started="started: VmRSS $(mib VmRSS) MiB, VmHWM $(mib VmHWM) MiB"
    kill -HUP "$pid"
    wait_log "CONFIG_RELOADED"
    sleep 1
    echo "$catalog ($([ "$catalog" = listed ] && echo "$count entries" || echo "one glob")): $started;" \
        "after a reload: VmRSS $(mib VmRSS) MiB, VmHWM $(mib VmHWM) MiB"
    kill "$pid"
    wait "$pid" || true
done
