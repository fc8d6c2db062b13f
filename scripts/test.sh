#!/usr/bin/env bash
# Builds and runs every test: the Release build (warnings are errors), then the whole suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer, the threads suite under ThreadSanitizer,
# the kernels' tests built for AVX2 when the machine has AVX-512, then a fuzz smoke of every
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

echo "== ThreadSanitizer build and the threads suite"
# Only the threads suite's binary: the library and tests/core/threads_test.cpp.
cmake -S "$root" -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_WERROR=ON -DTAPEGRAD_TSAN=ON \
  -DTAPEGRAD_BUILD_TESTS=ON -DTAPEGRAD_BUILD_BENCHMARKS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF \
  -DTAPEGRAD_BUILD_SHARED=OFF >/dev/null
ninja -C build-tsan tapegrad_thread_tests
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/tapegrad_thread_tests --gtest_filter='Threads*'

if grep -qw avx512f /proc/cpuinfo; then
  # The builds above take the AVX-512 paths of the kernels; their AVX2 paths run here.
  echo "== AVX2 build of the kernels' tests (x86-64-v3)"
  cmake -S "$root" -B build-avx2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_NATIVE=OFF \
    -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DTAPEGRAD_WERROR=ON -DTAPEGRAD_BUILD_TESTS=ON \
    -DTAPEGRAD_BUILD_BENCHMARKS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_SHARED=OFF >/dev/null
  ninja -C build-avx2 tapegrad_kernel_tests
  build-avx2/tests/tapegrad_kernel_tests
fi

echo "== Fuzz smoke (libFuzzer, ASan + UBSan)"
bash scripts/fuzz.sh "${TAPEGRAD_FUZZ_SECONDS:-60}" build-fuzz
