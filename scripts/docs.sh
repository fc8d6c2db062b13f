#!/usr/bin/env bash
# Generates the API reference from the `///` comments of the public headers with Doxygen
# (docs/Doxyfile) into OUT/html (default build/docs/html) and prints, last, the path of its
# index.html to open in a browser. Fails, printing them, on any warning: an undocumented public
# type, function or member counts as one. Needs Debian's doxygen (scripts/setup.sh installs it).
# Usage: scripts/docs.sh [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/docs}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$root"
rm -f "$out/warnings.log"
status=0
TAPEGRAD_DOCS_OUT=$out doxygen docs/Doxyfile >"$out/doxygen.log" 2>&1 || status=$?
if [ -s "$out/warnings.log" ] || [ $status -ne 0 ]; then
  cat "$out/warnings.log" "$out/doxygen.log" >&2
  echo "docs: doxygen reported $(wc -l <"$out/warnings.log") warning lines (exit $status)" >&2
  exit 1
fi
echo "docs: the API reference is $out/html/index.html"
