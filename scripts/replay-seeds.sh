#!/usr/bin/env bash
# Replays one configuration once per seed and sums up each arm over the seeds: its ratio to the keep-alive curve per
# seed, their geometric mean, on how many seeds it is worse than a timer (ratio > 1), and on how many its p75
# per-model cold rate is at or under the curve's. A trace synthesised from rates (servegen:, synth:) draws its
# arrivals and offsets with the seed, so on a short trace one seed's ratio can be decided by a few wake-ups: this shows
# how far it moves. Usage, from the repository root after a Release build:
#   scripts/replay-seeds.sh "SEEDS..." CONFIG TRACE [warmup-replay options]
# for example
#   scripts/replay-seeds.sh "1 2 3 4 5" configs/evaluation/servegen-mm-image-1.5x.yaml \
#       servegen:../shared/traces/servegen/multimodal/mm-image
# Runs every arm of the configuration with the keep-alive curve (--frontier); reports land in
# out/replay-seeds/<config name>/seed-<N>/. Paths are relative to the repository root.
# Environment: WARMUP_REPLAY (default build/bin/warmup-replay) and REPLAY_SEEDS_OUT (the report folder).
set -euo pipefail -o noglob
cd "$(dirname "$0")/.."
export LC_ALL=C
if [ $# -lt 3 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
seeds=$1 config=$2 trace=$3
shift 3
[ -f "$config" ] || { echo "replay-seeds: no configuration file '$config'" >&2; exit 2; }
[ -n "${seeds// /}" ] || { echo "replay-seeds: no seeds given" >&2; exit 2; }
declare -A given=()
for seed in $seeds; do
  [[ $seed =~ ^[0-9]+$ ]] || { echo "replay-seeds: '$seed' is not a seed (a whole number)" >&2; exit 2; }
  [ -z "${given[$seed]:-}" ] || { echo "replay-seeds: seed $seed is given twice" >&2; exit 2; }
  given[$seed]=1
done
for option in "$@"; do
  case $option in
    --seed | --seed=* | --out | --out=*)
      echo "replay-seeds: '$option' is the script's own (seeds are its first argument, REPLAY_SEEDS_OUT the folder)" >&2
      exit 2 ;;
  esac
done
out=${REPLAY_SEEDS_OUT:-out/replay-seeds/$(basename "$config" .yaml)}
replay=${WARMUP_REPLAY:-build/bin/warmup-replay}
reports=()
for seed in $seeds; do
  "$replay" --config "$config" --trace "$trace" --frontier --seed "$seed" --out "$out/seed-$seed" --quiet "$@" \
    >/dev/null
  reports+=("$out/seed-$seed/report.json")
done
# report.json has one field per line; an arm's own fields are indented by six spaces and come in the order name,
# frontier_curve, per_model_cold_rate_p75, keepalive_curve_ratio, keepalive_curve_p75_cold_rate (their meaning:
# docs/report-schema.md). The keep-alive curve's own arms are left out. Any other arm with a null ratio has avoidable cold requests where the curve has none:
# infinitely worse than a timer ("inf").
table=$(awk '
  /^      "name": / { arm = $0; sub(/^      "name": "/, "", arm); sub(/",?$/, "", arm)
                      if (!(arm in seen)) { seen[arm] = 1; order[++arms] = arm } }
  /^      "frontier_curve": / { curve = ($2 ~ /^true/) }
  /^      "per_model_cold_rate_p75": / { p75 = $2 + 0 }
  /^      "keepalive_curve_ratio": / { ratio = ($2 ~ /^null/) ? -1 : $2 + 0 }
  /^      "keepalive_curve_p75_cold_rate": / {
    if (curve) next
    n[arm]++
    if (ratio < 0) { ratios[arm] = ratios[arm] " inf"; infinite[arm] = 1; over[arm]++; next }
    ratios[arm] = ratios[arm] sprintf(" %.3f", ratio)
    if (ratio > 0) logs[arm] += log(ratio); else zero[arm] = 1
    if (ratio > 1) over[arm]++
    if ($2 !~ /^null/ && p75 <= $2 + 1e-12) met[arm]++
  }
  END {
    for (i = 1; i <= arms; i++) {
      arm = order[i]
      if (!(arm in n)) continue
      mean = arm in infinite ? "inf" : arm in zero ? "0.000" : sprintf("%.3f", exp(logs[arm] / n[arm]))
      printf "%-24s%s  geomean %s  worse %d/%d  p75 met %d/%d\n", arm, ratios[arm], mean, over[arm], n[arm],
        met[arm], n[arm]
    }
  }' "${reports[@]}")
if [ -z "$table" ]; then
  echo "replay-seeds: no arm with a ratio in the reports under $out (was the keep-alive curve computed?)" >&2
  exit 1
fi
printf '%-24s %s\n' arm "ratio per seed ($seeds), geometric mean, seeds worse than a timer, seeds with p75 met"
printf '%s\n' "$table"
