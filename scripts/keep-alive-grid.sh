#!/usr/bin/env bash
# Replays the default policy beside keep-alive timers at keeps of your choice, on one evaluation scenario: what a timer
# holding a given memory really achieves between the points of the keep-alive curve (1, 2, 5, 10, 20, 30, 60, 120 and
# 240 min), where the curve's figures are interpolated. Usage, from the repository root after a Release build:
#   scripts/keep-alive-grid.sh CONFIG "KEEP_MINUTES..." TRACE [warmup-replay options]
# for example
#   scripts/keep-alive-grid.sh configs/evaluation/servegen-mm-image-1.5x.yaml "6 7 8 9" \
#       servegen:../shared/traces/servegen/multimodal/mm-image
# The configuration's own arms (its last section) are replaced by `control` (the default), and warmup-replay's
# --keep-alive adds one `keepalive-<K>m` arm per keep, built like the curve's timers; the report lands in
# out/keep-alive-grid/<config name>/. Prints per arm: loaded GB·h, avoidable cold requests, the ratio to the curve, the
# p75 per-model cold rate and the curve's p75 at the arm's memory (columns of report.md, docs/replay.md), then the
# default against the two timers whose memory brackets its own (linearly between them). Paths (CONFIG, TRACE and the
# output folder) are relative to the repository root.
# Environment: WARMUP_REPLAY (default build/bin/warmup-replay) and KEEP_ALIVE_GRID_OUT (the report folder).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
if [ $# -lt 3 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
config=$1 keeps=$2 trace=$3
shift 3
[ -f "$config" ] || { echo "keep-alive-grid: no configuration file '$config'" >&2; exit 2; }
if awk '/^arms:/ { arms = 1; next } arms && /^[^ #-]/ { found = 1 } END { exit !found }' "$config"; then
  echo "keep-alive-grid: '$config' has sections after 'arms:'; put 'arms:' last" >&2
  exit 2
fi
keep_list=""
for keep in $keeps; do
  # A whole number of milliseconds, at least one.
  ttl_ms=$(awk -v k="$keep" 'BEGIN {
      if (k !~ /^[0-9]+(\.[0-9]+)?$/ || k * 60000 < 1) exit 1
      printf "%d", k * 60000 }') ||
    { echo "keep-alive-grid: '$keep' is not a keep in minutes (a number, at least 1 ms)" >&2; exit 2; }
  keep_list+="${keep_list:+,}$keep"
done
name=$(basename "$config" .yaml)
out=${KEEP_ALIVE_GRID_OUT:-out/keep-alive-grid/$name}
replay=${WARMUP_REPLAY:-build/bin/warmup-replay}
mkdir -p "$out"
grid_config=$out/config.yaml
# Everything before `arms:` is the scenario (catalog, budget, components, replay settings); the arms are ours. The
# blank line ends the scenario's last line even if the file has no final newline.
{
  sed '/^arms:/,$d' "$config"
  printf '\narms:\n  - name: control\n'
} >"$grid_config"
# The timers are built by the replay like the curve's (docs/simulation-rules.md, section 8: LRU eviction, the budget
# params LRU shares kept), so they run under the same effective budget as the curve and the default.
"$replay" --config "$grid_config" --trace "$trace" --frontier --keep-alive "$keep_list" --out "$out" --quiet "$@" \
  >/dev/null
table=$(awk -F'|' 'NF > 15 && $2 ~ /^ (control|keepalive-[0-9.]+m|keepalive-curve-[0-9]+m .*) $/ {
    gsub(/ /, "", $2); sub(/\(keep-alivecurve\)/, "", $2)
    printf "%-22s %12s %10s %7s %7s %10s\n", $2, $15, $7, $8, $4, $9 }' "$out/report.md" | sort -k2,2n)
if [ -z "$table" ]; then
  echo "keep-alive-grid: no arm rows found in $out/report.md (has its format changed?)" >&2
  exit 1
fi
printf '%-22s %12s %10s %7s %7s %10s\n' arm "loaded GB·h" avoidable ratio "p75 %" "curve p75"
echo "$table"
# The default against the two timers that bracket its memory, linearly between them: with keeps a minute apart this is
# the timer that holds the default's memory, where the curve's points (5, 10 and 20 minutes around it) can be far off.
echo "$table" | awk '
  $1 == "control" { m = $2; a = $3; p = $5; next }
  { n++; name[n] = $1; gbh[n] = $2; av[n] = $3; p75[n] = $5 }
  END {
    for (i = 1; i < n; i++)
      if (gbh[i] <= m && m < gbh[i + 1]) {
        f = (m - gbh[i]) / (gbh[i + 1] - gbh[i])
        t = av[i] + f * (av[i + 1] - av[i]); tp = p75[i] + f * (p75[i + 1] - p75[i])
        printf "control against the timers beside its memory (%s, %s): ", name[i], name[i + 1]
        # As the ratio (docs/simulation-rules.md, section 8): 1 when both are at the floor, else undefined at 0.
        if (t > 0) printf "%.3f", a / t; else printf "%s", (a == 0 ? "1.000" : "n/a")
        printf " of their avoidable cold requests, "
        printf "p75 %.2f %% against their %.2f %%\n", p, tp
        exit
      }
    print "control holds more or less memory than every timer here (the curve'"'"'s included): no timer brackets it"
  }'
