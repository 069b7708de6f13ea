#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan + UBSan) in build-fuzz/ and runs each for a bounded
# time. Exit status: 0 when no harness crashed, 1 otherwise (the crashing input is in build-fuzz/artifacts/<target>/).
#
#   scripts/run-fuzzers.sh [SECONDS_PER_TARGET]      default 20 (or $FUZZ_SECONDS)
#
# Each run starts from the committed corpus (tests/fuzz/corpus/<target>), copied into build-fuzz/corpus/<target> so
# inputs libFuzzer discovers do not land in the source tree. Commit a new crasher to tests/fuzz/corpus/<target> once it
# is fixed, so the gcc replay test (fuzz_corpus_replay_test) keeps it fixed.
# Needs the Debian packages clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-20}}"
build="${root}/build-fuzz"
targets=(event_parser config_loader)
jobs="${FUZZ_BUILD_JOBS:-2}"

command -v clang++ >/dev/null || { echo "run-fuzzers: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

sanitizers="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS="${sanitizers}" -DCMAKE_CXX_FLAGS="${sanitizers}" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DWARMUP_BUILD_FUZZERS=ON -DWARMUP_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "${build}" -j"${jobs}" --target "${targets[@]/%/_fuzzer}"

status=0
for target in "${targets[@]}"; do
  corpus="${build}/corpus/${target}"
  artifacts="${build}/artifacts/${target}"
  mkdir -p "${corpus}" "${artifacts}"
  cp -n "${root}/tests/fuzz/corpus/${target}/"* "${corpus}/" 2>/dev/null || true
  echo "run-fuzzers: ${target} for ${seconds}s"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: runaway memory is a finding too.
  if ! "${build}/fuzz/${target}_fuzzer" "${corpus}" -max_total_time="${seconds}" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="${artifacts}/" 2>"${build}/${target}.log"; then
    echo "run-fuzzers: ${target} FAILED; see ${build}/${target}.log and ${artifacts}/" >&2
    tail -n 40 "${build}/${target}.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "${build}/${target}.log" | tail -n 2
  fi
done
exit "${status}"
