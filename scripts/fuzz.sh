#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan + libFuzzer) and fuzzes each one
# for SECONDS, starting from its committed seed corpus (fuzz/corpus/<target>, left unchanged: new
# inputs go to BUILD_DIR/corpus/<target>).
# Usage: scripts/fuzz.sh [SECONDS per target, default 60] [BUILD_DIR, default build-fuzz]
# Exits non-zero on a crash, an uncaught exception, a leak, a sanitizer report or a timeout (the
# input is kept in BUILD_DIR/artifacts/). Skips with exit 0 and a message only when clang with
# libFuzzer cannot be installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
dir=${2:-build-fuzz}
cd "$root"

has_libfuzzer() {
  command -v clang++ >/dev/null 2>&1 || return 1
  local probe
  probe=$(mktemp -d)
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
  clang++ -fsanitize=fuzzer,address "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1
  local ok=$?
  rm -rf "$probe"
  return $ok
}

if ! has_libfuzzer; then
  bash scripts/setup.sh >/dev/null 2>&1 || true  # installs clang and libFuzzer where it can
fi
if ! has_libfuzzer; then
  echo "fuzz: SKIPPED: clang++ with libFuzzer (Debian: clang, libclang-rt-<version>-dev) is not available"
  exit 0
fi

echo "== fuzz: build ($dir)"
# The kernels' baseline path only (x86-64-v2: TAPEGRAD_KERNEL_ISAS=v2, the CPU's AVX2 and AVX-512
# are then not taken): the targets check what inputs are accepted, which no vector width
# changes, and clang with the sanitizers spends minutes on each copy of ops/kernels/gemm_isa.cpp
# (over ten on the AVX-512 one).
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DTAPEGRAD_FUZZ=ON -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_BENCHMARKS=OFF \
  -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_WERROR=OFF -DTAPEGRAD_NATIVE=OFF -DTAPEGRAD_KERNEL_ISAS=v2 >/dev/null
ninja -C "$dir" load_weights_fuzz op_inputs_fuzz csv_fuzz safetensors_fuzz

mkdir -p "$dir/artifacts"
targets=${TAPEGRAD_FUZZ_TARGETS:-load_weights op_inputs csv safetensors}
for target in $targets; do
  echo "== fuzz: ${target}_fuzz for ${seconds} s"
  mkdir -p "$dir/corpus/$target"
  log="$dir/${target}.log"
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$dir/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/${target}-" "$dir/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1
  status=$?
  set -e
  grep -E "^#[0-9]+ +(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: ${target}_fuzz FAILED (exit $status); the input is in $dir/artifacts/, the log in $log" >&2
    exit 1
  fi
done
echo "fuzz: no crash, leak or sanitizer report"
