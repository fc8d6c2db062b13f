#!/usr/bin/env bash
# Checks that every tracked .h and .cpp is formatted as .clang-format says (clang-format 14, as
# Debian 12 ships it). Usage: scripts/check_format.sh [--fix]   (ctest: format)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check_format: clang-format is not installed (apt-get install clang-format): skipped"
  exit 0
fi
mapfile -t files < <(git ls-files '*.h' '*.cpp' 2>/dev/null || find core ops nn optim data examples tests benchmarks fuzz -name '*.h' -o -name '*.cpp')
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
  echo "check_format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format: ${#bad[@]} file(s) differ from .clang-format (fix: bash scripts/check_format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted as .clang-format says"
