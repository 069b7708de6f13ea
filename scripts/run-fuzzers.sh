#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan + UBSan) in build-fuzz/ and runs each one.
# Exit status: 0 when no harness crashed, hung or leaked; 1 otherwise (the input is in build-fuzz/artifacts/<target>/,
# and the command that reproduces the run is printed); 2 when clang is missing or the build fails.
#
#   scripts/run-fuzzers.sh              reproducible bounded run (what .ci/run does): for each harness, libFuzzer with
#                                       -seed=$FUZZ_SEED (1) and -runs=$FUZZ_RUNS (see below) from a fresh copy of the
#                                       committed corpus, with -max_total_time=$FUZZ_SECONDS (240) only as a ceiling.
#                                       Same binary, seed, run count and corpus: the same inputs, so a CI result can be
#                                       reproduced and a green run stays green.
#   scripts/run-fuzzers.sh --explore S  exploration: a random seed, S seconds per harness, no run bound, and the working
#                                       corpus in build-fuzz/corpus/<target> kept between runs so it grows.
#
# Commit a new crasher to tests/fuzz/corpus/<target> once it is fixed, so the gcc replay test (fuzz_corpus_replay_test)
# keeps it fixed; an input that hangs a dependency goes to tests/fuzz/upstream-hangs/ (see its README).
# Needs the Debian packages clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes); scripts/install-deps.sh
# installs them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${root}/build-fuzz"
targets=(event_parser config_loader snapshot_reader cost_curve_state)
jobs="${FUZZ_BUILD_JOBS:-2}"

explore_seconds=""
if [ "${1:-}" = "--explore" ]; then
  explore_seconds="${2:?usage: run-fuzzers.sh --explore SECONDS}"
elif [ $# -gt 0 ]; then
  echo "usage: run-fuzzers.sh [--explore SECONDS]" >&2
  exit 2
fi

# Runs per harness in the bounded mode, sized so the whole script (cold clang build included) stays under ~8 minutes
# on the 2-core CI machine even when it is shared. Measured there with ASan+UBSan, inputs <= 4 KiB, under a load of
# 3-5: config_loader ~150 inputs/s (the committed alias-expansion seed and its mutants take ~1.4 s each: the loader
# walks 200,000 nodes before refusing them), event_parser ~900/s, snapshot_reader ~12,000/s.
declare -A default_runs=([event_parser]=60000 [config_loader]=20000 [snapshot_reader]=200000 [cost_curve_state]=20000)
# The longest input libFuzzer makes in the bounded mode: 4 KiB, but 8 KiB for the predictor's state text, whose
# fleet line and two model lines (a leader and its follower) already take 4.3 KB.
declare -A max_len=([cost_curve_state]=8192)

command -v clang++ >/dev/null || {
  echo "run-fuzzers: clang++ not found (apt-get install clang libclang-rt-14-dev, or scripts/install-deps.sh)" >&2
  exit 2
}

# -O1 and line tables only: the usual fuzzing trade-off (fast enough to run, quick to build, readable stack traces).
# _GLIBCXX_ASSERTIONS: the standard library checks its own preconditions too (an index past a vector's size within its
# capacity is no address error for ASan).
sanitizers="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS"
started=${SECONDS}
mkdir -p "${build}"
if ! cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Fuzz \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS_FUZZ="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS="${sanitizers}" -DCMAKE_CXX_FLAGS="${sanitizers}" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DWARMUP_BUILD_FUZZERS=ON -DWARMUP_BUILD_BENCHMARKS=OFF >"${build}/configure.log" 2>&1; then
  cat "${build}/configure.log" >&2
  echo "run-fuzzers: configuring ${build} failed" >&2
  exit 2
fi
# Only the harnesses: they need the parsers and warmup::core, not the plugins or the rest of the host.
cmake --build "${build}" -j"${jobs}" --target "${targets[@]/%/_fuzzer}" || {
  echo "run-fuzzers: building the harnesses failed" >&2
  exit 2
}
echo "run-fuzzers: built in $((SECONDS - started)) s"

# Address randomisation off for the bounded runs (see below); some containers forbid it, then runs may differ slightly.
deterministic_addresses=""
if [ -z "${explore_seconds}" ]; then
  if setarch -R true 2>/dev/null; then
    deterministic_addresses="setarch -R"
  else
    echo "run-fuzzers: note: setarch -R is not permitted here; runs may differ slightly from one to the next"
  fi
fi

status=0
for target in "${targets[@]}"; do
  corpus="${build}/corpus/${target}"
  artifacts="${build}/artifacts/${target}"
  if [ -z "${explore_seconds}" ]; then
    rm -rf "${corpus}" "${artifacts}"  # the same starting corpus every time: part of what makes the run reproducible
    # -reload=0: libFuzzer otherwise re-reads the corpus folder every second, which makes a run depend on timing.
    # -max_len 4096 (max_len above): larger inputs cost parse time without reaching new code in these parsers (the
    # committed larger seeds are replayed whole by fuzz_corpus_replay_test).
    limits=(-seed="${FUZZ_SEED:-1}" -runs="${FUZZ_RUNS:-${default_runs[${target}]}}" -reload=0
      -max_len="${max_len[${target}]:-4096}"
      -max_total_time="${FUZZ_SECONDS:-240}")
  else
    limits=(-max_total_time="${explore_seconds}" -max_len=65536)
  fi
  mkdir -p "${corpus}" "${artifacts}"
  cp -n "${root}/tests/fuzz/corpus/${target}/"* "${corpus}/" 2>/dev/null || true
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: runaway memory is a finding too.
  # Reproducibility beyond the seed: libFuzzer learns from compared values (-use_cmp), and some are addresses (a
  # std::string comparing its buffer to its inline one). So the run starts in the build folder with relative paths,
  # an empty environment and address randomisation off (setarch -R): the same addresses on every run.
  command=(env -i PATH=/usr/bin:/bin ${deterministic_addresses} "./fuzz/${target}_fuzzer" "corpus/${target}"
    "${limits[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/${target}/")
  target_started=${SECONDS}
  if ! (cd "${build}" && "${command[@]}") >"${build}/${target}.log" 2>&1; then
    echo "run-fuzzers: ${target} FAILED after $((SECONDS - target_started)) s; input in ${artifacts}/" >&2
    echo "run-fuzzers: reproduce with: cd ${build} && ${command[*]}" >&2
    tail -n 60 "${build}/${target}.log" >&2
    status=1
  else
    executed=$(grep -oE "stat::number_of_executed_units: [0-9]+" "${build}/${target}.log" | grep -oE "[0-9]+$" || echo "?")
    coverage=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "${build}/${target}.log" | tail -n 1 || true)
    echo "run-fuzzers: ${target} ok: ${executed} inputs in $((SECONDS - target_started)) s (${coverage})"
    if [ -z "${explore_seconds}" ] && grep -q "^Done .* in .* second" "${build}/${target}.log" &&
      [ "${executed}" != "${FUZZ_RUNS:-${default_runs[${target}]}}" ]; then
      echo "run-fuzzers: note: ${target} stopped at the time ceiling before its run count; this run is not reproducible"
    fi
  fi
done
echo "run-fuzzers: total $((SECONDS - started)) s"
exit "${status}"
