#!/usr/bin/env bash
# Builds and runs every test: the Release build (warnings are errors), then the whole suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then a fuzz smoke of every libFuzzer target.
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

echo "== Fuzz smoke (libFuzzer, ASan + UBSan)"
bash scripts/fuzz.sh "${TAPEGRAD_FUZZ_SECONDS:-60}" build-fuzz
