#!/usr/bin/env bash
# Builds and runs every test: the Release build (warnings are errors), then the whole suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer, the threads suite under ThreadSanitizer,
# the kernels' tests once per instruction-set path the CPU runs, then a fuzz smoke of every
# libFuzzer target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh

echo "== Release build and tests"
bash scripts/build.sh build -DTAPEGRAD_WERROR=ON -DTAPEGRAD_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2 --timeout 600

echo "== ASan + UBSan build and tests"
bash scripts/build.sh build-asan -DTAPEGRAD_WERROR=ON -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_TESTS=ON -DTAPEGRAD_BUILD_BENCHMARKS=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2 --timeout 900

echo "== ThreadSanitizer build and the threads suites"
# Only the threads suites' binary: the library, the thread model's tests, the pool's and the
# parallel scans' (tests/CMakeLists.txt, tapegrad_thread_tests).
cmake -S "$root" -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON -DTAPEGRAD_TSAN=ON \
  -DTAPEGRAD_BUILD_TESTS=ON -DTAPEGRAD_BUILD_BENCHMARKS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF \
  -DTAPEGRAD_BUILD_SHARED=OFF >/dev/null
ninja -C build-tsan tapegrad_thread_tests
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/tapegrad_thread_tests --gtest_filter='Threads*:Parallel*:*ScanParallel*'

echo "== The kernels' tests with each path forced that this CPU runs (TAPEGRAD_ISA)"
# The runs above take the default path (ops/isa.h); the kernels' suites and the ops on them run
# here once per path, on the Release build's runner.
kernel_suites='Gemm.*:Rows.*:FastMath.*:KernelIsa*:Matmul.*:Linear.*:LayerNorm.*:Unary.*:RnnScans.*:*ScanEqualsSteps.*'
kernel_suites+=':*ScanParallel.*:LstmStep.*:GruStep.*:GatedSteps.*:Conv1d.*:Denormal.*:Parallel.*'
paths=v2
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
if has avx avx2 fma bmi1 bmi2 f16c movbe abm; then
  paths+=" v3"
  if has avx512f avx512bw avx512cd avx512dq avx512vl; then paths+=" v4"; fi
fi
for path in $paths; do
  echo "-- TAPEGRAD_ISA=$path"
  TAPEGRAD_ISA=$path build/tests/tapegrad_tests --gtest_filter="$kernel_suites" --gtest_brief=1
done

echo "== Fuzz smoke (libFuzzer, ASan + UBSan)"
bash scripts/fuzz.sh "${TAPEGRAD_FUZZ_SECONDS:-60}" build-fuzz
