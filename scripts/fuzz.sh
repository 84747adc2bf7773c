#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (Debian's clang, AddressSanitizer,
# UBSan; docs/reliability.md) and runs each for SECONDS (default 60), from a
# copy of its committed seed corpus, so that new inputs never land in git.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Environment: FUZZ_BUILD_DIR (default build-fuzz), JOBS (build, default 2),
# FUZZ_RUNS (stop each target after this many executions, or SECONDS if
# sooner), FUZZ_PARALLEL (targets run at once, default 1),
# FUZZ_ARGS (extra libFuzzer flags).
# Exit 77 (CTest's skip) when clang or libFuzzer is missing; 1 on a crash,
# whose reproducer is kept in FUZZ_BUILD_DIR/crashes/TARGET/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: skipped: clang++ not found (scripts/setup.sh installs clang and libclang-rt-dev)" >&2
  exit 77
fi
# Debian ships libFuzzer's and the sanitizers' runtimes in libclang-rt-dev.
if ! clang++ -print-file-name="libclang_rt.fuzzer-$(uname -m).a" | grep -q /; then
  echo "fuzz: skipped: libFuzzer runtime not found (install libclang-rt-dev)" >&2
  exit 77
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root/fuzz" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_C_COMPILER=clang >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}"

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=($(ls "$root/fuzz/corpus"))
fi

# One thread for LibTorch's kernels; a leak is not a parser crash here
# (LibTorch keeps process-lifetime allocations), everything else is.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
run_target() {
  local t="$1"
  local corpus="$build/corpus/$t" crashes="$build/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  cp -n "$root/fuzz/corpus/$t"/* "$corpus/" 2>/dev/null || true
  local limit=(-max_total_time="$seconds")
  [[ -n "${FUZZ_RUNS:-}" ]] && limit+=(-runs="$FUZZ_RUNS")
  # -rss_limit_mb / -malloc_limit_mb: a few bytes that make a reader
  # allocate gigabytes are a finding too (a size taken on trust).
  if "$build/fuzz_$t" "${limit[@]}" -rss_limit_mb=2560 -malloc_limit_mb=2048 -timeout=20 \
       -print_final_stats=1 -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} "$corpus" \
       >"$build/$t.log" 2>&1; then
    echo ok >"$build/$t.result"
  else
    echo CRASH >"$build/$t.result"
  fi
}

# FUZZ_PARALLEL targets at a time (default 1).
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= ${FUZZ_PARALLEL:-1})); do wait -n || true; done
  rm -f "$build/$t.result"
  run_target "$t" &
done
wait

failed=()
printf '%-12s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log="$build/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  result="$(cat "$build/$t.result" 2>/dev/null || echo CRASH)"
  if [[ "$result" != ok ]]; then
    result="CRASH (see $log, input in $build/crashes/$t/)"
    failed+=("$t")
  fi
  printf '%-12s %12s %10s  %s\n' "$t" "$runs" "$rate" "$result"
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
