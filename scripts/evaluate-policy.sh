#!/usr/bin/env bash
# Replays every evaluation scenario of docs/evaluation.md (configs/evaluation/) and prints, per workload and budget,
# each arm's ratio to the keep-alive curve, its loaded memory against keep-alive 20 min's, and its p75 per-model cold
# rate against the curve's. Usage, from the repository root after a Release build:
#   scripts/evaluate-policy.sh [BUDGET...]        # budgets among 1x 1.5x 2x (default: all three)
# m-large is split in its tuning window (days 0-7) and its held-out window (days 7-14); every other workload is
# held out whole. Reports land in out/eval/<workload>-<budget>/. With SERVEGEN_DATA set to the data/ folder of the
# public ServeGen release (github.com/alibaba/ServeGen), its two folders that ../shared/traces does not hold,
# language/m-mid and reason/deepseek-r1, are replayed too.
set -euo pipefail
cd "$(dirname "$0")/.."
replay=build/bin/warmup-replay
traces=${WARMUP_TRACES:-../shared/traces}
budgets=("$@")
[ ${#budgets[@]} -gt 0 ] || budgets=(1x 1.5x 2x)
run() {  # name config trace [extra args]
  local name=$1 config=$2 trace=$3
  shift 3
  "$replay" --config "configs/evaluation/$config" --trace "$trace" --out "out/eval/$name" --quiet "$@" >/dev/null
}
for budget in "${budgets[@]}"; do
  run "m-large-tune-$budget" "servegen-m-large-$budget.yaml" "servegen:$traces/servegen/language/m-large" --to 7d
  run "m-large-heldout-$budget" "servegen-m-large-$budget.yaml" "servegen:$traces/servegen/language/m-large" --from 7d
  run "m-small-$budget" "servegen-m-small-$budget.yaml" "servegen:$traces/servegen/language/m-small"
  run "mm-image-$budget" "servegen-mm-image-$budget.yaml" "servegen:$traces/servegen/multimodal/mm-image"
  for scenario in ai-ide enterprise-batch long-tail; do
    run "$scenario-$budget" "synth-$scenario-$budget.yaml" "synth:configs/scenarios/$scenario.yaml"
  done
  if [ -n "${SERVEGEN_DATA:-}" ]; then
    run "m-mid-$budget" "servegen-m-mid-$budget.yaml" "servegen:$SERVEGEN_DATA/language/m-mid"
    run "deepseek-r1-$budget" "servegen-deepseek-r1-$budget.yaml" "servegen:$SERVEGEN_DATA/reason/deepseek-r1"
  fi
done
# One line per run and arm, from each report.md's results table (columns: see docs/report-schema.md).
printf '%-26s %-28s %8s %10s %12s %8s %10s\n' run arm ratio avoidable "loaded GB·h" "p75 %" "curve p75"
for budget in "${budgets[@]}"; do
  runs=(m-large-tune m-large-heldout m-small mm-image ai-ide enterprise-batch long-tail)
  [ -z "${SERVEGEN_DATA:-}" ] || runs+=(m-mid deepseek-r1)
  for run in "${runs[@]}"; do
    awk -F'|' -v run="$run-$budget" '
      NF > 15 && $2 ~ /^ (control|control-lru|control-value-1.4|control-value-1.5|no-succession|no-startup-floor|no-fairness|no-fairness-margin|gap-spread|fixed-price|own-load-price|idle-histogram-1.1|lru|greedy-dual|cost-curve-budget|cost-curve-budget-value-1.4|cost-curve-budget-value-1.5|cost-curve-budget-recency|keepalive-curve-20m .*) $/ {
        gsub(/ /, "", $2); sub(/\(keep-alivecurve\)/, "", $2)
        printf "%-26s %-28s %8s %10s %12s %8s %10s\n", run, $2, $8, $7, $15, $4, $9 }' "out/eval/$run-$budget/report.md"
  done
done
